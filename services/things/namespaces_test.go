package things_test

import (
	"context"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/policies"
	"github.com/dittonats/dittonats/services/things"
	"github.com/dittonats/dittonats/streams"
)

// pubsub sends a piggyback command as the pub/sub mediator hands it to
// every handler.
func pubsub(t *testing.T, h devops.Handler, cmd string) (devops.Answer, bool) {
	t.Helper()
	var head struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal([]byte(cmd), &head); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return h(ctx, devops.Piggyback{Selection: "/system/distributedPubSubMediator", Component: devops.ComponentPubSub,
		Type: head.Type, Command: json.RawMessage(cmd)})
}

// Ditto's four steps of erasing a namespace, on the things and the
// policies service: blocked, both refuse its commands; shut down and
// purged, nothing of it is left in their journals, while another
// namespace keeps everything; unblocked, it starts afresh.
func TestNamespaceErasure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	pol := f.startPolicies(t, policiesConfig())
	thg := f.startThings(t, thingsConfig())
	th := thg.run.(*things.Service).NamespaceHandler()
	ph := pol.run.(*policies.Service).NamespaceHandler()
	f.shortDuplicateWindow(t)
	const erased, kept = "org.erased:lamp", "org.kept:lamp"
	for _, id := range []string{erased, kept} {
		f.expect(t, thing(ditto, modify, id).with(`{"attributes":{"on":true}}`), 201, "")
		f.expect(t, thing(ditto, modify, id+"/attributes/on").with(`false`), 204, "")
	}

	for _, h := range []devops.Handler{th, ph} {
		a, ok := pubsub(t, h, `{"type":"namespaces.commands:blockNamespace","namespace":"org.erased"}`)
		if want := `{"type":"namespaces.responses:blockNamespace","status":200,"namespace":"org.erased","resourceType":"namespaces"}`; !ok || string(a.Body) != want {
			t.Fatalf("block answered %t %s, want %s", ok, a.Body, want)
		}
	}
	f.expect(t, thing(ditto, retrieve, erased), 409, protocol.CodeNamespaceBlocked)
	f.expect(t, thing(ditto, modify, erased+"/attributes/on").with(`true`), 409, protocol.CodeNamespaceBlocked)
	f.expect(t, policy(ditto, retrieve, erased), 409, protocol.CodeNamespaceBlocked)
	f.expect(t, thing(ditto, modify, kept+"/attributes/on").with(`true`), 204, "")

	for _, h := range []devops.Handler{th, ph} {
		if a, ok := pubsub(t, h, `{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"org.erased"}}`); !ok || a.Body != nil {
			t.Fatalf("shutdown answered %t %s, want nothing", ok, a.Body)
		}
	}
	for _, tt := range []struct {
		h    devops.Handler
		want string
	}{
		{th, `{"type":"namespaces.responses:purgeNamespace","status":200,"namespace":"org.erased","resourceType":"thing","successful":true}`},
		{ph, `{"type":"namespaces.responses:purgeNamespace","status":200,"namespace":"org.erased","resourceType":"policy","successful":true}`},
	} {
		if a, ok := pubsub(t, tt.h, `{"type":"namespaces.commands:purgeNamespace","namespace":"org.erased"}`); !ok || a.Status != 200 || string(a.Body) != tt.want {
			t.Fatalf("purge answered %t %d %s, want %s", ok, a.Status, a.Body, tt.want)
		}
	}
	ctx := context.Background()
	if n, _ := f.thingsJ.HighestSN(ctx, "thing:"+erased); n != 0 {
		t.Errorf("thing %s: revision %d left", erased, n)
	}
	if n, _ := f.policiesJ.HighestSN(ctx, "policy:"+erased); n != 0 {
		t.Errorf("policy %s: revision %d left", erased, n)
	}
	if _, ok, _ := f.thingsJ.LatestSnapshot(ctx, "thing:"+erased, math.MaxInt64); ok {
		t.Error("a snapshot of the erased thing is left")
	}
	if n, _ := f.thingsJ.HighestSN(ctx, "thing:"+kept); n != 3 {
		t.Errorf("%s: revision %d, want 3", kept, n)
	}
	// Still blocked until unblocked.
	f.expect(t, thing(ditto, retrieve, erased), 409, protocol.CodeNamespaceBlocked)
	for _, h := range []devops.Handler{th, ph} {
		a, ok := pubsub(t, h, `{"type":"namespaces.commands:unblockNamespace","namespace":"org.erased"}`)
		if want := `{"type":"namespaces.responses:unblockNamespace","status":200,"namespace":"org.erased","resourceType":"namespaces"}`; !ok || string(a.Body) != want {
			t.Fatalf("unblock answered %t %s, want %s", ok, a.Body, want)
		}
	}
	f.expect(t, thing(ditto, retrieve, erased), 404, "things:thing.notfound")
	f.expect(t, policy(ditto, retrieve, erased), 404, "policies:policy.notfound")
	// Used again: by another user, whose new default policy is enforced
	// (not the erased one, which granted ditto).
	r := f.expect(t, thing(ditto2, modify, erased).with(`{"attributes":{"new":1}}`), 201, "")
	if r.etag() != `"rev:1"` {
		t.Errorf("recreated thing has ETag %s, want rev 1", r.etag())
	}
	f.expect(t, thing(ditto, retrieve, erased), 404, "things:thing.notfound")
	f.expect(t, thing(ditto2, retrieve, erased+"/attributes/new"), 200, "")
	got := f.expect(t, thing(ditto, retrieve, kept), 200, "")
	jsonEq(t, "kept thing", got.env.Value, `{"thingId":"org.kept:lamp","policyId":"org.kept:lamp","attributes":{"on":true}}`)
}

// Bad input answers Ditto's error and does nothing; other commands are
// not the handler's.
func TestNamespaceErasureBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startPolicies(t, policiesConfig())
	h := f.startThings(t, thingsConfig()).run.(*things.Service).NamespaceHandler()
	f.expect(t, thing(ditto, modify, "org.x:a").with(`{}`), 201, "")
	for cmd, code := range map[string]string{
		`{"type":"namespaces.commands:blockNamespace"}`:                                           protocol.CodeJSONFieldMissing,
		`{"type":"namespaces.commands:blockNamespace","namespace":"org x"}`:                       protocol.CodeNamespacedEntityIDInvalid,
		`{"type":"namespaces.commands:purgeNamespace","namespace":""}`:                            protocol.CodeNamespacedEntityIDInvalid,
		`{"type":"namespaces.commands:purgeNamespace","namespace":["org.x"]}`:                     protocol.CodeJSONInvalid,
		`{"type":"common.commands:shutdown","reason":{"type":"purge-namespace"}}`:                 protocol.CodeJSONFieldMissing,
		`{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"x:y"}}`: protocol.CodeNamespacedEntityIDInvalid,
	} {
		a, ok := pubsub(t, h, cmd)
		var e protocol.Error
		if !ok || a.Status != 400 || json.Unmarshal(a.Body, &e) != nil || e.Code != code {
			t.Errorf("%s answered %t %d %s, want %s", cmd, ok, a.Status, a.Body, code)
		}
	}
	for _, cmd := range []string{
		`{"type":"common.commands:shutdown","reason":{"type":"unknown-reason","details":"org.x"}}`,
		`{"type":"common.commands:shutdown"}`,
		`{"type":"devops.commands:changeLogLevel"}`,
	} {
		if a, ok := pubsub(t, h, cmd); ok || a.Body != nil {
			t.Errorf("%s answered %t %s, want silence", cmd, ok, a.Body)
		}
	}
	f.expect(t, thing(ditto, retrieve, "org.x:a"), 200, "")
	if n, _ := f.thingsJ.HighestSN(context.Background(), "thing:org.x:a"); n != 1 {
		t.Errorf("the thing has revision %d after bad input, want 1", n)
	}
}

// shortDuplicateWindow shrinks the event streams' duplicate window to a
// second: unblocking a purged namespace waits for it.
func (f *fixture) shortDuplicateWindow(t *testing.T) {
	t.Helper()
	cfg := streams.DefaultConfig()
	cfg.DuplicateWindow = time.Second
	for _, svc := range []string{streams.ServiceThings, streams.ServicePolicies} {
		js, err := jetstream.New(f.srv.ConnectAs(t, streams.Role(svc)))
		if err != nil {
			t.Fatal(err)
		}
		if err := streams.Ensure(context.Background(), js, f.names, cfg, svc); err != nil {
			t.Fatal(err)
		}
	}
}
