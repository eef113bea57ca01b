package journal

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/services/internal/telemetry"
)

// Store operations, the operation label of the store metrics.
const (
	OpInsert = "insert"
	OpUpdate = "update"
	OpRead   = "read"
	OpDelete = "delete"
)

// Instrument returns j recording its operations on reg as
// store_operations_total, store_operation_errors_total and
// store_operation_seconds, by collection (JournalTable(name),
// SnapshotTable(name)) and operation; j itself when reg is nil.
func Instrument(j Journal, name string, reg prometheus.Registerer) Journal {
	if reg == nil {
		return j
	}
	count := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "store_operations_total",
		Help: "Operations on the journal store by collection and operation (insert, update, read, delete).",
	}, []string{"collection", "operation"})
	errs := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "store_operation_errors_total",
		Help: "Store operations that failed, by collection and operation.",
	}, []string{"collection", "operation"})
	took := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "store_operation_seconds",
		Help:    "Latency of store operations by collection and operation.",
		Buckets: telemetry.LatencyBuckets,
	}, []string{"collection", "operation"})
	// The same metrics for every journal of the process: the second one
	// finds them registered.
	count = registerOr(reg, count)
	errs = registerOr(reg, errs)
	took = registerOr(reg, took)
	op := func(collection, operation string) opMetrics {
		return opMetrics{count: count.WithLabelValues(collection, operation), errs: errs.WithLabelValues(collection, operation),
			took: took.WithLabelValues(collection, operation)}
	}
	events, snaps := JournalTable(name), SnapshotTable(name)
	return &instrumented{j: j,
		append: op(events, OpInsert), events: op(events, OpRead), since: op(events, OpRead), pids: op(events, OpRead),
		highest: op(events, OpRead), save: op(snaps, OpInsert), latest: op(snaps, OpRead), purge: op(events, OpDelete),
		newest: op(snaps, OpRead), lowest: op(events, OpRead), deleteEvents: op(events, OpDelete), deleteSnaps: op(snaps, OpDelete)}
}

// registerOr registers c on reg, or returns the equal collector
// registered before.
func registerOr[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := err.(prometheus.AlreadyRegisteredError); ok {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a programming error: differing metric definitions
	}
	return c
}

type opMetrics struct {
	count, errs prometheus.Counter
	took        prometheus.Observer
}

func (m opMetrics) done(start time.Time, err error) {
	m.count.Inc()
	if err != nil {
		m.errs.Inc()
	}
	m.took.Observe(time.Since(start).Seconds())
}

type instrumented struct {
	j                                                         Journal
	append, events, since, pids, highest, save, latest, purge opMetrics
	// Background cleanup's reads and deletes.
	newest, lowest, deleteEvents, deleteSnaps opMetrics
}

func (i *instrumented) Append(ctx context.Context, e Event) error {
	start := time.Now()
	err := i.j.Append(ctx, e)
	i.append.done(start, err)
	return err
}

func (i *instrumented) Events(ctx context.Context, pid string, fromSN, toSN int64) ([]Event, error) {
	start := time.Now()
	ev, err := i.j.Events(ctx, pid, fromSN, toSN)
	i.events.done(start, err)
	return ev, err
}

func (i *instrumented) EventsSince(ctx context.Context, since time.Time, fn func(EventRef) error) error {
	start := time.Now()
	err := i.j.EventsSince(ctx, since, fn)
	i.since.done(start, err)
	return err
}

func (i *instrumented) PIDs(ctx context.Context, after string, limit int) ([]string, error) {
	start := time.Now()
	pids, err := i.j.PIDs(ctx, after, limit)
	i.pids.done(start, err)
	return pids, err
}

func (i *instrumented) HighestSN(ctx context.Context, pid string) (int64, error) {
	start := time.Now()
	sn, err := i.j.HighestSN(ctx, pid)
	i.highest.done(start, err)
	return sn, err
}

// SNAt is counted as a read of the events.
func (i *instrumented) SNAt(ctx context.Context, pid string, at time.Time) (int64, error) {
	start := time.Now()
	sn, err := i.j.SNAt(ctx, pid, at)
	i.events.done(start, err)
	return sn, err
}

func (i *instrumented) SaveSnapshot(ctx context.Context, s Snapshot) error {
	start := time.Now()
	err := i.j.SaveSnapshot(ctx, s)
	i.save.done(start, err)
	return err
}

func (i *instrumented) LatestSnapshot(ctx context.Context, pid string, maxSN int64) (Snapshot, bool, error) {
	start := time.Now()
	s, ok, err := i.j.LatestSnapshot(ctx, pid, maxSN)
	i.latest.done(start, err)
	return s, ok, err
}

func (i *instrumented) PurgeNamespace(ctx context.Context, kind, namespace string) error {
	start := time.Now()
	err := i.j.PurgeNamespace(ctx, kind, namespace)
	i.purge.done(start, err)
	return err
}

func (i *instrumented) NewestSnapshots(ctx context.Context, after string, before time.Time, limit int) ([]SnapshotRef, error) {
	start := time.Now()
	refs, err := i.j.NewestSnapshots(ctx, after, before, limit)
	i.newest.done(start, err)
	return refs, err
}

func (i *instrumented) LowestSN(ctx context.Context, pid string) (event, snapshot int64, err error) {
	start := time.Now()
	event, snapshot, err = i.j.LowestSN(ctx, pid)
	i.lowest.done(start, err)
	return event, snapshot, err
}

func (i *instrumented) DeleteEvents(ctx context.Context, pid string, toSN int64, limit int) (int64, error) {
	start := time.Now()
	n, err := i.j.DeleteEvents(ctx, pid, toSN, limit)
	i.deleteEvents.done(start, err)
	return n, err
}

func (i *instrumented) DeleteSnapshots(ctx context.Context, pid string, toSN int64, limit int) (int64, error) {
	start := time.Now()
	n, err := i.j.DeleteSnapshots(ctx, pid, toSN, limit)
	i.deleteSnaps.done(start, err)
	return n, err
}
