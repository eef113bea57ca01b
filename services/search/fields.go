package search

import (
	"encoding/json"
	"fmt"
	"strings"
)

// indexedFields is Ditto's ditto.search.namespace-indexed-fields: per
// namespace pattern, the fields whose values are indexed. The first
// pattern that matches a namespace decides; a namespace no pattern
// matches has every field indexed. The thing's own fields (thingId,
// policyId, _namespace, _revision, _created, _modified) are always
// indexed: the index adds them whatever the list says.
type indexedFields []indexedFieldsRule

type indexedFieldsRule struct {
	Pattern string   `json:"namespace-pattern"`
	Fields  []string `json:"indexed-fields"`
}

// parseIndexedFields reads the JSON form of the setting: an array of
// {"namespace-pattern": "...", "indexed-fields": ["attributes", ...]}.
// Fields are JSON pointers into the thing, with or without the leading
// slash.
func parseIndexedFields(s string) (indexedFields, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var rules indexedFields
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rules); err != nil {
		return nil, fmt.Errorf("not a JSON array of {\"namespace-pattern\", \"indexed-fields\"}: %w", err)
	}
	for i, r := range rules {
		if r.Pattern == "" {
			return nil, fmt.Errorf("entry %d: namespace-pattern is missing", i)
		}
		if len(r.Fields) == 0 {
			return nil, fmt.Errorf("entry %d (%s): indexed-fields is empty", i, r.Pattern)
		}
		for k, f := range r.Fields {
			f = strings.Trim(f, "/")
			if f == "" || strings.Contains(f, "//") {
				return nil, fmt.Errorf("entry %d (%s): indexed field %q is not a JSON pointer into the thing", i, r.Pattern, r.Fields[k])
			}
			rules[i].Fields[k] = f
		}
	}
	return rules, nil
}

// forNamespace returns the indexed fields of namespace, nil for all.
func (f indexedFields) forNamespace(ns string) []string {
	for _, r := range f {
		if matchPattern(r.Pattern, ns) {
			return r.Fields
		}
	}
	return nil
}

// matchPattern matches a namespace pattern in which * stands for any run
// of characters (Ditto compiles it to a regular expression the same way).
func matchPattern(pattern, ns string) bool {
	if !strings.Contains(pattern, "*") {
		return pattern == ns
	}
	parts := strings.Split(pattern, "*")
	if !strings.HasPrefix(ns, parts[0]) {
		return false
	}
	rest := ns[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(rest, p) && len(rest) >= len(p)
		}
		k := strings.Index(rest, p)
		if k < 0 {
			return false
		}
		rest = rest[k+len(p):]
	}
	return true
}
