package policies

import (
	"context"
	"fmt"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/internal/policyresolve"
)

// A policy is enforced as its effective policy (policyresolve): with the
// entries of the namespace root policies configured for its namespace
// (ditto.namespace-policies) and with the entries it imports. The
// policies it is computed from are read from the journal as committed
// (entity.Host.Stored) on every command of a policy that needs them, not
// asked of their owners: two policies that import each other would each
// wait for the other's mailbox. A policy that needs none is enforced as
// stored, without any read.

// effective returns the effective policy of doc, the policy id, computed
// from the policies load reads: doc itself when nothing applies to it
// besides its own entries.
func (h *handler) effective(ctx context.Context, id string, doc jsonv.Value, load policyresolve.Loader) (jsonv.Value, error) {
	if !policyresolve.Applies(id, doc, h.roots) {
		return doc, nil
	}
	if load == nil {
		return jsonv.Value{}, fmt.Errorf("policy %s: no loader for the policies it depends on", id)
	}
	res, err := policyresolve.Resolve(ctx, doc, load, policyresolve.Options{NamespaceRoots: h.roots})
	if err != nil {
		if perr := protocol.AsError(err); perr != nil {
			return jsonv.Value{}, perr
		}
		return jsonv.Value{}, fmt.Errorf("effective policy %s: %w", id, err)
	}
	return res.Policy, nil
}

// effective is the handler's effective for the command's call: the
// policies it reads are read once per command, however often it computes
// an effective policy (to enforce, for the event's read subjects, for
// the imported policies' own checks).
func (c *call) effective(id string, doc jsonv.Value) (jsonv.Value, error) {
	return c.h.effective(c.ctx, id, doc, c.load)
}

// load is the handler's load, remembered for the command.
func (c *call) load(ctx context.Context, id string) (jsonv.Value, bool, error) {
	if l, ok := c.loaded[id]; ok {
		return l.doc, l.ok, nil
	}
	if c.h.load == nil {
		return jsonv.Value{}, false, fmt.Errorf("policy %s: no loader", id)
	}
	doc, ok, err := c.h.load(ctx, id)
	if err != nil {
		return doc, ok, err
	}
	if c.loaded == nil {
		c.loaded = map[string]loadedPolicy{}
	}
	c.loaded[id] = loadedPolicy{doc: doc, ok: ok}
	return doc, ok, nil
}

// loadedPolicy is a policy a command read: ok false when it does not exist.
type loadedPolicy struct {
	doc jsonv.Value
	ok  bool
}

// loader reads stored policies from the journal (host.Stored): what an
// effective policy is computed from.
func loader(host *entity.Host) policyresolve.Loader {
	return func(ctx context.Context, id string) (jsonv.Value, bool, error) {
		if protocol.ValidatePolicyID(id) != nil {
			return jsonv.Value{}, false, nil // no policy can have it
		}
		st, err := host.Stored(ctx, id)
		if err != nil {
			return jsonv.Value{}, false, fmt.Errorf("read policy %s: %w", id, err)
		}
		if !st.Exists() {
			return jsonv.Value{}, false, nil
		}
		doc, err := st.Doc()
		return doc, err == nil, err
	}
}
