package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

// never is a responder that does not answer.
func never(protocol.Envelope) (protocol.Envelope, bool) { return protocol.Envelope{}, false }

// newGatewayOn returns a gateway on srv using the subject prefix, for tests
// that need their own responders.
func newGatewayOn(t *testing.T, h *harness, prefix string) *Gateway {
	t.Helper()
	cfg := h.gw.cfg
	gw, err := New(cfg, Deps{NC: h.client, Names: streams.New(prefix)})
	if err != nil {
		t.Fatal(err)
	}
	return gw
}

func TestFireAndForget(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.setReply(never)
	tests := []struct {
		name string
		req  req
	}{
		{"response-required=false", req{method: "GET", target: thingURL + "?response-required=false"}},
		{"header response-required", req{method: "PUT", target: thingURL + "/attributes/a", body: "1",
			header: map[string]string{"Response-Required": "false"}}},
		{"zero timeout", req{method: "DELETE", target: thingURL + "?timeout=0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			w := h.do(tt.req)
			if w.Code != http.StatusAccepted {
				t.Fatalf("status: got %d, want 202; body %s", w.Code, w.Body)
			}
			if w.Body.Len() != 0 {
				t.Errorf("body: got %q, want none", w.Body)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("answered after %s, want at once", d)
			}
			c := h.waitCommands(1)[0]
			if c.reply != "" {
				t.Errorf("command has reply subject %q, want none", c.reply)
			}
		})
	}
}

// TestAcksWithoutResponse checks response-required=false with requested
// acknowledgements: the gateway waits for the outcome, then answers 202.
func TestAcksWithoutResponse(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	w := h.do(req{method: "PUT", target: thingURL + "/attributes/a?response-required=false&requested-acks=twin-persisted", body: "1"})
	if w.Code != http.StatusAccepted {
		t.Fatalf("status: got %d, want 202; body %s", w.Code, w.Body)
	}
	if c := h.waitCommands(1)[0]; c.reply == "" {
		t.Error("command has no reply subject, want a request")
	}
}

func TestCommandTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.setReply(never)
	w := h.do(req{method: "GET", target: thingURL + "?timeout=150ms"})
	if w.Code != http.StatusRequestTimeout {
		t.Fatalf("status: got %d, want 408; body %s", w.Code, w.Body)
	}
	var e protocol.Error
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		t.Fatal(err)
	}
	if e.Code != protocol.CodeCommandTimeout || e.Message != "The Command reached the specified timeout of 150ms." {
		t.Errorf("error: got %s %q", e.Code, e.Message)
	}
}

// TestNoResponders checks that a command nobody serves is retried until
// its timeout and then answered with Ditto's service-unavailable error.
func TestNoResponders(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	gw := newGatewayOn(t, h, "nobody")
	start := time.Now()
	w := serve(gw, newRequest("GET", thingURL+"?timeout=1s", ""))
	if w.Code != http.StatusServiceUnavailable || errorCode(t, w) != protocol.CodeGatewayServiceUnavailable {
		t.Fatalf("got %d %s, want 503 %s", w.Code, w.Body, protocol.CodeGatewayServiceUnavailable)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("gave up after %s, want retries until the 1s timeout", d)
	}
}

// TestRetryUntilServed checks that the gateway retries while the shard's
// owner answers "not serving" (as a moving owner does) and delivers the
// command once an owner serves it.
func TestRetryUntilServed(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	gw := newGatewayOn(t, h, "retry")
	owner := h.srv.Connect(t)
	var mu sync.Mutex
	attempts := 0
	_, err := owner.Subscribe("retry.things.commands.*", func(m *nats.Msg) {
		mu.Lock()
		attempts++
		n := attempts
		mu.Unlock()
		if n <= 3 {
			nack := nats.NewMsg(m.Reply)
			nack.Header.Set("Status", "503")
			_ = owner.PublishMsg(nack)
			return
		}
		env, _ := protocol.DecodeEnvelope(m.Data)
		out, _ := defaultReply(env)
		data, _ := out.Encode()
		_ = m.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Flush(); err != nil {
		t.Fatal(err)
	}
	w := serve(gw, newRequest("GET", thingURL+"?timeout=10s", ""))
	if w.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200; body %s", w.Code, w.Body)
	}
	mu.Lock()
	defer mu.Unlock()
	if attempts != 4 {
		t.Errorf("attempts: got %d, want 4", attempts)
	}
}

// TestRetrieveThings checks GET /things?ids=: concurrent retrieves, the
// requested order whatever order the replies come in, missing things left
// out, fields passed on.
func TestRetrieveThings(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	gw := newGatewayOn(t, h, "batch")
	ids := []string{"a:t1", "a:t2", "a:t3", "a:t4"}
	owner := h.srv.Connect(t)
	var mu sync.Mutex
	var held []*nats.Msg
	fields := make(map[string]string)
	// Hold every command until all arrived, then answer in reverse id
	// order, which proves the retrieves ran concurrently and the result
	// order is the requested one.
	_, err := owner.Subscribe("batch.things.commands.*", func(m *nats.Msg) {
		mu.Lock()
		defer mu.Unlock()
		held = append(held, m)
		if len(held) < len(ids) {
			return
		}
		for i := len(ids) - 1; i >= 0; i-- {
			for _, hm := range held {
				env, _ := protocol.DecodeEnvelope(hm.Data)
				tp, _ := protocol.ParseTopic(env.Topic)
				if tp.EntityID() != ids[i] {
					continue
				}
				fields[tp.EntityID()] = env.Fields
				var out protocol.Envelope
				if ids[i] == "a:t2" {
					out = protocol.ErrorEnvelope(tp, nil, "/", protocol.ErrThingNotAccessible("a:t2"))
				} else {
					out, _ = defaultReply(env)
				}
				data, _ := out.Encode()
				_ = hm.Respond(data)
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := owner.Flush(); err != nil {
		t.Fatal(err)
	}
	w := serve(gw, newRequest("GET", "/api/2/things?ids=a:t1,a:t2&ids=a:t3,a:t4&fields=thingId&correlation-id=b-1", ""))
	if w.Code != http.StatusOK {
		t.Fatalf("status: got %d, want 200; body %s", w.Code, w.Body)
	}
	want := `[{"thingId":"a:t1"},{"thingId":"a:t3"},{"thingId":"a:t4"}]`
	if w.Body.String() != want {
		t.Errorf("body: got %s, want %s", w.Body, want)
	}
	if g := header(w, "correlation-id"); g != "b-1" {
		t.Errorf("correlation-id: got %q, want %q", g, "b-1")
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range ids {
		if fields[id] != "thingId" {
			t.Errorf("fields of %s: got %q, want %q", id, fields[id], "thingId")
		}
	}
}

// TestRetrieveThingsUnavailable checks that a thing the services cannot
// answer for fails the whole request instead of silently missing. The
// timeout leaves room for the no-responders answer on a loaded machine:
// with 100ms the first request itself could time out (408) in CI.
func TestRetrieveThingsUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	gw := newGatewayOn(t, h, "nobody")
	w := serve(gw, newRequest("GET", "/api/2/things?ids=a:t1&timeout=2s", ""))
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status: got %d, want 503; body %s", w.Code, w.Body)
	}
}

func TestCreate(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := []struct {
		name     string
		target   string
		body     string
		group    string
		idPrefix string
		valueEnd string // the value after the generated id member
	}{
		{"thing in default namespace", "/api/2/things", `{"attributes":{"a":1}}`, "things", "org.eclipse.ditto:", `,"attributes":{"a":1}}`},
		{"thing in given namespace", "/api/2/things/?namespace=my.ns", `{}`, "things", "my.ns:", `}`},
		{"thing with empty namespace parameter", "/api/2/things?namespace=", ` { } `, "things", "org.eclipse.ditto:", `}`},
		{"policy", "/api/2/policies", `{"entries":{}}`, "policies", "org.eclipse.ditto:", `,"entries":{}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(req{method: "POST", target: tt.target, body: tt.body})
			if w.Code != http.StatusCreated {
				t.Fatalf("status: got %d, want 201; body %s", w.Code, w.Body)
			}
			c := h.waitCommands(1)[0]
			tp, err := protocol.ParseTopic(c.env.Topic)
			if err != nil {
				t.Fatal(err)
			}
			id := tp.EntityID()
			if tp.Group != tt.group || tp.Action != protocol.ActionCreate || c.env.Path != "/" {
				t.Errorf("command: got %s %s, want %s create /", c.env.Topic, c.env.Path, tt.group)
			}
			if !strings.HasPrefix(id, tt.idPrefix) || len(id) != len(tt.idPrefix)+36 {
				t.Errorf("id: got %q, want %q and a UUID", id, tt.idPrefix)
			}
			idField := "thingId"
			if tt.group == "policies" {
				idField = "policyId"
			}
			if want := `{"` + idField + `":"` + id + `"` + tt.valueEnd; string(c.env.Value) != want {
				t.Errorf("value: got %s, want %s", c.env.Value, want)
			}
			if g, want := w.Header().Get("Location"), "http://gw.example:8080/api/2/"+tt.group+"/"+id; g != want {
				t.Errorf("Location: got %q, want %q", g, want)
			}
			if g := c.header.Get(streams.HeaderEntity); g != id {
				t.Errorf("%s: got %q, want %q", streams.HeaderEntity, g, id)
			}
		})
	}
}

func TestSizeLimits(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		c.Limits.ThingsMaxSize = 1024
		c.Limits.PoliciesMaxSize = 2048
	})
	// 0 is no limit; a limit above what one NATS message carries (8 MiB
	// in the test server) is that much.
	unlimited := newHarness(t, func(c *Config) {
		c.Limits.ThingsMaxSize = 0
		c.Limits.PoliciesMaxSize = 64 << 20
	})
	big := func(n int) string { return `"` + strings.Repeat("x", n-2) + `"` }
	tests := []struct {
		name      string
		unlimited bool
		method    string
		target    string
		body      string
		chunked   bool
		status    int
		code      string
		message   string
	}{
		{name: "thing body over the limit", method: "PUT", target: thingURL + "/attributes/a", body: big(2000),
			status: 413, code: protocol.CodeThingTooLarge,
			message: "The size of '1.953' kB exceeds the maximal allowed Thing size of '1' kB."},
		{name: "chunked thing body over the limit", method: "PUT", target: thingURL + "/attributes/a", body: big(5000), chunked: true,
			status: 413, code: protocol.CodeThingTooLarge},
		{name: "POST thing over the limit", method: "POST", target: "/api/2/things", body: `{"a":` + big(2000) + `}`,
			status: 413, code: protocol.CodeThingTooLarge},
		{name: "thing body at the limit", method: "PUT", target: thingURL + "/attributes/a", body: big(1024), status: 204},
		{name: "policy body over its limit", method: "PUT", target: polURL + "/entries", body: `{"a":` + big(2100) + `}`,
			status: 413, code: protocol.CodePolicyTooLarge},
		{name: "policy body within its limit", method: "PUT", target: polURL + "/entries/E/subjects/s", body: `{"a":` + big(1500) + `}`, status: 204},
		{name: "no limit", unlimited: true, method: "PUT", target: thingURL + "/attributes/a", body: big(2 << 20), status: 204},
		{name: "no limit, chunked", unlimited: true, method: "PUT", target: thingURL + "/attributes/a", body: big(2 << 20), chunked: true, status: 204},
		{name: "no limit, body NATS cannot carry", unlimited: true, method: "PUT", target: thingURL + "/attributes/a", body: big(9 << 20),
			status: 413, code: protocol.CodeThingTooLarge,
			message: "The size of '9,216' kB exceeds the maximal allowed Thing size of '7,936' kB."},
		{name: "no limit, chunked body NATS cannot carry", unlimited: true, method: "POST", target: "/api/2/things", body: `{"a":` + big(9<<20) + `}`, chunked: true,
			status: 413, code: protocol.CodeThingTooLarge},
		{name: "limit above what NATS carries", unlimited: true, method: "PUT", target: polURL, body: `{"a":` + big(9<<20) + `}`,
			status: 413, code: protocol.CodePolicyTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := h
			if tt.unlimited {
				h = unlimited
			}
			r := newRequest(tt.method, tt.target, "")
			r.Body = io.NopCloser(strings.NewReader(tt.body))
			r.ContentLength = int64(len(tt.body))
			if tt.chunked {
				r.ContentLength = -1
			}
			r.Header.Set("Content-Type", "application/json")
			w := serve(h.gw, r)
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.code == "" {
				h.waitCommands(1)
				return
			}
			var e protocol.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if e.Code != tt.code {
				t.Errorf("error: got %q, want %q", e.Code, tt.code)
			}
			if tt.message != "" && e.Message != tt.message {
				t.Errorf("message: got %q, want %q", e.Message, tt.message)
			}
			if got := h.commands(); len(got) != 0 {
				t.Errorf("sent %d commands, want none", len(got))
			}
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	on := newHarness(t, nil)
	off := newHarness(t, func(c *Config) { c.EnableCORS = false })
	const origin = "https://eclipse-ditto.github.io"

	t.Run("preflight without credentials", func(t *testing.T) {
		r := newRequest("OPTIONS", thingURL, "")
		r.Header.Del("Authorization")
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "PUT")
		r.Header.Set("Access-Control-Request-Headers", "authorization, content-type, if-match")
		w := serve(on.gw, r)
		if w.Code != http.StatusNoContent {
			t.Fatalf("status: got %d, want 204", w.Code)
		}
		want := map[string]string{
			"Access-Control-Allow-Origin":      origin,
			"Access-Control-Allow-Methods":     corsAllowMethods,
			"Access-Control-Allow-Credentials": "true",
			"Access-Control-Allow-Headers":     "authorization, content-type, if-match",
			"Access-Control-Max-Age":           corsMaxAge,
		}
		for k, v := range want {
			if g := w.Header().Get(k); g != v {
				t.Errorf("%s: got %q, want %q", k, g, v)
			}
		}
		if got := on.commands(); len(got) != 0 {
			t.Errorf("preflight sent %d commands", len(got))
		}
	})
	t.Run("simple request exposes Ditto headers", func(t *testing.T) {
		r := newRequest("GET", thingURL, "")
		r.Header.Set("Origin", origin)
		w := serve(on.gw, r)
		on.waitCommands(1)
		if w.Code != http.StatusOK {
			t.Fatalf("status: got %d, want 200", w.Code)
		}
		if g := w.Header().Get("Access-Control-Allow-Origin"); g != origin {
			t.Errorf("Allow-Origin: got %q, want %q", g, origin)
		}
		expose := w.Header().Get("Access-Control-Expose-Headers")
		for _, name := range []string{"etag", "correlation-id", "location"} {
			if !strings.Contains(expose, name) {
				t.Errorf("Expose-Headers %q lacks %s", expose, name)
			}
		}
	})
	t.Run("error responses carry CORS headers too", func(t *testing.T) {
		r := newRequest("GET", thingURL, "")
		r.Header.Del("Authorization")
		r.Header.Set("Origin", origin)
		w := serve(on.gw, r)
		if w.Code != http.StatusUnauthorized || w.Header().Get("Access-Control-Allow-Origin") != origin {
			t.Errorf("got %d with Allow-Origin %q, want 401 with %q", w.Code, w.Header().Get("Access-Control-Allow-Origin"), origin)
		}
	})
	t.Run("no origin, no CORS headers", func(t *testing.T) {
		w := serve(on.gw, newRequest("GET", thingURL, ""))
		on.waitCommands(1)
		if g := w.Header().Get("Access-Control-Allow-Origin"); g != "" {
			t.Errorf("Allow-Origin: got %q, want none", g)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		r := newRequest("OPTIONS", thingURL, "")
		r.Header.Del("Authorization")
		r.Header.Set("Origin", origin)
		w := serve(off.gw, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("status: got %d, want 401", w.Code)
		}
		if g := w.Header().Get("Access-Control-Allow-Origin"); g != "" {
			t.Errorf("Allow-Origin: got %q, want none", g)
		}
	})
}

func TestHealthAndStatus(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	open := newHarness(t, func(c *Config) { c.StatusSecured = false })
	devops := func(pw string) map[string]string {
		return map[string]string{"Authorization": "Basic " + enc("devops:"+pw)}
	}
	tests := []struct {
		name   string
		h      *harness
		target string
		header map[string]string
		status int
		body   string // exact, or a JSON key path checked by check
		check  func(t *testing.T, body []byte)
		realm  bool
	}{
		{name: "health", h: h, target: "/health", header: map[string]string{"Authorization": ""}, status: 200, body: `{"status":"UP"}`},
		{name: "status without credentials", h: h, target: "/status", header: map[string]string{"Authorization": ""},
			status: 401, body: textCredentialsMissing, realm: true},
		{name: "status with an API user", h: h, target: "/status", status: 401, body: textCredentialsInvalid, realm: true},
		{name: "status with devops password", h: h, target: "/status", header: devops("foobar"), status: 200,
			check: func(t *testing.T, body []byte) {
				var got struct {
					Roles map[string]map[string]map[string]any `json:"roles"`
				}
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatal(err)
				}
				inst, ok := got.Roles["gateway"][h.gw.instance]
				if !ok || inst["service"] != "gateway" || inst["instance"] != h.gw.instance {
					t.Errorf("status: got %s, want roles.gateway.%s", body, h.gw.instance)
				}
			}},
		{name: "status with status password", h: h, target: "/overall/status", header: devops("status"), status: 200},
		{name: "status health", h: h, target: "/status/health", header: devops("foobar"), status: 200,
			check: func(t *testing.T, body []byte) {
				var got struct{ Label, Status string }
				if err := json.Unmarshal(body, &got); err != nil {
					t.Fatal(err)
				}
				if got.Label != "roles" || got.Status != "UP" {
					t.Errorf("got %s, want label roles and status UP", body)
				}
			}},
		{name: "unsecured status", h: open, target: "/status", header: map[string]string{"Authorization": ""}, status: 200},
		{name: "unknown status path", h: open, target: "/status/nope", status: 404, body: string(errorJSON(errRouteNotFound()))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := tt.h.do(req{method: "GET", target: tt.target, header: tt.header})
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.body != "" && w.Body.String() != tt.body {
				t.Errorf("body: got %s, want %s", w.Body, tt.body)
			}
			if tt.check != nil {
				tt.check(t, w.Body.Bytes())
			}
			if tt.realm {
				if g, want := w.Header().Get("WWW-Authenticate"), `Basic realm="DITTO-STATUS",charset=UTF-8`; g != want {
					t.Errorf("WWW-Authenticate: got %q, want %q", g, want)
				}
			}
		})
	}
	t.Run("health down without NATS", func(t *testing.T) {
		down := newHarness(t, nil)
		down.client.Close()
		w := down.do(req{method: "GET", target: "/health"})
		if w.Code != http.StatusServiceUnavailable || w.Body.String() != `{"status":"DOWN"}` {
			t.Errorf("got %d %s, want 503 {\"status\":\"DOWN\"}", w.Code, w.Body)
		}
		w = down.do(req{method: "GET", target: thingURL})
		if w.Code != http.StatusServiceUnavailable || errorCode(t, w) != protocol.CodeGatewayServiceUnavailable {
			t.Errorf("command without NATS: got %d %s, want 503", w.Code, w.Body)
		}
	})
}

// TestServe runs the gateway on a real listener and shuts it down.
func TestServe(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.ShutdownTimeout = 5 * time.Second })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.gw.Serve(ctx, ln) }()

	r, err := http.NewRequest("GET", "http://"+ln.Addr().String()+thingURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.Header.Set("Authorization", basic("ditto"))
	resp, err := http.DefaultClient.Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != `{"thingId":"org.eclipse.ditto:t1"}` {
		t.Errorf("got %d %s, want 200 with the thing", resp.StatusCode, body)
	}
	if g := resp.Header.Get("ETag"); g != `"rev:1"` {
		t.Errorf("ETag: got %q, want %q", g, `"rev:1"`)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
}
