package policyresolve

import (
	"cmp"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/dittonats/dittonats/protocol"
)

// NamespaceRootsFromConfig builds Options.NamespaceRoots from Ditto's
// ditto.namespace-policies setting: namespace pattern -> root policy ids.
// A pattern is "*" (every namespace), "com.acme.*" (every namespace below
// com.acme, not com.acme itself) or an exact namespace. A namespace gets the
// roots of every matching pattern, the most specific pattern first (exact,
// then longer prefixes, then "*"), each id once, as Ditto's
// DefaultNamespacePoliciesConfig.getRootPoliciesForNamespace. Patterns of
// equal precedence, which Ditto orders by hash, are ordered by name here.
// An invalid pattern is an error, as it is a config error in Ditto.
func NamespaceRootsFromConfig(cfg map[string][]string) (func(namespace string) []string, error) {
	type rule struct {
		pattern    string
		precedence int
		roots      []string
	}
	var rules []rule
	var errs []string
	for pattern, roots := range cfg {
		prec, ok := patternPrecedence(pattern)
		if !ok {
			errs = append(errs, pattern)
			continue
		}
		if len(roots) > 0 {
			rules = append(rules, rule{pattern, prec, slices.Clone(roots)})
		}
	}
	if len(errs) > 0 {
		slices.Sort(errs)
		return nil, fmt.Errorf("unsupported namespace policy patterns %q: supported are an exact namespace, '<namespace>.*' or '*'", errs)
	}
	slices.SortFunc(rules, func(a, b rule) int {
		if c := cmp.Compare(b.precedence, a.precedence); c != 0 {
			return c
		}
		return cmp.Compare(a.pattern, b.pattern)
	})
	return func(namespace string) []string {
		var out []string
		for _, r := range rules {
			if !namespaceMatchesPattern(namespace, r.pattern) {
				continue
			}
			for _, id := range r.roots {
				if !slices.Contains(out, id) {
					out = append(out, id)
				}
			}
		}
		return out
	}, nil
}

// patternPrecedence ranks a pattern the way Ditto sorts them: exact
// namespaces first, then prefix patterns by length, then "*".
func patternPrecedence(pattern string) (int, bool) {
	if pattern == "*" {
		return 0, true
	}
	if prefix, ok := strings.CutSuffix(pattern, ".*"); ok {
		return len(pattern), prefix != "" && protocol.ValidateNamespace(prefix)
	}
	return math.MaxInt, protocol.ValidateNamespace(pattern)
}

// namespaceMatchesPattern is NamespacePoliciesConfig.namespaceMatchesPattern:
// "a.b.*" requires at least one segment after "a.b.", so it does not match
// "a.b".
func namespaceMatchesPattern(namespace, pattern string) bool {
	if pattern == "*" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok && strings.HasSuffix(prefix, ".") {
		return strings.HasPrefix(namespace, prefix)
	}
	return namespace == pattern
}

// ConfigKey is where Ditto reads the namespace root policies.
const ConfigKey = "ditto.namespace-policies"

// Decoder reads a configuration value at a key into v, reporting whether
// the key is set (dittoconf.Tree's Decode).
type Decoder interface {
	Decode(key string, v any) (bool, error)
}

// RootsFromTree reads ditto.namespace-policies from the configuration
// tree: nil when it is not set or empty.
func RootsFromTree(tree Decoder) (func(namespace string) []string, error) {
	var cfg map[string][]string
	found, err := tree.Decode(ConfigKey, &cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigKey, err)
	}
	if !found || len(cfg) == 0 {
		return nil, nil
	}
	roots, err := NamespaceRootsFromConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigKey, err)
	}
	return roots, nil
}
