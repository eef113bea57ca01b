package namespaces

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
)

// recorder records what the handler executed.
type recorder struct {
	mu        sync.Mutex
	shutdowns []string
	purges    []string
	purgeErr  error
}

func (r *recorder) shutdown(ns string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shutdowns = append(r.shutdowns, ns)
}

func (r *recorder) purge(_ context.Context, ns string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.purges = append(r.purges, ns)
	return r.purgeErr
}

func piggyback(cmd string) devops.Piggyback {
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal([]byte(cmd), &head)
	return devops.Piggyback{Selection: "/system/distributedPubSubMediator", Component: devops.ComponentPubSub,
		Type: head.Type, Command: json.RawMessage(cmd)}
}

func TestHandler(t *testing.T) {
	t.Parallel()
	f := newBucketFixture(t)
	bl := f.open(t)
	rec := &recorder{}
	block := func(ctx context.Context, ns string) error { return bl.Block(ctx, ns, "i1") }
	h := Handler(Options{Block: block, Unblock: bl.Unblock, Shutdown: rec.shutdown, Purge: rec.purge, ResourceType: ResourceThing})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	tests := []struct {
		name   string
		cmd    string
		ok     bool
		status int
		body   string // exact JSON; "" for no answer
		code   string // Ditto error code instead of body
	}{
		{"block", `{"type":"namespaces.commands:blockNamespace","namespace":"org.acme"}`, true, 200,
			`{"type":"namespaces.responses:blockNamespace","status":200,"namespace":"org.acme","resourceType":"namespaces"}`, ""},
		{"shutdown", `{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"org.acme"}}`, true, 0, "", ""},
		{"purge", `{"type":"namespaces.commands:purgeNamespace","namespace":"org.acme"}`, true, 200,
			`{"type":"namespaces.responses:purgeNamespace","status":200,"namespace":"org.acme","resourceType":"thing","successful":true}`, ""},
		{"unblock", `{"type":"namespaces.commands:unblockNamespace","namespace":"org.acme"}`, true, 200,
			`{"type":"namespaces.responses:unblockNamespace","status":200,"namespace":"org.acme","resourceType":"namespaces"}`, ""},
		{"shutdown for another reason", `{"type":"common.commands:shutdown","reason":{"type":"other","details":"org.acme"}}`, false, 0, "", ""},
		{"shutdown without a reason", `{"type":"common.commands:shutdown"}`, false, 0, "", ""},
		{"another command", `{"type":"things.commands:retrieveThing","thingId":"a:b"}`, false, 0, "", ""},
		{"missing namespace", `{"type":"namespaces.commands:blockNamespace"}`, true, 400, "", protocol.CodeJSONFieldMissing},
		{"invalid namespace", `{"type":"namespaces.commands:purgeNamespace","namespace":"not valid"}`, true, 400, "", protocol.CodeNamespacedEntityIDInvalid},
		{"shutdown without details", `{"type":"common.commands:shutdown","reason":{"type":"purge-namespace"}}`, true, 400, "", protocol.CodeJSONFieldMissing},
	}
	for _, tt := range tests {
		a, ok := h(ctx, piggyback(tt.cmd))
		if ok != tt.ok || a.Status != tt.status {
			t.Fatalf("%s: ok %t status %d, want %t %d (%s)", tt.name, ok, a.Status, tt.ok, tt.status, a.Body)
		}
		switch {
		case tt.code != "":
			var e protocol.Error
			if err := json.Unmarshal(a.Body, &e); err != nil || e.Code != tt.code || e.Status != tt.status {
				t.Errorf("%s: answered %s, want error %s", tt.name, a.Body, tt.code)
			}
		case tt.body == "":
			if a.Body != nil {
				t.Errorf("%s: answered %s, want nothing", tt.name, a.Body)
			}
		case string(a.Body) != tt.body:
			t.Errorf("%s: answered %s, want %s", tt.name, a.Body, tt.body)
		}
		if tt.name == "block" && !bl.Blocked("org.acme") {
			t.Error("org.acme is not blocked after its response")
		}
		if tt.name == "unblock" && bl.Blocked("org.acme") {
			t.Error("org.acme is still blocked after its response")
		}
	}
	// Bad input executed nothing.
	if len(rec.shutdowns) != 1 || rec.shutdowns[0] != "org.acme" || len(rec.purges) != 1 || rec.purges[0] != "org.acme" {
		t.Errorf("executed shutdowns %q and purges %q, want org.acme once each", rec.shutdowns, rec.purges)
	}
	if bl.Namespaces() != nil {
		t.Errorf("blocked %q after bad input", bl.Namespaces())
	}

	// A failed purge answers Ditto's PurgeNamespaceResponse.failed.
	rec.purgeErr = errors.New("disk on fire")
	a, ok := h(ctx, piggyback(`{"type":"namespaces.commands:purgeNamespace","namespace":"org.acme"}`))
	want := `{"type":"namespaces.responses:purgeNamespace","status":500,"namespace":"org.acme","resourceType":"thing","successful":false}`
	if !ok || a.Status != http.StatusInternalServerError || string(a.Body) != want {
		t.Errorf("failed purge answered %t %d %s, want %s", ok, a.Status, a.Body, want)
	}
}

// A service without a part stays silent on its commands: the search
// service purges but does not block, for instance.
func TestHandlerWithoutParts(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	h := Handler(Options{Purge: rec.purge, ResourceType: ResourceThingSearch})
	for _, cmd := range []string{
		`{"type":"namespaces.commands:blockNamespace","namespace":"x"}`,
		`{"type":"namespaces.commands:unblockNamespace","namespace":"x"}`,
		`{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"x"}}`,
		`{"type":"namespaces.commands:blockNamespace"}`,
	} {
		if a, ok := h(context.Background(), piggyback(cmd)); ok || a.Body != nil {
			t.Errorf("%s: answered %t %s, want silence", cmd, ok, a.Body)
		}
	}
	a, ok := h(context.Background(), piggyback(`{"type":"namespaces.commands:purgeNamespace","namespace":"x"}`))
	if !ok || a.Status != 200 || string(a.Body) != `{"type":"namespaces.responses:purgeNamespace","status":200,"namespace":"x","resourceType":"thing-search","successful":true}` {
		t.Errorf("purge answered %t %d %s", ok, a.Status, a.Body)
	}
	// A blocklist that cannot be used answers Ditto's internal error.
	bl := NewBlocklist(nil, "X", nil)
	bl.Close()
	h = Handler(Options{Block: func(ctx context.Context, ns string) error { return bl.Block(ctx, ns, "x") }, Unblock: bl.Unblock})
	a, ok = h(context.Background(), piggyback(`{"type":"namespaces.commands:blockNamespace","namespace":"x"}`))
	var e protocol.Error
	if !ok || a.Status != 500 || json.Unmarshal(a.Body, &e) != nil || e.Code != protocol.CodeInternalError {
		t.Errorf("block on a closed blocklist answered %t %d %s", ok, a.Status, a.Body)
	}
}
