package things

import (
	"errors"
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

func TestParseResource(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path    string
		kind    kind
		feature string
		sub     string
	}{
		{"/", kThing, "", "/"},
		{"", kThing, "", "/"},
		{"/policyId", kPolicyID, "", "/"},
		{"/definition", kDefinition, "", "/"},
		{"/attributes", kAttributes, "", "/"},
		{"/attributes/location", kAttribute, "", "/location"},
		{"/attributes/location/latitude", kAttribute, "", "/location/latitude"},
		{"/features", kFeatures, "", "/"},
		{"/features/f1", kFeature, "f1", "/"},
		{"/features/f1/definition", kFeatureDefinition, "f1", "/"},
		{"/features/f1/properties", kProperties, "f1", "/"},
		{"/features/f1/properties/a/b", kProperty, "f1", "/a/b"},
		{"/features/f1/desiredProperties", kDesiredProperties, "f1", "/"},
		{"/features/f1/desiredProperties/x", kDesiredProperty, "f1", "/x"},
		{"/features/policyId", kFeature, "policyId", "/"},
	}
	for _, tc := range tests {
		r, err := parseResource(tc.path)
		if err != nil {
			t.Errorf("parseResource(%q): %v", tc.path, err)
			continue
		}
		if r.kind != tc.kind || r.feature != tc.feature || r.sub.String() != tc.sub {
			t.Errorf("parseResource(%q) = kind %d feature %q sub %q; want %d %q %q", tc.path, r.kind, r.feature, r.sub, tc.kind, tc.feature, tc.sub)
		}
	}
}

func TestParseResourceRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path string
		code string
	}{
		{"/thingId", protocol.CodePathUnknown},
		{"/policyId/x", protocol.CodePathUnknown},
		{"/definition/x", protocol.CodePathUnknown},
		{"/features/f1/other", protocol.CodePathUnknown},
		{"/features/f1/definition/x", protocol.CodePathUnknown},
		{"/unknown", protocol.CodePathUnknown},
		{"/attributes//x", "json.pointer.invalid"},
		{"/attributes/a\x01b", protocol.CodeJSONKeyInvalid},
		{"/features/f\x7f/properties", protocol.CodeJSONKeyInvalid},
	}
	for _, tc := range tests {
		_, err := parseResource(tc.path)
		var perr *protocol.Error
		if !errors.As(err, &perr) || perr.Code != tc.code {
			t.Errorf("parseResource(%q) = %v, want code %s", tc.path, err, tc.code)
		}
	}
}

func FuzzParseResource(f *testing.F) {
	for _, s := range []string{"/", "/attributes/a/b", "/features/x/properties/y", "/features/x/desiredProperties", "//", "/features/~0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r, err := parseResource(path)
		if err != nil {
			if protocol.AsError(err) == nil {
				t.Fatalf("parseResource(%q) error %v is not a Ditto error", path, err)
			}
			return
		}
		// The resource's path re-parses to the same resource.
		r2, err := parseResource(r.path.String())
		if err != nil || r2.kind != r.kind || r2.feature != r.feature || r2.sub.String() != r.sub.String() {
			t.Fatalf("%q -> %q does not round-trip: %v", path, r.path, err)
		}
	})
}
