package policies

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

func TestActionPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path, label, name string
		ok                bool
	}{
		{"/actions/activateTokenIntegration", "", "activateTokenIntegration", true},
		{"/entries/l/actions/deactivateTokenIntegration", "l", "deactivateTokenIntegration", true},
		{"/actions", "", "", false},
		{"/actions/a/b", "", "", false},
		{"/entries/l/actions", "", "", false},
		{"/entries/l/subjects/actions/x", "", "", false},
		{"/entries/l/actions/x/y", "", "", false},
		{"/entries//actions/x", "", "", false},
	}
	for _, tt := range tests {
		label, name, ok := actionPath(tt.path)
		if ok != tt.ok || ok && (label != tt.label || name != tt.name) {
			t.Errorf("actionPath(%q) = %q, %q, %v, want %q, %q, %v", tt.path, label, name, ok, tt.label, tt.name, tt.ok)
		}
	}
}

// The policy actions through the service: EXECUTE is checked per entry,
// activation adds the resolved subject with the command's expiry to every
// applicable entry in one event, deactivation removes it, and a command
// that changes nothing writes no event.
func TestPolicyActions(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, testConfig())
	id := f.newID()
	f.must(t, id, "create", "/", `{"entries":{
		"owner":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}},
		"a":{"subjects":{"jwt:alice":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]},"policy:/entries/a/actions":{"grant":["EXECUTE"],"revoke":[]}}},
		"b":{"subjects":{"jwt:alice":{"type":"t"}},"resources":{"thing:/x":{"grant":["READ","WRITE"],"revoke":[]},"policy:/entries/b/actions/activateTokenIntegration":{"grant":["EXECUTE"],"revoke":[]}}},
		"c":{"subjects":{"jwt:alice":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`)
	// Events as the gateways see them: a plain subscription.
	sub, err := f.nc.SubscribeSync(f.names.PolicyEvents("org.eclipse.ditto"))
	if err != nil {
		t.Fatal(err)
	}
	expiry := protocol.FormatInstant(time.Now().UTC().Add(48 * time.Hour).Truncate(24 * time.Hour))
	activate := `{"subjectIds":["integration:{{ policy-entry:label }}:app"],"expiry":"` + expiry + `"}`
	deactivate := `{"subjectIds":["integration:{{policy-entry:label}}:app"]}`
	const alice = `["jwt:alice"]`
	steps := []struct {
		name, path, value, auth string
		status                  int
		code                    string
		event, eventPath        string // "" for none
	}{
		{name: "no EXECUTE anywhere", path: "/actions/activateTokenIntegration", value: activate, auth: `["nginx:other"]`,
			status: 403, code: "policies:action.failed"},
		{name: "no EXECUTE on the entry", path: "/entries/c/actions/activateTokenIntegration", value: activate, auth: alice,
			status: 403, code: "policies:action.failed"},
		{name: "entry not naming the caller", path: "/entries/a/actions/activateTokenIntegration", value: activate, auth: `["nginx:ditto"]`,
			status: 403, code: "policies:action.failed"},
		{name: "no subject ids", path: "/actions/activateTokenIntegration", value: `{"subjectIds":[],"expiry":"` + expiry + `"}`, auth: alice,
			status: 400, code: "policies:action.failed"},
		{name: "no expiry", path: "/actions/activateTokenIntegration", value: `{"subjectIds":["a:b"]}`, auth: alice,
			status: 400, code: "json.field.missing"},
		{name: "expiry in the past", path: "/actions/activateTokenIntegration", value: `{"subjectIds":["a:b"],"expiry":"2001-01-01T00:00:00Z"}`, auth: alice,
			status: 400, code: protocol.ErrPolicySubjectExpiryInPast("").Code},
		{name: "unresolvable placeholder", path: "/actions/activateTokenIntegration", value: `{"subjectIds":["x:{{ header:y }}"],"expiry":"` + expiry + `"}`, auth: alice,
			status: 400, code: "policies:action.failed"},
		{name: "unknown action", path: "/actions/other", value: activate, auth: alice, status: 400, code: codeUnknownTopicPath},
		{name: "activate in a and b", path: "/actions/activateTokenIntegration", value: activate, auth: alice,
			status: 204, event: "modified", eventPath: "/entries"},
		{name: "activate again: a new type (its time) in both", path: "/actions/activateTokenIntegration", value: activate, auth: alice,
			status: 204, event: "modified", eventPath: "/entries"},
		{name: "deactivate in a only (b grants EXECUTE for activation only)", path: "/actions/deactivateTokenIntegration", value: deactivate, auth: alice,
			status: 204, event: "deleted", eventPath: "/entries/a/subjects/integration:a:app"},
		{name: "deactivate again: nothing to remove", path: "/entries/a/actions/deactivateTokenIntegration", value: deactivate, auth: alice,
			status: 204},
		{name: "activate in a", path: "/entries/a/actions/activateTokenIntegration", value: activate, auth: alice,
			status: 204, event: "created", eventPath: "/entries/a/subjects/integration:a:app"},
	}
	for i, s := range steps {
		env := f.send(t, id, "modify", s.path, s.value, protocol.Headers{"correlation-id": fmt.Sprint("a-", i)}, s.auth)
		if env.Status != s.status {
			t.Fatalf("%s: status %d %s, want %d", s.name, env.Status, env.Value, s.status)
		}
		if s.code != "" {
			var e protocol.Error
			if err := json.Unmarshal(env.Value, &e); err != nil || e.Code != s.code {
				t.Errorf("%s: error %s, want %s", s.name, env.Value, s.code)
			}
		}
		if s.event == "" {
			continue
		}
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%s: no event: %v", s.name, err)
		}
		ev, err := protocol.DecodeEnvelope(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if want := protocol.NewTopic(id, "policies", "", "events", s.event).String(); ev.Topic != want || ev.Path != s.eventPath {
			t.Errorf("%s: event %s %s, want %s %s", s.name, ev.Topic, ev.Path, want, s.eventPath)
		}
	}
	if m, err := sub.NextMsg(200 * time.Millisecond); err == nil {
		t.Errorf("unexpected extra event %s", m.Data)
	}
	doc := f.retrieve(t, id)
	for label, want := range map[string]bool{"a": true, "b": true, "c": false, "owner": false} {
		s, ok := doc.Get("entries")
		s, _ = s.Get(label)
		s, _ = s.Get("subjects")
		s, ok = s.Get("integration:" + label + ":app")
		if ok != want {
			t.Errorf("entry %s has integration subject: %v, want %v", label, ok, want)
		}
		if ok {
			x, _ := s.Get("expiry")
			if got, _ := x.Str(); got != expiry {
				t.Errorf("entry %s: expiry %s, want %s", label, got, expiry)
			}
		}
	}
}
