package shard

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

const (
	memberPrefix = "member."
	shardPrefix  = "shard."
)

var validInstance = regexp.MustCompile(`^[-_=a-zA-Z0-9]+$`)

// Handler is told when this instance starts and stops owning a shard. The
// Manager calls it from its own goroutine, one call at a time.
type Handler interface {
	// Acquire starts serving shard. An error gives the lease back.
	Acquire(ctx context.Context, shard int) error
	// Release stops serving shard and returns once nothing of it is in
	// flight any more; only then is the lease handed to another instance.
	Release(ctx context.Context, shard int)
}

// BatchAcquirer is a Handler that starts serving several shards more
// cheaply at once than one by one (the entity host recovers their events
// with one read of the journal). The Manager uses it when the Handler has
// it: the shards it leased in one pass are started together.
type BatchAcquirer interface {
	// AcquireAll starts serving shards; a shard with an error in the
	// result is not served, and its lease is given back.
	AcquireAll(ctx context.Context, shards []int) map[int]error
}

// Config says how many shards there are and who this instance is.
type Config struct {
	Shards   int
	Instance string
	// TTL must equal the lease bucket's TTL; leases and heartbeats are
	// renewed four times per TTL.
	TTL time.Duration
}

// Manager acquires, renews and releases this instance's shard leases.
type Manager struct {
	kv  jetstream.KeyValue
	cfg Config
	h   Handler
	log *slog.Logger

	mu    sync.Mutex
	owned map[int]uint64 // shard -> revision of our lease; guarded by mu

	passes atomic.Int64 // rebalance passes run, for tests and metrics
}

// New returns a Manager; Run starts it.
func New(kv jetstream.KeyValue, cfg Config, h Handler, log *slog.Logger) (*Manager, error) {
	if cfg.Shards < 1 {
		return nil, fmt.Errorf("shards %d: must be at least 1", cfg.Shards)
	}
	if !validInstance.MatchString(cfg.Instance) {
		return nil, fmt.Errorf("instance id %q: must match %s", cfg.Instance, validInstance)
	}
	if cfg.TTL < time.Second {
		return nil, fmt.Errorf("lease ttl %s: must be at least 1s", cfg.TTL)
	}
	return &Manager{kv: kv, cfg: cfg, h: h, log: log, owned: map[int]uint64{}}, nil
}

// Owned returns the shards this instance holds, ascending.
func (m *Manager) Owned() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int, 0, len(m.owned))
	for s := range m.owned {
		out = append(out, s)
	}
	slices.Sort(out)
	return out
}

// Run takes part in the shard assignment until ctx ends, then releases every
// shard it holds (draining each through the Handler) so that others take over
// at once, and returns.
func (m *Manager) Run(ctx context.Context) error {
	// Changes to membership and leases trigger a rebalance at once; the
	// ticker renews and catches expiries, which the watcher does not see.
	watchCtx, stopWatch := context.WithCancel(ctx)
	defer stopWatch()
	kick := make(chan struct{}, 1)
	w, err := m.kv.WatchAll(watchCtx, jetstream.UpdatesOnly(), jetstream.MetaOnly())
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped before it started: nothing is held
		}
		return fmt.Errorf("watch lease bucket: %w", err)
	}
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		// Heartbeats and renewals are puts of keys already known; only a
		// new member, a member leaving or a lease handed back changes the
		// assignment.
		members := map[string]bool{}
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			changed := e.Operation() != jetstream.KeyValuePut
			if strings.HasPrefix(e.Key(), memberPrefix) {
				if e.Operation() == jetstream.KeyValuePut {
					changed = !members[e.Key()]
					members[e.Key()] = true
				} else {
					delete(members, e.Key())
				}
			}
			if changed {
				select {
				case kick <- struct{}{}:
				default:
				}
			}
		}
	}()

	ticker := time.NewTicker(m.cfg.TTL / 4)
	defer ticker.Stop()
	m.rebalance(ctx)
	for {
		select {
		case <-ctx.Done():
			stopWatch()
			<-watchDone
			m.shutdown()
			return nil
		case <-ticker.C:
			m.rebalance(ctx)
		case <-kick:
			m.rebalance(ctx)
		}
	}
}

// rebalance renews our heartbeat and leases, then moves towards the desired
// assignment. Errors are logged and retried at the next tick: a NATS outage
// must not stop the instance, and an unrenewable lease is dropped.
func (m *Manager) rebalance(ctx context.Context) {
	m.passes.Add(1)
	// KV operations are not cut short when ctx ends: a create or update
	// whose reply we stopped waiting for may still have happened, and
	// would then leave a lease nobody knows about. Each pass is bounded
	// by the timeout instead, and the loop checks ctx between steps.
	opCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.TTL/2)
	defer cancel()
	if _, err := m.kv.Put(opCtx, memberPrefix+m.cfg.Instance, []byte(time.Now().UTC().Format(time.RFC3339))); err != nil {
		m.log.Warn("renew membership", "err", err)
		return
	}
	m.renew(opCtx)
	if ctx.Err() != nil {
		return
	}
	members, err := m.members(opCtx)
	if err != nil {
		m.log.Warn("list members", "err", err)
		return
	}
	for _, s := range m.Owned() {
		if desiredOwner(members, s) != m.cfg.Instance {
			m.release(opCtx, s)
		}
	}
	leased := map[int]uint64{}
	for s := range m.cfg.Shards {
		if ctx.Err() != nil {
			break
		}
		if desiredOwner(members, s) != m.cfg.Instance || m.owns(s) {
			continue
		}
		if rev, ok := m.lease(opCtx, s); ok {
			leased[s] = rev
		}
	}
	m.start(opCtx, leased)
}

func (m *Manager) owns(s int) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.owned[s]
	return ok
}

func (m *Manager) renew(ctx context.Context) {
	for _, s := range m.Owned() {
		m.mu.Lock()
		rev := m.owned[s]
		m.mu.Unlock()
		newRev, err := m.kv.Update(ctx, shardKey(s), []byte(m.cfg.Instance), rev)
		if err == nil {
			m.setOwned(s, newRev)
			continue
		}
		// The lease expired. If nobody took it meanwhile, take it again;
		// if somebody did, the shard is theirs now and we must stop. Any
		// other failure is transient: keep serving and retry next tick.
		newRev, cerr := m.kv.Create(ctx, shardKey(s), []byte(m.cfg.Instance))
		switch {
		case cerr == nil:
			m.setOwned(s, newRev)
			m.log.Warn("shard lease had expired, re-acquired", "shard", s)
		case errors.Is(cerr, jetstream.ErrKeyExists):
			m.log.Error("shard lease lost to another instance", "shard", s, "err", err)
			m.h.Release(ctx, s)
			m.mu.Lock()
			delete(m.owned, s)
			m.mu.Unlock()
		default:
			m.log.Warn("renew shard lease", "shard", s, "err", err)
		}
	}
}

func (m *Manager) setOwned(s int, rev uint64) {
	m.mu.Lock()
	m.owned[s] = rev
	m.mu.Unlock()
}

// lease takes the lease of shard s, reporting its revision.
func (m *Manager) lease(ctx context.Context, s int) (uint64, bool) {
	rev, err := m.kv.Create(ctx, shardKey(s), []byte(m.cfg.Instance))
	if errors.Is(err, jetstream.ErrKeyExists) {
		// A lease in our own name is left from this instance's previous
		// run (instance ids are unique per running process): take it over
		// now instead of waiting for it to expire.
		rev, err = m.takeOver(ctx, s)
	}
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			m.log.Warn("acquire shard", "shard", s, "err", err)
		}
		return 0, false
	}
	return rev, true
}

// start has the Handler serve the shards just leased (together, if it is a
// BatchAcquirer) and gives back the leases of those it could not start.
func (m *Manager) start(ctx context.Context, leased map[int]uint64) {
	if len(leased) == 0 {
		return
	}
	shards := make([]int, 0, len(leased))
	for s := range leased {
		shards = append(shards, s)
	}
	slices.Sort(shards)
	var errs map[int]error
	if b, ok := m.h.(BatchAcquirer); ok {
		errs = b.AcquireAll(ctx, shards)
	} else {
		errs = map[int]error{}
		for _, s := range shards {
			if err := m.h.Acquire(ctx, s); err != nil {
				errs[s] = err
			}
		}
	}
	for _, s := range shards {
		if err := errs[s]; err != nil {
			m.log.Error("start serving shard", "shard", s, "err", err)
			if err := m.kv.Delete(ctx, shardKey(s), jetstream.LastRevision(leased[s])); err != nil {
				m.log.Warn("give back shard lease", "shard", s, "err", err)
			}
			continue
		}
		m.setOwned(s, leased[s])
		m.log.Debug("shard acquired", "shard", s)
	}
}

// takeOver renews a lease that names this instance although it does not
// hold it; any other lease is left alone (ErrKeyExists).
func (m *Manager) takeOver(ctx context.Context, s int) (uint64, error) {
	e, err := m.kv.Get(ctx, shardKey(s))
	if err != nil {
		return 0, err
	}
	if string(e.Value()) != m.cfg.Instance {
		return 0, jetstream.ErrKeyExists
	}
	m.log.Info("taking over this instance's lease from a previous run", "shard", s)
	return m.kv.Update(ctx, shardKey(s), []byte(m.cfg.Instance), e.Revision())
}

// release drains s and only then deletes the lease, so the next owner never
// overlaps with work still in flight here.
func (m *Manager) release(ctx context.Context, s int) {
	m.h.Release(ctx, s)
	m.mu.Lock()
	delete(m.owned, s)
	m.mu.Unlock()
	// Our last known revision may be stale (a renewal can land after its
	// caller gave up waiting), so delete by the lease's current revision, and
	// only while the lease is still ours.
	e, err := m.kv.Get(ctx, shardKey(s))
	if err == nil && string(e.Value()) == m.cfg.Instance {
		err = m.kv.Delete(ctx, shardKey(s), jetstream.LastRevision(e.Revision()))
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		m.log.Warn("hand back shard lease", "shard", s, "err", err)
	}
	m.log.Debug("shard released", "shard", s)
}

func (m *Manager) shutdown() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*m.cfg.TTL)
	defer cancel()
	for _, s := range m.Owned() {
		m.release(ctx, s)
	}
	m.dropStrayLeases(ctx)
	if err := m.kv.Delete(ctx, memberPrefix+m.cfg.Instance); err != nil {
		m.log.Warn("leave membership", "err", err)
	}
}

// dropStrayLeases deletes leases that name this instance but that it does
// not know it holds: a create whose reply was lost still took the lease.
func (m *Manager) dropStrayLeases(ctx context.Context) {
	lister, err := m.kv.ListKeysFiltered(ctx, shardPrefix+">")
	if err != nil {
		return
	}
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	for _, k := range keys {
		e, err := m.kv.Get(ctx, k)
		if err != nil || string(e.Value()) != m.cfg.Instance {
			continue
		}
		if err := m.kv.Delete(ctx, k, jetstream.LastRevision(e.Revision())); err != nil {
			m.log.Warn("drop stray shard lease", "key", k, "err", err)
		}
	}
}

// members lists the live instances (whose heartbeat has not expired).
func (m *Manager) members(ctx context.Context) ([]string, error) {
	lister, err := m.kv.ListKeysFiltered(ctx, memberPrefix+">")
	if err != nil {
		if errors.Is(err, jetstream.ErrNoKeysFound) {
			return []string{m.cfg.Instance}, nil
		}
		return nil, err
	}
	var out []string
	for k := range lister.Keys() {
		out = append(out, strings.TrimPrefix(k, memberPrefix))
	}
	if !slices.Contains(out, m.cfg.Instance) {
		out = append(out, m.cfg.Instance)
	}
	return out, nil
}

func shardKey(s int) string { return shardPrefix + strconv.Itoa(s) }

// desiredOwner picks the member with the highest rendezvous hash for shard s:
// every instance that sees the same members computes the same owner, and a
// member joining or leaving moves only the shards it wins or held.
func desiredOwner(members []string, s int) string {
	var best string
	var bestScore uint64
	for _, mem := range members {
		h := fnv.New64a()
		h.Write([]byte(mem))
		h.Write([]byte{0})
		h.Write([]byte(strconv.Itoa(s)))
		// FNV's low bits mix poorly for short inputs; finish with a
		// 64-bit avalanche (splitmix64) so scores spread evenly.
		score := mix(h.Sum64())
		if best == "" || score > bestScore || (score == bestScore && mem < best) {
			best, bestScore = mem, score
		}
	}
	return best
}

func mix(z uint64) uint64 {
	z ^= z >> 30
	z *= 0xbf58476d1ce4e5b9
	z ^= z >> 27
	z *= 0x94d049bb133111eb
	z ^= z >> 31
	return z
}
