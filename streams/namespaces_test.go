package streams_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/streams"
)

func TestBlockedNamespacesBucketName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ got, want string }{
		{streams.New("").BlockedNamespacesBucket(streams.ServiceThings), "DITTO_THINGS_NAMESPACES"},
		{streams.New("acme.prod").BlockedNamespacesBucket(streams.ServicePolicies), "ACME_PROD_POLICIES_NAMESPACES"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// Each entity service blocks, watches and unblocks namespaces in its own
// bucket with its own permissions; the operator reads it but cannot
// change it.
func TestBlockedNamespacesBucketPermissions(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range []streams.Role{streams.RoleThings, streams.RolePolicies} {
		nc, _ := s.as(t, r)
		js, _ := jetstream.New(nc)
		kv, err := js.KeyValue(ctx, s.names.BlockedNamespacesBucket(string(r)))
		if err != nil {
			t.Fatalf("%s opens its blocked namespaces bucket: %v", r, err)
		}
		w, err := kv.WatchAll(ctx)
		if err != nil {
			t.Fatalf("%s watches its bucket: %v", r, err)
		}
		if _, err := kv.Put(ctx, "org.eclipse-x.y_z", []byte("{}")); err != nil {
			t.Fatalf("%s blocks a namespace: %v", r, err)
		}
		if err := kv.Purge(ctx, "org.eclipse-x.y_z"); err != nil {
			t.Fatalf("%s unblocks a namespace: %v", r, err)
		}
		// The purge rolls the put up: a watcher that had not received the
		// put yet gets the purge alone.
		var ops []jetstream.KeyValueOp
		for len(ops) == 0 || ops[len(ops)-1] != jetstream.KeyValuePurge {
			select {
			case e := <-w.Updates():
				if e != nil {
					ops = append(ops, e.Operation())
				}
			case <-ctx.Done():
				t.Fatalf("%s saw %v of its own changes, want the purge", r, ops)
			}
		}
		_ = w.Stop()
	}

	op, v := s.as(t, streams.RoleOperator)
	ojs, _ := jetstream.New(op)
	things, _ := s.as(t, streams.RoleThings)
	tjs, _ := jetstream.New(things)
	bucket := s.names.BlockedNamespacesBucket(streams.ServiceThings)
	tkv, err := tjs.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tkv.Put(ctx, "blocked", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	okv, err := ojs.KeyValue(ctx, bucket)
	if err != nil {
		t.Fatalf("the operator cannot open %s: %v", bucket, err)
	}
	if _, err := okv.Get(ctx, "blocked"); err != nil {
		t.Errorf("the operator cannot read a block: %v", err)
	}
	short, cancelShort := context.WithTimeout(ctx, 500*time.Millisecond)
	defer cancelShort()
	if err := okv.Purge(short, "blocked"); err == nil {
		t.Error("the operator lifted a block")
	}
	v.await(t, "publish", "$KV."+bucket+".blocked")
	if _, err := tkv.Get(ctx, "blocked"); errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Error("the block is gone")
	}
}
