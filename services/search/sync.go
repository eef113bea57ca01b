package search

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/search/index"
)

// listPage is how many thing ids a reconciliation asks the things service
// for at once.
const listPage = 500

// reconcileOptions shape one pass over all things.
type reconcileOptions struct {
	// perPeriod things are checked per period; 0 for no throttle.
	perPeriod int
	period    time.Duration
	// tolerance: a thing changed more recently than this is not repaired
	// when the index is behind it (its events are still on their way).
	tolerance time.Duration
	// force rewrites the entry of every thing the pass covers from the
	// thing's current state and its policy's, also where the index is
	// not behind (DevOps force-update).
	force bool
	// namespaces restricts the pass to the things of these namespaces
	// (and the index entries in them); nil covers everything.
	namespaces []string
	// progress, when set, is told after each page how far the pass got.
	progress func(checked int64, lastID string)
	// fresh is set by reconcile for a forced pass.
	fresh *freshPolicies
}

// syncStats is what background sync did, for logs and DevOps.
type syncStats struct {
	passes, checked, added, updated, removed atomic.Int64
	// rewritten counts entries a forced pass rewrote although they were
	// not behind.
	rewritten atomic.Int64
	running   atomic.Bool
	// lastStart and lastEnd are unix ms of the last pass's start and of
	// the last pass that completed.
	lastStart, lastEnd atomic.Int64
	// progressPersisted and progressIndexed are the last thing id the
	// running pass got from the things service and from the index (Ditto's
	// names); "" between passes.
	progressPersisted, progressIndexed atomic.Pointer[string]
}

// counts returns the counters, for a pass's log line.
func (st *syncStats) counts() [5]int64 {
	return [5]int64{st.checked.Load(), st.added.Load(), st.updated.Load(), st.removed.Load(), st.rewritten.Load()}
}

// span is a range of thing ids: after < id < before ("" for no bound).
type span struct{ after, before string }

// namespaceSpans returns the id ranges of the namespaces' things, in id
// order: a namespace's ids are "<ns>:<name>", and ';' follows ':'.
func namespaceSpans(namespaces []string) []span {
	ns := slices.Clone(namespaces)
	slices.Sort(ns)
	ns = slices.Compact(ns)
	out := make([]span, 0, len(ns))
	for _, n := range ns {
		out = append(out, span{after: n + ":", before: n + ";"})
	}
	return out
}

// reconcile walks every thing the things service has and every index entry,
// in id order, and repairs the index where they differ: a thing missing
// from the index is added, an entry behind its thing is rewritten, an entry
// whose thing is gone is removed. The apply loop does the writes, so a
// repair never overwrites a newer state the events brought meanwhile.
func (s *Service) reconcile(ctx context.Context, opt reconcileOptions) error {
	s.stats.running.Store(true)
	defer s.stats.running.Store(false)
	s.stats.lastStart.Store(time.Now().UnixMilli())
	empty := ""
	defer s.stats.progressPersisted.Store(&empty)
	defer s.stats.progressIndexed.Store(&empty)
	spans := []span{{}}
	if opt.namespaces != nil {
		spans = namespaceSpans(opt.namespaces)
	}
	if opt.force {
		opt.fresh = &freshPolicies{seen: map[string]bool{}}
	}
	var tick <-chan time.Time
	if opt.perPeriod > 0 {
		t := time.NewTicker(opt.period)
		defer t.Stop()
		tick = t.C
	}
	var checked int64
	first := true
	// pace waits for the throttle between pages.
	pace := func() error {
		if first || tick == nil {
			first = false
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick:
			return nil
		}
	}
	for _, sp := range spans {
		after := sp.after
		for {
			if err := pace(); err != nil {
				return err
			}
			limit := listPage
			if opt.perPeriod > 0 {
				limit = min(limit, opt.perPeriod)
			}
			ids, err := s.src.listThings(ctx, after, limit)
			if err != nil {
				return err
			}
			last := len(ids) < limit
			upTo := ""
			if !last {
				upTo = ids[len(ids)-1]
			}
			if sp.before != "" {
				if n, _ := slices.BinarySearch(ids, sp.before); n < len(ids) {
					ids, last, upTo = ids[:n], true, ""
				}
			}
			// The index's entries in the same range: those the things
			// service did not list are orphans.
			entries, err := s.indexRange(ctx, after, upTo, sp.before)
			if err != nil {
				return err
			}
			if err := s.check(ctx, ids, entries, opt); err != nil {
				return err
			}
			s.stats.checked.Add(int64(len(ids)))
			checked += int64(len(ids))
			if len(ids) > 0 {
				s.stats.progressPersisted.Store(&ids[len(ids)-1])
				if opt.progress != nil {
					opt.progress(checked, ids[len(ids)-1])
				}
			}
			if last {
				break
			}
			after = upTo
		}
	}
	s.stats.passes.Add(1)
	s.stats.lastEnd.Store(time.Now().UnixMilli())
	return nil
}

// freshPolicies makes a forced pass load each policy it meets once anew.
type freshPolicies struct {
	mu   sync.Mutex
	seen map[string]bool
}

// refresh forgets the cached policy the first time the pass meets it; a
// thing checked meanwhile waits, so it is not written with the old one.
func (f *freshPolicies) refresh(c *policyCache, id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.seen[id] {
		f.seen[id] = true
		c.invalidate(id)
	}
}

// indexRange returns the index's entries with after < id, id <= upTo
// ("" for no such bound) and id < before ("" for none), revisions only.
func (s *Service) indexRange(ctx context.Context, after, upTo, before string) (map[string]index.Entry, error) {
	out := map[string]index.Entry{}
	for {
		page, err := s.ix.Walk(ctx, after, listPage)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if upTo != "" && e.ThingID > upTo || before != "" && e.ThingID >= before {
				return out, nil
			}
			out[e.ThingID] = e
			s.stats.progressIndexed.Store(&e.ThingID)
		}
		if len(page) < listPage {
			return out, nil
		}
		after = page[len(page)-1].ThingID
	}
}

// check loads the listed things (a few at once) and hands the apply loop
// what needs repair; it returns once those repairs are written.
func (s *Service) check(ctx context.Context, ids []string, entries map[string]index.Entry, opt reconcileOptions) error {
	var (
		wg      sync.WaitGroup
		sem     = make(chan struct{}, s.cfg.Fetches)
		mu      sync.Mutex
		firstEr error
		pending []chan struct{}
	)
	submit := func(r repair) {
		r.done = make(chan struct{})
		mu.Lock()
		pending = append(pending, r.done)
		mu.Unlock()
		select {
		case s.repairs <- r:
		case <-ctx.Done():
			close(r.done)
		}
	}
	for _, id := range ids {
		e, indexed := entries[id]
		delete(entries, id)
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			t, err := s.src.retrieveThing(ctx, id)
			switch {
			case errors.Is(err, errGone):
				if indexed {
					s.stats.removed.Add(1)
					submit(repair{id: id, seenRev: e.Revision})
				}
				return
			case blocked(err):
				return // its namespace is being erased: nothing to repair
			case err != nil:
				mu.Lock()
				if firstEr == nil {
					firstEr = err
				}
				mu.Unlock()
				return
			}
			switch {
			case !indexed:
				s.stats.added.Add(1)
			case opt.force && e.Revision <= t.revision:
				if e.Revision == t.revision {
					s.stats.rewritten.Add(1)
				} else {
					s.stats.updated.Add(1)
				}
			case e.Revision >= t.revision:
				return
			case opt.tolerance > 0 && time.Since(modifiedOf(t)) < opt.tolerance:
				return // its events are probably on their way
			default:
				s.stats.updated.Add(1)
			}
			// Its policy is loaded here, beside the other fetches, not
			// in the apply loop.
			if opt.fresh != nil {
				opt.fresh.refresh(s.policies, policyOf(t.doc))
			}
			_, _ = s.policies.get(ctx, policyOf(t.doc))
			submit(repair{id: id, thing: t, seenRev: e.Revision, force: opt.force})
		}()
	}
	wg.Wait()
	for id, e := range entries {
		s.stats.removed.Add(1)
		submit(repair{id: id, seenRev: e.Revision})
	}
	for _, done := range pending {
		select {
		case <-done:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return firstEr
}

func modifiedOf(t thing) time.Time {
	v, _ := t.doc.Get("_modified")
	s, _ := v.Str()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}
	}
	return ts
}

// syncSettings are the background sync settings DevOps commands change at
// run time (Ditto's background-sync config); a pass reads them when it
// starts.
type syncSettings struct {
	Enabled     bool
	QuietPeriod time.Duration
	Tolerance   time.Duration
	KeepEvents  int
	Throughput  int
	Period      time.Duration
}

// syncEvent is an entry of background sync's event log, which its DevOps
// health report shows (Ditto's background streaming events).
type syncEvent struct {
	at    time.Time
	name  string
	level devops.Level
	// ended marks the end of a pass (Ditto's StreamTerminated).
	ended bool
}

// forceSpec is a forced pass: every entry of these namespaces (nil: all)
// is rewritten from its thing.
type forceSpec struct{ namespaces []string }

// syncControl is the state background sync shares with DevOps commands.
type syncControl struct {
	mu       sync.Mutex
	settings syncSettings
	events   []syncEvent // newest first, at most settings.KeepEvents
	// next is what the next pass forces; nil for a normal pass.
	next *forceSpec
	// passing is set while a pass runs: cancel aborts it, forced is
	// what it forces.
	passing bool
	forced  *forceSpec
	cancel  context.CancelFunc
	// wakeAt is when the next pass starts; zero when none is scheduled.
	wakeAt time.Time
	// restart makes background sync wait the quiet period from now (a
	// restart, or background sync enabled again).
	restart chan struct{}
}

func newSyncControl(st syncSettings) *syncControl {
	return &syncControl{settings: st, restart: make(chan struct{}, 1)}
}

// record adds an event to the log, dropping the oldest beyond the
// configured number. c.mu must be held.
func (c *syncControl) recordLocked(e syncEvent) {
	e.at = time.Now()
	c.events = slices.Insert(c.events, 0, e)
	if n := max(c.settings.KeepEvents, 0); len(c.events) > n {
		c.events = c.events[:n]
	}
}

func (c *syncControl) record(e syncEvent) {
	c.mu.Lock()
	c.recordLocked(e)
	c.mu.Unlock()
}

// signalRestart asks background sync to wait the quiet period from now.
func (c *syncControl) signalRestart() {
	select {
	case c.restart <- struct{}{}:
	default:
	}
}

// current returns the settings.
func (c *syncControl) current() syncSettings {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.settings
}

// sleepFor is how long background sync sleeps before its next pass: the
// quiet period, or forever (-1) while disabled.
func (c *syncControl) sleepFor() time.Duration {
	st := c.current()
	if !st.Enabled {
		return -1
	}
	return st.QuietPeriod
}

// begin starts a pass that cancel aborts: it returns the settings and what
// the pass forces, consuming the pending force; false when background sync
// is disabled.
func (c *syncControl) begin(cancel context.CancelFunc) (syncSettings, *forceSpec, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wakeAt = time.Time{}
	if !c.settings.Enabled {
		c.recordLocked(syncEvent{name: "Not waking up: I am disabled.", level: devops.LevelInfo})
		return c.settings, nil, false
	}
	c.recordLocked(syncEvent{name: "WOKE_UP", level: devops.LevelInfo})
	f := c.next
	c.next = nil
	c.passing, c.forced, c.cancel = true, f, cancel
	return c.settings, f, true
}

// end records the end of the pass begin started; a pass aborted by a
// DevOps command has its event already.
func (c *syncControl) end(err error, aborted bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.passing, c.forced, c.cancel = false, nil, nil
	switch {
	case aborted:
	case err != nil:
		c.recordLocked(syncEvent{name: "Stream terminated. Result=<null> Error=<" + err.Error() + ">", level: devops.LevelWarn, ended: true})
	default:
		c.recordLocked(syncEvent{name: "Stream terminated. Result=<Done> Error=<null>", level: devops.LevelInfo, ended: true})
	}
}

// abortLocked aborts the running pass, if any. c.mu must be held.
func (c *syncControl) abortLocked() bool {
	if c.cancel == nil {
		return false
	}
	c.cancel()
	c.cancel = nil
	return true
}

// backgroundSync runs reconciliation passes, throttled as configured: the
// first a quiet period after start, each next one a quiet period after the
// previous ended, as Ditto's background sync does. DevOps commands change
// its settings, restart it and force passes (see BackgroundSyncHandler);
// TriggerSync starts a pass at once.
func (s *Service) backgroundSync(ctx context.Context) {
	c := s.ctl
	wait := c.sleepFor()
	for {
		var timer *time.Timer
		var fire <-chan time.Time
		c.mu.Lock()
		c.wakeAt = time.Time{}
		if wait >= 0 {
			timer = time.NewTimer(wait)
			fire = timer.C
			c.wakeAt = time.Now().Add(wait)
		}
		c.mu.Unlock()
		restart := false
		select {
		case <-ctx.Done():
		case <-fire:
		case <-s.syncNow:
		case <-c.restart:
			restart = true
		}
		if timer != nil {
			timer.Stop()
		}
		if ctx.Err() != nil {
			return
		}
		if restart {
			wait = c.sleepFor()
			continue
		}
		passCtx, cancel := context.WithCancel(ctx)
		st, force, ok := c.begin(cancel)
		if !ok {
			cancel()
			s.log.Warn("background sync not waking up: it is disabled")
			wait = -1
			continue
		}
		err := s.syncPass(passCtx, st, force)
		aborted := passCtx.Err() != nil
		cancel()
		if ctx.Err() != nil {
			return
		}
		c.end(err, aborted)
		wait = c.sleepFor()
		if wait >= 0 {
			s.log.Info("background sync will restart after its quiet period", "quiet_period", wait)
		}
	}
}

// syncPass runs one background sync pass and logs it.
func (s *Service) syncPass(ctx context.Context, st syncSettings, force *forceSpec) error {
	opt := reconcileOptions{perPeriod: st.Throughput, period: st.Period, tolerance: st.Tolerance}
	scope := "all namespaces"
	level := slog.LevelDebug
	if force != nil {
		opt.force, opt.namespaces = true, force.namespaces
		if force.namespaces != nil {
			scope = "namespace(s): " + strings.Join(force.namespaces, ", ")
		}
		// A forced pass is what an operator follows in the logs.
		level = slog.LevelInfo
	}
	last := time.Now()
	opt.progress = func(checked int64, lastID string) {
		if time.Since(last) >= 10*time.Second {
			last = time.Now()
			s.log.Log(ctx, level, "background sync progress", "forced", force != nil, "checked", checked, "last_thing_id", lastID)
		}
	}
	before := s.stats.counts()
	started := time.Now()
	if force != nil {
		s.log.Info("background sync pass started, forcing an update of the things of "+scope, "throughput", st.Throughput, "period", st.Period)
	} else {
		s.log.Debug("background sync pass started", "throughput", st.Throughput, "period", st.Period)
	}
	err := s.reconcile(ctx, opt)
	after := s.stats.counts()
	attrs := []any{"forced", force != nil, "checked", after[0] - before[0], "added", after[1] - before[1],
		"updated", after[2] - before[2], "removed", after[3] - before[3], "rewritten", after[4] - before[4],
		"took", time.Since(started).Round(time.Millisecond)}
	switch {
	case ctx.Err() != nil:
		s.log.Info("background sync pass aborted", attrs...)
	case err != nil:
		s.log.Warn("background sync pass failed", append(attrs, "err", err)...)
	default:
		s.log.Info("background sync pass done", attrs...)
	}
	return err
}
