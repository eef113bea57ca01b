package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/streams"
)

// A request to every instance answers as soon as every instance NATS
// service discovery knows of has answered, not at its timeout.
func TestDevOpsStopsWhenAllAnswered(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	for _, inst := range []string{"a", "b", "c"} {
		h.serveDevOps(t, streams.ServiceThings, inst)
	}
	h.serveDevOps(t, streams.ServicePolicies, "a")
	h.serveDevOps(t, "search", "a")
	start := time.Now()
	w := h.do(req{method: "GET", target: "/devops/logging", header: devOpsAuthHeader()})
	took := time.Since(start)
	var all map[string]map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &all); err != nil || w.Code != 200 {
		t.Fatalf("GET: %d %s", w.Code, w.Body)
	}
	if len(all["things"]) != 3 || len(all["policies"]) != 1 || len(all["search"]) != 1 {
		t.Errorf("GET: %s", w.Body)
	}
	// The default timeout is 10s; 5 instances answer in milliseconds.
	if took > 2*time.Second {
		t.Errorf("answered after %s", took)
	}
	t.Logf("5 instances answered in %s", took)
}

// Piggyback commands reach the component their selection names on the
// instances the URL and is-group-topic address, and come back as Ditto's
// DevOps route returns them.
func TestPiggybackRoute(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var ran, shutdowns atomic.Int32
	handlers := map[devops.Component]devops.Handler{
		devops.ComponentThings: func(ctx context.Context, p devops.Piggyback) (devops.Answer, bool) {
			if p.Type != "things.commands:retrieveThing" {
				return devops.Answer{}, false
			}
			ran.Add(1)
			return devops.JSONAnswer(200, map[string]any{"type": "things.responses:retrieveThing", "status": 200,
				"thingId": "a:b", "timeout": p.Header("timeout")}), true
		},
		devops.ComponentPubSub: func(ctx context.Context, p devops.Piggyback) (devops.Answer, bool) {
			switch p.Type {
			case "namespaces.commands:blockNamespace":
				return devops.JSONAnswer(200, map[string]any{"type": "namespaces.responses:blockNamespace", "status": 200,
					"namespace": "x", "resourceType": "namespaces"}), true
			case "common.commands:shutdown":
				shutdowns.Add(1)
				return devops.Answer{}, true
			}
			return devops.Answer{}, false
		},
		devops.ComponentDevOps: func(ctx context.Context, p devops.Piggyback) (devops.Answer, bool) {
			var c struct {
				Path string `json:"path"`
			}
			_ = json.Unmarshal(p.Command, &c)
			return devops.JSONAnswer(200, map[string]any{"type": "common.responses:retrieveConfig", "status": 200,
				"config": map[string]any{"path": c.Path}}), true
		},
	}
	for _, inst := range []string{"a", "b"} {
		h.serveDevOpsWith(t, streams.ServiceThings, inst, devops.Options{Handlers: handlers})
	}
	h.serveDevOpsWith(t, streams.ServicePolicies, "a", devops.Options{Handlers: map[devops.Component]devops.Handler{
		devops.ComponentPubSub: handlers[devops.ComponentPubSub]}})
	retrieve := func(headers string) string {
		return `{"targetActorSelection":"/system/sharding/thing","headers":` + headers +
			`,"piggybackCommand":{"type":"things.commands:retrieveThing","thingId":"a:b"}}`
	}
	for _, c := range []struct {
		name, method, target, body string
		code                       int
		want                       string
		runs                       int32
	}{
		{"every things instance, aggregated", "POST", "/devops/piggyback/things?timeout=2s", retrieve(`{}`), 200,
			`{"things":{"a":{"type":"things.responses:retrieveThing","status":200,"thingId":"a:b","timeout":"2000ms"},` +
				`"b":{"type":"things.responses:retrieveThing","status":200,"thingId":"a:b","timeout":"2000ms"}}}`, 2},
		{"one of the group, the first answer", "POST", "/devops/piggyback/things?timeout=2s", retrieve(`{"aggregate":false,"is-group-topic":true,"timeout":"1s"}`), 200,
			`{"type":"things.responses:retrieveThing","status":200,"thingId":"a:b","timeout":"1s"}`, 1},
		{"one instance by URL", "PUT", "/devops/piggyback/things/b?timeout=2s", retrieve(`{"aggregate":true}`), 200,
			`{"things":{"b":{"type":"things.responses:retrieveThing","status":200,"thingId":"a:b","timeout":"2000ms"}}}`, 1},
		{"the mediator, every service that handles it", "PUT", "/devops/piggyback?timeout=2s",
			`{"targetActorSelection":"/system/distributedPubSubMediator","headers":{"aggregate":true,"is-group-topic":true},` +
				`"piggybackCommand":{"type":"namespaces.commands:blockNamespace","namespace":"x"}}`, 200,
			`{"?":{"?":{"type":"namespaces.responses:blockNamespace","status":200,"namespace":"x","resourceType":"namespaces"},` +
				`"?1":{"type":"namespaces.responses:blockNamespace","status":200,"namespace":"x","resourceType":"namespaces"}}}`, 0},
		{"config of one instance", "GET", "/devops/config/things/a?path=ditto.info", "", 200,
			`{"type":"common.responses:retrieveConfig","status":200,"config":{"path":"ditto.info"}}`, 0},
		{"unknown selection", "POST", "/devops/piggyback", `{"targetActorSelection":"/user/x","piggybackCommand":{"type":"a"}}`, 400, "", 0},
		{"no command", "POST", "/devops/piggyback", `{"targetActorSelection":"/system/sharding/thing"}`, 400, "", 0},
		{"not JSON", "POST", "/devops/piggyback", `{`, 400, "", 0},
		{"GET", "GET", "/devops/piggyback", "", 405, "", 0},
		{"bad timeout", "POST", "/devops/piggyback?timeout=x", retrieve(`{}`), 400, "", 0},
	} {
		before := ran.Load()
		w := h.do(req{method: c.method, target: c.target, body: c.body, header: devOpsAuthHeader()})
		if w.Code != c.code || c.want != "" && !jsonSame(w.Body.String(), c.want) {
			t.Errorf("%s: %d %s\nwant %d %s", c.name, w.Code, w.Body, c.code, c.want)
		}
		if got := ran.Load() - before; got != c.runs {
			t.Errorf("%s: the handler ran %d times, want %d", c.name, got, c.runs)
		}
	}
	w := h.do(req{method: "POST", target: "/devops/piggyback", body: `{"targetActorSelection":"/user/x","piggybackCommand":{"type":"a"}}`, header: devOpsAuthHeader()})
	if !strings.Contains(w.Body.String(), "/system/distributedPubSubMediator") {
		t.Errorf("an unknown selection's error does not list the accepted ones: %s", w.Body)
	}
	// config of every instance: keyed by service and instance.
	w = h.do(req{method: "GET", target: "/devops/config", header: devOpsAuthHeader()})
	var all map[string]map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &all); err != nil || w.Code != 200 || len(all["things"]) != 2 {
		t.Errorf("config of all: %d %s", w.Code, w.Body)
	}
	// timeout=0: sent, 408 at once, as the guide's shutdown.
	start := time.Now()
	w = h.do(req{method: "PUT", target: "/devops/piggyback?timeout=0", header: devOpsAuthHeader(),
		body: `{"targetActorSelection":"/system/distributedPubSubMediator","piggybackCommand":{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"x"}}}`})
	if w.Code != 408 || time.Since(start) > time.Second {
		t.Errorf("shutdown: %d %s after %s", w.Code, w.Body, time.Since(start))
	}
	deadline := time.Now().Add(5 * time.Second)
	for shutdowns.Load() != 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := shutdowns.Load(); n != 3 {
		t.Errorf("shutdown reached %d instances, want 3", n)
	}
	// Only the devops user.
	if w := h.do(req{method: "POST", target: "/devops/piggyback/things", body: retrieve(`{"ditto-sudo":true}`)}); w.Code != 401 {
		t.Errorf("the API user: %d %s", w.Code, w.Body)
	}
}

func jsonSame(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// Every search instance holds its own index, so a command for one
// instance of the search service (is-group-topic) reaches each, and the
// answer awaits them all.
func TestPiggybackReplicatedService(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	var ran atomic.Int32
	opts := devops.Options{Replicated: true, Handlers: map[devops.Component]devops.Handler{
		devops.ComponentPubSub: func(ctx context.Context, p devops.Piggyback) (devops.Answer, bool) {
			ran.Add(1)
			return devops.JSONAnswer(200, map[string]any{"type": "namespaces.responses:purgeNamespace", "status": 200,
				"namespace": "x", "resourceType": "thing-search", "successful": true}), true
		}}}
	for _, inst := range []string{"a", "b"} {
		h.serveDevOpsWith(t, "search", inst, opts)
	}
	start := time.Now()
	w := h.do(req{method: "PUT", target: "/devops/piggyback/search", header: devOpsAuthHeader(),
		body: `{"targetActorSelection":"/system/distributedPubSubMediator","headers":{"aggregate":true,"is-group-topic":true},` +
			`"piggybackCommand":{"type":"namespaces.commands:purgeNamespace","namespace":"x"}}`})
	var all map[string]map[string]json.RawMessage
	if err := json.Unmarshal(w.Body.Bytes(), &all); err != nil || w.Code != 200 || len(all["?"]) != 2 {
		t.Errorf("purge on both search instances: %d %s", w.Code, w.Body)
	}
	if n := ran.Load(); n != 2 {
		t.Errorf("ran on %d instances, want 2", n)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("answered after %s: it did not stop when both had answered", d)
	}
}

// With aggregate false the first answer is awaited however long it takes
// within the timeout, not only for discovery's quiet time.
func TestPiggybackFirstAnswerWaits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.serveDevOpsWith(t, streams.ServiceThings, "a", devops.Options{Handlers: map[devops.Component]devops.Handler{
		devops.ComponentPubSub: func(ctx context.Context, p devops.Piggyback) (devops.Answer, bool) {
			time.Sleep(300 * time.Millisecond)
			return devops.JSONAnswer(200, map[string]any{"type": "namespaces.responses:unblockNamespace", "status": 200}), true
		}}})
	w := h.do(req{method: "PUT", target: "/devops/piggyback?timeout=5s", header: devOpsAuthHeader(),
		body: `{"targetActorSelection":"/system/distributedPubSubMediator","headers":{"aggregate":false},` +
			`"piggybackCommand":{"type":"namespaces.commands:unblockNamespace","namespace":"x"}}`})
	if w.Code != 200 || !jsonSame(w.Body.String(), `{"type":"namespaces.responses:unblockNamespace","status":200}`) {
		t.Errorf("slow first answer: %d %s", w.Code, w.Body)
	}
}
