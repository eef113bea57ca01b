package entity

import (
	"context"
	"fmt"
	"time"
)

// What background cleanup (package cleanup) needs of the host.

// Published returns, for a shard this instance serves, the time before
// which every event of the shard is known to be in its stream: the
// publisher's watermark (publish.go). serving is false for a shard it
// does not serve. It does no I/O. Background cleanup deletes no event
// after it, so that the publisher can still read back every event it
// has to publish.
func (h *Host) Published(shard int) (before time.Time, serving bool) {
	if shard < 0 || shard >= h.d.Shards {
		return time.Time{}, false
	}
	p := h.pub
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.owned[shard] {
		return time.Time{}, false
	}
	return time.UnixMilli(p.watermarkLocked(shard)), true
}

// PublishedBefore is Published for any shard: for one served elsewhere,
// the watermark its owner stored last (or the recovery horizon when none
// is stored), read from the publication bucket.
func (h *Host) PublishedBefore(ctx context.Context, shard int) (time.Time, error) {
	if shard < 0 || shard >= h.d.Shards {
		return time.Time{}, fmt.Errorf("shard %d: want 0..%d", shard, h.d.Shards-1)
	}
	if w, ok := h.Published(shard); ok {
		return w, nil
	}
	w, err := h.pub.readWatermark(ctx, shard)
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMilli(w), nil
}

// WithIdle runs fn while entity id is held as if a worker ran it: its
// commands wait in its mailbox meanwhile, eviction and Unload leave it.
// Afterwards the entity is out of memory (its commands, if any came,
// load it from the journal anew), so fn may change what a load finds:
// background cleanup deletes a deleted entity's last snapshot so. It
// runs nothing and returns false when a command of the entity is queued
// or running, when the entity may have journaled events its publisher
// never got, or when its shard is not served here. fn should be quick:
// the entity's commands wait for it, and so does the shard's hand-over.
func (h *Host) WithIdle(id string, fn func()) bool {
	sh := h.shards[h.shardOf(id)]
	sh.mu.Lock()
	sl := sh.slots[id]
	if !sh.open || sl != nil && (sl.running || sl.box != nil || sl.unsure) {
		sh.mu.Unlock()
		return false
	}
	if sl == nil {
		sl = &slot{state: State{ID: id}}
		sh.slots[id] = sl
		h.loaded.Add(1)
	}
	sl.running = true
	sh.workers.Add(1) // CloseShard waits for the hold too
	sh.mu.Unlock()

	fn()

	sh.mu.Lock()
	sl.state, sl.loaded = State{ID: sl.state.ID}, false
	if sl.box != nil && len(sl.box.reqs) > 0 {
		// Commands came: a worker takes the entity over, with the
		// shard's worker count this hold added (work marks it done).
		sh.mu.Unlock()
		h.runMu.Lock()
		h.runQ = append(h.runQ, runnable{sh: sh, sl: sl})
		h.runCond.Signal()
		h.runMu.Unlock()
		return true
	}
	sl.running, sl.box = false, nil
	h.dropLocked(sh, sl)
	sh.mu.Unlock()
	sh.workers.Done()
	return true
}
