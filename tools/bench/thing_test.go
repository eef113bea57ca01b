package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestAppendThing(t *testing.T) {
	t.Parallel()
	// The brief's "about 500 bytes": what a small device twin weighs, and
	// what the budget in DESIGN.md assumes. The ids add about 90 bytes to
	// what the platform answers.
	tests := []struct {
		name     string
		i        int
		withIDs  bool
		min, max int
	}{
		{"first", 0, false, 450, 580},
		{"large index", 99999, false, 450, 580},
		{"huge index", 123456789, false, 450, 580},
		{"with ids", 42, true, 530, 680},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := appendThing(nil, "org.dittonats.bench", tt.i, tt.withIDs)
			if n := len(b); n < tt.min || n > tt.max {
				t.Errorf("body is %d bytes, want %d..%d: %s", n, tt.min, tt.max, b)
			}
			var thing struct {
				ThingID    string                     `json:"thingId"`
				PolicyID   string                     `json:"policyId"`
				Attributes map[string]any             `json:"attributes"`
				Features   map[string]json.RawMessage `json:"features"`
			}
			if err := json.Unmarshal(b, &thing); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, b)
			}
			if got := len(thing.Features); got < 2 || got > 3 {
				t.Errorf("%d features, want 2..3", got)
			}
			if _, ok := thing.Features[benchFeature]; !ok {
				t.Errorf("feature %q missing; MODIFY_THINGS writes it", benchFeature)
			}
			if len(thing.Attributes) == 0 {
				t.Error("no attributes")
			}
			wantID := ""
			if tt.withIDs {
				wantID = thingID("org.dittonats.bench", tt.i)
			}
			if thing.ThingID != wantID || thing.PolicyID != wantID {
				t.Errorf("thingId, policyId = %q, %q, want %q for both", thing.ThingID, thing.PolicyID, wantID)
			}
		})
	}
}

func TestAppendThingVaries(t *testing.T) {
	t.Parallel()
	a := string(appendThing(nil, "ns", 1, false))
	b := string(appendThing(nil, "ns", 2, false))
	if a == b {
		t.Errorf("things 1 and 2 have the same body %s", a)
	}
}

func TestCorpus(t *testing.T) {
	t.Parallel()
	c := newCorpus("org.dittonats.bench", 3)
	tests := []struct {
		name, got, want string
	}{
		{"thing path", c.thing[2], "/api/2/things/org.dittonats.bench:bench-2"},
		{"property path", c.property[0], "/api/2/things/org.dittonats.bench:bench-0/features/coffee-brewer/properties/brewed-coffees"},
		{"first value", string(c.values[0]), "10000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
	for i, v := range c.values {
		var n int
		if err := json.Unmarshal(v, &n); err != nil {
			t.Fatalf("value %d %q is not a JSON number: %v", i, v, err)
		}
		if i > 0 && strings.Compare(string(v), string(c.values[i-1])) == 0 {
			t.Fatalf("values %d and %d are equal", i-1, i)
		}
	}
}
