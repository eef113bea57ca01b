package search

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/search/index"
	"github.com/dittonats/dittonats/streams"
)

// maxBatch bounds the events applied in one index transaction.
const maxBatch = 512

// batchLinger is how long the apply loop waits for more events to join a
// batch: a few milliseconds of index lag for far fewer commits.
const batchLinger = 5 * time.Millisecond

// While events arrive at busyRate a second or faster (counted over
// rateWindow or more), the apply loop waits busyLinger instead: the index
// then lags by tens of milliseconds more, and costs the writes it follows
// less (see applyLoop). A search-persisted request cuts the wait short.
const (
	busyLinger = 50 * time.Millisecond
	busyRate   = 1500
	rateWindow = 250 * time.Millisecond
)

// source is one event stream the projector follows.
type source struct {
	service string // streams.ServiceThings or streams.ServicePolicies
	meta    string // index meta key of the last applied stream sequence
}

var eventSources = []source{
	{service: streams.ServiceThings, meta: "seq.things"},
	{service: streams.ServicePolicies, meta: "seq.policies"},
}

// event is one message of a followed stream, as the apply loop gets it.
type event struct {
	src *source
	msg jetstream.Msg
}

// repair is a thing's state fetched from the things service by a fill or
// a background sync pass, for the apply loop to write when it is newer than
// the index (or, gone, to remove the entry if the index still holds the
// revision it held when the check began).
type repair struct {
	id      string
	thing   thing // revision 0: the thing is gone
	seenRev int64 // the index's revision when the check read it (0: none)
	// force rebuilds the entry from thing even when the index holds its
	// revision already (DevOps force-update, sudoUpdateThing); never
	// when the index holds a newer one.
	force bool
	done  chan struct{}
}

// current is a thing's state within one batch: what the index holds,
// changed by the batch's events so far.
type current struct {
	entry   index.Entry
	exists  bool
	changed bool
	// rebuild writes the entry's rows anew instead of the difference to
	// what the index holds (a forced repair).
	rebuild bool
	// stored is the entry as the index holds it (when it does): the put
	// that replaces it diffs against it instead of reading it again.
	stored index.Entry
}

// indexed is the state of a thing as the index holds it (GetMany's e, ok).
func indexed(e index.Entry, ok bool) *current {
	return &current{entry: e, exists: ok, stored: e}
}

// applyLoop is the index's only writer: it applies events and repairs in
// batches, one transaction per batch, and acknowledges the events of a
// batch only once it is committed.
func (s *Service) applyLoop(ctx context.Context) {
	expiry := time.NewTicker(time.Second)
	defer expiry.Stop()
	load := loadGauge{since: time.Now()}
	for {
		var evs []event
		var reps []repair
		select {
		case <-ctx.Done():
			return
		case e := <-s.events:
			evs = append(evs, e)
		case r := <-s.repairs:
			reps = append(reps, r)
		case <-expiry.C:
			s.reindexExpired(ctx)
			continue
		case p := <-s.erasure.purges:
			s.applyPurge(ctx, p)
			continue
		}
		// Gather what arrives within a moment into the same transaction:
		// under a steady write load one commit then carries many events,
		// and a page they share is written once. Under a heavy one, the
		// longer wait makes batches of hundreds (MODIFY_THINGS on 2 cores:
		// ~200 instead of ~40), and each modify costs the server less CPU
		// (see the README's Benchmark).
		wait := batchLinger
		if load.busy && !s.waiters.pending() {
			wait = busyLinger
		}
		evs, reps = s.gather(evs, reps, wait)
		load.add(len(evs), time.Now())
		for {
			err := s.applyBatch(ctx, evs, reps)
			if err == nil || ctx.Err() != nil {
				break
			}
			// The index could not be written: nothing is acknowledged, so
			// retry the same batch (JetStream would redeliver it anyway).
			s.log.Error("search index write failed, retrying", "err", err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(time.Second):
			}
		}
	}
}

// loadGauge tells the apply loop whether events arrive at busyRate or
// faster: counted over windows of rateWindow or more, so that the chance
// variation of a few milliseconds does not switch the wait back and forth.
type loadGauge struct {
	busy    bool // in the last window that ended
	counted int  // events in the current window
	since   time.Time
}

// add counts n events gathered at now.
func (g *loadGauge) add(n int, now time.Time) {
	g.counted += n
	if d := now.Sub(g.since); d >= rateWindow {
		g.busy = float64(g.counted) >= busyRate*d.Seconds()
		g.counted, g.since = 0, now
	}
}

// gather adds to a batch what arrives within wait, up to maxBatch. A new
// search-persisted request ends a wait longer than batchLinger.
func (s *Service) gather(evs []event, reps []repair, wait time.Duration) ([]event, []repair) {
	linger := time.NewTimer(wait)
	defer linger.Stop()
	for len(evs)+len(reps) < maxBatch {
		select {
		case e := <-s.events:
			evs = append(evs, e)
		case r := <-s.repairs:
			reps = append(reps, r)
		case <-s.waiters.added:
			if wait > batchLinger {
				return evs, reps
			}
		case <-linger.C:
			return evs, reps
		}
	}
	return evs, reps
}

func (s *Service) applyBatch(ctx context.Context, evs []event, reps []repair) error {
	state := map[string]*current{}
	// The batch's things are read in one go.
	var ids []string
	for _, e := range evs {
		if e.src.service == streams.ServiceThings {
			if id := streams.DecodeEntityHeader(e.msg.Headers().Get(streams.HeaderEntity)); id != "" {
				ids = append(ids, id)
			}
		}
	}
	for _, r := range reps {
		ids = append(ids, r.id)
	}
	found, err := s.ix.GetMany(ctx, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if _, ok := state[id]; !ok {
			e, ok := found[id]
			state[id] = indexed(e, ok)
		}
	}
	get := func(id string) (*current, error) {
		if c, ok := state[id]; ok {
			return c, nil
		}
		m, err := s.ix.GetMany(ctx, []string{id})
		if err != nil {
			return nil, err
		}
		e, ok := m[id]
		c := indexed(e, ok)
		state[id] = c
		return c, nil
	}
	policies := map[string]bool{}
	last := map[*source]jetstream.Msg{}
	for _, e := range evs {
		last[e.src] = e.msg
		switch e.src.service {
		case streams.ServiceThings:
			if err := s.applyThingEvent(ctx, e.msg, get); err != nil {
				return err
			}
		case streams.ServicePolicies:
			id := streams.DecodeEntityHeader(e.msg.Headers().Get(streams.HeaderEntity))
			if id != "" {
				policies[id] = true
			}
		}
	}
	for _, r := range reps {
		if r.thing.revision != 0 && s.purgedRepair(ctx, r.id) {
			continue // loaded before its namespace was erased
		}
		c, err := get(r.id)
		if err != nil {
			return err
		}
		switch {
		case r.thing.revision == 0:
			if c.exists && c.entry.Revision == r.seenRev {
				c.exists, c.changed = false, true
			}
		case !c.exists || r.thing.revision > c.entry.Revision || r.force && r.thing.revision == c.entry.Revision:
			c.rebuild = c.rebuild || r.force && c.exists
			c.entry = index.Entry{ThingID: r.id, PolicyID: policyOf(r.thing.doc), Revision: r.thing.revision, Thing: r.thing.doc}
			c.exists, c.changed = true, true
		}
	}
	// A changed policy changes who may read every thing it governs, and
	// every thing governed by a policy that imports it.
	for id := range policies {
		deps, err := s.ix.DependentPolicies(ctx, id)
		if err != nil {
			return err
		}
		for _, d := range deps {
			policies[d] = true // visited by this loop or not: either is right
		}
	}
	for id := range policies {
		s.policies.invalidate(id)
		ids, err := s.ix.ThingsOfPolicy(ctx, id)
		if err != nil {
			return err
		}
		s.log.Debug("policy changed", "policy_id", id, "things", len(ids))
		var missing []string
		for _, tid := range ids {
			if _, ok := state[tid]; !ok {
				missing = append(missing, tid)
			}
		}
		found, err := s.ix.GetMany(ctx, missing)
		if err != nil {
			return err
		}
		for _, tid := range missing {
			e, ok := found[tid]
			state[tid] = indexed(e, ok)
		}
		for _, tid := range ids {
			state[tid].changed = state[tid].exists || state[tid].changed
		}
	}
	// The policies of the things to write, loaded side by side.
	var pids []string
	for _, c := range state {
		if c.changed && c.exists {
			pids = append(pids, c.entry.PolicyID)
		}
	}
	s.policies.prefetch(ctx, pids, s.cfg.Fetches)
	b := index.Batch{Meta: map[string]string{}, PolicyDeps: map[string][]string{}}
	for id, c := range state {
		if !c.changed {
			continue
		}
		if !c.exists {
			b.Delete = append(b.Delete, id)
			continue
		}
		doc, err := s.doc(ctx, c.entry)
		if blocked(err) {
			// Its policy's namespace is blocked: the update is dropped,
			// as Ditto's search updater drops it.
			c.changed = false
			continue
		}
		if err != nil {
			return err
		}
		// Which policies the thing's visibility depends on besides its
		// own: recorded when it has some, and for a policy that changed
		// (its imports may be gone).
		if deps := s.policies.depsOf(doc.PolicyID); len(deps) > 0 || policies[doc.PolicyID] {
			b.PolicyDeps[doc.PolicyID] = deps
		}
		if c.rebuild {
			// Removed and written anew in the same transaction: every
			// row comes from the thing, none from what was stored.
			b.Delete = append(b.Delete, id)
		} else {
			doc.Prev = c.stored
		}
		b.Put = append(b.Put, doc)
	}
	for src, m := range last {
		if md, err := m.Metadata(); err == nil {
			b.Meta[src.meta] = strconv.FormatUint(md.Sequence.Stream, 10)
		}
	}
	s.prunePurged(b.Meta)
	if len(b.Put)+len(b.Delete)+len(b.Meta)+len(b.PolicyDeps) > 0 {
		if err := s.ix.Write(ctx, b); err != nil {
			return err
		}
	}
	s.observeLag(evs)
	// AckAll: the last message of a stream acknowledges the ones before.
	for _, m := range last {
		if err := m.Ack(); err != nil {
			s.log.Warn("acknowledge events", "err", err)
		}
	}
	for id, c := range state {
		if c.changed {
			s.waiters.notify(id, c.entry.Revision, !c.exists)
		}
	}
	for _, r := range reps {
		if r.done != nil {
			close(r.done)
		}
	}
	return nil
}

// observeLag records, for each event of a committed batch, the time since
// JetStream stored it.
func (s *Service) observeLag(evs []event) {
	now := time.Now()
	for _, e := range evs {
		md, err := e.msg.Metadata()
		if err != nil {
			continue
		}
		// Clamped: the server's clock may be a little ahead of ours.
		s.metrics.indexLag.Observe(max(now.Sub(md.Timestamp), 0).Seconds())
	}
}

// applyThingEvent follows one thing event: applied to the indexed state
// when it is the next revision, skipped when the index is already there,
// and otherwise (a gap: events lost, or a thing the index never saw) the
// thing is loaded from the things service.
func (s *Service) applyThingEvent(ctx context.Context, m jetstream.Msg, get func(string) (*current, error)) error {
	id := streams.DecodeEntityHeader(m.Headers().Get(streams.HeaderEntity))
	env, err := protocol.DecodeEnvelopeUnchecked(m.Data())
	if err != nil {
		s.log.Warn("skipping undecodable thing event", "entity_id", id, "err", err)
		return nil
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		s.log.Warn("skipping thing event with a bad topic", "entity_id", id, "err", err)
		return nil
	}
	if id == "" {
		id = topic.EntityID()
	}
	if s.purgedEvent(ctx, id, m) {
		return nil // its namespace was erased after it
	}
	rev := env.Revision
	if rev == 0 {
		rev, _ = strconv.ParseInt(m.Headers().Get(streams.HeaderRevision), 10, 64)
	}
	c, err := get(id)
	if err != nil {
		return err
	}
	if c.exists && rev <= c.entry.Revision {
		return nil // seen already
	}
	path, err := jsonv.ParsePointer(env.Path)
	if err != nil {
		s.log.Warn("skipping thing event with a bad path", "entity_id", id, "err", err)
		return nil
	}
	ch := entity.Change{Action: topic.Action, Path: path}
	if len(env.Value) > 0 {
		if ch.Value, err = jsonv.ParseStored(env.Value); err != nil {
			s.log.Warn("skipping thing event with a bad value", "entity_id", id, "err", err)
			return nil
		}
	}
	if len(env.Metadata) > 0 {
		if ch.Metadata, err = jsonv.ParseStored(env.Metadata); err != nil {
			s.log.Warn("skipping thing event with bad metadata", "entity_id", id, "err", err)
			return nil
		}
	}
	created := ch.Path.IsRoot() && ch.Action == entity.ActionCreated
	deleted := ch.Path.IsRoot() && ch.Action == entity.ActionDeleted
	switch {
	case deleted:
		c.entry.Revision = rev
		c.exists, c.changed = false, true
		return nil
	case created || (c.exists && rev == c.entry.Revision+1):
		doc, _, err := ch.ApplyTo(c.entry.Thing)
		if err != nil {
			s.log.Warn("skipping thing event", "entity_id", id, "err", err)
			return nil
		}
		ts := jsonv.String(env.Timestamp)
		if created || ch.Path.IsRoot() && !c.exists {
			doc = doc.Set(jsonv.Pointer{"_created"}, ts)
		} else if v, ok := c.entry.Thing.Get("_created"); ok {
			doc = doc.Set(jsonv.Pointer{"_created"}, v)
		}
		doc = doc.Set(jsonv.Pointer{"_modified"}, ts)
		// The thing's metadata follows as the things service keeps it
		// (entity.Change.MetadataTo), indexed as its _metadata field.
		meta := jsonv.Null()
		if !created && (!ch.Path.IsRoot() || c.exists) {
			meta, _ = c.entry.Thing.Get("_metadata")
		}
		if meta = ch.MetadataTo(meta); meta.Kind() == jsonv.KindObject {
			doc = doc.Set(jsonv.Pointer{"_metadata"}, meta)
		} else {
			doc, _ = doc.Delete(jsonv.Pointer{"_metadata"})
		}
		c.entry = index.Entry{ThingID: id, PolicyID: policyOf(doc), Revision: rev, Thing: doc}
		c.exists, c.changed = true, true
		return nil
	}
	t, err := s.src.retrieveThing(ctx, id)
	switch {
	case errors.Is(err, errGone):
		c.entry.Revision = rev
		c.exists, c.changed = false, c.exists
		return nil
	case blocked(err):
		return nil // dropped while its namespace is blocked
	case err != nil:
		return err
	}
	c.entry = index.Entry{ThingID: id, PolicyID: policyOf(t.doc), Revision: t.revision, Thing: t.doc}
	c.exists, c.changed = true, true
	return nil
}

// doc turns an entry into what the index writes: the thing with who may
// read what, by its policy as of now.
func (s *Service) doc(ctx context.Context, e index.Entry) (index.Doc, error) {
	d := index.Doc{ThingID: e.ThingID, PolicyID: e.PolicyID, Revision: e.Revision, Thing: e.Thing}
	enf, err := s.policies.get(ctx, e.PolicyID)
	if err != nil {
		return d, err
	}
	if enf != nil {
		ns, _ := protocol.SplitID(e.ThingID)
		d.Access = enf.Readers(ns, time.Now())
		s.noteExpiry(e.PolicyID, d.Access)
	}
	return d, nil
}

// noteExpiry remembers when who may read a policy's things changes next
// because a subject expires.
func (s *Service) noteExpiry(policyID string, r *enforcer.Readers) {
	exp := r.Expires()
	if exp.IsZero() {
		return
	}
	if cur, ok := s.expiries[policyID]; !ok || exp.Before(cur) {
		s.expiries[strings.Clone(policyID)] = exp // see policyCache.get
	}
}

// reindexExpired re-evaluates the things of every policy one of whose
// subjects has expired since they were indexed.
func (s *Service) reindexExpired(ctx context.Context) {
	now := time.Now()
	for id, exp := range s.expiries {
		if now.Before(exp) {
			continue
		}
		delete(s.expiries, id)
		if err := s.reindexPolicy(ctx, id); err != nil {
			s.log.Warn("re-index after a subject expired", "policy_id", id, "err", err)
			s.expiries[id] = now.Add(5 * time.Second)
		}
	}
}

// reindexPolicy rewrites who may read the things of a policy.
func (s *Service) reindexPolicy(ctx context.Context, id string) error {
	ids, err := s.ix.ThingsOfPolicy(ctx, id)
	if err != nil {
		return err
	}
	for len(ids) > 0 {
		n := min(len(ids), maxBatch)
		var b index.Batch
		found, err := s.ix.GetMany(ctx, ids[:n])
		if err != nil {
			return err
		}
		for _, tid := range ids[:n] {
			e, ok := found[tid]
			if !ok {
				continue
			}
			d, err := s.doc(ctx, e)
			if err != nil {
				return err
			}
			d.Prev = e
			b.Put = append(b.Put, d)
		}
		if err := s.ix.Write(ctx, b); err != nil {
			return err
		}
		ids = ids[n:]
	}
	return nil
}

func policyOf(doc jsonv.Value) string {
	v, _ := doc.Get("policyId")
	s, _ := v.Str()
	return s
}

// follow creates (or finds again) this instance's durable consumers and
// feeds their events to the apply loop. It reports whether events may have
// been lost to the index (a new index, or one that was away longer than a
// stream keeps events): then the index must be filled from the things
// service.
func (s *Service) follow(ctx context.Context) (lost bool, stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, f := range stops {
			f()
		}
	}
	for i := range eventSources {
		src := &eventSources[i]
		l, cc, err := s.consumer(ctx, src)
		if err != nil {
			stop()
			return false, nil, err
		}
		lost = lost || l
		cons, err := cc.Consume(func(m jetstream.Msg) {
			select {
			case s.events <- event{src: src, msg: m}:
			case <-ctx.Done():
			}
		}, jetstream.PullMaxMessages(2*maxBatch))
		if err != nil {
			stop()
			return false, nil, fmt.Errorf("consume %s events: %w", src.service, err)
		}
		stops = append(stops, cons.Stop)
	}
	return lost, stop, nil
}

// consumerName is the durable consumer of this index on a stream. The
// index's own id is in the name, so a new index never inherits the
// position of a lost one.
func (s *Service) consumerName(src *source) string {
	return "search-" + s.indexID + "-" + src.service
}

// consumer returns the durable consumer of src, creating it where the
// index left off.
func (s *Service) consumer(ctx context.Context, src *source) (lost bool, c jetstream.Consumer, err error) {
	stream, err := s.waitStream(ctx, s.names.EventsStream(src.service))
	if err != nil {
		return false, nil, err
	}
	info := stream.CachedInfo()
	var applied uint64
	if v, ok, err := s.ix.Meta(ctx, src.meta); err != nil {
		return false, nil, err
	} else if ok {
		applied, _ = strconv.ParseUint(v, 10, 64)
	}
	name := s.consumerName(src)
	start := applied + 1
	if c, err := stream.Consumer(ctx, name); err == nil {
		ci := c.CachedInfo()
		// The first event the index has not applied: after what it
		// applied, and not before the consumer's start (an index that
		// applied none of this stream).
		resume := max(start, ci.Config.OptStartSeq)
		if ci.Delivered.Stream < resume {
			// Events between what was acknowledged and the stream's first
			// are gone.
			floor := max(ci.AckFloor.Stream, applied)
			return floor+1 < info.State.FirstSeq, c, nil
		}
		// Events were delivered to this index's previous process that it
		// did not apply (it stopped with them in flight or buffered).
		// JetStream would deliver them again only after AckWait, and an
		// acknowledgement of a later event (AckAll) would acknowledge
		// them unapplied: the consumer starts over after what the index
		// applied instead.
		start = resume
		if err := stream.DeleteConsumer(ctx, name); err != nil && !errors.Is(err, jetstream.ErrConsumerNotFound) {
			return false, nil, fmt.Errorf("restart consumer %s: %w", name, err)
		}
		applied = start - 1 // 0 only for an index that never applied any: filled again
	} else if !errors.Is(err, jetstream.ErrConsumerNotFound) {
		return false, nil, fmt.Errorf("consumer %s: %w", name, err)
	}
	switch {
	case applied == 0:
		// A new index: it is filled from the things service, and follows
		// the events from now on.
		lost = true
		start = info.State.LastSeq + 1
	case start < info.State.FirstSeq:
		lost = true
		start = info.State.FirstSeq
	}
	c, err = stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:           name,
		Description:       "things-search index " + s.indexID + " (instance " + s.instance + ")",
		FilterSubject:     s.names.EventsAll(src.service),
		DeliverPolicy:     jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:       start,
		AckPolicy:         jetstream.AckAllPolicy,
		AckWait:           time.Minute,
		MaxAckPending:     16 * maxBatch,
		InactiveThreshold: s.consumerInactivity,
	})
	if err != nil {
		return false, nil, fmt.Errorf("create consumer %s: %w", name, err)
	}
	return lost, c, nil
}

// waitStream waits until the stream exists: the entity service that owns
// it creates it when it starts.
func (s *Service) waitStream(ctx context.Context, name string) (jetstream.Stream, error) {
	for {
		st, err := s.js.Stream(ctx, name)
		if err == nil {
			return st, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			s.log.Warn("event stream not readable yet", "stream", name, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
