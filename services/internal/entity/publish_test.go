package entity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// streamed is one event as the stream holds it.
type streamed struct {
	id  string
	rev int64
}

// streamEvents reads every message of the thing events stream, in stream
// order, once it holds at least n.
func (f *fixture) streamEvents(t *testing.T, n int) []streamed {
	t.Helper()
	ctx := context.Background()
	streamstest.Eventually(t, 20*time.Second, func() error {
		s, err := f.js.Stream(ctx, f.names.ThingEventsStream())
		if err != nil {
			return err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return err
		}
		if info.State.Msgs < uint64(n) {
			return fmt.Errorf("stream holds %d events, want %d", info.State.Msgs, n)
		}
		return nil
	})
	cons, err := f.js.OrderedConsumer(ctx, f.names.ThingEventsStream(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var out []streamed
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(300 * time.Millisecond))
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) || err != nil && len(out) >= n {
			return out
		}
		if err != nil {
			t.Fatalf("read stream after %d events: %v", len(out), err)
		}
		env, err := protocol.DecodeEnvelope(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		tp, _ := protocol.ParseTopic(env.Topic)
		id := streams.DecodeEntityHeader(m.Headers().Get(streams.HeaderEntity))
		if id != tp.EntityID() || m.Headers().Get(streams.HeaderRevision) != strconv.FormatInt(env.Revision, 10) ||
			m.Headers().Get(jetstream.MsgIDHeader) != streams.EventMsgID(id, env.Revision) {
			t.Errorf("event %s@%d has headers %v", tp.EntityID(), env.Revision, m.Headers())
		}
		out = append(out, streamed{id: id, rev: env.Revision})
	}
}

// wantRevisions checks that the stream holds each entity's revisions
// 1..want[id], each once and in order.
func wantRevisions(t *testing.T, got []streamed, want map[string]int64) {
	t.Helper()
	next := map[string]int64{}
	for _, e := range got {
		if e.rev != next[e.id]+1 {
			t.Errorf("stream has %s@%d after revision %d: %v", e.id, e.rev, next[e.id], got)
			return
		}
		next[e.id] = e.rev
	}
	for id, rev := range want {
		if next[id] != rev {
			t.Errorf("stream has %s up to revision %d, want %d", id, next[id], rev)
		}
	}
	if len(got) != len(want) && len(next) != len(want) {
		t.Errorf("stream has events of %d entities, want %d: %v", len(next), len(want), got)
	}
}

// While JetStream refuses events (the stream is gone), commands are still
// answered at once; once it takes them again, every event reaches the
// stream in revision order.
func TestEventsReachTheStreamAfterJetStreamRefusedThem(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.host(t, &docHandler{}, nil)
	ctx := context.Background()
	if err := f.js.DeleteStream(ctx, f.names.ThingEventsStream()); err != nil {
		t.Fatal(err)
	}
	a, b := "org.eclipse.ditto:a", "org.eclipse.ditto:b"
	start := time.Now()
	wantStatus(t, f.send(t, a, "modify", "/", `{"n":0}`, nil), 204)
	for i := 1; i <= 4; i++ {
		wantStatus(t, f.send(t, a, "modify", "/n", strconv.Itoa(i), nil), 204)
	}
	wantStatus(t, f.send(t, b, "modify", "/", `{}`, nil), 204)
	wantStatus(t, f.send(t, b, "modify", "/x", `1`, nil), 204)
	if d := time.Since(start); d > publishTimeout {
		t.Errorf("7 commands took %s while JetStream refused events", d)
	}
	if err := streams.Ensure(ctx, f.js, f.names, streams.DefaultConfig(), streams.ServiceThings); err != nil {
		t.Fatal(err)
	}
	wantRevisions(t, f.streamEvents(t, 7), map[string]int64{a: 5, b: 2})

	// Afterwards events go out directly again, still in order.
	wantStatus(t, f.send(t, a, "modify", "/n", `5`, nil), 204)
	wantRevisions(t, f.streamEvents(t, 8), map[string]int64{a: 6, b: 2})
}

// A JetStream that takes events but does not acknowledge them in time (here
// nobody at all acknowledges: a subscriber sits where the stream was) holds
// a command for one acknowledgement wait at most; later commands are not
// held at all.
func TestUnacknowledgedEventsDoNotHoldCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.host(t, &docHandler{}, nil)
	h.pub.ackWait = 200 * time.Millisecond
	ctx := context.Background()
	if err := f.js.DeleteStream(ctx, f.names.ThingEventsStream()); err != nil {
		t.Fatal(err)
	}
	silent := f.srv.Connect(t)
	sub, err := silent.SubscribeSync(f.names.ThingEventsAll())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := silent.Flush(); err != nil {
		t.Fatal(err)
	}
	id := "org.eclipse.ditto:slow"
	start := time.Now()
	wantStatus(t, f.send(t, id, "modify", "/", `{}`, nil), 204)
	for i := range 5 {
		wantStatus(t, f.send(t, id, "modify", "/x", strconv.Itoa(i), nil), 204)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("6 commands took %s without acknowledgements; want about one ack wait (200ms)", d)
	}
	sub.Unsubscribe()
	if err := streams.Ensure(ctx, f.js, f.names, streams.DefaultConfig(), streams.ServiceThings); err != nil {
		t.Fatal(err)
	}
	wantRevisions(t, f.streamEvents(t, 6), map[string]int64{id: 6})
}

// recordingJournal is the real journal that remembers where EventsSince
// started.
type recordingJournal struct {
	journal.Journal
	mu     sync.Mutex
	sinces []time.Time
}

func (r *recordingJournal) EventsSince(ctx context.Context, since time.Time, fn func(journal.EventRef) error) error {
	r.mu.Lock()
	r.sinces = append(r.sinces, since)
	r.mu.Unlock()
	return r.Journal.EventsSince(ctx, since, fn)
}

// An owner that died between the journal's commit and the publish left
// events only in the journal. The next owner publishes them, before any new
// event of the same entity, and reads the journal only from the shard's
// watermark on.
func TestNextOwnerPublishesEventsACrashedOwnerCommitted(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := "org.eclipse.ditto:crashed"
	first := f.host(t, &docHandler{}, nil)
	wantStatus(t, f.send(t, id, "modify", "/", `{"n":1}`, nil), 204)
	wantStatus(t, f.send(t, id, "modify", "/n", `2`, nil), 204)
	first.stop()
	shard := streams.Shard(id, testShards)
	e, err := f.published.Get(context.Background(), watermarkKey(shard))
	if err != nil {
		t.Fatalf("no watermark of shard %d after a clean stop: %v", shard, err)
	}
	watermark, _ := strconv.ParseInt(string(e.Value()), 10, 64)

	// What a crashed owner leaves: revisions 3 and 4 journaled, never
	// published; and another entity's event of the same shard.
	other := sameShard(t, id, "org.eclipse.ditto:other")
	appendEvent(t, f.j, id, 3, "/n", `3`, time.Now())
	appendEvent(t, f.j, id, 4, "/n", `4`, time.Now())
	appendEvent(t, f.j, other, 1, "/", `{}`, time.Now())

	rec := &recordingJournal{Journal: f.j}
	f.hostOn(t, rec, &docHandler{}, nil)
	wantStatus(t, f.send(t, id, "modify", "/n", `5`, nil), 204)
	wantRevisions(t, f.streamEvents(t, 6), map[string]int64{id: 5, other: 1})

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if len(rec.sinces) != 1 {
		t.Errorf("EventsSince called %d times, want once for the shards opened together", len(rec.sinces))
	}
	for _, s := range rec.sinces {
		if s.UnixMilli() < watermark-int64(time.Minute/time.Millisecond) {
			t.Errorf("recovery read the journal from %s, long before the watermark %s", s, time.UnixMilli(watermark))
		}
	}
}

// sameShard returns an id with the prefix that falls into id's shard.
func sameShard(t *testing.T, id, prefix string) string {
	t.Helper()
	for i := range 1000 {
		c := prefix + strconv.Itoa(i)
		if streams.Shard(c, testShards) == streams.Shard(id, testShards) {
			return c
		}
	}
	t.Fatal("no id in the same shard")
	return ""
}

func appendEvent(t *testing.T, j journal.Journal, id string, rev int64, path, value string, ts time.Time) {
	t.Helper()
	ns, name := protocol.SplitID(id)
	action := ActionModified
	if rev == 1 {
		action = ActionCreated
	}
	env := protocol.Envelope{
		Topic:   protocol.Topic{Namespace: ns, EntityName: name, Group: "things", Channel: "twin", Criterion: "events", Action: action}.String(),
		Headers: protocol.Headers{}, Path: path, Value: json.RawMessage(value), Revision: rev, Timestamp: FormatTime(ts),
	}
	payload, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Append(context.Background(), journal.Event{PID: "thing:" + id, SN: rev, Timestamp: ts, Payload: payload}); err != nil {
		t.Fatal(err)
	}
}

// A revision another writer journaled (the zombie case: its owner lost the
// shard without knowing) is published by the owner whose write then
// conflicted, before its own.
func TestConflictingWritersRevisionIsPublished(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.host(t, &docHandler{}, nil)
	id := "org.eclipse.ditto:contended"
	wantStatus(t, f.send(t, id, "modify", "/", `{"a":1}`, nil), 204)
	appendEvent(t, f.j, id, 2, "/b", `2`, time.Now())
	wantStatus(t, f.send(t, id, "modify", "/c", `3`, nil), 204)
	wantRevisions(t, f.streamEvents(t, 3), map[string]int64{id: 3})
}

// The watermark of a shard follows time while its events are acknowledged,
// and stops at the oldest event JetStream has not taken.
func TestWatermarkStopsAtTheOldestUnpublishedEvent(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.host(t, &docHandler{}, nil)
	id := "org.eclipse.ditto:w"
	shard := streams.Shard(id, testShards)
	watermark := func() int64 {
		e, err := f.published.Get(context.Background(), watermarkKey(shard))
		if err != nil {
			return 0
		}
		w, _ := strconv.ParseInt(string(e.Value()), 10, 64)
		return w
	}
	before := time.Now().UnixMilli()
	streamstest.Eventually(t, 5*time.Second, func() error {
		if w := watermark(); w < before {
			return fmt.Errorf("watermark %d, want at least %d", w, before)
		}
		return nil
	})
	if err := f.js.DeleteStream(context.Background(), f.names.ThingEventsStream()); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.send(t, id, "modify", "/", `{}`, nil), 204)
	h.pub.mu.Lock()
	b := h.pub.backlog[id]
	h.pub.mu.Unlock()
	if b == nil {
		t.Fatal("no backlog for an event JetStream refused")
	}
	time.Sleep(2 * watermarkEvery) // time must pass: the watermark must not move past the event meanwhile
	if w := watermark(); w > b.since {
		t.Errorf("watermark %d passed the unpublished event's time %d", w, b.since)
	}
	if err := streams.Ensure(context.Background(), f.js, f.names, streams.DefaultConfig(), streams.ServiceThings); err != nil {
		t.Fatal(err)
	}
	streamstest.Eventually(t, 10*time.Second, func() error {
		if w := watermark(); w <= b.since {
			return fmt.Errorf("watermark %d still at the published event's time %d", w, b.since)
		}
		return nil
	})
}

// Entity ids whose names end in blanks travel in the entity header quoted
// and come back whole: routing and events use the id itself.
func TestIDsWithBlanksWorkEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.host(t, &docHandler{}, nil)
	var ids []string
	for _, name := range []string{"trailing ", " leading", "\ttab\t", "in side"} {
		id := "org.eclipse.ditto:" + name
		ids = append(ids, id)
		wantStatus(t, f.send(t, id, "modify", "/", `{"name":`+strconv.Quote(name)+`}`, nil), 204)
		got := f.send(t, id, "retrieve", "/name", "", nil)
		if string(got.Value) != strconv.Quote(name) {
			t.Errorf("%q: retrieve %s", id, got.Value)
		}
	}
	events := f.streamEvents(t, len(ids))
	var got []string
	for _, e := range events {
		got = append(got, e.id)
	}
	slices.Sort(got)
	slices.Sort(ids)
	if strings.Join(got, "|") != strings.Join(ids, "|") {
		t.Errorf("events of %q, want %q", got, ids)
	}
}

// An event NATS cannot carry does not hold up the entity's later events:
// it is logged and skipped, and the rest reach the stream in order.
func TestEventTooLargeForNATSIsSkipped(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.host(t, &docHandler{}, nil)
	id := "org.eclipse.ditto:huge"
	wantStatus(t, f.send(t, id, "modify", "/", `{}`, nil), 204)
	// Journaled behind the host's back, as a thing that grew over many
	// writes could be: more than the server's max payload.
	max := f.nc.MaxPayload()
	appendEvent(t, f.j, id, 2, "/big", strconv.Quote(strings.Repeat("x", int(max))), time.Now())
	wantStatus(t, f.send(t, id, "modify", "/small", `1`, nil), 204) // conflicts, reloads, publishes 2 and 3
	got := f.streamEvents(t, 2)
	var revs []int64
	for _, e := range got {
		revs = append(revs, e.rev)
	}
	if !slices.Equal(revs, []int64{1, 3}) {
		t.Errorf("stream holds revisions %v, want 1 and 3 (2 is too large for NATS)", revs)
	}
}
