package policies

import (
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/etag"
)

// FuzzParseRoute checks that the path router never panics, answers only
// Ditto errors, and that what it accepts is consistent: the key is one
// segment of the document pointer and the permission path is the command
// path read as a pointer.
func FuzzParseRoute(f *testing.F) {
	for _, s := range []string{
		"/", "/entries", "/entries/l", "/entries/l/subjects/google:user@x",
		"/entries/l/resources/thing:/features/x", "/entries/l/resources/thing:",
		"/entries/l/subjects/https://iss:sub", "/imports/a:b", "/entries/l/namespaces",
		"/entries/imported", "/entries/l/resources/a~0b:/c~0d", "/entries//x", "/x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r, err := parseRoute(path)
		if err != nil {
			if protocol.AsError(err) == nil {
				t.Fatalf("parseRoute(%q): non-Ditto error %v", path, err)
			}
			return
		}
		switch r.kind {
		case routeSubject, routeResource:
			if got := r.doc[len(r.doc)-1]; got != r.key {
				t.Fatalf("parseRoute(%q): doc pointer ends in %q, want key %q", path, got, r.key)
			}
			if r.kind == routeResource {
				if again, err := normalizeResourceKey(r.key); err != nil || again != r.key {
					t.Fatalf("parseRoute(%q): key %q not normalised (%q, %v)", path, r.key, again, err)
				}
			}
		case routeUnsupported:
			return
		}
		if r.kind != routePolicy && r.kind != routeEntries && r.kind != routeImports && r.kind != routeImport && r.kind != routeImportField {
			if err := validateLabel(r.label); err != nil {
				t.Fatalf("parseRoute(%q): accepted invalid label %q", path, r.label)
			}
		}
		if len(r.auth) < len(r.doc)-1 || !r.auth[:min(len(r.auth), 3)].Equal(r.doc[:min(len(r.doc), 3)]) {
			t.Fatalf("parseRoute(%q): auth %v and doc %v disagree", path, r.auth, r.doc)
		}
	})
}

// FuzzNormalizePolicy checks that any JSON either is refused with a Ditto
// error or yields a canonical policy that is a fixed point: normalising it
// again changes nothing, and its lockout decision and tag are stable.
func FuzzNormalizePolicy(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"policyId":"ns:p","entries":{"l":{"subjects":{"a:b":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}}}}}`,
		`{"entries":{"l":{"subjects":{"a:b":{"type":"t","expiry":"2099-01-01T00:00:00.5Z"}},"resources":{"thing:x":{"grant":[],"revoke":[]}}}}}`,
		`{"entries":{"l":{"namespaces":["a.*"],"importable":"never","allowedAdditions":["subjects"]}}}`,
		`{"entries":{"__schemaVersion":2,"l":{"resources":{"thing:/a~0b":{"grant":[1,"A"],"revoke":["A","A"]}}}}}`,
		`[]`, `{"entries":[]}`, `{"imports":{"x:y":{}}}`,
		`{"imports":{"x:y":{"entries":["a",1,"a"],"transitiveImports":["u:v"]},"p:q":{"entries":[]}}}`,
		`{"entries":{"l":{"references":[{"entry":"m"},{"import":"x:y","entry":"n"}]},"m":{}}}`,
	} {
		f.Add(s)
	}
	n := normalizer{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), granularity: time.Hour, maxImports: 10}
	f.Fuzz(func(t *testing.T, in string) {
		v, err := jsonv.ParseString(in)
		if err != nil {
			return
		}
		got, err := n.policy(v, "ns:p")
		if err != nil {
			if protocol.AsError(err) == nil {
				t.Fatalf("policy(%s): non-Ditto error %v", in, err)
			}
			return
		}
		again, err := n.policy(got, "ns:p")
		if err != nil {
			t.Fatalf("canonical policy %s refused: %v", got, err)
		}
		if a, b := got.String(), again.String(); a != b {
			t.Fatalf("not a fixed point:\n%s\n%s", a, b)
		}
		_, ok1 := lockoutReason(got)
		_, ok2 := lockoutReason(again)
		if ok1 != ok2 || etag.Value(got) != etag.Value(again) {
			t.Fatalf("decision or tag unstable for %s", got)
		}
		if strings.Contains(got.String(), schemaVersionKey) {
			t.Fatalf("schema version kept in %s", got)
		}
	})
}

// FuzzNormalizeAnnouncement checks the subject announcement parser: it
// never panics, refuses only with Ditto errors, and what it accepts is a
// fixed point (the canonical form reads back to itself, granularity
// applied once) that parseAnnouncement reads without loss.
func FuzzNormalizeAnnouncement(f *testing.F) {
	for _, s := range []string{
		`{}`, `{"beforeExpiry":"1h","whenDeleted":true}`, `{"beforeExpiry":"30s"}`, `{"beforeExpiry":"3600"}`,
		`{"requestedAcks":{"labels":["a:b","{{connection:id}}:x"],"timeout":"10s"},"randomizationInterval":"5m"}`,
		`{"beforeExpiry":"-1s"}`, `{"beforeExpiry":"1d"}`, `{"beforeExpiry":"+5m"}`, `{"requestedAcks":[]}`,
		`{"beforeExpiry":"99999999999999999999h"}`, `{"whenDeleted":null}`,
	} {
		f.Add(s, int64(time.Minute))
	}
	f.Fuzz(func(t *testing.T, in string, granularity int64) {
		v, err := jsonv.Parse([]byte(in))
		if err != nil || v.Kind() != jsonv.KindObject {
			return
		}
		g := time.Duration(granularity)
		if g < 0 {
			g = -g
		}
		out, err := normalizeAnnouncement(v, g)
		if err != nil {
			if protocol.AsError(err) == nil {
				t.Fatalf("%s: non-Ditto error %v", in, err)
			}
			return
		}
		again, err := normalizeAnnouncement(out, g)
		if err != nil || !again.Equal(out) {
			t.Fatalf("%s: canonical %s reads back as %s, %v", in, out, again, err)
		}
		a := parseAnnouncement(out)
		if _, has := out.Get(fieldBeforeExpiry); has != a.hasBefore || (a.hasBefore && a.before <= 0) {
			t.Fatalf("%s: canonical %s parsed as %+v", in, out, a)
		}
	})
}
