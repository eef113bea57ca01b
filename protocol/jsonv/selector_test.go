package jsonv

import (
	"errors"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

func TestParseFieldSelector(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want string // FieldSelector.String()
	}{
		{"single", "thingId", "/thingId"},
		{"list", "thingId,policyId", "/thingId,/policyId"},
		{"leading slash", "/thingId,/attributes/a", "/thingId,/attributes/a"},
		{"group", "attributes(location,model)", "/attributes/location,/attributes/model"},
		{"nested groups", "a(b(c,d),e)", "/a/b/c,/a/b/d,/a/e"},
		{"group after path", "a/b(c)", "/a/b/c"},
		{"group with slashed members", "a(/b/c,d/)", "/a/b/c,/a/d"},
		{"brief example", "thingId,attributes(location,model),features/*/properties/temperature,_revision",
			"/thingId,/attributes/location,/attributes/model,/features/*/properties/temperature,/_revision"},
		{"duplicates dropped", "a,b,a,a/c,b", "/a,/b,/a/c"},
		{"duplicates across groups", "a(b),a/b", "/a/b"},
		{"trailing comma ignored", "thingId,", "/thingId"},
		{"leading comma ignored", ",thingId", "/thingId"},
		{"empty group is its prefix", "a()", "/a"},
		{"empty item in group is its prefix", "a(b,)", "/a/b,/a"},
		{"group without prefix", "(a,b)", "/a,/b"},
		{"spaces are key text", "a, b", "/a,/ b"},
		{"tilde decoded", "a~0b", "/a~0b"},
		{"wildcard kept", "*", "/*"},
		{"groups after group", "a(b),c(d)", "/a/b,/c/d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs, err := ParseFieldSelector(tt.in)
			if err != nil {
				t.Fatalf("ParseFieldSelector(%q): got error %v, want nil", tt.in, err)
			}
			if got := fs.String(); got != tt.want {
				t.Errorf("ParseFieldSelector(%q): got %s, want %s", tt.in, got, tt.want)
			}
			back, err := ParseFieldSelector(fs.String())
			if err != nil || back.String() != fs.String() {
				t.Errorf("reparse of %s: got %s, %v, want the same", fs, back, err)
			}
		})
	}
}

func TestParseFieldSelectorInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want error
	}{
		{"empty", "", ErrInvalidFieldSelector},
		{"only comma", ",", ErrInvalidFieldSelector},
		{"only slash", "/", ErrInvalidFieldSelector},
		{"empty group", "()", ErrInvalidFieldSelector},
		{"unclosed", "a(b", ErrInvalidFieldSelector},
		{"unclosed nested", "a(b(c)", ErrInvalidFieldSelector},
		{"unopened", "a)b", ErrInvalidFieldSelector},
		{"extra closing", "a(b))", ErrInvalidFieldSelector},
		{"text after group", "a(b)c", ErrInvalidFieldSelector},
		{"group after group", "a(b)(c)", ErrInvalidFieldSelector},
		{"reversed", ")a(", ErrInvalidFieldSelector},
		{"too deep", strings.Repeat("a(", MaxDepth+1) + "b" + strings.Repeat(")", MaxDepth+1), ErrInvalidFieldSelector},
		{"consecutive slashes", "a//b", ErrInvalidPointer},
		{"consecutive slashes in group", "a(b//c)", ErrInvalidPointer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs, err := ParseFieldSelector(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("ParseFieldSelector(%q): got %v, %v, want %v", tt.in, fs, err, tt.want)
			}
			if perr := protocol.AsError(err); perr.Status != 400 {
				t.Errorf("Status: got %d, want 400", perr.Status)
			}
		})
	}
}

func TestParseFieldSelectorMessage(t *testing.T) {
	t.Parallel()
	_, err := ParseFieldSelector("a(b")
	perr := protocol.AsError(err)
	if perr == nil {
		t.Fatalf("got %v, want *protocol.Error", err)
	}
	if want := "The field selector <a(b> is invalid!"; perr.Message != want {
		t.Errorf("Message: got %q, want %q", perr.Message, want)
	}
	if perr.Description != descInvalidFieldSelector {
		t.Errorf("Description: got %q, want %q", perr.Description, descInvalidFieldSelector)
	}
}

func TestParseFieldSelectorManyPointers(t *testing.T) {
	t.Parallel()
	// Past linearLimit pointers duplicates are found through a map.
	var items []string
	for i := range 3 * linearLimit {
		items = append(items, "k"+itoa(i%(2*linearLimit)))
	}
	fs, err := ParseFieldSelector(strings.Join(items, ","))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(fs), 2*linearLimit; got != want {
		t.Errorf("len: got %d, want %d", got, want)
	}
}

const thing = `{"thingId":"ns:t","policyId":"ns:p",` +
	`"attributes":{"location":{"lat":1,"lon":2},"model":"m","tags":[{"k":1,"v":2},3,{"v":4}]},` +
	`"features":{"temp":{"properties":{"value":21,"unit":"C"}},"hum":{"properties":{"value":40}},"door":{"properties":{"open":true}}}}`

func TestSelect(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		target string
		fields string
		want   string
	}{
		{"one field", thing, "thingId", `{"thingId":"ns:t"}`},
		{"selector order, not document order", thing, "policyId,thingId", `{"policyId":"ns:p","thingId":"ns:t"}`},
		{"group", thing, "attributes(model,location/lat)", `{"attributes":{"model":"m","location":{"lat":1}}}`},
		{"missing field omitted", thing, "thingId,_revision", `{"thingId":"ns:t"}`},
		{"nothing matches", thing, "nope,attributes/nope", `{}`},
		{"path through a scalar", thing, "thingId/x", `{}`},
		{"shorter pointer wins", thing, "attributes/location/lat,attributes/location", `{"attributes":{"location":{"lat":1,"lon":2}}}`},
		{"shorter pointer wins either order", thing, "attributes/location,attributes/location/lat", `{"attributes":{"location":{"lat":1,"lon":2}}}`},
		{"array elements projected", thing, "attributes/tags/v", `{"attributes":{"tags":[{"v":2},3,{"v":4}]}}`},
		{"array elements without the key become empty", thing, "attributes/tags/k", `{"attributes":{"tags":[{"k":1},3,{}]}}`},
		{"whole array", thing, "attributes/tags", `{"attributes":{"tags":[{"k":1,"v":2},3,{"v":4}]}}`},
		{"wildcard", thing, "features/*/properties/value",
			`{"features":{"temp":{"properties":{"value":21}},"hum":{"properties":{"value":40}}}}`},
		{"wildcard whole features", thing, "features/*", `{"features":{"temp":{"properties":{"value":21,"unit":"C"}},"hum":{"properties":{"value":40}},"door":{"properties":{"open":true}}}}`},
		{"wildcard and explicit key", thing, "features/door/properties/open,features/*/properties/value",
			`{"features":{"door":{"properties":{"open":true}},"temp":{"properties":{"value":21}},"hum":{"properties":{"value":40}}}}`},
		{"wildcard at top level", `{"a":{"x":1,"y":2},"b":{"x":3},"c":4}`, "*/x", `{"a":{"x":1},"b":{"x":3}}`},
		{"two wildcards", `{"a":{"p":{"x":1,"y":2}},"b":{"q":{"x":3}}}`, "*/*/x", `{"a":{"p":{"x":1}},"b":{"q":{"x":3}}}`},
		{"wildcard under non-object", thing, "thingId/*", `{}`},
		{"wildcard on missing", thing, "nope/*/x", `{}`},
		{"literal star key", `{"*":1,"a":2}`, "*", `{"*":1,"a":2}`},
		{"empty object", `{}`, "a", `{}`},
		{"non-object unchanged", `[1,2]`, "a", `[1,2]`},
		{"string unchanged", `"s"`, "a", `"s"`},
		{"selected null kept", `{"a":null,"b":1}`, "a", `{"a":null}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fs, err := ParseFieldSelector(tt.fields)
			if err != nil {
				t.Fatalf("ParseFieldSelector(%q): got error %v", tt.fields, err)
			}
			target := MustParse(tt.target)
			got := target.Select(fs)
			if got.String() != tt.want {
				t.Errorf("Select(%s): got %s, want %s", tt.fields, got, tt.want)
			}
			if target.String() != tt.target {
				t.Errorf("target changed: got %s, want %s", target, tt.target)
			}
		})
	}
}

func TestSelectEmptySelector(t *testing.T) {
	t.Parallel()
	if got := MustParse(thing).Select(nil); got.String() != "{}" {
		t.Errorf("Select(nil): got %s, want {}", got)
	}
}
