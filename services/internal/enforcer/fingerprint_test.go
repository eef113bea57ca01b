package enforcer

import (
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// TestReadersFingerprint checks that a fingerprint names what Readers say:
// the same across compilations, different for other entries, another
// namespace or another set of expired subjects.
func TestReadersFingerprint(t *testing.T) {
	t.Parallel()
	const policy = `{"entries":{"A":{"subjects":{"nginx:a":{"type":"t"},"nginx:b":{"type":"t","expiry":"2030-01-01T00:00:00Z"}},
	  "resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`
	compile := func(s string) *Enforcer {
		e, err := Compile(jsonv.MustParse(s))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	before := time.Date(2029, 1, 1, 0, 0, 0, 0, time.UTC)
	after := time.Date(2031, 1, 1, 0, 0, 0, 0, time.UTC)
	a := compile(policy).Readers("ns", before).Fingerprint()
	if b := compile(policy).Readers("ns", before).Fingerprint(); a != b {
		t.Errorf("same policy compiled twice: fingerprints %x and %x", a, b)
	}
	if b := compile(policy).Readers("ns", before.Add(time.Hour)).Fingerprint(); a != b {
		t.Errorf("same policy, same subjects live, later: fingerprints %x and %x", a, b)
	}
	other := map[string]uint64{
		"another namespace": compile(policy).Readers("other", before).Fingerprint(),
		"a subject expired": compile(policy).Readers("ns", after).Fingerprint(),
		"other entries": compile(`{"entries":{"A":{"subjects":{"nginx:a":{"type":"t"}},
		  "resources":{"thing:/":{"grant":["READ"],"revoke":[]},"thing:/attributes":{"grant":[],"revoke":["READ"]}}}}}`).Readers("ns", before).Fingerprint(),
	}
	for name, f := range other {
		if f == a {
			t.Errorf("%s: fingerprint %x, want one other than %x", name, f, a)
		}
	}
}
