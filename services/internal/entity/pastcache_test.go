package entity

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
)

// A history read many times, in random order, is the same with the
// checkpoints as without: every revision, across snapshots and a deletion,
// equals what the entity was when it was written; and the checkpoints
// between snapshots are there after the first pass.
func TestRebuildFromCheckpoints(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hostOn(t, f.j, &docHandler{}, func(c *Config) { c.SnapshotEvery, c.MailboxSize = 40, 100 })
	id := "org.eclipse.ditto:checkpoints"
	const revs = 130
	want := make([]string, revs+1) // "" where the entity does not exist
	for rev := 1; rev <= revs; rev++ {
		switch {
		case rev == 1 || rev == 71:
			f.send(t, id, "modify", "/", `{"n":`+strconv.Itoa(rev)+`,"keep":"x"}`, nil)
		case rev == 70:
			f.send(t, id, "delete", "/", "", nil)
		default:
			f.send(t, id, "modify", "/n", strconv.Itoa(rev), nil)
		}
		if cur := f.send(t, id, "retrieve", "/", "", nil); cur.Status == 200 {
			want[rev] = string(cur.Value)
		}
	}
	rng := rand.New(rand.NewPCG(7, 9))
	for pass := range 3 {
		for _, i := range rng.Perm(revs) {
			rev := int64(i + 1)
			st, _, err := h.rebuild(context.Background(), id, rev)
			if err != nil {
				t.Fatalf("pass %d: rebuild %d: %v", pass, rev, err)
			}
			if st.Revision != rev || string(st.Raw()) != want[rev] || st.Exists() != (want[rev] != "") {
				t.Fatalf("pass %d: rebuild %d = rev %d %q (exists %v), want %q", pass, rev, st.Revision, st.Raw(), st.Exists(), want[rev])
			}
		}
	}
	for rev := int64(checkpointStep); rev <= revs; rev += checkpointStep {
		if rev%40 == 0 {
			continue // a snapshot: read from the journal as cheaply
		}
		if _, ok := h.past.get(h.pid(id), rev); !ok {
			t.Errorf("no checkpoint at %d after reading every revision", rev)
		}
	}
}

// A checkpoint the journal does not agree with (its event has another
// time: the entity was cleaned up entirely and created anew, its
// revisions counting from 1 again) is not used, and is forgotten; a
// revision whose events cleanup removed is gone, checkpoint or not.
func TestCheckpointsFollowTheJournal(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hostOn(t, f.j, &docHandler{}, func(c *Config) { c.SnapshotEvery, c.MailboxSize = 1000, 100 })
	id := "org.eclipse.ditto:followed"
	pid := h.pid(id)
	f.send(t, id, "modify", "/", `{"n":1}`, nil)
	for rev := 2; rev <= 40; rev++ {
		f.send(t, id, "modify", "/n", strconv.Itoa(rev), nil)
	}
	// A stale checkpoint at 32: another document, another time.
	stale := State{ID: id, Revision: 32, created: 1, modified: 2, raw: []byte(`{"stale":true}`)}
	h.past.put(pid, &stale)
	st, _, err := h.rebuild(context.Background(), id, 35)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(st.Raw()); got != `{"n":35}` {
		t.Fatalf("rebuild 35 = %s, want {\"n\":35}, not from the stale checkpoint", got)
	}
	if cp, ok := h.past.get(pid, 32); !ok || string(cp.raw) != `{"n":32}` {
		t.Fatalf("checkpoint at 32 after the rebuild: %+v %v, want the journal's", cp, ok)
	}

	// Cleanup removes events up to 36: 35 is gone although 32 is cached.
	if _, err := f.j.DeleteEvents(context.Background(), pid, 36, 100); err != nil {
		t.Fatal(err)
	}
	if _, _, err := h.rebuild(context.Background(), id, 35); !errors.Is(err, errHistoryGone) {
		t.Fatalf("rebuild 35 after cleanup: %v, want the history gone", err)
	}
	if st, _, err := h.rebuild(context.Background(), id, 39); err == nil || !errors.Is(err, errHistoryGone) {
		t.Fatalf("rebuild 39 without its snapshot's events: %v (%s), want the history gone", err, st.Raw())
	}
}

// The cache holds at most its bound, forgetting the least recently used.
func TestPastCacheBound(t *testing.T) {
	t.Parallel()
	doc := []byte(`{"a":"` + fmt.Sprint(make([]byte, 100)) + `"}`)
	one := (&checkpoint{key: pastKey{"thing:x", 1}, raw: doc}).size()
	c := newPastCache(10 * one)
	for rev := int64(1); rev <= 30; rev++ {
		c.put("thing:x", &State{ID: "x", Revision: rev, raw: doc})
		if rev == 5 {
			c.get("thing:x", 1) // used: kept
		}
	}
	if c.size > c.max || len(c.byKey) != 10 {
		t.Fatalf("size %d of %d, %d entries", c.size, c.max, len(c.byKey))
	}
	if _, ok := c.get("thing:x", 30); !ok {
		t.Error("the newest checkpoint is gone")
	}
	if _, ok := c.get("thing:x", 2); ok {
		t.Error("an old checkpoint was kept")
	}
	huge := make([]byte, 2*one)
	c.put("thing:y", &State{ID: "y", Revision: 1, raw: huge})
	if _, ok := c.get("thing:y", 1); ok {
		t.Error("a document of more than an eighth of the cache was cached")
	}
}

// Stored reads an entity's committed state from the journal: the current
// document, a deleted one as deleted, one that never existed at revision 0.
func TestStored(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := f.hostOn(t, f.j, &docHandler{}, func(c *Config) { c.SnapshotEvery, c.MailboxSize = 5, 100 })
	id := "org.eclipse.ditto:stored"
	f.send(t, id, "modify", "/", `{"n":1}`, nil)
	for rev := 2; rev <= 12; rev++ {
		f.send(t, id, "modify", "/n", strconv.Itoa(rev), nil)
	}
	st, err := h.Stored(context.Background(), id)
	if err != nil || st.Revision != 12 || string(st.Raw()) != `{"n":12}` {
		t.Fatalf("stored: rev %d %s (%v)", st.Revision, st.Raw(), err)
	}
	f.send(t, id, "delete", "/", "", nil)
	if st, err := h.Stored(context.Background(), id); err != nil || st.Exists() || st.Revision != 13 {
		t.Fatalf("stored after delete: rev %d exists %v (%v)", st.Revision, st.Exists(), err)
	}
	if st, err := h.Stored(context.Background(), "org.eclipse.ditto:never"); err != nil || st.Revision != 0 || st.Exists() {
		t.Fatalf("never stored: %+v (%v)", st, err)
	}
}
