package entity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/sqlitestore"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

const testShards = 4

// docHandler is a minimal entity behaviour: modify sets the value at the
// path, delete removes it, retrieve answers it. Blocking commands wait on
// gate, so tests can fill a mailbox.
type docHandler struct {
	gate     chan struct{}
	started  chan struct{}
	observed *atomic.Int64
	seen     func(cmd *Command, observedBefore int64)
}

func (h *docHandler) Handle(_ context.Context, cmd *Command, st *State) (Outcome, error) {
	if h.seen != nil {
		h.seen(cmd, h.observed.Load())
	}
	if _, ok := cmd.Envelope.Headers["block"]; ok {
		if h.started != nil {
			h.started <- struct{}{}
		}
		<-h.gate
	}
	p, err := jsonv.ParsePointer(cmd.Envelope.Path)
	if err != nil {
		return Outcome{}, err
	}
	resp := protocol.Envelope{Topic: cmd.Envelope.Topic, Path: cmd.Envelope.Path, Status: 204}
	switch cmd.Topic.Action {
	case "modify":
		v, err := jsonv.Parse(cmd.Envelope.Value)
		if err != nil {
			return Outcome{}, err
		}
		action := ActionModified
		if !st.Exists() {
			action = ActionCreated
			if !p.IsRoot() {
				v = jsonv.Object().Set(p, v)
				p = nil
			}
		}
		return Outcome{
			Event:    &Event{Change: Change{Action: action, Path: p, Value: v}},
			Response: resp,
			After: func(st *State, r *protocol.Envelope) {
				r.Headers = protocol.Headers{"etag": fmt.Sprintf(`"rev:%d"`, st.Revision)}
			},
		}, nil
	case "delete":
		if !st.Exists() {
			return Outcome{}, protocol.NewError(404, "test:notfound", "gone", "")
		}
		return Outcome{Event: &Event{Change: Change{Action: ActionDeleted, Path: p}}, Response: resp}, nil
	case "retrieve":
		if !st.Exists() {
			return Outcome{}, protocol.NewError(404, "test:notfound", "gone", "")
		}
		if cmd.History != nil {
			st = cmd.History // enforced with st now; answered as it was
			if !st.Exists() {
				return Outcome{}, protocol.NewError(404, "test:notfound", "gone", "")
			}
		}
		doc, err := st.Doc()
		if err != nil {
			return Outcome{}, err
		}
		v, _ := doc.At(p)
		resp.Status, resp.Value = 200, v.AppendJSON(nil)
		resp.Headers = protocol.Headers{"etag": fmt.Sprintf(`"rev:%d"`, st.Revision)}
		return Outcome{Response: resp}, nil
	}
	return Outcome{}, errors.New("unsupported")
}

type fixture struct {
	srv       *streamstest.Server
	names     streams.Names
	store     *sqlitestore.Store
	j         journal.Journal
	nc        *nats.Conn
	js        jetstream.JetStream
	leases    jetstream.KeyValue
	published jetstream.KeyValue
	// metrics, when set, receives the hosts' metrics.
	metrics *prometheus.Registry
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	f := &fixture{srv: streamstest.Start(t), names: streams.New("")}
	f.nc, f.js = f.srv.JetStream(t)
	cfg := streams.DefaultConfig()
	cfg.LeaseTTL = time.Second
	if err := streams.Ensure(context.Background(), f.js, f.names, cfg, streams.ServiceThings); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.leases, err = f.js.KeyValue(context.Background(), f.names.ShardLeaseBucket(streams.ServiceThings)); err != nil {
		t.Fatal(err)
	}
	if f.published, err = f.js.KeyValue(context.Background(), f.names.PublishedBucket(streams.ServiceThings)); err != nil {
		t.Fatal(err)
	}
	f.store, err = sqlitestore.Open(filepath.Join(t.TempDir(), "ditto.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.store.Close() })
	if f.j, err = f.store.Journal(journal.Things); err != nil {
		t.Fatal(err)
	}
	return f
}

// testConfig is the host configuration of the tests.
func testConfig(f *fixture) Config {
	return Config{
		Kind: "thing", Service: streams.ServiceThings, Group: "things", Channel: "twin",
		EventSubject: f.names.ThingEvents,
		MailboxSize:  3, SnapshotEvery: 3,
		Errors: Errors{
			TooManyRequests: protocol.ErrThingTooManyModifyingRequests,
			Unavailable:     protocol.ErrThingUnavailable,
		},
	}
}

// deps are the host's dependencies on a new connection.
func (f *fixture) deps(t testing.TB, j journal.Journal) Deps {
	nc := f.srv.Connect(t)
	js, _ := jetstream.New(nc)
	return Deps{NC: nc, JS: js, Journal: j, Leases: f.leases, Published: f.published, Names: f.names,
		Shards: testShards, Instance: "one", LeaseTTL: time.Second, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Metrics: f.registerer(), LiveEntities: true}
}

// registerer is f.metrics as a registerer: nil when unset.
func (f *fixture) registerer() prometheus.Registerer {
	if f.metrics == nil {
		return nil
	}
	return f.metrics
}

// metricValue is the value of the metric named name in f.metrics (the sum
// over its series).
func (f *fixture) metricValue(t *testing.T, name string) float64 {
	t.Helper()
	mfs, err := f.metrics.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var v float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			switch {
			case m.Counter != nil:
				v += m.Counter.GetValue()
			case m.Gauge != nil:
				v += m.Gauge.GetValue()
			case m.Histogram != nil:
				v += float64(m.Histogram.GetSampleCount())
			}
		}
	}
	return v
}

type runningHost struct {
	*Host
	cancel context.CancelFunc
	done   chan struct{}
}

func (f *fixture) host(t testing.TB, h Handler, mutate func(*Config)) *runningHost {
	t.Helper()
	return f.hostOn(t, f.j, h, mutate)
}

// hostOn runs a host on journal j that serves every shard.
func (f *fixture) hostOn(t testing.TB, j journal.Journal, h Handler, mutate func(*Config)) *runningHost {
	t.Helper()
	cfg := testConfig(f)
	if mutate != nil {
		mutate(&cfg)
	}
	d := f.deps(t, j)
	host, err := New(cfg, d, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningHost{Host: host, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := host.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	all := make([]int, testShards)
	for s := range all {
		all[s] = s
	}
	for s, err := range host.OpenShards(ctx, all) {
		t.Fatalf("open shard %d: %v", s, err)
	}
	if err := d.NC.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.stop)
	return r
}

func (r *runningHost) stop() {
	r.cancel()
	<-r.done
}

var auth = `["nginx:ditto"]`

// send issues a command and decodes the reply envelope.
func (f *fixture) send(t *testing.T, id, action, path, value string, headers protocol.Headers) protocol.Envelope {
	t.Helper()
	env, err := f.request(id, action, path, value, headers, auth)
	if err != nil {
		t.Fatalf("%s %s%s: %v", action, id, path, err)
	}
	return env
}

func (f *fixture) request(id, action, path, value string, headers protocol.Headers, authHeader string) (protocol.Envelope, error) {
	reply, err := f.nc.RequestMsg(f.command(nil, id, action, path, value, headers, authHeader), 10*time.Second)
	if err != nil {
		return protocol.Envelope{}, err
	}
	return protocol.DecodeEnvelope(reply.Data)
}

// command builds the NATS message the gateway would send.
func (f *fixture) command(t *testing.T, id, action, path, value string, headers protocol.Headers, authHeader string) *nats.Msg {
	ns, name := protocol.SplitID(id)
	env := protocol.Envelope{
		Topic:   protocol.Topic{Namespace: ns, EntityName: name, Group: "things", Channel: "twin", Criterion: "commands", Action: action}.String(),
		Headers: headers, Path: path,
	}
	if value != "" {
		env.Value = json.RawMessage(value)
	}
	data, err := env.Encode()
	if err != nil {
		panic(err) // test envelopes always encode
	}
	msg := nats.NewMsg(f.names.ThingCommands(streams.Shard(id, testShards)))
	msg.Data = data
	if authHeader != "" {
		msg.Header.Set(streams.HeaderAuth, authHeader)
	}
	msg.Header.Set(streams.HeaderEntity, streams.EncodeEntityHeader(id))
	return msg
}

func wantStatus(t *testing.T, env protocol.Envelope, status int) {
	t.Helper()
	if env.Status != status {
		t.Fatalf("status %d, want %d (reply %s %s)", env.Status, status, env.Topic, env.Value)
	}
}

func TestModifyPersistsPublishesAndRecovers(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.host(t, &docHandler{}, nil)
	id := "org.eclipse.ditto:t1"

	cons, err := f.js.OrderedConsumer(context.Background(), f.names.ThingEventsStream(), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}

	wantStatus(t, f.send(t, id, "modify", "/", `{"a":1}`, protocol.Headers{"correlation-id": "c-1"}), 204)
	for i := 2; i <= 5; i++ {
		r := f.send(t, id, "modify", "/a", fmt.Sprint(i), nil)
		wantStatus(t, r, 204)
		if got, want := r.Headers["etag"], fmt.Sprintf(`"rev:%d"`, i); got != want {
			t.Errorf("After hook: etag %q, want %q", got, want)
		}
	}
	got := f.send(t, id, "retrieve", "/", "", protocol.Headers{"correlation-id": "c-2"})
	wantStatus(t, got, 200)
	if string(got.Value) != `{"a":5}` || got.Headers["etag"] != `"rev:5"` {
		t.Errorf("retrieve = %s etag %s, want {\"a\":5} rev 5", got.Value, got.Headers["etag"])
	}
	if got.Headers["correlation-id"] != "c-2" {
		t.Errorf("correlation-id %q not echoed", got.Headers["correlation-id"])
	}

	// The journal holds revisions 1..5, the stream one event per revision
	// in order, each with its message id.
	events, err := f.j.Events(context.Background(), "thing:"+id, 1, 100)
	if err != nil || len(events) != 5 {
		t.Fatalf("journal events = %d, %v; want 5", len(events), err)
	}
	for i := 1; i <= 5; i++ {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("event %d: %v", i, err)
		}
		ev, err := protocol.DecodeEnvelope(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if ev.Revision != int64(i) || m.Headers().Get(jetstream.MsgIDHeader) != streams.EventMsgID(id, int64(i)) {
			t.Errorf("event %d: revision %d msg id %q", i, ev.Revision, m.Headers().Get(jetstream.MsgIDHeader))
		}
		if m.Subject() != f.names.ThingEvents("org.eclipse.ditto") {
			t.Errorf("event %d on subject %s", i, m.Subject())
		}
		if i == 1 && (ev.Topic != "org.eclipse.ditto/t1/things/twin/events/created" || ev.Headers["correlation-id"] != "") {
			// Headers of events are what the handler put there.
			t.Errorf("first event topic %s headers %v", ev.Topic, ev.Headers)
		}
	}
	// A snapshot was written at revision 3.
	if s, ok, err := f.j.LatestSnapshot(context.Background(), "thing:"+id, 100); err != nil || !ok || s.SN != 3 {
		t.Errorf("latest snapshot = %+v, %v, %v; want SN 3", s, ok, err)
	}

	// A new host on the same journal recovers the entity.
	h.stop()
	f.host(t, &docHandler{}, nil)
	got = f.send(t, id, "retrieve", "/", "", nil)
	if string(got.Value) != `{"a":5}` || got.Headers["etag"] != `"rev:5"` {
		t.Errorf("after restart retrieve = %s etag %s, want {\"a\":5} rev 5", got.Value, got.Headers["etag"])
	}
	// Deletion is remembered as well.
	wantStatus(t, f.send(t, id, "delete", "/", "", nil), 204)
	wantStatus(t, f.send(t, id, "retrieve", "/", "", nil), 404)
	wantStatus(t, f.send(t, id, "modify", "/", `{"b":true}`, nil), 204)
	got = f.send(t, id, "retrieve", "/", "", nil)
	if string(got.Value) != `{"b":true}` || got.Headers["etag"] != `"rev:7"` {
		t.Errorf("recreated retrieve = %s etag %s, want {\"b\":true} rev 7", got.Value, got.Headers["etag"])
	}
}

func TestFullMailboxAnswersTooManyRequests(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.metrics = prometheus.NewRegistry()
	gate := make(chan struct{})
	started := make(chan struct{}, 10)
	f.host(t, &docHandler{gate: gate, started: started}, nil)
	id := "org.eclipse.ditto:busy"

	// Six commands from one connection arrive in order. The first runs and
	// blocks; the mailbox (size 3) takes three more; the rest are refused
	// at once, without waiting for the blocked one.
	inbox := nats.NewInbox()
	replies, err := f.nc.SubscribeSync(inbox + ".*")
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	for i := range n {
		msg := f.command(t, id, "modify", "/x", "1", protocol.Headers{"block": "1"}, auth)
		msg.Reply = fmt.Sprintf("%s.%d", inbox, i)
		if err := f.nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-started // the first one holds the entity
		}
	}
	status := map[int]int{}
	for range n - 4 {
		m, err := replies.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("refusals did not come at once: %v", err)
		}
		env, _ := protocol.DecodeEnvelope(m.Data)
		status[env.Status]++
		if e, ok := env.AsError(); !ok || e.Code != "things:thing.toomanymodifyingrequests" {
			t.Errorf("early reply %s, want things:thing.toomanymodifyingrequests", env.Value)
		}
	}
	close(gate)
	for range 4 {
		m, err := replies.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		env, _ := protocol.DecodeEnvelope(m.Data)
		status[env.Status]++
	}
	if status[204] != 4 || status[429] != n-4 {
		t.Errorf("statuses %v, want 4x204 and %dx429", status, n-4)
	}
	if got := f.metricValue(t, "mailbox_rejections_total"); got != n-4 {
		t.Errorf("mailbox_rejections_total = %v, want %d", got, n-4)
	}
	if got := f.metricValue(t, "live_entities"); got != 1 {
		t.Errorf("live_entities = %v, want 1", got)
	}
	streamstest.Eventually(t, 10*time.Second, func() error {
		if got := f.metricValue(t, "events_published_total"); got != 4 {
			return fmt.Errorf("events_published_total = %v, want 4", got)
		}
		return nil
	})
}

// A live signal (streams.HeaderLive, a live topic) for a busy entity does
// not wait for the commands queued before it: it is handled on the entity
// as the running command found it. A twin command claiming to be live
// waits its turn, and a live signal that would change the entity is
// refused without changing it.
func TestLiveSignalsPassQueuedCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gate := make(chan struct{})
	started := make(chan struct{}, 10)
	f.host(t, &docHandler{gate: gate, started: started}, nil)
	id := "org.eclipse.ditto:busy-live"
	wantStatus(t, f.send(t, id, "modify", "/x", "1", nil), 204)

	inbox := nats.NewInbox()
	replies, err := f.nc.SubscribeSync(inbox + ".*")
	if err != nil {
		t.Fatal(err)
	}
	publish := func(name string, msg *nats.Msg) {
		msg.Reply = inbox + "." + name
		if err := f.nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
	}
	live := func(action, value string) *nats.Msg {
		msg := f.command(t, id, action, "/x", value, nil, auth)
		env, _ := protocol.DecodeEnvelope(msg.Data)
		env.Topic = strings.Replace(env.Topic, "/twin/", "/live/", 1)
		msg.Data, _ = env.Encode()
		msg.Header.Set(streams.HeaderLive, "true")
		return msg
	}
	publish("blocked", f.command(t, id, "modify", "/x", "2", protocol.Headers{"block": "1"}, auth))
	<-started
	publish("queued", f.command(t, id, "modify", "/x", "3", nil, auth))
	fake := f.command(t, id, "retrieve", "/x", "", nil, auth)
	fake.Header.Set(streams.HeaderLive, "true")
	publish("twin-claiming-live", fake)
	publish("live-retrieve", live("retrieve", ""))
	publish("live-modify", live("modify", "4"))

	got := map[string]protocol.Envelope{}
	for range 2 {
		m, err := replies.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("live signals waited for the queue: %v (got %v)", err, got)
		}
		env, _ := protocol.DecodeEnvelope(m.Data)
		got[m.Subject[len(inbox)+1:]] = env
	}
	if env := got["live-retrieve"]; env.Status != 200 || string(env.Value) != "1" {
		t.Errorf("live retrieve %+v, want 200 with the value before the running command", env)
	}
	if env := got["live-modify"]; env.Status != 503 {
		t.Errorf("live modify %+v, want it refused (503)", env)
	}
	close(gate)
	for range 3 {
		m, err := replies.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		env, _ := protocol.DecodeEnvelope(m.Data)
		got[m.Subject[len(inbox)+1:]] = env
	}
	if env := got["twin-claiming-live"]; env.Status != 200 || string(env.Value) != "3" {
		t.Errorf("twin retrieve with the live header %+v, want 200 with the value after the queued commands", env)
	}
	env := f.send(t, id, "retrieve", "/x", "", nil)
	if string(env.Value) != "3" || env.Headers["etag"] != `"rev:3"` {
		t.Errorf("entity after the live modify: %s %v, want 3 at revision 3", env.Value, env.Headers)
	}
}

func TestCommandsWithoutAuthAreRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.host(t, &docHandler{}, nil)
	for _, a := range []string{"", "[]", "not json"} {
		env, err := f.request("org.eclipse.ditto:x", "retrieve", "/", "", nil, a)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := env.AsError(); !ok || e.Status != 401 {
			t.Errorf("auth %q: reply %s, want a 401 error", a, env.Value)
		}
	}
}

func TestWrongShardIsRejected(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.host(t, &docHandler{}, nil)
	id := "org.eclipse.ditto:x"
	msg := nats.NewMsg(f.names.ThingCommands((streams.Shard(id, testShards) + 1) % testShards))
	msg.Data = []byte(`{"topic":"org.eclipse.ditto/x/things/twin/commands/retrieve","headers":{},"path":"/"}`)
	msg.Header.Set(streams.HeaderAuth, auth)
	reply, err := f.nc.RequestMsg(msg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	env, err := protocol.DecodeEnvelope(reply.Data)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := env.AsError(); !ok || e.Status != 400 {
		t.Errorf("reply %s, want a 400 error", reply.Data)
	}
}

func TestClosedShardAnswersNoResponders(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.host(t, &docHandler{}, nil)
	id := "org.eclipse.ditto:moved"
	wantStatus(t, f.send(t, id, "modify", "/", `{}`, nil), 204)
	h.CloseShard(context.Background(), streams.Shard(id, testShards))
	if _, err := f.request(id, "retrieve", "/", "", nil, auth); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("request to a closed shard: %v, want ErrNoResponders", err)
	}
}

// A second instance that wrote to the journal behind the first one's back
// (the zombie case) must not cause a lost update: the first one's next
// write conflicts, reloads and applies on top.
func TestJournalConflictReloadsAndRetries(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.host(t, &docHandler{}, nil)
	id := "org.eclipse.ditto:contended"
	wantStatus(t, f.send(t, id, "modify", "/", `{"a":1}`, nil), 204)

	// Another writer appends revision 2 directly.
	ev := protocol.Envelope{Topic: "org.eclipse.ditto/contended/things/twin/events/modified", Headers: protocol.Headers{}, Path: "/b", Value: json.RawMessage(`2`), Revision: 2}
	payload, _ := ev.Encode()
	if err := f.j.Append(context.Background(), journal.Event{PID: "thing:" + id, SN: 2, Timestamp: time.Now(), Payload: payload}); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.send(t, id, "modify", "/c", `3`, nil), 204)
	got := f.send(t, id, "retrieve", "/", "", nil)
	if !jsonv.MustParse(string(got.Value)).Equal(jsonv.MustParse(`{"a":1,"b":2,"c":3}`)) || got.Headers["etag"] != `"rev:3"` {
		t.Errorf("after conflict: %s etag %s, want all three members at rev 3", got.Value, got.Headers["etag"])
	}
}

// Observed messages and commands are handled in the order the connection
// delivered them: a command published after an observed message by the
// same client always sees it handled.
func TestObservedMessagesAreOrderedWithCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var observed atomic.Int64
	var violations atomic.Int64
	h := &docHandler{observed: &observed, seen: func(cmd *Command, before int64) {
		var want int64
		fmt.Sscan(cmd.Envelope.Headers["expect"], &want)
		if before < want {
			violations.Add(1)
		}
	}}
	host := f.host(t, h, nil)
	if _, err := host.Observe("invalidate", func(*nats.Msg) { observed.Add(1) }); err != nil {
		t.Fatal(err)
	}
	if err := host.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 200; i++ {
		if err := f.nc.Publish("invalidate", nil); err != nil {
			t.Fatal(err)
		}
		env := f.send(t, fmt.Sprintf("org.eclipse.ditto:o%d", i%7), "retrieve", "/", "", protocol.Headers{"expect": fmt.Sprint(i)})
		if env.Status != 404 {
			t.Fatalf("unexpected reply %s", env.Value)
		}
	}
	if v := violations.Load(); v != 0 {
		t.Errorf("%d commands were handled before an observed message published ahead of them", v)
	}
}

func TestExpiredCommandIsNotApplied(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	f.host(t, &docHandler{gate: gate, started: started}, nil)
	id := "org.eclipse.ditto:late"
	done := make(chan error, 1)
	go func() {
		_, err := f.request(id, "modify", "/", `{"first":true}`, protocol.Headers{"block": "1"}, auth)
		done <- err
	}()
	<-started
	// Queued behind the blocked command with a 100ms timeout: by the time
	// it could run, its caller has given up.
	msg := f.command(t, id, "modify", "/late", `true`, protocol.Headers{"timeout": "100ms"}, auth)
	if _, err := f.nc.RequestMsg(msg, 500*time.Millisecond); !errors.Is(err, nats.ErrTimeout) {
		t.Errorf("late command: %v, want no answer (timeout)", err)
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	got := f.send(t, id, "retrieve", "/", "", nil)
	if string(got.Value) != `{"first":true}` || got.Headers["etag"] != `"rev:1"` {
		t.Errorf("state %s %s: the expired command was applied", got.Value, got.Headers["etag"])
	}
}

func TestServeTakesShardsAndHandsThemBack(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	kv := f.leases
	host, err := New(testConfig(f), f.deps(t, f.j), &docHandler{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- host.Serve(ctx) }()

	// Commands are answered once the shards are taken.
	id := "org.eclipse.ditto:served"
	var env protocol.Envelope
	streamstest.Eventually(t, 5*time.Second, func() error {
		var err error
		env, err = f.request(id, "modify", "/", `{}`, nil, auth)
		if err != nil && !errors.Is(err, nats.ErrNoResponders) {
			t.Fatalf("command not served: %v", err)
		}
		if err != nil {
			return fmt.Errorf("command not served: %w", err)
		}
		return nil
	})
	wantStatus(t, env, 204)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if keys, err := kv.Keys(context.Background()); err == nil && len(keys) > 0 {
		t.Errorf("leases left after Serve returned: %v", keys)
	}
	if _, err := f.request(id, "retrieve", "/", "", nil, auth); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("after Serve returned: %v, want ErrNoResponders", err)
	}
}

func TestSubjectsHeaderParsing(t *testing.T) {
	t.Parallel()
	h := &Host{}
	tests := []struct {
		header string
		want   []string
	}{
		{`["nginx:ditto"]`, []string{"nginx:ditto"}},
		{`["a:b","c:d"]`, []string{"a:b", "c:d"}},
		{`["nginx:ditto"]`, []string{"nginx:ditto"}}, // cached
		{`[]`, nil},
		{`[""]`, nil},
		{`"nginx:ditto"`, nil},
		{`not json`, nil},
		{``, nil},
	}
	for _, tc := range tests {
		got := h.subjects(tc.header)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") || (got == nil) != (tc.want == nil) {
			t.Errorf("subjects(%q) = %q, want %q", tc.header, got, tc.want)
		}
	}
	for i := range authCacheSize + 10 {
		h.subjects(fmt.Sprintf(`["s:%d"]`, i))
	}
	if n := h.authCached.Load(); n > authCacheSize {
		t.Errorf("auth cache holds %d entries, bound is %d", n, authCacheSize)
	}
}

// Every entity in memory is a slot: its size is the per-entity overhead of
// a hundred thousand hot things (README, Benchmark).
func TestSlotFitsItsSizeClass(t *testing.T) {
	if got := unsafe.Sizeof(slot{}); got > 128 {
		t.Errorf("slot takes %d bytes, want at most 128 (the 128-byte size class)", got)
	}
}

// A snapshot keeps the times to the nanosecond, and a State that never
// existed has zero times on both sides of one.
func TestSnapshotKeepsTimes(t *testing.T) {
	created := time.Date(2026, 11, 23, 10, 0, 0, 123456789, time.UTC)
	var st State
	if err := st.apply(Change{Action: ActionCreated, Path: jsonv.Pointer{}, Value: jsonv.String("x")}, 1, created); err != nil {
		t.Fatal(err)
	}
	modified := created.Add(time.Hour)
	if err := st.apply(Change{Action: ActionModified, Path: jsonv.Pointer{}, Value: jsonv.String("y")}, 2, modified); err != nil {
		t.Fatal(err)
	}
	data, err := st.marshalSnapshot()
	if err != nil {
		t.Fatal(err)
	}
	var back State
	if err := back.unmarshalSnapshot(2, false, data); err != nil {
		t.Fatal(err)
	}
	if !back.Created().Equal(created) || !back.Modified().Equal(modified) || string(back.Raw()) != `"y"` {
		t.Errorf("back: created %v, modified %v, raw %s; want %v, %v, \"y\"", back.Created(), back.Modified(), back.Raw(), created, modified)
	}
	var never State
	if !never.Created().IsZero() || !never.Modified().IsZero() {
		t.Errorf("a State that never existed: %v, %v; want zero times", never.Created(), never.Modified())
	}
}

// Each command subject kind is trusted as NATS permissions make it: plain
// commands need Ditto-Auth and ignore Ditto-Sudo; sudo commands need both
// and skip enforcement; internal commands skip it and need neither.
func TestCommandKinds(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	var sudo atomic.Bool
	f.host(t, &docHandler{seen: func(cmd *Command, _ int64) { sudo.Store(cmd.Sudo) }, observed: &atomic.Int64{}}, nil)
	id := "org.eclipse.ditto:kinds"
	tests := []struct {
		name       string
		kind       streams.CommandKind
		auth, flag string
		status     int
		sudo       bool
	}{
		{"commands", streams.KindCommands, auth, "", 404, false},
		{"commands ignore the sudo flag", streams.KindCommands, auth, "true", 404, false},
		{"commands without auth", streams.KindCommands, "", "true", 401, false},
		{"sudo", streams.KindSudo, auth, "true", 404, true},
		{"sudo without the flag", streams.KindSudo, auth, "", 400, false},
		{"sudo with another flag", streams.KindSudo, auth, "yes", 400, false},
		{"sudo without auth", streams.KindSudo, "", "true", 401, false},
		{"internal", streams.KindInternal, "", "", 404, true},
		{"internal for a caller", streams.KindInternal, auth, "", 404, true},
		{"internal with broken auth", streams.KindInternal, "nope", "", 401, false},
	}
	for _, tc := range tests {
		sudo.Store(false)
		msg := f.command(t, id, "retrieve", "/", "", nil, tc.auth)
		msg.Subject = f.names.Commands(streams.ServiceThings, tc.kind, streams.Shard(id, testShards))
		if tc.flag != "" {
			msg.Header.Set(streams.HeaderSudo, tc.flag)
		}
		reply, err := f.nc.RequestMsg(msg, 5*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		env, _ := protocol.DecodeEnvelope(reply.Data)
		if env.Status != tc.status || sudo.Load() != tc.sudo {
			t.Errorf("%s: status %d sudo %t, want %d and %t (%s)", tc.name, env.Status, sudo.Load(), tc.status, tc.sudo, env.Value)
		}
	}
}
