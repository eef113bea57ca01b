package cleanup

import (
	"context"
	"time"
)

// budget pays for deletes: take blocks until one may run, observe hears
// how long it took.
type budget interface {
	take(ctx context.Context) error
	observe(took time.Duration)
}

// credits is Ditto's Credits with its Transistor: at each tick, every
// interval from the pass's start, it grants perBatch credits if no delete
// since the last grant took threshold or longer, none otherwise; one
// credit pays for one delete of at most writes-per-credit documents.
// Credits are granted only when the last ones are spent, at the next tick
// from then: ticks nobody waits for are dropped (Pekko's Source.tick), so
// unspent time does not pile up credits. A pass's goroutine alone uses
// it.
//
// Ditto names the database's write latency as the measure but never
// feeds the timer (its Credits' LongAccumulator stays 0, so it always
// grants); here the store's writes are timed: the slowest of every write
// to the journal since the last tick (writes, the entities' appends and
// snapshots among them) and of the cleanup's own deletes, so cleanup holds
// back while the store is slow for anyone.
type credits struct {
	perBatch            int
	interval, threshold time.Duration
	writes              func() time.Duration // nil: the deletes alone
	now                 func() time.Time
	sleep               func(ctx context.Context, d time.Duration) error

	left int
	// next is the time of the next tick; zero before the first, which
	// is at once.
	next time.Time
	// slowest is the longest delete since the last grant.
	slowest time.Duration
}

func newCredits(s Settings, writes func() time.Duration, now func() time.Time, sleep func(context.Context, time.Duration) error) *credits {
	if writes != nil {
		writes() // what was slow before the pass does not hold it back
	}
	return &credits{perBatch: s.CreditsPerBatch, interval: s.Interval, threshold: s.TimerThreshold, writes: writes, now: now, sleep: sleep}
}

// take spends one credit, waiting for ticks until one is granted (for
// ever when none is: a threshold of 0 or 0 credits per batch), or until
// ctx ends.
func (c *credits) take(ctx context.Context) error {
	for c.left <= 0 {
		now := c.now()
		if c.next.IsZero() {
			c.next = now
		}
		for c.next.Before(now) {
			c.next = c.next.Add(c.interval)
		}
		if d := c.next.Sub(now); d > 0 {
			if err := c.sleep(ctx, d); err != nil {
				return err
			}
		}
		c.next = c.next.Add(c.interval)
		if c.writes != nil {
			c.slowest = max(c.slowest, c.writes())
		}
		if c.slowest < c.threshold {
			c.left = c.perBatch
		}
		c.slowest = 0
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.left--
	return nil
}

func (c *credits) observe(took time.Duration) { c.slowest = max(c.slowest, took) }

// free is the budget of a cleanup an operator asked for: not throttled.
type free struct{}

func (free) take(ctx context.Context) error { return ctx.Err() }
func (free) observe(time.Duration)          {}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
