package things_test

import (
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

// TestResponsesCarryEntityRevision checks that every change answers the
// revision it produced in Ditto's entity-revision header, which the gateway
// hands to the search service to await search-persisted.
func TestResponsesCarryEntityRevision(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startBoth(t)
	steps := []struct {
		name   string
		cmd    command
		status int
		rev    string
	}{
		{"create", thing(ditto, modify, lamp).with(`{"attributes":{"a":1}}`), 201, "1"},
		{"modify attribute", thing(ditto, modify, lamp+"/attributes/a").with(`2`), 204, "2"},
		{"merge", thing(ditto, merge, lamp).with(`{"attributes":{"b":1}}`), 204, "3"},
		{"delete attribute", thing(ditto, del, lamp+"/attributes/b"), 204, "4"},
		{"delete thing", thing(ditto, del, lamp), 204, "5"},
	}
	for _, s := range steps {
		r := f.expect(t, s.cmd, s.status, "")
		if got := r.env.Headers[protocol.HeaderEntityRevision]; got != s.rev {
			t.Errorf("%s: entity-revision %q, want %q", s.name, got, s.rev)
		}
	}
}
