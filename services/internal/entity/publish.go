package entity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/streams"
)

// The publisher delivers every journaled event to its JetStream stream at
// least once and, per entity, in revision order:
//
//   - Normally the worker that journaled an event publishes it and waits
//     for JetStream's acknowledgement before the command is answered.
//   - When that fails (JetStream refuses, times out, is unreachable), the
//     entity gets a backlog: the range of its revisions not yet in the
//     stream. Later events of the entity join the backlog instead of being
//     published directly, so order holds; the publisher's own goroutine
//     reads the backlog's events back from the journal and publishes them,
//     retrying with backoff, while the entity keeps serving commands.
//     While anything fails, new events of every entity go to backlogs at
//     once, so commands are not slowed by a JetStream that is down.
//   - Per shard it keeps a watermark: a time before which every event of
//     the shard is known to be in the stream (the oldest event between
//     journal append and acknowledgement, or in a backlog; else now). It
//     stores the watermark in a KV bucket every second and when it hands
//     the shard back.
//   - The next owner of a shard (this or another instance, after a
//     hand-over or a crash) first reads the journal's events since the
//     watermark (an index on the timestamp makes that cost what it finds,
//     not the journal's size) and puts the shard's among them into
//     backlogs, before it serves any command of the shard.
//
// A republished event carries the same Nats-Msg-Id, so JetStream drops it
// within the duplicate window; later than that it may appear twice, which
// consumers handle by treating (entity id, revision) as the event's
// identity.
type publisher struct {
	publisherConfig

	mu sync.Mutex
	// backlog holds, per entity id, the revisions not yet in the stream.
	backlog map[string]*backlog
	// inflight counts, per shard and timestamp (ms), events between
	// journal append and acknowledgement (or backlog).
	inflight []map[int64]int
	// floor is per shard the least timestamp an event may get: the
	// watermark stored last, so no event lands below it even if the clock
	// goes back.
	floor []int64
	// stored is per shard the watermark last stored (0: none yet).
	stored []int64
	// owned marks the shards whose watermark this publisher maintains.
	owned []bool
	// degraded is set while publishing fails: new events go to backlogs.
	degraded atomic.Bool
	// pending is len(backlog), readable without mu: with none and not
	// degraded, deliver publishes without looking at the backlogs.
	pending atomic.Int64

	// storeMu serializes storing watermarks, so that none is stored for
	// a shard after close handed it back (it would overwrite the next
	// owner's).
	storeMu sync.Mutex

	wake chan struct{}
}

type publisherConfig struct {
	js         jetstream.JetStream
	kv         jetstream.KeyValue // watermarks, key "shard.<n>"
	j          journal.Journal
	kind       string // persistence id prefix
	shards     int
	subject    func(namespace string) string
	recoverFor time.Duration
	// ackWait bounds the wait for one acknowledgement (publishTimeout
	// unless set).
	ackWait time.Duration
	log     *slog.Logger
	metrics *metrics // nil: none
}

// backlog is one entity's revisions from..to (inclusive) that are not known
// to be in the stream; since is at or below the timestamp of from.
type backlog struct {
	id       string
	shard    int
	from, to int64
	since    int64
	busy     bool // a drain goroutine works on it
}

const (
	// publishTimeout bounds the wait for one acknowledgement: JetStream
	// answers in milliseconds, a cluster electing a stream leader in
	// seconds.
	publishTimeout = 5 * time.Second
	// watermarkEvery is how often watermarks are stored.
	watermarkEvery = time.Second
	// Retries of backlogs back off from minRetry to maxRetry.
	minRetry = 100 * time.Millisecond
	maxRetry = 10 * time.Second
	// drainers bounds the entities whose backlogs are published at once
	// (one after the other within an entity).
	drainers = 16
)

func newPublisher(cfg publisherConfig) *publisher {
	if cfg.ackWait <= 0 {
		cfg.ackWait = publishTimeout
	}
	p := &publisher{
		publisherConfig: cfg,
		backlog:         map[string]*backlog{},
		inflight:        make([]map[int64]int, cfg.shards),
		floor:           make([]int64, cfg.shards),
		stored:          make([]int64, cfg.shards),
		owned:           make([]bool, cfg.shards),
		wake:            make(chan struct{}, 1),
	}
	for i := range p.inflight {
		p.inflight[i] = map[int64]int{}
	}
	return p
}

// begin registers an event about to be appended to the journal and returns
// its timestamp (ms). It must be followed by abort, unsure or deliver.
func (p *publisher) begin(shard int) int64 {
	p.mu.Lock()
	ts := max(time.Now().UnixMilli(), p.floor[shard])
	p.inflight[shard][ts]++
	p.mu.Unlock()
	return ts
}

// endLocked ends the tracking begin started. Caller holds mu.
func (p *publisher) endLocked(shard int, ts int64) {
	m := p.inflight[shard]
	if m[ts] <= 1 {
		delete(m, ts)
	} else {
		m[ts]--
	}
}

// abort ends an event that was not stored.
func (p *publisher) abort(shard int, ts int64) {
	p.mu.Lock()
	p.endLocked(shard, ts)
	p.mu.Unlock()
}

// unsure ends an event whose append had an unknown outcome: if the journal
// has it, it is published from there.
func (p *publisher) unsure(shard int, ts int64, id string, rev int64) {
	p.mu.Lock()
	p.queueLocked(shard, id, rev, rev, ts)
	p.endLocked(shard, ts)
	p.mu.Unlock()
	p.kick()
}

// adopt puts revisions from..to of an entity, journaled by someone else or
// unknowingly (see load), into its backlog.
func (p *publisher) adopt(shard int, id string, from, to, since int64) {
	p.mu.Lock()
	p.queueLocked(shard, id, from, to, since)
	p.mu.Unlock()
	p.kick()
}

// queueLocked adds revisions from..to to id's backlog. Caller holds mu.
func (p *publisher) queueLocked(shard int, id string, from, to, since int64) {
	b := p.backlog[id]
	if b == nil {
		p.backlog[id] = &backlog{id: id, shard: shard, from: from, to: to, since: since}
		p.pending.Add(1)
		return
	}
	b.from, b.to, b.since = min(b.from, from), max(b.to, to), min(b.since, since)
}

// deliver publishes a journaled event (revision rev of id, with timestamp
// ts from begin) and waits for JetStream's acknowledgement; if the entity
// has a backlog, or publishing fails, the event joins the backlog instead.
func (p *publisher) deliver(shard int, ts int64, id string, rev int64, payload []byte) {
	// Only this entity's worker adds to its backlog while it runs, so
	// when there is no backlog at all this one cannot appear meanwhile.
	if p.pending.Load() > 0 || p.degraded.Load() {
		p.mu.Lock()
		if p.backlog[id] != nil || p.degraded.Load() {
			p.queueLocked(shard, id, rev, rev, ts)
			p.endLocked(shard, ts)
			p.mu.Unlock()
			p.kick()
			return
		}
		p.mu.Unlock()
	}
	err := p.publish(id, rev, payload)
	if err == nil {
		p.metrics.acked(ts)
	}
	p.mu.Lock()
	if err != nil {
		if p.degraded.CompareAndSwap(false, true) {
			p.log.Warn("events wait for JetStream", "entity_id", id, "revision", rev, "err", err)
		}
		p.queueLocked(shard, id, rev, rev, ts)
	}
	p.endLocked(shard, ts)
	p.mu.Unlock()
	if err != nil {
		p.kick()
	}
}

// publish sends one event and waits for its acknowledgement.
func (p *publisher) publish(id string, rev int64, payload []byte) error {
	ns, _ := protocol.SplitID(id)
	msg := nats.NewMsg(p.subject(ns))
	msg.Data = payload
	msg.Header.Set(streams.HeaderEntity, streams.EncodeEntityHeader(id))
	msg.Header.Set(streams.HeaderRevision, strconv.FormatInt(rev, 10))
	fut, err := p.js.PublishMsgAsync(msg, jetstream.WithMsgID(streams.EventMsgID(id, rev)))
	if err != nil {
		return err
	}
	t := time.NewTimer(p.ackWait)
	defer t.Stop()
	select {
	case <-fut.Ok():
		return nil
	case err := <-fut.Err():
		return err
	case <-t.C:
		return errors.New("no acknowledgement from JetStream")
	}
}

func (p *publisher) kick() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// run works on backlogs and stores watermarks until ctx ends.
func (p *publisher) run(ctx context.Context) {
	tick := time.NewTicker(watermarkEvery)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	var backoff time.Duration
	var next time.Time // no drain before this, after a failure
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			p.storeWatermarks(ctx, p.ownedShards())
			continue
		case <-p.wake:
			if time.Now().Before(next) {
				continue // the retry timer comes
			}
		case <-retry.C:
		}
		if p.drain(ctx) {
			backoff, next = 0, time.Time{}
			continue
		}
		backoff = min(max(2*backoff, minRetry), maxRetry)
		next = time.Now().Add(backoff)
		retry.Reset(backoff)
	}
}

// drain publishes every backlog, until none is left or one fails. It
// reports whether all went out.
func (p *publisher) drain(ctx context.Context) bool {
	for {
		p.mu.Lock()
		var work []*backlog
		for _, b := range p.backlog {
			if !b.busy {
				b.busy = true
				work = append(work, b)
			}
		}
		p.mu.Unlock()
		if len(work) == 0 {
			return true
		}
		failed := make(chan error, 1)
		sem := make(chan struct{}, drainers)
		var wg sync.WaitGroup
		for _, b := range work {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				if err := p.publishBacklog(ctx, b); err != nil {
					select {
					case failed <- err:
					default:
					}
				}
			})
		}
		wg.Wait()
		select {
		case err := <-failed:
			p.degraded.Store(true)
			n := p.pending.Load()
			p.log.Warn("republishing events failed, retrying", "entities_waiting", n, "err", err)
			return false
		default:
		}
		// JetStream takes events again: new ones need not wait for what
		// is left of the backlogs (of other entities).
		if p.degraded.CompareAndSwap(true, false) {
			p.log.Info("events flow to JetStream again", "entities_waiting", p.pending.Load())
		}
	}
}

// publishBacklog publishes b's revisions in order, reading them from the
// journal. Revisions the journal lacks (an append that did not happen) are
// skipped.
func (p *publisher) publishBacklog(ctx context.Context, b *backlog) error {
	p.mu.Lock()
	from, to := b.from, b.to
	p.mu.Unlock()
	events, err := p.j.Events(ctx, pidOf(p.kind, b.id), from, to)
	done := from - 1 // published through here
	if err == nil {
		for _, e := range events {
			err = p.publish(b.id, e.SN, e.Payload)
			if err == nil {
				p.metrics.acked(e.Timestamp.UnixMilli())
			}
			if errors.Is(err, nats.ErrMaxPayload) {
				// It can never go out; retrying it would hold up every
				// later event of the entity. Consumers that track
				// revisions see the gap and catch up from the entity.
				p.log.Error("event larger than NATS carries, not published", "entity_id", b.id, "revision", e.SN, "bytes", len(e.Payload))
				err = nil
			}
			if err != nil {
				break
			}
			done = e.SN
		}
		if err == nil {
			done = to
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	b.busy = false
	// Only when nobody changed the range meanwhile does it shrink exactly;
	// revisions adopted below it are published again next time, and
	// revisions added above it keep the since they brought.
	if b.from == from && done >= from {
		b.from = done + 1
		if b.to == to {
			for _, e := range events {
				if e.SN >= b.from {
					b.since = max(b.since, e.Timestamp.UnixMilli())
					break
				}
			}
		}
	}
	if b.from > b.to {
		delete(p.backlog, b.id)
		p.pending.Add(-1)
	}
	if err != nil {
		return fmt.Errorf("publish events %d..%d of %s: %w", from, to, b.id, err)
	}
	return nil
}

func (p *publisher) ownedShards() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []int
	for s, o := range p.owned {
		if o {
			out = append(out, s)
		}
	}
	return out
}

// watermarkLocked is the time (ms) before which every event of shard is in
// the stream. Caller holds mu.
func (p *publisher) watermarkLocked(shard int) int64 {
	w := max(time.Now().UnixMilli(), p.floor[shard])
	for ts := range p.inflight[shard] {
		w = min(w, ts)
	}
	for _, b := range p.backlog {
		if b.shard == shard {
			w = min(w, b.since)
		}
	}
	return w
}

// storeWatermarks stores the watermarks of the given shards that moved and
// that this publisher still owns.
func (p *publisher) storeWatermarks(ctx context.Context, shards []int) {
	p.storeMu.Lock()
	defer p.storeMu.Unlock()
	for _, s := range shards {
		p.mu.Lock()
		w := p.watermarkLocked(s)
		changed := p.owned[s] && w != p.stored[s]
		p.mu.Unlock()
		if !changed {
			continue
		}
		putCtx, cancel := context.WithTimeout(ctx, p.ackWait)
		_, err := p.kv.Put(putCtx, watermarkKey(s), []byte(strconv.FormatInt(w, 10)))
		cancel()
		if err != nil {
			p.log.Debug("store publication watermark", "shard", s, "err", err)
			continue
		}
		p.mu.Lock()
		p.stored[s] = w
		p.floor[s] = max(p.floor[s], w)
		p.mu.Unlock()
	}
}

func watermarkKey(shard int) string { return "shard." + strconv.Itoa(shard) }

// recoverWait bounds one recovery read of the journal. It is not the
// caller's (the lease manager's pass is short): a journal too slow for it
// leaves the shards unserved until the next attempt.
const recoverWait = time.Minute

// open recovers shards before this host serves them: every event journaled
// since a shard's watermark goes into a backlog (most of them are in the
// stream already; republishing them is harmless). A shard without a
// watermark looks back recoverFor. One read of the journal, from the
// earliest watermark, serves all the shards; a shard whose watermark
// cannot be read is not opened.
func (p *publisher) open(ctx context.Context, shards []int) map[int]error {
	errs := map[int]error{}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recoverWait)
	defer cancel()
	since := map[int]int64{}
	earliest := int64(-1)
	for _, s := range shards {
		w, err := p.readWatermark(ctx, s)
		if err != nil {
			errs[s] = err
			continue
		}
		since[s] = w
		if earliest < 0 || w < earliest {
			earliest = w
		}
	}
	if len(since) == 0 {
		return errs
	}
	started := time.Now()
	found := map[string]*backlog{}
	err := p.j.EventsSince(ctx, time.UnixMilli(earliest), func(r journal.EventRef) error {
		id, ok := idOfPID(p.kind, r.PID)
		if !ok {
			return nil
		}
		s := streams.Shard(id, p.shards)
		w, opening := since[s]
		ts := r.Timestamp.UnixMilli()
		if !opening || ts < w {
			return nil
		}
		if b := found[id]; b != nil {
			b.from, b.to, b.since = min(b.from, r.SN), max(b.to, r.SN), min(b.since, ts)
		} else {
			found[id] = &backlog{id: id, shard: s, from: r.SN, to: r.SN, since: ts}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("read journal since %s: %w", time.UnixMilli(earliest).UTC().Format(time.RFC3339Nano), err)
		for s := range since {
			errs[s] = err
		}
		return errs
	}
	p.mu.Lock()
	for id, b := range found {
		p.queueLocked(b.shard, id, b.from, b.to, b.since)
	}
	for s, w := range since {
		// This owner's events come after the previous owner's watermark.
		p.floor[s] = max(p.floor[s], w)
		p.stored[s] = 0
		p.owned[s] = true
	}
	p.mu.Unlock()
	if d := time.Since(started); len(found) > 0 || d > time.Second {
		p.log.Info("recovered shards: their recent events go to JetStream again", "shards", len(since), "entities", len(found), "took", d.Round(time.Millisecond))
	}
	if len(found) > 0 {
		p.kick()
	}
	return errs
}

// readWatermark returns shard's stored watermark, or now - recoverFor if it
// has none.
func (p *publisher) readWatermark(ctx context.Context, shard int) (int64, error) {
	e, err := p.kv.Get(ctx, watermarkKey(shard))
	switch {
	case err == nil:
		w, err := strconv.ParseInt(string(e.Value()), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("watermark of shard %d: %q: %w", shard, e.Value(), err)
		}
		return w, nil
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return time.Now().Add(-p.recoverFor).UnixMilli(), nil
	default:
		return 0, fmt.Errorf("read watermark of shard %d: %w", shard, err)
	}
}

// close stops maintaining shard's watermark: it stores the final one,
// which lets the next owner's recovery start where this owner's publishing
// ended. It does not wait for the shard's backlogs: their events are also
// the next owner's to republish (from the watermark, which stays below
// them), and this publisher keeps retrying them; a duplicate is harmless.
func (p *publisher) close(ctx context.Context, shard int) {
	p.storeWatermarks(context.WithoutCancel(ctx), []int{shard})
	p.storeMu.Lock()
	p.mu.Lock()
	p.owned[shard] = false
	p.mu.Unlock()
	p.storeMu.Unlock()
}
