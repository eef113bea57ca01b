package gateway

import (
	"strings"

	"github.com/dittonats/dittonats/protocol"
)

// policyResource resolves the segments after /api/2/policies the way
// Ditto's PoliciesRoute, PolicyEntriesRoute and PolicyImportsRoute match
// them. An invalid policy id is Ditto's policies:id.invalid whatever follows
// it. Policy actions (token integration, which needs a JWT) answer 404.
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
	}
	return resource{}, errNotFound
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
