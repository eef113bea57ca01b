package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
	"github.com/dittonats/dittonats/services/search/index"
)

// Operator metrics: Ditto's "operator defined custom metrics" (a count of
// the things matching a filter, per metric) and "custom aggregation
// metrics" (a count per distinct combination of the values of group-by
// fields), configured at ditto.search.operator-metrics as Ditto's
// operating guide shows, computed from this instance's index on each
// metric's scrape interval and exported as Prometheus gauges on
// Deps.OperatorMetrics. They count every indexed thing, whoever may read
// it (Ditto's sudo count and aggregation).

// OperatorMetricsKey is where the operator metrics are configured.
const OperatorMetricsKey = "ditto.search.operator-metrics"

// totalThings is Ditto's built-in custom metric (search.conf): every
// thing, every 15 minutes.
const totalThings = "total_things"

// OperatorMetrics are the metrics of ditto.search.operator-metrics; its
// enabled and scrape-interval are Config.OperatorMetricsEnabled and
// OperatorMetricsInterval.
type OperatorMetrics struct {
	CustomMetrics            map[string]CustomMetric            `json:"custom-metrics"`
	CustomAggregationMetrics map[string]CustomAggregationMetric `json:"custom-aggregation-metrics"`
}

// CustomMetric is one entry of custom-metrics: a gauge of how many things
// match Filter (empty: all) in Namespaces (empty: all), with constant Tags
// as labels. Ditto's index-hint is accepted and has no use here.
type CustomMetric struct {
	// Enabled defaults to true.
	Enabled *bool `json:"enabled"`
	// ScrapeInterval zero means the global scrape interval.
	ScrapeInterval time.Duration     `json:"scrape-interval"`
	Namespaces     []string          `json:"namespaces"`
	Filter         string            `json:"filter"`
	Tags           map[string]string `json:"tags"`
}

// CustomAggregationMetric is one entry of custom-aggregation-metrics: a
// gauge per group of the things matching the filter, GroupBy naming the
// fields the groups share (label -> field, "attributes/Info/location"),
// Tags the labels, whose values may be tag templates (see tags.go). The
// filter is either Filter (Ditto 3.7.3 and later) or, in the form of Ditto
// 3.6 to 3.7.2, Filters, each with the values of the inline placeholders
// its groups' tags get.
type CustomAggregationMetric struct {
	Enabled        *bool                        `json:"enabled"`
	ScrapeInterval time.Duration                `json:"scrape-interval"`
	Namespaces     []string                     `json:"namespaces"`
	GroupBy        map[string]string            `json:"group-by"`
	Tags           map[string]string            `json:"tags"`
	Filter         *string                      `json:"filter"`
	Filters        map[string]AggregationFilter `json:"filters"`
}

// AggregationFilter is one of an aggregation metric's filters.
type AggregationFilter struct {
	Filter                  string            `json:"filter"`
	InlinePlaceholderValues map[string]string `json:"inline-placeholder-values"`
}

// defaultTotalThings is total_things as Ditto's search.conf has it.
func defaultTotalThings() CustomMetric {
	on := true
	return CustomMetric{Enabled: &on, ScrapeInterval: 15 * time.Minute}
}

// OperatorMetricsFromTree reads the metrics at OperatorMetricsKey of the
// configuration tree. Like Ditto's configuration, which its search.conf
// underlies, it has the built-in total_things, which the tree may change
// or disable (custom-metrics.total_things.enabled = false). New checks
// the metrics.
func OperatorMetricsFromTree(tree *dittoconf.Tree) (OperatorMetrics, error) {
	var m OperatorMetrics
	if _, err := tree.Decode(OperatorMetricsKey, &m); err != nil {
		return OperatorMetrics{}, err
	}
	if _, ok := m.CustomMetrics[totalThings]; ok {
		// Over the built-in's settings, as HOCON merges the objects.
		tt := defaultTotalThings()
		if _, err := tree.Decode(OperatorMetricsKey+".custom-metrics."+totalThings, &tt); err != nil {
			return OperatorMetrics{}, err
		}
		m.CustomMetrics[totalThings] = tt
	}
	return m, nil
}

// opMetric is a checked metric of either kind.
type opMetric struct {
	config   string // the configured name
	name     string // the gauge's name: the configured one, sanitized
	key      string // the configuration key, for errors and logs
	interval time.Duration
	// namespaces restricts the counted things; empty: all.
	namespaces []string
	// filters are one for a custom metric, one or more for an aggregation.
	filters []opFilter
	// groupBy are the group-by fields, and groupLabels their labels in the
	// same order (aggregations only).
	groupBy, groupLabels []string
	// labels are the gauge's label names, sorted, and tags their values.
	labels []string
	tags   []*tagTemplate
	desc   *prometheus.Desc

	// Owned by the goroutine that computes the metrics.
	failures prometheus.Counter
	computed time.Time // of the last successful scrape
	warned   time.Time // of the last warning about a failed scrape
	failed   int       // failed scrapes since the last warning
}

// OperatorMetricError is a problem of one operator metric's
// configuration, which keeps the service from starting.
type OperatorMetricError struct {
	Metric string // the metric's name as configured
	// Key is the configuration key at fault: the metric's
	// (ditto.search.operator-metrics.custom-metrics.<name>) or one of its
	// keys (<that>.filter, <that>.tags.location, ...).
	Key string
	Err error
}

func (e *OperatorMetricError) Error() string {
	return fmt.Sprintf("operator metric %q: %s: %v", e.Metric, e.Key, e.Err)
}

func (e *OperatorMetricError) Unwrap() error { return e.Err }

// fail is the error err of the metric's key sub ("": the metric's own).
func (m *opMetric) fail(sub string, err error) error {
	key := m.key
	if sub != "" {
		key += "." + sub
	}
	return &OperatorMetricError{Metric: m.config, Key: key, Err: err}
}

// opFilter is a parsed filter with its inline placeholder values.
type opFilter struct {
	node   rql.Node // nil: every thing
	inline map[string]string
}

// operatorMetrics checks the operator metrics and returns those to
// compute (the enabled ones; none when they are disabled as a whole).
// Every configured metric is checked, enabled or not, as Ditto checks its
// configuration.
func (c Config) operatorMetrics() ([]*opMetric, error) {
	custom := maps.Clone(c.OperatorMetrics.CustomMetrics)
	if custom == nil {
		custom = map[string]CustomMetric{}
	}
	if _, ok := custom[totalThings]; !ok {
		custom[totalThings] = defaultTotalThings()
	}
	var out []*opMetric
	var errs []error
	names := map[string]string{} // gauge name -> key
	add := func(m *opMetric, enabled *bool, err error) {
		if err != nil {
			errs = append(errs, err)
			return
		}
		if prev, dup := names[m.name]; dup {
			errs = append(errs, m.fail("", fmt.Errorf("its gauge %s is %s's already", m.name, prev)))
			return
		}
		names[m.name] = m.key
		if enabled == nil || *enabled {
			out = append(out, m)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(custom)) {
		cm := custom[name]
		m, err := c.customMetric(name, cm)
		add(m, cm.Enabled, err)
	}
	for _, name := range slices.Sorted(maps.Keys(c.OperatorMetrics.CustomAggregationMetrics)) {
		am := c.OperatorMetrics.CustomAggregationMetrics[name]
		m, err := c.aggregationMetric(name, am)
		add(m, am.Enabled, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if !c.OperatorMetricsEnabled {
		return nil, nil
	}
	return out, nil
}

func (c Config) newOpMetric(kind, name string, interval time.Duration, namespaces []string) (*opMetric, error) {
	m := &opMetric{config: name, name: metricName(name), key: OperatorMetricsKey + "." + kind + "." + name, namespaces: namespaces}
	switch {
	case interval < 0:
		return nil, m.fail("scrape-interval", fmt.Errorf("%s: must not be negative", interval))
	case interval > 0:
		m.interval = interval
	case c.OperatorMetricsInterval > 0:
		m.interval = c.OperatorMetricsInterval
	default:
		return nil, m.fail("scrape-interval", fmt.Errorf("not set, and THINGS_SEARCH_OPERATOR_METRICS_SCRAPE_INTERVAL (%s.scrape-interval) is %s: one must be positive", OperatorMetricsKey, c.OperatorMetricsInterval))
	}
	return m, nil
}

func (c Config) customMetric(name string, cm CustomMetric) (*opMetric, error) {
	m, err := c.newOpMetric("custom-metrics", name, cm.ScrapeInterval, cm.Namespaces)
	if err != nil {
		return nil, err
	}
	f, err := parseMetricFilter(cm.Filter)
	if err != nil {
		return nil, m.fail("filter", err)
	}
	m.filters = []opFilter{f}
	// A custom metric's tags are constants (Ditto resolves none).
	consts := map[string]*tagTemplate{}
	for k, v := range cm.Tags {
		consts[k] = &tagTemplate{raw: v}
	}
	if err := m.setLabels(consts); err != nil {
		return nil, err
	}
	m.desc = prometheus.NewDesc(m.name, "Things matching the filter of the operator's custom metric "+m.key+".", m.labels, nil)
	return m, nil
}

func (c Config) aggregationMetric(name string, am CustomAggregationMetric) (*opMetric, error) {
	m, err := c.newOpMetric("custom-aggregation-metrics", name, am.ScrapeInterval, am.Namespaces)
	if err != nil {
		return nil, err
	}
	if len(am.GroupBy) == 0 {
		return nil, m.fail("group-by", errors.New("needs at least one field to group by (else disable the metric)"))
	}
	for _, label := range slices.Sorted(maps.Keys(am.GroupBy)) {
		field := am.GroupBy[label]
		if err := index.ValidGroupField(field); err != nil {
			return nil, m.fail("group-by."+label, err)
		}
		m.groupLabels = append(m.groupLabels, label)
		m.groupBy = append(m.groupBy, field)
	}
	var inlineFrom []string // the filters that give inline values
	switch {
	case am.Filter != nil && len(am.Filters) > 0:
		return nil, m.fail("filters", errors.New("set with filter: set one of them (filter since Ditto 3.7.3, filters before)"))
	case len(am.Filters) > 0:
		for _, fname := range slices.Sorted(maps.Keys(am.Filters)) {
			fc := am.Filters[fname]
			f, err := parseMetricFilter(fc.Filter)
			if err != nil {
				return nil, m.fail("filters."+fname+".filter", err)
			}
			f.inline = fc.InlinePlaceholderValues
			m.filters = append(m.filters, f)
			inlineFrom = append(inlineFrom, fname)
		}
	default:
		text := ""
		if am.Filter != nil {
			text = *am.Filter
		}
		f, err := parseMetricFilter(text)
		if err != nil {
			return nil, m.fail("filter", err)
		}
		m.filters = []opFilter{f}
	}
	templates := map[string]*tagTemplate{}
	for _, k := range slices.Sorted(maps.Keys(am.Tags)) {
		t, err := parseTagTemplate(am.Tags[k])
		if err != nil {
			return nil, m.fail("tags."+k, err)
		}
		for _, ph := range t.placeholders() {
			switch ph.prefix {
			case prefixGroupBy:
				if _, ok := am.GroupBy[ph.name]; !ok {
					return nil, m.fail("tags."+k, fmt.Errorf("%s does not resolve: %q is not a label of group-by (%s)",
						ph, ph.name, strings.Join(m.groupLabels, ", ")))
				}
			case prefixInline:
				if inlineFrom == nil {
					return nil, m.fail("tags."+k, fmt.Errorf("%s does not resolve: inline placeholders take their values from the inline-placeholder-values of filters, and the metric has no filters", ph))
				}
				for i, fname := range inlineFrom {
					if _, ok := m.filters[i].inline[ph.name]; !ok {
						return nil, m.fail("tags."+k, fmt.Errorf("%s does not resolve: filters.%s.inline-placeholder-values has no %q", ph, fname, ph.name))
					}
				}
			}
		}
		templates[k] = t
	}
	if err := m.setLabels(templates); err != nil {
		return nil, err
	}
	m.desc = prometheus.NewDesc(m.name, "Things matching the filter of the operator's custom aggregation metric "+m.key+", per group.", m.labels, nil)
	return m, nil
}

// setLabels sets the gauge's labels from the tags, by sanitized name.
func (m *opMetric) setLabels(tags map[string]*tagTemplate) error {
	byLabel := map[string]string{}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		l := labelName(k)
		if strings.HasPrefix(l, "__") {
			return m.fail("tags."+k, fmt.Errorf("the label %s is reserved for Prometheus (it starts with __)", l))
		}
		if prev, dup := byLabel[l]; dup {
			return m.fail("tags."+k, fmt.Errorf("%q and %q are both the label %s", prev, k, l))
		}
		byLabel[l] = k
	}
	m.labels = slices.Sorted(maps.Keys(byLabel))
	for _, l := range m.labels {
		m.tags = append(m.tags, tags[byLabel[l]])
	}
	return nil
}

func parseMetricFilter(text string) (opFilter, error) {
	if strings.TrimSpace(text) == "" {
		return opFilter{}, nil
	}
	n, err := rql.Parse(text)
	if err != nil {
		return opFilter{}, fmt.Errorf("%q is not valid RQL: %w", text, err)
	}
	return opFilter{node: n}, nil
}

// metricName sanitizes a metric name as Prometheus client libraries do:
// every character but [a-zA-Z0-9_:] becomes _, and a leading digit gets a
// _ before it.
func metricName(s string) string { return sanitize(s, true) }

// labelName sanitizes a label name: as metricName, without ':'.
func labelName(s string) string { return sanitize(s, false) }

func sanitize(s string, colon bool) string {
	var sb strings.Builder
	for i, r := range s {
		ok := r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || colon && r == ':'
		if i == 0 && r >= '0' && r <= '9' {
			sb.WriteByte('_')
		}
		if ok {
			sb.WriteRune(r)
		} else {
			sb.WriteByte('_')
		}
	}
	if sb.Len() == 0 {
		return "_"
	}
	return sb.String()
}

// sample is one series of a gauge.
type sample struct {
	values []string // label values, in the order of opMetric.labels
	value  float64
}

// opCollector exports the last computed value of each operator metric: a
// scrape reads what the metrics goroutine set, so groups that vanished
// from the last computation are gone.
type opCollector struct {
	metrics []*opMetric
	mu      sync.Mutex
	samples map[*opMetric][]sample // guarded by mu
}

func newOpCollector(ms []*opMetric) *opCollector {
	return &opCollector{metrics: ms, samples: map[*opMetric][]sample{}}
}

// Describe implements prometheus.Collector.
func (c *opCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, m := range c.metrics {
		ch <- m.desc
	}
}

// Collect implements prometheus.Collector.
func (c *opCollector) Collect(ch chan<- prometheus.Metric) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range c.metrics {
		for _, s := range c.samples[m] {
			ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, s.value, s.values...)
		}
	}
}

func (c *opCollector) set(m *opMetric, ss []sample) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.samples[m] = ss
}

// Scrapes are bounded (Ditto bounds them by its MongoDB query time).
const scrapeTimeout = time.Minute

// A metric failing again and again is warned about at most this often.
const scrapeWarnEvery = 5 * time.Minute

// runOperatorMetrics computes each metric on its scrape interval, the
// first time at once, until ctx ends. One metric is computed at a time,
// so that they take at most one of the index's readers from the queries.
func (s *Service) runOperatorMetrics(ctx context.Context) {
	ms := s.ops.metrics
	due := make([]time.Time, len(ms))
	now := time.Now()
	for i := range due {
		due[i] = now
	}
	for {
		next := 0
		for i := range due {
			if due[i].Before(due[next]) {
				next = i
			}
		}
		if wait := time.Until(due[next]); wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		m := ms[next]
		s.scrapeMetric(ctx, m)
		due[next] = due[next].Add(m.interval)
		if now := time.Now(); due[next].Before(now) {
			due[next] = now.Add(m.interval) // fell behind: skip, as a ticker does
		}
	}
}

// scrapeMetric computes one metric and exports the result. A failure
// keeps the last result (for at most two intervals, after which Ditto
// removes a gauge no scrape updated), is counted, and is warned about at
// most every scrapeWarnEvery per metric.
func (s *Service) scrapeMetric(ctx context.Context, m *opMetric) {
	sctx, cancel := context.WithTimeout(ctx, scrapeTimeout)
	ss, err := s.computeMetric(sctx, m)
	cancel()
	now := time.Now()
	if err == nil {
		m.computed = now
		s.ops.set(m, ss)
		return
	}
	if ctx.Err() != nil {
		return // stopping
	}
	m.failures.Inc()
	m.failed++
	if now.Sub(m.warned) >= scrapeWarnEvery {
		s.log.Warn("operator metric not computed", "metric", m.key, "err", err, "failures", m.failed)
		m.warned, m.failed = now, 0
	}
	if now.Sub(m.computed) > 2*m.interval {
		s.ops.set(m, nil)
	}
}

// computeMetric counts a metric's things: one sample for a custom metric,
// one per distinct tag values for an aggregation (groups whose tags
// resolve alike are added up).
func (s *Service) computeMetric(ctx context.Context, m *opMetric) ([]sample, error) {
	now := time.Now()
	if m.groupBy == nil {
		n, err := s.ix.SudoCount(ctx, index.Sudo{Filter: m.filters[0].node, Namespaces: m.namespaces, Now: now})
		if err != nil {
			return nil, err
		}
		values := make([]string, len(m.tags))
		for i, t := range m.tags {
			values[i] = t.raw
		}
		return []sample{{values: values, value: float64(n)}}, nil
	}
	var out []sample
	at := map[string]int{} // joined label values -> index in out
	for _, f := range m.filters {
		groups, err := s.ix.SudoGroupCount(ctx, index.Sudo{Filter: f.node, Namespaces: m.namespaces, Now: now}, m.groupBy)
		if err != nil {
			return nil, err
		}
		for _, g := range groups {
			lookup := func(ph placeholder) (string, bool) {
				if ph.prefix == prefixInline {
					v, ok := f.inline[ph.name]
					return v, ok
				}
				i := slices.Index(m.groupLabels, ph.name)
				if i < 0 || g.Values[i] == nil {
					return "", false
				}
				return groupValue(g.Values[i]), true
			}
			values := make([]string, len(m.tags))
			for i, t := range m.tags {
				values[i] = t.resolve(lookup)
			}
			key := strings.Join(values, "\x00")
			if i, ok := at[key]; ok {
				out[i].value += float64(g.Count)
				continue
			}
			at[key] = len(out)
			out = append(out, sample{values: values, value: float64(g.Count)})
		}
	}
	return out, nil
}

// groupValue is a group-by value as a tag value, as Ditto formats it: a
// string as itself, anything else as its JSON.
func groupValue(raw json.RawMessage) string {
	var s string
	if len(raw) > 0 && raw[0] == '"' && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}
