package namespaces

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// bucketFixture is a JetStream server with the things service's buckets.
type bucketFixture struct {
	srv    *streamstest.Server
	bucket string
}

func newBucketFixture(t testing.TB) *bucketFixture {
	t.Helper()
	f := &bucketFixture{srv: streamstest.Start(t), bucket: streams.New("").BlockedNamespacesBucket(streams.ServiceThings)}
	_, js := f.srv.JetStream(t)
	if err := streams.Ensure(context.Background(), js, streams.New(""), streams.DefaultConfig(), streams.ServiceThings); err != nil {
		t.Fatal(err)
	}
	return f
}

// open opens a blocklist on its own connection, as an instance does.
func (f *bucketFixture) open(t testing.TB) *Blocklist {
	t.Helper()
	_, js := f.srv.JetStream(t)
	b := NewBlocklist(js, f.bucket, nil)
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func TestBlocklist(t *testing.T) {
	t.Parallel()
	f := newBucketFixture(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	one, two := f.open(t), f.open(t)
	if one.Blocked("org.acme") || one.Namespaces() != nil {
		t.Fatal("a new blocklist blocks something")
	}
	if err := one.Block(ctx, "org.acme", "one"); err != nil {
		t.Fatal(err)
	}
	// Block returns once its own instance refuses the namespace.
	if !one.Blocked("org.acme") {
		t.Fatal("org.acme is not blocked after Block returned")
	}
	for _, ns := range []string{"org", "org.acme2", "org.acme.x", ""} {
		if one.Blocked(ns) {
			t.Errorf("%q is blocked", ns)
		}
	}
	// Another instance learns of it from the bucket.
	streamstest.Eventually(t, 5*time.Second, func() error {
		if !two.Blocked("org.acme") {
			return errors.New("the other instance does not block org.acme")
		}
		return nil
	})
	// So does an instance started later.
	if later := f.open(t); !later.Blocked("org.acme") {
		t.Error("an instance started after the block does not block org.acme")
	}
	// Blocking twice is blocking once.
	if err := two.Block(ctx, "org.acme", "two"); err != nil {
		t.Fatal(err)
	}
	if err := two.Block(ctx, "com.x", "two"); err != nil {
		t.Fatal(err)
	}
	if got := two.Namespaces(); !slices.Equal(got, []string{"com.x", "org.acme"}) {
		t.Errorf("blocked %q, want com.x and org.acme", got)
	}
	// The block records who made it, for an operator reading the bucket.
	_, js := f.srv.JetStream(t)
	kv, err := js.KeyValue(ctx, f.bucket)
	if err != nil {
		t.Fatal(err)
	}
	if e, err := kv.Get(ctx, "com.x"); err != nil || !strings.Contains(string(e.Value()), `"instance":"two"`) {
		t.Errorf("block of com.x holds %v (%v)", e, err)
	}

	if err := one.Unblock(ctx, "org.acme"); err != nil {
		t.Fatal(err)
	}
	if one.Blocked("org.acme") || !one.Blocked("com.x") {
		t.Errorf("after unblocking org.acme: blocked %q, want com.x", one.Namespaces())
	}
	streamstest.Eventually(t, 5*time.Second, func() error {
		if two.Blocked("org.acme") {
			return errors.New("the other instance still blocks org.acme")
		}
		return nil
	})
	// Unblocking what is not blocked succeeds.
	if err := one.Unblock(ctx, "never"); err != nil {
		t.Fatal(err)
	}
	if later := f.open(t); !slices.Equal(later.Namespaces(), []string{"com.x"}) {
		t.Errorf("an instance started after the unblock blocks %q, want com.x", later.Namespaces())
	}
	// The lifted block leaves only its purge marker.
	if _, err := kv.Get(ctx, "org.acme"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("the lifted block is still readable: %v", err)
	}
}

// A purge of a blocked namespace is recorded with its block, and goes
// with it.
func TestBlocklistRecordsPurges(t *testing.T) {
	t.Parallel()
	f := newBucketFixture(t)
	one, two := f.open(t), f.open(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	at := time.Date(2025, 1, 2, 3, 4, 5, 600, time.UTC)
	if err := one.MarkPurged(ctx, "not.blocked", at); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := one.PurgedAt(ctx, "not.blocked"); ok || err != nil {
		t.Errorf("a namespace that is not blocked has a purge record (%v)", err)
	}
	if err := one.Block(ctx, "ns", "one"); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := two.PurgedAt(ctx, "ns"); ok || err != nil {
		t.Errorf("a namespace that was not purged has a purge record (%v)", err)
	}
	// Both instances purge; the later record wins.
	if err := one.MarkPurged(ctx, "ns", at); err != nil {
		t.Fatal(err)
	}
	if err := two.MarkPurged(ctx, "ns", at.Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got, ok, err := one.PurgedAt(ctx, "ns")
	if err != nil || !ok || !got.Equal(at.Add(time.Second)) {
		t.Errorf("PurgedAt = %v, %t, %v; want %v", got, ok, err, at.Add(time.Second))
	}
	if !one.Blocked("ns") {
		t.Error("recording the purge lifted the block")
	}
	if err := two.Unblock(ctx, "ns"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := one.PurgedAt(ctx, "ns"); ok {
		t.Error("the purge record outlived the block")
	}
}

func TestBlocklistBeforeOpenAndAfterClose(t *testing.T) {
	t.Parallel()
	f := newBucketFixture(t)
	_, js := f.srv.JetStream(t)
	b := NewBlocklist(js, f.bucket, nil)
	// Block waits for Open.
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		done <- b.Block(ctx, "waited", "x")
	}()
	if err := b.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Block before Open: %v", err)
	}
	if !b.Blocked("waited") {
		t.Error("the block made while opening is missing")
	}
	if err := b.Open(context.Background()); err != nil {
		t.Errorf("a second Open: %v", err)
	}
	b.Close()
	b.Close()
	if !b.Blocked("waited") {
		t.Error("a closed blocklist forgot its blocks")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := b.Block(ctx, "x", "x"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Block after Close: %v, want ErrNotOpen", err)
	}
	if err := b.Unblock(ctx, "waited"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Unblock after Close: %v, want ErrNotOpen", err)
	}
	if err := b.Open(ctx); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Open after Close: %v, want ErrNotOpen", err)
	}

	// Closed before it was ever opened: nothing waits forever.
	c := NewBlocklist(js, f.bucket, nil)
	c.Close()
	if err := c.Block(context.Background(), "x", "x"); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Block on a blocklist closed unopened: %v, want ErrNotOpen", err)
	}
	// A missing bucket fails Open.
	d := NewBlocklist(js, "NO_SUCH_BUCKET", nil)
	if err := d.Open(ctx); err == nil {
		t.Error("Open of a missing bucket succeeded")
	}
}

// The check every command makes: one atomic load while nothing is
// blocked, a map lookup while something is.
func BenchmarkBlocked(b *testing.B) {
	f := newBucketFixture(b)
	ctx := context.Background()
	bl := f.open(b)
	b.Run("none blocked", func(b *testing.B) {
		for b.Loop() {
			if bl.Blocked("org.eclipse.ditto") {
				b.Fatal("blocked")
			}
		}
	})
	for _, ns := range []string{"com.acme", "a", "b", "c", "d", "e", "f", "g", "h", "i"} {
		if err := bl.Block(ctx, ns, "bench"); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("ten others blocked", func(b *testing.B) {
		for b.Loop() {
			if bl.Blocked("org.eclipse.ditto") {
				b.Fatal("blocked")
			}
		}
	})
}
