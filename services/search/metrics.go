package search

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the service's own metrics (Deps.Metrics). The observers are
// resolved once, so the query path and the apply loop only observe.
type metrics struct {
	queryKind, countKind prometheus.Observer // search_query_seconds{kind}
	indexLag             prometheus.Observer // search_index_lag_seconds
	scrapeFailures       *prometheus.CounterVec

	collectors []prometheus.Collector
}

// newMetrics makes the metrics; staleReads counts the index's stale
// readings (index.Index.StaleViews).
func newMetrics(staleReads func() int64) *metrics {
	query := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "search_query_seconds",
		Help:    "Time to answer a search query (kind=query) or count (kind=count), from its arrival at this instance to its answer.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"kind"})
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{
		Name:    "search_index_lag_seconds",
		Help:    "Time from an event's publication (its JetStream timestamp) to the commit of the index write that applied it.",
		Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
	})
	failures := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "search_operator_metric_scrape_failures_total",
		Help: "Computations of an operator metric (ditto.search.operator-metrics) that failed.",
	}, []string{"metric"})
	stale := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "search_index_stale_reads_total",
		Help: "Readings of the search index that found a state older than a write committed before they began, and began again.",
	}, func() float64 { return float64(staleReads()) })
	return &metrics{
		queryKind: query.WithLabelValues("query"), countKind: query.WithLabelValues("count"),
		indexLag: lag, scrapeFailures: failures,
		collectors: []prometheus.Collector{query, lag, failures, stale},
	}
}

// register registers the metrics on reg (nil: they are not exported).
func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for i, c := range m.collectors {
		if err := reg.Register(c); err != nil {
			for _, done := range m.collectors[:i] {
				reg.Unregister(done)
			}
			return fmt.Errorf("search metrics: %w", err)
		}
	}
	return nil
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	if reg == nil {
		return
	}
	for _, c := range m.collectors {
		reg.Unregister(c)
	}
}

// registerMetrics registers the service's metrics and its operator
// metrics; on an error it leaves neither registered.
func (s *Service) registerMetrics(d Deps) error {
	if err := s.metrics.register(d.Metrics); err != nil {
		return err
	}
	if s.ops == nil || d.OperatorMetrics == nil {
		return nil
	}
	if err := d.OperatorMetrics.Register(s.ops); err != nil {
		s.metrics.unregister(d.Metrics)
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return fmt.Errorf("operator metrics (%s): a gauge of the same name is registered already", OperatorMetricsKey)
		}
		return fmt.Errorf("operator metrics (%s): %w", OperatorMetricsKey, err)
	}
	return nil
}
