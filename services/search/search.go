// Package search is the things-search service: it keeps its own full
// search index of every thing (package index, SQLite) and answers search
// queries from it.
//
// A projector follows the thing and policy event streams through the
// index's own durable consumers and applies each thing's events in revision
// order, idempotently by (thing, revision): an event the index already
// has is skipped; one that does not follow the indexed revision (a gap)
// makes it load the thing from the things service. A policy event re-indexes
// the things the policy governs, with who may read what under the new
// policy. Events are acknowledged only once the index transaction that
// applied them has committed.
//
// A new index, or one that was away longer than the streams keep events,
// is filled by walking every thing the things service has (page by page, a
// few loads at a time); background sync walks the same way, slowly, and
// repairs what differs. Every instance has its own index, so instances
// serve queries independently; each must keep up with the whole write rate.
//
// From its filled index an instance also computes the operator's custom
// metrics and custom aggregation metrics (ditto.search.operator-metrics,
// opmetrics.go) and exports them as Prometheus gauges; its own metrics
// (metrics.go) time queries and the index's lag behind the events.
package search

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/services/search/index"
	"github.com/dittonats/dittonats/streams"
)

// Deps are what the service runs on.
type Deps struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Names    streams.Names
	Shards   int
	Instance string
	// EventsMaxAge is how long the streams keep events: a consumer idle
	// for longer is useless, so JetStream may remove it then.
	EventsMaxAge time.Duration
	Log          *slog.Logger
	// Metrics takes the service's own metrics (search_query_seconds,
	// search_index_lag_seconds, ...); OperatorMetrics the gauges of the
	// operator's custom metrics and custom aggregation metrics, with the
	// labels their tags give and no other. nil exports none (operator
	// metrics are then not computed either).
	Metrics         prometheus.Registerer
	OperatorMetrics prometheus.Registerer
	// Tracer traces the queries the instance answers (continuing the
	// gateway's trace); nil traces nothing.
	Tracer *tracing.Tracer
}

// Service is one things-search instance.
type Service struct {
	cfg      Config
	nc       *nats.Conn
	js       jetstream.JetStream
	names    streams.Names
	instance string
	log      *slog.Logger

	ix       *index.Index
	indexID  string
	src      *sources
	policies *policyCache
	waiters  waiters

	events  chan event
	repairs chan repair
	syncNow chan struct{}
	// expiries is owned by the apply loop.
	expiries map[string]time.Time

	consumerInactivity time.Duration

	stats  syncStats
	filled atomic.Bool
	// ctl is background sync's state that DevOps commands change.
	ctl *syncControl
	// updates are the thing ids sudoUpdateThing asked to update.
	updates chan string
	// erasure is namespace erasure's state (namespaces.go).
	erasure *erasure

	metrics *metrics
	tracer  *tracing.Tracer
	// ops are the operator metrics to compute (opmetrics.go); nil: none.
	ops *opCollector
}

// metaIndexID names the index's random id in its meta table.
const metaIndexID = "index.id"

// New opens (or creates) the index and wires the service; Run starts it.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Log == nil {
		d.Log = slog.Default()
	}
	fields, _ := parseIndexedFields(cfg.IndexedFields) // validated
	ops, _ := cfg.operatorMetrics()                    // validated
	path := cfg.IndexPath
	if path == "" {
		path = filepath.Join(cfg.DataDir, "things-search.db")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("search index directory: %w", err)
	}
	opt := index.Options{ReadConns: cfg.IndexReaders}
	if fields != nil {
		opt.IndexedFields = fields.forNamespace
	}
	ix, err := index.Open(path, opt)
	if err != nil {
		return nil, fmt.Errorf("open search index %s: %w", path, err)
	}
	id, err := indexID(ix)
	if err != nil {
		ix.Close()
		return nil, err
	}
	src := &sources{nc: d.NC, names: d.Names, cmd: command.New(d.NC, d.Names, d.Shards)}
	s := &Service{
		cfg: cfg, nc: d.NC, js: d.JS, names: d.Names, instance: d.Instance, log: d.Log,
		ix: ix, indexID: id, src: src,
		events: make(chan event, 2*maxBatch), repairs: make(chan repair, 2*maxBatch),
		syncNow: make(chan struct{}, 1), expiries: map[string]time.Time{},
		consumerInactivity: max(d.EventsMaxAge, time.Hour),
		ctl:                newSyncControl(cfg.syncSettings()),
		updates:            make(chan string, maxPendingUpdates),
		erasure:            newErasure(),
	}
	s.waiters.added = make(chan struct{}, 1)
	s.policies = newPolicyCache(src.retrievePolicy, cfg.PolicyCacheTTL, cfg.PolicyCacheEntries)
	s.policies.roots = cfg.NamespaceRoots
	s.metrics = newMetrics(ix.StaleViews)
	s.tracer = d.Tracer
	if len(ops) > 0 && d.OperatorMetrics != nil {
		s.ops = newOpCollector(ops)
		for _, m := range ops {
			m.failures = s.metrics.scrapeFailures.WithLabelValues(m.name)
		}
	}
	if err := s.registerMetrics(d); err != nil {
		ix.Close()
		return nil, err
	}
	return s, nil
}

// indexID returns the index's id, giving a new index one.
func indexID(ix *index.Index) (string, error) {
	ctx := context.Background()
	if v, ok, err := ix.Meta(ctx, metaIndexID); err != nil {
		return "", err
	} else if ok {
		return v, nil
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	if err := ix.Write(ctx, index.Batch{Meta: map[string]string{metaIndexID: id}}); err != nil {
		return "", err
	}
	return id, nil
}

// Run serves queries and keeps the index current until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	defer s.ix.Close()
	loopCtx, stopLoop := context.WithCancel(context.WithoutCancel(ctx))
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		s.applyLoop(loopCtx)
	}()
	defer func() {
		stopLoop()
		<-loopDone
	}()
	// Deferred after the apply loop's stop, so it runs before: these
	// hand the apply loop their writes.
	var workers sync.WaitGroup
	defer workers.Wait()
	wctx, stopWorkers := context.WithCancel(ctx)
	defer stopWorkers()
	workers.Go(func() { s.runUpdates(wctx) })
	lost := false
	if s.cfg.EventProcessing {
		l, stopFollow, err := s.follow(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		defer stopFollow()
		lost = l
	} else {
		// No consumers: the streams keep the events for the durable
		// consumers, which resume where they were when it is turned on.
		s.log.Warn("event processing is disabled (EVENT_PROCESSING_ACTIVE=false): the index follows no events")
	}
	if lost {
		// Queries are answered only from a filled index: a partly filled
		// one would answer with some of the matches, and with other
		// instances in the queue group an answer would depend on which
		// instance took the request. Until then the instance is not in
		// the group (alone, queries get 503 "unavailable").
		s.log.Info("filling the search index from the things service", "index", s.indexID)
		if !s.fill(ctx) {
			return nil
		}
	}
	sub, err := s.serveQueries(ctx)
	if err != nil {
		return err
	}
	defer sub.Drain()
	// Ready once the server has the subscription: a query sent after
	// Ready is answered.
	fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	err = s.nc.FlushWithContext(fctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	s.filled.Store(true)
	// Background sync runs also while disabled: a DevOps command may
	// enable it.
	workers.Go(func() { s.backgroundSync(wctx) })
	if s.ops != nil {
		// From the filled index only: a partly filled one counts wrong.
		workers.Go(func() { s.runOperatorMetrics(wctx) })
	}
	<-ctx.Done()
	return nil
}

// fill reconciles the whole index at full speed, retrying until it
// succeeds once; false when ctx ended first.
func (s *Service) fill(ctx context.Context) bool {
	started := time.Now()
	for ctx.Err() == nil {
		err := s.reconcile(ctx, reconcileOptions{})
		if err == nil {
			n, _ := s.ix.Len(ctx)
			s.log.Info("search index filled", "things", n, "took", time.Since(started).Round(time.Millisecond))
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		s.log.Warn("filling the search index failed, retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(2 * time.Second):
		}
	}
	return false
}

// TriggerSync starts a background sync pass now (DevOps).
func (s *Service) TriggerSync() {
	select {
	case s.syncNow <- struct{}{}:
	default:
	}
}

// Ready reports whether the index has been filled and queries are served.
func (s *Service) Ready() bool { return s.filled.Load() }
