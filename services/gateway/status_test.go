package gateway

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/streams"
)

// The overall status gathers what the service instances answer on their
// DevOps subjects: here one things instance, over real NATS, and no other
// service, so that the overall health is DOWN for the missing ones unless
// HEALTH_CHECK_ROLES_ENABLED=false.
func TestOverallStatus(t *testing.T) {
	t.Parallel()
	fast := func(c *Config) { c.HealthCheckTimeout = 300 * time.Millisecond }
	h := newHarness(t, fast)
	lenient := newHarness(t, func(c *Config) { fast(c); c.HealthCheckRolesEnabled = false; c.StatusSecured = false })
	for _, hh := range []*harness{h, lenient} {
		hh.serveDevOps(t, streams.ServiceThings, "t-1")
	}
	auth := map[string]string{"Authorization": "Basic " + enc("devops:status")}

	w := h.do(req{method: "GET", target: "/overall/status/health", header: auth})
	if w.Code != http.StatusServiceUnavailable {
		t.Fatalf("health with services missing: %d %s, want 503", w.Code, w.Body)
	}
	want := `{"label":"roles","status":"DOWN","details":[{"ERROR":"See detailed messages for: expected-roles."}],"children":[` +
		`{"label":"expected-roles","status":"DOWN","details":[{"ERROR":{"missing-roles":["gateway","policies","search"],"extra-roles":[]}}]},` +
		`{"label":"things","status":"UP","children":[{"label":"t-1","status":"UP","children":[{"label":"nats","status":"UP"}]}]}]}`
	if w.Body.String() != want {
		t.Errorf("health with services missing:\n got %s\nwant %s", w.Body, want)
	}

	w = lenient.do(req{method: "GET", target: "/overall/status/health", header: map[string]string{"Authorization": ""}})
	want = `{"label":"roles","status":"UP","children":[{"label":"things","status":"UP","children":[{"label":"t-1","status":"UP","children":[{"label":"nats","status":"UP"}]}]}]}`
	if w.Code != http.StatusOK || w.Body.String() != want {
		t.Errorf("health without expected roles: %d %s, want 200 %s", w.Code, w.Body, want)
	}

	w = h.do(req{method: "GET", target: "/overall/status", header: auth})
	var st struct {
		Roles map[string]map[string]map[string]any `json:"roles"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &st); err != nil || w.Code != http.StatusOK {
		t.Fatalf("status: %d %s (%v)", w.Code, w.Body, err)
	}
	if len(st.Roles) != 1 || len(st.Roles["things"]) != 1 || st.Roles["things"]["t-1"]["service"] != "things" ||
		st.Roles["things"]["t-1"]["instance"] != "t-1" {
		t.Errorf("status: %s, want roles.things.t-1 alone", w.Body)
	}

	// The gateway's own /status/health: its instance with its NATS
	// connection, DOWN once that is closed.
	w = h.do(req{method: "GET", target: "/status/health", header: auth})
	if w.Code != http.StatusOK || w.Body.String() != `{"label":"roles","status":"UP","children":[{"label":"gateway","status":"UP","children":[`+
		`{"label":"`+h.gw.instance+`","status":"UP","children":[{"label":"nats","status":"UP"}]}]}]}` {
		t.Errorf("own health: %d %s", w.Code, w.Body)
	}

	for _, target := range []string{"/overall/status", "/overall/status/health", "/status/health"} {
		w := h.do(req{method: "GET", target: target, header: map[string]string{"Authorization": ""}})
		if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != `Basic realm="DITTO-STATUS",charset=UTF-8` {
			t.Errorf("%s without credentials: %d %q", target, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
}

// Without NATS the gateway's own health is DOWN, and the overall health
// too: nobody can be asked.
func TestStatusWithoutNATS(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.StatusSecured = false })
	h.client.Close()
	for _, target := range []string{"/status/health", "/overall/status/health"} {
		w := h.do(req{method: "GET", target: target})
		var got devops.StatusInfo
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil || w.Code != http.StatusServiceUnavailable || got.Status != devops.StatusDown {
			t.Errorf("%s: %d %s, want 503 DOWN", target, w.Code, w.Body)
		}
	}
}
