package search

import (
	"errors"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

func TestTagTemplates(t *testing.T) {
	t.Parallel()
	values := map[placeholder]string{
		{prefixGroupBy, "location"}: "Berlin",
		{prefixGroupBy, "gateway"}:  "false",
		{prefixInline, "online"}:    "true",
		{prefixGroupBy, "id"}:       "org.acme:dev-1",
		{prefixGroupBy, "padded"}:   "  x  ",
	}
	lookup := func(p placeholder) (string, bool) { v, ok := values[p]; return v, ok }
	for _, tc := range []struct{ tmpl, want string }{
		{"hardcoded_value", "hardcoded_value"},
		{"{{ group-by:location }}", "Berlin"},
		{"{{group-by:location}}", "Berlin"},
		{"{{ inline:online }}", "true"},
		{"{{ group-by:location | fn:default('missing location') }}", "Berlin"},
		{"{{ group-by:nowhere | fn:default('missing location') }}", "missing location"},
		{`{{ group-by:nowhere | fn:default("double") }}`, "double"},
		{"{{ group-by:nowhere | fn:default(group-by:location) }}", "Berlin"},
		{"{{ group-by:nowhere | fn:default(group-by:other) }}", "{{ group-by:nowhere | fn:default(group-by:other) }}"},
		// Unresolved without a default: the configured text, as in Ditto.
		{"{{ group-by:nowhere }}", "{{ group-by:nowhere }}"},
		{"{{ group-by:location | fn:upper() }}", "BERLIN"},
		{"{{ group-by:location | fn:lower() }}", "berlin"},
		{"{{ group-by:padded | fn:trim() }}", "x"},
		{"{{ group-by:id | fn:substring-before(':') }}", "org.acme"},
		{"{{ group-by:id | fn:substring-after(':') }}", "dev-1"},
		{"{{ group-by:id | fn:substring-after('#') | fn:default('none') }}", "none"},
		{"{{ group-by:id | fn:replace('dev', 'device') }}", "org.acme:device-1"},
		{"{{ group-by:location | fn:delete() | fn:default('x') }}", "{{ group-by:location | fn:delete() | fn:default('x') }}"},
		{"{{ fn:default('constant') }}", "constant"},
		{"{{ group-by:location | fn:base64-encode() }}", "QmVybGlu"},
		{"{{ group-by:location | fn:base64-encode() | fn:base64-decode() }}", "Berlin"},
		{"{{ group-by:id | fn:url-encode() }}", "org.acme%3Adev-1"},
		{"{{ group-by:location }}/{{ group-by:gateway }}", "Berlin/false"},
		{"{{ fn:default('a|b') }}", "a|b"},
		// Not a placeholder unless the whole value is one (Ditto's rule).
		{"x{{ group-by:location }}", "x{{ group-by:location }}"},
	} {
		tt, err := parseTagTemplate(tc.tmpl)
		if err != nil {
			t.Errorf("parse %q: %v", tc.tmpl, err)
			continue
		}
		if got := tt.resolve(lookup); got != tc.want {
			t.Errorf("%q: got %q, want %q", tc.tmpl, got, tc.want)
		}
	}
	for _, bad := range []string{
		"{{ thing:id }}", "{{ group-by }}", "{{ group-by:location | fn:nope() }}", "{{ group-by:location | fn:default() }}",
		"{{ group-by:location | fn:default('a', 'b') }}", "{{ group-by:location | fn:upper('x') }}", "{{ group-by:location | group-by:x }}",
		"{{ group-by:location | fn:default('x) }}", "{{ group-by:location | fn:default(x) }}", "{{ }}", "{{ group-by:location | }}",
		"{{ group-by:location | fn:filter('like','a') }}",
	} {
		if _, err := parseTagTemplate(bad); err == nil {
			t.Errorf("parse %q: no error", bad)
		}
	}
}

func FuzzTagTemplate(f *testing.F) {
	for _, s := range []string{"{{ group-by:a | fn:default('x') }}", "{{ inline:b }}", "{{ fn:replace('a', \"b\") }}", "{{x}}{{", "{{ a:b | fn:upper( }}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tt, err := parseTagTemplate(s)
		if err != nil {
			return
		}
		for _, p := range tt.placeholders() {
			if p.prefix != prefixInline && p.prefix != prefixGroupBy {
				t.Fatalf("%q: placeholder %v of an unsupported kind", s, p)
			}
		}
		_ = tt.resolve(func(placeholder) (string, bool) { return "v", true })
		_ = tt.resolve(func(placeholder) (string, bool) { return "", false })
	})
}

func TestSanitizedNames(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ in, metric, label string }{
		{"online_status", "online_status", "online_status"},
		{"hardcoded-tag", "hardcoded_tag", "hardcoded_tag"},
		{"isGateway", "isGateway", "isGateway"},
		{"1st", "_1st", "_1st"},
		{"a:b", "a:b", "a_b"},
		{"grüße.x", "gr__e_x", "gr__e_x"},
		{"", "_", "_"},
	} {
		if got := metricName(tc.in); got != tc.metric {
			t.Errorf("metricName(%q) = %q, want %q", tc.in, got, tc.metric)
		}
		if got := labelName(tc.in); got != tc.label {
			t.Errorf("labelName(%q) = %q, want %q", tc.in, got, tc.label)
		}
	}
}

// Each problem names the metric and the key at fault.
func TestOperatorMetricErrors(t *testing.T) {
	t.Parallel()
	agg := func(m CustomAggregationMetric) OperatorMetrics {
		if m.GroupBy == nil {
			m.GroupBy = map[string]string{"location": "attributes/location"}
		}
		return OperatorMetrics{CustomAggregationMetrics: map[string]CustomAggregationMetric{"online_status": m}}
	}
	str := func(s string) *string { return &s }
	const aggKey = OperatorMetricsKey + ".custom-aggregation-metrics.online_status"
	for _, tc := range []struct {
		name    string
		m       OperatorMetrics
		metric  string
		key     string
		nointvl bool
	}{
		{"bad RQL", OperatorMetrics{CustomMetrics: map[string]CustomMetric{"devices": {Filter: "and(exists(attributes/x)"}}},
			"devices", OperatorMetricsKey + ".custom-metrics.devices.filter", false},
		{"bad RQL of a filter", agg(CustomAggregationMetric{Filters: map[string]AggregationFilter{"on": {Filter: "gt(x"}}}),
			"online_status", aggKey + ".filters.on.filter", false},
		{"unknown group-by label", agg(CustomAggregationMetric{Tags: map[string]string{"loc": "{{ group-by:place }}"}}),
			"online_status", aggKey + ".tags.loc", false},
		{"inline without filters", agg(CustomAggregationMetric{Filter: str(""), Tags: map[string]string{"online": "{{ inline:online }}"}}),
			"online_status", aggKey + ".tags.online", false},
		{"inline missing in a filter", agg(CustomAggregationMetric{Tags: map[string]string{"online": "{{ inline:online }}"},
			Filters: map[string]AggregationFilter{
				"a": {Filter: "exists(thingId)", InlinePlaceholderValues: map[string]string{"online": "true"}},
				"b": {Filter: "exists(thingId)", InlinePlaceholderValues: map[string]string{"health": "bad"}}}}),
			"online_status", aggKey + ".tags.online", false},
		{"unsupported placeholder", agg(CustomAggregationMetric{Tags: map[string]string{"id": "{{ thing:id }}"}}),
			"online_status", aggKey + ".tags.id", false},
		{"unknown function", agg(CustomAggregationMetric{Tags: map[string]string{"loc": "{{ group-by:location | fn:shout() }}"}}),
			"online_status", aggKey + ".tags.loc", false},
		{"no group-by", OperatorMetrics{CustomAggregationMetrics: map[string]CustomAggregationMetric{"online_status": {}}},
			"online_status", aggKey + ".group-by", false},
		{"filter and filters", agg(CustomAggregationMetric{Filter: str("exists(thingId)"), Filters: map[string]AggregationFilter{"a": {}}}),
			"online_status", aggKey + ".filters", false},
		{"labels alike", agg(CustomAggregationMetric{Tags: map[string]string{"a-b": "x", "a_b": "y"}}),
			"online_status", aggKey + ".tags.a_b", false},
		{"gauges alike", OperatorMetrics{CustomMetrics: map[string]CustomMetric{"a-b": {}, "a_b": {}}},
			"a_b", OperatorMetricsKey + ".custom-metrics.a_b", false},
		{"no interval", OperatorMetrics{CustomMetrics: map[string]CustomMetric{"devices": {}}},
			"devices", OperatorMetricsKey + ".custom-metrics.devices.scrape-interval", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{OperatorMetricsEnabled: true, OperatorMetricsInterval: time.Minute, OperatorMetrics: tc.m}
			if tc.nointvl {
				cfg.OperatorMetricsInterval = 0
			}
			_, err := cfg.operatorMetrics()
			var e *OperatorMetricError
			if !errors.As(err, &e) {
				t.Fatalf("got %v, want an OperatorMetricError", err)
			}
			if e.Metric != tc.metric || e.Key != tc.key {
				t.Errorf("got metric %q key %q (%v), want %q %q", e.Metric, e.Key, err, tc.metric, tc.key)
			}
			// The same stops the service.
			if _, err := New(cfg, Deps{}); !errors.As(err, &e) {
				t.Errorf("New: got %v, want the OperatorMetricError", err)
			}
		})
	}
}

// The metrics compile to gauges of sanitized names and labels; disabled
// ones are checked but not computed, and total_things is built in.
func TestOperatorMetricsCompile(t *testing.T) {
	t.Parallel()
	off := false
	cfg := Config{OperatorMetricsEnabled: true, OperatorMetricsInterval: time.Minute, OperatorMetrics: OperatorMetrics{
		CustomMetrics: map[string]CustomMetric{
			"produced-devices": {Tags: map[string]string{"company": "acme-corp", "1st-tag": "x"}, ScrapeInterval: 5 * time.Minute},
			"disabled":         {Enabled: &off},
		},
	}}
	ms, err := cfg.operatorMetrics()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]*opMetric{}
	for _, m := range ms {
		got[m.name] = m
	}
	if len(got) != 2 || got["produced_devices"] == nil || got[totalThings] == nil {
		t.Fatalf("metrics %v, want produced_devices and total_things", got)
	}
	pd := got["produced_devices"]
	if pd.interval != 5*time.Minute || len(pd.labels) != 2 || pd.labels[0] != "_1st_tag" || pd.labels[1] != "company" {
		t.Errorf("produced_devices: interval %s labels %v", pd.interval, pd.labels)
	}
	if tt := got[totalThings]; tt.interval != 15*time.Minute || tt.filters[0].node != nil {
		t.Errorf("total_things: interval %s filter %v, want Ditto's 15m and none", tt.interval, tt.filters[0].node)
	}
	cfg.OperatorMetricsEnabled = false
	if ms, err := cfg.operatorMetrics(); err != nil || len(ms) != 0 {
		t.Errorf("disabled as a whole: %d metrics, %v", len(ms), err)
	}
}

// total_things is Ditto's built-in: a configuration that names it changes
// only what it sets, as HOCON merges it over search.conf.
func TestTotalThingsMerged(t *testing.T) {
	t.Parallel()
	props, err := dittoconf.ParseProperties("-Dditto.search.operator-metrics.custom-metrics.total_things.enabled=false")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := dittoconf.PropertiesTree(props)
	if err != nil {
		t.Fatal(err)
	}
	m, err := OperatorMetricsFromTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	tt, ok := m.CustomMetrics[totalThings]
	if !ok || tt.Enabled == nil || *tt.Enabled || tt.ScrapeInterval != 15*time.Minute {
		t.Fatalf("total_things: %+v", tt)
	}
	cfg := Config{OperatorMetricsEnabled: true, OperatorMetricsInterval: time.Minute, OperatorMetrics: m}
	if ms, err := cfg.operatorMetrics(); err != nil || len(ms) != 0 {
		t.Errorf("with total_things disabled: %d metrics, %v", len(ms), err)
	}
	// Without configuration, it is there.
	m, err = OperatorMetricsFromTree(dittoconf.NewTree())
	if err != nil {
		t.Fatal(err)
	}
	cfg.OperatorMetrics = m
	if ms, err := cfg.operatorMetrics(); err != nil || len(ms) != 1 || ms[0].name != totalThings {
		t.Errorf("without configuration: %v, %v; want total_things", ms, err)
	}
}
