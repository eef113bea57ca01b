package enforcer

import (
	"fmt"
	"hash/fnv"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// Permissions Ditto defines.
const (
	Read  = "READ"
	Write = "WRITE"
)

// Resource types of policy resource keys ("thing:/attributes").
const (
	TypeThing   = "thing"
	TypePolicy  = "policy"
	TypeMessage = "message"
)

// rule is one resource of one entry: the permissions granted and revoked at
// a path.
type rule struct {
	typ    string
	path   jsonv.Pointer
	grant  []string
	revoke []string
}

type entry struct {
	subjects map[string]time.Time // subject id -> expiry (zero: none)
	rules    []rule
	// namespaces restricts the entry to entities in these namespaces
	// ("com.acme" exactly, "com.acme.*" below it); empty means all.
	namespaces []string
}

// Enforcer is a compiled policy. It is safe for concurrent use.
type Enforcer struct {
	entries []entry

	// views caches the rules per caller (joined subject ids); a policy
	// has few distinct callers, and the gateway asks per request.
	views sync.Map // string -> *View
	// readers caches the per-subject classification events need, per
	// namespace (see Readers).
	readers sync.Map // string -> *Readers
	// entriesHash is a hash of the policy's entries as written (see
	// Readers.Fingerprint).
	entriesHash uint64
}

// Compile builds the enforcer of a policy JSON object. It reads the entries'
// subjects and resources and skips what it cannot read (the policies service
// validates policies before storing them).
func Compile(policy jsonv.Value) (*Enforcer, error) {
	if policy.Kind() != jsonv.KindObject {
		return nil, fmt.Errorf("policy is a JSON %s, not an object", policy.Kind())
	}
	entries, _ := policy.Get("entries")
	h := fnv.New64a()
	_, _ = h.Write(entries.AppendJSON(nil))
	e := &Enforcer{entriesHash: h.Sum64()}
	for _, m := range entries.Members() {
		var en entry
		subjects, _ := m.Value.Get("subjects")
		en.subjects = make(map[string]time.Time, subjects.Len())
		for _, s := range subjects.Members() {
			var expiry time.Time
			if x, ok := s.Value.Get("expiry"); ok {
				if xs, ok := x.Str(); ok {
					if t, err := time.Parse(time.RFC3339, xs); err == nil {
						expiry = t
					}
				}
			}
			en.subjects[s.Key] = expiry
		}
		nss, _ := m.Value.Get("namespaces")
		for _, n := range nss.Elements() {
			if ns, ok := n.Str(); ok {
				en.namespaces = append(en.namespaces, ns)
			}
		}
		resources, _ := m.Value.Get("resources")
		for _, r := range resources.Members() {
			typ, path, ok := ParseResourceKey(r.Key)
			if !ok {
				continue
			}
			en.rules = append(en.rules, rule{
				typ: typ, path: path,
				grant:  permissionList(r.Value, "grant"),
				revoke: permissionList(r.Value, "revoke"),
			})
		}
		e.entries = append(e.entries, en)
	}
	return e, nil
}

func permissionList(res jsonv.Value, field string) []string {
	v, _ := res.Get(field)
	var out []string
	for _, p := range v.Elements() {
		if s, ok := p.Str(); ok {
			out = append(out, s)
		}
	}
	return out
}

// ParseResourceKey splits a resource key "type:/path" into its type and
// path. The path is a JSON pointer; "thing:" alone means the root.
func ParseResourceKey(key string) (typ string, path jsonv.Pointer, ok bool) {
	typ, rest, found := strings.Cut(key, ":")
	if !found || typ == "" {
		return "", nil, false
	}
	p, err := jsonv.ParsePointer(rest)
	if err != nil {
		return "", nil, false
	}
	return typ, p, true
}

// For returns the rules that apply to a caller with the given subjects on
// an entity in namespace.
func (e *Enforcer) For(namespace string, subjects []string) *View {
	key := namespace + "\x01" + strings.Join(subjects, "\x00")
	if v, ok := e.views.Load(key); ok {
		view := v.(*View)
		if view.expires.IsZero() || time.Now().Before(view.expires) {
			return view
		}
	}
	view := e.build(namespace, subjects, time.Now())
	e.views.Store(key, view)
	return view
}

func (e *Enforcer) build(namespace string, subjects []string, now time.Time) *View {
	v := &View{}
	for _, en := range e.entries {
		if !NamespaceMatches(en.namespaces, namespace) {
			continue
		}
		matched := false
		for _, s := range subjects {
			expiry, ok := en.subjects[s]
			if !ok {
				continue
			}
			if !expiry.IsZero() {
				if !now.Before(expiry) {
					continue
				}
				if v.expires.IsZero() || expiry.Before(v.expires) {
					v.expires = expiry
				}
			}
			matched = true
		}
		if matched {
			v.rules = append(v.rules, en.rules...)
		}
	}
	return v
}

// View is the part of a policy that applies to one caller.
type View struct {
	rules []rule
	// expires is when the earliest expiring subject that contributed runs
	// out; the view must be rebuilt then.
	expires time.Time

	mu    sync.Mutex
	tries map[string]*node // "type\x00perm" -> decision trie; guarded by mu
}

// weights returns the depth+1 of the deepest grant and revoke of perm at or
// above p (0 when none), and of the deepest grant and revoke below p.
func (v *View) weights(typ string, p jsonv.Pointer, perm string) (grantUp, revokeUp, grantBelow, revokeBelow int) {
	for _, r := range v.rules {
		if r.typ != typ {
			continue
		}
		w := len(r.path) + 1
		g, rv := slices.Contains(r.grant, perm), slices.Contains(r.revoke, perm)
		switch {
		case p.HasPrefix(r.path): // at or above p
			if g {
				grantUp = max(grantUp, w)
			}
			if rv {
				revokeUp = max(revokeUp, w)
			}
		case r.path.HasPrefix(p): // below p
			if g {
				grantBelow = max(grantBelow, w)
			}
			if rv {
				revokeBelow = max(revokeBelow, w)
			}
		}
	}
	return
}

// Has reports whether perm holds at path of the resource type.
func (v *View) Has(typ string, path jsonv.Pointer, perm string) bool {
	g, r, _, _ := v.weights(typ, path, perm)
	return g > r
}

// HasUnrestricted reports whether perm holds at path and at everything below
// it.
func (v *View) HasUnrestricted(typ string, path jsonv.Pointer, perm string) bool {
	g, r, _, rb := v.weights(typ, path, perm)
	return g > r && g > rb
}

// HasPartial reports whether perm holds at path or somewhere below it.
func (v *View) HasPartial(typ string, path jsonv.Pointer, perm string) bool {
	g, r, gb, _ := v.weights(typ, path, perm)
	return max(g, gb) > r
}

// node is a trie over the rule paths of one type and permission: decision
// is the rule at exactly this path, if any.
type node struct {
	children map[string]*node
	has      bool // a grant or revoke of the permission sits here
	grant    bool // the decision here: a revoke beats a grant
}

func (v *View) trie(typ, perm string) *node {
	key := typ + "\x00" + perm
	v.mu.Lock()
	defer v.mu.Unlock()
	if t, ok := v.tries[key]; ok {
		return t
	}
	root := &node{}
	for _, r := range v.rules {
		if r.typ != typ {
			continue
		}
		g, rv := slices.Contains(r.grant, perm), slices.Contains(r.revoke, perm)
		if !g && !rv {
			continue
		}
		n := root
		for _, seg := range r.path {
			if n.children == nil {
				n.children = map[string]*node{}
			}
			c := n.children[seg]
			if c == nil {
				c = &node{}
				n.children[seg] = c
			}
			n = c
		}
		if rv {
			n.has, n.grant = true, false
		} else if !n.has || n.grant {
			n.has, n.grant = true, true
		}
	}
	if v.tries == nil {
		v.tries = map[string]*node{}
	}
	v.tries[key] = root
	return root
}

// View returns the part of val, the value at path of the resource type,
// that perm holds for, and whether anything is left. Objects are filtered
// member by member down to their leaves (non-objects and empty objects); an
// object none of whose leaves are visible disappears.
func (v *View) View(typ string, path jsonv.Pointer, val jsonv.Value, perm string) (jsonv.Value, bool) {
	n := v.trie(typ, perm)
	decided := false
	for _, seg := range path {
		if n.has {
			decided = n.grant
		}
		n = n.children[seg]
		if n == nil {
			break
		}
	}
	return filter(n, decided, val)
}

// filter keeps what is visible of val at trie node n (nil when no rule lies
// at or below), given the decision inherited from above.
func filter(n *node, inherited bool, val jsonv.Value) (jsonv.Value, bool) {
	decided := inherited
	if n != nil && n.has {
		decided = n.grant
	}
	if n == nil || len(n.children) == 0 {
		// Nothing below decides differently.
		return val, decided
	}
	if val.Kind() != jsonv.KindObject || val.Len() == 0 {
		return val, decided
	}
	members := val.Members()
	kept := make([]jsonv.Member, 0, len(members))
	for _, m := range members {
		if fv, ok := filter(n.children[m.Key], decided, m.Value); ok {
			kept = append(kept, jsonv.Member{Key: m.Key, Value: fv})
		}
	}
	if len(kept) == 0 {
		return jsonv.Value{}, false
	}
	return jsonv.Object(kept...), true
}

// ReadsAll reports whether the view lets the caller read everything of the
// resource type: the fast path that returns stored bytes unfiltered.
func (v *View) ReadsAll(typ string) bool {
	return v.HasUnrestricted(typ, nil, Read)
}

// NamespaceMatches reports whether an entry restricted to patterns applies
// to an entity in namespace ns: no patterns match everything, "com.acme"
// matches exactly, "com.acme.*" matches every namespace below it.
func NamespaceMatches(patterns []string, ns string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, ".*"); ok {
			if strings.HasPrefix(ns, prefix+".") {
				return true
			}
		} else if p == ns {
			return true
		}
	}
	return false
}
