package things

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/streams/streamstest"
)

func TestPolicyCacheSharesEnforcersOfEqualEntries(t *testing.T) {
	t.Parallel()
	c := newPolicyCache(nil, 10, time.Hour)
	a, err := c.compile(defaultPolicy("ns:a", "nginx:ditto"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.compile(defaultPolicy("ns:b", "nginx:ditto"))
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("two policies with the same entries got different enforcers")
	}
	other, err := c.compile(defaultPolicy("ns:c", "nginx:ditto2"))
	if err != nil {
		t.Fatal(err)
	}
	if other == a {
		t.Error("policies with different entries share an enforcer")
	}
	if !other.For("ns", []string{"nginx:ditto2"}).Has("thing", nil, "READ") || other.For("ns", []string{"nginx:ditto"}).Has("thing", nil, "READ") {
		t.Error("shared enforcer grants the wrong subject")
	}
	// The bound holds.
	for i := range 50 {
		if _, err := c.compile(defaultPolicy("ns:x", "s:"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(c.shared); n > 10 {
		t.Errorf("%d shared enforcers, bound is 10", n)
	}
	if _, err := c.compile(jsonv.MustParse(`[1]`)); err == nil {
		t.Error("compiled a policy that is not an object")
	}
}

// policyStore stands in for the policies service behind a cache: it
// answers the policy's current subject and counts the loads.
type policyStore struct {
	mu      sync.Mutex
	subject map[string]string // policy id -> the one subject it grants
	loads   int
}

func (s *policyStore) set(id, subject string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subject[id] = subject
}

func (s *policyStore) fetch(_ context.Context, id string) (jsonv.Value, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.loads++
	sub, ok := s.subject[id]
	if !ok {
		return jsonv.Value{}, errPolicyGone
	}
	return defaultPolicy(id, sub), nil
}

func (s *policyStore) loadCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.loads
}

// testCache is a cache on a policyStore with a clock and a gaps count the
// test moves.
type testCache struct {
	*policyCache
	store    *policyStore
	clock    atomic.Int64 // nanoseconds
	gapCount atomic.Uint64
	blind    atomic.Bool // the event subscription is closed
}

func newTestCache(ttl time.Duration) *testCache {
	tc := &testCache{store: &policyStore{subject: map[string]string{}}}
	tc.policyCache = newPolicyCache(tc.store.fetch, 100, ttl)
	tc.now = func() time.Duration { return time.Duration(tc.clock.Load()) }
	tc.gaps = func() (uint64, bool) { return tc.gapCount.Load(), !tc.blind.Load() }
	return tc
}

// grants reports whether the cache's enforcer of id grants subject READ.
func (tc *testCache) grants(t *testing.T, id, subject string) bool {
	t.Helper()
	enf, err := tc.get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return enf.For("ns", []string{subject}).Has(enforcer.TypeThing, nil, enforcer.Read)
}

// A gap in the policy events drops every cached policy before the next
// get, so a change whose event was missed is seen at once.
func TestPolicyCacheDropsEverythingOnAGap(t *testing.T) {
	t.Parallel()
	tc := newTestCache(time.Hour)
	tc.store.set("ns:p", "s:old")
	tc.store.set("ns:q", "s:old")
	if !tc.grants(t, "ns:p", "s:old") || !tc.grants(t, "ns:q", "s:old") {
		t.Fatal("policies not loaded")
	}
	// Changed without an event: the cache keeps what it has...
	tc.store.set("ns:p", "s:new")
	if !tc.grants(t, "ns:p", "s:old") {
		t.Fatal("the cache loaded again without a reason")
	}
	// ...until a gap says events may have been missed.
	tc.gapCount.Add(1)
	if !tc.grants(t, "ns:p", "s:new") {
		t.Error("after a gap the cache still serves the policy from before it")
	}
	if n := len(tc.shared); n != 1 {
		t.Errorf("%d shared enforcers after the gap, want only the one loaded since", n)
	}
	loads := tc.store.loadCount()
	// A smaller count, as a get of an older command may read, drops
	// nothing again.
	tc.dropAll(0)
	tc.grants(t, "ns:p", "s:new")
	if got := tc.store.loadCount(); got != loads {
		t.Errorf("%d loads after an older gaps count, want %d", got, loads)
	}
	// The other policy was dropped as well.
	tc.grants(t, "ns:q", "s:old")
	if got := tc.store.loadCount(); got != loads+1 {
		t.Errorf("%d loads, want %d: ns:q was not dropped by the gap", got, loads+1)
	}
}

// A load that was running when the gap happened serves the commands that
// waited for it but is not kept: it may have read the policy before a
// change whose event was missed.
func TestPolicyCacheLoadAcrossAGapIsNotKept(t *testing.T) {
	t.Parallel()
	tc := newTestCache(time.Hour)
	tc.store.set("ns:p", "s:old")
	started, release := make(chan struct{}), make(chan struct{})
	var first atomic.Bool
	fetch := tc.fetch
	tc.fetch = func(ctx context.Context, id string) (jsonv.Value, error) {
		doc, err := fetch(ctx, id)
		if first.CompareAndSwap(false, true) {
			close(started)
			<-release
		}
		return doc, err
	}
	done := make(chan bool)
	go func() {
		enf, err := tc.get(context.Background(), "ns:p")
		done <- err == nil && enf.For("ns", []string{"s:old"}).Has(enforcer.TypeThing, nil, enforcer.Read)
	}()
	<-started // the first load has read s:old
	tc.store.set("ns:p", "s:new")
	tc.gapCount.Add(1)
	if !tc.grants(t, "ns:p", "s:new") {
		t.Error("a get after the gap got the policy of a load from before it")
	}
	close(release)
	if !<-done {
		t.Error("the get waiting for the first load did not get its result")
	}
	if !tc.grants(t, "ns:p", "s:new") {
		t.Error("the load from before the gap was kept")
	}
}

// Cached policies, and the enforcers shared between them, are loaded again
// once the TTL has passed since their load began, however often they were
// used meanwhile (Ditto's expire-after-write).
func TestPolicyCacheExpiresAfterTTL(t *testing.T) {
	t.Parallel()
	const ttl = time.Minute
	tc := newTestCache(ttl)
	tc.store.set("ns:p", "s:old")
	tc.store.set("ns:same", "s:old")
	tc.grants(t, "ns:p", "s:old")
	before, err := tc.get(context.Background(), "ns:p")
	if err != nil {
		t.Fatal(err)
	}
	tc.store.set("ns:p", "s:new")
	for _, at := range []time.Duration{ttl / 2, ttl - 1} {
		tc.clock.Store(int64(at))
		if !tc.grants(t, "ns:p", "s:old") {
			t.Fatalf("policy loaded again %s after its load, TTL %s", at, ttl)
		}
	}
	tc.clock.Store(int64(ttl))
	if !tc.grants(t, "ns:p", "s:new") {
		t.Error("policy still served from the cache after its TTL")
	}
	// A policy with the entries ns:p had: the shared enforcer of those
	// expired with it, so it is compiled again.
	same, err := tc.get(context.Background(), "ns:same")
	if err != nil {
		t.Fatal(err)
	}
	if same == before {
		t.Error("an expired shared enforcer was served again")
	}
}

// Without its event subscription the cache cannot know of any change, so
// it keeps nothing.
func TestPolicyCacheWithoutEventsKeepsNothing(t *testing.T) {
	t.Parallel()
	tc := newTestCache(time.Hour)
	tc.store.set("ns:p", "s:old")
	tc.blind.Store(true)
	tc.grants(t, "ns:p", "s:old")
	tc.store.set("ns:p", "s:new")
	if !tc.grants(t, "ns:p", "s:new") {
		t.Error("a cache without events served a policy it had loaded before")
	}
	if n := len(tc.entries); n != 0 {
		t.Errorf("%d entries kept without events", n)
	}
}

// eventGaps counts what nats.go reports synchronously: a message dropped
// for a full channel is counted before the connection delivers any later
// message, and a reconnect is counted.
func TestEventGapsCountsDropsAndReconnects(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	nc := srv.Connect(t, nats.ReconnectWait(10*time.Millisecond), nats.MaxReconnects(-1),
		nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {})) // the drop is expected
	pub := srv.Connect(t)
	events := make(chan *nats.Msg, 1) // nobody reads: the second event is dropped
	cmds := make(chan *nats.Msg, 1)
	evSub, err := nc.ChanSubscribe("ev.>", events)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.ChanSubscribe("cmd", cmds); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	gaps := eventGaps(nc, evSub)
	if n, ok := gaps(); n != 0 || !ok {
		t.Fatalf("gaps() = %d, %v before anything happened", n, ok)
	}
	for _, subj := range []string{"ev.1", "ev.2", "cmd"} {
		if err := pub.Publish(subj, nil); err != nil {
			t.Fatal(err)
		}
	}
	// No flush or wait: receiving the command is enough.
	<-cmds
	if n, _ := gaps(); n != 1 {
		t.Errorf("gaps() = %d once a command sent after a dropped event arrived, want 1", n)
	}

	if err := nc.ForceReconnect(); err != nil {
		t.Fatal(err)
	}
	streamstest.Eventually(t, 5*time.Second, func() error {
		if n, _ := gaps(); n != 2 {
			return fmt.Errorf("gaps() = %d after a reconnect, want 2", n)
		}
		return nil
	})
	if err := evSub.Unsubscribe(); err != nil {
		t.Fatal(err)
	}
	if _, ok := gaps(); ok {
		t.Error("gaps() still watching after the subscription closed")
	}
}

// The hit path of get, which every enforced command takes: without gap
// detection, and with it on a live connection (nc's and the
// subscription's mutex, no system call).
func BenchmarkPolicyCacheGet(b *testing.B) {
	srv := streamstest.Start(b)
	nc := srv.Connect(b)
	sub, err := nc.ChanSubscribe("ev.>", make(chan *nats.Msg, 1))
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		gaps func() (uint64, bool)
	}{
		{"without gaps", nil},
		{"with gaps", eventGaps(nc, sub)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			store := &policyStore{subject: map[string]string{"ns:p": "s:a"}}
			c := newPolicyCache(store.fetch, 100, time.Hour)
			c.gaps = bc.gaps
			ctx := context.Background()
			if _, err := c.get(ctx, "ns:p"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := c.get(ctx, "ns:p"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
