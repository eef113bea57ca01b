package entity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// inMemory reports whether the host holds entity id.
func (h *Host) inMemory(id string) bool {
	sh := h.shards[h.shardOf(id)]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	_, ok := sh.slots[id]
	return ok
}

// A blocked namespace's commands, of every kind and live signals too, are
// refused with Ditto's namespace.blocked before they reach an entity:
// none is loaded. Other namespaces are served as before; after the block
// is lifted, so is this one.
func TestBlockedNamespaceIsRefused(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.host(t, &docHandler{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	blocked, other := "org.blocked:a", "org.blocked2:a"
	wantStatus(t, f.send(t, blocked, "modify", "/", `{"a":1}`, nil), 204)
	wantStatus(t, f.send(t, other, "modify", "/", `{"a":1}`, nil), 204)
	h.Unload("org.blocked", false)
	if h.inMemory(blocked) {
		t.Fatal("the idle entity was not unloaded")
	}

	if err := h.Blocklist().Block(ctx, "org.blocked", "test"); err != nil {
		t.Fatal(err)
	}
	for _, action := range []string{"retrieve", "modify", "delete"} {
		env := f.send(t, blocked, action, "/a", `2`, protocol.Headers{"correlation-id": "c-" + action})
		e, ok := env.AsError()
		if !ok || !errors.Is(e, protocol.ErrNamespaceBlocked("")) || e.Status != 409 {
			t.Fatalf("%s in a blocked namespace: %d %s, want 409 namespace.blocked", action, env.Status, env.Value)
		}
		if e.Message != "Namespace 'org.blocked' is not available due to an ongoing operation." || e.Description != "Please try again later." {
			t.Errorf("error %q / %q", e.Message, e.Description)
		}
		if env.Topic != "org.blocked/a/things/twin/errors" || env.Headers["correlation-id"] != "c-"+action {
			t.Errorf("error topic %s, correlation-id %q", env.Topic, env.Headers["correlation-id"])
		}
	}
	// A live signal, a sudo and an internal command, and a hand-written
	// command without the entity header are refused alike.
	live := f.command(t, blocked, "retrieve", "/a", "", nil, auth)
	live.Header.Set(streams.HeaderLive, "true")
	sudo := f.command(t, blocked, "retrieve", "/a", "", nil, auth)
	sudo.Subject = f.names.Commands(streams.ServiceThings, streams.KindSudo, streams.Shard(blocked, testShards))
	sudo.Header.Set(streams.HeaderSudo, "true")
	internal := f.command(t, blocked, "retrieve", "/a", "", nil, "")
	internal.Subject = f.names.Commands(streams.ServiceThings, streams.KindInternal, streams.Shard(blocked, testShards))
	bare := f.command(t, blocked, "retrieve", "/a", "", nil, auth)
	bare.Header.Del(streams.HeaderEntity)
	for name, msg := range map[string]*nats.Msg{"live": live, "sudo": sudo, "internal": internal, "without entity header": bare} {
		reply, err := f.nc.RequestMsg(msg, 10*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		env, err := protocol.DecodeEnvelope(reply.Data)
		if err != nil {
			t.Fatal(err)
		}
		if e, ok := env.AsError(); !ok || e.Code != protocol.CodeNamespaceBlocked {
			t.Errorf("%s command in a blocked namespace: %d %s", name, env.Status, env.Value)
		}
	}
	if h.inMemory(blocked) {
		t.Error("a refused command loaded its entity")
	}
	wantStatus(t, f.send(t, other, "modify", "/a", `2`, nil), 204)

	if err := h.Blocklist().Unblock(ctx, "org.blocked"); err != nil {
		t.Fatal(err)
	}
	env := f.send(t, blocked, "retrieve", "/a", "", nil)
	wantStatus(t, env, 200)
	if string(env.Value) != "1" {
		t.Errorf("after the block: %s, want the value from before", env.Value)
	}
}

// A block made before a host starts, or while it runs through another
// instance's blocklist, holds on this host too.
func TestBlockReachesOtherAndLaterHosts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	first := f.host(t, &docHandler{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := first.Blocklist().Block(ctx, "early", "first"); err != nil {
		t.Fatal(err)
	}
	first.stop()
	second := f.host(t, &docHandler{}, nil)
	if e, ok := f.send(t, "early:x", "retrieve", "/", "", nil).AsError(); !ok || e.Code != protocol.CodeNamespaceBlocked {
		t.Error("a host started after the block serves the blocked namespace")
	}
	// Blocked through another blocklist of the same bucket.
	other := f.host(t, &docHandler{}, nil)
	if err := other.Blocklist().Block(ctx, "late", "other"); err != nil {
		t.Fatal(err)
	}
	streamstest.Eventually(t, 5*time.Second, func() error {
		if !second.Blocklist().Blocked("late") {
			return errors.New("the running host has not seen the block")
		}
		return nil
	})
}

// Unload drops a namespace's entities from memory without writing:
// idle ones at once, a running one once its commands are done; entities
// of other namespaces stay. The next command loads the entity again from
// the journal.
func TestUnload(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	h := f.host(t, &docHandler{gate: gate, started: started}, nil)
	ids := []string{"ns:idle", "ns:busy", "ns2:kept", "ns.x:kept"}
	for _, id := range ids {
		wantStatus(t, f.send(t, id, "modify", "/", `{"v":1}`, nil), 204)
	}
	reply := nats.NewInbox()
	replies, err := f.nc.SubscribeSync(reply)
	if err != nil {
		t.Fatal(err)
	}
	msg := f.command(t, "ns:busy", "modify", "/v", "2", protocol.Headers{"block": "1"}, auth)
	msg.Reply = reply
	if err := f.nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	<-started
	before, _ := f.j.HighestSN(context.Background(), "thing:ns:idle")
	if left := h.Unload("ns", false); left != 1 {
		t.Errorf("Unload left %d entities, want the running one", left)
	}
	if h.inMemory("ns:idle") || !h.inMemory("ns:busy") || !h.inMemory("ns2:kept") || !h.inMemory("ns.x:kept") {
		t.Errorf("after Unload: idle %t busy %t ns2 %t ns.x %t in memory", h.inMemory("ns:idle"), h.inMemory("ns:busy"),
			h.inMemory("ns2:kept"), h.inMemory("ns.x:kept"))
	}
	close(gate)
	if _, err := replies.NextMsg(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	streamstest.Eventually(t, 5*time.Second, func() error {
		if h.inMemory("ns:busy") {
			return errors.New("the entity is still in memory after its command")
		}
		return nil
	})
	if after, _ := f.j.HighestSN(context.Background(), "thing:ns:idle"); after != before {
		t.Errorf("unloading wrote: revision %d, was %d", after, before)
	}
	env := f.send(t, "ns:busy", "retrieve", "/v", "", nil)
	if string(env.Value) != "2" {
		t.Errorf("reloaded entity: %s, want 2", env.Value)
	}
	// The retrieve's reply may reach the test before its worker is done
	// with it: then it is unloaded when the worker is.
	h.Unload("ns", false)
	streamstest.Eventually(t, 5*time.Second, func() error {
		if h.inMemory("ns:busy") {
			return errors.New("the reloaded entity was not unloaded")
		}
		if n := h.loaded.Load(); n != 2 {
			return fmt.Errorf("host counts %d entities in memory, want 2", n)
		}
		return nil
	})
}

// PurgeNamespace deletes the namespace's entities from memory and from
// the journal; the namespace starts afresh, other namespaces keep
// everything.
func TestPurgeNamespace(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.host(t, &docHandler{}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 5 { // past the snapshot threshold (3)
		wantStatus(t, f.send(t, "gone:a", "modify", "/v", strings.Repeat("1", i+1), nil), 204)
		wantStatus(t, f.send(t, "kept:a", "modify", "/v", "1", nil), 204)
	}
	wantStatus(t, f.send(t, "gone:b", "modify", "/", `{}`, nil), 204)
	if err := h.Blocklist().Block(ctx, "gone", "test"); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := h.PurgeNamespace(ctx, "gone"); err != nil {
			t.Fatal(err)
		}
	}
	for _, pid := range []string{"thing:gone:a", "thing:gone:b"} {
		if n, _ := f.j.HighestSN(ctx, pid); n != 0 {
			t.Errorf("%s: revision %d left in the journal", pid, n)
		}
		if _, ok, _ := f.j.LatestSnapshot(ctx, pid, math.MaxInt64); ok {
			t.Errorf("%s: snapshot left", pid)
		}
	}
	if h.inMemory("gone:a") || h.inMemory("gone:b") {
		t.Error("purged entities are still in memory")
	}
	if n, _ := f.j.HighestSN(ctx, "thing:kept:a"); n != 5 {
		t.Errorf("kept:a has revision %d, want 5", n)
	}
	if err := h.Blocklist().Unblock(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, f.send(t, "gone:a", "retrieve", "/", "", nil), 404)
	wantStatus(t, f.send(t, "gone:a", "modify", "/", `{"new":true}`, nil), 204)
	env := f.send(t, "gone:a", "retrieve", "/", "", nil)
	if string(env.Value) != `{"new":true}` || env.Headers["etag"] != `"rev:1"` {
		t.Errorf("recreated: %s %s, want the new entity at revision 1", env.Value, env.Headers["etag"])
	}
}

// A purge waits for the namespace's running commands, within its context.
func TestPurgeNamespaceWaitsForRunningCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gate := make(chan struct{})
	started := make(chan struct{}, 1)
	h := f.host(t, &docHandler{gate: gate, started: started}, nil)
	wantStatus(t, f.send(t, "busy:a", "modify", "/", `{}`, nil), 204)
	msg := f.command(t, "busy:a", "modify", "/v", "1", protocol.Headers{"block": "1"}, auth)
	if err := f.nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	<-started
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := h.PurgeNamespace(short, "busy"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("purge with a command running: %v, want the deadline", err)
	}
	if n, _ := f.j.HighestSN(context.Background(), "thing:busy:a"); n == 0 {
		t.Fatal("a purge that gave up deleted the journal")
	}
	close(gate)
	ctx, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	if err := h.PurgeNamespace(ctx, "busy"); err != nil {
		t.Fatal(err)
	}
	if n, _ := f.j.HighestSN(ctx, "thing:busy:a"); n != 0 {
		t.Errorf("revision %d left after the purge", n)
	}
}

// BenchmarkRetrieve is a twin retrieve through NATS and the host, as
// READ_THINGS makes it, with no namespace blocked and with ten other
// namespaces blocked, alternating (blocking and unblocking between
// rounds), so that drift over the run does not pass for the block
// check's cost.
func BenchmarkRetrieve(b *testing.B) {
	f := newFixture(b)
	h := f.host(b, &docHandler{}, nil)
	ctx := context.Background()
	id := "org.eclipse.ditto:bench"
	if _, err := f.request(id, "modify", "/", `{"a":1}`, nil, auth); err != nil {
		b.Fatal(err)
	}
	msg := f.command(nil, id, "retrieve", "/", "", nil, auth)
	others := []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"}
	run := func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.nc.RequestMsg(msg, 5*time.Second); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	for range 3 {
		for _, ns := range others {
			if err := h.Blocklist().Unblock(ctx, ns); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("none blocked", run)
		for _, ns := range others {
			if err := h.Blocklist().Block(ctx, ns, "bench"); err != nil {
				b.Fatal(err)
			}
		}
		b.Run("ten others blocked", run)
	}
}

// A namespace purged is unblocked only once its event stream has
// forgotten the message ids of the erased events: the entities recreated
// then start at revision 1 again, and their events must not be dropped as
// duplicates of the erased ones.
func TestUnblockWaitsForTheDuplicateWindow(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := streams.DefaultConfig()
	cfg.DuplicateWindow = 2 * time.Second
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := streams.Ensure(ctx, f.js, f.names, cfg, streams.ServiceThings); err != nil {
		t.Fatal(err)
	}
	h := f.host(t, &docHandler{}, nil)
	wantStatus(t, f.send(t, "dup:a", "modify", "/", `{"old":true}`, nil), 204)
	if err := h.BlockNamespace(ctx, "dup"); err != nil {
		t.Fatal(err)
	}
	if err := h.PurgeNamespace(ctx, "dup"); err != nil {
		t.Fatal(err)
	}
	purged := time.Now()
	short, cancelShort := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancelShort()
	if err := h.UnblockNamespace(short, "dup"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("unblock right after the purge: %v, want it to wait past its deadline", err)
	}
	if !h.Blocklist().Blocked("dup") {
		t.Fatal("a failed unblock lifted the block")
	}
	if err := h.UnblockNamespace(ctx, "dup"); err != nil {
		t.Fatal(err)
	}
	if waited := time.Since(purged); waited < 1500*time.Millisecond {
		t.Errorf("unblocked %s after the purge, within the duplicate window", waited)
	}
	wantStatus(t, f.send(t, "dup:a", "modify", "/", `{"new":true}`, nil), 204)
	cons, err := f.js.OrderedConsumer(ctx, f.names.ThingEventsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.names.ThingEvents("dup")}})
	if err != nil {
		t.Fatal(err)
	}
	// The purge took the erased event out of the stream; the recreated
	// entity's event, with the erased one's message id, is there.
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("events of dup:a: %v; the recreated entity's is missing", err)
	}
	if env, _ := protocol.DecodeEnvelope(m.Data()); string(env.Value) != `{"new":true}` {
		t.Errorf("first event of dup:a after the purge: %s, want the recreated entity's", env.Value)
	}
	if m, err := cons.Next(jetstream.FetchMaxWait(200 * time.Millisecond)); err == nil {
		t.Errorf("another event of dup:a: %s", m.Data())
	}
	// A namespace that was not purged is unblocked at once.
	if err := h.BlockNamespace(ctx, "other"); err != nil {
		t.Fatal(err)
	}
	quick, cancelQuick := context.WithTimeout(ctx, time.Second)
	defer cancelQuick()
	if err := h.UnblockNamespace(quick, "other"); err != nil {
		t.Errorf("unblock of a namespace never purged: %v", err)
	}
}
