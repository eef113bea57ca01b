package main

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/streams"
)

// scEvents is the row of the event-delivery check: after MODIFY_THINGS,
// the thing events stream must hold exactly the writes that were
// acknowledged, each thing's revisions 1..n once and in order.
const scEvents = "EVENTS"

// eventTally is what the stream held for the bench's namespace.
type eventTally struct {
	events     int64 // messages read
	things     int   // distinct things
	revisions  int64 // distinct (thing, revision) pairs
	duplicates int64 // a revision seen before (republished after the dedup window)
	gaps       int64 // a revision beyond the next expected: one missing before it
}

// checkEvents reads the thing events stream of the ditto the run started
// (over its NATS port, as the operator role) and compares it with acked,
// the creations and modifications that were acknowledged.
func (r *runner) checkEvents(ctx context.Context, natsPort int, acked int64) result {
	res := result{Scenario: scEvents, ServerCPU: -1, LoadCPU: -1}
	start := time.Now()
	t, err := r.readEvents(ctx, natsPort)
	res.Elapsed = time.Since(start)
	res.Ops = t.events
	errs := errorTally{}
	if err != nil {
		errs.add("reading the stream failed", err.Error(), 1)
	}
	if missing := acked - t.revisions; missing != 0 {
		errs.add("acknowledged writes without exactly one event", fmt.Sprintf("%d acknowledged, %d distinct revisions in the stream", acked, t.revisions), max(missing, -missing))
	}
	if t.gaps > 0 {
		errs.add("revisions missing or out of order", fmt.Sprintf("%d times a thing's next event skipped revisions", t.gaps), t.gaps)
	}
	res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
	res.Note = fmt.Sprintf("thing events stream after MODIFY_THINGS: %d events of %d things, %d distinct revisions = %d writes acknowledged (CREATE, MODIFY_THINGS and its warm-up); %d duplicates, %d gaps",
		t.events, t.things, t.revisions, acked, t.duplicates, t.gaps)
	return res
}

func (r *runner) readEvents(ctx context.Context, natsPort int) (eventTally, error) {
	var t eventTally
	seed := filepath.Join(r.dir, "data", "secrets", string(streams.RoleOperator)+".nk")
	opt, err := nats.NkeyOptionFromSeed(seed)
	if err != nil {
		return t, err
	}
	nc, err := nats.Connect("nats://127.0.0.1:"+strconv.Itoa(natsPort), opt)
	if err != nil {
		return t, err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return t, err
	}
	names := streams.New("")
	subject := names.ThingEvents(r.cfg.namespace)
	s, err := js.Stream(ctx, names.ThingEventsStream())
	if err != nil {
		return t, err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(subject))
	if err != nil {
		return t, err
	}
	total := int64(info.State.Subjects[subject])
	// One ephemeral consumer, left to the server to remove once idle: an
	// ordered consumer makes a new one per fetch and deletes the last,
	// which the operator role may not (each refusal was printed).
	cons, err := s.CreateConsumer(ctx, jetstream.ConsumerConfig{
		FilterSubject:     subject,
		DeliverPolicy:     jetstream.DeliverAllPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		InactiveThreshold: 30 * time.Second,
	})
	if err != nil {
		return t, err
	}
	last := make(map[string]int64, r.cfg.n) // thing -> highest revision seen
	for t.events < total {
		// Never more than are left: a fetch waits for its whole batch.
		batch, err := cons.Fetch(int(min(4096, total-t.events)), jetstream.FetchMaxWait(10*time.Second))
		if err != nil {
			return t, err
		}
		n := 0
		for m := range batch.Messages() {
			n++
			t.events++
			rev, err := strconv.ParseInt(m.Headers().Get(streams.HeaderRevision), 10, 64)
			if err != nil {
				return t, fmt.Errorf("event without a revision header: %v", m.Headers())
			}
			id := streams.DecodeEntityHeader(m.Headers().Get(streams.HeaderEntity))
			seen := last[id]
			switch {
			case rev <= seen:
				t.duplicates++
			case rev == seen+1:
				t.revisions++
				last[id] = rev
			default:
				t.gaps++
				t.revisions++
				last[id] = rev
			}
		}
		if err := batch.Error(); err != nil {
			return t, err
		}
		if n == 0 {
			return t, fmt.Errorf("the stream ended after %d of its %d events", t.events, total)
		}
	}
	t.things = len(last)
	return t, nil
}
