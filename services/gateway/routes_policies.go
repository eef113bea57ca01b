package gateway

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
)

// policyResource resolves the segments after /api/2/policies the way
// Ditto's PoliciesRoute, PolicyEntriesRoute and PolicyImportsRoute match
// them. An invalid policy id is Ditto's policies:id.invalid whatever follows
// it. Policy actions (token integration) need a JWT: see servePolicyAction.
//
// Subject ids and resource keys may contain slashes ("thing:/attributes");
// they take the rest of the path, so /resources/thing:/attributes/x
// addresses the key "thing:/attributes/x".
func policyResource(segs []string) (resource, error) {
	if atEnd(segs) {
		return resource{group: protocol.GroupPolicies, kind: resPolicies, allowed: methodPost}, nil
	}
	id := segs[0]
	if id == "" {
		return resource{}, errNotFound
	}
	if err := protocol.ValidatePolicyID(id); err != nil {
		return resource{}, err
	}
	res := resource{group: protocol.GroupPolicies, id: id}
	rest := segs[1:]
	switch {
	case atEnd(rest):
		res.kind, res.path, res.allowed, res.fields = resPolicyRoot, "/", methodsNoPatch, true
		return res, nil
	case rest[0] == "entries":
		return policyEntryResource(res, rest[1:])
	case rest[0] == "imports":
		return policyImportResource(res, rest[1:])
	case rest[0] == "actions":
		return resource{}, policyAction(id, "", rest[1:])
	}
	return resource{}, errNotFound
}

// policyAction resolves a policy action (/policies/{id}/actions/<action>
// and /entries/{label}/actions/<action>; label "" for the first): Ditto's
// activateTokenIntegration and deactivateTokenIntegration add or remove
// subjects derived from the caller's JSON Web Token. The action is
// returned as a *policyActionRequest error for servePolicyAction, which
// needs the caller.
func policyAction(id, label string, segs []string) error {
	if len(segs) == 0 || !atEnd(segs[1:]) {
		return errNotFound
	}
	switch segs[0] {
	case actionActivateTokenIntegration, actionDeactivateTokenIntegration:
		return &policyActionRequest{id: id, label: label, name: segs[0]}
	}
	return errNotFound
}

// The policy actions Ditto defines.
const (
	actionActivateTokenIntegration   = "activateTokenIntegration"
	actionDeactivateTokenIntegration = "deactivateTokenIntegration"
)

// policyActionRequest is a policy action a route resolved to.
type policyActionRequest struct {
	id, label, name string
}

func (a *policyActionRequest) Error() string { return "policy action " + a.name }

// errActionFailed is Ditto's PolicyActionFailedException.
func errActionFailed(action string, status int, description string) *protocol.Error {
	return protocol.NewError(status, "policies:action.failed", "Failed to execute action '"+action+"'.", description)
}

// maxActionBody bounds the body of a policy action (an announcement).
const maxActionBody = 64 << 10

// servePolicyAction answers a policy action as Ditto's PoliciesRoute and
// PolicyEntriesRoute do: the caller must have authenticated with a JWT
// (else 400, whatever the method), the method must be POST; the subject
// ids are OAUTH_TOKEN_INTEGRATION_SUBJECT with the token's claims
// ({{ policy-entry:label }} is left to the policies service, per entry),
// activation gives them the token's expiry and the body's announcement.
// The command is a modify at the action's path, which only this route
// builds: the WebSocket refuses such paths, so a subject id never comes
// from anything but a verified token.
func (g *Gateway) servePolicyAction(ar *apiRequest, act *policyActionRequest) {
	tok := ar.caller.jwt
	if tok == nil {
		g.fail(ar, errActionFailed(act.name, http.StatusBadRequest, "Policy action is only possible with JWT authentication."))
		return
	}
	if ar.r.Method != http.MethodPost {
		g.fail(ar, protocol.ErrGatewayMethodNotAllowed(ar.r.Method))
		return
	}
	tmpl, err := parseTemplate(g.cfg.OAuthTokenIntegrationSubject)
	if err != nil {
		g.fail(ar, err) // Validate refused it already
		return
	}
	ids, unresolved := tmpl.resolve("jwt", tok.claims)
	if unresolved != "" {
		g.fail(ar, errActionFailed(act.name, http.StatusBadRequest,
			"Mandatory placeholders could not be resolved, in detail: The placeholder '"+unresolved+"' could not be resolved."))
		return
	}
	value := map[string]any{"subjectIds": ids}
	if act.name == actionActivateTokenIntegration {
		if tok.expiry.IsZero() {
			g.fail(ar, errActionFailed(act.name, http.StatusBadRequest, "The JWT has no expiration time (exp) to give the activated subjects."))
			return
		}
		value["expiry"] = protocol.FormatInstant(tok.expiry)
		body, err := io.ReadAll(io.LimitReader(ar.r.Body, maxActionBody+1))
		if err != nil || len(body) > maxActionBody {
			g.fail(ar, protocol.ErrJSONInvalid("The request body could not be read as a JSON object."))
			return
		}
		if len(bytes.TrimSpace(body)) > 0 {
			var obj map[string]json.RawMessage
			if err := json.Unmarshal(body, &obj); err != nil {
				g.fail(ar, protocol.ErrJSONInvalid("The request body is not a JSON object."))
				return
			}
			if a, ok := obj["announcement"]; ok {
				value["announcement"] = a
			}
		}
	}
	raw, err := json.Marshal(value)
	if err != nil {
		g.fail(ar, err)
		return
	}
	path := "/actions/" + act.name
	if act.label != "" {
		path = "/entries/" + act.label + path
	}
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(act.id, protocol.GroupPolicies, "", protocol.CriterionCommands, protocol.ActionModify).String(),
		Headers: ar.headers,
		Path:    path,
		Value:   raw,
	}
	g.send(ar, command.Request{Group: protocol.GroupPolicies, EntityID: act.id, Auth: ar.caller.auth, Envelope: env}, "")
}

// isPolicyActionPath reports whether a policy command's path addresses a
// policy action, which no client may send as a protocol message (Ditto's
// protocol has none): see servePolicyAction.
func isPolicyActionPath(path string) bool {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	return len(segs) >= 1 && segs[0] == "actions" ||
		len(segs) >= 3 && segs[0] == "entries" && segs[2] == "actions"
}

// policyEntryResource resolves the segments after /policies/{id}/entries.
func policyEntryResource(res resource, segs []string) (resource, error) {
	if atEnd(segs) {
		res.path, res.allowed = "/entries", methodsGetPut
		return res, nil
	}
	label := segs[0]
	if label == "" {
		return resource{}, errNotFound
	}
	base := "/entries/" + label
	rest := segs[1:]
	if atEnd(rest) {
		res.path, res.allowed = base, methodsNoPatch
		return res, nil
	}
	sub, tail := rest[0], rest[1:]
	switch sub {
	case "subjects", "resources":
		if atEnd(tail) {
			res.path, res.allowed = base+"/"+sub, methodsGetPut
		} else {
			res.path, res.allowed = base+"/"+sub+"/"+strings.Join(tail, "/"), methodsNoPatch
		}
	case "allowedAdditions", "references":
		if !atEnd(tail) {
			return resource{}, errNotFound
		}
		res.path, res.allowed = base+"/"+sub, methodsNoPatch
	case "namespaces", "importable":
		if !atEnd(tail) {
			return resource{}, errNotFound
		}
		res.path, res.allowed = base+"/"+sub, methodsGetPut
	case "actions":
		return resource{}, policyAction(res.id, label, tail)
	default:
		return resource{}, errNotFound
	}
	return res, nil
}

// policyImportResource resolves the segments after /policies/{id}/imports.
func policyImportResource(res resource, segs []string) (resource, error) {
	if atEnd(segs) {
		res.path, res.allowed = "/imports", methodsNoPatch
		return res, nil
	}
	imported := segs[0]
	if imported == "" {
		return resource{}, errNotFound
	}
	base := "/imports/" + imported
	rest := segs[1:]
	switch {
	case atEnd(rest):
		res.path, res.allowed = base, methodsNoPatch
	case (rest[0] == "entries" || rest[0] == "transitiveImports") && atEnd(rest[1:]):
		res.path, res.allowed = base+"/"+rest[0], methodsGetPut
	default:
		return resource{}, errNotFound
	}
	return res, nil
}
