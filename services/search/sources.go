package search

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/internal/policyresolve"
	"github.com/dittonats/dittonats/streams"
)

// errGone reports that a thing or policy does not exist (any more).
var errGone = errors.New("search: entity does not exist")

// thingFields are what the index keeps of a thing: the whole thing and the
// computed fields a search can filter, sort and select on.
const thingFields = "thingId,policyId,definition,attributes,features,_created,_modified,_revision,_metadata"

// sources loads things and policies from their services over the internal
// command subjects: the search service sees them unfiltered, as Ditto's
// search updater does, and filters per caller itself.
type sources struct {
	nc    *nats.Conn
	names streams.Names
	cmd   *command.Client
}

// thing is a thing as the index is fed with it.
type thing struct {
	id       string
	revision int64
	doc      jsonv.Value // without _revision
}

// retrieveThing loads the current state of a thing; errGone when it does
// not exist.
func (s *sources) retrieveThing(ctx context.Context, id string) (thing, error) {
	ns, name := protocol.SplitID(id)
	env := protocol.Envelope{
		Topic:   protocol.Topic{Namespace: ns, EntityName: name, Group: protocol.GroupThings, Channel: protocol.ChannelTwin, Criterion: protocol.CriterionCommands, Action: protocol.ActionRetrieve}.String(),
		Headers: protocol.Headers{},
		Path:    "/",
		Fields:  thingFields,
	}
	reply, err := s.cmd.Request(ctx, command.Request{Envelope: env, EntityID: id, Group: protocol.GroupThings, Kind: streams.KindInternal, Timeout: timeoutOf(ctx)})
	if err != nil {
		return thing{}, fmt.Errorf("retrieve thing %s: %w", id, err)
	}
	if perr, ok := reply.AsError(); ok {
		if perr.Status == 404 {
			return thing{}, errGone
		}
		return thing{}, fmt.Errorf("retrieve thing %s: %w", id, perr)
	}
	doc, err := jsonv.Parse(reply.Value)
	if err != nil {
		return thing{}, fmt.Errorf("retrieve thing %s: %w", id, err)
	}
	rv, _ := doc.Get("_revision")
	rev, _ := rv.Int64()
	doc, _ = doc.Delete(jsonv.Pointer{"_revision"})
	return thing{id: id, revision: rev, doc: doc}, nil
}

// retrievePolicy loads a policy; errGone when it does not exist.
func (s *sources) retrievePolicy(ctx context.Context, id string) (jsonv.Value, error) {
	ns, name := protocol.SplitID(id)
	env := protocol.Envelope{
		Topic:   protocol.Topic{Namespace: ns, EntityName: name, Group: protocol.GroupPolicies, Criterion: protocol.CriterionCommands, Action: protocol.ActionRetrieve}.String(),
		Headers: protocol.Headers{},
		Path:    "/",
	}
	reply, err := s.cmd.Request(ctx, command.Request{Envelope: env, EntityID: id, Group: protocol.GroupPolicies, Kind: streams.KindInternal, Timeout: timeoutOf(ctx)})
	if err != nil {
		return jsonv.Value{}, fmt.Errorf("retrieve policy %s: %w", id, err)
	}
	if perr, ok := reply.AsError(); ok {
		if perr.Status == 404 {
			return jsonv.Value{}, errGone
		}
		return jsonv.Value{}, fmt.Errorf("retrieve policy %s: %w", id, perr)
	}
	return jsonv.Parse(reply.Value)
}

// listThings returns a page of thing ids after after, in the things
// service's order; a short page is the last.
func (s *sources) listThings(ctx context.Context, after string, limit int) ([]string, error) {
	b, _ := json.Marshal(entity.ListRequest{After: after, Limit: limit})
	m, err := command.RequestWithin(s.nc, &nats.Msg{Subject: s.names.EntityList(streams.ServiceThings), Data: b}, timeoutOf(ctx))
	if err != nil {
		return nil, fmt.Errorf("list things after %q: %w", after, err)
	}
	var reply entity.ListReply
	if err := json.Unmarshal(m.Data, &reply); err != nil {
		return nil, fmt.Errorf("list things after %q: %w", after, err)
	}
	if reply.Error != "" {
		return nil, fmt.Errorf("list things after %q: %s", after, reply.Error)
	}
	return reply.IDs, nil
}

// timeoutOf is the time ctx leaves, 30 seconds without a deadline.
func timeoutOf(ctx context.Context) time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		return max(time.Until(dl), time.Millisecond)
	}
	return 30 * time.Second
}

// policyCache holds compiled policies by id for the projector (which
// computes who may read what) and the queries (which cut hits down to what
// the caller may read). Policy events invalidate entries; a TTL bounds
// what a lost event can leave stale.
type policyCache struct {
	fetch func(ctx context.Context, id string) (jsonv.Value, error)
	ttl   time.Duration
	max   int
	// roots are the namespace root policies; nil: none.
	roots func(namespace string) []string

	mu      sync.Mutex
	entries map[string]cachedPolicy
	// shared holds one compiled enforcer per distinct set of entries:
	// policies made from one template (every thing's default policy for
	// the same creator) share it, so a hundred thousand of them cost one.
	shared map[string]*enforcer.Enforcer
}

type cachedPolicy struct {
	enf    *enforcer.Enforcer // nil: the policy does not exist
	loaded time.Time
	// deps are the other policies its effective policy was computed
	// from (its imports; policyresolve).
	deps []string
}

func newPolicyCache(fetch func(ctx context.Context, id string) (jsonv.Value, error), ttl time.Duration, max int) *policyCache {
	return &policyCache{fetch: fetch, ttl: ttl, max: max, entries: map[string]cachedPolicy{}, shared: map[string]*enforcer.Enforcer{}}
}

// get returns the compiled policy, nil when it does not exist.
func (c *policyCache) get(ctx context.Context, id string) (*enforcer.Enforcer, error) {
	if id == "" {
		return nil, nil
	}
	c.mu.Lock()
	e, ok := c.entries[id]
	c.mu.Unlock()
	if ok && time.Since(e.loaded) < c.ttl {
		return e.enf, nil
	}
	doc, err := c.fetch(ctx, id)
	var enf *enforcer.Enforcer
	var deps []string
	switch {
	case errors.Is(err, errGone):
	case err != nil:
		return nil, err
	default:
		if policyresolve.Applies(id, doc, c.roots) {
			res, err := policyresolve.Resolve(ctx, doc, policyresolve.LoaderOf(c.fetch, errGone), policyresolve.Options{NamespaceRoots: c.roots})
			if err != nil {
				return nil, fmt.Errorf("policy %s: %w", id, err)
			}
			doc, deps = res.Policy, res.DependsOn
		}
		if enf, err = c.compile(doc); err != nil {
			return nil, fmt.Errorf("policy %s: %w", id, err)
		}
	}
	c.mu.Lock()
	if len(c.entries) >= c.max {
		for k := range c.entries { // drop an arbitrary tenth
			delete(c.entries, k)
			if len(c.entries) < c.max*9/10 {
				break
			}
		}
	}
	// A copy: id is often cut from a thing event's document, whose whole
	// text the key would otherwise keep alive as long as the entry.
	c.entries[strings.Clone(id)] = cachedPolicy{enf: enf, loaded: time.Now(), deps: deps}
	c.mu.Unlock()
	return enf, nil
}

// depsOf returns the other policies the cached effective policy of id was
// computed from.
func (c *policyCache) depsOf(id string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.entries[id].deps
}

// prefetch loads the policies among ids that are not cached, up to n at
// once. The apply loop needs them one after another; without this, every
// policy it has not seen (each new thing's own policy, a whole index being
// filled) would cost it a round trip to the policies service in turn.
// Errors are left for the get that needs the policy.
func (c *policyCache) prefetch(ctx context.Context, ids []string, n int) {
	var missing []string
	seen := map[string]bool{}
	now := time.Now()
	c.mu.Lock()
	for _, id := range ids {
		if id == "" || seen[id] {
			continue
		}
		seen[id] = true
		if e, ok := c.entries[id]; ok && now.Sub(e.loaded) < c.ttl {
			continue
		}
		missing = append(missing, id)
	}
	c.mu.Unlock()
	if len(missing) < 2 {
		return // the get that needs it fetches it as soon
	}
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, id := range missing {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, _ = c.get(ctx, id)
		}()
	}
	wg.Wait()
}

// compile returns the enforcer of a policy, shared with every cached
// policy of the same entries.
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
	if limit := max(c.max/10, 1000); len(c.shared) >= limit {
		// Dropping a shared enforcer costs a compile later; cached
		// policies keep their pointer.
		for k := range c.shared {
			delete(c.shared, k)
			if len(c.shared) < limit/2 {
				break
			}
		}
	}
	c.shared[key] = enf
	return enf, nil
}

// invalidate forgets a policy: it changed.
func (c *policyCache) invalidate(id string) {
	c.mu.Lock()
	delete(c.entries, id)
	c.mu.Unlock()
}
