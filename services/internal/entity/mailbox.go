package entity

import (
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

type shardState struct {
	mu      sync.Mutex
	open    bool             // guarded by mu
	slots   map[string]*slot // guarded by mu
	workers sync.WaitGroup
}

// slot is one entity in memory. box and running are guarded by the shard's
// mu; state, loaded and unsure belong to the worker while running is set.
type slot struct {
	box     *mailbox // nil while the entity is idle
	state   State
	running bool
	loaded  bool
	// unsure is set when the journal may hold events of this entity that
	// the state lacks and that were never handed to the publisher (an
	// append whose outcome is unknown, another writer's revision): the
	// next load hands every revision beyond the state's to the publisher.
	unsure bool
	// unload is set (under the shard's mu) by Unload while a worker runs
	// the entity: the worker drops it from memory once its mailbox is
	// empty.
	unload bool
}

// mailbox is a busy entity's queue of commands.
type mailbox struct {
	reqs []*request
	// view is the entity as the commands before the one running left it,
	// for the live signals that pass the queue (see passLive); nil while
	// the state is not loaded or not sure.
	view *State
}

// runnable is an entity whose mailbox has commands for the pool.
type runnable struct {
	sh *shardState
	sl *slot
}

type request struct {
	msg      *nats.Msg
	kind     streams.CommandKind
	entityID string
	env      *protocol.Envelope // decoded by the dispatcher when it had to
	received time.Time
	live     bool // a live signal (streams.HeaderLive)
}

// enqueue puts a command into its entity's mailbox and, if the entity has
// no worker, queues it for one. A full mailbox is answered at once.
func (h *Host) enqueue(shard int, req *request) {
	sh := h.shards[shard]
	sh.mu.Lock()
	if !sh.open {
		sh.mu.Unlock()
		h.notServing(req.msg)
		return
	}
	sl := sh.slots[req.entityID]
	if sl == nil {
		// Cloned: the id may point into the message's header block.
		id := strings.Clone(req.entityID)
		sl = &slot{state: State{ID: id}}
		sh.slots[id] = sl
		if h.cfg.MaxEntities > 0 && h.loaded.Add(1) > int64(h.cfg.MaxEntities) {
			h.evictOne(sh, sl)
		} else if h.cfg.MaxEntities <= 0 {
			h.loaded.Add(1)
		}
	}
	if req.live && sl.box != nil && sl.box.view != nil {
		// A live signal does not wait for the twin commands queued before
		// it: it is checked against the entity as it is now.
		view := sl.box.view
		sh.mu.Unlock()
		if h.passLive(req, view) {
			return
		}
		// Queued after all, from the start: while the lock was let go
		// the shard may have closed or the entity been evicted.
		req.live = false
		h.enqueue(shard, req)
		return
	}
	if sl.box == nil {
		sl.box = &mailbox{}
	}
	if len(sl.box.reqs) >= h.cfg.MailboxSize {
		sh.mu.Unlock()
		h.metrics.reject()
		h.replyError(req.msg, protocol.Topic{}, protocol.Envelope{}, h.cfg.Errors.TooManyRequests(req.entityID))
		return
	}
	sl.box.reqs = append(sl.box.reqs, req)
	start := !sl.running
	if start {
		sl.running = true
		sh.workers.Add(1)
	}
	sh.mu.Unlock()
	if start {
		h.runMu.Lock()
		h.runQ = append(h.runQ, runnable{sh: sh, sl: sl})
		h.runCond.Signal()
		h.runMu.Unlock()
	}
}

// evictOne drops one idle entity of sh other than keep. Go's map order is
// random, which makes this a random eviction: cheap and good enough to bound
// memory. Caller holds sh.mu.
func (h *Host) evictOne(sh *shardState, keep *slot) {
	for id, sl := range sh.slots {
		if sl != keep && !sl.running && !sl.unsure && sl.box == nil {
			delete(sh.slots, id)
			h.loaded.Add(-1)
			return
		}
	}
}

// worker runs entities from the run queue until the host stops.
func (h *Host) worker() {
	defer h.workers.Done()
	for {
		h.runMu.Lock()
		for len(h.runQ) == 0 && !h.stopping {
			h.runCond.Wait()
		}
		if len(h.runQ) == 0 {
			h.runMu.Unlock()
			return
		}
		r := h.runQ[0]
		h.runQ[0] = runnable{}
		h.runQ = h.runQ[1:]
		h.runMu.Unlock()
		h.work(r.sh, r.sl)
	}
}

// work runs the queued commands of one entity until its mailbox is empty.
func (h *Host) work(sh *shardState, sl *slot) {
	defer sh.workers.Done()
	for {
		sh.mu.Lock()
		if sl.box == nil || len(sl.box.reqs) == 0 {
			sl.running = false
			sl.box = nil // an idle entity keeps no mailbox
			if sl.unload {
				h.dropLocked(sh, sl)
			}
			sh.mu.Unlock()
			return
		}
		req := sl.box.reqs[0]
		sl.box.reqs[0] = nil
		sl.box.reqs = sl.box.reqs[1:]
		if sl.loaded && !sl.unsure {
			// A live signal arriving while this one runs passes it and
			// those queued after it, checked against the state as it is
			// now (a copy: the worker changes its own).
			v := sl.state
			v.forget()
			sl.box.view = &v
		} else {
			sl.box.view = nil
		}
		sh.mu.Unlock()
		h.process(sl, req)
	}
}
