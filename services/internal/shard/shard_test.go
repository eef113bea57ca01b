package shard

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// ledger records which instance serves which shard and fails the test when
// two serve the same shard at once.
type ledger struct {
	t  *testing.T
	mu sync.Mutex
	by map[int]string
}

func (l *ledger) handler(instance string) Handler { return &ledgerHandler{l: l, instance: instance} }

func (l *ledger) snapshot() map[int]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[int]string, len(l.by))
	for k, v := range l.by {
		out[k] = v
	}
	return out
}

type ledgerHandler struct {
	l        *ledger
	instance string
}

func (h *ledgerHandler) Acquire(_ context.Context, s int) error {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	if other, ok := h.l.by[s]; ok {
		h.l.t.Errorf("%s acquired shard %d while %s still serves it", h.instance, s, other)
	}
	h.l.by[s] = h.instance
	return nil
}

func (h *ledgerHandler) Release(_ context.Context, s int) {
	h.l.mu.Lock()
	defer h.l.mu.Unlock()
	if h.l.by[s] != h.instance {
		h.l.t.Errorf("%s released shard %d it does not serve (served by %q)", h.instance, s, h.l.by[s])
	}
	delete(h.l.by, s)
}

const testShards = 12

func bucket(t *testing.T, srv *streamstest.Server, ttl time.Duration) jetstream.KeyValue {
	t.Helper()
	_, js := srv.JetStream(t)
	ctx := context.Background()
	cfg := streams.DefaultConfig()
	cfg.LeaseTTL = ttl
	n := streams.New("")
	if err := streams.Ensure(ctx, js, n, cfg, streams.ServiceThings); err != nil {
		t.Fatal(err)
	}
	kv, err := js.KeyValue(ctx, n.ShardLeaseBucket(streams.ServiceThings))
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

type running struct {
	m      *Manager
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, kv jetstream.KeyValue, instance string, ttl time.Duration, h Handler) *running {
	t.Helper()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})).With("instance", instance)
	m, err := New(kv, Config{Shards: testShards, Instance: instance, TTL: ttl}, h, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{m: m, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := m.Run(ctx); err != nil {
			t.Errorf("Run(%s): %v", instance, err)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *running) stop() {
	r.cancel()
	<-r.done
}

// owns returns a condition for streamstest.Eventually: r's manager owns
// exactly n shards.
func owns(name string, r *running, n int) func() error {
	return func() error {
		if got := r.m.Owned(); len(got) != n {
			return fmt.Errorf("%s owns %d shards %v, want %d", name, len(got), got, n)
		}
		return nil
	}
}

func allShards() []int {
	out := make([]int, testShards)
	for i := range out {
		out[i] = i
	}
	return out
}

func TestSingleInstanceTakesEveryShard(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	kv := bucket(t, srv, 2*time.Second)
	l := &ledger{t: t, by: map[int]string{}}
	a := start(t, kv, "a", 2*time.Second, l.handler("a"))
	streamstest.Eventually(t, 3*time.Second, func() error {
		if got := a.m.Owned(); !slices.Equal(got, allShards()) {
			return fmt.Errorf("a owns %v, want all shards %v", got, allShards())
		}
		return nil
	})
	a.stop()
	if got := l.snapshot(); len(got) != 0 {
		t.Errorf("after stop, shards still served: %v", got)
	}
	keys, err := kv.Keys(context.Background())
	if err == nil && len(keys) != 0 {
		t.Errorf("after stop, lease bucket still holds %v", keys)
	}
}

func TestInstancesSplitShardsAndHandOver(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	ttl := 2 * time.Second
	kv := bucket(t, srv, ttl)
	l := &ledger{t: t, by: map[int]string{}}
	a := start(t, kv, "a", ttl, l.handler("a"))
	streamstest.Eventually(t, 3*time.Second, owns("a", a, testShards))

	b := start(t, kv, "b", ttl, l.handler("b"))
	split := func() error {
		oa, ob := a.m.Owned(), b.m.Owned()
		union := slices.Sorted(slices.Values(append(slices.Clone(oa), ob...)))
		if len(oa) == 0 || len(ob) == 0 || !slices.Equal(union, allShards()) {
			return fmt.Errorf("a owns %v and b owns %v, want them to split all shards", oa, ob)
		}
		return nil
	}
	streamstest.Eventually(t, 3*ttl, split)
	for s, who := range l.snapshot() {
		owner := desiredOwner([]string{"a", "b"}, s)
		if who != owner {
			t.Errorf("shard %d served by %s, want the desired owner %s", s, who, owner)
		}
	}

	// A clean stop hands b every shard without waiting for expiry.
	a.stop()
	streamstest.Eventually(t, ttl, owns("b (after a stopped)", b, testShards))
}

func TestCrashedInstanceLeasesExpireAndMoveOn(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	ttl := time.Second
	kvB := bucket(t, srv, ttl)

	// a runs on its own connection; closing that connection is a crash: a
	// cannot hand anything back.
	ncA := srv.Connect(t)
	jsA, err := jetstream.New(ncA)
	if err != nil {
		t.Fatal(err)
	}
	kvA, err := jsA.KeyValue(context.Background(), streams.New("").ShardLeaseBucket(streams.ServiceThings))
	if err != nil {
		t.Fatal(err)
	}
	var crashedMu sync.Mutex
	crashed := map[int]bool{}
	a := start(t, kvA, "a", ttl, handlerFunc{
		acquire: func(s int) { crashedMu.Lock(); crashed[s] = true; crashedMu.Unlock() },
	})
	streamstest.Eventually(t, 3*time.Second, owns("a", a, testShards))
	ncA.Close()

	l := &ledger{t: t, by: map[int]string{}}
	b := start(t, kvB, "b", ttl, l.handler("b"))
	streamstest.Eventually(t, 5*ttl, owns("b (after a's leases expired)", b, testShards))
}

type handlerFunc struct{ acquire func(int) }

func (h handlerFunc) Acquire(_ context.Context, s int) error { h.acquire(s); return nil }
func (h handlerFunc) Release(context.Context, int)           {}

func TestFailingAcquireGivesLeaseBack(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	kv := bucket(t, srv, 2*time.Second)
	f := &failing{}
	a := start(t, kv, "a", 2*time.Second, f)
	streamstest.Eventually(t, time.Second, func() error {
		if n := f.attempts.Load(); n < testShards {
			return fmt.Errorf("%d Acquire attempts, want every shard (%d) tried", n, testShards)
		}
		return nil
	})
	a.stop()
	if got := a.m.Owned(); len(got) != 0 {
		t.Errorf("owned %v although every Acquire failed", got)
	}
	keys, _ := kv.Keys(context.Background())
	for _, k := range keys {
		if strings.HasPrefix(k, shardPrefix) {
			t.Errorf("lease %s left in bucket after a failed Acquire", k)
		}
	}
}

type failing struct{ attempts atomic.Int64 }

func (f *failing) Acquire(context.Context, int) error {
	f.attempts.Add(1)
	return fmt.Errorf("cannot serve")
}
func (*failing) Release(context.Context, int) {}

func TestDesiredOwnerIsStableAndBalanced(t *testing.T) {
	t.Parallel()
	members := []string{"x-1", "x-2", "x-3"}
	counts := map[string]int{}
	for s := range 300 {
		o := desiredOwner(members, s)
		if o2 := desiredOwner([]string{"x-3", "x-1", "x-2"}, s); o2 != o {
			t.Fatalf("owner of %d depends on member order: %s vs %s", s, o, o2)
		}
		counts[o]++
	}
	for _, m := range members {
		if counts[m] < 70 || counts[m] > 130 {
			t.Errorf("%s desired for %d of 300 shards, want about 100", m, counts[m])
		}
	}
	// Removing a member moves only that member's shards.
	for s := range 300 {
		before := desiredOwner(members, s)
		after := desiredOwner([]string{"x-1", "x-2"}, s)
		if before != "x-3" && before != after {
			t.Errorf("shard %d moved from %s to %s when x-3 left", s, before, after)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  Config
	}{
		{"no shards", Config{Shards: 0, Instance: "a", TTL: time.Second}},
		{"bad instance", Config{Shards: 1, Instance: "a.b", TTL: time.Second}},
		{"empty instance", Config{Shards: 1, Instance: "", TTL: time.Second}},
		{"short ttl", Config{Shards: 1, Instance: "a", TTL: time.Millisecond}},
	}
	for _, tc := range tests {
		if _, err := New(nil, tc.cfg, &failing{}, slog.Default()); err == nil {
			t.Errorf("%s: New accepted %+v", tc.name, tc.cfg)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// Heartbeats and renewals must not wake the manager: a steady instance
// rebalances on its ticker only.
func TestSteadyStateDoesNotSpin(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	ttl := 2 * time.Second
	kv := bucket(t, srv, ttl)
	l := &ledger{t: t, by: map[int]string{}}
	a := start(t, kv, "a", ttl, l.handler("a"))
	streamstest.Eventually(t, 3*time.Second, owns("a", a, testShards))
	before := a.m.passes.Load()
	time.Sleep(ttl) // time must pass: count the passes of a steady period (four ticks)
	if n := a.m.passes.Load() - before; n > 8 {
		t.Errorf("%d rebalance passes in %s of steady state, want about 4 (one per tick)", n, ttl)
	}
}

// An instance restarted under the same id takes its old leases over at once
// instead of waiting for them to expire.
func TestRestartedInstanceTakesOverItsLeases(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	ttl := 30 * time.Second // expiry would take far longer than the test
	kvB := bucket(t, srv, ttl)
	ncA := srv.Connect(t)
	jsA, err := jetstream.New(ncA)
	if err != nil {
		t.Fatal(err)
	}
	kvA, err := jsA.KeyValue(context.Background(), streams.New("").ShardLeaseBucket(streams.ServiceThings))
	if err != nil {
		t.Fatal(err)
	}
	a := start(t, kvA, "a", ttl, handlerFunc{acquire: func(int) {}})
	streamstest.Eventually(t, 3*time.Second, owns("a", a, testShards))
	ncA.Close() // crash: the leases stay in the bucket

	l := &ledger{t: t, by: map[int]string{}}
	again := start(t, kvB, "a", ttl, l.handler("a"))
	streamstest.Eventually(t, 5*time.Second, owns("the restarted a", again, testShards))
}

// batch is a BatchAcquirer that serves every shard but one, which fails.
type batch struct {
	mu    sync.Mutex
	calls [][]int
	fail  int
}

func (b *batch) Acquire(context.Context, int) error {
	panic("a BatchAcquirer is started through AcquireAll")
}
func (*batch) Release(context.Context, int) {}
func (b *batch) AcquireAll(_ context.Context, shards []int) map[int]error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, shards)
	return map[int]error{b.fail: fmt.Errorf("cannot serve")}
}

// A BatchAcquirer gets the shards of one pass in one call; a shard it
// fails to start is not owned and its lease goes back.
func TestBatchAcquirerStartsAPassTogether(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	kv := bucket(t, srv, 2*time.Second)
	b := &batch{fail: 3}
	a := start(t, kv, "a", 2*time.Second, b)
	streamstest.Eventually(t, 5*time.Second, owns("a (all but the failing shard)", a, testShards-1))
	b.mu.Lock()
	first := b.calls[0]
	b.mu.Unlock()
	if len(first) != testShards {
		t.Errorf("first pass started %v, want all %d shards in one call", first, testShards)
	}
	if slices.Contains(a.m.Owned(), 3) {
		t.Error("the shard whose start failed is owned")
	}
	if e, err := kv.Get(context.Background(), shardKey(3)); err == nil && string(e.Value()) == "a" {
		// It may have been leased again by a later pass; it must then
		// have been offered again.
		b.mu.Lock()
		n := len(b.calls)
		b.mu.Unlock()
		if n < 2 {
			t.Error("the failed shard's lease stayed without a second attempt")
		}
	}
}
