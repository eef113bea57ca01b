package gateway

import (
	"context"
	"fmt"
	"net/http"
	"sync"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// Ditto's permission check (basic-auth-checkpermissions): a caller asks
// which permissions it has on resources of things and policies, without
// changing anything, with POST /api/2/checkPermissions or the Ditto
// Protocol's _/_/policies/commands/checkPermissions. The body names checks:
//
//	{"canRead":{"resource":"thing:/features/lamp","entityId":"org.acme:lamp","hasPermissions":["READ"]}, ...}
//
// and the answer maps each name to true or false, in the request's order.
// The checks of one entity go to its service in one command (Ditto groups
// them by policy): thing: and message: resources to the things service,
// which evaluates them with the thing's policy, policy: resources to the
// policies service. An entity that does not exist answers false, as Ditto's
// CheckPermissionsActor does for an entity it cannot resolve.

// permissionCheck is one named check of a request.
type permissionCheck struct {
	name     string
	typ      string // resource type: thing, message, policy
	entityID string
	check    jsonv.Value // {"resource","hasPermissions"} as sent to the service
}

// checkResourceTypes are the resource types a check may name (Ditto's
// CheckPermissionsActor.SUPPORTED_RESOURCE_TYPES, in its message's order).
var checkResourceTypes = []string{enforcer.TypePolicy, enforcer.TypeThing, enforcer.TypeMessage}

// parsePermissionChecks reads the checks of a request body as Ditto's
// CheckPermissions.fromJson does: the object itself, or its
// "permissionChecks" member when that is an object; members that are not
// objects are skipped; each check needs resource, entityId and
// hasPermissions, a supported resource type and a valid entity id.
func parsePermissionChecks(v jsonv.Value) ([]permissionCheck, *protocol.Error) {
	if v.Kind() != jsonv.KindObject {
		return nil, protocol.ErrJSONInvalid("The permission checks must be a JSON object.")
	}
	if inner, ok := v.Get("permissionChecks"); ok && inner.Kind() == jsonv.KindObject {
		v = inner
	}
	var out []permissionCheck
	seen := map[string]bool{}
	for _, m := range v.Members() {
		if m.Value.Kind() != jsonv.KindObject || seen[m.Key] {
			continue // Ditto's toMap keeps the first of a repeated name
		}
		seen[m.Key] = true
		c, perr := parsePermissionCheck(m.Key, m.Value)
		if perr != nil {
			return nil, perr
		}
		out = append(out, c)
	}
	return out, nil
}

func parsePermissionCheck(name string, v jsonv.Value) (permissionCheck, *protocol.Error) {
	str := func(field string) (string, *protocol.Error) {
		f, ok := v.Get(field)
		if !ok {
			return "", protocol.ErrJSONFieldMissing("/" + field)
		}
		s, ok := f.Str()
		if !ok {
			return "", protocol.ErrJSONNotOfType(f.String(), "/"+field, "String")
		}
		return s, nil
	}
	resource, perr := str("resource")
	if perr != nil {
		return permissionCheck{}, perr
	}
	entityID, perr := str("entityId")
	if perr != nil {
		return permissionCheck{}, perr
	}
	perms, ok := v.Get("hasPermissions")
	if !ok {
		return permissionCheck{}, protocol.ErrJSONFieldMissing("/hasPermissions")
	}
	if perms.Kind() != jsonv.KindArray {
		return permissionCheck{}, protocol.ErrJSONNotOfType(perms.String(), "/hasPermissions", "JsonArray")
	}
	if perms.Len() == 0 {
		return permissionCheck{}, protocol.ErrJSONInvalid(fmt.Sprintf("The check '%s' names no permission in 'hasPermissions'.", name))
	}
	for _, p := range perms.Elements() {
		if _, ok := p.Str(); !ok {
			return permissionCheck{}, protocol.ErrJSONInvalid(fmt.Sprintf("The permissions of check '%s' must be strings, not %s.", name, p.String()))
		}
	}
	typ, _, ok := enforcer.ParseResourceKey(resource)
	if !ok {
		return permissionCheck{}, protocol.ErrJSONInvalid(fmt.Sprintf("The resource '%s' of check '%s' is not of the form '<type>:<path>'.", resource, name))
	}
	supported := false
	for _, t := range checkResourceTypes {
		supported = supported || t == typ
	}
	if !supported {
		return permissionCheck{}, protocol.ErrJSONInvalid(fmt.Sprintf(
			"Unsupported resource type '%s' in check '%s'. Supported resource types are: [policy, thing, message]", typ, name))
	}
	var err error
	if typ == enforcer.TypePolicy {
		err = protocol.ValidatePolicyID(entityID)
	} else {
		err = protocol.ValidateThingID(entityID)
	}
	if err != nil {
		return permissionCheck{}, protocol.AsError(err)
	}
	check := jsonv.Object(jsonv.Member{Key: "resource", Value: jsonv.String(resource)},
		jsonv.Member{Key: "hasPermissions", Value: perms})
	return permissionCheck{name: name, typ: typ, entityID: entityID, check: check}, nil
}

// checkPermissions evaluates checks for caller: one command per entity,
// all at once, each answered by the entity's service; the result is the
// JSON object of every check's name to its outcome, in the checks' order.
func (g *Gateway) checkPermissions(ctx context.Context, caller *principal, h protocol.Headers, timeout timing, checks []permissionCheck) ([]byte, error) {
	type target struct{ group, id string }
	var order []target
	byTarget := map[target][]permissionCheck{}
	for _, c := range checks {
		t := target{protocol.GroupThings, c.entityID}
		if c.typ == enforcer.TypePolicy {
			t.group = protocol.GroupPolicies
		}
		if _, ok := byTarget[t]; !ok {
			order = append(order, t)
		}
		byTarget[t] = append(byTarget[t], c)
	}
	results := map[string]bool{}
	var (
		mu       sync.Mutex
		wg       sync.WaitGroup
		firstErr error
	)
	for _, t := range order {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := g.checkEntity(ctx, caller, h, timeout, t.group, t.id, byTarget[t])
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = err
				}
				return
			}
			for name, ok := range got {
				results[name] = results[name] || ok
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	members := make([]jsonv.Member, 0, len(checks))
	for _, c := range checks {
		members = append(members, jsonv.Member{Key: c.name, Value: jsonv.Bool(results[c.name])})
	}
	return jsonv.Object(members...).AppendJSON(nil), nil
}

// checkEntity sends the checks of one entity to its service and returns
// their outcomes. The entity's not-found (or its policy's) is every check
// false; a service that cannot answer is the request's error.
func (g *Gateway) checkEntity(ctx context.Context, caller *principal, h protocol.Headers, timeout timing, group, id string, checks []permissionCheck) (map[string]bool, error) {
	members := make([]jsonv.Member, 0, len(checks))
	for _, c := range checks {
		members = append(members, jsonv.Member{Key: c.name, Value: c.check})
	}
	channel := protocol.ChannelTwin
	if group == protocol.GroupPolicies {
		channel = ""
	}
	headers := protocol.Headers{}
	if cid, ok := h[protocol.HeaderCorrelationID]; ok {
		headers[protocol.HeaderCorrelationID] = cid
	}
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(id, group, channel, protocol.CriterionCommands, protocol.ActionCheckPermissions).String(),
		Headers: headers,
		Path:    "/",
		Value:   jsonv.Object(members...).AppendJSON(nil),
	}
	reply, err := g.request(ctx, command.Request{Group: group, EntityID: id, Auth: caller.auth, Envelope: env, Timeout: timeout.timeout})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	if perr, isErr := reply.AsError(); isErr {
		if perr.Status == http.StatusNotFound {
			return out, nil
		}
		return nil, perr
	}
	v, err := jsonv.Parse(reply.Value)
	if err != nil {
		return nil, fmt.Errorf("permission check of %s: %w", id, err)
	}
	for _, m := range v.Members() {
		b, _ := m.Value.Bool()
		out[m.Key] = b
	}
	return out, nil
}

// serveCheckPermissions answers POST /api/2/checkPermissions.
func (g *Gateway) serveCheckPermissions(ar *apiRequest, rest []string) {
	if !atEnd(rest) {
		writeNotFound(ar.w)
		return
	}
	if methodOf(ar.r.Method) != methodPost {
		writeMethodNotAllowed(ar.w, ar.r.Method, methodPost)
		return
	}
	_, v, err := g.readJSON(ar, protocol.GroupPolicies, methodPost)
	if err != nil {
		g.fail(ar, err)
		return
	}
	checks, perr := parsePermissionChecks(v)
	if perr != nil {
		g.fail(ar, perr)
		return
	}
	t, perr := g.timing(ar.headers)
	if perr != nil {
		g.fail(ar, perr)
		return
	}
	out, err := g.checkPermissions(ar.r.Context(), ar.caller, ar.headers, t, checks)
	if err != nil {
		g.fail(ar, err)
		return
	}
	writeJSON(ar.w, ar.headers, http.StatusOK, out)
}

// checkPermissionsCommand answers _/_/policies/commands/checkPermissions
// on the WebSocket: its value holds the checks, the response (same topic,
// status 200) their outcomes.
func (s *wsSession) checkPermissionsCommand(ctx context.Context, topic protocol.Topic, env protocol.Envelope) {
	if _, ok := env.Headers[protocol.HeaderCorrelationID]; !ok {
		env.Headers[protocol.HeaderCorrelationID] = newCorrelationID()
	}
	fail := func(err error) {
		perr := protocol.AsError(err)
		if perr == nil {
			perr = protocol.ErrInternal()
		}
		s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, perr))
	}
	if err := env.Headers.Validate(); err != nil {
		fail(err)
		return
	}
	t, perr := s.g.timing(env.Headers)
	if perr != nil {
		fail(perr)
		return
	}
	var v jsonv.Value
	if len(env.Value) > 0 {
		var err error
		if v, err = jsonv.Parse(env.Value); err != nil {
			fail(err)
			return
		}
	}
	checks, perr := parsePermissionChecks(v)
	if perr != nil {
		fail(perr)
		return
	}
	go func() {
		out, err := s.g.checkPermissions(ctx, s.caller, env.Headers, t, checks)
		if err != nil {
			fail(err)
			return
		}
		s.reply(protocol.Envelope{Topic: topic.String(), Headers: correlationOnly(env.Headers), Path: "/", Status: http.StatusOK, Value: out})
	}()
}
