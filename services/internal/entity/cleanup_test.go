package entity

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// WithIdle holds an idle entity: a command that arrives meanwhile waits,
// then runs on the entity loaded anew from the journal (here emptied
// under the hold, as cleanup deletes a deleted entity's last snapshot),
// so it starts again at revision 1. A busy entity is not held.
func TestWithIdle(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	gate := make(chan struct{})
	h := f.host(t, &docHandler{gate: gate, started: make(chan struct{}, 1)}, nil)
	id := "org.eclipse.ditto:held"
	pid := "thing:" + id
	for i := 1; i <= 3; i++ {
		wantStatus(t, f.send(t, id, "modify", "/a", fmt.Sprint(i), nil), 204)
	}
	wantStatus(t, f.send(t, id, "delete", "/", "", nil), 204)

	replies := make(chan protocol.Envelope, 1)
	hold := func() {
		go func() {
			env, err := f.request(id, "modify", "/", `{"again":true}`, nil, auth)
			if err != nil {
				t.Errorf("modify during the hold: %v", err)
			}
			replies <- env
		}()
		// The command waits in the mailbox while the entity is held.
		sh := h.shards[streams.Shard(id, testShards)]
		streamstest.Eventually(t, 10*time.Second, func() error {
			sh.mu.Lock()
			defer sh.mu.Unlock()
			if sl := sh.slots[id]; sl == nil || sl.box == nil || len(sl.box.reqs) != 1 {
				return fmt.Errorf("command not queued yet")
			}
			return nil
		})
		select {
		case env := <-replies:
			t.Fatalf("the command ran during the hold: %+v", env)
		default:
		}
		for _, del := range []func() (int64, error){
			func() (int64, error) { return f.j.DeleteEvents(t.Context(), pid, math.MaxInt64, 100) },
			func() (int64, error) { return f.j.DeleteSnapshots(t.Context(), pid, math.MaxInt64, 100) },
		} {
			if _, err := del(); err != nil {
				t.Error(err)
			}
		}
	}
	// Idle once its worker is done, a moment after the last reply.
	streamstest.Eventually(t, 10*time.Second, func() error {
		if !h.WithIdle(id, hold) {
			return fmt.Errorf("an idle entity was not held")
		}
		return nil
	})
	env := <-replies
	wantStatus(t, env, 204)
	if env.Headers["etag"] != `"rev:1"` {
		t.Errorf("after the hold: etag %s, want rev:1 (loaded anew from the emptied journal)", env.Headers["etag"])
	}

	// Busy: a command is running.
	done := make(chan struct{})
	go func() {
		defer close(done)
		f.send(t, id, "modify", "/b", "1", protocol.Headers{"block": "1"})
	}()
	<-h.h.(*docHandler).started
	if h.WithIdle(id, func() { t.Error("fn ran on a busy entity") }) {
		t.Error("a busy entity was held")
	}
	close(gate)
	<-done
	streamstest.Eventually(t, 10*time.Second, func() error {
		if !h.WithIdle(id, func() {}) {
			return fmt.Errorf("not held once idle")
		}
		return nil
	})
}

// Published and PublishedBefore are the publisher's watermark for a
// shard served here, and the stored one for a shard served elsewhere.
func TestPublishedBefore(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.host(t, &docHandler{}, nil)
	// Running: a command is answered.
	wantStatus(t, f.send(t, "org.eclipse.ditto:none", "retrieve", "/", "", nil), 404)
	before := time.Now().Add(-time.Second)
	if w, serving := h.Published(0); !serving || w.Before(before) {
		t.Errorf("Published of a served shard: %v %t; want about now, serving", w, serving)
	}
	if w, err := h.PublishedBefore(t.Context(), 0); err != nil || w.Before(before) {
		t.Errorf("PublishedBefore of a served shard: %v %v; want about now", w, err)
	}
	if _, serving := h.Published(testShards); serving {
		t.Error("Published: a shard out of range is served")
	}
	if _, err := h.PublishedBefore(t.Context(), testShards); err == nil {
		t.Error("PublishedBefore: a shard out of range was accepted")
	}
	// Handed back, the shard's watermark is the one stored.
	h.CloseShard(t.Context(), 0)
	if _, serving := h.Published(0); serving {
		t.Error("a closed shard is served")
	}
	if w, err := h.PublishedBefore(t.Context(), 0); err != nil || w.Before(before) {
		t.Errorf("PublishedBefore of a shard handed back: %v %v; want the stored watermark, about now", w, err)
	}
}
