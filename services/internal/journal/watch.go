package journal

import (
	"context"
	"errors"
	"sync/atomic"
	"time"
)

// WriteWatch is a Journal that remembers its slowest write (an append, a
// snapshot, a cleanup delete) since it was last asked: the store's write
// latency, by which background cleanup holds back its credits while the
// store is slow (Ditto's cleanup timer-threshold).
type WriteWatch struct {
	Journal
	slowest atomic.Int64 // nanoseconds
}

// WatchWrites returns j watched.
func WatchWrites(j Journal) *WriteWatch { return &WriteWatch{Journal: j} }

// TakeSlowest returns the longest write since the last call (0 if none)
// and starts over.
func (w *WriteWatch) TakeSlowest() time.Duration { return time.Duration(w.slowest.Swap(0)) }

// note records a write that began at start; one its caller gave up on
// (ctx ended while it waited for its batch) says nothing about the store.
func (w *WriteWatch) note(start time.Time, err error) {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return
	}
	took := int64(time.Since(start))
	for {
		cur := w.slowest.Load()
		if took <= cur || w.slowest.CompareAndSwap(cur, took) {
			return
		}
	}
}

func (w *WriteWatch) Append(ctx context.Context, e Event) error {
	start := time.Now()
	err := w.Journal.Append(ctx, e)
	w.note(start, err)
	return err
}

func (w *WriteWatch) SaveSnapshot(ctx context.Context, s Snapshot) error {
	start := time.Now()
	err := w.Journal.SaveSnapshot(ctx, s)
	w.note(start, err)
	return err
}

func (w *WriteWatch) DeleteEvents(ctx context.Context, pid string, toSN int64, limit int) (int64, error) {
	start := time.Now()
	n, err := w.Journal.DeleteEvents(ctx, pid, toSN, limit)
	w.note(start, err)
	return n, err
}

func (w *WriteWatch) DeleteSnapshots(ctx context.Context, pid string, toSN int64, limit int) (int64, error) {
	start := time.Now()
	n, err := w.Journal.DeleteSnapshots(ctx, pid, toSN, limit)
	w.note(start, err)
	return n, err
}
