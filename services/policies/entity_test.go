package policies

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/internal/etag"
)

// code is a sentinel matching every *protocol.Error with the given code.
func code(c string) error { return &protocol.Error{Code: c} }

func wantErrCode(t *testing.T, err error, want string) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("error %v, want none", err)
		}
		return
	}
	if !errors.Is(err, code(want)) {
		t.Fatalf("error %v, want code %s", err, want)
	}
}

var testNow = time.Date(2026, 3, 14, 10, 30, 0, 0, time.UTC)

func TestNormalizePolicy(t *testing.T) {
	t.Parallel()
	n := normalizer{now: testNow, granularity: time.Hour, maxImports: 10}
	const id = "org.eclipse.ditto:p1"
	long := strings.Repeat("x", 257)
	tests := []struct {
		name string
		in   string
		want string // compact canonical JSON when no error
		code string
	}{
		{
			name: "canonical form, schema version and unknown fields dropped, keys normalised",
			in: `{"policyId":"org.eclipse.ditto:p1","foo":1,"_revision":7,"imports":{},"entries":{"__schemaVersion":2,"l":{
				"__schemaVersion":2,"extra":true,
				"resources":{"__schemaVersion":2,"thing:a/b":{"revoke":[],"grant":["READ","READ",1,"WRITE"],"x":1},"policy:":{"grant":["WRITE"],"revoke":["X"]}},
				"subjects":{"__schemaVersion":2,"nginx:ditto":{"type":"t","expiry":"2026-03-14T11:00:00.5+01:00","other":1}}}}}`,
			want: `{"policyId":"org.eclipse.ditto:p1","imports":{},"entries":{"l":{"subjects":{"nginx:ditto":{"type":"t","expiry":"2026-03-14T11:00:00Z"}},` +
				`"resources":{"thing:/a/b":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["WRITE"],"revoke":["X"]}}}}}`,
		},
		{
			name: "policyId absent, entries absent",
			in:   `{}`,
			want: `{"policyId":"org.eclipse.ditto:p1","imports":{},"entries":{}}`,
		},
		{
			name: "optional entry fields kept, repeats dropped",
			in:   `{"entries":{"l":{"namespaces":["com.acme","com.acme.*","com.acme"],"importable":"never","allowedAdditions":["subjects","subjects"],"references":[]}}}`,
			want: `{"policyId":"org.eclipse.ditto:p1","imports":{},"entries":{"l":{"subjects":{},"resources":{},"namespaces":["com.acme","com.acme.*"],"importable":"never","allowedAdditions":["subjects"]}}}`,
		},
		{name: "not an object", in: `[1]`, code: protocol.CodeJSONInvalid},
		{name: "policyId differs", in: `{"policyId":"org.eclipse.ditto:other"}`, code: protocol.CodePolicyIDNotSettable},
		{name: "policyId not a string", in: `{"policyId":1}`, code: protocol.CodePolicyIDNotSettable},
		{name: "imports declared", in: `{"imports":{"a:b":{},"c:d":{"entries":["X","X",1],"transitiveImports":["e:f"]},"g:h":{"entries":[],"transitiveImports":[]}}}`,
			want: `{"policyId":"org.eclipse.ditto:p1","imports":{"a:b":{},"c:d":{"entries":["X"],"transitiveImports":["e:f"]},"g:h":{"entries":[]}},"entries":{}}`},
		{name: "import of itself", in: `{"imports":{"org.eclipse.ditto:p1":{}}}`, code: protocol.CodePolicyImportInvalid},
		{name: "transitive import of itself", in: `{"imports":{"a:b":{"transitiveImports":["org.eclipse.ditto:p1"]}}}`, code: protocol.CodePolicyImportInvalid},
		{name: "transitive import not a string", in: `{"imports":{"a:b":{"transitiveImports":[1]}}}`, code: protocol.CodePolicyImportInvalid},
		{name: "import of an invalid id", in: `{"imports":{"nonamespace":{}}}`, code: protocol.CodePolicyIDInvalid},
		{name: "import not an object", in: `{"imports":{"a:b":1}}`, code: protocol.CodeJSONInvalid},
		{name: "too many imports", in: `{"imports":{"a:1":{},"a:2":{},"a:3":{},"a:4":{},"a:5":{},"a:6":{},"a:7":{},"a:8":{},"a:9":{},"a:10":{},"a:11":{}}}`, code: "policies:imports.toolarge"},
		{name: "imports not an object", in: `{"imports":1}`, code: protocol.CodeJSONInvalid},
		{name: "entries not an object", in: `{"entries":[]}`, code: protocol.CodeJSONInvalid},
		{name: "entry not an object", in: `{"entries":{"l":1}}`, code: protocol.CodeJSONInvalid},
		{name: "label with reserved prefix", in: `{"entries":{"imported-x":{}}}`, code: protocol.CodePolicyLabelInvalid},
		{name: "label with ns reserved prefix", in: `{"entries":{"nsimportedx":{}}}`, code: protocol.CodePolicyLabelInvalid},
		{name: "label with slash", in: `{"entries":{"a/b":{}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "label with control character", in: `{"entries":{"a\u0007":{}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "label with latin-1 character", in: `{"entries":{"caf\u00e9":{}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "label too long", in: `{"entries":{"` + long + `":{}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "subjects not an object", in: `{"entries":{"l":{"subjects":[]}}}`, code: protocol.CodeJSONInvalid},
		{name: "subject not an object", in: `{"entries":{"l":{"subjects":{"a:b":"x"}}}}`, code: protocol.CodeJSONInvalid},
		{name: "subject type missing", in: `{"entries":{"l":{"subjects":{"a:b":{}}}}}`, code: protocol.CodeJSONFieldMissing},
		{name: "subject type not a string", in: `{"entries":{"l":{"subjects":{"a:b":{"type":1}}}}}`, code: protocol.CodeJSONInvalid},
		{name: "subject expiry not a timestamp", in: `{"entries":{"l":{"subjects":{"a:b":{"type":"t","expiry":"tomorrow"}}}}}`, code: protocol.CodePolicySubjectExpiryInvalid},
		{name: "subject expiry in the past", in: `{"entries":{"l":{"subjects":{"a:b":{"type":"t","expiry":"2026-03-14T08:00:00Z"}}}}}`, code: protocol.CodePolicySubjectExpiryInvalid},
		{name: "subject announcement not an object", in: `{"entries":{"l":{"subjects":{"a:b":{"type":"t","announcement":1}}}}}`, code: protocol.CodeJSONInvalid},
		{name: "subject id without issuer", in: `{"entries":{"l":{"subjects":{"ditto":{"type":"t"}}}}}`, code: protocol.CodePolicySubjectIDInvalid},
		{name: "subject id with empty subject", in: `{"entries":{"l":{"subjects":{"nginx:":{"type":"t"}}}}}`, code: protocol.CodePolicySubjectIDInvalid},
		{name: "subject id with control character", in: `{"entries":{"l":{"subjects":{"nginx:a\u0001":{"type":"t"}}}}}`, code: protocol.CodePolicySubjectIDInvalid},
		{name: "resources not an object", in: `{"entries":{"l":{"resources":1}}}`, code: protocol.CodeJSONInvalid},
		{name: "resource key without type", in: `{"entries":{"l":{"resources":{"/a":{"grant":[],"revoke":[]}}}}}`, code: protocol.CodeJSONInvalid},
		{name: "resource key with empty type", in: `{"entries":{"l":{"resources":{":/a":{"grant":[],"revoke":[]}}}}}`, code: protocol.CodeJSONInvalid},
		{name: "resource key with control character", in: `{"entries":{"l":{"resources":{"thing:/\u0001":{"grant":[],"revoke":[]}}}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "resource key with double slash", in: `{"entries":{"l":{"resources":{"thing:/a//b":{"grant":[],"revoke":[]}}}}}`, code: protocol.CodeJSONPointerInvalid},
		{name: "resource not an object", in: `{"entries":{"l":{"resources":{"thing:/":["READ"]}}}}`, code: protocol.CodeJSONInvalid},
		{name: "grant missing", in: `{"entries":{"l":{"resources":{"thing:/":{"revoke":[]}}}}}`, code: protocol.CodeJSONFieldMissing},
		{name: "revoke missing", in: `{"entries":{"l":{"resources":{"thing:/":{"grant":[]}}}}}`, code: protocol.CodeJSONFieldMissing},
		{name: "grant not an array", in: `{"entries":{"l":{"resources":{"thing:/":{"grant":"READ","revoke":[]}}}}}`, code: protocol.CodeJSONInvalid},
		{name: "namespaces not an array", in: `{"entries":{"l":{"namespaces":"a"}}}`, code: protocol.CodeJSONInvalid},
		{name: "namespaces with a number", in: `{"entries":{"l":{"namespaces":[1]}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "namespaces with a bad pattern", in: `{"entries":{"l":{"namespaces":["com.*.x"]}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "namespaces with a bare wildcard", in: `{"entries":{"l":{"namespaces":[".*"]}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "importable unknown", in: `{"entries":{"l":{"importable":"always"}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "importable not a string", in: `{"entries":{"l":{"importable":true}}}`, code: protocol.CodeJSONInvalid},
		{name: "allowedAdditions unknown", in: `{"entries":{"l":{"allowedAdditions":["imports"]}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "allowedAdditions with a number", in: `{"entries":{"l":{"allowedAdditions":[1]}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "references declared", in: `{"entries":{"l":{"references":[{"entry":"x"},{"import":"a:b","entry":"y"}]}}}`,
			want: `{"policyId":"org.eclipse.ditto:p1","imports":{},"entries":{"l":{"subjects":{},"resources":{},"references":[{"entry":"x"},{"import":"a:b","entry":"y"}]}}}`},
		{name: "reference without entry", in: `{"entries":{"l":{"references":[{"import":"a:b"}]}}}`, code: protocol.CodeJSONFieldMissing},
		{name: "reference not an object", in: `{"entries":{"l":{"references":["x"]}}}`, code: protocol.CodePolicyEntryInvalid},
		{name: "references not an array", in: `{"entries":{"l":{"references":{}}}}`, code: protocol.CodeJSONInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := n.policy(jsonv.MustParse(tt.in), id)
			wantErrCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if s := got.String(); s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

func TestValidateSubjectID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		id    string
		valid bool
	}{
		{"nginx:ditto", true},
		{"google:user@x", true},
		{":subject", true}, // Ditto allows an empty issuer
		{"a:b:c", true},
		{"https://issuer.example:sub", true},
		{"integration:{{policy-entry:label}}", true},
		{"{{ request:subjectId }}", true},
		{"", false},
		{"ditto", false},
		{"nginx:", false},
		{"https://issuer.example", false},
		{"nginx:\u00e9", false},
		{"nginx:" + strings.Repeat("a", 251), false},
		{"nginx:" + strings.Repeat("a", 250), true},
	}
	for _, tt := range tests {
		t.Run(tt.id, func(t *testing.T) {
			t.Parallel()
			err := validateSubjectID(tt.id)
			if got := err == nil; got != tt.valid {
				t.Fatalf("valid = %v (%v), want %v", got, err, tt.valid)
			}
			if err != nil && !errors.Is(err, code(protocol.CodePolicySubjectIDInvalid)) {
				t.Errorf("error %v, want %s", err, protocol.CodePolicySubjectIDInvalid)
			}
		})
	}
}

func TestNormalizeResourceKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want, code string
	}{
		{in: "thing:/", want: "thing:/"},
		{in: "thing:", want: "thing:/"},
		{in: "thing:/features/x/", want: "thing:/features/x"},
		{in: "thing:features", want: "thing:/features"},
		{in: "message:/inbox/a~0b", want: "message:/inbox/a~0b"},
		{in: "a:b:c", want: "a:/b:c"},
		{in: "", code: protocol.CodeJSONInvalid},
		{in: "thing", code: protocol.CodeJSONInvalid},
		{in: ":/a", code: protocol.CodeJSONInvalid},
		{in: "thing://a", code: protocol.CodeJSONPointerInvalid},
		{in: "thing:/\u007f", code: protocol.CodePolicyEntryInvalid},
		{in: "thing:/" + strings.Repeat("a", 250), code: protocol.CodePolicyEntryInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := normalizeResourceKey(tt.in)
			wantErrCode(t, err, tt.code)
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLockoutReason(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		policy string
		valid  bool
	}{
		{"write granted", `{"entries":{"a":{"subjects":{"x:y":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}}}}}`, true},
		{"no entries", `{"entries":{}}`, false},
		{"only read", `{"entries":{"a":{"subjects":{"x:y":{"type":"t"}},"resources":{"policy:/":{"grant":["READ"],"revoke":[]}}}}}`, false},
		{"write below root only", `{"entries":{"a":{"subjects":{"x:y":{"type":"t"}},"resources":{"policy:/entries":{"grant":["WRITE"],"revoke":[]}}}}}`, false},
		{"no subjects", `{"entries":{"a":{"subjects":{},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}}}}}`, false},
		{"only expiring subjects", `{"entries":{"a":{"subjects":{"x:y":{"type":"t","expiry":"2099-01-01T00:00:00Z"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}}}}}`, false},
		{"revoked in the same entry", `{"entries":{"a":{"subjects":{"x:y":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":["WRITE"]}}}}}`, false},
		{"revoked in another entry", `{"entries":{"a":{"subjects":{"x:y":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}}},"b":{"subjects":{"x:y":{"type":"other"}},"resources":{"policy:/":{"grant":[],"revoke":["WRITE"]}}}}}`, false},
		{"one of two revoked", `{"entries":{"a":{"subjects":{"x:y":{"type":"t"},"x:z":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}}},"b":{"subjects":{"x:y":{"type":"t"}},"resources":{"policy:/":{"grant":[],"revoke":["WRITE"]}}}}}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			reason, ok := lockoutReason(jsonv.MustParse(tt.policy))
			if ok != tt.valid {
				t.Fatalf("valid = %v (%q), want %v", ok, reason, tt.valid)
			}
			if !ok && reason == "" {
				t.Error("invalid without a reason")
			}
		})
	}
}

func TestRoundExpiry(t *testing.T) {
	t.Parallel()
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name string
		in   string
		g    time.Duration
		want string
	}{
		{"hour rounds up", "2026-03-14T10:30:00Z", time.Hour, "2026-03-14T11:00:00Z"},
		{"exact hour stays", "2026-03-14T10:00:00Z", time.Hour, "2026-03-14T10:00:00Z"},
		{"nanosecond past the hour", "2026-03-14T10:00:00.000000001Z", time.Hour, "2026-03-14T11:00:00Z"},
		{"two hours from midnight", "2026-03-14T11:00:00Z", 2 * time.Hour, "2026-03-14T12:00:00Z"},
		{"two hours, odd hour past", "2026-03-14T12:10:00Z", 2 * time.Hour, "2026-03-14T14:00:00Z"},
		{"minutes ignored below hours", "2026-03-14T10:10:00Z", 90 * time.Minute, "2026-03-14T11:00:00Z"},
		{"ten seconds", "2026-03-14T10:00:03Z", 10 * time.Second, "2026-03-14T10:00:10Z"},
		{"one day counts from the month", "2026-03-14T10:00:00Z", 24 * time.Hour, "2026-03-15T00:00:00Z"},
		{"seven days from the month", "2026-03-09T10:00:00Z", 7 * 24 * time.Hour, "2026-03-15T00:00:00Z"},
		{"milliseconds", "2026-03-14T10:00:00.0015Z", time.Millisecond, "2026-03-14T10:00:00.002Z"},
		{"zero keeps it", "2026-03-14T10:00:00.123Z", 0, "2026-03-14T10:00:00.123Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := roundExpiry(at(tt.in), tt.g); !got.Equal(at(tt.want)) {
				t.Errorf("got %s, want %s", got.Format(time.RFC3339Nano), tt.want)
			}
		})
	}
}

func TestFormatInstant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ns   int
		want string
	}{
		{0, "2026-03-14T10:00:00Z"},
		{5_000_000, "2026-03-14T10:00:00.005Z"},
		{5_000, "2026-03-14T10:00:00.000005Z"},
		{5, "2026-03-14T10:00:00.000000005Z"},
	}
	for _, tt := range tests {
		if got := protocol.FormatInstant(time.Date(2026, 3, 14, 11, 0, 0, tt.ns, time.FixedZone("x", 3600))); got != tt.want {
			t.Errorf("protocol.FormatInstant(%dns) = %s, want %s", tt.ns, got, tt.want)
		}
	}
}

func TestCheckPreconditions(t *testing.T) {
	t.Parallel()
	const cur = `"rev:3"`
	tests := []struct {
		name     string
		headers  protocol.Headers
		current  string
		query    bool
		del      bool
		wantCode string
	}{
		{name: "none", headers: nil, current: cur},
		{name: "if-match equal", headers: protocol.Headers{"if-match": cur}, current: cur},
		{name: "if-match in list", headers: protocol.Headers{"if-match": `"rev:1" , "rev:3"`}, current: cur},
		{name: "if-match star", headers: protocol.Headers{"if-match": "*"}, current: cur},
		{name: "if-match differs", headers: protocol.Headers{"if-match": `"rev:2"`}, current: cur, wantCode: protocol.CodePolicyPreconditionFailed},
		{name: "if-match weak never matches", headers: protocol.Headers{"if-match": `W/"rev:3"`}, current: cur, wantCode: protocol.CodePolicyPreconditionFailed},
		{name: "if-match star on missing", headers: protocol.Headers{"if-match": "*"}, current: "", wantCode: protocol.CodePolicyPreconditionFailed},
		{name: "if-match on missing query skipped", headers: protocol.Headers{"if-match": "*"}, current: "", query: true},
		{name: "if-match on missing delete skipped", headers: protocol.Headers{"if-match": "*"}, current: "", del: true},
		{name: "if-none-match star on missing", headers: protocol.Headers{"if-none-match": "*"}, current: ""},
		{name: "if-none-match star on existing", headers: protocol.Headers{"if-none-match": "*"}, current: cur, wantCode: protocol.CodePolicyPreconditionFailed},
		{name: "if-none-match equal on query", headers: protocol.Headers{"if-none-match": cur}, current: cur, query: true, wantCode: protocol.CodePolicyPreconditionNotModified},
		{name: "if-none-match differs on query", headers: protocol.Headers{"if-none-match": `"rev:2"`}, current: cur, query: true},
		{name: "if-none-match equal on delete", headers: protocol.Headers{"if-none-match": cur}, current: cur, del: true, wantCode: protocol.CodePolicyPreconditionFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := checkPreconditions(tt.headers, tt.current, tt.query, tt.del)
			wantErrCode(t, err, tt.wantCode)
			var perr *protocol.Error
			if errors.As(err, &perr) && tt.wantCode == protocol.CodePolicyPreconditionNotModified && perr.Status != 304 {
				t.Errorf("status %d, want 304", perr.Status)
			}
		})
	}
}

func TestValueTag(t *testing.T) {
	t.Parallel()
	a := etag.Value(jsonv.MustParse(`{"grant":["READ"],"revoke":[]}`))
	b := etag.Value(jsonv.MustParse(`{"revoke":[],"grant":["READ"]}`))
	c := etag.Value(jsonv.MustParse(`{"grant":["WRITE"],"revoke":[]}`))
	if a != b {
		t.Errorf("member order changed the tag: got %s and %s, want equal", a, b)
	}
	if a == c {
		t.Errorf("different content, same tag %s", a)
	}
	if !protocol.ValidEntityTag(a) || !strings.HasPrefix(a, `"hash:`) {
		t.Errorf("got %s, want a strong \"hash:...\" entity tag", a)
	}
	if got, want := etag.Revision(12), `"rev:12"`; got != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestParseRoute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		path       string
		kind       routeKind
		label, key string
		doc, auth  string // pointers as strings; auth "" means same as doc
		code       string
	}{
		{path: "/", kind: routePolicy, doc: "/"},
		{path: "", kind: routePolicy, doc: "/"},
		{path: "/entries", kind: routeEntries, doc: "/entries"},
		{path: "/entries/l", kind: routeEntry, label: "l", doc: "/entries/l"},
		{path: "/entries/l/subjects", kind: routeSubjects, label: "l", doc: "/entries/l/subjects"},
		{path: "/entries/l/subjects/google:user@x", kind: routeSubject, label: "l", key: "google:user@x", doc: "/entries/l/subjects/google:user@x"},
		{path: "/entries/l/subjects/https://iss:sub", kind: routeSubject, label: "l", key: "https://iss:sub", auth: "/entries/l/subjects/https:/iss:sub"},
		{path: "/entries/l/resources", kind: routeResources, label: "l", doc: "/entries/l/resources"},
		{path: "/entries/l/resources/thing:/features/x", kind: routeResource, label: "l", key: "thing:/features/x", auth: "/entries/l/resources/thing:/features/x"},
		{path: "/entries/l/resources/thing:", kind: routeResource, label: "l", key: "thing:/", auth: "/entries/l/resources/thing:"},
		{path: "/entries/l/resources/policy:/", kind: routeResource, label: "l", key: "policy:/", auth: "/entries/l/resources/policy:"},
		{path: "/imports", kind: routeImports, doc: "/imports"},
		{path: "/imports/a:b", kind: routeImport, key: "a:b", doc: "/imports/a:b"},
		{path: "/imports/a:b/entries", kind: routeImportField, key: "a:b", doc: "/imports/a:b/entries"},
		{path: "/imports/a:b/transitiveImports", kind: routeImportField, key: "a:b", doc: "/imports/a:b/transitiveImports"},
		{path: "/imports/a:b/other", code: codeUnknownPath},
		{path: "/imports/nonamespace", code: protocol.CodePolicyIDInvalid},
		{path: "/actions/activateTokenIntegration", kind: routeUnsupported},
		{path: "/entries/l/namespaces", kind: routeEntryField, label: "l", doc: "/entries/l/namespaces"},
		{path: "/entries/l/importable", kind: routeEntryField, label: "l", doc: "/entries/l/importable"},
		{path: "/entries/l/allowedAdditions", kind: routeEntryField, label: "l", doc: "/entries/l/allowedAdditions"},
		{path: "/entries/l/references", kind: routeEntryField, label: "l", doc: "/entries/l/references"},
		{path: "/entries/l/actions/activateTokenIntegration", kind: routeUnsupported},
		{path: "/entries/l/namespaces/x", code: codeUnknownPath},
		{path: "/policyId", code: codeUnknownPath},
		{path: "/entries/l/other", code: codeUnknownPath},
		{path: "/entries/imported-l", code: protocol.CodePolicyLabelInvalid},
		{path: "/entries/ca\u00e9", code: protocol.CodePolicyEntryInvalid},
		{path: "/entries/l/subjects/nosubject", code: protocol.CodePolicySubjectIDInvalid},
		{path: "/entries/l/resources/nokey", code: protocol.CodeJSONInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			t.Parallel()
			r, err := parseRoute(tt.path)
			wantErrCode(t, err, tt.code)
			if tt.code != "" {
				return
			}
			if r.kind != tt.kind || r.label != tt.label || r.key != tt.key {
				t.Fatalf("got kind %d label %q key %q, want %d %q %q", r.kind, r.label, r.key, tt.kind, tt.label, tt.key)
			}
			if r.kind == routeUnsupported {
				return
			}
			if tt.key != "" && r.kind != routeImportField {
				if got := r.doc[len(r.doc)-1]; got != tt.key {
					t.Errorf("doc pointer ends in %q, want the key %q as one segment", got, tt.key)
				}
			} else if got := r.doc.String(); got != tt.doc {
				t.Errorf("doc pointer %s, want %s", got, tt.doc)
			}
			wantAuth := tt.auth
			if wantAuth == "" {
				wantAuth = tt.doc
			}
			if got := r.auth.String(); got != wantAuth {
				t.Errorf("auth pointer %s, want %s", got, wantAuth)
			}
		})
	}
}

func TestChangeAt(t *testing.T) {
	t.Parallel()
	next := jsonv.MustParse(`{"entries":{"l":{"subjects":{"a:b":{"type":"t"},"https://i:s":{"type":"u"}},"resources":{"thing:/x":{"grant":[],"revoke":[]}}}}}`)
	tests := []struct {
		name       string
		action     string
		path       jsonv.Pointer
		wantAction string
		wantPath   string
		wantValue  string
	}{
		{"subject without slash keeps its path", entity.ActionCreated, jsonv.Pointer{"entries", "l", "subjects", "a:b"}, entity.ActionCreated, "/entries/l/subjects/a:b", `{"type":"t"}`},
		{"subject with slash keeps its path", entity.ActionCreated, jsonv.Pointer{"entries", "l", "subjects", "https://i:s"}, entity.ActionCreated, "/entries/l/subjects/https://i:s", `{"type":"u"}`},
		{"resource keeps its path", entity.ActionModified, jsonv.Pointer{"entries", "l", "resources", "thing:/x"}, entity.ActionModified, "/entries/l/resources/thing:/x", `{"grant":[],"revoke":[]}`},
		{"deleted resource keeps its path", entity.ActionDeleted, jsonv.Pointer{"entries", "l", "resources", "thing:/y"}, entity.ActionDeleted, "/entries/l/resources/thing:/y", ""},
		{"deleted entry keeps its path", entity.ActionDeleted, jsonv.Pointer{"entries", "gone"}, entity.ActionDeleted, "/entries/gone", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ch := changeAt(tt.action, tt.path, next)
			if ch.Action != tt.wantAction || ch.Path.String() != tt.wantPath {
				t.Fatalf("got %s at %s, want %s at %s", ch.Action, ch.Path, tt.wantAction, tt.wantPath)
			}
			if tt.wantValue != "" && !ch.Value.Equal(jsonv.MustParse(tt.wantValue)) {
				t.Errorf("value %s, want %s", ch.Value, tt.wantValue)
			}
			// What the host journals must parse back to the same path.
			back, err := parseEventPath(ch.Path.String())
			if err != nil || !back.Equal(ch.Path) {
				t.Errorf("path %s does not survive the journal: %v %v", ch.Path, back, err)
			}
		})
	}
}

// Entries restricted to other namespaces do not govern the policy itself.
func TestCallerViewHonoursEntryNamespaces(t *testing.T) {
	t.Parallel()
	policy := jsonv.MustParse(`{"policyId":"com.acme.a:p","imports":{},"entries":{
		"exact":{"subjects":{"s:exact":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}},"namespaces":["com.acme.a"]},
		"below":{"subjects":{"s:below":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}},"namespaces":["com.acme.*"]},
		"other":{"subjects":{"s:other":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}},"namespaces":["org.other","com.acme"]}}}`)
	for subject, want := range map[string]bool{"s:exact": true, "s:below": true, "s:other": false} {
		v, err := callerView(policy, "com.acme.a:p", []string{subject})
		if err != nil {
			t.Fatal(err)
		}
		if got := v.HasUnrestricted(enforcer.TypePolicy, nil, enforcer.Write); got != want {
			t.Errorf("%s may write the policy: %v, want %v", subject, got, want)
		}
	}
}

// A policy stored before imports were written gets "imports":{} after its
// policyId when read, as Ditto always writes it; one that has them keeps
// them as they are.
func TestWithImports(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ in, want string }{
		{`{"policyId":"a:b","entries":{}}`, `{"policyId":"a:b","imports":{},"entries":{}}`},
		{`{"entries":{}}`, `{"imports":{},"entries":{}}`},
		{`{"policyId":"a:b"}`, `{"policyId":"a:b","imports":{}}`},
		{`{"policyId":"a:b","imports":{"c:d":{}},"entries":{}}`, `{"policyId":"a:b","imports":{"c:d":{}},"entries":{}}`},
		{`{"_revision":3,"policyId":"a:b","entries":{}}`, `{"_revision":3,"policyId":"a:b","imports":{},"entries":{}}`},
	} {
		v, err := jsonv.Parse([]byte(tt.in))
		if err != nil {
			t.Fatal(err)
		}
		if got := string(withImports(v).AppendJSON(nil)); got != tt.want {
			t.Errorf("withImports(%s) = %s, want %s", tt.in, got, tt.want)
		}
	}
}
