package policyresolve

import (
	"slices"
	"strings"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// Field names of Ditto's policy JSON.
const (
	fieldPolicyID          = "policyId"
	fieldImports           = "imports"
	fieldEntries           = "entries"
	fieldSubjects          = "subjects"
	fieldResources         = "resources"
	fieldNamespaces        = "namespaces"
	fieldImportable        = "importable"
	fieldAllowedAdditions  = "allowedAdditions"
	fieldReferences        = "references"
	fieldGrant             = "grant"
	fieldRevoke            = "revoke"
	fieldImportEntries     = "entries"
	fieldTransitiveImports = "transitiveImports"
	fieldRefImport         = "import"
	fieldRefEntry          = "entry"
)

// Label prefixes of ImmutableImportedLabel. The docs show imported labels
// both as "imported-<id>-<label>" (effective policy view) and as
// "imported:<id>/<label>" (transitive import resolution); the source
// (ImmutableImportedLabel's MessageFormat "{0}-{1}-{2}") writes the former,
// so this package does too.
const (
	importedPrefix   = "imported"
	nsImportedPrefix = "nsimported"
)

func importedLabel(policyID, label string) string {
	return importedPrefix + "-" + policyID + "-" + label
}

func nsImportedLabel(policyID, label string) string {
	return nsImportedPrefix + "-" + policyID + "-" + label
}

// importable is Ditto's ImportableType.
type importable uint8

const (
	implicit importable = iota // the default when the field is absent
	explicit
	never
)

func (i importable) String() string {
	switch i {
	case implicit:
		return "implicit"
	case explicit:
		return "explicit"
	default:
		return "never"
	}
}

// The kinds of Ditto's AllowedAddition.
const (
	addSubjects   = "subjects"
	addResources  = "resources"
	addNamespaces = "namespaces"
)

// resource is one resource of an entry. raw is written back as it was read
// unless merged says the permissions were combined with another entry's.
type resource struct {
	key    string // as first written
	canon  string // type ":" normalised pointer, what Ditto's ResourceKey compares
	grant  []string
	revoke []string
	raw    jsonv.Value
	merged bool
}

// reference is one element of an entry's references: an import reference
// when isImport, else a local one.
type reference struct {
	isImport bool
	policyID string
	label    string
}

// entry is a policy entry as this package reads it. Entries are never
// modified after parsing: resolution builds new ones, because a loaded
// policy's entries are shared by every path of the import graph that
// reaches it.
type entry struct {
	label string
	// raw is the entry as stored; it is written back unchanged unless
	// rebuilt (an own entry without references keeps its exact JSON).
	raw     jsonv.Value
	rebuilt bool

	subjects      []jsonv.Member // subject id -> subject, in order
	resources     []resource
	namespaces    []string
	hasNamespaces bool
	importable    importable
	importableSet bool // the field was present (it is then written back)
	allowed       []string
	hasAllowed    bool // absent allowedAdditions means unrestricted
	refs          []reference
	refsRaw       jsonv.Value // written back on resolved own entries
}

// importDecl is one member of a policy's imports.
type importDecl struct {
	policyID   string
	labels     []string // the explicitly imported entries
	transitive []string // transitiveImports
}

// parsedPolicy is a policy as this package reads it.
type parsedPolicy struct {
	id      string
	raw     jsonv.Value
	entries []*entry
	imports []importDecl
}

// parsePolicy reads a policy object. Like enforcer.Compile it skips what it
// cannot read, since the policies service validates policies before storing
// them; where skipping could widen access it fails closed instead (an
// unknown importable value is treated as never, an unreadable
// allowedAdditions as an empty one).
func parsePolicy(v jsonv.Value) *parsedPolicy {
	p := &parsedPolicy{raw: v}
	if id, ok := v.Get(fieldPolicyID); ok {
		p.id, _ = id.Str()
	}
	entries, _ := v.Get(fieldEntries)
	for _, m := range entries.Members() {
		p.entries = append(p.entries, parseEntry(m.Key, m.Value))
	}
	imports, _ := v.Get(fieldImports)
	for _, m := range imports.Members() {
		d := importDecl{policyID: m.Key}
		labels, _ := m.Value.Get(fieldImportEntries)
		d.labels = stringElems(labels)
		transitive, _ := m.Value.Get(fieldTransitiveImports)
		d.transitive = stringElems(transitive)
		p.imports = append(p.imports, d)
	}
	return p
}

func parseEntry(label string, v jsonv.Value) *entry {
	e := &entry{label: label, raw: v}
	subjects, _ := v.Get(fieldSubjects)
	e.subjects = subjects.Members()
	resources, _ := v.Get(fieldResources)
	for _, m := range resources.Members() {
		r := resource{
			key:    m.Key,
			canon:  canonicalKey(m.Key),
			grant:  dedupe(permissions(m.Value, fieldGrant)),
			revoke: dedupe(permissions(m.Value, fieldRevoke)),
			raw:    m.Value,
		}
		// Two keys naming the same resource ("thing:a", "thing:/a"): the
		// later value wins at the earlier position, as Ditto's Resources.
		if i := indexOf(e.resources, r.canon); i >= 0 {
			r.key = e.resources[i].key
			e.resources[i] = r
			continue
		}
		e.resources = append(e.resources, r)
	}
	if ns, ok := v.Get(fieldNamespaces); ok {
		e.hasNamespaces = true
		e.namespaces = dedupe(stringElems(ns))
	}
	if imp, ok := v.Get(fieldImportable); ok {
		e.importableSet = true
		s, _ := imp.Str()
		switch s {
		case "implicit":
			e.importable = implicit
		case "explicit":
			e.importable = explicit
		default:
			e.importable = never
		}
	}
	if add, ok := v.Get(fieldAllowedAdditions); ok {
		e.hasAllowed = true
		for _, s := range stringElems(add) {
			if (s == addSubjects || s == addResources || s == addNamespaces) && !slices.Contains(e.allowed, s) {
				e.allowed = append(e.allowed, s)
			}
		}
	}
	if refs, ok := v.Get(fieldReferences); ok {
		e.refsRaw = refs
		for _, r := range refs.Elements() {
			label, ok := r.Get(fieldRefEntry)
			if !ok {
				continue
			}
			l, ok := label.Str()
			if !ok {
				continue
			}
			ref := reference{label: l}
			if imp, ok := r.Get(fieldRefImport); ok {
				if ref.policyID, ok = imp.Str(); !ok {
					continue
				}
				ref.isImport = true
			}
			e.refs = append(e.refs, ref)
		}
	}
	return e
}

// json renders e; resolved own entries keep their references (Ditto keeps
// them on the merged entry), imported ones never have any.
func (e *entry) json() jsonv.Value {
	if !e.rebuilt {
		return e.raw
	}
	subjects := jsonv.Object(e.subjects...)
	resources := make([]jsonv.Member, 0, len(e.resources))
	for _, r := range e.resources {
		val := r.raw
		if r.merged {
			val = jsonv.Object(
				jsonv.Member{Key: fieldGrant, Value: stringArray(r.grant)},
				jsonv.Member{Key: fieldRevoke, Value: stringArray(r.revoke)},
			)
		}
		resources = append(resources, jsonv.Member{Key: r.key, Value: val})
	}
	out := []jsonv.Member{
		{Key: fieldSubjects, Value: subjects},
		{Key: fieldResources, Value: jsonv.Object(resources...)},
	}
	if e.hasNamespaces {
		out = append(out, jsonv.Member{Key: fieldNamespaces, Value: stringArray(e.namespaces)})
	}
	if e.importableSet {
		out = append(out, jsonv.Member{Key: fieldImportable, Value: jsonv.String(e.importable.String())})
	}
	if e.hasAllowed {
		out = append(out, jsonv.Member{Key: fieldAllowedAdditions, Value: stringArray(e.allowed)})
	}
	if len(e.refs) > 0 {
		out = append(out, jsonv.Member{Key: fieldReferences, Value: e.refsRaw})
	}
	return jsonv.Object(out...)
}

// relabel returns a copy of e under label without references, the way
// Ditto rewrites an imported or namespace-root entry (the six-argument
// PolicyEntry factory: references are local to their source policy).
func (e *entry) relabel(label string) *entry {
	c := *e
	c.label = label
	c.rebuilt = true
	c.refs, c.refsRaw = nil, jsonv.Value{}
	return &c
}

// canonicalKey is the resource key as Ditto's ResourceKey compares it:
// type and JSON pointer, so "thing:a" and "thing:/a/" name the same
// resource. A key that does not parse stays as it is.
func canonicalKey(key string) string {
	typ, rest, ok := strings.Cut(key, ":")
	if !ok {
		return key
	}
	p, err := jsonv.ParsePointer(rest)
	if err != nil {
		return key
	}
	return typ + ":" + p.String()
}

func indexOf(rs []resource, canon string) int {
	for i, r := range rs {
		if r.canon == canon {
			return i
		}
	}
	return -1
}

func permissions(res jsonv.Value, field string) []string {
	v, _ := res.Get(field)
	return stringElems(v)
}

// stringElems returns the string elements of an array, skipping the rest.
func stringElems(v jsonv.Value) []string {
	var out []string
	for _, e := range v.Elements() {
		if s, ok := e.Str(); ok {
			out = append(out, s)
		}
	}
	return out
}

func stringArray(ss []string) jsonv.Value {
	vals := make([]jsonv.Value, len(ss))
	for i, s := range ss {
		vals[i] = jsonv.String(s)
	}
	return jsonv.Array(vals...)
}

// union appends the elements of b missing from a to a copy of a: Ditto's
// LinkedHashSet union.
func union(a, b []string) []string {
	out := append([]string(nil), a...)
	for _, s := range b {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func dedupe(ss []string) []string { return union(nil, ss) }
