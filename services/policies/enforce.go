package policies

import (
	"fmt"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// Who may do what to a policy, as Ditto's PolicyCommandEnforcement decides:
//
//   - a query needs READ on some part of the addressed resource (policy:<path>)
//     and answers only what READ holds for, always including policyId;
//   - a modification or deletion needs WRITE on all of the addressed resource;
//   - a creation needs the new policy to give the creator WRITE on all of
//     policy:/, unless the command sets allow-policy-lockout.
//
// A refused query is the resource's 404 (not accessible); a refused
// modification is the resource's 403 (not modifiable), whether or not the
// caller can read it: Ditto's policy enforcement does not downgrade it to
// 404 as its thing enforcement does.

// callerView compiles the policy for the caller. Entries restricted to
// namespaces other than the policy's own do not apply to the policy itself
// (Ditto 3.9's entry namespaces).
func callerView(policy jsonv.Value, policyID string, auth []string) (*enforcer.View, error) {
	ns, _ := protocol.SplitID(policyID)
	e, err := enforcer.Compile(policy)
	if err != nil {
		return nil, fmt.Errorf("compile policy %s: %w", policyID, err)
	}
	return e.For(ns, auth), nil
}

// mayCreate reports whether the callers with auth keep WRITE on all of
// policy:/ in the new policy.
func mayCreate(policy jsonv.Value, policyID string, auth []string) (bool, error) {
	v, err := callerView(policy, policyID, auth)
	if err != nil {
		return false, err
	}
	return v.HasUnrestricted(enforcer.TypePolicy, nil, enforcer.Write), nil
}

// readSubjects returns the ditto-read-subjects header of an event at path
// (a policy resource path) leaving the policy as policy: the subjects it
// lets read all of path or any part of the policy, each evaluated alone, as
// of now (expired subjects read nothing).
func readSubjects(policy jsonv.Value, policyID string, path jsonv.Pointer, now time.Time) (string, error) {
	ns, _ := protocol.SplitID(policyID)
	e, err := enforcer.Compile(policy)
	if err != nil {
		return "", fmt.Errorf("compile policy %s: %w", policyID, err)
	}
	return e.Readers(ns, now).ReadSubjectsHeader(enforcer.TypePolicy, path), nil
}

// notAccessible is the error of a refused (or missing) query on r: Ditto's
// PolicyCommandToAccessExceptionRegistry.
func notAccessible(policyID string, r route) *protocol.Error {
	switch r.kind {
	case routeImports:
		return errImportsNotFound(policyID)
	case routeImport, routeImportField:
		return errImportNotFound(policyID, r.key)
	case routeEntry, routeEntryField:
		return protocol.ErrPolicyEntryNotAccessible(policyID, r.label)
	case routeSubjects:
		return protocol.ErrPolicySubjectsNotAccessible(policyID, r.label)
	case routeSubject:
		return protocol.ErrPolicySubjectNotAccessible(policyID, r.label, r.key)
	case routeResources:
		return protocol.ErrPolicyResourcesNotAccessible(policyID, r.label)
	case routeResource:
		// Ditto's registry names the resource by the command's full
		// resource path here (its cast for RetrieveResource is broken and
		// answers 500; this answers what it evidently meant).
		return protocol.ErrPolicyResourceNotAccessible(policyID, r.label, r.resourcePath())
	}
	return protocol.ErrPolicyNotAccessible(policyID)
}

// notModifiable is the error of a refused modification or deletion on r:
// Ditto's PolicyCommandToModifyExceptionRegistry.
func notModifiable(policyID string, r route) *protocol.Error {
	switch r.kind {
	case routeImports:
		return errImportsNotModifiable(policyID)
	case routeImport, routeImportField:
		return errImportNotModifiable(policyID, r.key)
	case routeEntry, routeEntryField:
		return protocol.ErrPolicyEntryNotModifiable(policyID, r.label)
	case routeSubjects:
		return protocol.ErrPolicySubjectsNotModifiable(policyID, r.label)
	case routeSubject:
		return protocol.ErrPolicySubjectNotModifiable(policyID, r.label, r.key)
	case routeResources:
		return protocol.ErrPolicyResourcesNotModifiable(policyID, r.label)
	case routeResource:
		return protocol.ErrPolicyResourceNotModifiable(policyID, r.label, r.resourcePath())
	}
	return protocol.ErrPolicyNotModifiable(policyID)
}

// notFound is the error of a query, modification or deletion of a resource
// that does not exist although the policy does (Ditto's strategies): a
// missing entry is reported as such even when a subject or resource of it
// was addressed.
func notFound(policyID string, r route, doc jsonv.Value) *protocol.Error {
	switch r.kind {
	case routeImports, routeImport, routeImportField:
		return notAccessible(policyID, r)
	}
	if r.kind != routeEntries {
		if _, ok := doc.At(jsonv.Pointer{fieldEntries, r.label}); !ok {
			return protocol.ErrPolicyEntryNotAccessible(policyID, r.label)
		}
	}
	switch r.kind {
	case routeSubject:
		return protocol.ErrPolicySubjectNotAccessible(policyID, r.label, r.key)
	case routeResource:
		return protocol.ErrPolicyResourceNotAccessible(policyID, r.label, r.key)
	}
	return notAccessible(policyID, r)
}

// readableView returns what of val, the value at r, the caller may read;
// for the whole policy, policyId is always kept (Ditto's allowlist).
func readableView(v *enforcer.View, r route, val jsonv.Value) jsonv.Value {
	if v.ReadsAll(enforcer.TypePolicy) {
		return val
	}
	out, ok := v.View(enforcer.TypePolicy, r.auth, val, enforcer.Read)
	if !ok || out.Kind() != jsonv.KindObject {
		out = jsonv.Object()
	}
	if r.kind != routePolicy {
		return out
	}
	id, hasID := val.Get(fieldPolicyID)
	if _, shown := out.Get(fieldPolicyID); !hasID || shown {
		return out
	}
	return jsonv.Object(append([]jsonv.Member{{Key: fieldPolicyID, Value: id}}, out.Members()...)...)
}
