package policies

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// Policy imports and entry references (Ditto 3.9's basic-policy "Policy
// imports", "Entry references"): how a policy declares them, the checks
// of a write that declares them, and what they forbid to delete. What they
// grant is computed by policyresolve, wherever a policy is enforced.

const (
	fieldImportEntries    = "entries"
	fieldTransitive       = "transitiveImports"
	fieldReferenceImport  = "import"
	fieldReferenceEntry   = "entry"
	importableNever       = "never"
	importableExplicit    = "explicit"
	codeImportsTooLarge   = "policies:imports.toolarge"
	codeReferenceConflict = "policies:entry.referenceconflict"
)

// imports validates a policy's imports and returns them in Ditto's form
// (ImmutablePolicyImport.toJson): an import of nothing but the implicit
// entries is {}, else its explicitly imported labels under "entries" and
// its transitiveImports when there are any.
func (n normalizer) imports(v jsonv.Value, id string) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, errWrongType(v.String(), "/"+fieldImports, "JsonObject")
	}
	out := make([]jsonv.Member, 0, v.Len())
	for _, m := range v.Members() {
		if m.Key == schemaVersionKey {
			continue
		}
		imp, err := n.policyImport(id, m.Key, m.Value)
		if err != nil {
			return jsonv.Value{}, err
		}
		out = append(out, jsonv.Member{Key: m.Key, Value: imp})
	}
	if n.maxImports > 0 && len(out) > n.maxImports {
		return jsonv.Value{}, protocol.NewError(http.StatusBadRequest, codeImportsTooLarge,
			fmt.Sprintf("The number of '%d' policy imports exceeds the allowed maximum number of '%d'.", len(out), n.maxImports),
			fmt.Sprintf("Please reduce the number of imports you're trying to add to %d.", n.maxImports))
	}
	return jsonv.Object(out...), nil
}

// policyImport validates the import of policy imported into id.
func (n normalizer) policyImport(id, imported string, v jsonv.Value) (jsonv.Value, error) {
	if err := protocol.ValidatePolicyID(imported); err != nil {
		return jsonv.Value{}, err
	}
	if imported == id {
		return jsonv.Value{}, protocol.ErrPolicyImportInvalid() // Ditto's PolicyImportsValidator
	}
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, protocol.ErrJSONInvalid(fmt.Sprintf(
			"The value of the policy import of the 'imported policy' with ID '%s' is missing or not an object.", imported))
	}
	if v.Len() == 0 {
		return jsonv.Object(), nil
	}
	// Labels: strings only (others are skipped, as Ditto's
	// ImmutableEffectedImports reads them), each once.
	var labels []jsonv.Value
	var seen []string
	if e, ok := v.Get(fieldImportEntries); ok {
		if e.Kind() != jsonv.KindArray {
			return jsonv.Value{}, errWrongType(e.String(), "/"+fieldImportEntries, "JsonArray")
		}
		for _, l := range e.Elements() {
			s, ok := l.Str()
			if !ok || slices.Contains(seen, s) {
				continue
			}
			if err := validateLabelChars(s); err != nil {
				return jsonv.Value{}, err
			}
			seen = append(seen, s)
			labels = append(labels, l)
		}
	}
	out := []jsonv.Member{{Key: fieldImportEntries, Value: jsonv.Array(labels...)}}
	if t, ok := v.Get(fieldTransitive); ok {
		if t.Kind() != jsonv.KindArray {
			return jsonv.Value{}, errWrongType(t.String(), "/"+fieldTransitive, "JsonArray")
		}
		var ids []jsonv.Value
		for _, e := range t.Elements() {
			s, ok := e.Str()
			if !ok {
				err := protocol.ErrPolicyImportInvalid()
				err.Message = "The 'transitiveImports' array contains a non-string element: " + clip(e.String())
				err.Description = "Every element in 'transitiveImports' must be a string representing a valid policy ID."
				return jsonv.Value{}, err
			}
			if err := protocol.ValidatePolicyID(s); err != nil {
				return jsonv.Value{}, err
			}
			if s == id {
				err := protocol.ErrPolicyImportInvalid()
				err.Message = "The policy import contains a transitive resolution of the policy itself."
				err.Description = "The 'transitiveImports' array must not contain the importing policy's own ID '" + id + "'."
				return jsonv.Value{}, err
			}
			ids = append(ids, e)
		}
		if len(ids) > 0 {
			out = append(out, jsonv.Member{Key: fieldTransitive, Value: jsonv.Array(ids...)})
		}
	}
	return jsonv.Object(out...), nil
}

// references validates an entry's references: objects with an "entry"
// label and, for an import reference, the "import"ed policy's id.
func references(v jsonv.Value) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindArray {
		return jsonv.Value{}, errWrongType(v.String(), "/"+fieldReferences, "JsonArray")
	}
	out := make([]jsonv.Value, 0, v.Len())
	for _, r := range v.Elements() {
		if r.Kind() != jsonv.KindObject {
			return jsonv.Value{}, protocol.ErrPolicyEntryInvalidMessage("The Policy Entry is invalid.",
				"Every element of 'references' must be an object with an 'entry' and, for an import reference, an 'import'.")
		}
		e, ok := r.Get(fieldReferenceEntry)
		label, isStr := e.Str()
		if !ok || !isStr {
			return jsonv.Value{}, protocol.ErrJSONFieldMissing("/" + fieldReferenceEntry)
		}
		if err := validateLabelChars(label); err != nil {
			return jsonv.Value{}, err
		}
		members := []jsonv.Member{}
		if imp, ok := r.Get(fieldReferenceImport); ok {
			id, isStr := imp.Str()
			if !isStr {
				return jsonv.Value{}, errWrongType(imp.String(), "/"+fieldReferenceImport, "String")
			}
			if err := protocol.ValidatePolicyID(id); err != nil {
				return jsonv.Value{}, err
			}
			members = append(members, jsonv.Member{Key: fieldReferenceImport, Value: imp})
		}
		members = append(members, jsonv.Member{Key: fieldReferenceEntry, Value: e})
		out = append(out, jsonv.Object(members...))
	}
	return jsonv.Array(out...), nil
}

// reference is one parsed entry reference.
type reference struct {
	imported string // "" for a local reference
	label    string
}

func referencesOf(entry jsonv.Value) []reference {
	refs, _ := entry.Get(fieldReferences)
	var out []reference
	for _, r := range refs.Elements() {
		imp, _ := r.Get(fieldReferenceImport)
		e, _ := r.Get(fieldReferenceEntry)
		id, _ := imp.Str()
		label, _ := e.Str()
		out = append(out, reference{imported: id, label: label})
	}
	return out
}

// errReferencesInvalid is Ditto's policyEntryReferenceInvalid.
func errReferencesInvalid(policyID, label, reason string) *protocol.Error {
	return protocol.ErrPolicyEntryInvalidMessage(
		fmt.Sprintf("The references of PolicyEntry '%s' on Policy '%s' are invalid.", label, policyID), reason)
}

// checkReferences is Ditto's validateReferencesIntegrity on the policy a
// write leaves: no reference twice, none to its own entry, local ones to
// existing entries that are not importable "never", import ones to
// policies the policy imports.
func checkReferences(policyID string, policy jsonv.Value) error {
	entries, _ := policy.Get(fieldEntries)
	imports, _ := policy.Get(fieldImports)
	for _, m := range entries.Members() {
		var seen []reference
		for _, r := range referencesOf(m.Value) {
			switch {
			case slices.Contains(seen, r):
				return errReferencesInvalid(policyID, m.Key, "Duplicate reference to entry '"+r.label+"'.")
			case r.imported == "" && r.label == m.Key:
				return errReferencesInvalid(policyID, m.Key, "Entry must not reference itself.")
			case r.imported == "":
				target, ok := entries.Get(r.label)
				if !ok {
					return errReferencesInvalid(policyID, m.Key, "Local reference targets entry '"+r.label+"' which does not exist in the policy.")
				}
				if imp, _ := target.Get(fieldImportable); imp.String() == `"`+importableNever+`"` {
					return errReferencesInvalid(policyID, m.Key, "Local reference targets entry '"+r.label+"' which is marked importable=never and cannot be referenced.")
				}
			default:
				if _, ok := imports.Get(r.imported); !ok {
					return errReferencesInvalid(policyID, m.Key, "Import reference targets policy '"+r.imported+"' which is not declared in imports.")
				}
			}
			seen = append(seen, r)
		}
	}
	return nil
}

// localReferrer returns an entry of policy that references label locally.
func localReferrer(policy jsonv.Value, label string) (string, bool) {
	entries, _ := policy.Get(fieldEntries)
	for _, m := range entries.Members() {
		for _, r := range referencesOf(m.Value) {
			if r.imported == "" && r.label == label {
				return m.Key, true
			}
		}
	}
	return "", false
}

// errEntryReferenced is Ditto's PolicyEntryReferenceConflictException.
func errEntryReferenced(policyID, label, referrer string) *protocol.Error {
	return protocol.NewError(http.StatusConflict, codeReferenceConflict,
		fmt.Sprintf("The entry '%s' of Policy '%s' cannot be removed because a local reference from entry '%s' still points to it.", label, policyID, referrer),
		"Remove the local entry references first before deleting the referenced entry.")
}

// checkImportAccess is Ditto's PolicyImportsPreEnforcer for a write that
// leaves the policy next: the caller must READ, on each policy next
// imports (when imports says so: writes of the whole policy), the entries
// it imports (every implicit one and those listed), and for each import
// reference of the entries in refEntries the referenced entry, which must
// exist and be importable. A policy the caller may not read so is its
// not-found. Sudo commands are not checked.
func (c *call) checkImportAccess(ctx context.Context, next jsonv.Value, imports bool, refEntries []string) error {
	if c.cmd.Sudo {
		return nil
	}
	type need struct {
		id     string
		labels []string
		refs   bool // labels come from references: existence is checked
	}
	var needs []need
	if imports {
		imps, _ := next.Get(fieldImports)
		for _, m := range imps.Members() {
			n := need{id: m.Key}
			listed, _ := m.Value.Get(fieldImportEntries)
			for _, l := range listed.Elements() {
				s, _ := l.Str()
				n.labels = append(n.labels, s)
			}
			needs = append(needs, n)
		}
	}
	entries, _ := next.Get(fieldEntries)
	for _, label := range refEntries {
		e, _ := entries.Get(label)
		for _, r := range referencesOf(e) {
			if r.imported != "" {
				needs = append(needs, need{id: r.imported, labels: []string{r.label}, refs: true})
			}
		}
	}
	for _, n := range needs {
		doc, ok, err := c.load(ctx, n.id)
		if err != nil {
			return protocol.ErrPolicyUnavailable(n.id)
		}
		if !ok {
			return errImportNotAccessible(n.id)
		}
		eff, err := c.effective(n.id, doc)
		if err != nil {
			return err
		}
		view, err := callerView(eff, n.id, c.cmd.Auth)
		if err != nil {
			return err
		}
		imported, _ := doc.Get(fieldEntries)
		labels := n.labels
		if !n.refs {
			for _, m := range imported.Members() {
				if imp, _ := m.Value.Get(fieldImportable); imp.Kind() == jsonv.KindNull || imp.String() == `"implicit"` {
					labels = append(labels, m.Key)
				}
			}
		}
		for _, l := range labels {
			if n.refs {
				target, ok := imported.Get(l)
				if !ok {
					err := protocol.ErrPolicyImportInvalid()
					err.Message = fmt.Sprintf("A reference targets entry '%s' of policy '%s' which does not exist.", l, n.id)
					err.Description = ""
					return err
				}
				if imp, _ := target.Get(fieldImportable); imp.String() == `"`+importableNever+`"` {
					err := protocol.ErrPolicyImportInvalid()
					err.Message = fmt.Sprintf("A reference targets entry '%s' of policy '%s' which is marked as importable='never'.", l, n.id)
					err.Description = ""
					return err
				}
			}
			if !view.HasUnrestricted(enforcer.TypePolicy, jsonv.Pointer{fieldEntries, l}, enforcer.Read) {
				return errImportNotAccessible(n.id)
			}
		}
	}
	return nil
}

// errImportNotAccessible is the PolicyNotAccessibleException of an
// imported policy the caller may not read what it imports of.
func errImportNotAccessible(id string) *protocol.Error {
	err := protocol.ErrPolicyNotAccessible(id)
	err.Description = "Check if the ID of the imported Policy was correct and you have sufficient permissions on all imported policy entries."
	return err
}

// entryLabels lists the labels of policy's entries.
func entryLabels(policy jsonv.Value) []string {
	entries, _ := policy.Get(fieldEntries)
	out := make([]string, 0, entries.Len())
	for _, m := range entries.Members() {
		out = append(out, m.Key)
	}
	return out
}

// hasImports reports whether policy imports any other policy.
func hasImports(policy jsonv.Value) bool {
	imports, _ := policy.Get(fieldImports)
	return imports.Len() > 0
}
