package policyresolve

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

// MaxTransitiveDepth is Ditto's PolicyImporter.MAX_TRANSITIVE_RESOLUTION_DEPTH:
// how many levels of transitiveImports are followed before resolution fails.
//
// The docs ("Key rules") say resolution then stops and returns what it has;
// the source throws PolicyImportInvalidException instead (and its test
// deepTransitiveChainExceedingMaxDepthIsRejected asserts that), so Resolve
// returns that error.
const MaxTransitiveDepth = 10

// maxWork bounds the work of one Resolve call: import resolutions plus
// entries taken over from imported policies. The visited set and
// MaxTransitiveDepth bound the depth of the import graph but not its
// breadth: a handful of policies that import each other with long
// transitiveImports lists make the number of paths, and the entries copied
// along each, explode. Ditto has no such bound; real policies (at most 10
// imports each, a few entries per role) stay far below it.
const maxWork = 20_000

// Loader returns the stored policy of id; ok=false when there is none (a
// missing import is skipped, as Ditto does). It is called at most once per
// id within one Resolve call.
type Loader func(ctx context.Context, id string) (policy jsonv.Value, ok bool, err error)

// Options configures Resolve.
type Options struct {
	// NamespaceRoots returns the root policy ids configured for a namespace
	// (ditto.namespace-policies), most specific pattern first; nil: none.
	// See NamespaceRootsFromConfig.
	NamespaceRoots func(namespace string) []string
}

// Result is an effective policy.
type Result struct {
	// Policy is the policy with its entries merged: own entries (references
	// resolved, allowedAdditions applied), then imported entries under
	// imported-<id>-<label>, then namespace-root entries under
	// nsimported-<rootId>-<label>. Its other members (policyId, imports, ...)
	// are those of the input.
	Policy jsonv.Value
	// DependsOn is every other policy id the result was computed from
	// (loaded or tried, including missing ones), sorted: a change to any of
	// them may change the result.
	DependsOn []string
}

// Resolve computes the effective policy of policy, loading imported and
// namespace root policies with load. It follows Ditto 3.9's
// Policy.withResolvedImports (PolicyImporter.mergeImportedPolicyEntries and
// resolveReferences) and then PolicyEnforcer.mergeNamespacePolicies.
//
// The policy itself is never loaded: where the import graph leads back to
// it, the given value is used, so a policy can be resolved before it is
// stored. Errors are the loader's (wrapped), a policy that is not a JSON
// object, and protocol.ErrPolicyImportInvalid for a too deep or too large
// import graph.
func Resolve(ctx context.Context, policy jsonv.Value, load Loader, opt Options) (Result, error) {
	if policy.Kind() != jsonv.KindObject {
		return Result{}, fmt.Errorf("policy is a JSON %s, not an object", policy.Kind())
	}
	self := parsePolicy(policy)
	r := &resolver{load: load, loaded: map[string]*parsedPolicy{}, selfID: self.id}
	if self.id != "" {
		r.loaded[self.id] = self
	}

	entries, err := r.withResolvedImports(ctx, self)
	if err != nil {
		return Result{}, err
	}
	roots, err := r.namespaceRootEntries(ctx, self, opt)
	if err != nil {
		return Result{}, err
	}
	all := newEntrySet(entries)
	all.add(roots...)
	entries = all.list

	members := make([]jsonv.Member, len(entries))
	for i, e := range entries {
		members[i] = jsonv.Member{Key: e.label, Value: e.json()}
	}
	out := replaceMember(policy, fieldEntries, jsonv.Object(members...))

	deps := make([]string, 0, len(r.loaded))
	for id := range r.loaded {
		if id != self.id {
			deps = append(deps, id)
		}
	}
	slices.Sort(deps)
	return Result{Policy: out, DependsOn: deps}, nil
}

// resolver holds the state of one Resolve call; it is used by one goroutine.
type resolver struct {
	load   Loader
	selfID string
	// loaded memoises the loader: id -> parsed policy, nil when missing.
	loaded map[string]*parsedPolicy
	// work counts import resolutions and imported entries against maxWork.
	work int
}

func (r *resolver) get(ctx context.Context, id string) (*parsedPolicy, error) {
	if p, ok := r.loaded[id]; ok {
		return p, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	v, ok, err := r.load(ctx, id)
	if err != nil {
		return nil, fmt.Errorf("load policy %q: %w", id, err)
	}
	if !ok {
		r.loaded[id] = nil
		return nil, nil
	}
	if v.Kind() != jsonv.KindObject {
		return nil, fmt.Errorf("load policy %q: a JSON %s, not an object", id, v.Kind())
	}
	p := parsePolicy(v)
	r.loaded[id] = p
	return p, nil
}

// withResolvedImports is Ditto's Policy.withResolvedImports: the policy's
// own entries plus its imported ones, then the own entries' references
// resolved against that set.
func (r *resolver) withResolvedImports(ctx context.Context, p *parsedPolicy) ([]*entry, error) {
	merged, err := r.mergeImports(ctx, p.entries, p.imports, 0, nil)
	if err != nil {
		return nil, err
	}
	return resolveReferences(p, merged), nil
}

// mergeImports is PolicyImporter.mergeImportedPolicyEntries: base followed
// by the entries every import contributes, in declaration order. visited
// holds the policy ids resolved transitively further up the chain.
//
// Where two entries carry the same label the first one wins (the docs'
// "first-encountered entry taking precedence"); Ditto collects each
// import's entries in an unordered set and lets its policy builder keep the
// last, which is not deterministic. Labels of distinct sources only collide
// when a policy id contains '-', and local labels cannot start with
// "imported", so own entries are never shadowed.
func (r *resolver) mergeImports(ctx context.Context, base []*entry, imports []importDecl, depth int, visited []string) ([]*entry, error) {
	out := newEntrySet(base)
	for _, imp := range imports {
		got, err := r.resolveImport(ctx, imp, depth, visited)
		if err != nil {
			return nil, err
		}
		out.add(got...)
	}
	return out.list, nil
}

// resolveImport is PolicyImporter.resolveImport: it loads the imported
// policy, resolves the transitive imports it lists, resolves the imported
// policy's own references against that, then keeps the importable entries
// under their imported labels.
func (r *resolver) resolveImport(ctx context.Context, imp importDecl, depth int, visited []string) ([]*entry, error) {
	if err := r.spend(1); err != nil {
		return nil, err
	}
	p, err := r.get(ctx, imp.policyID)
	if err != nil || p == nil {
		return nil, err
	}
	entries := p.entries
	if len(imp.transitive) > 0 {
		if entries, err = r.resolveTransitive(ctx, p, imp.policyID, imp.transitive, depth, visited); err != nil {
			return nil, err
		}
	}
	entries = resolveReferences(p, entries)
	if err := r.spend(len(entries)); err != nil {
		return nil, err
	}
	var out []*entry
	for _, e := range entries {
		switch {
		case e.importable == implicit,
			e.importable == explicit && slices.Contains(imp.labels, e.label):
			out = append(out, e.relabel(importedLabel(imp.policyID, e.label)))
		}
	}
	return out, nil
}

func (r *resolver) spend(n int) error {
	r.work += n
	if r.work > maxWork {
		return errTooLarge(r.selfID)
	}
	return nil
}

// resolveTransitive is PolicyImporter.resolveTransitiveImports: the loaded
// policy's entries plus, under imported labels, the entries of those of its
// own imports that ids lists and that are not being resolved further up the
// chain already. Ids it does not import are ignored (forward references).
func (r *resolver) resolveTransitive(ctx context.Context, p *parsedPolicy, id string, ids []string, depth int, visited []string) ([]*entry, error) {
	if depth >= MaxTransitiveDepth {
		return nil, errDepthExceeded(id)
	}
	var fresh []string
	for _, t := range ids {
		if !slices.Contains(visited, t) && !slices.Contains(fresh, t) {
			fresh = append(fresh, t)
		}
	}
	var filtered []importDecl
	for _, imp := range p.imports {
		if slices.Contains(fresh, imp.policyID) {
			filtered = append(filtered, imp)
		}
	}
	if len(filtered) == 0 {
		return p.entries, nil
	}
	// A new slice per level: sibling imports must not see each other's ids.
	next := append(slices.Clip(visited), fresh...)
	return r.mergeImports(ctx, p.entries, filtered, depth+1, next)
}

// namespaceRootEntries is PolicyEnforcer.mergeNamespacePolicies with
// PolicyImporter.mergeImplicitNamespaceRootEntries: the implicit entries of
// every configured root policy of the policy's namespace, each root with
// its own imports and references resolved first, under nsimported labels.
// A root policy is not merged into itself; a missing one is skipped.
func (r *resolver) namespaceRootEntries(ctx context.Context, self *parsedPolicy, opt Options) ([]*entry, error) {
	if opt.NamespaceRoots == nil {
		return nil, nil
	}
	// The namespace is what precedes the first ':' (a namespace cannot
	// contain one; a name can).
	namespace, _, ok := strings.Cut(self.id, ":")
	if !ok {
		namespace = ""
	}
	out := newEntrySet(nil)
	var seen []string
	for _, rootID := range opt.NamespaceRoots(namespace) {
		if rootID == self.id || slices.Contains(seen, rootID) {
			continue
		}
		seen = append(seen, rootID)
		root, err := r.get(ctx, rootID)
		if err != nil {
			return nil, err
		}
		if root == nil {
			continue
		}
		entries, err := r.withResolvedImports(ctx, root)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.importable == implicit {
				out.add(e.relabel(nsImportedLabel(rootID, e.label)))
			}
		}
	}
	return out.list, nil
}

// resolveReferences is PolicyImporter.resolveReferences: every own entry of
// p that declares references is replaced in set by its resolved form. The
// references are looked up in set (import references, by imported label) or
// among p's raw entries (local references), so they resolve one level deep.
func resolveReferences(p *parsedPolicy, set []*entry) []*entry {
	// p's own entries lead every set built for p (see mergeImports).
	var out []*entry
	var index map[string]*entry
	for i, e := range set[:min(len(p.entries), len(set))] {
		if len(e.refs) == 0 || e != p.entries[i] {
			continue
		}
		if out == nil {
			out = slices.Clone(set)
			index = labelIndex(set)
		}
		out[i] = resolveEntry(p, index, e)
	}
	if out == nil {
		return set
	}
	return out
}

// labelIndex maps labels to the first entry of set carrying them.
func labelIndex(set []*entry) map[string]*entry {
	index := make(map[string]*entry, len(set))
	for _, e := range set {
		if _, ok := index[e.label]; !ok {
			index[e.label] = e
		}
	}
	return index
}

// resolveEntry is PolicyImporter.resolveAllReferences. The referenced
// entries' subjects, resources and namespaces accumulate (subjects: the
// first instance of an id wins; resources: grants and revokes unite), then
// the entry's own additions are merged in as far as the strictest
// allowedAdditions of the referenced entries permits. A referenced entry
// without allowedAdditions imposes no restriction; references to missing
// entries and to importable=never entries are skipped.
func resolveEntry(p *parsedPolicy, set map[string]*entry, own *entry) *entry {
	var (
		subjects   []jsonv.Member
		resources  []resource
		namespaces []string
		allowed    []string
		restricted bool
	)
	for _, ref := range own.refs {
		target := lookup(p, set, ref)
		if target == nil || target.importable == never {
			continue
		}
		resources = mergeResources(resources, target.resources)
		namespaces = union(namespaces, target.namespaces)
		subjects = mergeSubjects(subjects, target.subjects)
		if target.hasAllowed {
			if !restricted {
				restricted, allowed = true, slices.Clone(target.allowed)
			} else {
				allowed = slices.DeleteFunc(allowed, func(a string) bool { return !slices.Contains(target.allowed, a) })
			}
		}
	}
	permits := func(kind string) bool { return !restricted || slices.Contains(allowed, kind) }
	if permits(addResources) {
		resources = mergeResources(resources, own.resources)
	}
	if permits(addSubjects) {
		subjects = mergeSubjects(subjects, own.subjects)
	}
	if permits(addNamespaces) {
		namespaces = union(namespaces, own.namespaces)
	}
	return &entry{
		label:         own.label,
		rebuilt:       true,
		subjects:      subjects,
		resources:     resources,
		namespaces:    namespaces,
		hasNamespaces: len(namespaces) > 0, // Ditto writes no namespaces for an empty union
		importable:    own.importable,
		importableSet: own.importableSet,
		// The resolved entry carries the strictest allowedAdditions of its
		// targets, not its own (Ditto passes effectiveAllowed): that is
		// what lets a policy importing it add subjects in turn (the
		// fleet-west/truck-42 example).
		allowed:    allowed,
		hasAllowed: restricted,
		refs:       own.refs,
		refsRaw:    own.refsRaw,
	}
}

func lookup(p *parsedPolicy, set map[string]*entry, ref reference) *entry {
	if ref.isImport {
		return set[importedLabel(ref.policyID, ref.label)]
	}
	for _, e := range p.entries {
		if e.label == ref.label {
			return e
		}
	}
	return nil
}

// mergeSubjects appends the subjects of b whose ids a lacks.
func mergeSubjects(a, b []jsonv.Member) []jsonv.Member {
	out := slices.Clip(a)
	for _, s := range b {
		if !slices.ContainsFunc(out, func(m jsonv.Member) bool { return m.Key == s.Key }) {
			out = append(out, s)
		}
	}
	return out
}

// mergeResources adds the resources of b to a: a resource both name gets
// the union of grants and of revokes (so a referenced revoke survives).
func mergeResources(a, b []resource) []resource {
	out := slices.Clone(a) // out[i] is replaced below; a may be a parsed entry's
	for _, rb := range b {
		i := indexOf(out, rb.canon)
		if i < 0 {
			out = append(out, rb)
			continue
		}
		ra := out[i]
		out[i] = resource{
			key:    ra.key,
			canon:  ra.canon,
			grant:  union(ra.grant, rb.grant),
			revoke: union(ra.revoke, rb.revoke),
			merged: true,
		}
	}
	return out
}

// entrySet is a list of entries with unique labels: the first entry of a
// label stays, later ones are dropped.
type entrySet struct {
	list   []*entry
	labels map[string]struct{}
}

func newEntrySet(base []*entry) *entrySet {
	s := &entrySet{list: slices.Clone(base), labels: make(map[string]struct{}, len(base))}
	for _, e := range base {
		s.labels[e.label] = struct{}{}
	}
	return s
}

func (s *entrySet) add(es ...*entry) {
	for _, e := range es {
		if _, ok := s.labels[e.label]; !ok {
			s.labels[e.label] = struct{}{}
			s.list = append(s.list, e)
		}
	}
}

// replaceMember returns obj with key set to val, in place when present,
// appended otherwise.
func replaceMember(obj jsonv.Value, key string, val jsonv.Value) jsonv.Value {
	ms := slices.Clone(obj.Members())
	for i := range ms {
		if ms[i].Key == key {
			ms[i].Value = val
			return jsonv.Object(ms...)
		}
	}
	return jsonv.Object(append(ms, jsonv.Member{Key: key, Value: val})...)
}

// Needed reports whether a stored policy's effective policy may differ
// from it without namespace root policies: it imports policies or one of
// its entries references another. Policies without either (most) need no
// Resolve.
func Needed(policy jsonv.Value) bool {
	if imports, _ := policy.Get(fieldImports); imports.Len() > 0 {
		return true
	}
	entries, _ := policy.Get(fieldEntries)
	for _, m := range entries.Members() {
		if refs, ok := m.Value.Get("references"); ok && refs.Len() > 0 {
			return true
		}
	}
	return false
}

// Applies reports whether the effective policy of the stored policy of id
// may differ from it: Needed, or namespace root policies (roots, which
// may be nil) are configured for id's namespace.
func Applies(id string, policy jsonv.Value, roots func(namespace string) []string) bool {
	if Needed(policy) {
		return true
	}
	if roots == nil {
		return false
	}
	ns, _ := protocol.SplitID(id)
	return len(roots(ns)) > 0
}

// LoaderOf adapts fetch, which reports a policy that does not exist with
// an error errors.Is gone, to a Loader.
func LoaderOf(fetch func(ctx context.Context, id string) (jsonv.Value, error), gone error) Loader {
	return func(ctx context.Context, id string) (jsonv.Value, bool, error) {
		v, err := fetch(ctx, id)
		if errors.Is(err, gone) {
			return jsonv.Value{}, false, nil
		}
		return v, err == nil, err
	}
}
