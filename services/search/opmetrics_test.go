package search_test

import (
	"bytes"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
	"github.com/dittonats/dittonats/services/search"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// The operator metrics tests configure metrics with the blocks of Ditto's
// operating guide, run them on real things, and read the gauges as
// Prometheus scrapes them.

// scrapeInterval replaces the guide's minutes in the tests: the gauges
// follow the things within a fraction of a second.
const scrapeInterval = "150ms"

// operatorMetricsOf reads the operator metrics of a HOCON document.
func operatorMetricsOf(t *testing.T, hocon string) search.OperatorMetrics {
	t.Helper()
	tree, err := dittoconf.Parse("test.conf", []byte(hocon), dittoconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := search.OperatorMetricsFromTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// operatorMetricsOfProperties reads them from -D system properties.
func operatorMetricsOfProperties(t *testing.T, opts string) search.OperatorMetrics {
	t.Helper()
	props, err := dittoconf.ParseProperties(opts)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := dittoconf.PropertiesTree(props)
	if err != nil {
		t.Fatal(err)
	}
	m, err := search.OperatorMetricsFromTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// withRegistries gives the search service registries of its own.
func withRegistries(service, operator *prometheus.Registry) func(*search.Deps) {
	return func(d *search.Deps) {
		d.Metrics = service
		d.OperatorMetrics = operator
	}
}

// exposition returns the sample lines of the metric family name in
// Prometheus's text format, without HELP and TYPE.
func exposition(t *testing.T, reg prometheus.Gatherer, name string) []string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	var lines []string
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var buf bytes.Buffer
		if _, err := expfmt.MetricFamilyToText(&buf, mf); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(buf.String(), "\n") {
			if l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
	}
	slices.Sort(lines)
	return lines
}

// eventuallyExposed waits until the family's sample lines are want.
func eventuallyExposed(t *testing.T, reg prometheus.Gatherer, name string, want ...string) {
	t.Helper()
	slices.Sort(want)
	streamstest.Eventually(t, 20*time.Second, func() error {
		if got := exposition(t, reg, name); !slices.Equal(got, want) {
			return fmt.Errorf("%s:\n got %q\nwant %q", name, got, want)
		}
		return nil
	})
}

// The operating guide's custom metric: namespaces, filter and a tag.
const guideCustomMetric = `
ditto {
  search {
    operator-metrics {
      enabled = true
      scrape-interval = 15m
      custom-metrics {
        all_produced_and_not_installed_devices {
          scrape-interval = 5m # overwrite scrape interval, run each 5 minutes
          namespaces = [
            "org.eclipse.ditto.smokedetectors"
            "org.eclipse.ditto.cameras"
          ]
          filter = "and(exists(attributes/production-date),not(exists(attributes/installation-date)))"
          tags {
            company = "acme-corp"
          }
        }
      }
    }
  }
}`

// The same as the guide's system properties.
const guideCustomMetricProperties = `-Dditto.search.operator-metrics.custom-metrics.all_produced_and_not_installed_devices.enabled=true
-Dditto.search.operator-metrics.custom-metrics.all_produced_and_not_installed_devices.scrape-interval=5m
-Dditto.search.operator-metrics.custom-metrics.all_produced_and_not_installed_devices.namespaces.0=org.eclipse.ditto.smokedetectors
-Dditto.search.operator-metrics.custom-metrics.all_produced_and_not_installed_devices.namespaces.1=org.eclipse.ditto.cameras
-Dditto.search.operator-metrics.custom-metrics.all_produced_and_not_installed_devices.filter=and(exists(attributes/production-date),not(exists(attributes/installation-date)))
-Dditto.search.operator-metrics.custom-metrics.all_produced_and_not_installed_devices.tags.company=acme-corp`

// A policy letting ditto write a thing and its policy but not read the
// thing: its things are invisible to ditto's searches, not to the
// operator's metrics.
const writeOnlyPolicy = `{"entries":{"owner":{"subjects":{"nginx:ditto":{"type":"basic"}},
 "resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["WRITE"],"revoke":["READ"]}}}}}`

func TestOperatorCustomMetricOfTheGuide(t *testing.T) {
	t.Parallel()
	// The HOCON block and the system properties say the same.
	hocon := operatorMetricsOf(t, guideCustomMetric)
	props := operatorMetricsOfProperties(t, strings.ReplaceAll(guideCustomMetricProperties, "\n", " "))
	enabled := true
	hocon.CustomMetrics["all_produced_and_not_installed_devices"] = withEnabled(hocon.CustomMetrics["all_produced_and_not_installed_devices"], &enabled)
	if !reflect.DeepEqual(hocon, props) {
		t.Fatalf("the guide's HOCON and properties differ:\n%+v\n%+v", hocon, props)
	}
	f := newFixture(t)
	const (
		sd  = "org.eclipse.ditto.smokedetectors"
		cam = "org.eclipse.ditto.cameras"
	)
	f.send(t, ditto, protocol.GroupPolicies, protocol.ActionCreate, cam+":hidden", "/", writeOnlyPolicy, nil)
	things := map[string]string{
		sd + ":sd-1":  `{"attributes":{"production-date":"2024-01-01"}}`,                                  // counted
		sd + ":sd-2":  `{"attributes":{"production-date":"2024-01-01","installation-date":"2024-02-01"}}`, // installed
		sd + ":sd-3":  `{"attributes":{"serial":"3"}}`,                                                    // not produced
		cam + ":c-1":  `{"attributes":{"production-date":"2024-03-01"}}`,                                  // counted
		cam + ":c-2":  `{"policyId":"` + cam + `:hidden","attributes":{"production-date":"2024-03-01"}}`,  // counted, unreadable
		"org.other:x": `{"attributes":{"production-date":"2024-01-01"}}`,                                  // another namespace
	}
	for id, thing := range things {
		f.put(t, id, thing)
	}
	cfg := f.searchConfig("a.db")
	cfg.OperatorMetricsEnabled, cfg.OperatorMetricsInterval = true, 15*time.Minute
	cfg.OperatorMetrics = operatorMetricsOf(t, strings.Replace(guideCustomMetric, "= 5m", "= "+scrapeInterval, 1))
	svc, ops := prometheus.NewRegistry(), prometheus.NewRegistry()
	f.startSearch(t, cfg, withRegistries(svc, ops))

	eventuallyExposed(t, ops, "all_produced_and_not_installed_devices", `all_produced_and_not_installed_devices{company="acme-corp"} 3`)
	// Ditto's built-in total_things counts every thing, unreadable or not,
	// every 15 minutes: here once, after the index was filled.
	eventuallyExposed(t, ops, "total_things", fmt.Sprintf("total_things %d", len(things)))
	// A search as ditto does not see the thing it may not read.
	if n := f.count(t, ditto, `and(exists(attributes/production-date),not(exists(attributes/installation-date)))`); n != 3 {
		t.Errorf("ditto counts %d produced devices (2 in the metric's namespaces, 1 elsewhere), want 3", n)
	}

	// The gauge follows the things at the next scrape.
	f.send(t, ditto, protocol.GroupThings, protocol.ActionModify, sd+":sd-1", "/attributes/installation-date", `"2024-05-01"`, nil)
	eventuallyExposed(t, ops, "all_produced_and_not_installed_devices", `all_produced_and_not_installed_devices{company="acme-corp"} 2`)
	f.put(t, sd+":sd-4", `{"attributes":{"production-date":"2024-06-01"}}`)
	f.put(t, cam+":c-3", `{"attributes":{"production-date":"2024-06-01"}}`)
	eventuallyExposed(t, ops, "all_produced_and_not_installed_devices", `all_produced_and_not_installed_devices{company="acme-corp"} 4`)
	f.send(t, ditto, protocol.GroupThings, protocol.ActionDelete, cam+":c-1", "/", "", nil)
	eventuallyExposed(t, ops, "all_produced_and_not_installed_devices", `all_produced_and_not_installed_devices{company="acme-corp"} 3`)
	// The service's own registry has none of the operator's gauges.
	if got := exposition(t, svc, "all_produced_and_not_installed_devices"); len(got) != 0 {
		t.Errorf("the service registry has the operator gauge: %q", got)
	}
}

func withEnabled(m search.CustomMetric, on *bool) search.CustomMetric {
	m.Enabled = on
	return m
}

// The guide's aggregation metric, in the form of Ditto 3.6 to 3.7.2
// (filters with inline-placeholder-values), with the tags of its sample
// output: online from the filter that matched, location from the group.
// group-by has isGateway too, which no tag uses: groups differing only in
// it add up.
const guideAggregationFilters = `
ditto.search.operator-metrics {
  enabled = true
  scrape-interval = 30m
  custom-aggregation-metrics {
    online_status {
      enabled = true
      scrape-interval = 20m # override scrape interval, run every 20 minutes
      namespaces = [
        "org.eclipse.ditto"
      ]
      group-by {
        "location" = "attributes/Info/location"
        "isGateway" = "attributes/Info/gateway"
      }
      tags {
        "online" = "{{ inline:online_placeholder }}"
        "location" = "{{ group-by:location | fn:default('missing location') }}"
      }
      filters {
        online_filter {
          filter = "gt(features/ConnectionStatus/properties/status/readyUntil,time:now)"
          inline-placeholder-values  {
            "online_placeholder" = true
            "health" = "good"
          }
        }
        offline_filter {
          filter = "lt(features/ConnectionStatus/properties/status/readyUntil,time:now)"
          inline-placeholder-values = {
            "online_placeholder" = false
            "health" = "bad"
          }
        }
      }
    }
  }
}`

// The guide's aggregation metrics since Ditto 3.7.3: one filter each, a
// hardcoded tag whose name Prometheus does not allow, and a group-by value
// that is a boolean.
const guideAggregationFilter = `
ditto {
  search {
    operator-metrics {
      enabled = true
      scrape-interval = 30m
      custom-aggregation-metrics {
        online_things {
          enabled = true
          scrape-interval = 20m # override scrape interval, run every 20 minutes
          namespaces = [
            "org.eclipse.ditto"
          ]
          group-by {
            "location" = "attributes/Info/location"
            "isGateway" = "attributes/Info/gateway"
          }
          tags {
            "hardcoded-tag" = "hardcoded_value"
            "location" = "{{ group-by:location | fn:default('missing location') }}"
            "isGateway" = "{{ group-by:isGateway }}"
          }
          filter = "gt(features/ConnectionStatus/properties/status/readyUntil,time:now)"
        }
        offline_things {
          scrape-interval = 20m
          namespaces = ["org.eclipse.ditto"]
          group-by { "location" = "attributes/Info/location" }
          tags { "location" = "{{ group-by:location | fn:default('missing location') }}" }
          filter = "lt(features/ConnectionStatus/properties/status/readyUntil,time:now)"
        }
      }
    }
  }
}`

// device is a thing of the aggregation tests: where it is, whether it is a
// gateway, and whether it is online (readyUntil in the future) or not.
func device(location string, gateway, online bool) string {
	ready := "2000-01-01T00:00:00Z"
	if online {
		ready = "2999-01-01T00:00:00Z"
	}
	info := fmt.Sprintf(`"gateway":%t`, gateway)
	if location != "" {
		info += fmt.Sprintf(`,"location":%q`, location)
	}
	return fmt.Sprintf(`{"attributes":{"Info":{%s}},"features":{"ConnectionStatus":{"properties":{"status":{"readyUntil":%q}}}}}`, info, ready)
}

func TestOperatorAggregationMetricsOfTheGuide(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.searchConfig("a.db")
	cfg.OperatorMetricsEnabled, cfg.OperatorMetricsInterval = true, 30*time.Minute
	cfg.OperatorMetrics = operatorMetricsOf(t, strings.ReplaceAll(guideAggregationFilters, "= 20m", "= "+scrapeInterval))
	single := operatorMetricsOf(t, strings.ReplaceAll(guideAggregationFilter, "= 20m", "= "+scrapeInterval))
	for k, v := range single.CustomAggregationMetrics {
		cfg.OperatorMetrics.CustomAggregationMetrics[k] = v
	}
	svc, ops := prometheus.NewRegistry(), prometheus.NewRegistry()
	f.startSearch(t, cfg, withRegistries(svc, ops))

	// 6 offline in Berlin (2 of them gateways), 8 online in Immenstaad
	// (3 gateways), one online without a location, and one in another
	// namespace, which the metrics leave out.
	for i := range 6 {
		f.put(t, fmt.Sprintf("org.eclipse.ditto:berlin-%d", i), device("Berlin", i < 2, false))
	}
	for i := range 8 {
		f.put(t, fmt.Sprintf("org.eclipse.ditto:immenstaad-%d", i), device("Immenstaad", i < 3, true))
	}
	f.put(t, "org.eclipse.ditto:nowhere", device("", false, true))
	f.put(t, "org.other:berlin", device("Berlin", false, false))

	eventuallyExposed(t, ops, "online_status",
		`online_status{location="Berlin",online="false"} 6`,
		`online_status{location="Immenstaad",online="true"} 8`,
		`online_status{location="missing location",online="true"} 1`)
	eventuallyExposed(t, ops, "online_things",
		`online_things{hardcoded_tag="hardcoded_value",isGateway="false",location="Immenstaad"} 5`,
		`online_things{hardcoded_tag="hardcoded_value",isGateway="true",location="Immenstaad"} 3`,
		`online_things{hardcoded_tag="hardcoded_value",isGateway="false",location="missing location"} 1`)
	eventuallyExposed(t, ops, "offline_things", `offline_things{location="Berlin"} 6`)

	// One Berlin device comes online: a new group appears, and the gauges
	// follow at the next scrape.
	f.send(t, ditto, protocol.GroupThings, protocol.ActionModify, "org.eclipse.ditto:berlin-5",
		"/features/ConnectionStatus/properties/status/readyUntil", `"2999-01-01T00:00:00Z"`, nil)
	eventuallyExposed(t, ops, "online_status",
		`online_status{location="Berlin",online="false"} 5`,
		`online_status{location="Berlin",online="true"} 1`,
		`online_status{location="Immenstaad",online="true"} 8`,
		`online_status{location="missing location",online="true"} 1`)
	eventuallyExposed(t, ops, "offline_things", `offline_things{location="Berlin"} 5`)
	// The device without a location gets one: its group vanishes.
	f.send(t, ditto, protocol.GroupThings, protocol.ActionModify, "org.eclipse.ditto:nowhere",
		"/attributes/Info/location", `"Immenstaad"`, nil)
	eventuallyExposed(t, ops, "online_status",
		`online_status{location="Berlin",online="false"} 5`,
		`online_status{location="Berlin",online="true"} 1`,
		`online_status{location="Immenstaad",online="true"} 9`)
	eventuallyExposed(t, ops, "online_things",
		`online_things{hardcoded_tag="hardcoded_value",isGateway="false",location="Berlin"} 1`,
		`online_things{hardcoded_tag="hardcoded_value",isGateway="false",location="Immenstaad"} 6`,
		`online_things{hardcoded_tag="hardcoded_value",isGateway="true",location="Immenstaad"} 3`)
	// With no thing left in a metric's filter, the metric has no series.
	for i := range 5 {
		f.send(t, ditto, protocol.GroupThings, protocol.ActionDelete, fmt.Sprintf("org.eclipse.ditto:berlin-%d", i), "/", "", nil)
	}
	eventuallyExposed(t, ops, "offline_things")
}

// The service's own metrics: the latency of the queries and counts it
// answered, and how long events took to reach the index.
func TestSearchServiceMetrics(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	svc := prometheus.NewRegistry()
	f.startSearch(t, f.searchConfig("a.db"), withRegistries(svc, nil))
	f.put(t, "org.acme:one", `{"attributes":{"color":"red"}}`)
	f.eventuallyIDs(t, ditto, `eq(attributes/color,"red")`, "org.acme:one")
	before := histogramCounts(t, svc)
	f.ids(t, ditto, "", "")
	f.ids(t, ditto, "", "")
	f.count(t, ditto, "")
	// The service observes a latency just after it has answered: wait
	// for the observations, then check there are no more than asked.
	var after map[string]uint64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		after = histogramCounts(t, svc)
		if after[`search_query_seconds{kind="query"}`]-before[`search_query_seconds{kind="query"}`] >= 2 &&
			after[`search_query_seconds{kind="count"}`]-before[`search_query_seconds{kind="count"}`] >= 1 ||
			time.Now().After(deadline) {
			break
		}
	}
	if got := after[`search_query_seconds{kind="query"}`] - before[`search_query_seconds{kind="query"}`]; got != 2 {
		t.Errorf("query latencies observed: %d, want 2", got)
	}
	if got := after[`search_query_seconds{kind="count"}`] - before[`search_query_seconds{kind="count"}`]; got != 1 {
		t.Errorf("count latencies observed: %d, want 1", got)
	}
	// The thing's creation event, applied by the projector, was observed.
	if after["search_index_lag_seconds"] < 1 {
		t.Errorf("index lag observations: %d, want at least 1", after["search_index_lag_seconds"])
	}
	// Stale readings are counted (none here: a test cannot make SQLite
	// hand out an older state; TestViewsHoldEveryEndedCommit counts some).
	if got := exposition(t, svc, "search_index_stale_reads_total"); len(got) != 1 || !strings.HasSuffix(got[0], " 0") {
		t.Errorf("search_index_stale_reads_total: %q, want one series at 0", got)
	}
	// No operator registry: nothing computed, nothing exported.
	if got := exposition(t, svc, "total_things"); len(got) != 0 {
		t.Errorf("total_things on the service registry: %q", got)
	}
}

// histogramCounts returns the sample count of each histogram series, as
// name{labels}.
func histogramCounts(t *testing.T, reg prometheus.Gatherer) map[string]uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]uint64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if m.GetHistogram() == nil {
				continue
			}
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = m.GetHistogram().GetSampleCount()
		}
	}
	return out
}
