package things

import (
	"errors"
	"slices"
	"testing"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/entity"
)

func TestParsePutMetadata(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, in string
		want     []string // keys in order, "key=value"
		invalid  bool
	}{
		{"empty header", ``, nil, false},
		{"empty array", `[]`, nil, false},
		{"wildcards first, then by key", `[{"key":"/b","value":1},{"key":"*/x","value":2},{"key":"a","value":3}]`,
			[]string{"/*/x=2", "/a=3", "/b=1"}, false},
		{"first of equal keys counts", `[{"key":"a","value":1},{"key":"/a/","value":2}]`, []string{"/a=1"}, false},
		{"non-objects ignored", `[1,"x",{"key":"a","value":null}]`, []string{"/a=null"}, false},
		{"not JSON", `[{`, nil, true},
		{"not an array", `{"key":"a","value":1}`, nil, true},
		{"key missing", `[{"value":1}]`, nil, true},
		{"value missing", `[{"key":"a"}]`, nil, true},
		{"key not a string", `[{"key":1,"value":1}]`, nil, true},
		{"empty key", `[{"key":"","value":1}]`, nil, true},
		{"root key", `[{"key":"/","value":1}]`, nil, true},
		{"double slash", `[{"key":"a//b","value":1}]`, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := parsePutMetadata(c.in)
			if c.invalid {
				if !errors.Is(err, &protocol.Error{Code: protocol.CodeHeaderInvalid}) {
					t.Fatalf("err %v, want header.invalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, e := range got {
				keys = append(keys, e.key.String()+"="+e.value.String())
			}
			if !slices.Equal(keys, c.want) {
				t.Errorf("got %q, want %q", keys, c.want)
			}
		})
	}
}

func TestParseMetaHeadersConflict(t *testing.T) {
	t.Parallel()
	for _, hs := range []protocol.Headers{
		{protocol.HeaderPutMetadata: `[]`, protocol.HeaderDeleteMetadata: "a"},
		{protocol.HeaderGetMetadata: "a", protocol.HeaderDeleteMetadata: "a"},
		{protocol.HeaderGetMetadata: "a", protocol.HeaderPutMetadata: `[]`},
	} {
		for _, query := range []bool{true, false} {
			_, err := parseMetaHeaders(hs, query)
			want := errMetadataHeadersConflict(query)
			var perr *protocol.Error
			if !errors.As(err, &perr) || perr.Code != want.Code || perr.Message != want.Message {
				t.Errorf("%v (query %v): err %v, want %v", hs, query, err, want)
			}
		}
	}
	if m, err := parseMetaHeaders(protocol.Headers{protocol.HeaderCorrelationID: "x"}, false); err != nil || m != nil {
		t.Errorf("no metadata headers: %+v, %v", m, err)
	}
}

func TestExpandMetadataKey(t *testing.T) {
	t.Parallel()
	thing := jsonv.MustParse(`{"thingId":"a:b","policyId":"a:b","attributes":{"x":1,"y":{"z":2}},
		"features":{"f":{"definition":["a:b:1"],"properties":{"p":1,"q":{"r":2}},"desiredProperties":{"p":3}},"g":{"properties":{"p":4}}}}`)
	for _, c := range []struct {
		name, path, key string
		value           jsonv.Value
		want            []string
		invalid         bool
	}{
		{"no wildcard", "/", "attributes/x/u", thing, []string{"/attributes/x/u"}, false},
		{"trailing star is a key", "/", "attributes/*", thing, []string{"/attributes/*"}, false},
		{"leaves at the root", "/", "*/u", thing, []string{
			"/thingId/u", "/policyId/u", "/attributes/x/u", "/attributes/y/z/u",
			"/features/f/definition/u", "/features/f/properties/p/u", "/features/f/properties/q/r/u",
			"/features/f/desiredProperties/p/u", "/features/g/properties/p/u"}, false},
		{"attributes", "/", "attributes/*/u", thing, []string{"/attributes/x/u", "/attributes/y/u"}, false},
		{"all properties", "/", "features/*/properties/*/u", thing, []string{
			"/features/f/properties/p/u", "/features/f/properties/q/u", "/features/g/properties/p/u"}, false},
		{"one property of all features", "/", "features/*/properties/p/u", thing, []string{
			"/features/f/properties/p/u", "/features/g/properties/p/u"}, false},
		{"all properties of one feature", "/", "features/f/desiredProperties/*/u", thing, []string{
			"/features/f/desiredProperties/p/u"}, false},
		{"feature definitions", "/", "features/*/definition/u", thing, []string{
			"/features/f/definition/u", "/features/g/definition/u"}, false},
		{"features level", "/features", "*/properties/*/u", jsonv.MustParse(`{"f":{"properties":{"p":1}}}`),
			[]string{"/f/properties/p/u"}, false},
		{"feature level", "/features/f", "properties/*/u", jsonv.MustParse(`{"properties":{"p":1,"q":2}}`),
			[]string{"/properties/p/u", "/properties/q/u"}, false},
		{"leaf of a scalar", "/attributes/x", "*/u", jsonv.Int(1), []string{"/u"}, false},
		{"leaves of an object", "/attributes", "*/u/v", jsonv.MustParse(`{"a":1,"b":{"c":2}}`),
			[]string{"/a/u/v", "/b/c/u/v"}, false},
		{"two wildcards in a row", "/", "*/*/u", thing, nil, true},
		{"key starting with a star", "/", "attributes/*/*u", thing, nil, true},
		{"attributes form below the root", "/attributes", "x/*/u", thing, nil, true},
		{"leaf form at the features level", "/features", "*/u", thing, nil, true},
		{"features form at the feature level", "/features/f", "*/properties/p/u", thing, nil, true},
		{"unknown form at the root", "/", "definition/*/u", thing, nil, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, err := expandMetadataKey(jsonv.MustParsePointer(c.path), c.value, jsonv.MustParsePointer(c.key), protocol.HeaderPutMetadata)
			if c.invalid {
				if !errors.Is(err, &protocol.Error{Code: protocol.CodeHeaderInvalid}) {
					t.Fatalf("err %v, want header.invalid", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, p := range got {
				keys = append(keys, p.String())
			}
			if !slices.Equal(keys, c.want) {
				t.Errorf("got %q, want %q", keys, c.want)
			}
		})
	}
}

// The metadata an event leaves: set at its path, kept by events without
// metadata, deleted with the values it describes.
func TestChangeMetadataTo(t *testing.T) {
	t.Parallel()
	meta := jsonv.MustParse(`{"attributes":{"a":{"u":1},"b":{"u":2}}}`)
	for _, c := range []struct {
		name string
		ch   entity.Change
		want string
	}{
		{"no metadata keeps it", entity.Change{Action: entity.ActionModified, Path: jsonv.Pointer{"attributes", "a"}, Value: jsonv.Int(1)},
			`{"attributes":{"a":{"u":1},"b":{"u":2}}}`},
		{"set at the path", entity.Change{Action: entity.ActionModified, Path: jsonv.Pointer{"attributes", "a"}, Value: jsonv.Int(1), Metadata: jsonv.MustParse(`{"v":3}`)},
			`{"attributes":{"a":{"v":3},"b":{"u":2}}}`},
		{"empty deletes", entity.Change{Action: entity.ActionModified, Path: jsonv.Pointer{"attributes", "a"}, Value: jsonv.Int(1), Metadata: jsonv.Object()},
			`{"attributes":{"b":{"u":2}}}`},
		{"deletion cascades", entity.Change{Action: entity.ActionDeleted, Path: jsonv.Pointer{"attributes", "b"}},
			`{"attributes":{"a":{"u":1}}}`},
		{"deletion of the parent", entity.Change{Action: entity.ActionDeleted, Path: jsonv.Pointer{"attributes"}}, `null`},
		{"merge null cascades", entity.Change{Action: entity.ActionMerged, Path: nil, Value: jsonv.MustParse(`{"attributes":{"a":null,"b":5}}`)},
			`{"attributes":{"b":{"u":2}}}`},
		{"thing deleted", entity.Change{Action: entity.ActionDeleted, Path: nil}, `null`},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := c.ch.MetadataTo(meta); !got.Equal(jsonv.MustParse(c.want)) {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

// FuzzMetadataHeader: the put-metadata parser and the wildcard resolver
// never panic, accept only well-formed headers, and expand every key they
// accept to keys without a wildcard form.
func FuzzMetadataHeader(f *testing.F) {
	for _, s := range []string{
		``, `[]`, `[{"key":"*/u","value":1}]`, `[{"key":"attributes/*/u","value":{"a":[1]}}]`,
		`[{"key":"features/*/properties/*/u","value":null}]`, `[{"key":"features/f/properties/*/u","value":1}]`,
		`[{"key":"*/*/u","value":1}]`, `[{"key":"a//b","value":1}]`, `[{"key":""}]`, `{`, `[1,2`,
	} {
		f.Add(s, "/")
		f.Add(s, "/features")
		f.Add(s, "/features/f")
		f.Add(s, "/attributes/x")
	}
	thing := jsonv.MustParse(`{"thingId":"a:b","attributes":{"x":1,"*":{"z":2}},"features":{"f":{"properties":{"p":1}}}}`)
	f.Fuzz(func(t *testing.T, header, path string) {
		entries, err := parsePutMetadata(header)
		if err != nil {
			if !errors.Is(err, &protocol.Error{Code: protocol.CodeHeaderInvalid}) {
				t.Fatalf("parse %q: %v, want header.invalid", header, err)
			}
			return
		}
		if _, err := jsonv.ParseString(header); header != "" && err != nil {
			t.Fatalf("accepted %q, which is not JSON", header)
		}
		p, err := jsonv.ParsePointer(path)
		if err != nil {
			return
		}
		value, _ := thing.At(p)
		for _, e := range entries {
			if e.key.IsRoot() {
				t.Fatalf("accepted the empty key in %q", header)
			}
			keys, err := expandMetadataKey(p, value, e.key, protocol.HeaderPutMetadata)
			if err != nil {
				if !errors.Is(err, &protocol.Error{Code: protocol.CodeHeaderInvalid}) {
					t.Fatalf("expand %q at %q: %v, want header.invalid", e.key, path, err)
				}
				continue
			}
			for _, k := range keys {
				if k.IsRoot() {
					t.Fatalf("expand %q at %q: the root", e.key, path)
				}
				if hasWildcard(e.key) && k.Equal(e.key) && hasWildcard(k) {
					// The thing's attribute "*" may produce a "*" segment
					// from data; only a key the form left unexpanded is
					// wrong.
					if _, ok := thing.At(p.Append(k[:len(k)-1]...)); !ok {
						t.Fatalf("expand %q at %q: left unexpanded", e.key, path)
					}
				}
			}
		}
	})
}
