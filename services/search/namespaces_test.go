package search_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/things"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

func pubsub(t *testing.T, h devops.Handler, cmd string) devops.Answer {
	t.Helper()
	var head struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal([]byte(cmd), &head)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, ok := h(ctx, devops.Piggyback{Component: devops.ComponentPubSub, Type: head.Type, Command: json.RawMessage(cmd)})
	if !ok {
		t.Fatalf("%s was not handled", cmd)
	}
	return a
}

// Erasing a namespace removes its entries from the index, also when the
// index had not applied the namespace's last events when the purge came
// (they are dropped, not indexed again); while the namespace is blocked,
// its things and policies cannot be loaded, and the index skips them
// instead of stalling. Afterwards the namespace is indexed again.
func TestNamespacePurge(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.searchConfig("purge.db")
	_, first := f.startSearch(t, cfg)
	f.put(t, "org.erased:t1", `{"attributes":{"n":1}}`)
	f.put(t, "org.erased:t2", `{"attributes":{"n":2}}`)
	f.put(t, "org.kept:k1", `{"attributes":{"n":1}}`)
	f.eventuallyIDs(t, ditto, `eq(attributes/n,1)`, "org.erased:t1", "org.kept:k1")

	// The index falls behind: these events wait in the stream.
	first.stop()
	f.put(t, "org.erased:t1", `{"attributes":{"n":10}}`)
	f.put(t, "org.erased:t3", `{"attributes":{"n":3}}`)

	// Blocked at both entity services (the policies service's block is
	// written to its bucket as any of its instances would).
	th := f.things.svc.(*things.Service).NamespaceHandler()
	f.shortDuplicateWindow(t)
	pubsub(t, th, `{"type":"namespaces.commands:blockNamespace","namespace":"org.erased"}`)
	pjs, err := jetstream.New(f.srv.ConnectAs(t, streams.RolePolicies))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	pkv, err := pjs.KeyValue(ctx, f.names.BlockedNamespacesBucket(streams.ServicePolicies))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pkv.Put(ctx, "org.erased", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}

	// A search instance with the index behind and the namespace blocked
	// still follows the other namespaces.
	s, _ := f.launchSearch(t, cfg)
	f.put(t, "org.kept:k2", `{"attributes":{"n":2}}`)
	f.eventuallyIDs(t, ditto, `eq(thingId,"org.kept:k2")`, "org.kept:k2")

	pubsub(t, th, `{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"org.erased"}}`)
	if a := pubsub(t, th, `{"type":"namespaces.commands:purgeNamespace","namespace":"org.erased"}`); a.Status != 200 {
		t.Fatalf("things purge answered %d %s", a.Status, a.Body)
	}
	sh := s.NamespaceHandler()
	for range 2 { // a repeated purge finds nothing and succeeds
		a := pubsub(t, sh, `{"type":"namespaces.commands:purgeNamespace","namespace":"org.erased"}`)
		want := `{"type":"namespaces.responses:purgeNamespace","status":200,"namespace":"org.erased","resourceType":"thing-search","successful":true}`
		if string(a.Body) != want {
			t.Fatalf("search purge answered %s, want %s", a.Body, want)
		}
	}
	// Once the index has passed every event of the namespace, none of it
	// came back.
	f.put(t, "org.kept:k3", `{"attributes":{"n":3}}`)
	f.eventuallyIDs(t, ditto, `eq(thingId,"org.kept:k3")`, "org.kept:k3")
	if n := f.count(t, ditto, `eq(_namespace,"org.erased")`); n != 0 {
		t.Errorf("%d things of the erased namespace are indexed", n)
	}
	f.eventuallyIDs(t, ditto, `eq(_namespace,"org.kept")`, "org.kept:k1", "org.kept:k2", "org.kept:k3")
	// Nor does background sync bring any back.
	s.TriggerSync()
	f.put(t, "org.kept:k4", `{}`)
	f.eventuallyIDs(t, ditto, `eq(thingId,"org.kept:k4")`, "org.kept:k4")
	if n := f.count(t, ditto, `eq(_namespace,"org.erased")`); n != 0 {
		t.Errorf("%d things of the erased namespace are indexed after a sync", n)
	}

	// Unblocked, the namespace is used and indexed again.
	pubsub(t, th, `{"type":"namespaces.commands:unblockNamespace","namespace":"org.erased"}`)
	if err := pkv.Purge(ctx, "org.erased"); err != nil {
		t.Fatal(err)
	}
	// The services learn of the unblocking from their buckets' watches:
	// until then the namespace is still refused.
	streamstest.Eventually(t, 10*time.Second, func() error {
		env := protocol.Envelope{Topic: protocol.NewTopic("org.erased:new", protocol.GroupThings, protocol.ChannelTwin,
			protocol.CriterionCommands, protocol.ActionModify).String(),
			Headers: protocol.Headers{protocol.HeaderTimeout: "10s"}, Path: "/", Value: json.RawMessage(`{"attributes":{"again":true}}`)}
		reply, err := f.cmd.Request(ctx, command.Request{Envelope: env, EntityID: "org.erased:new", Group: protocol.GroupThings,
			Auth: command.EncodeAuth(ditto), Timeout: 15 * time.Second})
		if err != nil {
			return err
		}
		if perr, ok := reply.AsError(); ok {
			return perr // (the policies journal was not purged here)
		}
		return nil
	})
	f.eventuallyIDs(t, ditto, `eq(_namespace,"org.erased")`, "org.erased:new")

	// Bad input: Ditto's error, nothing purged.
	if a, ok := sh(ctx, devops.Piggyback{Type: "namespaces.commands:purgeNamespace", Command: json.RawMessage(`{"type":"namespaces.commands:purgeNamespace"}`)}); !ok || a.Status != 400 {
		t.Errorf("purge without namespace answered %t %d %s", ok, a.Status, a.Body)
	}
	if _, ok := sh(ctx, devops.Piggyback{Type: "namespaces.commands:blockNamespace", Command: json.RawMessage(`{"namespace":"x"}`)}); ok {
		t.Error("the search service answered a block")
	}
	var e protocol.Error
	a, _ := sh(ctx, devops.Piggyback{Type: "namespaces.commands:purgeNamespace", Command: json.RawMessage(`{"namespace":"no good"}`)})
	if json.Unmarshal(a.Body, &e) != nil || e.Code != protocol.CodeNamespacedEntityIDInvalid {
		t.Errorf("purge of an invalid namespace answered %s", a.Body)
	}
	f.eventuallyIDs(t, ditto, `eq(_namespace,"org.erased")`, "org.erased:new")
}

// Events of a purged namespace that the index had not applied when the
// purge came are dropped, also where nothing blocked stops them (a thing
// whose policy is in another namespace) and also after the block is
// lifted.
func TestNamespacePurgeDropsOlderEvents(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := f.searchConfig("older.db")
	_, first := f.startSearch(t, cfg)
	f.send(t, ditto, protocol.GroupPolicies, protocol.ActionCreate, "org.kept:shared", "/",
		`{"entries":{"owner":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`, nil)
	f.put(t, "org.erased:t0", `{"policyId":"org.kept:shared"}`)
	f.eventuallyIDs(t, ditto, `eq(_namespace,"org.erased")`, "org.erased:t0")
	first.stop()
	for _, id := range []string{"org.erased:t1", "org.erased:t2", "org.erased:t3"} {
		f.put(t, id, `{"policyId":"org.kept:shared","attributes":{"x":1}}`)
	}
	f.put(t, "org.erased:t0", `{"policyId":"org.kept:shared","attributes":{"x":2}}`)
	th := f.things.svc.(*things.Service).NamespaceHandler()
	f.shortDuplicateWindow(t)
	pubsub(t, th, `{"type":"namespaces.commands:blockNamespace","namespace":"org.erased"}`)
	pubsub(t, th, `{"type":"namespaces.commands:purgeNamespace","namespace":"org.erased"}`)

	s, _ := f.launchSearch(t, cfg)
	if a := pubsub(t, s.NamespaceHandler(), `{"type":"namespaces.commands:purgeNamespace","namespace":"org.erased"}`); a.Status != 200 {
		t.Fatalf("search purge answered %d %s", a.Status, a.Body)
	}
	pubsub(t, th, `{"type":"namespaces.commands:unblockNamespace","namespace":"org.erased"}`)
	f.put(t, "org.kept:last", `{"policyId":"org.kept:shared"}`)
	f.eventuallyIDs(t, ditto, `eq(thingId,"org.kept:last")`, "org.kept:last")
	if ids := f.ids(t, ditto, `eq(_namespace,"org.erased")`, ""); len(ids) != 0 {
		t.Errorf("events from before the purge indexed %v again", ids)
	}
	// Events after the purge are indexed as usual.
	f.put(t, "org.erased:t9", `{"policyId":"org.kept:shared"}`)
	f.eventuallyIDs(t, ditto, `eq(_namespace,"org.erased")`, "org.erased:t9")
}

// shortDuplicateWindow shrinks the thing event stream's duplicate window
// to a second: unblocking a purged namespace waits for it.
func (f *fixture) shortDuplicateWindow(t *testing.T) {
	t.Helper()
	cfg := streams.DefaultConfig()
	cfg.DuplicateWindow = time.Second
	js, err := jetstream.New(f.srv.ConnectAs(t, streams.RoleThings))
	if err != nil {
		t.Fatal(err)
	}
	if err := streams.Ensure(context.Background(), js, f.names, cfg, streams.ServiceThings); err != nil {
		t.Fatal(err)
	}
}
