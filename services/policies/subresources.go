package policies

import (
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/internal/etag"
)

// The sub-resources of imports and of entries' import fields, as Ditto's
// PolicyImportsRoute and PolicyEntriesRoute serve them:
//
//	/imports                                  GET PUT DELETE
//	/imports/{id}                             GET PUT DELETE
//	/imports/{id}/entries|transitiveImports   GET PUT
//	/entries/{label}/references               GET PUT DELETE
//	/entries/{label}/allowedAdditions         GET PUT DELETE
//	/entries/{label}/namespaces|importable    GET PUT
//
// A write is validated as the policy it leaves, by the normalizer of
// whole policies, so the rules are the same whichever path writes them.

// parseImportRoute reads the path after /imports.
func parseImportRoute(path, rest string) (route, error) {
	if rest == "" {
		return route{kind: routeImports, doc: jsonv.Pointer{fieldImports}, auth: jsonv.Pointer{fieldImports}}, nil
	}
	id, field, hasField := strings.Cut(rest, "/")
	if err := protocol.ValidatePolicyID(id); err != nil {
		return route{}, err
	}
	r := route{kind: routeImport, key: id, doc: jsonv.Pointer{fieldImports, id}, auth: jsonv.Pointer{fieldImports, id}}
	if !hasField || field == "" {
		return r, nil
	}
	if field != fieldImportEntries && field != fieldTransitive {
		return route{}, errUnknownPath(path)
	}
	r.kind, r.field = routeImportField, field
	r.doc, r.auth = r.doc.Append(field), r.auth.Append(field)
	return r, nil
}

// isSubresource reports whether r is one of this file's routes.
func (r route) isSubresource() bool {
	return r.kind == routeEntryField || r.kind == routeImports || r.kind == routeImport || r.kind == routeImportField
}

// subDefault is what a retrieve of r answers when the policy doc has no
// value there although the entry or import exists (Ditto's strategies
// answer the empty set or the default); false when it answers not found.
func (r route) subDefault(doc jsonv.Value) (jsonv.Value, bool) {
	switch r.kind {
	case routeImports:
		return jsonv.Object(), true
	case routeImportField:
		if _, ok := doc.At(jsonv.Pointer{fieldImports, r.key}); ok {
			return jsonv.Array(), true
		}
	case routeEntryField:
		if _, ok := doc.At(jsonv.Pointer{fieldEntries, r.label}); !ok {
			return jsonv.Value{}, false
		}
		switch r.field {
		case fieldImportable:
			return jsonv.String("implicit"), true
		case fieldReferences, fieldAllowedAdditions:
			return jsonv.Array(), true
		}
	}
	return jsonv.Value{}, false
}

// errImportNotFound is Ditto's PolicyImportNotAccessibleException.
func errImportNotFound(policyID, imported string) *protocol.Error {
	return protocol.NewError(http.StatusNotFound, "policies:import.notfound",
		fmt.Sprintf("The Policy import '%s' of Policy '%s' could not be found or requester had insufficient permissions to access it.", imported, policyID),
		"Check if the ID of the Policy and the imported Policy was correct and you have sufficient permissions.")
}

// errImportsNotFound is Ditto's PolicyImportsNotAccessibleException.
func errImportsNotFound(policyID string) *protocol.Error {
	return protocol.NewError(http.StatusNotFound, "policies:imports.notfound",
		fmt.Sprintf("The imports of the Policy with ID '%s' could not be found or requester had insufficient permissions to access it.", policyID),
		"Check if the ID of the Policy was correct and you have sufficient permissions.")
}

// errImportNotModifiable and errImportsNotModifiable are Ditto's
// PolicyImport(s)NotModifiableException.
func errImportNotModifiable(policyID, imported string) *protocol.Error {
	return protocol.NewError(http.StatusForbidden, "policies:import.notmodifiable",
		fmt.Sprintf("The Import of the Policy with ID '%s' in Policy with ID '%s' could not be modified as the requester had insufficient permissions.", imported, policyID),
		"Check if the ID of your requested Policy and imported Policy was correct and you have sufficient permissions.")
}

func errImportsNotModifiable(policyID string) *protocol.Error {
	return protocol.NewError(http.StatusForbidden, "policies:imports.notmodifiable",
		fmt.Sprintf("The Imports of the Policy with ID '%s' could not be modified as the requester had insufficient permissions.", policyID),
		"Check if the ID of your requested Policy was correct and you have sufficient permissions.")
}

// errImportReferenced is Ditto's PolicyImportReferenceConflictException;
// imported "" is all imports.
func errImportReferenced(policyID, imported string) *protocol.Error {
	msg := fmt.Sprintf("The import '%s' of Policy '%s' cannot be removed because entry references still point to it.", imported, policyID)
	if imported == "" {
		msg = fmt.Sprintf("The imports of Policy '%s' cannot be removed because entry references still point to them.", policyID)
	}
	return protocol.NewError(http.StatusConflict, "policies:import.referenceconflict", msg,
		"Remove the entry references first before deleting the import.")
}

// importReferenced reports whether an entry of policy references an
// entry of imported ("" for any import).
func importReferenced(policy jsonv.Value, imported string) bool {
	entries, _ := policy.Get(fieldEntries)
	for _, m := range entries.Members() {
		for _, r := range referencesOf(m.Value) {
			if r.imported != "" && (imported == "" || r.imported == imported) {
				return true
			}
		}
	}
	return false
}

// checkNarrowing is Ditto's checkLabelNarrowingDoesNotOrphan: an import
// kept by a write must not lose, from its listed entries, a label an
// entry references through it.
func checkNarrowing(policyID string, before, after jsonv.Value) error {
	old, _ := before.Get(fieldImports)
	now, _ := after.Get(fieldImports)
	labels := func(imp jsonv.Value) []string {
		listed, _ := imp.Get(fieldImportEntries)
		var out []string
		for _, l := range listed.Elements() {
			s, _ := l.Str()
			out = append(out, s)
		}
		return out
	}
	entries, _ := before.Get(fieldEntries)
	for _, m := range old.Members() {
		imp, kept := now.Get(m.Key)
		if !kept {
			continue // a removed import: checkReferences answers that
		}
		remaining := labels(imp)
		for _, label := range labels(m.Value) {
			if slices.Contains(remaining, label) {
				continue
			}
			for _, e := range entries.Members() {
				for _, r := range referencesOf(e.Value) {
					if r.imported == m.Key && r.label == label {
						err := errImportReferenced(policyID, m.Key)
						err.Description = fmt.Sprintf("Removing label '%s' from this import's filter would orphan the reference from entry '%s'.", label, e.Key)
						return err
					}
				}
			}
		}
	}
	return nil
}

// modifySub handles a Modify of one of this file's routes.
func (c *call) modifySub() (entity.Outcome, error) {
	id := c.cmd.EntityID
	raw := c.cmd.Envelope.Value
	if raw == nil {
		return entity.Outcome{}, errValueMissing()
	}
	v, err := jsonv.Parse(raw)
	if err != nil {
		return entity.Outcome{}, err
	}
	doc, existed, err := c.writable(false)
	if err != nil {
		return entity.Outcome{}, err
	}
	// The policy as it would be, validated and canonical as a whole.
	var draft jsonv.Value
	switch c.r.kind {
	case routeEntryField:
		entry, ok := doc.At(jsonv.Pointer{fieldEntries, c.r.label})
		if !ok {
			return entity.Outcome{}, protocol.ErrPolicyEntryNotAccessible(id, c.r.label)
		}
		draft = doc.Set(jsonv.Pointer{fieldEntries, c.r.label}, entry.Set(jsonv.Pointer{c.r.field}, v))
	case routeImportField:
		imp, ok := doc.At(jsonv.Pointer{fieldImports, c.r.key})
		if !ok {
			return entity.Outcome{}, errImportNotFound(id, c.r.key)
		}
		if imp.Kind() != jsonv.KindObject {
			imp = jsonv.Object()
		}
		draft = doc.Set(jsonv.Pointer{fieldImports, c.r.key}, imp.Set(jsonv.Pointer{c.r.field}, v))
	default:
		draft = withImports(doc).Set(c.r.doc, v)
	}
	next, err := c.norm.policy(draft, id)
	if err != nil {
		return entity.Outcome{}, err
	}
	if err := c.checkDocument(next); err != nil {
		return entity.Outcome{}, err
	}
	if c.r.kind != routeEntryField {
		if err := checkNarrowing(id, doc, next); err != nil {
			return entity.Outcome{}, err
		}
	}
	if err := checkReferences(id, next); err != nil {
		return entity.Outcome{}, err
	}
	// The references are checked as the policy is, and so is READ on
	// what is imported.
	importsChanged := c.r.kind != routeEntryField
	var refEntries []string
	if c.r.kind == routeEntryField && c.r.field == fieldReferences {
		refEntries = []string{c.r.label}
	}
	if err := c.checkImportAccess(c.ctx, next, importsChanged, refEntries); err != nil {
		return entity.Outcome{}, err
	}
	if err := c.checkLockout(next); err != nil {
		return entity.Outcome{}, err
	}
	val, now := next.At(c.r.doc)
	action := entity.ActionModified
	switch {
	case !now:
		action = entity.ActionDeleted // e.g. references set to []
	case !existed:
		action = entity.ActionCreated
	}
	headers, err := c.eventHeaders(next)
	if err != nil {
		return entity.Outcome{}, err
	}
	resp := c.response(204, jsonv.Null(), nil)
	if action == entity.ActionCreated && (c.r.kind == routeImport || c.r.kind == routeEntryField) {
		resp = c.response(201, val, nil)
	}
	tag := ""
	if now {
		tag = etag.Value(val)
	}
	change := changeAt(action, c.r.doc, next)
	if c.r.kind == routeImports {
		// The whole imports replaced (also by {}): one modification.
		change = changeAt(entity.ActionModified, c.r.doc, next)
	}
	return entity.Outcome{
		Event:    &entity.Event{Change: change, Headers: headers},
		Response: resp,
		After:    tagHeaders(tag),
	}, nil
}

// deleteSub handles a Delete of one of this file's routes.
func (c *call) deleteSub() (entity.Outcome, error) {
	id := c.cmd.EntityID
	if c.r.kind == routeImportField || c.r.kind == routeEntryField && (c.r.field == fieldNamespaces || c.r.field == fieldImportable) {
		return entity.Outcome{}, errUnsupported(c.topic, c.path) // Ditto has no such command
	}
	doc, existed, err := c.writable(true)
	if err != nil {
		return entity.Outcome{}, err
	}
	var next jsonv.Value
	switch c.r.kind {
	case routeImports:
		if importReferenced(doc, "") {
			return entity.Outcome{}, errImportReferenced(id, "")
		}
		next = withImports(doc).Set(c.r.doc, jsonv.Object())
	case routeImport:
		if !existed {
			return entity.Outcome{}, errImportNotFound(id, c.r.key)
		}
		if importReferenced(doc, c.r.key) {
			return entity.Outcome{}, errImportReferenced(id, c.r.key)
		}
		next, _ = doc.Delete(c.r.doc)
	case routeEntryField:
		if _, ok := doc.At(jsonv.Pointer{fieldEntries, c.r.label}); !ok {
			return entity.Outcome{}, protocol.ErrPolicyEntryNotAccessible(id, c.r.label)
		}
		next, _ = doc.Delete(c.r.doc)
	}
	if err := c.checkLockout(next); err != nil {
		return entity.Outcome{}, err
	}
	headers, err := c.eventHeaders(next)
	if err != nil {
		return entity.Outcome{}, err
	}
	change := changeAt(entity.ActionDeleted, c.r.doc, next)
	if c.r.kind == routeImports {
		change = changeAt(entity.ActionModified, c.r.doc, next)
	}
	return entity.Outcome{
		Event:    &entity.Event{Change: change, Headers: headers},
		Response: c.response(204, jsonv.Null(), nil),
		After:    revisionHeader,
	}, nil
}
