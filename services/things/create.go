package things

import (
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/creation"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
)

// create creates a thing (create command, or modify of a thing that does not
// exist) together with its policy, as Ditto does: a copy of another policy
// (_copyPolicyFrom), an inline policy (_policy), an existing policy
// (policyId), or a default policy granting the creator everything.
func (h *handler) create(ctx context.Context, c *call) (entity.Outcome, error) {
	id := c.cmd.EntityID
	val, err := c.value()
	if err != nil {
		return entity.Outcome{}, err
	}
	if val.Kind() != jsonv.KindObject {
		return entity.Outcome{}, fieldType("thing", "JsonObject", val)
	}
	inline, hasInline := val.Get("_policy")
	copyFrom, hasCopy := val.Get("_copyPolicyFrom")
	if hasInline && hasCopy {
		return entity.Outcome{}, protocol.ErrThingPoliciesConflicting(id)
	}
	thing, err := normalizeThing(val)
	if err != nil {
		return entity.Outcome{}, err
	}
	if tid, ok := thing.Get("thingId"); ok {
		if s, _ := tid.Str(); s != id {
			return entity.Outcome{}, protocol.ErrThingIDNotSettable()
		}
	}
	if !c.cmd.Sudo {
		// Ditto's creation restriction runs before enforcement, which
		// ditto-sudo commands skip.
		ns, _ := protocol.SplitID(id)
		q := creation.Request{ResourceType: creation.Thing, EntityID: id, Namespace: ns, Subjects: c.cmd.Auth}
		if d, ok := thing.Get("definition"); ok {
			if s, ok := d.Str(); ok {
				q.Definition = &s
			}
		}
		if perr := h.creation.Check(q); perr != nil {
			return entity.Outcome{}, perr
		}
	}
	pv, _ := thing.Get("policyId")
	policyID, _ := pv.Str()

	headers := protocol.Headers{}
	for _, k := range []string{protocol.HeaderCorrelationID, protocol.HeaderAllowPolicyLockout} {
		if v, ok := c.cmd.Envelope.Headers[k]; ok {
			headers[k] = v
		}
	}
	// The policy id is settled first, so the thing is complete (and its
	// size known) before any policy is created on its behalf.
	switch {
	case hasInline:
		if inline.Kind() != jsonv.KindObject {
			return entity.Outcome{}, fieldType("_policy", "JsonObject", inline)
		}
		if policyID == "" {
			policyID = id
			if ip, ok := inline.Get("policyId"); ok {
				if s, ok := ip.Str(); ok {
					policyID = s
				}
			}
		}
	case hasCopy, policyID == "":
		if policyID == "" {
			policyID = id
		}
	}
	if err := protocol.ValidatePolicyID(policyID); err != nil {
		return entity.Outcome{}, err
	}
	thing = thing.Set(jsonv.Pointer{"thingId"}, jsonv.String(id)).Set(jsonv.Pointer{"policyId"}, jsonv.String(policyID))
	if thing, err = normalizeThing(thing); err != nil {
		return entity.Outcome{}, err
	}
	if err := h.checkDocument(thing); err != nil {
		return entity.Outcome{}, err
	}
	// Metadata is settled before any policy is made for the thing, so that
	// a malformed header leaves nothing behind.
	meta, err := c.metadataForCreate(val, thing)
	if err != nil {
		return entity.Outcome{}, err
	}
	// The thing does not exist, so If-Match fails whatever it names (Ditto
	// checks it in CreateThingStrategy, which has no previous entity tag);
	// checked before any policy is made for the thing.
	if err := c.checkPreconditions("", false); err != nil {
		return entity.Outcome{}, err
	}

	var (
		enf     *enforcer.Enforcer
		created string // the policy made here, undone if the thing is not created
	)
	switch {
	case hasCopy:
		src, ok := copyFrom.Str()
		if !ok {
			return entity.Outcome{}, fieldType("_copyPolicyFrom", "string", copyFrom)
		}
		srcID, err := h.resolvePolicyRef(ctx, c, src)
		if err != nil {
			return entity.Outcome{}, err
		}
		pol, err := h.policies.retrieve(ctx, srcID, c.cmd.Auth, c.cmd.Sudo)
		if err != nil {
			return entity.Outcome{}, err
		}
		if enf, err = h.createPolicy(ctx, c, withPolicyID(pol, policyID), policyID, headers); err != nil {
			return entity.Outcome{}, err
		}
		created = policyID
	case hasInline:
		if enf, err = h.createPolicy(ctx, c, withPolicyID(inline, policyID), policyID, headers); err != nil {
			return entity.Outcome{}, err
		}
		created = policyID
	case hasMember(val, "policyId"):
		// An existing policy: the creator must be able to see it.
		if _, err := h.policies.retrieve(ctx, policyID, c.cmd.Auth, c.cmd.Sudo); err != nil {
			return entity.Outcome{}, err
		}
		if enf, err = h.cache.get(ctx, policyID); err != nil {
			if errors.Is(err, errPolicyGone) {
				return entity.Outcome{}, protocol.ErrPolicyNotAccessible(policyID)
			}
			return entity.Outcome{}, err
		}
	default:
		if len(c.cmd.Auth) == 0 {
			return entity.Outcome{}, protocol.ErrThingNotCreatableNoSubject(id)
		}
		if enf, err = h.createPolicy(ctx, c, defaultPolicy(policyID, c.cmd.Auth[0]), policyID, headers); err != nil {
			return entity.Outcome{}, err
		}
		created = policyID
	}
	ns, _ := protocol.SplitID(id)
	if !c.cmd.Sudo && !enf.For(ns, c.cmd.Auth).HasUnrestricted(enforcer.TypeThing, nil, enforcer.Write) {
		h.undoPolicy(ctx, created)
		return entity.Outcome{}, protocol.ErrThingNotModifiable(id)
	}
	// The event is governed by the policy just created or loaded.
	c.enf, c.pid = enf, policyID
	evHeaders, err := h.eventHeaders(ctx, c, thing)
	if err != nil {
		h.undoPolicy(ctx, created)
		return entity.Outcome{}, err
	}
	return entity.Outcome{
		Event:    &entity.Event{Change: entity.Change{Action: entity.ActionCreated, Path: nil, Value: thing, Metadata: meta}, Headers: evHeaders},
		Response: c.response(http.StatusCreated, thing.AppendJSON(nil), nil),
		After:    c.tagAfter(thing),
	}, nil
}

// createPolicy creates the thing's policy as the creating caller and
// returns its enforcer; Ditto reports a failure as "thing not creatable".
func (h *handler) createPolicy(ctx context.Context, c *call, policy jsonv.Value, policyID string, headers protocol.Headers) (*enforcer.Enforcer, error) {
	stored, err := h.policies.create(ctx, policy, policyID, headers, c.cmd.Auth)
	if err != nil {
		perr := protocol.AsError(err)
		switch {
		case perr == nil:
			return nil, err
		case perr.Code == protocol.CodePolicyConflict:
			return nil, protocol.ErrThingNotCreatablePolicyExists(c.cmd.EntityID, policyID)
		case perr.Status == http.StatusServiceUnavailable:
			return nil, perr
		default:
			return nil, protocol.ErrThingNotCreatablePolicyFailed(c.cmd.EntityID, policyID, perr)
		}
	}
	return enforcer.Compile(stored)
}

// undoPolicy deletes a policy created for a thing that was then not
// created (Ditto's handleFailedCreateThing).
func (h *handler) undoPolicy(ctx context.Context, policyID string) {
	if policyID == "" {
		return
	}
	if err := h.policies.delete(context.WithoutCancel(ctx), policyID); err != nil {
		h.log.Warn("delete policy of a thing not created", "policy_id", policyID, "err", err)
	}
}

// withPolicyID returns a policy JSON with its policyId set and computed
// fields removed.
func withPolicyID(pol jsonv.Value, policyID string) jsonv.Value {
	out := []jsonv.Member{{Key: "policyId", Value: jsonv.String(policyID)}}
	for _, m := range pol.Members() {
		if m.Key != "policyId" && !specialField(m.Key) {
			out = append(out, m)
		}
	}
	return jsonv.Object(out...)
}

// defaultPolicy is the policy Ditto creates for a thing created without
// one: entry DEFAULT grants the creator READ and WRITE on the thing, the
// policy and messages.
func defaultPolicy(policyID, subject string) jsonv.Value {
	grant := jsonv.Object(
		jsonv.Member{Key: "grant", Value: jsonv.Array(jsonv.String(enforcer.Read), jsonv.String(enforcer.Write))},
		jsonv.Member{Key: "revoke", Value: jsonv.Array()},
	)
	return jsonv.Object(
		jsonv.Member{Key: "policyId", Value: jsonv.String(policyID)},
		jsonv.Member{Key: "entries", Value: jsonv.Object(jsonv.Member{Key: "DEFAULT", Value: jsonv.Object(
			jsonv.Member{Key: "subjects", Value: jsonv.Object(jsonv.Member{Key: subject, Value: jsonv.Object(
				jsonv.Member{Key: "type", Value: jsonv.String("generated")},
			)})},
			jsonv.Member{Key: "resources", Value: jsonv.Object(
				jsonv.Member{Key: "thing:/", Value: grant},
				jsonv.Member{Key: "policy:/", Value: grant},
				jsonv.Member{Key: "message:/", Value: grant},
			)},
		)})},
	)
}

// policyRef matches Ditto's reference placeholder
// "{{ ref:things/<thingId>/policyId }}".
var policyRef = regexp.MustCompile(`^\{\{\s*ref:things/([^/\s]+)/policyId\s*\}\}$`)

// resolvePolicyRef returns the policy id _copyPolicyFrom names: a policy
// id, or the policy of another thing the caller may read.
func (h *handler) resolvePolicyRef(ctx context.Context, c *call, ref string) (string, error) {
	m := policyRef.FindStringSubmatch(strings.TrimSpace(ref))
	if m == nil {
		return ref, protocol.ValidatePolicyID(ref)
	}
	thingID := m[1]
	if err := protocol.ValidateThingID(thingID); err != nil {
		return "", err
	}
	if thingID == c.cmd.EntityID {
		// The thing being created has no policy yet (and asking it
		// would wait for this very command).
		return "", protocol.ErrThingNotAccessible(thingID)
	}
	return h.resolveThingPolicy(ctx, thingID, c.cmd.Auth)
}

func hasMember(v jsonv.Value, key string) bool {
	_, ok := v.Get(key)
	return ok
}
