package cleanup

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/streams"
)

// Host is the entity host whose entities a Cleaner cleans (package
// entity's Host): it says which shards this instance serves and holds an
// entity's commands back while its last snapshot goes.
type Host interface {
	// Published returns, for a shard this instance serves, the time
	// before which every event of the shard is known to be in its
	// JetStream stream; serving is false for a shard it does not serve.
	// An event after it may still have to be read back from the journal
	// by the publisher: it must stay. It does no I/O.
	Published(shard int) (before time.Time, serving bool)
	// PublishedBefore is that time for any shard: for one served
	// elsewhere, the one its owner stored last.
	PublishedBefore(ctx context.Context, shard int) (time.Time, error)
	// WithIdle runs fn while no command of entity id runs (those that
	// arrive wait, then load the entity from the journal anew) and
	// reports true; it runs nothing and reports false when a command of
	// the entity is queued or running.
	WithIdle(id string, fn func()) bool
}

// Deps are what a Cleaner works on.
type Deps struct {
	Journal journal.Journal
	// Kind prefixes the persistence ids: "thing", "policy".
	Kind string
	// Shards is the shard count (CLUSTER_NUMBER_OF_SHARDS).
	Shards int
	Host   Host
	// DuplicateWindow is the event streams' duplicate window: a deleted
	// entity's final snapshot goes only once its deletion is older, so
	// that the events of the entity created again, from revision 1, are
	// not dropped as duplicates of the old ones.
	DuplicateWindow time.Duration
	Log             *slog.Logger
	// Metrics receives cleanup_delete_events_total and
	// cleanup_delete_snapshots_total; nil exports none.
	Metrics prometheus.Registerer
	// SlowestWrite returns the longest store write (of anyone: the
	// entities' appends too) since it was last called
	// (journal.WriteWatch.TakeSlowest); nil times the cleanup's own
	// deletes only.
	SlowestWrite func() time.Duration
}

// State is the state retrieveHealth reports, Ditto's
// PersistenceCleanupActor.State.
type State string

// The states of a Cleaner.
const (
	StateQuiet   State = "IN_QUIET_PERIOD"
	StateRunning State = "RUNNING"
)

// Cleaner is the background cleanup of one entity type in one service
// instance (Ditto's PersistenceCleanupActor): after a quiet period it
// walks the entities in persistence-id order, from where the last pass
// stopped, and deletes for each entity of the shards this instance
// serves the events and snapshots that neither the history retention nor
// the current state needs; then it waits a quiet period again. For an
// entity whose newest snapshot older than the retention has SN n, that
// is every event and snapshot below n: the snapshot rebuilds the
// entity's state at n, from which every later state is rebuilt, and
// HighestSN still counts it. Deletes are paid with credits (see credits)
// and run beside the entity's one writer without coordination: it only
// appends above its latest snapshot. The piggyback commands of devops.go
// read and change it at run time.
type Cleaner struct {
	d                 Deps
	log               *slog.Logger
	events, snapshots prometheus.Counter // nil without metrics

	// now, sleep and jitter (Ditto's random stretch of quiet periods, in
	// [0, 1)) are replaced by tests.
	now    func() time.Time
	sleep  func(ctx context.Context, d time.Duration) error
	jitter func() float64

	// mu guards the fields below; the Run goroutine and the piggyback
	// handlers share them.
	mu       sync.Mutex
	settings Settings
	state    State
	// lastPID is where the next pass starts (exclusive): the pid of the
	// last entity a pass deleted from, "" after a complete pass, or what
	// a modifyConfig's last-pid set.
	lastPID string
	// gen counts the aborts: a pass updates lastPID only while gen is
	// what it was when it started.
	gen uint64
	// cancelPass aborts the running pass; nil in the quiet period.
	cancelPass context.CancelFunc
	// restart starts the quiet period over (Ditto's SHUTDOWN in the
	// quiet period); buffered 1, sent to under mu.
	restart chan struct{}
}

// New returns a Cleaner of d's entities with s; Run starts it.
func New(s Settings, d Deps) (*Cleaner, error) {
	if err := s.validate(); err != nil {
		return nil, fmt.Errorf("cleanup settings: %w", err)
	}
	if d.Journal == nil || d.Host == nil || d.Kind == "" || d.Shards < 1 {
		return nil, errors.New("cleanup: journal, host, kind and shards are required")
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	c := &Cleaner{d: d, log: d.Log.With("component", "persistence-cleanup"), settings: s, state: StateQuiet,
		now: time.Now, sleep: sleep, jitter: rand.Float64, restart: make(chan struct{}, 1)}
	if d.Metrics != nil {
		typ := prometheus.Labels{"type": d.Kind}
		c.events = prometheus.NewCounter(prometheus.CounterOpts{Name: "cleanup_delete_events_total", ConstLabels: typ,
			Help: "Events deleted by background cleanup (Ditto's cleanup_delete_events)."})
		c.snapshots = prometheus.NewCounter(prometheus.CounterOpts{Name: "cleanup_delete_snapshots_total", ConstLabels: typ,
			Help: "Snapshots deleted by background cleanup (Ditto's cleanup_delete_snapshots)."})
		if err := d.Metrics.Register(c.events); err != nil {
			return nil, fmt.Errorf("cleanup metrics: %w", err)
		}
		if err := d.Metrics.Register(c.snapshots); err != nil {
			return nil, fmt.Errorf("cleanup metrics: %w", err)
		}
	}
	return c, nil
}

// Run cleans until ctx ends: a quiet period (1 to 2 times the configured
// one, at random, as Ditto stretches it so that instances spread out),
// a pass, and again. When disabled it stays in the quiet period until
// enabled. It returns nil once the running pass has stopped.
func (c *Cleaner) Run(ctx context.Context) error {
	c.mu.Lock()
	quiet := c.stretch(c.settings.QuietPeriod)
	c.mu.Unlock()
	for {
		c.mu.Lock()
		enabled := c.settings.Enabled
		c.mu.Unlock()
		var expired <-chan time.Time
		stop := func() {}
		if enabled {
			t := time.NewTimer(quiet)
			expired, stop = t.C, func() { t.Stop() }
		}
		select {
		case <-ctx.Done():
			stop()
			return nil
		case <-c.restart:
			stop()
			c.mu.Lock()
			quiet = c.settings.QuietPeriod
			c.mu.Unlock()
			continue
		case <-expired:
		}

		c.mu.Lock()
		st, from, gen := c.settings, c.lastPID, c.gen
		passCtx, cancel := context.WithCancel(ctx)
		c.cancelPass, c.state = cancel, StateRunning
		select { // a restart of the quiet period that just ended
		case <-c.restart:
		default:
		}
		c.mu.Unlock()
		c.log.Info("quiet period expired, starting cleanup", "from", from)
		p := &pass{c: c, st: st, gen: gen, budget: newCredits(st, c.d.SlowestWrite, c.now, c.sleep)}
		err := p.run(passCtx, from)
		cancel()

		c.mu.Lock()
		c.cancelPass, c.state = nil, StateQuiet
		if err == nil && c.gen == gen {
			c.lastPID = ""
		}
		quiet = c.stretch(c.settings.QuietPeriod)
		enabled, last := c.settings.Enabled, c.lastPID
		c.mu.Unlock()
		if ctx.Err() != nil {
			return nil
		}
		attrs := []any{"entities", p.entities, "events_deleted", p.deletedEvents, "snapshots_deleted", p.deletedSnaps}
		switch {
		case err == nil:
			c.log.Info("cleanup pass complete", attrs...)
		case errors.Is(err, context.Canceled):
			c.log.Info("cleanup pass aborted on request", append(attrs, "last_pid", last)...)
		default:
			c.log.Warn("cleanup pass failed", append(attrs, "last_pid", last, "err", err)...)
		}
		if enabled {
			c.log.Info("next cleanup pass after the quiet period", "quiet_period", quiet.Round(time.Millisecond), "from", last)
		}
	}
}

// stretch is Ditto's randomizeQuietPeriod: d plus a random part of d.
func (c *Cleaner) stretch(d time.Duration) time.Duration {
	return d + time.Duration(float64(d)*c.jitter())
}

// shutdownLocked is Ditto's SHUTDOWN: it aborts the running pass (the
// next starts after a quiet period, from lastPID) or, in the quiet
// period, starts it over. It reports whether a pass was aborted. Caller
// holds mu.
func (c *Cleaner) shutdownLocked() bool {
	c.gen++
	if c.cancelPass != nil {
		c.cancelPass()
		c.cancelPass = nil
		return true
	}
	select {
	case c.restart <- struct{}{}:
	default:
	}
	return false
}

// pass is one walk over the entities.
type pass struct {
	c      *Cleaner
	st     Settings
	gen    uint64
	budget budget
	// The pass's counts, for its log line.
	entities, deletedEvents, deletedSnaps int64
}

// run walks the entities from after on, reads-per-query at a time,
// cleaning those of the shards this instance serves.
func (p *pass) run(ctx context.Context, after string) error {
	j := p.c.d.Journal
	prefix := p.c.d.Kind + ":"
	for {
		before := p.c.now().Add(-p.st.HistoryRetention)
		refs, err := j.NewestSnapshots(ctx, after, before, p.st.ReadsPerQuery)
		if err != nil {
			return err
		}
		for _, ref := range refs {
			after = ref.PID
			id, ok := strings.CutPrefix(ref.PID, prefix)
			if !ok {
				continue
			}
			published, serving := p.c.d.Host.Published(streams.Shard(id, p.c.d.Shards))
			if !serving {
				continue
			}
			if !ref.Timestamp.Before(published) {
				// Its events may still have to reach the stream from the
				// journal: the next pass sees it again.
				p.c.log.Debug("entity not cleaned: its latest events may not be published yet", "pid", ref.PID)
				continue
			}
			if err := p.entity(ctx, id, ref); err != nil {
				return err
			}
		}
		if len(refs) < p.st.ReadsPerQuery {
			return nil
		}
	}
}

// entity cleans one entity up to ref, its newest snapshot older than the
// retention.
func (p *pass) entity(ctx context.Context, id string, ref journal.SnapshotRef) error {
	cl := cleaning{c: p.c, budget: p.budget, writes: p.st.WritesPerCredit, progress: p.progress}
	if err := cl.belowSnapshot(ctx, ref); err != nil {
		return err
	}
	if p.st.DeleteFinalDeletedSnapshot && ref.Deleted && !ref.Timestamp.After(p.c.now().Add(-p.c.d.DuplicateWindow)) {
		if err := cl.finalSnapshot(ctx, id, ref); err != nil {
			return err
		}
	}
	if cl.events+cl.snaps > 0 {
		p.entities++
		p.deletedEvents += cl.events
		p.deletedSnaps += cl.snaps
	}
	return nil
}

// progress records that the pass deleted from pid: the next pass after
// an abort starts after it (Ditto's logCleanupResult).
func (p *pass) progress(pid string) {
	p.c.mu.Lock()
	if p.c.gen == p.gen {
		p.c.lastPID = pid
	}
	p.c.mu.Unlock()
}

// cleaning deletes from one entity.
type cleaning struct {
	c        *Cleaner
	budget   budget
	writes   int
	progress func(pid string) // nil: none
	// events and snaps count what was deleted.
	events, snaps int64
}

// belowSnapshot deletes the events and snapshots of ref's entity below
// ref.SN. The event at ref.SN stays, as Ditto leaves one event per
// snapshot; HighestSN is kept by the snapshot either way.
func (cl *cleaning) belowSnapshot(ctx context.Context, ref journal.SnapshotRef) error {
	j := cl.c.d.Journal
	lowEvent, lowSnap, err := j.LowestSN(ctx, ref.PID)
	if err != nil {
		return err
	}
	if lowEvent > 0 && lowEvent < ref.SN {
		// Events have no gaps: after n deletes of writes each, the
		// lowest left is lowEvent+n*writes.
		next := lowEvent
		more := func(deleted int64) (bool, error) {
			next += deleted
			return next < ref.SN, nil
		}
		if err := cl.deleteUpTo(ctx, j.DeleteEvents, more, ref.PID, ref.SN-1, &cl.events, cl.c.events); err != nil {
			return err
		}
	}
	if lowSnap > 0 && lowSnap < ref.SN {
		// Snapshots are sparse: read where they start again.
		more := func(int64) (bool, error) {
			_, low, err := j.LowestSN(ctx, ref.PID)
			return low > 0 && low < ref.SN, err
		}
		if err := cl.deleteUpTo(ctx, j.DeleteSnapshots, more, ref.PID, ref.SN-1, &cl.snaps, cl.c.snapshots); err != nil {
			return err
		}
	}
	return nil
}

// finalHold bounds the time a deleted entity's commands wait while its
// last event and snapshot are deleted.
const finalHold = 10 * time.Second

// finalSnapshot deletes what is left of a deleted entity, its last event
// and snapshot at ref.SN (CLEANUP_DELETE_FINAL_DELETED_SNAPSHOT), so that
// HighestSN is 0 and the entity, created again, starts at revision 1.
// Unlike the deletes below a snapshot this changes what a load of the
// entity finds, so it runs while the entity's commands are held back
// (Host.WithIdle), and only if nothing was appended after ref.SN. Both
// deletes are paid before the hold: commands wait for the deletes, not
// for credits. An entity busy with commands is left for the next pass.
func (cl *cleaning) finalSnapshot(ctx context.Context, id string, ref journal.SnapshotRef) error {
	for range 2 {
		if err := cl.budget.take(ctx); err != nil {
			return err
		}
	}
	j := cl.c.d.Journal
	var err error
	held := cl.c.d.Host.WithIdle(id, func() {
		hctx, cancel := context.WithTimeout(ctx, finalHold)
		defer cancel()
		var highest, lowEvent, lowSnap int64
		if highest, err = j.HighestSN(hctx, ref.PID); err != nil || highest != ref.SN {
			return // created again meanwhile, or a newer snapshot
		}
		if lowEvent, lowSnap, err = j.LowestSN(hctx, ref.PID); err != nil || lowSnap != ref.SN || lowEvent != 0 && lowEvent != ref.SN {
			return // history below it is left (retention): not final yet
		}
		for _, del := range []struct {
			fn      func(context.Context, string, int64, int) (int64, error)
			n       *int64
			counter prometheus.Counter
		}{{j.DeleteEvents, &cl.events, cl.c.events}, {j.DeleteSnapshots, &cl.snaps, cl.c.snapshots}} {
			var n int64
			start := cl.c.now()
			n, err = del.fn(hctx, ref.PID, ref.SN, math.MaxInt32)
			cl.budget.observe(cl.c.now().Sub(start))
			if err != nil {
				return
			}
			cl.count(ref.PID, n, del.n, del.counter)
		}
	})
	if !held {
		cl.c.log.Debug("final snapshot of a deleted entity not deleted: the entity is busy", "pid", ref.PID)
	}
	return err
}

// deleteUpTo deletes pid's documents up to toSN with del, writes per
// credit, until none is left: a delete of fewer than writes, or more,
// asked after a full one, says so (so that no credit pays for a delete
// that finds nothing).
func (cl *cleaning) deleteUpTo(ctx context.Context, del func(context.Context, string, int64, int) (int64, error),
	more func(deleted int64) (bool, error), pid string, toSN int64, total *int64, counter prometheus.Counter) error {
	for {
		if err := cl.budget.take(ctx); err != nil {
			return err
		}
		start := cl.c.now()
		n, err := del(ctx, pid, toSN, cl.writes)
		cl.budget.observe(cl.c.now().Sub(start))
		if err != nil {
			return err
		}
		cl.count(pid, n, total, counter)
		if n < int64(cl.writes) {
			return nil
		}
		if left, err := more(n); err != nil || !left {
			return err
		}
	}
}

func (cl *cleaning) count(pid string, n int64, total *int64, counter prometheus.Counter) {
	*total += n
	if counter != nil {
		counter.Add(float64(n))
	}
	if n > 0 && cl.progress != nil {
		cl.progress(pid)
	}
}

// CleanEntity cleans entity id at once, as an operator's
// cleanupPersistence asks (Ditto's AbstractPersistentActorWithTimersAndCleanup):
// it deletes the events and snapshots below the entity's latest snapshot
// whatever the retention, without waiting for credits, and never the
// latest snapshot. Any instance may run it: the shard's publication
// watermark (its owner's, or the one stored last) still guards the
// events that may not be in the stream yet, by cleaning up to the latest
// snapshot before it instead. It returns what it deleted.
func (c *Cleaner) CleanEntity(ctx context.Context, id string) (events, snapshots int64, err error) {
	pid := c.d.Kind + ":" + id
	snap, ok, err := c.d.Journal.LatestSnapshot(ctx, pid, math.MaxInt64)
	if err != nil || !ok {
		return 0, 0, err
	}
	published, err := c.d.Host.PublishedBefore(ctx, streams.Shard(id, c.d.Shards))
	if err != nil {
		return 0, 0, err
	}
	for !snap.Timestamp.Before(published) {
		if snap, ok, err = c.d.Journal.LatestSnapshot(ctx, pid, snap.SN-1); err != nil || !ok {
			return 0, 0, err
		}
	}
	c.mu.Lock()
	writes := c.settings.WritesPerCredit
	c.mu.Unlock()
	cl := cleaning{c: c, budget: free{}, writes: writes}
	err = cl.belowSnapshot(ctx, journal.SnapshotRef{PID: pid, SN: snap.SN, Timestamp: snap.Timestamp, Deleted: snap.Deleted})
	return cl.events, cl.snaps, err
}
