package entity

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/services/internal/telemetry"
)

// metrics are an entity host's Prometheus metrics, labelled by the entity
// type (Config.Kind: "thing", "policy", as Ditto's shard regions).
type metrics struct {
	rejected  prometheus.Counter
	published prometheus.Counter
	lag       prometheus.Observer
}

// newMetrics registers h's metrics on reg; nil when reg is nil.
func newMetrics(h *Host, reg prometheus.Registerer, live bool, refresh time.Duration) *metrics {
	if reg == nil {
		return nil
	}
	typ := prometheus.Labels{"type": h.cfg.Kind}
	rejected := prometheus.NewCounter(prometheus.CounterOpts{Name: "mailbox_rejections_total", ConstLabels: typ,
		Help: "Commands refused with 429 because their entity's mailbox was full."})
	published := prometheus.NewCounter(prometheus.CounterOpts{Name: "events_published_total", ConstLabels: typ,
		Help: "Events acknowledged by JetStream."})
	lag := prometheus.NewHistogram(prometheus.HistogramOpts{Name: "event_publication_lag_seconds", ConstLabels: typ,
		Help:    "Time from an event's journal timestamp to JetStream's acknowledgement of it.",
		Buckets: telemetry.LatencyBuckets})
	reg.MustRegister(rejected, published, lag)
	if live {
		reg.MustRegister(&liveEntities{h: h, refresh: refresh, desc: prometheus.NewDesc("live_entities",
			"Entities held in memory by type and namespace.", []string{"namespace"}, typ)})
	}
	return &metrics{rejected: rejected, published: published, lag: lag}
}

func (m *metrics) reject() {
	if m != nil {
		m.rejected.Inc()
	}
}

// acked records an event JetStream acknowledged, journaled at tsMillis.
func (m *metrics) acked(tsMillis int64) {
	if m == nil {
		return
	}
	m.published.Inc()
	m.lag.Observe(max(0, time.Since(time.UnixMilli(tsMillis)).Seconds()))
}

// liveEntities counts the entities in memory per namespace when scraped,
// at most once per refresh interval (Ditto's live-entities-metrics).
type liveEntities struct {
	h       *Host
	refresh time.Duration
	desc    *prometheus.Desc

	mu     sync.Mutex
	at     time.Time
	counts map[string]int
}

func (c *liveEntities) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *liveEntities) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	if c.counts == nil || time.Since(c.at) >= c.refresh {
		c.counts, c.at = c.h.countByNamespace(), time.Now()
	}
	for ns, n := range c.counts {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), ns)
	}
	c.mu.Unlock()
}

// countByNamespace counts the entities in memory per namespace, holding
// one shard's lock at a time.
func (h *Host) countByNamespace() map[string]int {
	counts := map[string]int{}
	for _, sh := range h.shards {
		sh.mu.Lock()
		for id := range sh.slots {
			ns, _, _ := strings.Cut(id, ":")
			counts[ns]++
		}
		sh.mu.Unlock()
	}
	return counts
}
