package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/gateway"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// getStatus sends GET path with basic credentials user:password (none
// when user is empty).
func getStatus(t *testing.T, url, user, password string) reply {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// instanceUp is the health of one instance whose checks are all UP.
func instanceUp(instance string, checks ...string) string {
	children := []string{`{"label":"nats","status":"UP"}`}
	for _, c := range checks {
		children = append(children, `{"label":"`+c+`","status":"UP"}`)
	}
	return `{"label":"` + instance + `","status":"UP","children":[` + strings.Join(children, ",") + `]}`
}

// Every service instance of the all-in-one process answers the overall
// status and health over NATS, in Ditto's shapes; /status and
// /status/health are the gateway instance's own; all of them need the
// devops user.
func TestOverallStatusAndHealth(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Gateway.HealthCheckTimeout = 300 * time.Millisecond
	pl := startPlatform(t, cfg)

	want := `{"label":"roles","status":"UP","children":[` +
		`{"label":"expected-roles","status":"UP","details":[{"INFO":{"missing-roles":[],"extra-roles":[]}}]},` +
		`{"label":"gateway","status":"UP","children":[` + instanceUp("test") + `]},` +
		`{"label":"policies","status":"UP","children":[` + instanceUp("test") + `]},` +
		`{"label":"search","status":"UP","children":[` + instanceUp("test", "search-index") + `]},` +
		`{"label":"things","status":"UP","children":[` + instanceUp("test") + `]}]}`
	// The search index may still be filling when the things service
	// answers; the health says so until it is done.
	streamstest.Eventually(t, 10*time.Second, func() error {
		r := getStatus(t, pl.url+"/overall/status/health", devopsUser, "foobar")
		if r.status != http.StatusOK || r.body != want {
			return fmt.Errorf("GET /overall/status/health: %d %s\nwant 200 %s", r.status, r.body, want)
		}
		return nil
	})

	r := getStatus(t, pl.url+"/overall/status", devopsUser, "status")
	if r.status != http.StatusOK {
		t.Fatalf("GET /overall/status: %d %s", r.status, r.body)
	}
	var st struct {
		Roles map[string]map[string]map[string]any `json:"roles"`
	}
	if err := json.Unmarshal([]byte(r.body), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Roles) != len(All) {
		t.Errorf("GET /overall/status: services %v, want %v: %s", keys(t, string(mustJSON(t, st.Roles))), All, r.body)
	}
	for _, name := range All {
		svc := streams.DevOpsName(name)
		inst := st.Roles[svc]["test"]
		if len(st.Roles[svc]) != 1 || inst["service"] != svc || inst["instance"] != "test" || inst["processor-count"] == nil {
			t.Errorf("GET /overall/status: %s is %v, want instance test alone", svc, st.Roles[svc])
		}
	}

	r = getStatus(t, pl.url+"/status/health", devopsUser, "foobar")
	if want := `{"label":"roles","status":"UP","children":[{"label":"gateway","status":"UP","children":[` + instanceUp("test") + `]}]}`; r.status != 200 || r.body != want {
		t.Errorf("GET /status/health: %d %s, want 200 %s", r.status, r.body, want)
	}
	r = getStatus(t, pl.url+"/status", devopsUser, "foobar")
	if got := strings.Join(keys(t, r.body), ","); r.status != 200 || got != "roles" || !strings.Contains(r.body, `"instance":"test"`) {
		t.Errorf("GET /status: %d %s", r.status, r.body)
	}

	for _, path := range []string{"/status", "/status/health", "/overall/status", "/overall/status/health"} {
		for _, c := range []struct{ user, password string }{{"", ""}, {"ditto", "ditto"}, {devopsUser, "wrong"}} {
			r := getStatus(t, pl.url+path, c.user, c.password)
			if r.status != http.StatusUnauthorized || r.header.Get("WWW-Authenticate") != `Basic realm="DITTO-STATUS",charset=UTF-8` {
				t.Errorf("GET %s as %q: %d %q, want 401 with realm DITTO-STATUS", path, c.user, r.status, r.header.Get("WWW-Authenticate"))
			}
		}
	}
	if r := getStatus(t, pl.url+"/health", "", ""); r.status != 200 || r.body != `{"status":"UP"}` {
		t.Errorf("GET /health: %d %s", r.status, r.body)
	}
}

// A process of a search and a gateway instance whose things service is
// not running: the search index cannot be filled, so the search instance
// is DOWN, and the things and policies services do not answer at all.
// The overall health is DOWN (503) and says why; the gateway's own health
// and /health stay UP.
func TestOverallHealthDown(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	cfg := testConfig(t)
	cfg.Infra.NATSURL = srv.ClientURL()
	cfg.Gateway.HealthCheckTimeout = 300 * time.Millisecond
	cfg.Gateway.StatusSecured = false
	// The things stream the search instance follows, as a things
	// instance that ran before would have left it.
	_, js := srv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := streams.Ensure(ctx, js, streams.New(cfg.SubjectPrefix), streams.Config{Replicas: cfg.StreamReplicas,
		EventsMaxAge: cfg.EventsMaxAge, EventsMaxBytes: cfg.EventsMaxBytes, LeaseTTL: cfg.LeaseTTL,
		DuplicateWindow: cfg.EventsDupWindow}, streams.ServiceThings); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	p, err := Start(runCtx, cfg, []string{Search, Gateway}, slog.New(slog.DiscardHandler))
	if err != nil {
		stop()
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- p.Wait(runCtx) }()
	hs := httptest.NewServer(p.runners[Gateway].(*gateway.Gateway).Handler())
	t.Cleanup(func() {
		hs.Close()
		stop()
		if err := <-done; err != nil {
			t.Errorf("process stopped with %v", err)
		}
	})

	want := `{"label":"roles","status":"DOWN","details":[{"ERROR":"See detailed messages for: expected-roles, search."}],"children":[` +
		`{"label":"expected-roles","status":"DOWN","details":[{"ERROR":{"missing-roles":["policies","things"],"extra-roles":[]}}]},` +
		`{"label":"gateway","status":"UP","children":[` + instanceUp("test") + `]},` +
		`{"label":"search","status":"DOWN","details":[{"ERROR":"See detailed messages for: test."}],"children":[` +
		`{"label":"test","status":"DOWN","details":[{"ERROR":"See detailed messages for: search-index."}],"children":[{"label":"nats","status":"UP"},` +
		`{"label":"search-index","status":"DOWN","details":[{"ERROR":"no query is answered yet: the index is starting or being filled from the things service"}]}]}]}]}`
	r := getStatus(t, hs.URL+"/overall/status/health", "", "")
	if r.status != http.StatusServiceUnavailable || r.body != want {
		t.Errorf("GET /overall/status/health:\n got %d %s\nwant 503 %s", r.status, r.body, want)
	}
	r = getStatus(t, hs.URL+"/overall/status", "", "")
	if got := strings.Join(keys(t, string(mustField(t, r.body, "roles"))), ","); r.status != 200 || got != "gateway,search" {
		t.Errorf("GET /overall/status: %d %s, want the gateway and search", r.status, r.body)
	}
	for _, path := range []string{"/status/health", "/health"} {
		if r := getStatus(t, hs.URL+path, "", ""); r.status != http.StatusOK {
			t.Errorf("GET %s: %d %s, want 200", path, r.status, r.body)
		}
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// mustField returns the field name of the JSON object body.
func mustField(t *testing.T, body, name string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	return m[name]
}
