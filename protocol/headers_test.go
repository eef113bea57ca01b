package protocol

import (
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestHeadersUnmarshalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Headers
	}{
		{"strings kept", `{"correlation-id":"abc","content-type":"application/json"}`,
			Headers{"correlation-id": "abc", "content-type": "application/json"}},
		{"keys lower-cased", `{"Correlation-ID":"abc","X-Custom":"v"}`,
			Headers{"correlation-id": "abc", "x-custom": "v"}},
		{"later key wins across case", `{"Timeout":"1s","timeout":"2s"}`, Headers{"timeout": "2s"}},
		{"non-strings as compact JSON", `{"response-required":false,"at-historical-revision":42,"requested-acks":[ "a", "b" ],"ditto-metadata":{ "k" : null },"x":null,"f":1.50}`,
			Headers{"response-required": "false", "at-historical-revision": "42", "requested-acks": `["a","b"]`, "ditto-metadata": `{"k":null}`, "x": "null", "f": "1.50"}},
		{"escaped string", `{"x":"a\"b\u00e9"}`, Headers{"x": `a"bé`}},
		// Known names and common values are interned; what is decoded
		// must not change with that.
		{"interned names and values", `{"response-required":"true","ditto-\u0073udo":true,"channel":"\u0074win","content-type":"application/json","x-true":"true","requested-acks":[ ]}`,
			Headers{"response-required": "true", "ditto-sudo": "true", "channel": "twin", "content-type": "application/json", "x-true": "true", "requested-acks": "[]"}},
		{"string that looks like JSON", `{"requested-acks":"[]","x":"\"true\""}`, Headers{"requested-acks": "[]", "x": `"true"`}},
		{"empty", `{}`, Headers{}},
		{"null", `null`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var got Headers
			if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
				t.Fatalf("Unmarshal: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestHeadersUnmarshalJSONRejects(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`[]`, `"x"`, `{"a":}`, `{"a":"b"`} {
		var h Headers
		if err := h.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("UnmarshalJSON(%s) got nil error, want an error", in)
		}
	}
}

func TestHeadersMarshalJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Headers
		want string
	}{
		{"nil", nil, `{}`},
		{"sorted strings", Headers{"b": "2", "a": "1", "correlation-id": "c"}, `{"a":"1","b":"2","correlation-id":"c"}`},
		{"typed", Headers{
			"response-required": "false", "allow-policy-lockout": "true", "ditto-reply-target": "+3",
			"entity-revision": "9", "requested-acks": `["twin-persisted"]`, "put-metadata": `[{"key":"/a","value":1}]`,
			"historical-headers": ` {"a": "b"} `, "timeout": "10s",
		}, `{"allow-policy-lockout":true,"ditto-reply-target":3,"entity-revision":9,"historical-headers":{"a":"b"},"put-metadata":[{"key":"/a","value":1}],"requested-acks":["twin-persisted"],"response-required":false,"timeout":"10s"}`},
		{"wrong syntax stays string", Headers{
			"response-required": "yes", "entity-revision": "1.5", "requested-acks": "a,b", "ditto-metadata": "[1]",
		}, `{"ditto-metadata":"[1]","entity-revision":"1.5","requested-acks":"a,b","response-required":"yes"}`},
		{"unknown header with JSON text stays string", Headers{"x-flag": "true"}, `{"x-flag":"true"}`},
		{"no HTML escaping", Headers{"condition": "lt(a,1)&<b>"}, `{"condition":"lt(a,1)&<b>"}`},
		// As in Ditto, whose strings hold U+FFFD for invalid UTF-8 and
		// write it unescaped; control characters as Ditto's JsonCharEscaper.
		{"invalid UTF-8 replaced", Headers{"x": "a\xffb"}, "{\"x\":\"a\uFFFDb\"}"},
		{"control characters", Headers{"x": "\b\f\x01\x1f"}, `{"x":"\b\f\u0001\u001F"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// MarshalJSON directly: json.Marshal would HTML-escape its output.
			got, err := tt.in.MarshalJSON()
			if err != nil {
				t.Fatalf("MarshalJSON: %v", err)
			}
			if !json.Valid(got) {
				t.Errorf("got invalid JSON %s", got)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestHeadersAccessors(t *testing.T) {
	t.Parallel()
	h := Headers{}
	h.Set("Correlation-Id", "c")
	if got := h.Get("CORRELATION-ID"); got != "c" {
		t.Errorf("Get got %q, want c", got)
	}
	if _, ok := h.Lookup("timeout"); ok {
		t.Errorf("Lookup(timeout) got ok, want not set")
	}
	c := h.Clone()
	c.Set(HeaderTimeout, "1m")
	if _, ok := h.Lookup(HeaderTimeout); ok {
		t.Errorf("Clone shares storage with the original")
	}
	d, ok, err := c.Timeout()
	if err != nil || !ok || d != time.Minute {
		t.Errorf("Timeout got %v, %v, %v; want 1m, true, nil", d, ok, err)
	}
	c.Del("TIMEOUT")
	if _, ok, _ := c.Timeout(); ok {
		t.Errorf("Timeout after Del got ok, want absent")
	}
	if Headers(nil).Clone() != nil {
		t.Errorf("Clone of nil got non-nil, want nil")
	}
}

func TestLookupHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name             string
		wantType         HeaderType
		wantFrom, wantTo bool
	}{
		{"correlation-id", HeaderTypeString, true, true},
		{"Response-Required", HeaderTypeBool, true, true},
		{"ditto-auth-context", HeaderTypeObject, false, false},
		{"ditto-originator", HeaderTypeString, false, true},
		{"requested-acks", HeaderTypeStringArray, true, true},
		{"at-historical-revision", HeaderTypeLong, true, false},
		{"ditto-reply-target", HeaderTypeInt, false, false},
		{"put-metadata", HeaderTypeArray, true, false},
	}
	for _, tt := range tests {
		def, ok := LookupHeader(tt.name)
		if !ok {
			t.Errorf("LookupHeader(%q) got not found", tt.name)
			continue
		}
		if def.Type != tt.wantType || def.FromExternal != tt.wantFrom || def.ToExternal != tt.wantTo {
			t.Errorf("LookupHeader(%q) got type %d from %v to %v, want %d %v %v",
				tt.name, def.Type, def.FromExternal, def.ToExternal, tt.wantType, tt.wantFrom, tt.wantTo)
		}
	}
	if _, ok := LookupHeader("version"); ok {
		t.Errorf("LookupHeader(version) got found; Ditto 3 removed it")
	}
	if got := len(headerDefinitions); got != 58 {
		t.Errorf("got %d header definitions, want Ditto's 58", got)
	}
}

func TestHeadersValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       Headers
		wantCode string // "" means valid
		wantMsg  string
	}{
		{"valid", Headers{
			"correlation-id": "c", "response-required": "false", "timeout": "250ms", "requested-acks": `["twin-persisted"]`,
			"at-historical-revision": "-1", "ditto-reply-target": "2", "channel": " LIVE ", "if-match": `"rev:1", W/"x" ,*`,
			"etag": `"rev:2"`, "if-equal": "skip", "live-channel-timeout-strategy": "use-twin", "ditto-metadata": "{}",
			"put-metadata": `[{"key":"/x","value":1}]`, "x-unknown": "",
		}, "", ""},
		{"empty correlation-id", Headers{"correlation-id": ""}, CodeHeaderInvalid,
			"The value of the header 'correlation-id' must not be empty."},
		{"bool", Headers{"response-required": "TRUE"}, CodeHeaderInvalid,
			"The value 'TRUE' of the header 'response-required' is not a valid boolean."},
		{"int overflow", Headers{"ditto-reply-target": "3000000000"}, CodeHeaderInvalid,
			"The value '3000000000' of the header 'ditto-reply-target' is not a valid int."},
		{"long", Headers{"at-historical-revision": "1.0"}, CodeHeaderInvalid,
			"The value '1.0' of the header 'at-historical-revision' is not a valid long."},
		{"array", Headers{"declared-acks": "a"}, CodeHeaderInvalid,
			"The value 'a' of the header 'declared-acks' is not a valid JSON array."},
		{"array of non-strings", Headers{"requested-acks": "[1]"}, CodeHeaderInvalid,
			"JSON array for <requested-acks> contained invalid acknowledgement labels."},
		{"string array of non-strings", Headers{"ditto-read-subjects": "[1]"}, CodeHeaderInvalid,
			"JSON array for <ditto-read-subjects> contained non-string values!"},
		{"invalid ack label", Headers{"requested-acks": `["twin-persisted","ab"]`}, CodeHeaderInvalid,
			`The value '["twin-persisted","ab"]' of the header 'requested-acks' is not a valid JSON array of acknowledgement labels.`},
		{"ack label with placeholder", Headers{"requested-acks": `["{{connection:id}}:my-ack","a:b_c-d"]`}, "", ""},
		{"array with blanks and escapes", Headers{"declared-acks": ` [ "a\"]" , "b" ] `, "ditto-read-subjects": "[]"}, "", ""},
		{"array with object after escaped quote", Headers{"declared-acks": `["a\"", {"b":1}]`}, CodeHeaderInvalid,
			"JSON array for <declared-acks> contained non-string values!"},
		{"ack labels", Headers{"requested-acks": "{}"}, CodeHeaderInvalid,
			"The value '{}' of the header 'requested-acks' is not a valid JSON array."},
		{"object", Headers{"merge-thing-patch-conditions": "[]"}, CodeHeaderInvalid,
			"The value '[]' of the header 'merge-thing-patch-conditions' is not a valid JSON object."},
		{"timeout", Headers{"timeout": "soon"}, CodeTimeoutInvalid, `For input string: "soon"`},
		{"channel", Headers{"channel": "twins"}, CodeHeaderInvalid,
			"The value 'twins' of the header 'channel' is not a valid channel."},
		{"enum", Headers{"if-equal": "always"}, CodeHeaderInvalid,
			"The value 'always' of the header 'if-equal' is not a valid enum value of type 'IfEqual'."},
		{"entity tag", Headers{"etag": "rev:1"}, CodeHeaderInvalid,
			"The value 'rev:1' of the header 'etag' is not a valid entity-tag."},
		{"entity tag matcher", Headers{"if-none-match": `"a", b`}, CodeHeaderInvalid,
			"The value 'b' of the header 'if-none-match' is not a valid entity-tag."},
		{"first problem in key order", Headers{"timeout": "x", "dry-run": "no"}, CodeHeaderInvalid,
			"The value 'no' of the header 'dry-run' is not a valid boolean."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.in.Validate()
			if tt.wantCode == "" {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var wire *Error
			if !errors.As(err, &wire) {
				t.Fatalf("got %v, want *Error", err)
			}
			if wire.Code != tt.wantCode || wire.Status != 400 {
				t.Errorf("got %s (%d), want %s (400)", wire.Code, wire.Status, tt.wantCode)
			}
			if wire.Message != tt.wantMsg {
				t.Errorf("message got %q, want %q", wire.Message, tt.wantMsg)
			}
		})
	}
}

func TestHeaderInvalidDescriptions(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       Headers
		wantDesc string
		wantHref string
	}{
		{"typed", Headers{"response-required": "x"}, "Verify that the value of the header 'response-required' is a valid 'boolean' and try again.", ""},
		{"channel", Headers{"channel": "x"}, "The value must either be <twin> or <live>.", ""},
		{"enum", Headers{"live-channel-timeout-strategy": "x"}, "The value must be one of: <fail|use-twin>.", ""},
		{"etag", Headers{"if-match": "x"}, "Verify that the value of the header 'if-match' is a valid 'entity-tag' and try again.", "https://tools.ietf.org/html/rfc7232#section-2.3"},
		{"custom message", Headers{"correlation-id": ""}, "Verify that the header has the correct syntax and try again.", ""},
	}
	for _, tt := range tests {
		wire := AsError(tt.in.Validate())
		if wire == nil {
			t.Fatalf("%s: got nil error, want *Error", tt.name)
		}
		if wire.Description != tt.wantDesc || wire.Href != tt.wantHref {
			t.Errorf("%s: got %q %q, want %q %q", tt.name, wire.Description, wire.Href, tt.wantDesc, tt.wantHref)
		}
	}
}

func TestValidEntityTag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want bool
	}{
		{`"rev:1"`, true}, {`W/"rev:1"`, true}, {`""`, true},
		{`rev:1`, false}, {`"a"b"`, false}, {`"a*"`, false}, {`w/"a"`, false}, {`"`, false}, {``, false},
	}
	for _, tt := range tests {
		if got := ValidEntityTag(tt.in); got != tt.want {
			t.Errorf("ValidEntityTag(%q) got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestParseTimeout(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour
	tests := []struct {
		in      string
		want    time.Duration
		wantMsg string // "" means valid
	}{
		{"42s", 42 * time.Second, ""},
		{"60", time.Minute, ""},
		{"+5", 5 * time.Second, ""},
		{"0", 0, ""},
		{"-0s", 0, ""},
		{"250ms", 250 * time.Millisecond, ""},
		{"1m", time.Minute, ""},
		{"2h", 2 * time.Hour, ""},
		{"1d", day, ""},
		{"1w", 7 * day, ""},
		{"1mo", 2629746 * time.Second, ""},
		{"1y", 31556952 * time.Second, ""},
		{"007s", 7 * time.Second, ""},
		{"99999999y", time.Duration(math.MaxInt64), ""},
		{"-1s", 0, "The duration must not be negative but was <-1s>!"},
		{"-5", 0, "The duration must not be negative but was <-5>!"},
		{"-05ms", 0, "The duration must not be negative but was <-05ms>!"},
		{"", 0, `For input string: ""`},
		{"abc", 0, `For input string: "abc"`},
		{"1.5s", 0, `For input string: "1.5s"`},
		{"5 s", 0, `For input string: "5 s"`},
		{"5S", 0, `For input string: "5S"`},
		{"s", 0, `For input string: "s"`},
		{"1min", 0, `For input string: "1min"`},
		{"99999999999999999999s", 0, `For input string: "99999999999999999999"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTimeout(tt.in)
			if tt.wantMsg == "" {
				if err != nil {
					t.Fatalf("got error %v, want %v", err, tt.want)
				}
				if got != tt.want {
					t.Errorf("got %v, want %v", got, tt.want)
				}
				return
			}
			var wire *Error
			if !errors.As(err, &wire) {
				t.Fatalf("got %v, %v; want *Error", got, err)
			}
			if wire.Code != CodeTimeoutInvalid || wire.Status != 400 {
				t.Errorf("got %s (%d), want %s (400)", wire.Code, wire.Status, CodeTimeoutInvalid)
			}
			if wire.Message != tt.wantMsg {
				t.Errorf("message got %q, want %q", wire.Message, tt.wantMsg)
			}
			if wire.Description != "Please choose a valid timeout." {
				t.Errorf("description got %q, want Ditto's", wire.Description)
			}
		})
	}
}

func TestCheckTimeout(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		d       time.Duration
		wantMsg string
	}{
		{"zero", 0, ""},
		{"max", MaxCommandTimeout, ""},
		{"above", MaxCommandTimeout + time.Millisecond, "The timeout <60,001ms> is not inside its allowed bounds <0ms - 60,000ms>"},
		{"negative", -time.Second, "The timeout <-1,000ms> is not inside its allowed bounds <0ms - 60,000ms>"},
	}
	for _, tt := range tests {
		err := CheckTimeout(tt.d, MaxCommandTimeout)
		if tt.wantMsg == "" {
			if err != nil {
				t.Errorf("%s: got %v, want nil", tt.name, err)
			}
			continue
		}
		wire := AsError(err)
		if wire == nil || wire.Code != CodeGatewayTimeoutInvalid || wire.Message != tt.wantMsg {
			t.Errorf("%s: got %v, want %s with message %q", tt.name, err, CodeGatewayTimeoutInvalid, tt.wantMsg)
		}
	}
}

func FuzzParseTimeout(f *testing.F) {
	for _, s := range []string{"42s", "60", "250ms", "1mo", "-1", "+7y", "", "1.5s", "9223372036854775807w"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseTimeout(s)
		if err != nil {
			if !HasCode(err, CodeTimeoutInvalid) {
				t.Fatalf("ParseTimeout(%q) error %v is not %s", s, err, CodeTimeoutInvalid)
			}
			if d != 0 {
				t.Fatalf("ParseTimeout(%q) got %v with an error, want 0", s, d)
			}
			return
		}
		if d < 0 {
			t.Fatalf("ParseTimeout(%q) got negative %v", s, d)
		}
		// Every accepted timeout is valid in the headers it came from.
		if err := (Headers{HeaderTimeout: s}).Validate(); err != nil {
			t.Fatalf("Validate of accepted timeout %q: %v", s, err)
		}
	})
}

func TestValidAckLabel(t *testing.T) {
	for label, want := range map[string]bool{
		"twin-persisted": true, "abc": true, "ab": false, "a:b": true, "my_ack-1:x": true,
		"with space": false, "dot.ted": false, "": false, strings.Repeat("a", 165): true, strings.Repeat("a", 166): false,
		"{{connection:id}}:ack": true, "{{ connection:id }}:ack": true, "{{connection}}:ack": false,
		"{{connection:id}}ack": false, "{{Conn:id}}:ack": false, "{{connection:id}}:ab": false,
	} {
		if got := ValidAckLabel(label); got != want {
			t.Errorf("ValidAckLabel(%q) = %v, want %v", label, got, want)
		}
	}
}
