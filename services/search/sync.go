package search

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

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
}

// syncStats is what background sync did, for logs and DevOps.
type syncStats struct {
	passes, checked, added, updated, removed atomic.Int64
	running                                  atomic.Bool
	lastStart, lastEnd                       atomic.Int64 // unix ms
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
	after := ""
	var tick <-chan time.Time
	if opt.perPeriod > 0 {
		t := time.NewTicker(opt.period)
		defer t.Stop()
		tick = t.C
	}
	for {
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
		// The index's entries in the same range: those the things service
		// did not list are orphans.
		entries, err := s.indexRange(ctx, after, upTo)
		if err != nil {
			return err
		}
		if err := s.check(ctx, ids, entries, opt); err != nil {
			return err
		}
		s.stats.checked.Add(int64(len(ids)))
		if last {
			break
		}
		after = upTo
		if tick != nil {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-tick:
			}
		}
	}
	s.stats.passes.Add(1)
	s.stats.lastEnd.Store(time.Now().UnixMilli())
	return nil
}

// indexRange returns the index's entries with after < id <= upTo ("" for
// no upper bound), revisions only.
func (s *Service) indexRange(ctx context.Context, after, upTo string) (map[string]index.Entry, error) {
	out := map[string]index.Entry{}
	for {
		page, err := s.ix.Walk(ctx, after, listPage)
		if err != nil {
			return nil, err
		}
		for _, e := range page {
			if upTo != "" && e.ThingID > upTo {
				return out, nil
			}
			out[e.ThingID] = e
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
			case e.Revision >= t.revision:
				return
			case opt.tolerance > 0 && time.Since(modifiedOf(t)) < opt.tolerance:
				return // its events are probably on their way
			default:
				s.stats.updated.Add(1)
			}
			// Its policy is loaded here, beside the other fetches, not
			// in the apply loop.
			_, _ = s.policies.get(ctx, policyOf(t.doc))
			submit(repair{id: id, thing: t, seenRev: e.Revision})
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

// backgroundSync runs reconciliation passes one after the other, throttled
// as configured, from the quiet period after start until ctx ends.
func (s *Service) backgroundSync(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(s.cfg.SyncQuietPeriod):
	case <-s.syncNow:
	}
	for {
		err := s.reconcile(ctx, reconcileOptions{perPeriod: s.cfg.SyncThroughput, period: s.cfg.throttlePeriod(), tolerance: s.cfg.SyncTolerance})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			s.log.Warn("background sync pass failed", "err", err)
		} else {
			s.log.Info("background sync pass done", "checked", s.stats.checked.Load(), "added", s.stats.added.Load(),
				"updated", s.stats.updated.Load(), "removed", s.stats.removed.Load())
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.cfg.throttlePeriod()):
		case <-s.syncNow:
		}
	}
}
