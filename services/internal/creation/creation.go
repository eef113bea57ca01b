// Package creation restricts who may create things and policies where, as
// Ditto's "Restricting entity creation" configures it
// (ditto.entity-creation: grant and revoke lists of entries with
// resource-types, namespaces, auth-subjects and thing-definitions).
//
// A create passes when an entry of grant matches it and no entry of
// revoke does. An entry matches when each of its lists is empty or has a
// match: the resource type (thing, policy), a wildcard of the namespace,
// a wildcard of at least one of the caller's subjects and, for things
// only, a wildcard of the thing's definition (null matching a thing
// without one). Wildcards are whole-string matches with * for any run of
// characters and ? for one. Without configuration everybody may create
// everything (grant = [{}]).
package creation

import (
	"fmt"
	"net/http"
	"regexp"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

// Resource types an entry names.
const (
	Thing  = "thing"
	Policy = "policy"
)

// Key is where Ditto's configuration keeps the rules.
const Key = "ditto.entity-creation"

// Entry is one entry of grant or revoke, as Ditto's configuration writes
// it.
type Entry struct {
	ResourceTypes []string `json:"resource-types"`
	Namespaces    []string `json:"namespaces"`
	AuthSubjects  []string `json:"auth-subjects"`
	// ThingDefinitions: a nil element matches a thing without a
	// definition.
	ThingDefinitions []*string `json:"thing-definitions"`
}

// Config is Ditto's entity-creation block.
type Config struct {
	Grant  []Entry `json:"grant"`
	Revoke []Entry `json:"revoke"`
}

// Rules are compiled Config. The zero value lets everybody create
// everything.
type Rules struct {
	configured    bool
	grant, revoke []rule
}

type rule struct {
	types       map[string]bool
	namespaces  []*regexp.Regexp
	subjects    []*regexp.Regexp
	definitions []*regexp.Regexp // nil element: no definition
	anyDef      bool             // definitions given
}

// FromTree reads the rules at Key of tree; without them, everybody may
// create everything.
func FromTree(tree *dittoconf.Tree) (Rules, error) {
	var c Config
	found, err := tree.Decode(Key, &c)
	if err != nil {
		return Rules{}, err
	}
	if !found {
		return Rules{}, nil
	}
	return Compile(c)
}

// Compile checks and compiles c.
func Compile(c Config) (Rules, error) {
	r := Rules{configured: true}
	for _, list := range []struct {
		name    string
		entries []Entry
		out     *[]rule
	}{{"grant", c.Grant, &r.grant}, {"revoke", c.Revoke, &r.revoke}} {
		for i, e := range list.entries {
			ru := rule{types: map[string]bool{}, anyDef: len(e.ThingDefinitions) > 0}
			for _, t := range e.ResourceTypes {
				if t != Thing && t != Policy {
					return Rules{}, fmt.Errorf("%s.%s.%d.resource-types: %q is neither %q nor %q", Key, list.name, i, t, Thing, Policy)
				}
				ru.types[t] = true
			}
			ru.namespaces = wildcards(e.Namespaces)
			ru.subjects = wildcards(e.AuthSubjects)
			for _, d := range e.ThingDefinitions {
				if d == nil {
					ru.definitions = append(ru.definitions, nil)
				} else {
					ru.definitions = append(ru.definitions, wildcard(*d))
				}
			}
			*list.out = append(*list.out, ru)
		}
	}
	return r, nil
}

func wildcards(patterns []string) []*regexp.Regexp {
	out := make([]*regexp.Regexp, 0, len(patterns))
	for _, p := range patterns {
		out = append(out, wildcard(p))
	}
	return out
}

// wildcard compiles a pattern with * and ? into a whole-string match,
// as Ditto compiles these settings (its LikeHelper, without folding case).
func wildcard(p string) *regexp.Regexp { return rql.LikeRegexp(p, false) }

// Request is a create to check.
type Request struct {
	ResourceType string // Thing or Policy
	EntityID     string
	Namespace    string
	Subjects     []string
	// Definition is the thing's definition; nil when it has none.
	Definition *string
}

// Check returns nil when the rules let q create, else Ditto's 403
// entity.notcreatable.
func (r Rules) Check(q Request) *protocol.Error {
	if !r.configured {
		return nil
	}
	if matchAny(r.grant, q) && !matchAny(r.revoke, q) {
		return nil
	}
	desc := "The entity creation was configured not to be allowed for the authenticated subject(s) in namespace '" +
		q.Namespace + "'. Check with your administrator if that was unexpected."
	if q.ResourceType == Thing {
		def := "null"
		if q.Definition != nil {
			def = *q.Definition
		}
		desc = "The thing creation was configured not to be allowed for the authenticated subject(s) and used thing definition '" +
			def + "' in namespace '" + q.Namespace + "'. Check with your administrator if that was unexpected."
	}
	return protocol.NewError(http.StatusForbidden, "entity.notcreatable",
		"The Entity with ID '"+q.EntityID+"' could not be created as the creation was configured not to be allowed.", desc)
}

// Restricted reports whether any rule was configured.
func (r Rules) Restricted() bool { return r.configured }

func matchAny(rules []rule, q Request) bool {
	for _, ru := range rules {
		if ru.matches(q) {
			return true
		}
	}
	return false
}

func (ru rule) matches(q Request) bool {
	if len(ru.types) > 0 && !ru.types[q.ResourceType] {
		return false
	}
	if len(ru.namespaces) > 0 && !anyMatch(ru.namespaces, q.Namespace) {
		return false
	}
	if len(ru.subjects) > 0 {
		ok := false
		for _, s := range q.Subjects {
			if anyMatch(ru.subjects, s) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	if ru.anyDef && q.ResourceType == Thing {
		for _, d := range ru.definitions {
			switch {
			case d == nil && q.Definition == nil:
				return true
			case d != nil && q.Definition != nil && d.MatchString(*q.Definition):
				return true
			}
		}
		return false
	}
	return true
}

func anyMatch(res []*regexp.Regexp, s string) bool {
	for _, re := range res {
		if re.MatchString(s) {
			return true
		}
	}
	return false
}
