package platform

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/streams/streamstest"
)

// scrape reads the process's metrics as Prometheus would.
func scrape(t *testing.T, pl *platform) string { return scrapePath(t, pl, "/metrics") }

// scrapePath reads the process's metrics at path.
func scrapePath(t *testing.T, pl *platform, path string) string {
	t.Helper()
	if pl.p.metricsSrv == nil {
		t.Fatal("no metrics server")
	}
	resp, err := http.Get("http://" + pl.p.metricsSrv.Addr() + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", resp.StatusCode, body)
	}
	return string(body)
}

// sample returns the value of the series named exactly (name with its
// labels in Prometheus's sorted text form), or "" if there is none.
func sample(metrics, series string) string {
	for _, line := range strings.Split(metrics, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

// TestPrometheusMetrics: what a user sees at :9095 after creating,
// reading and changing a thing: the HTTP round trips with Ditto's labels,
// the command round trips, the store operations, the events published,
// the entities in memory and the streaming sessions, each labelled by the
// service of the all-in-one process that counted it.
func TestPrometheusMetrics(t *testing.T) {
	cfg := testConfig(t)
	cfg.Metrics.LiveRefresh = 0
	pl := startPlatform(t, cfg)

	const id = "org.acme.metrics:lamp-1"
	if r := pl.do(t, "ditto", "PUT", "/api/2/things/"+id, `{"attributes":{"on":false}}`, nil); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
	if r := pl.do(t, "ditto", "PUT", "/api/2/things/"+id+"/attributes/on", `true`, nil); r.status != 204 {
		t.Fatalf("modify: %d %s", r.status, r.body)
	}
	for range 3 {
		if r := pl.do(t, "ditto", "GET", "/api/2/things/"+id+"/features/lamp/properties/on", "", nil); r.status != 404 {
			t.Fatalf("retrieve: %d %s", r.status, r.body)
		}
	}

	want := map[string]string{
		`roundtrip_http_seconds_count{ditto_channel="twin",ditto_request_method="PUT",ditto_request_path="/api/2/things/x",ditto_statusCode="201",segment="overall",service="gateway"}`:              "1",
		`roundtrip_http_seconds_count{ditto_channel="twin",ditto_request_method="PUT",ditto_request_path="/api/2/things/x/attributes/x",ditto_statusCode="204",segment="overall",service="gateway"}`: "1",
		`roundtrip_http_seconds_count{ditto_channel="twin",ditto_request_method="GET",ditto_request_path="/api/2/things/x/features/x",ditto_statusCode="404",segment="overall",service="gateway"}`:   "3",
		`command_roundtrip_seconds_count{command="things.commands:modifyThing",outcome="success",service="gateway"}`:                                                                                 "1",
		`command_roundtrip_seconds_count{command="things.commands:modifyAttribute",outcome="success",service="gateway"}`:                                                                             "1",
		`command_roundtrip_seconds_count{command="things.commands:retrieveFeatureProperty",outcome="failure",service="gateway"}`:                                                                     "3",
		`live_entities{namespace="org.acme.metrics",service="things",type="thing"}`:                                                                                                                  "1",
		`mailbox_rejections_total{service="things",type="thing"}`:                                                                                                                                    "0",
		`streaming_sessions_count{service="gateway",type="ws"}`:                                                                                                                                      "0",
		`streaming_sessions_count{service="gateway",type="sse"}`:                                                                                                                                     "0",
		`store_operation_errors_total{collection="things_journal",operation="insert",service="things"}`:                                                                                              "0",
	}
	atLeast := map[string]int{
		`store_operations_total{collection="things_journal",operation="insert",service="things"}`:     2,
		`store_operations_total{collection="policies_journal",operation="insert",service="policies"}`: 1,
		`events_published_total{service="things",type="thing"}`:                                       2,
		`event_publication_lag_seconds_count{service="things",type="thing"}`:                          2,
		`go_goroutines`: 1,
	}
	// Events are published after the answer: poll.
	var m string
	streamstest.Eventually(t, 10*time.Second, func() error {
		m = scrape(t, pl)
		for series, v := range want {
			if got := sample(m, series); got != v {
				return fmt.Errorf("%s = %q, want %s", series, got, v)
			}
		}
		for series, n := range atLeast {
			var got int
			if _, err := fmt.Sscan(sample(m, series), &got); err != nil || got < n {
				return fmt.Errorf("%s = %q, want at least %d", series, sample(m, series), n)
			}
		}
		return nil
	})
	// Ditto's guide scrapes the root path.
	if root := scrapePath(t, pl, "/"); !strings.Contains(root, "roundtrip_http_seconds_count{") {
		t.Error("GET / does not answer the metrics")
	}
	if strings.Contains(m, id) || strings.Contains(m, "lamp-1") {
		t.Error("an entity id appears in a label: label values must stay bounded")
	}
}

// TestMetricsOff: PROMETHEUS_ENABLED=false opens no port, and the platform
// works as before.
func TestMetricsOff(t *testing.T) {
	cfg := testConfig(t)
	cfg.Metrics.Enabled = false
	pl := startPlatform(t, cfg)
	if pl.p.metricsSrv != nil || pl.p.metrics != nil {
		t.Error("metrics served although PROMETHEUS_ENABLED=false")
	}
	if r := pl.do(t, "ditto", "PUT", "/api/2/things/org.acme:off", `{}`, nil); r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.body)
	}
}

// TestMetricsPortTaken: a PROMETHEUS_PORT that is in use is an error at
// start that names the variable.
func TestMetricsPortTaken(t *testing.T) {
	first := startPlatform(t, testConfig(t))
	cfg := testConfig(t)
	_, port, _ := strings.Cut(first.p.metricsSrv.Addr(), ":")
	fmt.Sscan(port, &cfg.Metrics.Port)
	p, err := Start(t.Context(), cfg, All, slog.New(slog.DiscardHandler))
	if err == nil {
		p.stopRunners()
		p.teardown()
		t.Fatal("Start succeeded on a taken PROMETHEUS_PORT")
	}
	if !strings.Contains(err.Error(), "PROMETHEUS_PORT") {
		t.Errorf("error %q does not name PROMETHEUS_PORT", err)
	}
}

// TestStreamingSessionsMetric: streaming_sessions_count follows the open
// WebSocket and SSE sessions.
func TestStreamingSessionsMetric(t *testing.T) {
	pl := startPlatform(t, testConfig(t))
	ws := pl.mustDial(t, "ditto")
	req, err := http.NewRequest("GET", pl.url+"/api/2/things", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("ditto", "ditto")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("SSE: %d", resp.StatusCode)
	}
	want := func(wsN, sseN string) {
		t.Helper()
		streamstest.Eventually(t, 10*time.Second, func() error {
			m := scrape(t, pl)
			if got := sample(m, `streaming_sessions_count{service="gateway",type="ws"}`); got != wsN {
				return fmt.Errorf("ws sessions %q, want %s", got, wsN)
			}
			if got := sample(m, `streaming_sessions_count{service="gateway",type="sse"}`); got != sseN {
				return fmt.Errorf("sse sessions %q, want %s", got, sseN)
			}
			return nil
		})
	}
	want("1", "1")
	resp.Body.Close()
	ws.conn.Close()
	want("0", "0")
}
