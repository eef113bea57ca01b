package policies

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
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

// The policies service blocks, shuts down, purges and unblocks a
// namespace of policies, answering for resource type "policy".
func TestNamespaceErasure(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, testConfig())
	h := f.svc.NamespaceHandler()
	erased, kept := "org.erased:p", "org.kept:p"
	for _, id := range []string{erased, kept} {
		f.must(t, id, "create", "/", basePolicy)
	}
	pubsub(t, h, `{"type":"namespaces.commands:blockNamespace","namespace":"org.erased"}`)
	env := f.send(t, erased, "retrieve", "/", "", nil, owner)
	if e, ok := env.AsError(); !ok || !errors.Is(e, code(protocol.CodeNamespaceBlocked)) || e.Status != 409 {
		t.Fatalf("a blocked policy answered %d %s", env.Status, env.Value)
	}
	if a := pubsub(t, h, `{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"org.erased"}}`); a.Body != nil {
		t.Errorf("shutdown answered %s", a.Body)
	}
	a := pubsub(t, h, `{"type":"namespaces.commands:purgeNamespace","namespace":"org.erased"}`)
	want := `{"type":"namespaces.responses:purgeNamespace","status":200,"namespace":"org.erased","resourceType":"policy","successful":true}`
	if string(a.Body) != want {
		t.Errorf("purge answered %s, want %s", a.Body, want)
	}
	ctx := context.Background()
	if n, _ := f.j.HighestSN(ctx, "policy:"+erased); n != 0 {
		t.Errorf("revision %d of the erased policy left", n)
	}
	if _, ok, _ := f.j.LatestSnapshot(ctx, "policy:"+erased, math.MaxInt64); ok {
		t.Error("a snapshot of the erased policy left")
	}
	pubsub(t, h, `{"type":"namespaces.commands:unblockNamespace","namespace":"org.erased"}`)
	if env := f.send(t, erased, "retrieve", "/", "", nil, owner); env.Status != 404 {
		t.Errorf("erased policy answered %d %s, want 404", env.Status, env.Value)
	}
	f.must(t, erased, "create", "/", basePolicy)
	if env := f.send(t, kept, "retrieve", "/", "", nil, owner); env.Status != 200 {
		t.Errorf("kept policy answered %d %s", env.Status, env.Value)
	}
}
