package platform

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/gateway"
	"github.com/dittonats/dittonats/services/internal/oidctest"
)

// The OpenID Connect issuers come from Ditto's configuration keys: a
// HOCON file's map, -D properties, or the JSON form in the variable.
func TestOAuthConfiguration(t *testing.T) {
	t.Parallel()
	file := writeConf(t, `ditto.gateway.authentication.oauth {
  protocol = "http"
  openid-connect-issuers {
    myissuer {
      issuer = "idp.example:8443"
      auth-subjects = ["{{ jwt:sub }}", "{{ jwt:sub }}/{{ jwt:scp }}"]
    }
  }
  token-integration-subject = "integration:{{policy-entry:label}}:{{jwt:azp}}"
}`)
	tests := []struct {
		name     string
		env      []string
		want     map[string]gateway.OIDCIssuer
		protocol string
	}{
		{name: "default", want: map[string]gateway.OIDCIssuer{"google": {Issuer: "accounts.google.com"}}, protocol: "https"},
		{name: "HOCON file", env: []string{"DITTO_CONFIG_FILE=" + file}, protocol: "http",
			want: map[string]gateway.OIDCIssuer{"myissuer": {Issuer: "idp.example:8443", AuthSubjects: []string{"{{ jwt:sub }}", "{{ jwt:sub }}/{{ jwt:scp }}"}}}},
		{name: "-D properties", env: []string{"JAVA_TOOL_OPTIONS=-Dditto.gateway.authentication.oauth.openid-connect-issuers.other.issuer=other.example -Dditto.gateway.authentication.oauth.protocol=http"},
			protocol: "http", want: map[string]gateway.OIDCIssuer{"other": {Issuer: "other.example"}}},
		{name: "environment variable", env: []string{`OAUTH_OPENID_CONNECT_ISSUERS={"env":{"issuer":"env.example"}}`},
			protocol: "https", want: map[string]gateway.OIDCIssuer{"env": {Issuer: "env.example"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := LoadEnv(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			got, err := gateway.ParseOIDCIssuers(cfg.Gateway.OAuthIssuers)
			if err != nil {
				t.Fatal(err)
			}
			gotJSON, _ := json.Marshal(got)
			wantJSON, _ := json.Marshal(tt.want)
			if string(gotJSON) != string(wantJSON) {
				t.Errorf("issuers: got %s, want %s", gotJSON, wantJSON)
			}
			if cfg.Gateway.OAuthProtocol != tt.protocol {
				t.Errorf("OAUTH_PROTOCOL: got %q, want %q", cfg.Gateway.OAuthProtocol, tt.protocol)
			}
		})
	}
	cfg, err := LoadEnv([]string{"DITTO_CONFIG_FILE=" + file})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Gateway.OAuthTokenIntegrationSubject, "integration:{{policy-entry:label}}:{{jwt:azp}}"; got != want {
		t.Errorf("OAUTH_TOKEN_INTEGRATION_SUBJECT: got %q, want %q", got, want)
	}
	// The gateway checks its section when it starts.
	if cfg, err := LoadEnv([]string{`OAUTH_OPENID_CONNECT_ISSUERS={"x":{}}`}); err != nil || cfg.Gateway.Validate() == nil {
		t.Errorf("an issuer without issuer: load %v, validate %v, want a validation error", err, cfg.Gateway.Validate())
	}
}

// Token integration end to end: a caller authenticated by a JWT of a
// configured issuer, granted EXECUTE on an entry's action, activates
// token integration; the policy then names integration:<label>:<aud> with
// the token's expiry, which the things service honours at once;
// deactivation removes it. Without EXECUTE, without an applicable entry
// or without a JWT the action fails with Ditto's errors and nothing
// changes; the WebSocket cannot send the action at all.
func TestTokenIntegration(t *testing.T) {
	t.Parallel()
	is := oidctest.Start(t)
	cfg := testConfig(t)
	cfg.Gateway.OAuthIssuers = `{"myissuer":{"issuer":"` + is.Host() + `"}}`
	cfg.Gateway.OAuthProtocol = "http"
	cfg.Gateway.PreAuthentication = true // to act as the integration subject below
	pl := startPlatform(t, cfg)

	const id = "org.eclipse.ditto:token-integration"
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+id, `{"entries":{
		"OWNER":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}},
		"USER":{"subjects":{"myissuer:alice":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]},
			"policy:/entries/USER/actions":{"grant":["EXECUTE"],"revoke":[]}}},
		"NOREAD":{"subjects":{"myissuer:alice":{"type":"t"}},"resources":{"message:/":{"grant":["READ"],"revoke":[]},
			"policy:/entries/NOREAD/actions/activateTokenIntegration":{"grant":["EXECUTE"],"revoke":[]}}},
		"OTHER":{"subjects":{"myissuer:bob":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{"policyId":"`+id+`","attributes":{"a":1}}`, nil, 201, "")

	// An hour boundary: no expiry granularity rounds it.
	exp := time.Now().UTC().Truncate(time.Hour).Add(2 * time.Hour)
	token := func(sub string) map[string]string {
		return map[string]string{"Authorization": "Bearer " + is.Sign(t, map[string]any{
			"iss": is.URL(), "sub": sub, "aud": "my-app", "exp": exp.Unix()})}
	}
	policy := func() string { return pl.expect(t, "ditto", "GET", "/api/2/policies/"+id, "", nil, 200, "").body }
	revision := func() string {
		return pl.expect(t, "ditto", "GET", "/api/2/policies/"+id, "", nil, 200, "").header.Get("ETag")
	}
	const subjectURL = "/api/2/policies/" + id + "/entries/USER/subjects/integration:USER:my-app"
	asIntegration := map[string]string{"x-ditto-pre-authenticated": "integration:USER:my-app"}
	// The JWT authenticates myissuer:alice.
	if r := pl.expect(t, "", "GET", "/api/2/whoami", "", token("alice"), 200, ""); !strings.Contains(r.body, `"myissuer:alice"`) {
		t.Errorf("whoami: %s", r.body)
	}
	pl.expect(t, "", "GET", "/api/2/things/"+id, "", asIntegration, 404, "things:thing.notfound")

	before := policy()
	for _, tt := range []struct {
		name, who, path string
		status          int
		code            string
	}{
		{"basic auth", "ditto", "/actions/activateTokenIntegration", 400, "policies:action.failed"},
		{"no EXECUTE anywhere", "bob", "/actions/activateTokenIntegration", 403, "policies:action.failed"},
		{"no EXECUTE on the entry", "alice", "/entries/OTHER/actions/activateTokenIntegration", 403, "policies:action.failed"},
		{"entry without READ on things", "alice", "/entries/NOREAD/actions/activateTokenIntegration", 404, "policies:action.failed"},
		{"no such policy", "alice", "", 404, "policies:policy.notfound"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var headers map[string]string
			user := tt.who
			if tt.who != "ditto" {
				headers, user = token(tt.who), ""
			}
			path := "/api/2/policies/" + id + tt.path
			if tt.path == "" {
				path = "/api/2/policies/org.eclipse.ditto:no-such-policy/actions/activateTokenIntegration"
			}
			pl.expect(t, user, "POST", path, "", headers, tt.status, tt.code)
		})
	}
	if after := policy(); after != before {
		t.Errorf("failed actions changed the policy:\n%s\nwas\n%s", after, before)
	}

	// Activation: the top-level action applies to USER only (NOREAD
	// grants nothing on things, OTHER does not name alice).
	pl.expect(t, "", "POST", "/api/2/policies/"+id+"/actions/activateTokenIntegration", "", token("alice"), 204, "")
	r := pl.expect(t, "ditto", "GET", subjectURL, "", nil, 200, "")
	var subject struct{ Type, Expiry string }
	if err := json.Unmarshal([]byte(r.body), &subject); err != nil {
		t.Fatal(err)
	}
	if subject.Expiry != protocol.FormatInstant(exp) || !strings.HasPrefix(subject.Type, "added via action <activateTokenIntegration> at <") {
		t.Errorf("activated subject: %s, want expiry %s", r.body, protocol.FormatInstant(exp))
	}
	for _, label := range []string{"OWNER", "NOREAD", "OTHER"} {
		pl.expect(t, "ditto", "GET", "/api/2/policies/"+id+"/entries/"+label+"/subjects/integration:"+label+":my-app", "", nil, 404, "")
	}
	// The things service enforces with the new subject.
	pl.expect(t, "", "GET", "/api/2/things/"+id+"/attributes/a", "", asIntegration, 200, "")
	pl.expect(t, "", "PUT", "/api/2/things/"+id+"/attributes/a", "2", asIntegration, 403, "")

	// Deactivation, per entry; a second one finds nothing to remove and
	// writes nothing.
	pl.expect(t, "", "POST", "/api/2/policies/"+id+"/entries/USER/actions/deactivateTokenIntegration", "", token("alice"), 204, "")
	pl.expect(t, "ditto", "GET", subjectURL, "", nil, 404, "")
	pl.expect(t, "", "GET", "/api/2/things/"+id, "", asIntegration, 404, "")
	rev := revision()
	pl.expect(t, "", "POST", "/api/2/policies/"+id+"/actions/deactivateTokenIntegration", "", token("alice"), 204, "")
	if got := revision(); got != rev {
		t.Errorf("a deactivation that removed nothing changed the revision: %s, was %s", got, rev)
	}

	// The WebSocket has no policy actions: a client cannot name the
	// subjects itself.
	c := pl.mustDial(t, "ditto")
	c.send(`{"topic":"org.eclipse.ditto/token-integration/policies/commands/modify","headers":{"correlation-id":"ws-action"},` +
		`"path":"/actions/activateTokenIntegration","value":{"subjectIds":["nginx:mallory"],"expiry":"` + protocol.FormatInstant(exp) + `"}}`)
	frame := c.next(10 * time.Second)
	if !strings.Contains(frame, `"status":400`) {
		t.Errorf("WebSocket policy action: %s, want a 400 error", frame)
	}
	if strings.Contains(policy(), "mallory") {
		t.Error("the WebSocket action changed the policy")
	}
}
