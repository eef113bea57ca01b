package things_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/things"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// The things service enforces with cached policies. These tests change a
// policy in ways its event does not reach the service and show that the
// change is still enforced: at once after a reconnect or dropped events,
// after THINGS_POLICY_CACHE_TTL when nothing tells.

// link is a NATS dialer the test controls: cut closes the live connections
// and refuses new ones until heal.
type link struct {
	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

var errCut = errors.New("link cut by the test")

// Dial implements nats.CustomDialer.
func (l *link) Dial(network, address string) (net.Conn, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.cut {
		return nil, errCut
	}
	c, err := net.Dial(network, address)
	if err != nil {
		return nil, err
	}
	l.conns = append(l.conns, c)
	return c, nil
}

func (l *link) partition() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = true
	for _, c := range l.conns {
		c.Close()
	}
	l.conns = nil
}

func (l *link) heal() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = false
}

// guestPolicy is an inline policy: nginx:ditto owns the thing, nginx:ditto2
// reads it through the entry GUEST.
const guestPolicy = `"_policy":{"entries":{
	"OWNER":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}},
	"GUEST":{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`

// createGuestThing creates id with guestPolicy and has ditto2 read it, so
// that the things service has the policy cached.
func (f *fixture) createGuestThing(t *testing.T, id string) {
	t.Helper()
	f.expect(t, thing(ditto, modify, id).with(`{"thingId":"`+id+`","attributes":{"a":1},`+guestPolicy+`}`), 201, "")
	f.expect(t, thing(ditto2, retrieve, id), 200, "")
}

// A grant revoked while the things service is cut off from NATS is
// enforced on the first command after it is back: its event was published
// while it was away and never reaches it.
func TestRevokeDuringPartitionIsEnforcedAfterReconnect(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startPolicies(t, policiesConfig())
	l := &link{}
	svc := f.startThings(t, thingsConfig(), nats.SetCustomDialer(l), nats.MaxReconnects(-1),
		nats.ReconnectWait(20*time.Millisecond), nats.ReconnectJitter(0, 0), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	const id = "org.eclipse.ditto:partitioned"
	f.createGuestThing(t, id)

	l.partition()
	streamstest.Eventually(t, 10*time.Second, func() error {
		if !svc.nc.IsReconnecting() {
			return fmt.Errorf("things service connection %s, want reconnecting", svc.nc.Status())
		}
		return nil
	})
	// Acknowledged: the policy is changed and its event published.
	f.expect(t, policy(ditto, del, id+"/entries/GUEST"), 204, "")
	l.heal()
	streamstest.Eventually(t, 10*time.Second, func() error {
		if !svc.nc.IsConnected() {
			return fmt.Errorf("things service connection %s, want connected", svc.nc.Status())
		}
		return nil
	})
	// The reconnect sent the subscriptions again before the PONG of this
	// flush: the server has them, so the next command reaches the service.
	if err := svc.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	f.expect(t, thing(ditto2, retrieve, id), 404, "things:thing.notfound")
	f.expect(t, thing(ditto2, modify, id+"/attributes/a").with(`2`), 404, "things:thing.notfound")
	f.expect(t, thing(ditto, retrieve, id+"/attributes/a"), 200, "")
}

// A grant revoked while the things service drops policy events (its inbox
// is full) is enforced on the next command.
func TestRevokeWhosePolicyEventWasDroppedIsEnforced(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startPolicies(t, policiesConfig())
	// A small inbox: the flood of policy events passes through the events
	// stream (the service follows what it republishes), too slowly under
	// -race to fill 65,536 places in time.
	svc := f.startThings(t, things.WithInboxSize(thingsConfig(), 256), nats.ErrorHandler(func(*nats.Conn, *nats.Subscription, error) {}))
	ts := svc.run.(*things.Service)
	const id = "org.eclipse.ditto:dropped"
	f.createGuestThing(t, id)

	// Fill the inbox with policy events of other policies until NATS drops
	// them: the dispatcher is held in the first one.
	release := ts.HoldPolicyEvents()
	held := true
	defer func() {
		if held {
			release()
		}
	}()
	// Published into the stream and acknowledged, so that the stream has
	// republished them all before the revoke: its event then finds the
	// inbox full, not a backlog of the flood still on its way.
	js, err := jetstream.New(f.srv.ConnectAs(t, streams.RolePolicies))
	if err != nil {
		t.Fatal(err)
	}
	gaps := ts.PolicyEventGaps()
	streamstest.Eventually(t, 30*time.Second, func() error {
		for i := range 1024 {
			m := nats.NewMsg(f.names.PolicyEvents("flood"))
			m.Header.Set(streams.HeaderEntity, fmt.Sprintf("flood:p%d", i))
			if _, err := js.PublishMsgAsync(m); err != nil {
				return err
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(10 * time.Second):
			return errors.New("the flood is not acknowledged")
		}
		if ts.PolicyEventGaps() == gaps {
			return errors.New("no policy event dropped yet")
		}
		return nil
	})
	// The revoke's event is dropped too: the inbox is still full.
	f.expect(t, policy(ditto, del, id+"/entries/GUEST"), 204, "")
	release()
	held = false

	// The inbox may still be full of the flood for a moment: a command
	// NATS drops meanwhile is sent again. The first answer counts.
	f.expectRetried(t, thing(ditto2, retrieve, id), 404, "things:thing.notfound")
	f.expectRetried(t, thing(ditto, retrieve, id+"/attributes/a"), 200, "")
}

// expectRetried is expect, sending c again while NATS drops it (no answer
// within 2 s), for up to 30 s.
func (f *fixture) expectRetried(t *testing.T, c command, status int, code string) {
	t.Helper()
	c.timeout = 2 * time.Second
	deadline := time.Now().Add(30 * time.Second)
	for {
		env, err := f.request(c)
		if errors.Is(err, nats.ErrTimeout) && time.Now().Before(deadline) {
			continue
		}
		if err != nil {
			t.Fatalf("%s %s%s: %v", c.action, c.id, c.path, err)
		}
		newReply(env).want(t, c, status, code)
		return
	}
}

// A policy changed without any event (written into the policies journal
// while the policies service was stopped, as a lost event would leave it)
// is enforced once THINGS_POLICY_CACHE_TTL has passed since it was loaded.
func TestPolicyChangedBehindTheCacheIsEnforcedAfterTTL(t *testing.T) {
	t.Parallel()
	const ttl = 2 * time.Second
	f := newFixture(t)
	pol := f.startPolicies(t, policiesConfig())
	cfg := thingsConfig()
	cfg.PolicyCacheTTL = ttl
	f.startThings(t, cfg)
	const id = "org.eclipse.ditto:expiring"
	loaded := time.Now() // the cache loads the policy after this
	f.createGuestThing(t, id)

	// The policy without GUEST, as the next revision's snapshot.
	current := f.expect(t, policy(ditto, retrieve, id), 200, "")
	revoked, ok := current.value(t).Delete(jsonv.Pointer{"entries", "GUEST"})
	if !ok {
		t.Fatal("no GUEST entry")
	}
	var rev int64
	if _, err := fmt.Sscanf(current.etag(), `"rev:%d"`, &rev); err != nil {
		t.Fatalf("policy ETag %q: %v", current.etag(), err)
	}
	pol.stop()
	now := time.Now().UTC().Format(time.RFC3339Nano)
	snap := `{"created":"` + now + `","modified":"` + now + `","entity":` + revoked.String() + `}`
	if err := f.policiesJ.SaveSnapshot(context.Background(), journal.Snapshot{PID: "policy:" + id, SN: rev + 1, Timestamp: time.Now(), Payload: []byte(snap)}); err != nil {
		t.Fatal(err)
	}
	f.startPolicies(t, policiesConfig())
	if p := f.expect(t, policy(ditto, retrieve, id), 200, ""); strings.Contains(string(p.env.Value), "GUEST") {
		t.Fatalf("policy after the restart %s, want it without GUEST", p.env.Value)
	}

	// Within the TTL the cached policy still grants; then it is loaded
	// again.
	r := f.send(t, thing(ditto2, retrieve, id))
	if time.Since(loaded) < ttl && r.status != 200 {
		t.Errorf("within the TTL: %s, want the cached policy's 200", r)
	}
	streamstest.Eventually(t, 10*ttl, func() error {
		if r := f.send(t, thing(ditto2, retrieve, id)); r.status != 404 || r.code != "things:thing.notfound" {
			return fmt.Errorf("%s %s after %s, want 404 things:thing.notfound", r, r.code, time.Since(loaded).Round(time.Millisecond))
		}
		return nil
	})
	if d := time.Since(loaded); d < ttl {
		t.Errorf("revoked grant enforced %s after the load, before the TTL of %s", d, ttl)
	}
}
