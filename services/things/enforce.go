package things

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/streams"
)

// errPolicyGone marks a policy that does not exist (or no longer does).
var errPolicyGone = errors.New("policy not found")

// policyCache holds compiled policies for enforcement. Policy events
// invalidate entries; the entity host delivers them in order with the
// commands, so a command that arrives after a policy change never sees the
// policy from before it.
type policyCache struct {
	policies *policyClient
	max      int

	mu      sync.Mutex
	entries map[string]*cachedPolicy // guarded by mu

	// shared maps a policy's content (its entries) to one compiled
	// enforcer: default policies of one user's things differ only in their
	// ids, so a hundred thousand of them share a handful of enforcers.
	// Guarded by mu; bounded like entries.
	shared map[string]*enforcer.Enforcer
}

// loaded is the done channel of every finished load.
var loaded = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// cachedPolicy is one load of a policy; done closes when it finished.
type cachedPolicy struct {
	done chan struct{}
	enf  *enforcer.Enforcer
	err  error
}

func newPolicyCache(pc *policyClient, max int) *policyCache {
	return &policyCache{policies: pc, max: max, entries: map[string]*cachedPolicy{}, shared: map[string]*enforcer.Enforcer{}}
}

// get returns the enforcer of policyID, loading it once for all concurrent
// callers. errPolicyGone reports a policy that does not exist.
func (c *policyCache) get(ctx context.Context, policyID string) (*enforcer.Enforcer, error) {
	c.mu.Lock()
	e, ok := c.entries[policyID]
	if !ok {
		e = &cachedPolicy{done: make(chan struct{})}
		if len(c.entries) >= c.max {
			c.evictLocked()
		}
		c.entries[policyID] = e
		c.mu.Unlock()
		e.enf, e.err = c.load(ctx, policyID)
		close(e.done)
		c.mu.Lock()
		if c.entries[policyID] == e {
			if e.err != nil {
				// Failures are not cached: the next command asks again.
				delete(c.entries, policyID)
			} else {
				// Keep a finished entry without its own channel: a
				// hundred thousand cached policies need no channels.
				c.entries[policyID] = &cachedPolicy{done: loaded, enf: e.enf}
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

// evictLocked drops finished entries at random (Go's map order) until there
// is room. Caller holds mu.
func (c *policyCache) evictLocked() {
	for id, e := range c.entries {
		if len(c.entries) < c.max {
			return
		}
		select {
		case <-e.done:
			delete(c.entries, id)
		default:
		}
	}
}

// invalidate forgets policyID. A load still running keeps serving the
// commands that were waiting for it (they arrived before the change), but
// its result is not kept.
func (c *policyCache) invalidate(policyID string) {
	c.mu.Lock()
	delete(c.entries, policyID)
	c.mu.Unlock()
}

// observe is the entity host's observer of policy events.
func (c *policyCache) observe(m *nats.Msg) {
	if id := m.Header.Get(streams.HeaderEntity); id != "" {
		c.invalidate(id)
	}
}

func (c *policyCache) load(ctx context.Context, policyID string) (*enforcer.Enforcer, error) {
	doc, err := c.policies.retrieve(ctx, policyID, nil, true)
	if err != nil {
		return nil, err
	}
	return c.compile(doc)
}

// compile returns the enforcer of a policy, shared with every policy of the
// same entries. Enforcement reads nothing else of a policy.
func (c *policyCache) compile(doc jsonv.Value) (*enforcer.Enforcer, error) {
	entries, _ := doc.Get("entries")
	key := string(entries.AppendJSON(nil))
	c.mu.Lock()
	enf, ok := c.shared[key]
	c.mu.Unlock()
	if ok {
		return enf, nil
	}
	enf, err := enforcer.Compile(doc)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if prev, ok := c.shared[key]; ok {
		return prev, nil
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
	c.shared[key] = enf
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
