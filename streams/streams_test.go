package streams_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// The shard function is a wire contract between gateways and services; these
// vectors must never change.
func TestShardGoldenVectors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id     string
		shards int
		want   int
	}{
		{"", 30, 1},
		{"org.eclipse.ditto:fancy-thing_53", 30, 21},
		{"org.eclipse.ditto:fancy-thing_53", 64, 3},
		{"my.test:thing-1", 30, 19},
		{"my.test:thing-1", 64, 55},
		{"a:b", 30, 4},
		{":x", 30, 7},
		{"com.acme:ünïcödé", 30, 13},
		{"com.acme:ünïcödé", 1, 0},
	}
	for _, tc := range tests {
		if got := streams.Shard(tc.id, tc.shards); got != tc.want {
			t.Errorf("Shard(%q, %d) = %d, want %d", tc.id, tc.shards, got, tc.want)
		}
	}
}

func TestShardSpreadsIDs(t *testing.T) {
	t.Parallel()
	counts := make([]int, streams.DefaultShards)
	const n = 30000
	for i := range n {
		counts[streams.Shard("org.example:thing-"+itoa(i), streams.DefaultShards)]++
	}
	for s, c := range counts {
		// Uniform would be 1000 per shard; anything within 20% is fine.
		if c < 800 || c > 1200 {
			t.Errorf("shard %d got %d of %d ids, want about %d", s, c, n, n/streams.DefaultShards)
		}
	}
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

func TestNames(t *testing.T) {
	t.Parallel()
	n := streams.New("")
	tests := []struct{ got, want string }{
		{n.ThingCommands(7), "ditto.things.commands.7"},
		{n.PolicyCommands(0), "ditto.policies.commands.0"},
		{n.ThingEvents("org.eclipse.ditto"), "ditto.things.events.org~eclipse~ditto"},
		{n.ThingEvents(""), "ditto.things.events._"},
		{n.ThingEventsAll(), "ditto.things.events.>"},
		{n.ThingStoredEvents("org.eclipse.ditto"), "ditto.things.stored-events.org~eclipse~ditto"},
		{n.ThingStoredEventsAll(), "ditto.things.stored-events.>"},
		{n.PolicyStoredEventsAll(), "ditto.policies.stored-events.>"},
		{n.LiveMessages("org.eclipse.ditto"), "ditto.things.live.messages.org~eclipse~ditto"},
		{n.LiveMessages(""), "ditto.things.live.messages._"},
		{n.LiveMessagesAll(), "ditto.things.live.messages.>"},
		{streams.New("acme.prod").LiveMessages("a.b"), "acme.prod.things.live.messages.a~b"},
		{n.PolicyEvents("com.acme-x"), "ditto.policies.events.com~acme-x"},
		{n.PolicyEventsAll(), "ditto.policies.events.>"},
		{n.DevOps("things"), "ditto.devops.things"},
		{n.DevOpsInstance("things", "host-1"), "ditto.devops.things.host-1"},
		{n.DevOpsAll(), "ditto.devops.>"},
		{n.ThingEventsStream(), "DITTO_THINGS_EVENTS"},
		{n.PolicyEventsStream(), "DITTO_POLICIES_EVENTS"},
		{n.ShardLeaseBucket("things"), "DITTO_THINGS_SHARDS"},
		{streams.New("acme.prod").ThingCommands(1), "acme.prod.things.commands.1"},
		{streams.New("acme.prod").ThingEventsStream(), "ACME_PROD_THINGS_EVENTS"},
		{streams.EventMsgID("a:b", 42), "a:b:42"},
		{n.Commands(streams.ServiceThings, streams.KindSudo, 3), "ditto.things.sudo.3"},
		{n.Commands(streams.ServicePolicies, streams.KindInternal, 0), "ditto.policies.internal.0"},
		{n.CommandsAll(streams.ServiceThings, streams.KindCommands), "ditto.things.commands.*"},
		{n.PublishedBucket("things"), "DITTO_THINGS_PUBLISHED"},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

func TestNamespaceTokenRoundTrip(t *testing.T) {
	t.Parallel()
	for _, ns := range []string{"", "a", "org.eclipse.ditto", "com.acme-corp.x_y"} {
		tok := streams.NamespaceToken(ns)
		if strings.ContainsAny(tok, ". *>") || tok == "" {
			t.Errorf("NamespaceToken(%q) = %q is not a single subject token", ns, tok)
		}
		if got := streams.NamespaceFromToken(tok); got != ns {
			t.Errorf("NamespaceFromToken(NamespaceToken(%q)) = %q", ns, got)
		}
	}
}

func FuzzNamespaceToken(f *testing.F) {
	f.Add("org.eclipse.ditto")
	f.Add("")
	f.Fuzz(func(t *testing.T, ns string) {
		// Only namespaces (which never contain '~' and are never "_") must round-trip.
		if strings.Contains(ns, "~") || ns == "_" {
			return
		}
		if got := streams.NamespaceFromToken(streams.NamespaceToken(ns)); got != ns {
			t.Fatalf("round trip of %q gave %q", ns, got)
		}
	})
}

// Entity ids travel in a NATS header, whose values lose leading and
// trailing blanks; the encoding keeps them.
func TestEntityHeader(t *testing.T) {
	t.Parallel()
	tests := []struct{ id, header string }{
		{"org.eclipse.ditto:x", "org.eclipse.ditto:x"},
		{"org.eclipse.ditto:x ", `"org.eclipse.ditto:x "`},
		{":\tx", ":\tx"},
		{"a:b\t", `"a:b\t"`},
		{"a:in side", "a:in side"},
		{"a:ünï", "a:ünï"},
		{"", ""},
	}
	for _, tc := range tests {
		if got := streams.EncodeEntityHeader(tc.id); got != tc.header {
			t.Errorf("EncodeEntityHeader(%q) = %q, want %q", tc.id, got, tc.header)
		}
		if got := streams.DecodeEntityHeader(tc.header); got != tc.id {
			t.Errorf("DecodeEntityHeader(%q) = %q, want %q", tc.header, got, tc.id)
		}
	}
	if got := streams.DecodeEntityHeader(`"unterminated`); got != "" {
		t.Errorf("a broken quoted header decodes to %q, want no entity", got)
	}
}

// Every entity id survives a trip through a real NATS header.
func FuzzEntityHeader(f *testing.F) {
	srv := streamstest.Start(f)
	nc := srv.Connect(f)
	sub, err := nc.SubscribeSync("fuzz")
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"org.eclipse.ditto:x", "a:b ", " :x", "a:\"q\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		// Entity ids have no control characters but the tab, and are UTF-8.
		if id == "" || strings.ContainsFunc(id, func(r rune) bool { return r < 0x20 && r != '\t' || r == 0x7f }) || !utf8.ValidString(id) {
			return
		}
		if id[0] == '"' { // no id starts with '"': the namespace comes first
			return
		}
		msg := nats.NewMsg("fuzz")
		msg.Header.Set(streams.HeaderEntity, streams.EncodeEntityHeader(id))
		if err := nc.PublishMsg(msg); err != nil {
			t.Fatal(err)
		}
		m, err := sub.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		if got := streams.DecodeEntityHeader(m.Header.Get(streams.HeaderEntity)); got != id {
			t.Fatalf("id %q came back as %q", id, got)
		}
	})
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := streams.DefaultConfig().Validate(); err != nil {
		t.Fatalf("default config invalid: %v", err)
	}
	bad := streams.Config{Replicas: 0, EventsMaxAge: 0, EventsMaxBytes: 0, LeaseTTL: 0, DuplicateWindow: 0}
	err := bad.Validate()
	if err == nil {
		t.Fatal("zero config validated")
	}
	for _, want := range []string{"replicas", "max age", "max bytes", "lease ttl", "duplicate window"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}

func TestEnsure(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	_, js := srv.JetStream(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	n := streams.New("")
	cfg := streams.DefaultConfig()

	for i := range 2 { // idempotent
		if err := streams.Ensure(ctx, js, n, cfg, streams.ServiceThings, streams.ServicePolicies); err != nil {
			t.Fatalf("Ensure #%d: %v", i+1, err)
		}
	}
	for _, name := range []string{n.ThingEventsStream(), n.PolicyEventsStream()} {
		if _, err := js.Stream(ctx, name); err != nil {
			t.Errorf("stream %s: %v", name, err)
		}
	}
	kv, err := js.KeyValue(ctx, n.ShardLeaseBucket(streams.ServiceThings))
	if err != nil {
		t.Fatalf("lease bucket: %v", err)
	}
	st, err := kv.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != cfg.LeaseTTL {
		t.Errorf("lease bucket TTL = %s, want %s", st.TTL(), cfg.LeaseTTL)
	}

	// An event lands in its stream once, however often it is published.
	subj := n.ThingEvents("org.eclipse.ditto")
	for range 3 {
		msg := &nats.Msg{Subject: subj, Data: []byte(`{}`), Header: nats.Header{}}
		if _, err := js.PublishMsg(ctx, msg, jetstream.WithMsgID(streams.EventMsgID("org.eclipse.ditto:x", 1))); err != nil {
			t.Fatalf("publish: %v", err)
		}
	}
	s, err := js.Stream(ctx, n.ThingEventsStream())
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if info.State.Msgs != 1 {
		t.Errorf("stream holds %d messages after 3 publishes of one event, want 1", info.State.Msgs)
	}
}

func TestEnsureRejectsInvalidConfig(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	_, js := srv.JetStream(t)
	err := streams.Ensure(context.Background(), js, streams.New(""), streams.Config{})
	if err == nil {
		t.Fatal("Ensure accepted an empty config")
	}
	if errors.Is(err, context.Canceled) {
		t.Fatalf("unexpected error kind: %v", err)
	}
}

// Every instance calls Ensure at start-up, so several processes starting at
// once create the same streams and buckets concurrently.
func TestEnsureConcurrently(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const n = 8
	errs := make(chan error, n)
	for range n {
		_, js := srv.JetStream(t)
		go func() {
			errs <- streams.Ensure(ctx, js, streams.New(""), streams.DefaultConfig(), streams.ServiceThings, streams.ServicePolicies)
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("concurrent Ensure: %v", err)
		}
	}
}
