package platform

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// The metrics the platform exports, as the dashboard may query them:
// histograms (with their _bucket, _count and _sum series), counters and
// gauges, and total_things, the operator-defined search gauge the
// dashboard shows. go_* and process_* come from the Go collectors.
var (
	dashboardHistograms = []string{"roundtrip_http_seconds", "command_roundtrip_seconds", "store_operation_seconds",
		"event_publication_lag_seconds", "search_query_seconds", "search_index_lag_seconds"}
	dashboardSeries = []string{"store_operations_total", "events_published_total", "mailbox_rejections_total",
		"live_entities", "streaming_sessions_count", "total_things"}
)

// repoFile reads a file of the repository root.
func repoFile(t *testing.T, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// monitoringCompose is what the monitoring tests read of compose.yaml.
type monitoringCompose struct {
	Services map[string]struct {
		Build       any               `yaml:"build"`
		Profiles    []string          `yaml:"profiles"`
		Environment map[string]string `yaml:"environment"`
		Volumes     []string          `yaml:"volumes"`
		Ports       []string          `yaml:"ports"`
	} `yaml:"services"`
	Volumes map[string]any `yaml:"volumes"`
}

func readCompose(t *testing.T) monitoringCompose {
	t.Helper()
	var c monitoringCompose
	if err := yaml.Unmarshal(repoFile(t, "compose.yaml"), &c); err != nil {
		t.Fatal(err)
	}
	return c
}

// mountOf returns the container path service mounts source at.
func (c monitoringCompose) mountOf(service, source string) string {
	for _, v := range c.Services[service].Volumes {
		if src, dst, ok := strings.Cut(v, ":"); ok && src == source {
			dst, _, _ = strings.Cut(dst, ":")
			return dst
		}
	}
	return ""
}

// The monitoring services start only with --profile monitoring, so that
// `docker compose up` starts what it did; every file they mount from
// deploy/ exists, and the collector takes OTLP gRPC on 4317 into the
// debug exporter.
func TestDeployComposeMonitoringProfile(t *testing.T) {
	t.Parallel()
	c := readCompose(t)
	monitoring := []string{"prometheus", "grafana", "otel-collector"}
	for name, svc := range c.Services {
		switch {
		case slices.Contains(monitoring, name):
			if !slices.Equal(svc.Profiles, []string{"monitoring"}) {
				t.Errorf("compose.yaml: %s has profiles %v, want [monitoring]", name, svc.Profiles)
			}
		case len(svc.Profiles) > 0:
			t.Errorf("compose.yaml: %s has profiles %v: docker compose up would no longer start it", name, svc.Profiles)
		}
		for _, v := range svc.Volumes {
			src, _, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, "./") {
				if _, ok := c.Volumes[src]; !ok {
					t.Errorf("compose.yaml: %s mounts volume %s, which is not declared", name, src)
				}
				continue
			}
			if _, err := os.Stat(filepath.Join("..", "..", "..", filepath.FromSlash(src))); err != nil {
				t.Errorf("compose.yaml: %s mounts %s: %v", name, src, err)
			}
		}
	}
	for _, name := range monitoring {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("compose.yaml: no service %s", name)
		}
	}
	if got := c.mountOf("prometheus", "./deploy/prometheus/prometheus.yml"); got != "/etc/prometheus/prometheus.yml" {
		t.Errorf("prometheus mounts its configuration at %q", got)
	}
	if got := c.mountOf("grafana", "./deploy/grafana/provisioning"); got != "/etc/grafana/provisioning" {
		t.Errorf("grafana mounts its provisioning at %q", got)
	}
	if !slices.Contains(c.Services["otel-collector"].Ports, "4317:4317") {
		t.Errorf("otel-collector ports %v, want 4317:4317", c.Services["otel-collector"].Ports)
	}

	var otel struct {
		Receivers struct {
			OTLP struct {
				Protocols struct {
					GRPC struct {
						Endpoint string `yaml:"endpoint"`
					} `yaml:"grpc"`
				} `yaml:"protocols"`
			} `yaml:"otlp"`
		} `yaml:"receivers"`
		Exporters map[string]any `yaml:"exporters"`
		Service   struct {
			Pipelines map[string]struct {
				Receivers []string `yaml:"receivers"`
				Exporters []string `yaml:"exporters"`
			} `yaml:"pipelines"`
		} `yaml:"service"`
	}
	if err := yaml.Unmarshal(repoFile(t, "deploy/otel-collector.yaml"), &otel); err != nil {
		t.Fatal(err)
	}
	if _, port, _ := net.SplitHostPort(otel.Receivers.OTLP.Protocols.GRPC.Endpoint); port != "4317" {
		t.Errorf("otel collector receives OTLP gRPC on %q, want port 4317", otel.Receivers.OTLP.Protocols.GRPC.Endpoint)
	}
	traces := otel.Service.Pipelines["traces"]
	if _, ok := otel.Exporters["debug"]; !ok || !slices.Contains(traces.Receivers, "otlp") || !slices.Contains(traces.Exporters, "debug") {
		t.Errorf("otel collector traces pipeline %+v, exporters %v: want otlp into debug", traces, otel.Exporters)
	}
}

// Prometheus scrapes every platform container of compose.yaml on its
// metrics port, each replica found through Docker's DNS.
func TestDeployPrometheusScrapesEveryService(t *testing.T) {
	t.Parallel()
	var prom struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
		ScrapeConfigs []struct {
			JobName      string `yaml:"job_name"`
			MetricsPath  string `yaml:"metrics_path"`
			DNSSDConfigs []struct {
				Names []string `yaml:"names"`
				Type  string   `yaml:"type"`
				Port  int      `yaml:"port"`
			} `yaml:"dns_sd_configs"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(repoFile(t, "deploy/prometheus/prometheus.yml"), &prom); err != nil {
		t.Fatalf("deploy/prometheus/prometheus.yml: %v", err)
	}
	scraped := map[string]bool{} // host:port
	jobs := map[string]bool{}
	for _, sc := range prom.ScrapeConfigs {
		if jobs[sc.JobName] {
			t.Errorf("job %s twice", sc.JobName)
		}
		jobs[sc.JobName] = true
		if sc.MetricsPath != "" && sc.MetricsPath != "/metrics" {
			t.Errorf("job %s scrapes %s, want /metrics", sc.JobName, sc.MetricsPath)
		}
		for _, d := range sc.DNSSDConfigs {
			if d.Type != "A" {
				t.Errorf("job %s: dns_sd type %q, want A (compose's service names)", sc.JobName, d.Type)
			}
			for _, n := range d.Names {
				scraped[net.JoinHostPort(n, strconv.Itoa(d.Port))] = true
			}
		}
		for _, s := range sc.StaticConfigs {
			for _, target := range s.Targets {
				scraped[target] = true
			}
		}
	}
	cfg, err := LoadEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := readCompose(t)
	platform := 0
	for name, svc := range c.Services {
		if svc.Build == nil {
			continue // third-party images: no /metrics of theirs
		}
		platform++
		port := strconv.Itoa(cfg.Metrics.Port)
		if p, ok := svc.Environment["PROMETHEUS_PORT"]; ok {
			port = p
		}
		if !scraped[net.JoinHostPort(name, port)] {
			t.Errorf("prometheus.yml does not scrape compose service %s on %s", name, port)
		}
	}
	if platform < 4 {
		t.Errorf("only %d platform services in compose.yaml", platform)
	}
}

// The dashboard is Grafana JSON over the provisioned Prometheus, queries
// only metrics the platform exports, and shows every one of them.
func TestDeployGrafanaDashboard(t *testing.T) {
	t.Parallel()
	var dash struct {
		UID           string `json:"uid"`
		Title         string `json:"title"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			ID         int    `json:"id"`
			Type       string `json:"type"`
			Title      string `json:"title"`
			Datasource *struct {
				Type string `json:"type"`
				UID  string `json:"uid"`
			} `json:"datasource"`
			GridPos struct{ H, W, X, Y int } `json:"gridPos"`
			Targets []struct {
				Expr  string `json:"expr"`
				RefID string `json:"refId"`
			} `json:"targets"`
		} `json:"panels"`
	}
	dec := json.NewDecoder(strings.NewReader(string(repoFile(t, "deploy/grafana/dashboards/ditto.json"))))
	if err := dec.Decode(&dash); err != nil {
		t.Fatalf("ditto.json: %v", err)
	}
	if dash.UID == "" || dash.Title != "Ditto on NATS" || dash.SchemaVersion < 36 || dash.SchemaVersion > 41 {
		t.Errorf("dashboard uid %q title %q schemaVersion %d", dash.UID, dash.Title, dash.SchemaVersion)
	}

	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
			URL  string `yaml:"url"`
		} `yaml:"datasources"`
	}
	if err := yaml.Unmarshal(repoFile(t, "deploy/grafana/provisioning/datasources/prometheus.yaml"), &ds); err != nil {
		t.Fatal(err)
	}
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" {
		t.Fatalf("datasources %+v, want the compose prometheus", ds.Datasources)
	}
	var provider struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	if err := yaml.Unmarshal(repoFile(t, "deploy/grafana/provisioning/dashboards/ditto.yaml"), &provider); err != nil {
		t.Fatal(err)
	}
	if mount := readCompose(t).mountOf("grafana", "./deploy/grafana/dashboards"); len(provider.Providers) != 1 || provider.Providers[0].Options.Path != mount {
		t.Errorf("dashboard provider %+v, want the path grafana mounts deploy/grafana/dashboards at (%q)", provider.Providers, mount)
	}

	ids := map[int]bool{}
	queried := map[string]bool{}
	var cells [][4]int
	for _, p := range dash.Panels {
		if ids[p.ID] {
			t.Errorf("panel id %d twice", p.ID)
		}
		ids[p.ID] = true
		g := p.GridPos
		if g.W < 1 || g.H < 1 || g.X < 0 || g.X+g.W > 24 {
			t.Errorf("panel %q: gridPos %+v", p.Title, g)
		}
		for _, o := range cells {
			if g.X < o[0]+o[2] && o[0] < g.X+g.W && g.Y < o[1]+o[3] && o[1] < g.Y+g.H {
				t.Errorf("panel %q at %+v overlaps another", p.Title, g)
			}
		}
		cells = append(cells, [4]int{g.X, g.Y, g.W, g.H})
		if p.Type == "row" {
			continue
		}
		if p.Datasource == nil || p.Datasource.UID != ds.Datasources[0].UID || len(p.Targets) == 0 {
			t.Errorf("panel %q: datasource %+v, %d targets; want the provisioned %q", p.Title, p.Datasource, len(p.Targets), ds.Datasources[0].UID)
		}
		for _, target := range p.Targets {
			names := promQLMetrics(target.Expr)
			if len(names) == 0 {
				t.Errorf("panel %q: %q queries no metric", p.Title, target.Expr)
			}
			for _, n := range names {
				base, ok := exportedMetric(n)
				if !ok {
					t.Errorf("panel %q queries %s, which the platform does not export", p.Title, n)
				}
				queried[base] = true
			}
		}
	}
	for _, m := range append(slices.Clone(dashboardHistograms), dashboardSeries...) {
		if !queried[m] {
			t.Errorf("no panel shows %s", m)
		}
	}
	if !queried["go_*"] || !queried["process_*"] {
		t.Error("no panel shows the Go runtime's or the process's metrics")
	}
}

// exportedMetric returns the metric name n is a series of (a histogram's
// for its _bucket, _count and _sum; go_* and process_* as such), and
// whether the platform exports it.
func exportedMetric(n string) (string, bool) {
	for _, prefix := range []string{"go_", "process_"} {
		if strings.HasPrefix(n, prefix) {
			return prefix + "*", true
		}
	}
	for _, suffix := range []string{"_bucket", "_count", "_sum"} {
		if base, ok := strings.CutSuffix(n, suffix); ok && slices.Contains(dashboardHistograms, base) {
			return base, true
		}
	}
	return n, slices.Contains(dashboardSeries, n)
}

var (
	promQLStrings   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promQLBraces    = regexp.MustCompile(`\{[^}]*\}|\[[^\]]*\]`)
	promQLGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promQLNames     = regexp.MustCompile(`[a-zA-Z_:][\w:]*`)
	promQLOperators = []string{"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless", "offset"}
)

// promQLMetrics returns the metric names expr selects: the identifiers
// left once strings, label matchers, ranges and grouping labels are gone
// that are neither functions, aggregations nor keywords.
func promQLMetrics(expr string) []string {
	expr = promQLStrings.ReplaceAllString(expr, `""`)
	expr = promQLBraces.ReplaceAllString(expr, " ")
	expr = promQLGrouping.ReplaceAllString(expr, " ")
	var names []string
	for _, m := range promQLNames.FindAllStringIndex(expr, -1) {
		name, before, after := expr[m[0]:m[1]], byte(' '), strings.TrimSpace(expr[m[1]:])
		if m[0] > 0 {
			before = expr[m[0]-1]
		}
		// Part of a number (1e3) or a variable ($service), a function or
		// an aggregation, or a keyword.
		if before == '$' || before == '.' || before >= '0' && before <= '9' || strings.HasPrefix(after, "(") ||
			slices.Contains(promQLOperators, name) {
			continue
		}
		names = append(names, name)
	}
	return names
}

// The PromQL reading of the dashboard test finds the metrics and only
// them.
func TestPromQLMetrics(t *testing.T) {
	t.Parallel()
	for expr, want := range map[string][]string{
		`histogram_quantile(0.99, sum by (le, command) (rate(command_roundtrip_seconds_bucket{service=~"$service", x="a{b}"}[$__rate_interval])))`: {"command_roundtrip_seconds_bucket"},
		`sum by (job, instance) (go_goroutines)`:                              {"go_goroutines"},
		`sum(total_things{service=~"$service"}) / on (service) group_left up`: {"total_things", "up"},
		`rate(a_total[5m]) > bool 0.5 * 1e3`:                                  {"a_total"},
	} {
		if got := promQLMetrics(expr); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", expr, got, want)
		}
	}
}
