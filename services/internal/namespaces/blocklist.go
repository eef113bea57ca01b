package namespaces

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// ErrNotOpen is returned by Block and Unblock when the Blocklist is closed
// or was never opened.
var ErrNotOpen = errors.New("namespaces: blocklist not open")

// Blocklist is one service's set of blocked namespaces: a JetStream KV
// bucket (streams.Names.BlockedNamespacesBucket) with one key per blocked
// namespace, and this instance's copy of it in memory, kept current by a
// watch of the bucket.
//
// Blocked may be called from any goroutine at any time and never waits;
// Block and Unblock wait until this instance's copy shows the change, so
// their caller knows that this instance refuses (or serves again) the
// namespace's commands when they return.
type Blocklist struct {
	js     jetstream.JetStream
	bucket string
	log    *slog.Logger

	// set is the current copy: an immutable map, replaced as a whole by
	// the watcher; nil while nothing is blocked, so that the check every
	// command makes is one atomic load then.
	set atomic.Pointer[map[string]struct{}]

	// mu guards the fields below it.
	mu sync.Mutex
	kv jetstream.KeyValue // set by Open
	// applied is the bucket revision the copy is as of.
	applied uint64
	// changed is closed (and replaced) whenever the copy changes.
	changed chan struct{}
	open    bool
	closed  bool
	stop    context.CancelFunc // ends the watcher
	done    chan struct{}      // closed when the watcher has returned
	// opened is closed once Open succeeded (or Close ran first).
	opened chan struct{}
}

// NewBlocklist returns the blocklist kept in bucket; Open loads and
// watches it.
func NewBlocklist(js jetstream.JetStream, bucket string, log *slog.Logger) *Blocklist {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Blocklist{js: js, bucket: bucket, log: log, changed: make(chan struct{}), opened: make(chan struct{})}
}

// Open reads the blocked namespaces from the bucket and starts watching it
// for changes, until Close. When it returns nil, Blocked answers with
// every block made before. A second call does nothing.
func (b *Blocklist) Open(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return ErrNotOpen
	}
	if b.open {
		return nil
	}
	kv, err := b.js.KeyValue(ctx, b.bucket)
	if err != nil {
		return fmt.Errorf("blocked namespaces bucket %s: %w", b.bucket, err)
	}
	// The watch outlives ctx, which bounds only the opening.
	wctx, stop := context.WithCancel(context.Background())
	w, err := kv.WatchAll(wctx)
	if err != nil {
		stop()
		return fmt.Errorf("watch blocked namespaces: %w", err)
	}
	set := map[string]struct{}{}
	var applied uint64
initial:
	for {
		select {
		case e, ok := <-w.Updates():
			if !ok {
				stop()
				return fmt.Errorf("watch blocked namespaces: %w", ErrNotOpen)
			}
			if e == nil {
				break initial // every block made so far is in set
			}
			applied = max(applied, e.Revision())
			apply(set, e)
		case <-ctx.Done():
			_ = w.Stop()
			stop()
			return fmt.Errorf("load blocked namespaces: %w", ctx.Err())
		}
	}
	b.kv, b.open, b.stop, b.done = kv, true, stop, make(chan struct{})
	b.publishLocked(set, applied)
	close(b.opened)
	go b.watch(wctx, w)
	if len(set) > 0 {
		b.log.Info("namespaces blocked", "namespaces", b.Namespaces())
	}
	return nil
}

// apply changes set by one bucket entry.
func apply(set map[string]struct{}, e jetstream.KeyValueEntry) {
	switch e.Operation() {
	case jetstream.KeyValuePut:
		set[e.Key()] = struct{}{}
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		delete(set, e.Key())
	}
}

// watch is the watcher goroutine: the only writer of set after Open.
func (b *Blocklist) watch(ctx context.Context, w jetstream.KeyWatcher) {
	defer close(b.done)
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Updates():
			if !ok {
				if ctx.Err() == nil {
					b.log.Warn("watch of blocked namespaces ended", "bucket", b.bucket)
				}
				return
			}
			if e == nil {
				continue
			}
			b.mu.Lock()
			set := map[string]struct{}{}
			if cur := b.set.Load(); cur != nil {
				for ns := range *cur {
					set[ns] = struct{}{}
				}
			}
			apply(set, e)
			b.publishLocked(set, max(b.applied, e.Revision()))
			b.mu.Unlock()
			b.log.Info("blocked namespaces changed", "namespace", e.Key(), "blocked", e.Operation() == jetstream.KeyValuePut)
		}
	}
}

// publishLocked makes set the copy as of revision applied and wakes the
// waiters. Caller holds mu.
func (b *Blocklist) publishLocked(set map[string]struct{}, applied uint64) {
	if len(set) == 0 {
		b.set.Store(nil)
	} else {
		b.set.Store(&set)
	}
	b.applied = applied
	close(b.changed)
	b.changed = make(chan struct{})
}

// Close stops watching. Blocked keeps answering from the last copy; Block
// and Unblock fail with ErrNotOpen.
func (b *Blocklist) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	stop, done := b.stop, b.done
	if !b.open {
		close(b.opened)
	}
	// Wake Block and Unblock waiting for a change that will not come.
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
	if stop != nil {
		stop()
		<-done
	}
}

// Blocked reports whether namespace is blocked, as of the last change this
// instance's watch received.
func (b *Blocklist) Blocked(namespace string) bool {
	set := b.set.Load()
	if set == nil {
		return false
	}
	_, ok := (*set)[namespace]
	return ok
}

// Namespaces lists the blocked namespaces, sorted.
func (b *Blocklist) Namespaces() []string {
	set := b.set.Load()
	if set == nil {
		return nil
	}
	out := make([]string, 0, len(*set))
	for ns := range *set {
		out = append(out, ns)
	}
	slices.Sort(out)
	return out
}

// blockValue is what a block's key holds: when it was made and by which
// instance, for an operator reading the bucket (nats kv get), and when
// the namespace was last purged while blocked (see MarkPurged).
type blockValue struct {
	Blocked  string `json:"blocked"`
	Instance string `json:"instance,omitempty"`
	Purged   string `json:"purged,omitempty"`
}

// Block blocks namespace for every instance of the service and returns
// once this instance refuses its commands. instance is recorded with the
// block. It waits for Open (bounded by ctx) if Open has not finished yet.
func (b *Blocklist) Block(ctx context.Context, namespace, instance string) error {
	kv, err := b.await(ctx)
	if err != nil {
		return err
	}
	v, _ := json.Marshal(blockValue{Blocked: time.Now().UTC().Format(time.RFC3339Nano), Instance: instance})
	rev, err := kv.Put(ctx, namespace, v)
	if err != nil {
		return fmt.Errorf("block namespace %s: %w", namespace, err)
	}
	// Any later revision includes this put (or a newer change of the key).
	return b.waitFor(ctx, func() bool { return b.applied >= rev })
}

// Unblock lifts the block of namespace and returns once this instance
// serves its commands again. The key is purged, not just deleted, so the
// bucket keeps nothing of a lifted block but the purge marker.
func (b *Blocklist) Unblock(ctx context.Context, namespace string) error {
	kv, err := b.await(ctx)
	if err != nil {
		return err
	}
	if err := kv.Purge(ctx, namespace); err != nil {
		return fmt.Errorf("unblock namespace %s: %w", namespace, err)
	}
	return b.waitFor(ctx, func() bool { return !b.Blocked(namespace) })
}

// MarkPurged records in namespace's block that it was purged at at, for
// PurgedAt; a namespace that is not blocked keeps no record.
func (b *Blocklist) MarkPurged(ctx context.Context, namespace string, at time.Time) error {
	kv, err := b.await(ctx)
	if err != nil {
		return err
	}
	for {
		e, err := kv.Get(ctx, namespace)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read block of %s: %w", namespace, err)
		}
		var v blockValue
		_ = json.Unmarshal(e.Value(), &v) // a value not written here is replaced
		v.Purged = at.UTC().Format(time.RFC3339Nano)
		data, _ := json.Marshal(v)
		_, err = kv.Update(ctx, namespace, data, e.Revision())
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("record purge of %s: %w", namespace, err)
		}
		// Changed meanwhile (another instance's purge): read it again.
	}
}

// PurgedAt returns when namespace's block says it was last purged; ok is
// false when it is not blocked or was not purged while blocked.
func (b *Blocklist) PurgedAt(ctx context.Context, namespace string) (at time.Time, ok bool, err error) {
	kv, err := b.await(ctx)
	if err != nil {
		return time.Time{}, false, err
	}
	e, err := kv.Get(ctx, namespace)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("read block of %s: %w", namespace, err)
	}
	var v blockValue
	if json.Unmarshal(e.Value(), &v) != nil || v.Purged == "" {
		return time.Time{}, false, nil
	}
	at, err = time.Parse(time.RFC3339Nano, v.Purged)
	return at, err == nil, nil
}

// await waits until Open succeeded and returns the bucket.
func (b *Blocklist) await(ctx context.Context) (jetstream.KeyValue, error) {
	select {
	case <-b.opened:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || !b.open {
		return nil, ErrNotOpen
	}
	return b.kv, nil
}

// waitFor waits until cond, evaluated under mu, holds.
func (b *Blocklist) waitFor(ctx context.Context, cond func() bool) error {
	for {
		b.mu.Lock()
		ok, changed, closed := cond(), b.changed, b.closed
		b.mu.Unlock()
		switch {
		case ok:
			return nil
		case closed:
			return ErrNotOpen
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
