// Package etag is Ditto's entity tags and conditional headers for every
// entity service: the tags of entities ("rev:N") and of sub-resources
// ("hash:..."), and If-Match / If-None-Match as Ditto's
// ConditionalHeadersValidator applies them.
package etag

import (
	"strconv"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

// Revision is the entity tag of a whole entity at revision rev.
func Revision(rev int64) string {
	return `"rev:` + strconv.FormatInt(rev, 10) + `"`
}

// Value is the entity tag of a sub-resource. Ditto hashes the Java object
// (hashCode); this hashes the canonical JSON, so the tags have Ditto's form
// and change exactly when the content does, but differ from Ditto's values.
func Value(v jsonv.Value) string {
	h := v.Hash()
	return `"hash:` + strconv.FormatUint(uint64(uint32(h^h>>32)), 16) + `"`
}

// Errors builds a service's precondition errors (things or policies).
type Errors struct {
	// Failed is 412: the header's condition (value: its entity tag
	// matchers, joined with ",") did not hold for the actual tag.
	Failed func(header, value, actual string) *protocol.Error
	// NotModified is 304: If-None-Match matched on a read.
	NotModified func(value, actual string) *protocol.Error
}

// Check applies If-Match and If-None-Match of h against current, the entity
// tag of the addressed resource ("" when it does not exist, which no
// matcher matches, "*" included). A matching If-None-Match is 304 on a read
// (reading) and 412 otherwise.
func Check(h protocol.Headers, current string, reading bool, errs Errors) error {
	if v, ok := h.Lookup(protocol.HeaderIfMatch); ok {
		matchers := split(v)
		if !anyMatch(matchers, current) {
			return errs.Failed(protocol.HeaderIfMatch, strings.Join(matchers, ","), current)
		}
	}
	if v, ok := h.Lookup(protocol.HeaderIfNoneMatch); ok {
		matchers := split(v)
		if anyMatch(matchers, current) {
			if reading {
				return errs.NotModified(strings.Join(matchers, ","), current)
			}
			return errs.Failed(protocol.HeaderIfNoneMatch, strings.Join(matchers, ","), current)
		}
	}
	return nil
}

// Matches reports whether a precondition header value ("*" or a list of
// entity tags) matches the current tag ("" when the resource does not
// exist).
func Matches(header, current string) bool { return anyMatch(split(header), current) }

// split splits an entity-tag list at commas with optional spaces, as
// Ditto's EntityTagMatchers reads it.
func split(v string) []string {
	parts := strings.Split(v, ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return parts
}

// anyMatch reports whether a matcher is "*" or strongly equal to current.
// The current tag is always strong, and Ditto compares strongly against a
// strong tag: a weak matcher (W/"...") never matches it. Nothing matches a
// resource that does not exist.
func anyMatch(matchers []string, current string) bool {
	if current == "" {
		return false
	}
	for _, m := range matchers {
		if m == "*" || m == current {
			return true
		}
	}
	return false
}
