package entity

import (
	"cmp"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/namespaces"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/streams"
)

// Handler decides how a command changes an entity. The host calls it from
// the entity's one worker, never concurrently for the same entity. It may do
// I/O (ask another service) within ctx. An error is answered as a Ditto
// error: a *protocol.Error as it is, anything else as an internal error.
//
// A retrieve with at-historical-revision or at-historical-timestamp comes
// with Command.History set: the Handler enforces it with st, the entity as
// it is now, and answers from History (history.go).
type Handler interface {
	Handle(ctx context.Context, cmd *Command, st *State) (Outcome, error)
}

// Config describes the entity type and the host's limits.
type Config struct {
	// Kind prefixes persistence ids: "thing" gives "thing:<id>".
	Kind string
	// Service is the service's name in subjects (streams.ServiceThings):
	// the host serves <p>.<Service>.<kind>.<shard> for every command kind
	// and joins the queue group Service there, so that an overlapping
	// hand-over never delivers a command twice.
	Service string
	// Group and Channel are the event topics' group and channel
	// ("things"/"twin", "policies"/"").
	Group, Channel string
	// EventSubject names the subject of a namespace's events.
	EventSubject func(namespace string) string
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
	// HistoricalHeaders names the headers journaled with each event
	// (lower case; Ditto's event.historical-headers-to-persist), which a
	// historical retrieve returns as historical-headers (history.go).
	HistoricalHeaders []string
	// HistoryCacheBytes bounds the rebuilt states a historical retrieve
	// keeps at checkpoints (pastcache.go); 0 means 32 MiB, negative none.
	HistoryCacheBytes int64
	// InboxSize bounds the messages waiting for the dispatcher; 0 means
	// 65,536 (see inboxSize). Tests that make NATS drop observed events
	// set it small.
	InboxSize int
	// Errors builds the service's Ditto errors for the host's own answers.
	Errors Errors
}

// Errors builds the Ditto errors the host answers with on its own.
type Errors struct {
	TooManyRequests func(entityID string) *protocol.Error
	Unavailable     func(entityID string) *protocol.Error
	// HistoryNotAccessible and HistoryNotAccessibleAt answer a historical
	// retrieve of a revision or time the journal does not have (Ditto's
	// <entity>.history.notfound); generic errors when nil.
	HistoryNotAccessible   func(entityID string, revision int64) *protocol.Error
	HistoryNotAccessibleAt func(entityID, timestamp string) *protocol.Error
}

// Host runs the entities of the shards this instance owns. Create with New,
// start with Run (or Serve); OpenShard and CloseShard are called by the
// shard manager.
//
// Its parts: route.go receives and routes messages (one dispatcher
// goroutine), mailbox.go queues commands per entity and runs them on a pool
// of workers, command.go runs one command, persist.go journals, applies,
// snapshots and loads, publish.go delivers events to JetStream, reply.go
// answers.
type Host struct {
	cfg Config
	d   Deps
	h   Handler
	nc  *nats.Conn
	j   journal.Journal
	log *slog.Logger
	pub *publisher
	// metrics is nil when the host exports none.
	metrics *metrics
	tracer  *tracing.Tracer // nil or disabled: no spans
	// past keeps rebuilt states of historical retrieves; nil keeps none.
	past *pastCache
	// blocked are the service's blocked namespaces, whose commands the
	// dispatcher refuses (see namespaces.go).
	blocked *namespaces.Blocklist

	// in is the single ordered inbox of every subscription; only the
	// dispatcher goroutine receives from it.
	in chan *nats.Msg

	mu        sync.Mutex
	routes    map[*nats.Subscription]route // guarded by mu
	shardSubs map[int][]*nats.Subscription // guarded by mu
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
	workers  sync.WaitGroup // the pool, and live signals passing mailboxes
	// liveSlots holds a token per live signal handled beside the
	// mailboxes (passLive), pastSlots one per historical retrieve
	// (pastAside).
	liveSlots, pastSlots chan struct{}
	// base is the context of entity work; canceled only at hard stop.
	base     context.Context
	stopWork context.CancelFunc
}

// New returns a Host running the entities of cfg with h, on d (which must
// stay open until Run returns).
func New(cfg Config, d Deps, h Handler) (*Host, error) {
	if d.Shards < 1 || cfg.Service == "" || cfg.EventSubject == nil || cfg.Kind == "" {
		return nil, errors.New("entity host: incomplete config")
	}
	if d.NC == nil || d.JS == nil || d.Journal == nil || d.Published == nil {
		return nil, errors.New("entity host: NATS connection, JetStream, journal and publication bucket are required")
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
	hh := make([]string, 0, len(cfg.HistoricalHeaders))
	for _, name := range cfg.HistoricalHeaders {
		if name = strings.ToLower(strings.TrimSpace(name)); name != "" && !slices.Contains(hh, name) {
			hh = append(hh, name) // headers are held lower case
		}
	}
	cfg.HistoricalHeaders = hh
	if d.EventsMaxAge <= 0 {
		d.EventsMaxAge = streams.DefaultConfig().EventsMaxAge
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	base, stop := context.WithCancel(context.Background())
	host := &Host{
		cfg: cfg, d: d, h: h, nc: d.NC, j: d.Journal, log: d.Log,
		past:      pastCacheOf(cfg.HistoryCacheBytes),
		in:        make(chan *nats.Msg, cmp.Or(cfg.InboxSize, inboxSize)),
		routes:    map[*nats.Subscription]route{},
		shardSubs: map[int][]*nats.Subscription{},
		barriers:  map[*nats.Msg]chan struct{}{},
		shards:    make([]*shardState, d.Shards),
		base:      base,
		stopWork:  stop,
	}
	host.blocked = namespaces.NewBlocklist(d.JS, d.Names.BlockedNamespacesBucket(cfg.Service), d.Log)
	host.metrics = newMetrics(host, d.Metrics, d.LiveEntities, d.LiveEntitiesRefresh)
	host.tracer = d.Tracer
	host.pub = newPublisher(publisherConfig{
		js: d.JS, kv: d.Published, j: d.Journal, kind: cfg.Kind, shards: d.Shards,
		subject: cfg.EventSubject, recoverFor: d.EventsMaxAge, log: d.Log, metrics: host.metrics,
	})
	for i := range host.shards {
		host.shards[i] = &shardState{slots: map[string]*slot{}}
	}
	host.runCond = sync.NewCond(&host.runMu)
	host.liveSlots = make(chan struct{}, maxPassingLive)
	host.pastSlots = make(chan struct{}, maxPastAside)
	host.replyBufs.New = func() any { b := make([]byte, 0, 1024); return &b }
	return host, nil
}

// Run dispatches until ctx ends, then closes every shard (answering what was
// received and handing its events to JetStream), stops observing and
// returns once all workers and the publisher are done. It reads the
// blocked namespaces first: no command is dispatched before (commands of
// shards opened meanwhile wait in the inbox).
func (h *Host) Run(ctx context.Context) error {
	if err := h.blocked.Open(ctx); err != nil {
		return err
	}
	defer h.blocked.Close()
	stopList, err := h.serveList(ctx)
	if err != nil {
		return err
	}
	defer stopList()
	for range h.cfg.Workers {
		h.workers.Add(1)
		go h.worker()
	}
	pubCtx, stopPub := context.WithCancel(context.WithoutCancel(ctx))
	pubDone := make(chan struct{})
	go func() {
		defer close(pubDone)
		h.pub.run(pubCtx)
	}()
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
	h.stopObserving()
	close(stopDispatch)
	<-dispatchDone
	h.runMu.Lock()
	h.stopping = true
	h.runCond.Broadcast()
	h.runMu.Unlock()
	h.workers.Wait()
	stopPub()
	<-pubDone
	h.stopWork()
	return nil
}

// FormatTime renders a timestamp as Ditto does (ISO-8601, UTC, milliseconds).
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z") }

// shardOf is the shard of an entity id.
func (h *Host) shardOf(id string) int { return streams.Shard(id, h.d.Shards) }
