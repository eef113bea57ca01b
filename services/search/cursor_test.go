package search

import (
	"testing"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/rql"
)

// Every cursor this service writes reads back to its query and position.
func TestCursorRoundTrip(t *testing.T) {
	f := `eq(attributes/a,"x")`
	c := cursor{Filter: &f, Namespaces: []string{"org.acme"}, CorrelationID: "c-1",
		Sort: "sort(-attributes/b,+thingId)", Values: []byte(`[3.5,"org.acme:t"]`)}
	got, keys, vals, err := decodeCursor(c.encode())
	if err != nil {
		t.Fatal(err)
	}
	if *got.Filter != f || got.Namespaces[0] != "org.acme" || len(keys) != 2 || !keys[0].Descending || len(vals) != 2 {
		t.Fatalf("decoded %+v %v %v", got, keys, vals)
	}
	if !sortCompatible([]rql.SortKey{{Property: "attributes/b", Descending: true}}, keys) ||
		sortCompatible([]rql.SortKey{{Property: "attributes/b"}}, keys) {
		t.Error("sort compatibility")
	}
}

// The cursor decoder refuses whatever it did not write, with Ditto's
// option error, and never panics.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(cursor{Sort: "sort(+thingId)", Values: []byte(`["a:b"]`)}.encode())
	f.Add("")
	f.Add("eyJTIjoic29ydCgrdGhpbmdJZCkiLCJWIjpbXX0")
	f.Add("!!!")
	f.Fuzz(func(t *testing.T, s string) {
		c, keys, vals, err := decodeCursor(s)
		if err != nil {
			if perr := protocol.AsError(err); perr == nil || perr.Code != "thing-search:search.option.invalid" || perr.Status != 400 {
				t.Fatalf("decode %q: %v, want thing-search:search.option.invalid", s, err)
			}
			return
		}
		if len(keys) != len(vals) || len(keys) == 0 || c.Sort == "" {
			t.Fatalf("accepted %q: %d keys, %d values", s, len(keys), len(vals))
		}
	})
}
