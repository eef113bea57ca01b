package gateway

import (
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/rql"
)

// controlView is the comparable part of a control: filterNode as its
// canonical RQL.
type controlView struct {
	start         bool
	typ           streamingType
	jwt           bool
	jwtToken      string
	namespaces    []string
	filter        string
	filterNode    string
	extraFields   string
	correlationID string
}

func viewOf(c control) controlView {
	v := controlView{start: c.start, typ: c.typ, jwt: c.jwt, jwtToken: c.jwtToken, namespaces: c.namespaces,
		filter: c.filter, extraFields: c.extraFields, correlationID: c.correlationID}
	if c.filterNode != nil {
		v.filterNode = c.filterNode.String()
	}
	return v
}

func mustParseControl(t *testing.T, frame string) control {
	t.Helper()
	ctl, ok, err := parseControl(frame)
	if !ok || err != nil {
		t.Fatalf("parseControl(%q) = ok %v, err %v; want a control message", frame, ok, err)
	}
	return ctl
}

func TestParseControlNotControl(t *testing.T) {
	t.Parallel()
	for _, frame := range []string{
		"",
		`{"topic":"org.eclipse.ditto/thing1/things/twin/commands/retrieve","path":"/"}`,
		"start-send-events",         // case-sensitive
		" START-SEND-EVENTS",        // Ditto does not trim
		"START-SEND-EVENT",          // too short
		"START-SEND-",               // no type
		"STOP-SEND-LIVE",            // no type
		"START-SEND-LIVE-MESSAGES",  // no such type
		"JWT-TOKE",                  // too short
		"START_SEND_EVENTS",         // underscores
		"START-SEND-EVENTS"[1:],     // cut
		"STOP-SEND-POLICY-ANNOUNCE", // cut
	} {
		ctl, ok, err := parseControl(frame)
		if ok || err != nil {
			t.Errorf("parseControl(%q) = %+v, ok %v, err %v; want not a control message", frame, ctl, ok, err)
		}
	}
}

func TestParseControlIdentifiers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		frame string
		want  controlView
		ack   string
	}{
		{"START-SEND-EVENTS", controlView{start: true, typ: streamEvents}, "START-SEND-EVENTS:ACK"},
		{"STOP-SEND-EVENTS", controlView{typ: streamEvents}, "STOP-SEND-EVENTS:ACK"},
		{"START-SEND-MESSAGES", controlView{start: true, typ: streamMessages}, "START-SEND-MESSAGES:ACK"},
		{"STOP-SEND-MESSAGES", controlView{typ: streamMessages}, "STOP-SEND-MESSAGES:ACK"},
		{"START-SEND-LIVE-COMMANDS", controlView{start: true, typ: streamLiveCommands}, "START-SEND-LIVE-COMMANDS:ACK"},
		{"STOP-SEND-LIVE-COMMANDS", controlView{typ: streamLiveCommands}, "STOP-SEND-LIVE-COMMANDS:ACK"},
		{"START-SEND-LIVE-EVENTS", controlView{start: true, typ: streamLiveEvents}, "START-SEND-LIVE-EVENTS:ACK"},
		{"STOP-SEND-LIVE-EVENTS", controlView{typ: streamLiveEvents}, "STOP-SEND-LIVE-EVENTS:ACK"},
		{"START-SEND-POLICY-ANNOUNCEMENTS", controlView{start: true, typ: streamPolicyAnnouncements},
			"START-SEND-POLICY-ANNOUNCEMENTS:ACK"},
		{"STOP-SEND-POLICY-ANNOUNCEMENTS", controlView{typ: streamPolicyAnnouncements},
			"STOP-SEND-POLICY-ANNOUNCEMENTS:ACK"},
		{"JWT-TOKEN?jwtToken=eyJ.abc.def", controlView{jwt: true, jwtToken: "eyJ.abc.def"}, ""},
		{"JWT-TOKEN", controlView{jwt: true}, ""},
		{"JWT-TOKEN?other=1", controlView{jwt: true}, ""},
		// Ditto matches by prefix.
		{"START-SEND-EVENTSfoo", controlView{start: true, typ: streamEvents}, "START-SEND-EVENTS:ACK"},
		{"STOP-SEND-LIVE-EVENTS\n", controlView{typ: streamLiveEvents}, "STOP-SEND-LIVE-EVENTS:ACK"},
		{"START-SEND-MESSAGES {}", controlView{start: true, typ: streamMessages}, "START-SEND-MESSAGES:ACK"},
		// A STOP ignores its parameters, even malformed ones.
		{"STOP-SEND-EVENTS?namespaces=a", controlView{typ: streamEvents}, "STOP-SEND-EVENTS:ACK"},
		{"STOP-SEND-EVENTS?filter=eq(", controlView{typ: streamEvents}, "STOP-SEND-EVENTS:ACK"},
		{"STOP-SEND-EVENTS?%zz&&", controlView{typ: streamEvents}, "STOP-SEND-EVENTS:ACK"},
	}
	for _, tt := range tests {
		t.Run(tt.frame, func(t *testing.T) {
			t.Parallel()
			ctl := mustParseControl(t, tt.frame)
			if got := viewOf(ctl); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			if got := ctl.ack(); got != tt.ack {
				t.Errorf("ack() = %q, want %q", got, tt.ack)
			}
		})
	}
}

func TestParseControlParameters(t *testing.T) {
	t.Parallel()
	const ev = "START-SEND-EVENTS?"
	tests := []struct {
		name  string
		frame string
		want  controlView
	}{
		{"namespaces", ev + "namespaces=org.eclipse.ditto,com.acme",
			controlView{namespaces: []string{"org.eclipse.ditto", "com.acme"}}},
		{"one namespace", ev + "namespaces=org.eclipse.ditto", controlView{namespaces: []string{"org.eclipse.ditto"}}},
		{"empty namespaces", ev + "namespaces=", controlView{}},
		{"comma only", ev + "namespaces=,", controlView{}},
		{"trailing comma dropped", ev + "namespaces=a,b,,", controlView{namespaces: []string{"a", "b"}}},
		{"inner empty kept", ev + "namespaces=a,,b", controlView{namespaces: []string{"a", "", "b"}}},
		{"leading empty kept", ev + "namespaces=,a", controlView{namespaces: []string{"", "a"}}},
		{"namespace not validated", ev + "namespaces=not a namespace!", controlView{namespaces: []string{"not a namespace!"}}},
		{"encoded comma", ev + "namespaces=a%2Cb", controlView{namespaces: []string{"a", "b"}}},
		{"filter", ev + "filter=gt(attributes/counter,42)",
			controlView{filter: "gt(attributes/counter,42)", filterNode: "gt(attributes/counter,42)"}},
		{"filter encoded", ev + "filter=gt%28attributes%2Fcounter%2C42%29",
			controlView{filter: "gt(attributes/counter,42)", filterNode: "gt(attributes/counter,42)"}},
		{"filter with encoded ampersand", ev + `filter=like(attributes/manufacturer,"ACME %26 Sons*")`,
			controlView{filter: `like(attributes/manufacturer,"ACME & Sons*")`,
				filterNode: `like(attributes/manufacturer,"ACME & Sons*")`}},
		{"plus is a space", ev + "filter=eq(attributes/a,'x+y')",
			controlView{filter: "eq(attributes/a,'x y')", filterNode: `eq(attributes/a,"x y")`}},
		{"equals sign in value", ev + "filter=eq(attributes/a,'=')",
			controlView{filter: "eq(attributes/a,'=')", filterNode: `eq(attributes/a,"=")`}},
		{"question mark in value", ev + "filter=eq(attributes/a,'?')",
			controlView{filter: "eq(attributes/a,'?')", filterNode: `eq(attributes/a,"?")`}},
		{"placeholder properties", ev + "filter=and(in(topic:action,'created','deleted'),eq(resource:path,'/'))",
			controlView{filter: "and(in(topic:action,'created','deleted'),eq(resource:path,'/'))",
				filterNode: `and(in(topic:action,"created","deleted"),eq(resource:path,"/"))`}},
		{"placeholder with slash and repeated", ev + "filter=or(eq(/thing:id,'a:b'),eq(thing:id,'c:d'),exists(feature:id))",
			controlView{filter: "or(eq(/thing:id,'a:b'),eq(thing:id,'c:d'),exists(feature:id))",
				filterNode: `or(eq(/thing:id,"a:b"),eq(thing:id,"c:d"),exists(feature:id))`}},
		{"placeholder beside stand-in", ev + "filter=and(eq(policyId,'p:1'),eq(thing:id,'a:b'))",
			controlView{filter: "and(eq(policyId,'p:1'),eq(thing:id,'a:b'))",
				filterNode: `and(eq(policyId,"p:1"),eq(thing:id,"a:b"))`}},
		{"extraFields", ev + "extraFields=attributes/counter,features/ConnectionStatus",
			controlView{extraFields: "attributes/counter,features/ConnectionStatus"}},
		{"extraFields whole groups", ev + "extraFields=thingId,policyId,attributes,features,_metadata,_policy,_context",
			controlView{extraFields: "thingId,policyId,attributes,features,_metadata,_policy,_context"}},
		{"extraFields leading slash", ev + "extraFields=/attributes/a b,/definition",
			controlView{extraFields: "/attributes/a b,/definition"}},
		{"extraFields placeholder", ev + "extraFields=attributes/{{ header:x }}",
			controlView{extraFields: "attributes/{{ header:x }}"}},
		{"extraFields empty", ev + "extraFields=", controlView{}},
		{"correlation-id", ev + "correlation-id=my-cid", controlView{correlationID: "my-cid"}},
		{"unknown parameters ignored", ev + "foo=bar&Filter=eq(&=x&jwtToken=a", controlView{}},
		{"trailing ampersands dropped", ev + "namespaces=a&&", controlView{namespaces: []string{"a"}}},
		{"only ampersand", ev + "&", controlView{}},
		{"invalid UTF-8 replaced", ev + "namespaces=a%FFb", controlView{namespaces: []string{"a\uFFFDb"}}},
		{"all", ev + "namespaces=a,b&filter=exists(attributes/x)&extraFields=attributes&correlation-id=c",
			controlView{namespaces: []string{"a", "b"}, filter: "exists(attributes/x)",
				filterNode: "exists(attributes/x)", extraFields: "attributes", correlationID: "c"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.want.start, tt.want.typ = true, streamEvents
			if got := viewOf(mustParseControl(t, tt.frame)); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseControl(%q)\n got %+v\nwant %+v", tt.frame, got, tt.want)
			}
		})
	}
}

func TestParseControlParametersPerType(t *testing.T) {
	t.Parallel()
	const params = "?namespaces=a&filter=exists(attributes/x)&extraFields=attributes"
	for typ := streamEvents; typ <= streamPolicyAnnouncements; typ++ {
		t.Run(typ.String(), func(t *testing.T) {
			t.Parallel()
			got := viewOf(mustParseControl(t, "START-SEND-"+typ.String()+params))
			want := controlView{start: true, typ: typ, namespaces: []string{"a"},
				filter: "exists(attributes/x)", filterNode: "exists(attributes/x)", extraFields: "attributes"}
			if typ == streamPolicyAnnouncements { // Ditto drops both
				want.filter, want.filterNode, want.extraFields = "", "", ""
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %+v, want %+v", got, want)
			}
		})
	}
}

func TestParseControlErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		frame string
		code  string
		cid   string // correlation-id header the error carries
	}{
		{"filter syntax", "START-SEND-EVENTS?filter=eq(attributes/a,1", protocol.CodeRQLExpressionInvalid, ""},
		{"filter unknown property", "START-SEND-EVENTS?filter=eq(foo,1)", protocol.CodeRQLExpressionInvalid, ""},
		{"filter unknown placeholder", "START-SEND-EVENTS?filter=eq(topic:nope,1)", protocol.CodeRQLExpressionInvalid, ""},
		{"filter time placeholder as property", "START-SEND-EVENTS?filter=eq(time:now,1)", protocol.CodeRQLExpressionInvalid, ""},
		{"filter unknown after placeholder", "START-SEND-EVENTS?filter=and(eq(topic:action,'x'),eq(foo,1))",
			protocol.CodeRQLExpressionInvalid, ""},
		{"filter empty", "START-SEND-EVENTS?filter=", protocol.CodeRQLExpressionInvalid, ""},
		{"filter with correlation-id", "START-SEND-LIVE-EVENTS?correlation-id=c1&filter=nope",
			protocol.CodeRQLExpressionInvalid, "c1"},
		{"filter on messages", "START-SEND-MESSAGES?filter=eq(", protocol.CodeRQLExpressionInvalid, ""},
		{"extraFields group syntax", "START-SEND-EVENTS?extraFields=attributes(a,b)", "things:field.selection.invalid", ""},
		{"extraFields space after comma", "START-SEND-EVENTS?extraFields=thingId,+attributes",
			"things:field.selection.invalid", ""},
		{"extraFields unknown field", "START-SEND-EVENTS?extraFields=foo", "things:field.selection.invalid", ""},
		{"extraFields empty item", "START-SEND-EVENTS?extraFields=thingId,", "things:field.selection.invalid", ""},
		{"extraFields bare attributes slash", "START-SEND-EVENTS?extraFields=attributes/", "things:field.selection.invalid", ""},
		{"extraFields unbalanced", "START-SEND-EVENTS?extraFields=attributes(a", protocol.CodeJSONFieldSelectorInvalid, ""},
		{"extraFields on policy announcements", "START-SEND-POLICY-ANNOUNCEMENTS?extraFields=foo",
			"things:field.selection.invalid", ""},
		{"extraFields before filter", "START-SEND-EVENTS?filter=eq(&extraFields=foo", "things:field.selection.invalid", ""},
		{"no parameters", "START-SEND-EVENTS?", codeControlInvalid, ""},
		{"no value", "START-SEND-EVENTS?filter", codeControlInvalid, ""},
		{"empty pair", "START-SEND-EVENTS?namespaces=a&&filter=exists(thingId)", codeControlInvalid, ""},
		{"bad escape", "START-SEND-EVENTS?namespaces=a%zz", codeControlInvalid, ""},
		{"incomplete escape", "START-SEND-EVENTS?namespaces=a%2", codeControlInvalid, ""},
		{"bad escape in key", "START-SEND-EVENTS?%=a", codeControlInvalid, ""},
		{"repeated key", "START-SEND-EVENTS?namespaces=a&namespaces=b", codeControlInvalid, ""},
		{"repeated after decoding", "START-SEND-EVENTS?namespaces=a&name%73paces=b", codeControlInvalid, ""},
		{"jwt malformed", "JWT-TOKEN?jwtToken", codeControlInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctl, ok, err := parseControl(tt.frame)
			if !ok {
				t.Fatalf("parseControl(%q): not a control message", tt.frame)
			}
			if err == nil {
				t.Fatalf("parseControl(%q) = %+v, want error %s", tt.frame, viewOf(ctl), tt.code)
			}
			if !errors.Is(err, &protocol.Error{Code: tt.code}) {
				t.Errorf("err = %v, want code %s", err, tt.code)
			}
			if err.Status != http.StatusBadRequest {
				t.Errorf("status = %d, want 400", err.Status)
			}
			if got := err.Headers[protocol.HeaderCorrelationID]; got != tt.cid {
				t.Errorf("correlation-id header = %q, want %q", got, tt.cid)
			}
			if !reflect.DeepEqual(viewOf(ctl), controlView{}) {
				t.Errorf("control = %+v with an error, want zero", viewOf(ctl))
			}
		})
	}
}

func TestParseControlFilterErrorIsParsers(t *testing.T) {
	t.Parallel()
	// Stand-ins keep their placeholder's length, so the parser's position
	// of a later problem is that in the filter as given.
	const filter = "and(eq(topic:action,'x'),eq(thing:id,'y'),eq(foo,1))"
	_, want := rql.Parse("and(eq(attributes/x,'x'),eq(policyId,'y'),eq(foo,1))")
	_, _, err := parseControl("START-SEND-EVENTS?filter=" + filter)
	if err == nil || want == nil {
		t.Fatalf("err = %v, parser error = %v; want both", err, want)
	}
	if w := protocol.AsError(want); !reflect.DeepEqual(*err, *w) {
		t.Errorf("err = %+v, want %+v", *err, *w)
	}
}

func TestParseControlFieldSelectionError(t *testing.T) {
	t.Parallel()
	_, _, err := parseControl("START-SEND-EVENTS?extraFields=attributes(a)")
	want := &protocol.Error{
		Status:  http.StatusBadRequest,
		Code:    "things:field.selection.invalid",
		Message: "Thing field selection <attributes(a)> was not valid.",
		Description: "Please provide a comma separated List of valid Thing fields. Make sure that you did not use " +
			"a space after a comma. Valid Fields are: [thingId, policyId, definition, _namespace, _revision, " +
			"_created, _modified, _metadata(/[^,]+)?, _policy, _context, _context(/[^,]+)?, features(/[^,]+)?, " +
			"attributes(/[^,]+)?]",
	}
	if err == nil || !reflect.DeepEqual(*err, *want) {
		t.Errorf("err = %+v, want %+v", err, want)
	}
}

func TestParseControlStartReplacesNothingOnError(t *testing.T) {
	t.Parallel()
	// An error yields the zero control, so a caller cannot mistake it for
	// a START that replaces the parameters of a started stream.
	ctl, ok, err := parseControl("START-SEND-EVENTS?namespaces=a&filter=bad")
	if !ok || err == nil || ctl.start || ctl.typ != 0 || ctl.namespaces != nil {
		t.Errorf("got %+v, ok %v, err %v; want zero control and an error", viewOf(ctl), ok, err)
	}
}

func TestControlString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		frame string
		want  string
	}{
		{"START-SEND-EVENTS", "START-SEND-EVENTS"},
		{"STOP-SEND-LIVE-COMMANDS?x=y", "STOP-SEND-LIVE-COMMANDS"},
		{"START-SEND-EVENTSxyz?namespaces=a,b&foo=1", "START-SEND-EVENTS?namespaces=a%2Cb"},
		{"START-SEND-MESSAGES?correlation-id=c&extraFields=attributes/a b&filter=exists(thingId)",
			"START-SEND-MESSAGES?filter=exists%28thingId%29&extraFields=attributes%2Fa+b&correlation-id=c"},
		{"START-SEND-POLICY-ANNOUNCEMENTS?filter=x&extraFields=thingId", "START-SEND-POLICY-ANNOUNCEMENTS"},
		{"JWT-TOKEN?jwtToken=a.b.c", "JWT-TOKEN?jwtToken=a.b.c"},
		{"JWT-TOKEN", "JWT-TOKEN?jwtToken="},
	}
	for _, tt := range tests {
		ctl := mustParseControl(t, tt.frame)
		if got := ctl.String(); got != tt.want {
			t.Errorf("parseControl(%q).String() = %q, want %q", tt.frame, got, tt.want)
		}
		again := mustParseControl(t, ctl.String())
		if !reflect.DeepEqual(viewOf(again), viewOf(ctl)) {
			t.Errorf("%q: reparsed %+v, want %+v", tt.frame, viewOf(again), viewOf(ctl))
		}
	}
}

func TestControlStreamingTypeString(t *testing.T) {
	t.Parallel()
	if got := streamingType(0).String(); got != "streamingType(0)" {
		t.Errorf("String() of zero = %q", got)
	}
	if got := streamingType(99).String(); got != "streamingType(99)" {
		t.Errorf("String() of 99 = %q", got)
	}
}

func FuzzParseControl(f *testing.F) {
	for _, s := range []string{
		"START-SEND-EVENTS",
		"STOP-SEND-MESSAGES?x",
		"START-SEND-EVENTS?namespaces=a,,b,&filter=and(in(topic:action,'created'),eq(resource:path,'/'))",
		"START-SEND-LIVE-EVENTS?filter=or(eq(/thing:id,'a'),exists(feature:id),eq(policyId,1))&correlation-id=x",
		"START-SEND-LIVE-COMMANDS?extraFields=attributes/{{ thing:id }},features/a&foo=%41+b",
		"START-SEND-POLICY-ANNOUNCEMENTS?extraFields=thingId&filter=zzz",
		"JWT-TOKEN?jwtToken=a.b.c",
		"START-SEND-EVENTS?a=%zz&&",
		`{"topic":"a/b/things/twin/commands/retrieve"}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, frame string) {
		ctl, ok, err := parseControl(frame)
		if !ok {
			if err != nil {
				t.Fatalf("not a control message, but error %v", err)
			}
			return
		}
		if err != nil {
			if err.Code == "" || err.Status != http.StatusBadRequest {
				t.Fatalf("error without code or not 400: %+v", err)
			}
			return
		}
		if !strings.HasPrefix(frame, ctl.identifier()) {
			t.Fatalf("identifier %q is not a prefix of %q", ctl.identifier(), frame)
		}
		if ack := ctl.ack(); ctl.jwt != (ack == "") || ack != "" && !strings.HasSuffix(ack, ":ACK") {
			t.Fatalf("ack %q for %+v", ack, viewOf(ctl))
		}
		if (ctl.filter == "") != (ctl.filterNode == nil) {
			t.Fatalf("filter %q with node %v", ctl.filter, ctl.filterNode)
		}
		for _, s := range append([]string{ctl.filter, ctl.extraFields, ctl.correlationID, ctl.jwtToken}, ctl.namespaces...) {
			if !utf8.ValidString(s) {
				t.Fatalf("invalid UTF-8 in %q", s)
			}
		}
		again, ok, err := parseControl(ctl.String())
		if !ok || err != nil {
			t.Fatalf("String() %q of %q does not parse: ok %v, err %v", ctl.String(), frame, ok, err)
		}
		if !reflect.DeepEqual(viewOf(again), viewOf(ctl)) {
			t.Fatalf("round trip of %q via %q:\n got %+v\nwant %+v", frame, ctl.String(), viewOf(again), viewOf(ctl))
		}
	})
}
