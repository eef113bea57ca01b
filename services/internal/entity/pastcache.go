package entity

import (
	"container/list"
	"sync"
)

// Rebuilt states at checkpoints. A historical retrieve rebuilds the
// entity from the nearest snapshot (every SnapshotEvery events, 500 by
// default) and the events after it: up to 499 events read from the journal
// and decoded, a couple of milliseconds. On its way it keeps the state at
// every checkpointStep-th revision here, so a later read of a revision near
// one starts from it and replays fewer than checkpointStep events. Many
// readers of one history (an audit view paging through it, a dashboard)
// then cost little more than a read of the current state.
//
// A checkpoint is trusted only as far as the journal still agrees: the
// rebuild from one reads its event again and compares the event's
// timestamp with the checkpoint's modified time, so a checkpoint of an
// entity that was deleted by cleanup and created anew (its revisions
// count from 1 again) is never used; a revision whose events cleanup
// removed is answered from the journal as without the cache.

const (
	// checkpointStep is the distance of checkpoints: revisions that are
	// its multiples.
	checkpointStep = 16
	// defaultPastCacheBytes bounds what the checkpoints of one host hold.
	defaultPastCacheBytes = 32 << 20
	// checkpointOverhead is what a checkpoint costs besides its document.
	checkpointOverhead = 160
)

// checkpoint is an entity's state at a revision, immutable once cached.
type checkpoint struct {
	key               pastKey
	raw               []byte  // the document; nil when deleted
	meta              *[]byte // the metadata; nil when none
	created, modified int64
	deleted           bool
}

type pastKey struct {
	pid string
	rev int64
}

func (c *checkpoint) size() int64 {
	n := int64(len(c.raw)+len(c.key.pid)) + checkpointOverhead
	if c.meta != nil {
		n += int64(len(*c.meta))
	}
	return n
}

// state returns a State of entity id from the checkpoint; its document
// is shared with the cache and must not be modified in place (State never
// does: a change builds a new document).
func (c *checkpoint) state(id string) State {
	return State{ID: id, Revision: c.key.rev, created: c.created, modified: c.modified, raw: c.raw, meta: c.meta, Deleted: c.deleted}
}

// pastCache is a least-recently-used set of checkpoints bounded in bytes.
type pastCache struct {
	max int64

	mu    sync.Mutex // guards the fields below
	size  int64
	order *list.List // of *checkpoint, the most recently used first
	byKey map[pastKey]*list.Element
}

// pastCacheOf returns the cache of Config.HistoryCacheBytes.
func pastCacheOf(maxBytes int64) *pastCache {
	switch {
	case maxBytes < 0:
		return nil
	case maxBytes == 0:
		maxBytes = defaultPastCacheBytes
	}
	return newPastCache(maxBytes)
}

func newPastCache(maxBytes int64) *pastCache {
	return &pastCache{max: maxBytes, order: list.New(), byKey: map[pastKey]*list.Element{}}
}

// get returns the checkpoint of pid at rev, if cached.
func (c *pastCache) get(pid string, rev int64) (*checkpoint, bool) {
	if c == nil {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.byKey[pastKey{pid, rev}]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(e)
	return e.Value.(*checkpoint), true
}

// put caches the state st (at its revision) of pid, forgetting the least
// recently used checkpoints beyond the bound.
func (c *pastCache) put(pid string, st *State) {
	if c == nil {
		return
	}
	cp := &checkpoint{key: pastKey{pid, st.Revision}, raw: st.Raw(), meta: st.meta, created: st.created, modified: st.modified, deleted: st.Deleted}
	if cp.size() > c.max/8 {
		return // one entity's huge document does not empty the cache
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[cp.key]; ok {
		c.order.MoveToFront(e)
		return
	}
	c.byKey[cp.key] = c.order.PushFront(cp)
	c.size += cp.size()
	for c.size > c.max {
		last := c.order.Back()
		old := last.Value.(*checkpoint)
		c.order.Remove(last)
		delete(c.byKey, old.key)
		c.size -= old.size()
	}
}

// drop forgets the checkpoint of pid at rev (the journal disagreed).
func (c *pastCache) drop(pid string, rev int64) {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.byKey[pastKey{pid, rev}]; ok {
		c.order.Remove(e)
		delete(c.byKey, pastKey{pid, rev})
		c.size -= e.Value.(*checkpoint).size()
	}
}
