package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/streams"
)

// serveDevOps starts a DevOps responder for service instance on the
// harness's NATS and returns its loggers.
func (h *harness) serveDevOps(t *testing.T, service, instance string) *devops.Registry {
	t.Helper()
	return h.serveDevOpsWith(t, service, instance, devops.Options{})
}

// serveDevOpsWith is serveDevOps with piggyback handlers and checks.
func (h *harness) serveDevOpsWith(t *testing.T, service, instance string, opts devops.Options) *devops.Registry {
	t.Helper()
	reg := devops.NewRegistry(slog.LevelInfo, slog.LevelInfo)
	r, err := devops.Serve(h.srv.Connect(t), streams.New(""), service, instance, reg, slog.New(slog.DiscardHandler), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return reg
}

func devOpsAuthHeader() map[string]string {
	return map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("devops:foobar"))}
}

// Answers of several instances are keyed by service, then instance; a
// PUT reaches every instance addressed and no other.
func TestDevOpsAggregatesInstances(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	thingsA, thingsB := h.serveDevOps(t, streams.ServiceThings, "a"), h.serveDevOps(t, streams.ServiceThings, "b")
	policiesA := h.serveDevOps(t, streams.ServicePolicies, "a")

	w := h.do(req{method: "GET", target: "/devops/logging?timeout=300ms", header: devOpsAuthHeader()})
	var all map[string]map[string]struct {
		Type     string `json:"type"`
		Instance string `json:"instance"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &all); err != nil || w.Code != 200 {
		t.Fatalf("GET all: %d %s", w.Code, w.Body)
	}
	if len(all) != 2 || len(all["things"]) != 2 || all["things"]["b"].Instance != "b" || all["policies"]["a"].Type != devops.TypeRetrieveLoggerConfigResponse {
		t.Errorf("GET all: %s", w.Body)
	}

	w = h.do(req{method: "PUT", target: "/devops/logging/things/?timeout=300ms", body: `{"logger":"ROOT","level":"debug"}`, header: devOpsAuthHeader()})
	var byInstance map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &byInstance); err != nil || w.Code != 200 || len(byInstance) != 2 {
		t.Fatalf("PUT things: %d %s", w.Code, w.Body)
	}
	for name, reg := range map[string]*devops.Registry{"things a": thingsA, "things b": thingsB} {
		if reg.Level(devops.Root) != slog.LevelDebug {
			t.Errorf("%s not changed", name)
		}
	}
	if policiesA.Level(devops.Root) != slog.LevelInfo {
		t.Error("policies changed by a PUT to things")
	}
}

func TestDevOpsBadRequests(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	open := newHarness(t, func(c *Config) { c.DevOpsSecured = false })
	things := h.serveDevOps(t, streams.ServiceThings, "a")
	wrongPassword := map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("devops:nope"))}
	for _, c := range []struct {
		name string
		h    *harness
		r    req
		code int
		body string
	}{
		{"no credentials", h, req{method: "GET", target: "/devops/logging", header: map[string]string{"Authorization": ""}}, 401, textCredentialsMissing},
		{"API user", h, req{method: "GET", target: "/devops/logging"}, 401, textCredentialsInvalid},
		{"API user's config", h, req{method: "GET", target: "/devops/config"}, 401, textCredentialsInvalid},
		{"API user's piggyback", h, req{method: "PUT", target: "/devops/piggyback", body: `{"targetActorSelection":"/system/distributedPubSubMediator","piggybackCommand":{"type":"namespaces.commands:blockNamespace","namespace":"x"}}`}, 401, textCredentialsInvalid},
		{"no credentials for config", h, req{method: "GET", target: "/devops/config", header: map[string]string{"Authorization": ""}}, 401, textCredentialsMissing},
		{"wrong password", h, req{method: "PUT", target: "/devops/logging", body: `{"level":"debug"}`, header: wrongPassword}, 401, textCredentialsInvalid},
		{"unknown level", h, req{method: "PUT", target: "/devops/logging/things/a", body: `{"level":"loud"}`, header: devOpsAuthHeader()}, 400, ""},
		{"malformed", h, req{method: "PUT", target: "/devops/logging/things/a", body: `{"level"`, header: devOpsAuthHeader()}, 400, ""},
		{"bad timeout", h, req{method: "GET", target: "/devops/logging?timeout=soon", header: devOpsAuthHeader()}, 400, ""},
		{"method", h, req{method: "POST", target: "/devops/logging", body: `{}`, header: devOpsAuthHeader()}, 405, ""},
		{"unknown resource", h, req{method: "GET", target: "/devops/nope", header: devOpsAuthHeader()}, 404, string(errorJSON(errRouteNotFound()))},
		{"too deep", h, req{method: "GET", target: "/devops/logging/things/a/b", header: devOpsAuthHeader()}, 404, string(errorJSON(errRouteNotFound()))},
		{"unsecured", open, req{method: "GET", target: "/devops/logging/things?timeout=100ms", header: map[string]string{"Authorization": ""}}, 408, "null"},
	} {
		w := c.h.do(c.r)
		if w.Code != c.code || c.body != "" && w.Body.String() != c.body {
			t.Errorf("%s: %d %s, want %d %s", c.name, w.Code, w.Body, c.code, c.body)
		}
		if c.code == 401 && w.Header().Get("WWW-Authenticate") != `Basic realm="DITTO-DEVOPS",charset=UTF-8` {
			t.Errorf("%s: challenge %q", c.name, w.Header().Get("WWW-Authenticate"))
		}
	}
	if things.Level(devops.Root) != slog.LevelInfo {
		t.Error("a refused request changed a level")
	}
	// No instance subscribes: NATS says so, and the answer needs no timeout.
	start := time.Now()
	if w := h.do(req{method: "GET", target: "/devops/logging/connectivity?timeout=10s", header: devOpsAuthHeader()}); w.Code != 408 || w.Body.String() != "null" {
		t.Errorf("unknown service: %d %s", w.Code, w.Body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("unknown service answered after %s", d)
	}
}
