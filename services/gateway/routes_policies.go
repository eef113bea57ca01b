package gateway

import (
	"net/http"
	"strings"

	"github.com/dittonats/dittonats/protocol"
)

// policyResource resolves the segments after /api/2/policies the way
// Ditto's PoliciesRoute, PolicyEntriesRoute and PolicyImportsRoute match
// them. An invalid policy id is Ditto's policies:id.invalid whatever follows
// it. Policy actions (token integration) need a JWT: see policyAction.
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
		return resource{}, policyAction(rest[1:])
	}
	return resource{}, errNotFound
}

// policyAction answers a policy action (/policies/{id}/actions/<action>
// and /entries/{label}/actions/<action>): Ditto's activateTokenIntegration
// and deactivateTokenIntegration add or remove subjects derived from the
// caller's JSON Web Token, so its PoliciesRoute refuses them, whatever
// the method, for a caller authenticated otherwise, which every caller of
// this gateway is (basic and pre-authentication).
func policyAction(segs []string) error {
	if len(segs) == 0 || !atEnd(segs[1:]) {
		return errNotFound
	}
	switch segs[0] {
	case "activateTokenIntegration", "deactivateTokenIntegration":
		return protocol.NewError(http.StatusBadRequest, "policies:action.failed",
			"Failed to execute action '"+segs[0]+"'.", "Policy action is only possible with JWT authentication.")
	}
	return errNotFound
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
		return resource{}, policyAction(tail)
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
