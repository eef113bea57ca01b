package enforcer

import (
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"sync"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// Readers is who a policy lets read the entities of one namespace, subject
// by subject: what an event needs to say so that its consumers can enforce
// on their own (Ditto's ditto-read-subjects and ditto-partial-access-paths).
//
// Each subject is evaluated alone, as Ditto's policy tree does: a subject
// gets the entries that name it, not those of other subjects a caller may
// also hold. A Readers depends only on the policy, the namespace and which
// subjects have expired, so an Enforcer keeps one per namespace until the
// first of its subjects expires. It is safe for concurrent use.
type Readers struct {
	subjects []string // sorted and distinct
	views    []*View  // views[i] is what subjects[i] alone is granted
	// built and expires bound the time the subject list holds for: from
	// when it was built until the earliest expiry of a subject it has.
	built, expires time.Time
	// fingerprint: see Fingerprint.
	fingerprint uint64

	// classes holds the classification per resource type, computed once:
	// every event of every entity governed by this policy reads it, so it
	// is read without a lock.
	classes sync.Map // resource type -> *rootClass
	// leaves holds the leaf-key trie per resource type (see LeafKey),
	// computed once and read without a lock.
	leaves sync.Map // resource type -> *keyNode
}

// rootClass is how the subjects read the root of one resource type, as
// indexes into Readers.subjects in ascending (so sorted) order. Only the
// policy decides it, so it is computed once per Readers and type.
type rootClass struct {
	// partial holds READ at the root or anywhere below it.
	partial []int
	// restricted are those of partial without READ on everything: the
	// subjects that need partial access paths.
	restricted []int
	// others are the rest, the only subjects whose READ at an event's path
	// has to be looked at per event.
	others []int
	// partialJSON is partial as a JSON array of subject ids: the read
	// subjects whenever none of others reads the event's path.
	partialJSON string
	// partialIDs is partial as subject ids, built once by PartialReaders.
	partialOnce sync.Once
	partialIDs  []string
}

// Readers returns the subjects of the entries that apply to namespace and
// have not expired at now, with what each may read.
func (e *Enforcer) Readers(namespace string, now time.Time) *Readers {
	if v, ok := e.readers.Load(namespace); ok {
		r := v.(*Readers)
		if !now.Before(r.built) && (r.expires.IsZero() || now.Before(r.expires)) {
			return r
		}
	}
	r := e.buildReaders(namespace, now)
	e.readers.Store(namespace, r)
	return r
}

func (e *Enforcer) buildReaders(namespace string, now time.Time) *Readers {
	r := &Readers{built: now}
	seen := map[string]bool{}
	var expired []string // entry index and subject of each expired subject
	for i, en := range e.entries {
		if !NamespaceMatches(en.namespaces, namespace) {
			continue
		}
		for s, expiry := range en.subjects {
			if !expiry.IsZero() {
				if !now.Before(expiry) {
					expired = append(expired, fmt.Sprintf("%d\x00%s", i, s))
					continue
				}
				if r.expires.IsZero() || expiry.Before(r.expires) {
					r.expires = expiry
				}
			}
			if !seen[s] {
				seen[s] = true
				r.subjects = append(r.subjects, s)
			}
		}
	}
	slices.Sort(r.subjects)
	slices.Sort(expired)
	h := fnv.New64a()
	_, _ = fmt.Fprintf(h, "%016x\x00%s", e.entriesHash, namespace)
	for _, x := range expired {
		_, _ = fmt.Fprintf(h, "\x00\x00%s", x)
	}
	r.fingerprint = h.Sum64()
	r.views = make([]*View, len(r.subjects))
	for i, s := range r.subjects {
		r.views[i] = e.build(namespace, []string{s}, now)
	}
	return r
}

// Fingerprint identifies what r says about who may read what, in any
// process: Readers built from the same entries (as written, member order
// included) for the same namespace with the same subjects expired have the
// same fingerprint; different Readers differ but for a 64-bit hash
// collision. Readers that say the same but were built from entries written
// differently differ too.
func (r *Readers) Fingerprint() uint64 { return r.fingerprint }

// Subjects returns the ids of the subjects, sorted. The caller must not
// modify the result.
func (r *Readers) Subjects() []string { return r.subjects }

func (r *Readers) class(typ string) *rootClass {
	if c, ok := r.classes.Load(typ); ok {
		return c.(*rootClass)
	}
	c := &rootClass{}
	for i, v := range r.views {
		if !v.HasPartial(typ, nil, Read) {
			c.others = append(c.others, i)
			continue
		}
		c.partial = append(c.partial, i)
		if !v.HasUnrestricted(typ, nil, Read) {
			c.restricted = append(c.restricted, i)
		}
	}
	c.partialJSON = r.subjectsJSON(c.partial)
	// Two callers may both compute it; they compute the same.
	got, _ := r.classes.LoadOrStore(typ, c)
	return got.(*rootClass)
}

func (r *Readers) subjectsJSON(idx []int) string {
	elems := make([]jsonv.Value, len(idx))
	for k, i := range idx {
		elems[k] = jsonv.String(r.subjects[i])
	}
	return jsonv.Array(elems...).String()
}

// ReadSubjects returns, sorted, the subjects an event at path of the
// resource type is for: those with READ on all of path, and those with
// READ anywhere on the entity (Ditto's addEffectedReadSubjectsToThingSignal
// with partial access events: unrestricted(path) ∪ partialOnly(root) ∪
// unrestricted(root)).
func (r *Readers) ReadSubjects(typ string, path jsonv.Pointer) []string {
	c := r.class(typ)
	idx := r.readSubjects(c, typ, path)
	out := make([]string, len(idx))
	for k, i := range idx {
		out[k] = r.subjects[i]
	}
	return out
}

// ReadSubjectsHeader is ReadSubjects as the ditto-read-subjects header: a
// JSON array of subject ids.
func (r *Readers) ReadSubjectsHeader(typ string, path jsonv.Pointer) string {
	c := r.class(typ)
	idx := r.readSubjects(c, typ, path)
	if len(idx) == len(c.partial) {
		// The common case, without an allocation: nobody beyond the
		// subjects reading the root reads path.
		return c.partialJSON
	}
	return r.subjectsJSON(idx)
}

// readSubjects returns the indexes of ReadSubjects, ascending.
func (r *Readers) readSubjects(c *rootClass, typ string, path jsonv.Pointer) []int {
	// Unrestricted READ on the root implies partial READ on it, so
	// partialOnly(root) ∪ unrestricted(root) is partial(root); only the
	// subjects outside it need to be asked about path. (With this
	// package's rules none of them can hold READ on all of a path while
	// holding it nowhere at the root; asking keeps Ditto's definition.)
	var extra []int
	for _, i := range c.others {
		if r.views[i].HasUnrestricted(typ, path, Read) {
			extra = append(extra, i)
		}
	}
	if len(extra) == 0 {
		return c.partial
	}
	out := append(slices.Clone(c.partial), extra...)
	slices.Sort(out)
	return out
}

// HasRestricted reports whether a subject may read part but not all of the
// entities of the resource type: only then do events need partial access
// paths.
func (r *Readers) HasRestricted(typ string) bool {
	return len(r.class(typ).restricted) > 0
}

// PartialAccessPaths returns the ditto-partial-access-paths header of an
// event leaving the entity as doc, or "" when it needs none: for every
// subject with READ on part but not all of the resource type, the paths of
// doc it may read, in Ditto's indexed format
//
//	{"subjects":["a","b"],"paths":{"attributes/foo":[0,1],"features/A":[0]}}
//
// Subjects are sorted, and a path lists the indexes of the subjects that may
// read it, ascending; paths appear in the order the subjects (sorted) first
// name them, each subject's in document order. A subject that may read
// nothing of doc is listed without paths, as Ditto lists it.
func (r *Readers) PartialAccessPaths(typ string, doc jsonv.Value) string {
	c := r.class(typ)
	if len(c.restricted) == 0 || doc.Kind() != jsonv.KindObject {
		return ""
	}
	var (
		subjects []jsonv.Value
		keys     []string
		holders  [][]jsonv.Value // holders[k] are the subject indexes of keys[k]
		at       = map[string]int{}
	)
	for _, i := range c.restricted {
		// A subject that may read nothing of doc stays, without paths: it
		// is among the read subjects, and a consumer must not take a
		// read subject missing here for one that reads everything.
		paths := r.views[i].readablePaths(typ, doc)
		n := jsonv.Int(int64(len(subjects)))
		subjects = append(subjects, jsonv.String(r.subjects[i]))
		for _, p := range paths {
			key := p.String()[1:] // without the leading slash; the root is ""
			k, ok := at[key]
			if !ok {
				k = len(keys)
				at[key] = k
				keys = append(keys, key)
				holders = append(holders, nil)
			}
			// Subjects come in ascending order, so each list stays sorted.
			holders[k] = append(holders[k], n)
		}
	}
	if len(subjects) == 0 {
		return ""
	}
	members := make([]jsonv.Member, len(keys))
	for k, key := range keys {
		members[k] = jsonv.Member{Key: key, Value: jsonv.Array(holders[k]...)}
	}
	return jsonv.Object(
		jsonv.Member{Key: "subjects", Value: jsonv.Array(subjects...)},
		jsonv.Member{Key: "paths", Value: jsonv.Object(members...)},
	).String()
}

// readablePaths returns the paths of doc (an object) the view may READ,
// Ditto's way (PartialAccessPathCalculator): a leaf (anything but a
// non-empty object) is readable when READ holds at it and is revoked
// nowhere below it; a member whose leaves are all readable is named by its
// own path instead of theirs. The root itself is never collapsed: a wholly
// readable doc gives its members.
func (v *View) readablePaths(typ string, doc jsonv.Value) []jsonv.Pointer {
	root := v.trie(typ, Read)
	decided := root.has && root.grant
	var out []jsonv.Pointer
	for _, m := range doc.Members() {
		out, _ = collectReadable(out, m.Value, root.children[m.Key], decided, jsonv.Pointer{m.Key})
	}
	// Ditto names the root when everything is readable and nothing was
	// named, which cannot happen: a doc with members has them named.
	return out
}

// collectReadable appends to out the readable paths at and below p, where
// val sits and n is the trie node (nil: no rule at or below), given the
// decision inherited from above; all reports whether all of val is
// readable, in which case p alone was appended.
func collectReadable(out []jsonv.Pointer, val jsonv.Value, n *node, inherited bool, p jsonv.Pointer) (_ []jsonv.Pointer, all bool) {
	decided := inherited
	if n != nil && n.has {
		decided = n.grant
	}
	if val.Kind() != jsonv.KindObject || val.Len() == 0 {
		// A leaf: a revoke below it (on members it does not have)
		// still withholds it, as Ditto's check does.
		if decided && (n == nil || !revokedBelow(n)) {
			return append(out, p), true
		}
		return out, false
	}
	if n == nil || len(n.children) == 0 {
		// No rule below: the subtree is decided as a whole.
		if decided {
			return append(out, p), true
		}
		return out, false
	}
	mark := len(out)
	all = true
	for _, m := range val.Members() {
		var ok bool
		out, ok = collectReadable(out, m.Value, n.children[m.Key], decided, p.Append(m.Key))
		all = all && ok
	}
	if all {
		return append(out[:mark], p), true
	}
	return out, false
}

// revokedBelow reports whether a revoke lies anywhere under n.
func revokedBelow(n *node) bool {
	for _, c := range n.children {
		if (c.has && !c.grant) || revokedBelow(c) {
			return true
		}
	}
	return false
}

// PartialReaders returns, sorted, the subjects with READ at the root of the
// resource type or anywhere below it: who sees an entity at all (Ditto's
// global read). The caller must not modify the result.
func (r *Readers) PartialReaders(typ string) []string {
	c := r.class(typ)
	c.partialOnce.Do(func() {
		c.partialIDs = make([]string, len(c.partial))
		for k, i := range c.partial {
			c.partialIDs[k] = r.subjects[i]
		}
	})
	return c.partialIDs
}

// Expires returns when the subject list stops holding because a subject's
// entry expires; zero when none expires.
func (r *Readers) Expires() time.Time { return r.expires }

// LeafGrant is one subject's weights of READ at a path: the depth+1 of the
// deepest grant and of the deepest revoke at or above it (0: none).
type LeafGrant struct {
	Subject       string
	Grant, Revoke int
}

// keyNode is a node of the trie of every rule path of one resource type
// (over all subjects). READ at a path depends only on the rules at or above
// it, which are those on the way to the deepest trie node the path reaches,
// so that node's key serves the path and every path below it.
type keyNode struct {
	children map[string]*keyNode
	key      string
}

// LeafKey returns a canonical encoding of who may READ the value at p of the
// resource type: the subjects with a grant or revoke of READ at or above p,
// sorted, each with its LeafGrant weights, as a JSON array of
// [subject,grant,revoke] triples ("[]" when none). Paths that every caller
// reads alike get equal keys. DecodeLeafKey reads it back; LeafReadable
// decides a caller with several subjects exactly as View.Has does.
//
// It costs a walk of a small trie: the keys are computed once per Readers.
func (r *Readers) LeafKey(typ string, p jsonv.Pointer) string {
	n := r.keyTrie(typ)
	for _, seg := range p {
		c := n.children[seg]
		if c == nil {
			break
		}
		n = c
	}
	return n.key
}

func (r *Readers) keyTrie(typ string) *keyNode {
	if t, ok := r.leaves.Load(typ); ok {
		return t.(*keyNode)
	}
	root := &keyNode{}
	for _, v := range r.views {
		for _, rl := range v.rules {
			if rl.typ != typ {
				continue
			}
			n := root
			for _, seg := range rl.path {
				if n.children == nil {
					n.children = map[string]*keyNode{}
				}
				c := n.children[seg]
				if c == nil {
					c = &keyNode{}
					n.children[seg] = c
				}
				n = c
			}
		}
	}
	var fill func(n *keyNode, p jsonv.Pointer)
	fill = func(n *keyNode, p jsonv.Pointer) {
		n.key = r.leafKeyAt(typ, p)
		for seg, c := range n.children {
			fill(c, p.Append(seg))
		}
	}
	fill(root, nil)
	got, _ := r.leaves.LoadOrStore(typ, root)
	return got.(*keyNode)
}

func (r *Readers) leafKeyAt(typ string, p jsonv.Pointer) string {
	var elems []jsonv.Value
	for i, v := range r.views {
		g, rv, _, _ := v.weights(typ, p, Read)
		if g == 0 && rv == 0 {
			continue
		}
		elems = append(elems, jsonv.Array(jsonv.String(r.subjects[i]), jsonv.Int(int64(g)), jsonv.Int(int64(rv))))
	}
	return jsonv.Array(elems...).String()
}

// errLeafKey is the error of a string LeafKey did not produce.
var errLeafKey = errors.New("malformed leaf key")

// DecodeLeafKey reads a key made by LeafKey.
func DecodeLeafKey(key string) ([]LeafGrant, error) {
	v, err := jsonv.ParseString(key)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errLeafKey, err)
	}
	if v.Kind() != jsonv.KindArray {
		return nil, fmt.Errorf("%w: not an array", errLeafKey)
	}
	out := make([]LeafGrant, 0, v.Len())
	for _, el := range v.Elements() {
		parts := el.Elements()
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: %s", errLeafKey, el)
		}
		s, ok1 := parts[0].Str()
		g, ok2 := parts[1].Int64()
		rv, ok3 := parts[2].Int64()
		if !ok1 || !ok2 || !ok3 {
			return nil, fmt.Errorf("%w: %s", errLeafKey, el)
		}
		out = append(out, LeafGrant{Subject: s, Grant: int(g), Revoke: int(rv)})
	}
	return out, nil
}

// LeafReadable reports whether a caller holding subjects may READ a path
// whose decoded LeafKey is grants: the deepest grant of any of its subjects
// must lie deeper than the deepest revoke of any of them, which is what
// View.Has decides for the entries of all the caller's subjects combined.
func LeafReadable(grants []LeafGrant, subjects []string) bool {
	g, rv := 0, 0
	for _, lg := range grants {
		if slices.Contains(subjects, lg.Subject) {
			g, rv = max(g, lg.Grant), max(rv, lg.Revoke)
		}
	}
	return g > rv
}
