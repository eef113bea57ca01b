package jsonv

import (
	"regexp"
	"strings"
)

// MergePatch applies patch to target as RFC 7396 JSON merge patch and
// returns the result; neither input is modified and unchanged subtrees of
// target are shared.
//
//   - A patch that is not an object (arrays and null included) replaces the
//     target: MergePatch(t, null) is null. Arrays are never merged.
//   - An object patch on a non-object target starts from {}.
//   - A null member deletes the key; any other member is merged into the
//     target's value for that key, recursively. Existing keys keep their
//     position, new keys are appended in patch order. Null members inside a
//     newly added object are dropped at every depth, as the RFC requires.
//
// Ditto's extension is supported too: a member whose key is "{{ ~regex~ }}"
// (or "{{ /regex/ }}") with a null value first deletes every key of the
// target object that the regular expression matches in full, then the rest
// of the patch applies. The expression uses Go's RE2 syntax, which covers
// the common subset of Java's; a key whose expression does not compile is an
// ordinary key.
func MergePatch(target, patch Value) Value {
	if patch.k != KindObject {
		return patch
	}
	pm := patch.Members()
	tm := target.Members() // nil for a non-object target, which starts from {}
	if res := deletionRegexps(pm); len(res) > 0 {
		tm = withoutMatching(tm, res)
	}
	pl, tl := newLookup(pm), newLookup(tm)
	// Size the result exactly: twins live long, slack would live with them.
	n := len(tm)
	for _, m := range pm {
		exists := tl.find(m.Key) >= 0
		if m.Value.k == KindNull && exists {
			n--
		} else if m.Value.k != KindNull && !exists {
			n++
		}
	}
	out := make([]Member, 0, n)
	for _, m := range tm {
		i := pl.find(m.Key)
		switch {
		case i < 0:
			out = append(out, m)
		case pm[i].Value.k != KindNull:
			out = append(out, Member{Key: m.Key, Value: MergePatch(m.Value, pm[i].Value)})
		}
	}
	for _, m := range pm {
		if m.Value.k != KindNull && tl.find(m.Key) < 0 {
			out = append(out, Member{Key: m.Key, Value: MergePatch(Value{}, m.Value)})
		}
	}
	return objectValue(out)
}

// lookup finds members by key: by scanning small objects, through a map for
// large ones so that big patches on big objects stay linear.
type lookup struct {
	ms []Member
	m  map[string]int
}

func newLookup(ms []Member) lookup {
	l := lookup{ms: ms}
	if len(ms) > linearLimit {
		l.m = make(map[string]int, len(ms))
		for i, m := range ms {
			l.m[m.Key] = i
		}
	}
	return l
}

func (l lookup) find(key string) int {
	if l.m != nil {
		if i, ok := l.m[key]; ok {
			return i
		}
		return -1
	}
	for i := range l.ms {
		if l.ms[i].Key == key {
			return i
		}
	}
	return -1
}

// deletionRegexps returns the expressions of the patch's "{{ ~re~ }}": null
// members.
func deletionRegexps(pm []Member) []*regexp.Regexp {
	var res []*regexp.Regexp
	for _, m := range pm {
		if m.Value.k != KindNull {
			continue
		}
		expr, ok := regexKey(m.Key)
		if !ok {
			continue
		}
		re, err := regexp.Compile(`^(?:` + expr + `)$`)
		if err != nil {
			continue
		}
		res = append(res, re)
	}
	return res
}

// regexKey extracts the expression from "{{ ~expr~ }}" or "{{ /expr/ }}".
func regexKey(key string) (string, bool) {
	if !strings.HasPrefix(key, "{{") || !strings.HasSuffix(key, "}}") || len(key) < 4 {
		return "", false
	}
	inner := strings.TrimSpace(key[2 : len(key)-2])
	if len(inner) < 2 {
		return "", false
	}
	first, last := inner[0], inner[len(inner)-1]
	if (first == '~' && last == '~') || (first == '/' && last == '/') {
		return inner[1 : len(inner)-1], true
	}
	return "", false
}

// withoutMatching returns the members whose keys no expression matches; ms
// belongs to the target, so it is copied, not filtered in place.
func withoutMatching(ms []Member, res []*regexp.Regexp) []Member {
	var kept []Member
	for _, m := range ms {
		if !matchesAny(res, m.Key) {
			kept = append(kept, m)
		}
	}
	return kept
}

func matchesAny(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}
