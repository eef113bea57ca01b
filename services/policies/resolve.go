package policies

import (
	"context"
	"fmt"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/policyresolve"
	"github.com/dittonats/dittonats/streams"
)

// A policy is enforced as its effective policy (policyresolve): with the
// entries of the namespace root policies configured for its namespace
// (ditto.namespace-policies) and, once a policy may import others, with
// the entries it imports. The policies it is computed from are loaded
// over NATS from their owners (internal retrieves), on every command of a
// policy that needs them; a policy that needs none is enforced as stored,
// without any load.

// effective returns the effective policy of doc, the policy id: doc
// itself when nothing applies to it besides its own entries.
func (h *handler) effective(ctx context.Context, id string, doc jsonv.Value) (jsonv.Value, error) {
	ns, _ := protocol.SplitID(id)
	if !policyresolve.Needed(doc) && (h.roots == nil || len(h.roots(ns)) == 0) {
		return doc, nil
	}
	if h.load == nil {
		return jsonv.Value{}, fmt.Errorf("policy %s: no loader for the policies it depends on", id)
	}
	res, err := policyresolve.Resolve(ctx, doc, h.load, policyresolve.Options{NamespaceRoots: h.roots})
	if err != nil {
		if perr := protocol.AsError(err); perr != nil {
			return jsonv.Value{}, perr
		}
		return jsonv.Value{}, fmt.Errorf("effective policy %s: %w", id, err)
	}
	return res.Policy, nil
}

// loader loads stored policies from the policies service as the service
// itself (an internal retrieve, unfiltered): what an effective policy is
// computed from.
func loader(cmd *command.Client) policyresolve.Loader {
	return func(ctx context.Context, id string) (jsonv.Value, bool, error) {
		if protocol.ValidatePolicyID(id) != nil {
			return jsonv.Value{}, false, nil // no policy can have it
		}
		ns, name := protocol.SplitID(id)
		env := protocol.Envelope{
			Topic:   protocol.Topic{Namespace: ns, EntityName: name, Group: protocol.GroupPolicies, Criterion: protocol.CriterionCommands, Action: protocol.ActionRetrieve}.String(),
			Headers: protocol.Headers{},
			Path:    "/",
		}
		reply, err := cmd.Request(ctx, command.Request{Envelope: env, EntityID: id, Group: protocol.GroupPolicies, Kind: streams.KindInternal})
		if err != nil {
			return jsonv.Value{}, false, fmt.Errorf("retrieve policy %s: %w", id, err)
		}
		if perr, ok := reply.AsError(); ok {
			if perr.Status == 404 {
				return jsonv.Value{}, false, nil
			}
			return jsonv.Value{}, false, fmt.Errorf("retrieve policy %s: %w", id, perr)
		}
		v, err := jsonv.Parse(reply.Value)
		return v, err == nil, err
	}
}
