package things

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

func TestParseMessagePath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, subject string
		want                messagePath
		code                string // the error's code; "" for none
	}{
		{name: "thing inbox", path: "/inbox/messages/ask", subject: "ask",
			want: messagePath{path: "/inbox/messages/ask", resource: jsonv.Pointer{"inbox", "messages", "ask"}}},
		{name: "thing outbox", path: "/outbox/messages/smoke", subject: "smoke",
			want: messagePath{path: "/outbox/messages/smoke", resource: jsonv.Pointer{"outbox", "messages", "smoke"}}},
		{name: "subject with slashes", path: "/inbox/messages/ask/question", subject: "ask/question",
			want: messagePath{path: "/inbox/messages/ask/question", resource: jsonv.Pointer{"inbox", "messages", "ask", "question"}}},
		{name: "feature inbox", path: "/features/lamp/inbox/messages/on", subject: "on",
			want: messagePath{path: "/features/lamp/inbox/messages/on", feature: "lamp", resource: jsonv.Pointer{"features", "lamp", "inbox", "messages", "on"}}},
		{name: "feature outbox", path: "/features/water-tank/outbox/messages/empty", subject: "empty",
			want: messagePath{path: "/features/water-tank/outbox/messages/empty", feature: "water-tank", resource: jsonv.Pointer{"features", "water-tank", "outbox", "messages", "empty"}}},
		{name: "claim", path: "/inbox/messages/claim", subject: "claim",
			want: messagePath{path: "/inbox/messages/claim", claim: true, resource: jsonv.Pointer{"inbox", "messages", "claim"}}},
		{name: "claim as the HTTP route names it", path: "/inbox/claim", subject: "claim",
			want: messagePath{path: "/inbox/messages/claim", claim: true, resource: jsonv.Pointer{"inbox", "messages", "claim"}}},
		{name: "claim subject to the outbox is an ordinary message", path: "/outbox/messages/claim", subject: "claim",
			want: messagePath{path: "/outbox/messages/claim", resource: jsonv.Pointer{"outbox", "messages", "claim"}}},
		{name: "claim subject to a feature is an ordinary message", path: "/features/f/inbox/messages/claim", subject: "claim",
			want: messagePath{path: "/features/f/inbox/messages/claim", feature: "f", resource: jsonv.Pointer{"features", "f", "inbox", "messages", "claim"}}},

		{name: "subjects differ", path: "/inbox/messages/ask", subject: "tell", code: "protocoladapter:invalid.path"},
		{name: "subject prefix only", path: "/inbox/messages/ask/more", subject: "ask", code: "protocoladapter:invalid.path"},
		{name: "no mailbox", path: "/messages/ask", subject: "ask", code: "protocoladapter:invalid.path"},
		{name: "unknown mailbox", path: "/postbox/messages/ask", subject: "ask", code: "protocoladapter:invalid.path"},
		{name: "twin path", path: "/attributes/ask", subject: "ask", code: "protocoladapter:invalid.path"},
		{name: "claim route path for another subject", path: "/inbox/claim", subject: "ask", code: "protocoladapter:invalid.path"},
		{name: "claim route path of a feature", path: "/features/f/inbox/claim", subject: "claim", code: "protocoladapter:invalid.path"},
		{name: "feature without mailbox", path: "/features/lamp", subject: "on", code: "protocoladapter:invalid.path"},
		{name: "feature path too deep", path: "/features/a/b/inbox/messages/on", subject: "on", code: "protocoladapter:invalid.path"},
		{name: "features mailbox without id", path: "/features/inbox/messages/on", subject: "on", code: "protocoladapter:invalid.path"},
		{name: "empty feature id", path: "/features//inbox/messages/on", subject: "on", code: "messages:featureid.invalid"},
		{name: "empty subject", path: "/inbox/messages/", subject: "", code: "messages:subject.invalid"},
		{name: "control character", path: "/inbox/messages/a\u0001", subject: "a\u0001", code: protocol.CodeHeaderInvalid},
		{name: "consecutive slashes", path: "/inbox/messages/a//b", subject: "a//b", code: "json.pointer.invalid"},
	}
	for _, tc := range tests {
		got, err := parseMessagePath(tc.path, tc.subject)
		if tc.code != "" {
			var perr *protocol.Error
			if !errors.As(err, &perr) || perr.Code != tc.code {
				t.Errorf("%s: error %v, want code %s", tc.name, err, tc.code)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got.path != tc.want.path || got.feature != tc.want.feature || got.claim != tc.want.claim || !slices.Equal(got.resource, tc.want.resource) {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func FuzzParseMessagePath(f *testing.F) {
	for _, s := range [][2]string{
		{"/inbox/messages/ask", "ask"}, {"/features/f/outbox/messages/a/b", "a/b"}, {"/inbox/claim", "claim"},
		{"/features//inbox/messages/x", "x"}, {"/inbox/messages/a~0b", "a~0b"}, {"", ""},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, path, subject string) {
		mp, err := parseMessagePath(path, subject)
		if err != nil {
			if protocol.AsError(err) == nil {
				t.Fatalf("%q %q: error %v is no Ditto error", path, subject, err)
			}
			return
		}
		// What passes addresses a mailbox of the thing or of a feature,
		// on exactly the topic's subject.
		box := mp.path
		if mp.feature != "" {
			box = strings.TrimPrefix(box, "/features/"+mp.feature)
		}
		if box != "/inbox/messages/"+subject && box != "/outbox/messages/"+subject {
			t.Fatalf("%q %q: passed as %+v", path, subject, mp)
		}
		if mp.claim && mp.path != claimPath {
			t.Fatalf("%q %q: claim at %q", path, subject, mp.path)
		}
		if len(mp.resource) < 3 {
			t.Fatalf("%q %q: resource %v", path, subject, mp.resource)
		}
	})
}

// Who receives a message is Ditto's getSubjectsWithPermission: READ at the
// message resource or above, each subject alone, a revoke at or above it
// winning over a grant that is not deeper.
func TestMessageReadSubjects(t *testing.T) {
	t.Parallel()
	enf, err := enforcer.Compile(jsonv.MustParse(`{"policyId":"ns:p","entries":{
	  "OWNER":{"subjects":{"s:owner":{"type":"t"}},"resources":{"message:/":{"grant":["READ","WRITE"],"revoke":[]}}},
	  "DEVICE":{"subjects":{"s:device":{"type":"t"}},"resources":{
	    "message:/inbox":{"grant":["READ"],"revoke":[]},"message:/inbox/messages/secret":{"grant":[],"revoke":["READ"]}}},
	  "OUTBOX":{"subjects":{"s:watcher":{"type":"t"}},"resources":{"message:/outbox":{"grant":["READ"],"revoke":[]}}},
	  "DEEP":{"subjects":{"s:deep":{"type":"t"}},"resources":{"message:/inbox/messages/ask/more":{"grant":["READ"],"revoke":[]}}},
	  "REGAIN":{"subjects":{"s:device":{"type":"t"}},"resources":{"message:/inbox/messages/secret/x":{"grant":["READ"],"revoke":[]}}},
	  "TWIN":{"subjects":{"s:twin":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}},
	  "LAMP":{"subjects":{"s:lamp":{"type":"t"}},"resources":{"message:/features/lamp":{"grant":["READ"],"revoke":[]}}},
	  "OTHER_NS":{"subjects":{"s:elsewhere":{"type":"t"}},"namespaces":["com.acme"],"resources":{"message:/":{"grant":["READ"],"revoke":[]}}},
	  "EXPIRED":{"subjects":{"s:gone":{"type":"t","expiry":"2000-01-01T00:00:00Z"}},"resources":{"message:/":{"grant":["READ"],"revoke":[]}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, tc := range []struct{ path, want string }{
		{"/inbox/messages/ask", `["s:device","s:owner"]`},
		{"/inbox/messages/secret", `["s:owner"]`},
		{"/inbox/messages/secret/x", `["s:device","s:owner"]`},
		{"/inbox/messages/ask/more", `["s:deep","s:device","s:owner"]`},
		{"/outbox/messages/ask", `["s:owner","s:watcher"]`},
		{"/features/lamp/inbox/messages/on", `["s:lamp","s:owner"]`},
		{"/features/fan/inbox/messages/on", `["s:owner"]`},
	} {
		if got := messageReadSubjects(enf, "org.eclipse.ditto", jsonv.MustParsePointer(tc.path), now); got != tc.want {
			t.Errorf("%s: read subjects %s, want %s", tc.path, got, tc.want)
		}
	}
	if got := messageReadSubjects(enf, "com.acme", jsonv.MustParsePointer("/outbox/messages/x"), now); got != `["s:elsewhere","s:owner","s:watcher"]` {
		t.Errorf("namespace-restricted entry: %s", got)
	}
}
