package gateway

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/oidctest"
	"github.com/dittonats/dittonats/streams"
)

// jwtHarness is a gateway that trusts the test issuer is as "myissuer",
// with the given auth-subjects templates (none: Ditto's default).
func jwtHarness(t *testing.T, is *oidctest.Issuer, authSubjects ...string) *harness {
	t.Helper()
	issuers, err := json.Marshal(map[string]OIDCIssuer{"myissuer": {Issuer: is.Host(), AuthSubjects: authSubjects}})
	if err != nil {
		t.Fatal(err)
	}
	return newHarness(t, func(c *Config) {
		c.OAuthIssuers = string(issuers)
		c.OAuthProtocol = "http"
	})
}

func bearer(tok string) map[string]string { return map[string]string{"Authorization": "Bearer " + tok} }

func TestJWTAuthentication(t *testing.T) {
	t.Parallel()
	is := oidctest.Start(t)
	other := oidctest.Start(t) // an issuer the gateway does not know
	h := jwtHarness(t, is, "{{ jwt:sub }}", "group-{{ jwt:groups }}")
	now := time.Now()
	valid := map[string]any{"iss": is.URL(), "sub": "alice", "aud": "app", "groups": []string{"a", "b"},
		"exp": now.Add(time.Hour).Unix(), "nbf": now.Add(-time.Minute).Unix()}
	with := func(changes map[string]any) map[string]any {
		out := map[string]any{}
		for k, v := range valid {
			out[k] = v
		}
		for k, v := range changes {
			if v == nil {
				delete(out, k)
			} else {
				out[k] = v
			}
		}
		return out
	}
	wrongKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		token  string
		status int
		code   string
		want   string // whoami body
	}{
		{name: "valid token", token: is.Sign(t, valid), status: 200,
			want: `{"defaultSubject":"myissuer:alice","subjects":["myissuer:alice","myissuer:group-a","myissuer:group-b"]}`},
		{name: "issuer without protocol", token: is.Sign(t, with(map[string]any{"iss": is.Host(), "groups": nil})), status: 200,
			want: `{"defaultSubject":"myissuer:alice","subjects":["myissuer:alice"]}`},
		{name: "expiry within clock skew", token: is.Sign(t, with(map[string]any{"exp": now.Add(-5 * time.Second).Unix()})), status: 200,
			want: `{"defaultSubject":"myissuer:alice","subjects":["myissuer:alice","myissuer:group-a","myissuer:group-b"]}`},
		{name: "expired", token: is.Sign(t, with(map[string]any{"exp": now.Add(-time.Minute).Unix()})),
			status: 401, code: protocol.CodeGatewayAuthenticationFailed},
		{name: "not yet valid", token: is.Sign(t, with(map[string]any{"nbf": now.Add(time.Minute).Unix()})),
			status: 401, code: protocol.CodeGatewayAuthenticationFailed},
		{name: "bad signature", token: oidctest.SignWith(t, wrongKey, "test-key-1", valid),
			status: 401, code: protocol.CodeGatewayAuthenticationFailed},
		{name: "unknown key id", token: oidctest.SignWith(t, wrongKey, "other-key", valid),
			status: 401, code: protocol.CodeGatewayAuthenticationFailed},
		{name: "unknown issuer", token: other.Sign(t, with(map[string]any{"iss": other.URL()})),
			status: 401, code: protocol.CodeGatewayJWTIssuerNotSupported},
		{name: "no issuer", token: is.Sign(t, with(map[string]any{"iss": nil})),
			status: 401, code: protocol.CodeGatewayJWTIssuerNotSupported},
		{name: "no subject claim", token: is.Sign(t, with(map[string]any{"sub": nil, "groups": nil})),
			status: 401, code: protocol.CodeGatewayAuthenticationFailed},
		{name: "not a JWT", token: "abc", status: 400, code: "jwt:invalid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(req{method: "GET", target: "/api/2/whoami", header: bearer(tt.token)})
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			if tt.code != "" {
				if got := errorCode(t, w); got != tt.code {
					t.Errorf("error: got %q, want %q (%s)", got, tt.code, w.Body)
				}
				if got := w.Header().Get("Www-Authenticate"); got != "" {
					t.Errorf("Www-Authenticate: got %q, want none for a bearer token", got)
				}
			}
			if tt.want != "" && w.Body.String() != tt.want {
				t.Errorf("body: got %s, want %s", w.Body, tt.want)
			}
		})
	}

	t.Run("subjects reach the services", func(t *testing.T) {
		h.commands()
		w := h.do(req{method: "GET", target: "/api/2/things/a:b", header: bearer(is.Sign(t, valid))})
		if w.Code != 200 {
			t.Fatalf("status: got %d (%s)", w.Code, w.Body)
		}
		got := h.waitCommands(1)[0].header.Get(streams.HeaderAuth)
		if want := `["myissuer:alice","myissuer:group-a","myissuer:group-b"]`; got != want {
			t.Errorf("%s: got %s, want %s", streams.HeaderAuth, got, want)
		}
	})
	t.Run("basic auth still works", func(t *testing.T) {
		w := h.do(req{method: "GET", target: "/api/2/whoami"})
		if want := `{"defaultSubject":"nginx:ditto","subjects":["nginx:ditto"]}`; w.Code != 200 || w.Body.String() != want {
			t.Errorf("got %d %s, want 200 %s", w.Code, w.Body, want)
		}
	})
	t.Run("WebSocket access_token", func(t *testing.T) {
		// Not an upgrade request: past authentication it is refused
		// otherwise, so only a bad token is a 401.
		w := h.do(req{method: "GET", target: "/ws/2?access_token=" + is.Sign(t, with(map[string]any{"exp": now.Add(-time.Hour).Unix()})),
			header: map[string]string{"Authorization": ""}})
		if w.Code != 401 || errorCode(t, w) != protocol.CodeGatewayAuthenticationFailed {
			t.Errorf("expired access_token: got %d %s, want 401", w.Code, w.Body)
		}
		w = h.do(req{method: "GET", target: "/ws/2?access_token=" + is.Sign(t, valid), header: map[string]string{"Authorization": ""}})
		if w.Code == 401 {
			t.Errorf("valid access_token: got 401 %s", w.Body)
		}
	})
}

func TestJWTIssuerUnavailable(t *testing.T) {
	t.Parallel()
	is := oidctest.Start(t)
	h := newHarness(t, func(c *Config) {
		c.OAuthIssuers = `{"down":{"issuer":"127.0.0.1:1"}}`
		c.OAuthProtocol = "http"
	})
	tok := is.Sign(t, map[string]any{"iss": "http://127.0.0.1:1", "sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
	w := h.do(req{method: "GET", target: "/api/2/whoami", header: bearer(tok)})
	if w.Code != http.StatusServiceUnavailable || errorCode(t, w) != "gateway:publickey.provider.unavailable" {
		t.Errorf("got %d %s, want 503 gateway:publickey.provider.unavailable", w.Code, w.Body)
	}
}

func TestParseOIDCIssuers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in string
		ok       bool
	}{
		{"empty", "", true},
		{"Ditto's default", `{"google":{"issuer":"accounts.google.com"}}`, true},
		{"issuers and templates", `{"a":{"issuers":["x.example/","y.example"],"auth-subjects":["{{ jwt:sub }}/{{jwt:scp}}"]}}`, true},
		{"no issuer", `{"a":{"auth-subjects":["{{ jwt:sub }}"]}}`, false},
		{"colon in prefix", `{"a:b":{"issuer":"x"}}`, false},
		{"pipeline", `{"a":{"issuer":"x","auth-subjects":["{{ jwt:sub | fn:lower() }}"]}}`, false},
		{"prerequisite conditions", `{"a":{"issuer":"x","prerequisite-conditions":["{{ jwt:aud }}"]}}`, false},
		{"unknown field", `{"a":{"issuer":"x","color":"red"}}`, false},
		{"not an object", `[1]`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseOIDCIssuers(tt.in)
			if (err == nil) != tt.ok {
				t.Errorf("ParseOIDCIssuers(%s): err %v, want ok=%v", tt.in, err, tt.ok)
			}
		})
	}
}

func TestTemplateResolve(t *testing.T) {
	t.Parallel()
	claims := map[string]any{"sub": "u", "aud": []any{"a1", "a2"}, "roles": map[string]any{"x": []any{"r1"}}, "n": json.Number("5")}
	tests := []struct {
		tmpl       string
		want       []string
		unresolved string
	}{
		{"{{ jwt:sub }}", []string{"u"}, ""},
		{"integration:{{policy-entry:label}}:{{jwt:aud}}", []string{"integration:{{ policy-entry:label }}:a1", "integration:{{ policy-entry:label }}:a2"}, ""},
		{"{{ jwt:roles/x }}-{{ jwt:n }}", []string{"r1-5"}, ""},
		{"{{ jwt:missing }}", nil, "jwt:missing"},
	}
	for _, tt := range tests {
		tm, err := parseTemplate(tt.tmpl)
		if err != nil {
			t.Fatalf("%s: %v", tt.tmpl, err)
		}
		got, unresolved := tm.resolve("jwt", claims)
		if unresolved != tt.unresolved || len(got) != len(tt.want) {
			t.Errorf("%s: got %q %q, want %q %q", tt.tmpl, got, unresolved, tt.want, tt.unresolved)
			continue
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Errorf("%s: got %q, want %q", tt.tmpl, got, tt.want)
			}
		}
	}
}

func TestPolicyActionsWithJWT(t *testing.T) {
	t.Parallel()
	is := oidctest.Start(t)
	h := jwtHarness(t, is)
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	tok := is.Sign(t, map[string]any{"iss": is.URL(), "sub": "alice", "aud": "my-app", "exp": exp.Unix()})
	tests := []struct {
		name, method, target, body string
		token                      string
		status                     int
		code                       string
		path, value                string // of the command sent
	}{
		{name: "activate", method: "POST", target: "/api/2/policies/ns:p/actions/activateTokenIntegration", token: tok, status: 204,
			path:  "/actions/activateTokenIntegration",
			value: `{"expiry":"` + protocol.FormatInstant(exp) + `","subjectIds":["integration:{{ policy-entry:label }}:my-app"]}`},
		{name: "activate entry with announcement", method: "POST", target: "/api/2/policies/ns:p/entries/owner/actions/activateTokenIntegration",
			body: `{"announcement":{"beforeExpiry":"5m"}}`, token: tok, status: 204,
			path:  "/entries/owner/actions/activateTokenIntegration",
			value: `{"announcement":{"beforeExpiry":"5m"},"expiry":"` + protocol.FormatInstant(exp) + `","subjectIds":["integration:{{ policy-entry:label }}:my-app"]}`},
		{name: "deactivate", method: "POST", target: "/api/2/policies/ns:p/actions/deactivateTokenIntegration", token: tok, status: 204,
			path: "/actions/deactivateTokenIntegration", value: `{"subjectIds":["integration:{{ policy-entry:label }}:my-app"]}`},
		{name: "GET", method: "GET", target: "/api/2/policies/ns:p/actions/activateTokenIntegration", token: tok, status: 405,
			code: protocol.CodeGatewayMethodNotAllowed},
		{name: "token without aud", method: "POST", target: "/api/2/policies/ns:p/actions/activateTokenIntegration",
			token:  is.Sign(t, map[string]any{"iss": is.URL(), "sub": "alice", "exp": exp.Unix()}),
			status: 400, code: "policies:action.failed"},
		{name: "basic auth", method: "POST", target: "/api/2/policies/ns:p/actions/activateTokenIntegration", status: 400,
			code: "policies:action.failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h.commands()
			r := req{method: tt.method, target: tt.target, body: tt.body}
			if tt.token != "" {
				r.header = bearer(tt.token)
			}
			w := h.do(r)
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d (%s)", w.Code, tt.status, w.Body)
			}
			if tt.code != "" {
				if got := errorCode(t, w); got != tt.code {
					t.Errorf("error: got %q, want %q", got, tt.code)
				}
				if got := h.commands(); len(got) != 0 {
					t.Errorf("sent %d commands, want none", len(got))
				}
				return
			}
			cmd := h.waitCommands(1)[0].env
			if cmd.Topic != "ns/p/policies/commands/modify" || cmd.Path != tt.path {
				t.Errorf("command: got %s %s, want ns/p/policies/commands/modify %s", cmd.Topic, cmd.Path, tt.path)
			}
			if string(cmd.Value) != tt.value {
				t.Errorf("value: got %s, want %s", cmd.Value, tt.value)
			}
		})
	}
}

// A WebSocket session opened with a token lasts as long as the token: it
// ends with gateway:websocket.session.expired at the token's expiry
// unless a JWT-TOKEN message brought a fresh token of the same subjects;
// a fresh token of other subjects, or an invalid one, ends it with
// gateway:websocket.session.closed.
func TestWebSocketSessionFollowsToken(t *testing.T) {
	t.Parallel()
	is := oidctest.Start(t)
	h := jwtHarness(t, is)
	base := startWS(t, h.gw)
	token := func(sub string, life time.Duration) string {
		return is.Sign(t, map[string]any{"iss": is.URL(), "sub": sub, "exp": time.Now().Add(life).Unix()})
	}
	dial := func(tok string) *wsClient {
		conn, resp, err := websocket.DefaultDialer.Dial(wsURL(base), http.Header{"Authorization": {"Bearer " + tok}})
		if err != nil {
			t.Fatalf("dial: %v (%v)", err, resp)
		}
		return readWS(t, conn)
	}
	endsWith := func(c *wsClient, status int, code string) {
		t.Helper()
		env := c.envelope()
		var perr protocol.Error
		if env.Status != status || json.Unmarshal(env.Value, &perr) != nil || perr.Code != code {
			t.Fatalf("got %+v %s, want %d %s", env, env.Value, status, code)
		}
		if !c.ended(wsWait) {
			t.Fatal("session still open")
		}
	}

	// exp has seconds granularity; the clock skew does not extend a session.
	expiring := dial(token("alice", 2*time.Second))
	refreshed := dial(token("alice", 2*time.Second))
	refreshed.send("JWT-TOKEN?jwtToken=" + token("alice", time.Hour))
	start := time.Now()
	endsWith(expiring, http.StatusUnauthorized, "gateway:websocket.session.expired")
	if time.Since(start) < 500*time.Millisecond {
		t.Error("session ended long before its token expired")
	}
	// The refreshed one outlives its first token.
	time.Sleep(1500 * time.Millisecond)
	refreshed.send("START-SEND-EVENTS")
	if got := string(refreshed.next()); got != "START-SEND-EVENTS:ACK" {
		t.Fatalf("refreshed session answered %q", got)
	}

	other := dial(token("alice", time.Hour))
	other.send("JWT-TOKEN?jwtToken=" + token("bob", time.Hour))
	endsWith(other, http.StatusForbidden, "gateway:websocket.session.closed")

	invalid := dial(token("alice", time.Hour))
	invalid.send("JWT-TOKEN?jwtToken=not.a.token")
	endsWith(invalid, http.StatusForbidden, "gateway:websocket.session.closed")

	// Basic sessions have no token to expire.
	basicSession := dialWS(t, base, "ditto")
	basicSession.send("START-SEND-EVENTS")
	if got := string(basicSession.next()); got != "START-SEND-EVENTS:ACK" {
		t.Fatalf("basic session answered %q", got)
	}
}

// Tokens of an issuer whose discovery document cannot be read share one
// attempt to read it, and for a while after it failed get 503 without
// another: a client cannot make the gateway call the issuer per token.
func TestJWTDiscoveryIsNotRepeatedPerToken(t *testing.T) {
	t.Parallel()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		time.Sleep(100 * time.Millisecond)
		http.Error(w, "down", http.StatusInternalServerError)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	h := newHarness(t, func(c *Config) {
		c.OAuthIssuers = `{"down":{"issuer":"` + host + `"}}`
		c.OAuthProtocol = "http"
	})
	is := oidctest.Start(t)
	tok := is.Sign(t, map[string]any{"iss": srv.URL, "sub": "x", "exp": time.Now().Add(time.Hour).Unix()})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			w := h.do(req{method: "GET", target: "/api/2/whoami", header: bearer(tok)})
			if w.Code != http.StatusServiceUnavailable {
				t.Errorf("got %d %s, want 503", w.Code, w.Body)
			}
		})
	}
	wg.Wait()
	w := h.do(req{method: "GET", target: "/api/2/whoami", header: bearer(tok)})
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("got %d %s, want 503", w.Code, w.Body)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the issuer was asked %d times, want once", n)
	}
}
