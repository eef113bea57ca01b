package entity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/streams"
)

// Command is one command addressed to an entity, as its Handler sees it.
type Command struct {
	Envelope protocol.Envelope
	Topic    protocol.Topic
	// EntityID is the addressed entity ("namespace:name").
	EntityID string
	// Auth holds the authenticated subjects ("issuer:subject") of the caller.
	Auth []string
	// Sudo marks a service-to-service command that skips enforcement.
	Sudo bool
	// Deadline is when the caller stops waiting.
	Deadline time.Time
}

// Event is the change a command makes, with the headers its event carries.
type Event struct {
	Change
	Headers protocol.Headers
}

// Outcome is what a Handler decided.
type Outcome struct {
	// Event is persisted and applied before Response is sent; nil for
	// commands that change nothing.
	Event *Event
	// Response is the reply envelope.
	Response protocol.Envelope
	// After, if set, runs once Event is persisted and applied (or at once
	// when there is none), with the entity's new state, and may replace
	// Response (e.g. to render the new revision into an ETag).
	After func(st *State, resp *protocol.Envelope)
}

// Handler decides how a command changes an entity. The host calls it from
// the entity's one worker, never concurrently for the same entity. It may do
// I/O (ask another service) within ctx. An error is answered as a Ditto
// error: a *protocol.Error as it is, anything else as an internal error.
type Handler interface {
	Handle(ctx context.Context, cmd *Command, st *State) (Outcome, error)
}

// Config describes the entity type and the host's limits.
type Config struct {
	// Kind prefixes persistence ids: "thing" gives "thing:<id>".
	Kind string
	// Group and Channel are the event topics' group and channel
	// ("things"/"twin", "policies"/"").
	Group, Channel string
	// Queue is the queue group shard subscriptions join, so that an
	// overlapping hand-over never delivers a command twice.
	Queue string
	// Shards is the number of shards; CommandSubject and EventSubject name
	// the subjects of a shard's commands and a namespace's events.
	Shards         int
	CommandSubject func(shard int) string
	EventSubject   func(namespace string) string
	// MailboxSize bounds the commands queued per entity.
	MailboxSize int
	// SnapshotEvery writes a snapshot every this many events (and always on
	// deletion).
	SnapshotEvery int64
	// MaxEntities bounds the entities held in memory; idle ones are evicted
	// beyond it and reloaded from the journal when addressed again.
	MaxEntities int
	// DefaultTimeout applies to commands without a timeout header.
	DefaultTimeout time.Duration
	// Workers is the number of goroutines running entity commands; an
	// entity's commands wait in its mailbox while all are busy (default
	// 256). They block on journal appends and other services, so there
	// are many; they are long-lived so their stacks stay grown.
	Workers int
	// ParseEventPath reads an event's path back into the pointer of its
	// change when the entity is recovered; the default is
	// jsonv.ParsePointer. Entities whose keys may contain '/' (policy
	// resource keys and subject ids) need their own.
	ParseEventPath func(string) (jsonv.Pointer, error)
	// Errors builds the service's Ditto errors for the host's own answers.
	Errors Errors
}

// Errors builds the Ditto errors the host answers with on its own.
type Errors struct {
	TooManyRequests func(entityID string) *protocol.Error
	Unavailable     func(entityID string) *protocol.Error
}

// Host runs the entities of the shards this instance owns. Create with New,
// start with Run; OpenShard and CloseShard are called by the shard manager.
type Host struct {
	cfg Config
	j   journal.Journal
	h   Handler
	nc  *nats.Conn
	js  jetstream.JetStream
	log *slog.Logger

	// in is the single ordered inbox of every subscription; only the
	// dispatcher goroutine receives from it.
	in chan *nats.Msg

	mu        sync.Mutex
	routes    map[*nats.Subscription]route // guarded by mu
	shardSubs map[int]*nats.Subscription   // guarded by mu
	barriers  map[*nats.Msg]chan struct{}  // guarded by mu

	shards []*shardState
	loaded atomic.Int64 // entities held in memory

	authCache  sync.Map // auth header -> []string; see subjects
	authCached atomic.Int64
	replyBufs  sync.Pool // *[]byte for encoding replies

	// runQ holds entities with queued commands and no worker yet; the
	// pool takes them in order. Guarded by runMu; runCond wakes workers.
	runMu    sync.Mutex
	runCond  *sync.Cond
	runQ     []runnable
	stopping bool
	workers  sync.WaitGroup
	// base is the context of entity work; canceled only at hard stop.
	base     context.Context
	stopWork context.CancelFunc
}

type route struct {
	shard   int               // -1 for observers
	observe func(m *nats.Msg) // set for observers
}

type shardState struct {
	mu      sync.Mutex
	open    bool             // guarded by mu
	slots   map[string]*slot // guarded by mu
	workers sync.WaitGroup
}

// slot is one entity in memory. queue and running are guarded by the shard's
// mu; state and loaded belong to the worker while running is set.
type slot struct {
	queue   []*request
	state   State
	running bool
	loaded  bool
}

// runnable is an entity whose mailbox has commands for the pool.
type runnable struct {
	sh *shardState
	sl *slot
}

type request struct {
	msg      *nats.Msg
	entityID string
	env      *protocol.Envelope // decoded by the dispatcher when it had to
	received time.Time
}

// inboxSize bounds messages waiting for the dispatcher. NATS drops messages
// for a full channel subscription, so this is generous; the dispatcher
// spends a few microseconds per message.
const inboxSize = 1 << 16

// New returns a Host. nc must stay open until Run returns.
func New(cfg Config, j journal.Journal, h Handler, nc *nats.Conn, js jetstream.JetStream, log *slog.Logger) (*Host, error) {
	if cfg.Shards < 1 || cfg.CommandSubject == nil || cfg.EventSubject == nil || cfg.Kind == "" {
		return nil, errors.New("entity host: incomplete config")
	}
	if cfg.MailboxSize < 1 {
		cfg.MailboxSize = 100
	}
	if cfg.SnapshotEvery < 1 {
		cfg.SnapshotEvery = 500
	}
	if cfg.DefaultTimeout <= 0 {
		cfg.DefaultTimeout = 60 * time.Second
	}
	if cfg.ParseEventPath == nil {
		cfg.ParseEventPath = jsonv.ParsePointer
	}
	if cfg.Workers < 1 {
		cfg.Workers = 256
	}
	base, stop := context.WithCancel(context.Background())
	host := &Host{
		cfg: cfg, j: j, h: h, nc: nc, js: js, log: log,
		in:        make(chan *nats.Msg, inboxSize),
		routes:    map[*nats.Subscription]route{},
		shardSubs: map[int]*nats.Subscription{},
		barriers:  map[*nats.Msg]chan struct{}{},
		shards:    make([]*shardState, cfg.Shards),
		base:      base,
		stopWork:  stop,
	}
	for i := range host.shards {
		host.shards[i] = &shardState{slots: map[string]*slot{}}
	}
	host.runCond = sync.NewCond(&host.runMu)
	host.replyBufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	return host, nil
}

// Observe delivers messages of subject to fn on the dispatcher goroutine, in
// order with the commands: fn must be quick and must not block.
func (h *Host) Observe(subject string, fn func(m *nats.Msg)) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	sub, err := h.nc.ChanSubscribe(subject, h.in)
	if err != nil {
		return fmt.Errorf("observe %s: %w", subject, err)
	}
	h.routes[sub] = route{shard: -1, observe: fn}
	return nil
}

// OpenShard starts serving the commands of shard.
func (h *Host) OpenShard(_ context.Context, shard int) error {
	sh := h.shards[shard]
	sh.mu.Lock()
	sh.open = true
	sh.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	sub, err := h.nc.ChanQueueSubscribe(h.cfg.CommandSubject(shard), h.cfg.Queue, h.in)
	if err != nil {
		sh.mu.Lock()
		sh.open = false
		sh.mu.Unlock()
		return fmt.Errorf("subscribe shard %d: %w", shard, err)
	}
	h.routes[sub] = route{shard: shard}
	h.shardSubs[shard] = sub
	return nil
}

// CloseShard stops serving shard: no new commands arrive, every command
// already received is answered, and its entities leave memory.
func (h *Host) CloseShard(ctx context.Context, shard int) {
	h.mu.Lock()
	sub := h.shardSubs[shard]
	delete(h.shardSubs, shard)
	h.mu.Unlock()
	if sub != nil {
		// Drain rather than unsubscribe: messages the server routed to us
		// before it processed the unsubscribe still reach the inbox
		// instead of being dropped (their requesters would time out).
		closed := sub.StatusChanged(nats.SubscriptionClosed)
		if err := sub.Drain(); err != nil {
			if !errors.Is(err, nats.ErrConnectionClosed) {
				h.log.Warn("drain shard subscription", "shard", shard, "err", err)
			}
		} else {
			select {
			case <-closed:
			case <-ctx.Done():
			}
		}
		// Everything the subscription delivered is in the inbox ahead of
		// this barrier.
		h.barrier(ctx)
		h.mu.Lock()
		delete(h.routes, sub)
		h.mu.Unlock()
	}
	sh := h.shards[shard]
	sh.mu.Lock()
	sh.open = false
	sh.mu.Unlock()
	done := make(chan struct{})
	go func() { sh.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		h.log.Warn("shard closed before its commands finished", "shard", shard)
	}
	sh.mu.Lock()
	h.loaded.Add(-int64(len(sh.slots)))
	sh.slots = map[string]*slot{}
	sh.mu.Unlock()
}

func (h *Host) barrier(ctx context.Context) {
	m := &nats.Msg{}
	done := make(chan struct{})
	h.mu.Lock()
	h.barriers[m] = done
	h.mu.Unlock()
	select {
	case h.in <- m:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// Run dispatches until ctx ends, then closes every shard (answering what was
// received), stops observing and returns once all workers are done.
func (h *Host) Run(ctx context.Context) error {
	for range h.cfg.Workers {
		h.workers.Add(1)
		go h.worker()
	}
	dispatchDone := make(chan struct{})
	stopDispatch := make(chan struct{})
	go func() {
		defer close(dispatchDone)
		for {
			select {
			case m := <-h.in:
				h.dispatch(m)
			case <-stopDispatch:
				return
			}
		}
	}()
	<-ctx.Done()

	closeCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h.mu.Lock()
	var open []int
	for s := range h.shardSubs {
		open = append(open, s)
	}
	h.mu.Unlock()
	for _, s := range open {
		h.CloseShard(closeCtx, s)
	}
	h.mu.Lock()
	for sub, r := range h.routes {
		if r.shard < 0 {
			_ = sub.Unsubscribe()
		}
	}
	h.mu.Unlock()
	close(stopDispatch)
	<-dispatchDone
	h.runMu.Lock()
	h.stopping = true
	h.runCond.Broadcast()
	h.runMu.Unlock()
	h.workers.Wait()
	h.stopWork()
	return nil
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

// dispatch routes one inbox message. It runs on the dispatcher goroutine and
// never blocks on I/O.
func (h *Host) dispatch(m *nats.Msg) {
	h.mu.Lock()
	if done, ok := h.barriers[m]; ok {
		delete(h.barriers, m)
		h.mu.Unlock()
		close(done)
		return
	}
	r, ok := h.routes[m.Sub]
	h.mu.Unlock()
	if !ok {
		h.notServing(m)
		return
	}
	if r.observe != nil {
		r.observe(m)
		return
	}
	req := &request{msg: m, received: time.Now(), entityID: m.Header.Get(streams.HeaderEntity)}
	if req.entityID == "" {
		// Not from the gateway (e.g. the nats CLI): read the topic.
		env, err := protocol.DecodeEnvelopeUnchecked(m.Data)
		if err != nil {
			h.replyError(m, protocol.Topic{}, protocol.Envelope{}, err)
			return
		}
		t, err := protocol.ParseTopic(env.Topic)
		if err != nil {
			h.replyError(m, protocol.Topic{}, env, err)
			return
		}
		req.env, req.entityID = &env, t.EntityID()
	}
	if want := streams.Shard(req.entityID, h.cfg.Shards); want != r.shard {
		h.replyError(m, protocol.Topic{}, protocol.Envelope{}, protocol.NewError(400, "entity.id.invalid",
			fmt.Sprintf("The entity ID '%s' belongs to shard %d, not to shard %d.", req.entityID, want, r.shard),
			"Send commands to the subject of the entity's shard: FNV-1a of the entity ID modulo CLUSTER_NUMBER_OF_SHARDS."))
		return
	}
	h.enqueue(r.shard, req)
}

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
	if len(sl.queue) >= h.cfg.MailboxSize {
		sh.mu.Unlock()
		h.replyError(req.msg, protocol.Topic{}, protocol.Envelope{}, h.cfg.Errors.TooManyRequests(req.entityID))
		return
	}
	sl.queue = append(sl.queue, req)
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
		if sl != keep && !sl.running && len(sl.queue) == 0 {
			delete(sh.slots, id)
			h.loaded.Add(-1)
			return
		}
	}
}

// notServing answers a command this instance does not serve (any more) the
// way NATS answers a request nobody listens to, so the requester retries.
func (h *Host) notServing(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	reply := nats.NewMsg(m.Reply)
	reply.Header.Set("Status", "503")
	if err := h.nc.PublishMsg(reply); err != nil {
		h.log.Debug("answer unserved command", "err", err)
	}
}

// work runs the queued commands of one entity until its mailbox is empty.
func (h *Host) work(sh *shardState, sl *slot) {
	defer sh.workers.Done()
	for {
		sh.mu.Lock()
		if len(sl.queue) == 0 {
			sl.running = false
			sl.queue = nil // an idle entity keeps no mailbox
			sh.mu.Unlock()
			return
		}
		req := sl.queue[0]
		sl.queue[0] = nil
		sl.queue = sl.queue[1:]
		sh.mu.Unlock()
		h.process(sl, req)
	}
}

func (h *Host) process(sl *slot, req *request) {
	defer sl.state.forget()
	env := req.env
	if env == nil {
		e, err := protocol.DecodeEnvelopeUnchecked(req.msg.Data)
		if err != nil {
			h.replyError(req.msg, protocol.Topic{}, protocol.Envelope{}, err)
			return
		}
		env = &e
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		h.replyError(req.msg, protocol.Topic{}, *env, err)
		return
	}
	// Header values are checked here, once per command, whoever sent it.
	if err := env.Headers.Validate(); err != nil {
		h.replyError(req.msg, topic, *env, err)
		return
	}
	if topic.EntityID() != req.entityID {
		h.replyError(req.msg, topic, *env, protocol.NewError(400, "entity.id.invalid",
			fmt.Sprintf("The topic's entity ID '%s' differs from the routed entity ID '%s'.", topic.EntityID(), req.entityID), ""))
		return
	}
	cmd := &Command{Envelope: *env, Topic: topic, EntityID: req.entityID, Sudo: req.msg.Header.Get(streams.HeaderSudo) == "true"}
	// A sudo command may still name the subjects it acts for.
	if auth := req.msg.Header.Get(streams.HeaderAuth); auth != "" || !cmd.Sudo {
		if cmd.Auth = h.subjects(auth); len(cmd.Auth) == 0 {
			h.replyError(req.msg, topic, *env, errUnauthenticated)
			return
		}
	}
	timeout := h.cfg.DefaultTimeout
	if t, ok := env.Headers[protocol.HeaderTimeout]; ok {
		if d, err := protocol.ParseTimeout(t); err == nil && d > 0 {
			timeout = d
		}
	}
	cmd.Deadline = req.received.Add(timeout)
	if time.Now().After(cmd.Deadline) {
		// The caller has given up and answered its client with a
		// timeout; applying the command now would surprise it.
		return
	}
	dctx := newDeadlineCtx(h.base, cmd.Deadline)
	defer dctx.release()
	var ctx context.Context = dctx

	for attempt := 0; ; attempt++ {
		if !sl.loaded {
			if err := h.load(ctx, sl); err != nil {
				h.log.Error("load entity", "entity_id", req.entityID, "err", err)
				h.replyError(req.msg, topic, *env, h.cfg.Errors.Unavailable(req.entityID))
				return
			}
		}
		out, err := h.h.Handle(ctx, cmd, &sl.state)
		if err != nil {
			h.replyError(req.msg, topic, *env, err)
			return
		}
		if out.Event != nil {
			err := h.persist(sl, cmd, out.Event)
			if errors.Is(err, journal.ErrConflict) && attempt < 3 {
				// Another instance wrote this revision: reload and decide
				// again on the current state.
				h.log.Info("journal conflict, reloading", "entity_id", req.entityID, "revision", sl.state.Revision+1)
				sl.loaded = false
				continue
			}
			if err != nil {
				h.log.Error("persist event", "entity_id", req.entityID, "err", err)
				sl.loaded = false // the outcome is unknown: reload next time
				h.replyError(req.msg, topic, *env, h.cfg.Errors.Unavailable(req.entityID))
				return
			}
		}
		resp := out.Response
		if out.After != nil {
			out.After(&sl.state, &resp)
		}
		h.reply(req.msg, env, resp)
		if out.Event != nil && (sl.state.Revision%h.cfg.SnapshotEvery == 0 || sl.state.Deleted) {
			h.snapshot(sl)
		}
		return
	}
}

// persist appends ev as the next revision, applies it and publishes it.
func (h *Host) persist(sl *slot, cmd *Command, ev *Event) error {
	rev := sl.state.Revision + 1
	ts := time.Now().UTC().Truncate(time.Millisecond)
	ns, name := protocol.SplitID(sl.state.ID)
	evEnv := protocol.Envelope{
		Topic: protocol.Topic{
			Namespace: ns, EntityName: name,
			Group: h.cfg.Group, Channel: h.cfg.Channel,
			Criterion: protocol.CriterionEvents, Action: ev.Action,
		}.String(),
		Headers:   ev.Headers,
		Path:      ev.Path.String(),
		Revision:  rev,
		Timestamp: FormatTime(ts),
	}
	if evEnv.Headers == nil {
		evEnv.Headers = protocol.Headers{}
	}
	if ev.Action != ActionDeleted {
		evEnv.Value = ev.Value.AppendJSON(nil)
	}
	payload, err := evEnv.AppendJSONTrusted(nil)
	if err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	// The append must not be cut short by the caller's deadline: an
	// append whose outcome is unknown forces a reload.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(h.base), 30*time.Second)
	defer cancel()
	if err := h.j.Append(ctx, journal.Event{PID: h.cfg.Kind + ":" + sl.state.ID, SN: rev, Timestamp: ts, Payload: payload}); err != nil {
		return err
	}
	if err := sl.state.apply(ev.Change, rev, ts); err != nil {
		return fmt.Errorf("apply persisted event %d: %w", rev, err)
	}
	h.publish(ctx, ns, sl.state.ID, rev, payload)
	return nil
}

// publish sends the event to JetStream and waits for the ack, so events of
// one entity reach the stream in revision order. A failure is logged, not
// returned: the event is persisted, and consumers catch up from the journal.
func (h *Host) publish(ctx context.Context, ns, id string, rev int64, payload []byte) {
	msg := nats.NewMsg(h.cfg.EventSubject(ns))
	msg.Data = payload
	msg.Header.Set(streams.HeaderEntity, id)
	fut, err := h.js.PublishMsgAsync(msg, jetstream.WithMsgID(streams.EventMsgID(id, rev)))
	if err != nil {
		h.log.Error("publish event", "entity_id", id, "revision", rev, "err", err)
		return
	}
	select {
	case <-fut.Ok():
	case err := <-fut.Err():
		h.log.Error("publish event", "entity_id", id, "revision", rev, "err", err)
	case <-ctx.Done():
		h.log.Error("publish event: no ack", "entity_id", id, "revision", rev)
	}
}

func (h *Host) snapshot(sl *slot) {
	data, err := sl.state.marshalSnapshot()
	if err == nil {
		ctx, cancel := context.WithTimeout(h.base, 30*time.Second)
		defer cancel()
		err = h.j.SaveSnapshot(ctx, journal.Snapshot{
			PID: h.cfg.Kind + ":" + sl.state.ID, SN: sl.state.Revision,
			Timestamp: sl.state.Modified(), Payload: data, Deleted: sl.state.Deleted,
		})
	}
	if err != nil {
		h.log.Warn("save snapshot", "entity_id", sl.state.ID, "revision", sl.state.Revision, "err", err)
	}
}

// load recovers the entity: the latest snapshot, then every later event.
func (h *Host) load(ctx context.Context, sl *slot) error {
	pid := h.cfg.Kind + ":" + sl.state.ID
	st := State{ID: sl.state.ID}
	snap, ok, err := h.j.LatestSnapshot(ctx, pid, math.MaxInt64)
	if err != nil {
		return fmt.Errorf("latest snapshot: %w", err)
	}
	if ok {
		if err := st.unmarshalSnapshot(snap.SN, snap.Deleted, snap.Payload); err != nil {
			return err
		}
	}
	events, err := h.j.Events(ctx, pid, st.Revision+1, math.MaxInt64)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	for _, e := range events {
		if e.SN != st.Revision+1 {
			return fmt.Errorf("journal of %s has a gap: revision %d follows %d", pid, e.SN, st.Revision)
		}
		ch, err := ChangeOf(e.Payload, h.cfg.ParseEventPath)
		if err != nil {
			return fmt.Errorf("event %d: %w", e.SN, err)
		}
		if err := st.apply(ch, e.SN, e.Timestamp.UTC()); err != nil {
			return err
		}
	}
	st.forget()
	sl.state, sl.loaded = st, true
	return nil
}

// ChangeOf reads the change an event envelope describes, with parsePath
// reading its path.
func ChangeOf(payload []byte, parsePath func(string) (jsonv.Pointer, error)) (Change, error) {
	env, err := protocol.DecodeEnvelopeUnchecked(payload)
	if err != nil {
		return Change{}, err
	}
	t, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		return Change{}, err
	}
	p, err := parsePath(env.Path)
	if err != nil {
		return Change{}, err
	}
	ch := Change{Action: t.Action, Path: p}
	if len(env.Value) > 0 {
		if ch.Value, err = jsonv.Parse(env.Value); err != nil {
			return Change{}, err
		}
	}
	return ch, nil
}

func (h *Host) reply(m *nats.Msg, cmd *protocol.Envelope, resp protocol.Envelope) {
	if m.Reply == "" {
		return
	}
	if cid, ok := cmd.Headers[protocol.HeaderCorrelationID]; ok {
		if resp.Headers == nil {
			resp.Headers = protocol.Headers{}
		}
		if _, set := resp.Headers[protocol.HeaderCorrelationID]; !set {
			resp.Headers[protocol.HeaderCorrelationID] = cid
		}
	}
	bp := h.replyBufs.Get().(*[]byte)
	data, err := resp.AppendJSONTrusted((*bp)[:0])
	if err != nil {
		h.replyBufs.Put(bp)
		h.log.Error("encode response", "err", err)
		h.replyError(m, protocol.Topic{}, *cmd, err)
		return
	}
	// Publish copies data into the connection's buffer, so it can be
	// reused at once.
	if err := h.nc.Publish(m.Reply, data); err != nil {
		h.log.Warn("send response", "err", err)
	}
	if cap(data) <= maxPooledReply {
		*bp = data[:0]
		h.replyBufs.Put(bp)
	}
}

// maxPooledReply bounds the reply buffers kept for reuse.
const maxPooledReply = 64 << 10

// replyError answers with err as a Ditto error envelope.
func (h *Host) replyError(m *nats.Msg, t protocol.Topic, cmd protocol.Envelope, err error) {
	if m.Reply == "" {
		return
	}
	perr := protocol.AsError(err)
	if perr == nil {
		h.log.Error("command failed", "err", err)
		perr = errInternal
	}
	headers := protocol.Headers{}
	for k, v := range perr.Headers {
		headers[k] = v
	}
	if cid, ok := cmd.Headers[protocol.HeaderCorrelationID]; ok {
		headers[protocol.HeaderCorrelationID] = cid
	}
	path := cmd.Path
	if path == "" {
		path = "/"
	}
	if t.Group == "" {
		t = protocol.Topic{Namespace: "_", EntityName: "_", Group: h.cfg.Group, Channel: h.cfg.Channel}
	}
	data, encErr := protocol.ErrorEnvelope(t, headers, path, perr).Encode()
	if encErr != nil {
		h.log.Error("encode error response", "err", encErr)
		return
	}
	if err := h.nc.Publish(m.Reply, data); err != nil {
		h.log.Warn("send error response", "err", err)
	}
}

// subjects parses the auth header (a JSON array of subject ids); nil when
// it is not one. Callers are few and send the same header again and again,
// so parsed headers are kept (at most authCacheSize of them).
func (h *Host) subjects(header string) []string {
	if v, ok := h.authCache.Load(header); ok {
		return v.([]string)
	}
	var subjects []string
	if json.Unmarshal([]byte(header), &subjects) != nil || len(subjects) == 0 {
		return nil
	}
	for _, s := range subjects {
		if s == "" {
			return nil
		}
	}
	if h.authCached.Add(1) > authCacheSize {
		h.authCache.Clear()
		h.authCached.Store(0)
	}
	h.authCache.Store(header, subjects)
	return subjects
}

const authCacheSize = 4096

// FormatTime renders a timestamp as Ditto does (ISO-8601, UTC, milliseconds).
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

var (
	errUnauthenticated = protocol.NewError(401, "gateway:authentication.failed",
		"The command carries no authenticated subjects.",
		"Send commands through the gateway, which authenticates the caller.")
	errInternal = protocol.NewError(500, "internal.error",
		"An internal error occurred.", "Please try again later; if the problem persists, contact the operators.")
)
