package things

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/policyresolve"
	"github.com/dittonats/dittonats/streams"
)

// errPolicyGone marks a policy that does not exist (or no longer does).
var errPolicyGone = errors.New("policy not found")

// policyCache holds compiled policies for enforcement. Three things keep an
// entry from outliving the policy it was loaded from:
//
//   - Policy events invalidate it. The entity host delivers them in order
//     with the commands, so a command that arrives after a policy change
//     never sees the policy from before it.
//   - A gap in those events drops every entry before the next command
//     uses one (see eventGaps and get): without this a reconnect, or
//     events dropped for a full inbox, would leave a revoked grant in
//     force until the TTL.
//   - Every entry expires ttl after its load began (THINGS_POLICY_CACHE_TTL,
//     Ditto's expire-after-write), the bound for a loss no counter sees
//     (e.g. a message lost between servers of a NATS cluster).
//
// A policy that imports others (or has entry references, or namespace root
// policies apply to it) is enforced as its effective policy
// (policyresolve): its entry depends on every policy it was computed from,
// and an event of any of them invalidates it like one of its own. A load
// that read a policy whose event arrives before the load finished serves
// the commands waiting for it but is not kept.
type policyCache struct {
	fetch fetchFunc
	max   int
	ttl   time.Duration
	// roots are the namespace root policies (ditto.namespace-policies);
	// nil: none.
	roots func(namespace string) []string
	// gaps, when set, counts the gaps in the policy events this cache
	// observes (see eventGaps); watching false means it observes none.
	gaps func() (count uint64, watching bool)
	// now is the cache's monotonic clock (time since it was made).
	now func() time.Duration
	log *slog.Logger

	// gen is the gaps count when the entries were last dropped: every
	// entry was loaded after the count reached it. Written under mu, read
	// without it on the fast path of get.
	gen atomic.Uint64

	mu      sync.Mutex
	entries map[string]*cachedPolicy // guarded by mu
	// dependents maps a policy id to the cached entries computed from it
	// (besides its own); loading holds the loads in flight. Guarded by mu.
	dependents map[string]map[string]struct{}
	loading    map[*cachedPolicy]struct{}

	// shared maps a policy's content (its entries) to one compiled
	// enforcer: default policies of one user's things differ only in their
	// ids, so a hundred thousand of them share a handful of enforcers.
	// Guarded by mu; bounded like entries. An enforcer depends on nothing
	// but the content it is keyed by, so sharing never serves another
	// policy; shared ones expire with the TTL all the same (with them the
	// per-caller views they memoize) and are dropped on a gap.
	shared map[string]sharedEnforcer
}

// fetchFunc loads a policy unfiltered; errPolicyGone when it does not exist.
type fetchFunc func(ctx context.Context, policyID string) (jsonv.Value, error)

// loaded is the done channel of every finished load.
var loaded = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// cachedPolicy is one load of a policy; done closes when it finished.
type cachedPolicy struct {
	done chan struct{}
	enf  *enforcer.Enforcer
	err  error
	// id is the policy; deps the other policies its enforcer was computed
	// from (its imports), set once loaded; read the policies a load in
	// flight has fetched so far, and stale that one of them changed
	// meanwhile. Guarded by the cache's mu.
	id    string
	deps  []string
	read  []string
	stale bool
	// expires is when the entry stops being used, on the cache's clock:
	// its load's start plus the TTL.
	expires time.Duration
}

type sharedEnforcer struct {
	enf     *enforcer.Enforcer
	expires time.Duration
}

func newPolicyCache(fetch fetchFunc, max int, ttl time.Duration) *policyCache {
	start := time.Now()
	return &policyCache{
		fetch: fetch, max: max, ttl: ttl,
		now:     func() time.Duration { return time.Since(start) },
		log:     slog.New(slog.DiscardHandler),
		entries: map[string]*cachedPolicy{}, shared: map[string]sharedEnforcer{},
		dependents: map[string]map[string]struct{}{}, loading: map[*cachedPolicy]struct{}{},
	}
}

// eventGaps counts what may have made an observer of sub on nc miss
// messages: reconnects of nc (messages published while it was away are
// never delivered) plus messages nats.go dropped on sub because the channel
// they go to was full (a client-side slow consumer, which nats.go also
// reports to the connection's error handler, asynchronously). A server that
// finds this client too slow closes the connection, which is a reconnect.
// watching is false once sub is closed: then nothing is observed at all.
//
// Both counts grow before any later message is delivered, which is what
// makes the check in get race-free:
//   - nats.go (v1.55.0, Conn.doReconnect) waits for the old connection's
//     read loop to exit, then increments nc.Reconnects under nc.mu right
//     after the new socket is dialed: before processConnectInit starts the
//     read loop that delivers the new connection's messages, and before
//     the subscriptions are sent again. Every command received after a
//     reconnect was therefore read by a goroutine started after the
//     increment and reached the worker that enforces it through channel
//     operations, so the worker's nc.Stats() sees the new count.
//   - The read loop increments sub's dropped count (under sub.mu) for a
//     message it cannot deliver before it reads the connection's next
//     message, so a command read after a dropped event again sees it.
//
// It costs nc's and sub's mutex, no system call.
func eventGaps(nc *nats.Conn, sub *nats.Subscription) func() (uint64, bool) {
	return func() (uint64, bool) {
		dropped, err := sub.Dropped()
		if err != nil || dropped < 0 {
			return 0, false
		}
		return nc.Stats().Reconnects + uint64(dropped), true
	}
}

// get returns the enforcer of policyID, loading it once for all concurrent
// callers. errPolicyGone reports a policy that does not exist.
//
// A command's get runs after its command was received, so it reads a gaps
// count at least as large as any gap before that (see eventGaps). Entries
// are dropped whenever the count grows, so every entry get can return was
// loaded (its request sent to the policies service) after the last gap the
// command could be affected by, and invalidated by every event since.
func (c *policyCache) get(ctx context.Context, policyID string) (*enforcer.Enforcer, error) {
	var gen uint64
	if c.gaps != nil {
		var watching bool
		if gen, watching = c.gaps(); !watching {
			// No events invalidate anything: nothing can be kept.
			enf, _, err := c.load(ctx, &cachedPolicy{id: policyID})
			return enf, err
		}
	}
	if gen > c.gen.Load() {
		c.dropAll(gen)
	}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[policyID]
	if !ok || now >= e.expires {
		if !ok && len(c.entries) >= c.max {
			c.evictLocked()
		}
		if old := c.entries[policyID]; old != nil {
			c.forgetLocked(old)
		}
		e = &cachedPolicy{done: make(chan struct{}), expires: now + c.ttl, id: policyID}
		c.entries[policyID] = e
		c.loading[e] = struct{}{}
		c.mu.Unlock()
		var deps []string
		e.enf, deps, e.err = c.load(ctx, e)
		close(e.done)
		c.mu.Lock()
		delete(c.loading, e)
		// Not kept if an event, a gap or a newer load replaced it
		// meanwhile, or a policy it read changed: the commands waiting for
		// it arrived before that.
		if c.entries[policyID] == e {
			if e.err != nil || e.stale {
				// Failures are not cached: the next command asks again.
				delete(c.entries, policyID)
			} else {
				// Keep a finished entry without its own channel: a
				// hundred thousand cached policies need no channels.
				kept := &cachedPolicy{done: loaded, enf: e.enf, expires: e.expires, id: policyID, deps: deps}
				c.entries[policyID] = kept
				for _, d := range deps {
					if c.dependents[d] == nil {
						c.dependents[d] = map[string]struct{}{}
					}
					c.dependents[d][policyID] = struct{}{}
				}
			}
		}
		c.mu.Unlock()
		return e.enf, e.err
	}
	c.mu.Unlock()
	select {
	case <-e.done: // loaded: the common case, without touching ctx
		return e.enf, e.err
	default:
	}
	select {
	case <-e.done:
		return e.enf, e.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// dropAll forgets every entry and shared enforcer, unless that happened
// for gen (or a later gap) already, and records gen as the gaps count of
// what is loaded from now on. Loads in flight keep serving the commands
// waiting for them but are not kept.
func (c *policyCache) dropAll(gen uint64) {
	c.mu.Lock()
	if gen <= c.gen.Load() {
		// Another get dropped them for this gap or a later one; a
		// smaller count, read for an older command, never undoes that.
		c.mu.Unlock()
		return
	}
	n := len(c.entries)
	clear(c.entries)
	clear(c.shared)
	clear(c.dependents)
	c.gen.Store(gen)
	c.mu.Unlock()
	c.log.Info("policy cache dropped: policy events may have been missed (reconnect or dropped messages)",
		"policies", n, "gaps", gen)
}

// evictLocked drops finished entries at random (Go's map order) until there
// is room. Caller holds mu.
func (c *policyCache) evictLocked() {
	for id, e := range c.entries {
		if len(c.entries) < c.max {
			return
		}
		select {
		case <-e.done:
			c.forgetLocked(e)
			delete(c.entries, id)
		default:
		}
	}
}

// forgetLocked removes e from the dependents of the policies it was
// computed from. Caller holds mu.
func (c *policyCache) forgetLocked(e *cachedPolicy) {
	for _, d := range e.deps {
		if set := c.dependents[d]; set != nil {
			delete(set, e.id)
			if len(set) == 0 {
				delete(c.dependents, d)
			}
		}
	}
}

// invalidate forgets policyID. A load still running keeps serving the
// commands that were waiting for it (they arrived before the change), but
// its result is not kept.
func (c *policyCache) invalidate(policyID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.entries[policyID]; e != nil {
		c.forgetLocked(e)
		delete(c.entries, policyID)
	}
	// The policies computed from it: their entries go, and so do
	// their loads in flight that read it.
	for id := range c.dependents[policyID] {
		if e := c.entries[id]; e != nil {
			c.forgetLocked(e)
			delete(c.entries, id)
		}
	}
	delete(c.dependents, policyID)
	for e := range c.loading {
		if slices.Contains(e.read, policyID) {
			e.stale = true
		}
	}
}

// observe is the entity host's observer of policy events.
func (c *policyCache) observe(m *nats.Msg) {
	if id := streams.DecodeEntityHeader(m.Header.Get(streams.HeaderEntity)); id != "" {
		c.invalidate(id)
	}
}

// load fetches the policy of e and compiles its effective policy; deps
// are the other policies that was computed from.
func (c *policyCache) load(ctx context.Context, e *cachedPolicy) (*enforcer.Enforcer, []string, error) {
	doc, err := c.fetch(ctx, e.id)
	if err != nil {
		return nil, nil, err
	}
	if !policyresolve.Applies(e.id, doc, c.roots) {
		enf, err := c.compile(doc)
		return enf, nil, err
	}
	fetch := func(ctx context.Context, id string) (jsonv.Value, error) {
		c.mu.Lock()
		e.read = append(e.read, id)
		c.mu.Unlock()
		return c.fetch(ctx, id)
	}
	res, err := policyresolve.Resolve(ctx, doc, policyresolve.LoaderOf(fetch, errPolicyGone), policyresolve.Options{NamespaceRoots: c.roots})
	if err != nil {
		return nil, nil, err
	}
	enf, err := c.compile(res.Policy)
	return enf, res.DependsOn, err
}

// compile returns the enforcer of a policy, shared with every policy of the
// same entries. Enforcement reads nothing else of a policy.
func (c *policyCache) compile(doc jsonv.Value) (*enforcer.Enforcer, error) {
	entries, _ := doc.Get("entries")
	key := string(entries.AppendJSON(nil))
	now := c.now()
	c.mu.Lock()
	s, ok := c.shared[key]
	c.mu.Unlock()
	if ok && now < s.expires {
		return s.enf, nil
	}
	enf, err := enforcer.Compile(doc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.shared[key]; ok && now < prev.expires {
		return prev.enf, nil
	}
	if len(c.shared) >= c.max {
		// Dropping a shared enforcer only costs a compile later: entries
		// that use it keep their pointer.
		for k := range c.shared {
			delete(c.shared, k)
			if len(c.shared) < c.max/2 {
				break
			}
		}
	}
	c.shared[key] = sharedEnforcer{enf: enf, expires: now + c.ttl}
	return enf, nil
}

// policyClient sends policy commands to the policies service.
type policyClient struct {
	cmd *command.Client
}

func (pc *policyClient) send(ctx context.Context, policyID, action string, value []byte, headers protocol.Headers, auth []string, sudo bool) (protocol.Envelope, error) {
	ns, name := protocol.SplitID(policyID)
	env := protocol.Envelope{
		Topic:   protocol.Topic{Namespace: ns, EntityName: name, Group: protocol.GroupPolicies, Criterion: protocol.CriterionCommands, Action: action}.String(),
		Headers: headers,
		Path:    "/",
		Value:   value,
	}
	if env.Headers == nil {
		env.Headers = protocol.Headers{}
	}
	req := command.Request{Envelope: env, EntityID: policyID, Group: protocol.GroupPolicies, Auth: command.EncodeAuth(auth)}
	if sudo {
		// The things service's own access (enforcement, undoing a policy
		// it created): the policies service trusts the internal subject.
		req.Kind = streams.KindInternal
	}
	reply, err := pc.cmd.Request(ctx, req)
	if err != nil {
		if errors.Is(err, command.ErrUnavailable) || errors.Is(err, command.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
			return protocol.Envelope{}, protocol.ErrPolicyUnavailable(policyID)
		}
		return protocol.Envelope{}, fmt.Errorf("%s policy %s: %w", action, policyID, err)
	}
	if perr, ok := reply.AsError(); ok {
		return reply, perr
	}
	return reply, nil
}

// retrieve loads a policy: as the caller (auth) so that the policies service
// enforces READ, or unfiltered (sudo) for enforcement.
func (pc *policyClient) retrieve(ctx context.Context, policyID string, auth []string, sudo bool) (jsonv.Value, error) {
	reply, err := pc.send(ctx, policyID, protocol.ActionRetrieve, nil, protocol.Headers{}, auth, sudo)
	if err != nil {
		if sudo && protocol.HasCode(err, protocol.CodePolicyNotFound) {
			return jsonv.Value{}, errPolicyGone
		}
		return jsonv.Value{}, err
	}
	return jsonv.Parse(reply.Value)
}

// create creates a policy on behalf of the caller; the policies service
// checks it (including that the caller does not lock itself out).
func (pc *policyClient) create(ctx context.Context, policy jsonv.Value, policyID string, headers protocol.Headers, auth []string) (jsonv.Value, error) {
	reply, err := pc.send(ctx, policyID, protocol.ActionCreate, policy.AppendJSON(nil), headers, auth, false)
	if err != nil {
		return jsonv.Value{}, err
	}
	if len(reply.Value) == 0 {
		return policy, nil
	}
	return jsonv.Parse(reply.Value)
}

// delete removes a policy this service created for a thing whose creation
// then failed.
func (pc *policyClient) delete(ctx context.Context, policyID string) error {
	_, err := pc.send(ctx, policyID, protocol.ActionDelete, nil, protocol.Headers{}, nil, true)
	if protocol.HasCode(err, protocol.CodePolicyNotFound) {
		return nil
	}
	return err
}
