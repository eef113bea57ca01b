package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

const examplesDir = "testdata/ditto-protocol-examples"

// exampleFile is the shape of every file in examplesDir.
type exampleFile struct {
	Example  string            `json:"example"`
	Messages []json.RawMessage `json:"messages"`
}

// loadExamples returns every example file below examplesDir, keyed by its
// path relative to it.
func loadExamples(t *testing.T) map[string]exampleFile {
	t.Helper()
	out := make(map[string]exampleFile)
	err := filepath.WalkDir(examplesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var f exampleFile
		if err := json.Unmarshal(data, &f); err != nil {
			return err
		}
		rel, _ := filepath.Rel(examplesDir, path)
		out[rel] = f
		return nil
	})
	if err != nil {
		t.Fatalf("load examples: %v", err)
	}
	return out
}

func semantic(t *testing.T, data []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(data, &v); err != nil {
		t.Fatalf("unmarshal %s: %v", data, err)
	}
	return v
}

func TestExamplesRoundTrip(t *testing.T) {
	t.Parallel()
	examples := loadExamples(t)
	if len(examples) < 300 {
		t.Fatalf("got %d example files, want at least 300", len(examples))
	}
	messages := 0
	for name, f := range examples {
		for i, raw := range f.Messages {
			messages++
			env, err := DecodeEnvelope(raw)
			if err != nil {
				t.Errorf("%s message %d: DecodeEnvelope: %v", name, i, err)
				continue
			}
			out, err := env.Encode()
			if err != nil {
				t.Errorf("%s message %d: Encode: %v", name, i, err)
				continue
			}
			if got, want := semantic(t, out), semantic(t, raw); !reflect.DeepEqual(got, want) {
				t.Errorf("%s message %d: round trip\ngot  %s\nwant %s", name, i, out, compact(raw))
			}
			topic, err := ParseTopic(env.Topic)
			if err != nil {
				t.Errorf("%s message %d: ParseTopic(%q): %v", name, i, env.Topic, err)
				continue
			}
			if got := topic.String(); got != env.Topic {
				t.Errorf("%s message %d: topic String() got %q, want %q", name, i, got, env.Topic)
			}
		}
	}
	if messages < 320 {
		t.Errorf("got %d messages, want at least 320", messages)
	}
}

func TestExampleErrorsAreErrorEnvelopes(t *testing.T) {
	t.Parallel()
	found := 0
	for name, f := range loadExamples(t) {
		if !strings.Contains(name, "exceptions") {
			continue
		}
		for _, raw := range f.Messages {
			env, err := DecodeEnvelope(raw)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			wire, ok := env.AsError()
			if !ok {
				t.Errorf("%s: AsError got false, want true", name)
				continue
			}
			found++
			if wire.Status != env.Status {
				t.Errorf("%s: error status got %d, want %d", name, wire.Status, env.Status)
			}
		}
	}
	if found < 50 {
		t.Errorf("got %d error examples, want at least 50", found)
	}
}

func TestDecodeEnvelopeErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		in       string
		wantCode string
		wantMsg  string
	}{
		{"empty", ``, CodeJSONFormatInvalid, "Empty json."},
		{"blank", `  `, CodeJSONInvalid, "Failed to parse JSON string '  '!"},
		{"syntax", `{"topic":`, CodeJSONInvalid, `Failed to parse JSON string '{"topic":'!`},
		{"trailing garbage", `{"topic":"a/b/things/twin/errors","path":"/"} x`, CodeJSONInvalid, ""},
		{"two objects", `{"topic":"a/b/things/twin/errors","path":"/"}{}`, CodeJSONInvalid, ""},
		{"array", `[1, 2]`, CodeJSONInvalid, "<[1,2]> is not a valid JSON object!"},
		{"number", `42`, CodeJSONInvalid, "<42> is not a valid JSON object!"},
		{"null literal", `null`, CodeJSONFieldMissing, "JSON did not include required </topic> field!"},
		{"no topic", `{"path":"/"}`, CodeJSONFieldMissing, "JSON did not include required </topic> field!"},
		{"null topic", `{"topic":null,"path":"/"}`, CodeJSONFieldMissing, "JSON did not include required </topic> field!"},
		{"topic case matters", `{"Topic":"a/b/things/twin/errors","path":"/"}`, CodeJSONFieldMissing, "JSON did not include required </topic> field!"},
		{"topic not string", `{"topic":1,"path":"/"}`, CodeJSONInvalid, "Value <1> for </topic> is not of type <String>!"},
		{"no path", `{"topic":"a/b/things/twin/errors"}`, CodeJSONFieldMissing, "JSON did not include required </path> field!"},
		{"path not string", `{"topic":"a/b/things/twin/errors","path":{"a": 1}}`, CodeJSONInvalid, `Value <{"a":1}> for </path> is not of type <String>!`},
		{"unknown topic", `{"topic":"a/b/thongs/twin/errors","path":"/"}`, CodeUnknownTopicPath, "The topic path 'a/b/thongs/twin/errors' is not supported."},
		{"headers not object", `{"topic":"a/b/things/twin/errors","headers":[],"path":"/"}`, CodeJSONInvalid, "Value <[]> for </headers> is not of type <JsonObject>!"},
		{"header bool invalid", `{"topic":"a/b/things/twin/errors","headers":{"response-required":"yes"},"path":"/"}`, CodeHeaderInvalid, "The value 'yes' of the header 'response-required' is not a valid boolean."},
		{"header timeout invalid", `{"topic":"a/b/things/twin/errors","headers":{"timeout":"-1s"},"path":"/"}`, CodeTimeoutInvalid, "The duration must not be negative but was <-1s>!"},
		{"status not number", `{"topic":"a/b/things/twin/errors","path":"/","status":"200"}`, CodeJSONInvalid, `Value <"200"> for </status> is not of type <Integer>!`},
		{"status fraction", `{"topic":"a/b/things/twin/errors","path":"/","status":200.5}`, CodeJSONInvalid, "Value <200.5> for </status> is not of type <Integer>!"},
		{"revision not number", `{"topic":"a/b/things/twin/errors","path":"/","revision":true}`, CodeJSONInvalid, "Value <true> for </revision> is not of type <Long>!"},
		{"extra not object", `{"topic":"a/b/things/twin/errors","path":"/","extra":[]}`, CodeJSONInvalid, "Value <[]> for </extra> is not of type <JsonObject>!"},
		{"metadata not object", `{"topic":"a/b/things/twin/errors","path":"/","metadata":"m"}`, CodeJSONInvalid, `Value <"m"> for </metadata> is not of type <JsonObject>!`},
		{"timestamp not string", `{"topic":"a/b/things/twin/errors","path":"/","timestamp":1}`, CodeJSONInvalid, "Value <1> for </timestamp> is not of type <String>!"},
		{"fields not string", `{"topic":"a/b/things/twin/errors","path":"/","fields":[]}`, CodeJSONInvalid, "Value <[]> for </fields> is not of type <String>!"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := DecodeEnvelope([]byte(tt.in))
			var wire *Error
			if !errors.As(err, &wire) {
				t.Fatalf("got error %v, want *Error", err)
			}
			if wire.Code != tt.wantCode {
				t.Errorf("code got %q, want %q", wire.Code, tt.wantCode)
			}
			if wire.Status != 400 {
				t.Errorf("status got %d, want 400", wire.Status)
			}
			if tt.wantMsg != "" && wire.Message != tt.wantMsg {
				t.Errorf("message got %q, want %q", wire.Message, tt.wantMsg)
			}
		})
	}
}

func TestDecodeEnvelopeEchoIsBounded(t *testing.T) {
	t.Parallel()
	in := `{"topic":"` + strings.Repeat("é", 1000)
	_, err := DecodeEnvelope([]byte(in))
	wire := AsError(err)
	if wire == nil {
		t.Fatalf("got %v, want *Error", err)
	}
	if len(wire.Message) > maxEchoedInput+50 {
		t.Errorf("message length got %d, want at most %d", len(wire.Message), maxEchoedInput+50)
	}
	if !strings.HasSuffix(wire.Message, "...'!") {
		t.Errorf("message got %q, want it to end in ...'!", wire.Message)
	}
}

func TestDecodeEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Envelope
	}{
		{
			name: "minimal",
			in:   `{"topic":"ns/n/things/twin/commands/retrieve","path":"/"}`,
			want: Envelope{Topic: "ns/n/things/twin/commands/retrieve", Path: "/"},
		},
		{
			name: "value null kept",
			in:   `{"topic":"ns/n/things/twin/commands/modify","path":"/attributes/a","value":null}`,
			want: Envelope{Topic: "ns/n/things/twin/commands/modify", Path: "/attributes/a", Value: json.RawMessage("null")},
		},
		{
			name: "value compacted",
			in:   `{"topic":"ns/n/things/twin/commands/modify","path":"/","value": { "a" : [ 1, 2 ] } }`,
			want: Envelope{Topic: "ns/n/things/twin/commands/modify", Path: "/", Value: json.RawMessage(`{"a":[1,2]}`)},
		},
		{
			name: "headers lower-cased and stringified",
			in:   `{"topic":"ns/n/things/twin/commands/modify","headers":{"Correlation-ID":"c","response-required":false,"requested-acks":["twin-persisted"],"x-custom":{"a":1}},"path":"/"}`,
			want: Envelope{Topic: "ns/n/things/twin/commands/modify", Path: "/", Headers: Headers{
				"correlation-id": "c", "response-required": "false", "requested-acks": `["twin-persisted"]`, "x-custom": `{"a":1}`,
			}},
		},
		{
			name: "optional nulls absent",
			in:   `{"topic":"ns/n/things/twin/events/modified","headers":null,"path":"/","status":null,"revision":null,"timestamp":null,"fields":null}`,
			want: Envelope{Topic: "ns/n/things/twin/events/modified", Path: "/"},
		},
		{
			name: "extra and metadata null kept",
			in:   `{"topic":"ns/n/things/twin/events/modified","path":"/","extra":null,"metadata":null}`,
			want: Envelope{Topic: "ns/n/things/twin/events/modified", Path: "/", Extra: json.RawMessage("null"), Metadata: json.RawMessage("null")},
		},
		{
			name: "all fields",
			in:   `{"topic":"ns/n/things/twin/events/modified","headers":{},"path":"attributes/a/","value":1,"extra":{"x":2},"status":204,"revision":7,"timestamp":"2024-01-01T00:00:00Z","metadata":{"m":true},"fields":"thingId","unknown":1}`,
			want: Envelope{
				Topic: "ns/n/things/twin/events/modified", Headers: Headers{}, Path: "/attributes/a",
				Value: json.RawMessage("1"), Extra: json.RawMessage(`{"x":2}`), Status: 204, Revision: 7,
				Timestamp: "2024-01-01T00:00:00Z", Metadata: json.RawMessage(`{"m":true}`), Fields: "thingId",
			},
		},
		{
			name: "status out of range dropped",
			in:   `{"topic":"ns/n/things/twin/errors","path":"/","status":600}`,
			want: Envelope{Topic: "ns/n/things/twin/errors", Path: "/"},
		},
		{
			name: "integral float revision",
			in:   `{"topic":"ns/n/things/twin/events/created","path":"/","revision":1e3}`,
			want: Envelope{Topic: "ns/n/things/twin/events/created", Path: "/", Revision: 1000},
		},
		{
			name: "escaped field name",
			in:   `{"\u0074opic":"ns/n/things/twin/errors","path":"/"}`,
			want: Envelope{Topic: "ns/n/things/twin/errors", Path: "/"},
		},
		{
			name: "later duplicate wins",
			in:   `{"topic":"x","topic":"ns/n/things/twin/errors","path":"/"}`,
			want: Envelope{Topic: "ns/n/things/twin/errors", Path: "/"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := DecodeEnvelope([]byte(tt.in))
			if err != nil {
				t.Fatalf("DecodeEnvelope: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func TestNormalizePath(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", "/"},
		{"/", "/"},
		{"attributes", "/attributes"},
		{"/attributes/", "/attributes"},
		{"/features/f/properties/x", "/features/f/properties/x"},
		{"/a//b", "/a//b"},
		{"//", "//"},
		{"a//", "/a//"},
		{"/a~b", "/a~b"},
	}
	for _, tt := range tests {
		if got := normalizePath(tt.in); got != tt.want {
			t.Errorf("normalizePath(%q) got %q, want %q", tt.in, got, tt.want)
		}
		if got := normalizePath(normalizePath(tt.in)); got != tt.want {
			t.Errorf("normalizePath twice (%q) got %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestEncode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Envelope
		want string
	}{
		{
			name: "zero value gets headers and root path",
			in:   Envelope{Topic: "ns/n/things/twin/commands/retrieve"},
			want: `{"topic":"ns/n/things/twin/commands/retrieve","headers":{},"path":"/"}`,
		},
		{
			name: "Ditto field order and typed headers",
			in: Envelope{
				Topic: "ns/n/things/twin/events/modified",
				Headers: Headers{
					"response-required": "true", "correlation-id": "<c&d>", "requested-acks": `[ "a" ]`,
					"at-historical-revision": "12", "timeout": "5s", "ditto-metadata": "not json",
				},
				Path: "/attributes/a", Value: json.RawMessage(` { "v" : 1 } `), Extra: json.RawMessage(`{}`),
				Status: 200, Revision: 3, Timestamp: "t", Metadata: json.RawMessage(`{"m":1}`), Fields: "f",
			},
			want: `{"topic":"ns/n/things/twin/events/modified","headers":{"at-historical-revision":12,"correlation-id":"<c&d>","ditto-metadata":"not json","requested-acks":["a"],"response-required":true,"timeout":"5s"},"path":"/attributes/a","value":{"v":1},"extra":{},"status":200,"revision":3,"timestamp":"t","metadata":{"m":1},"fields":"f"}`,
		},
		{
			name: "null value kept",
			in:   Envelope{Topic: "ns/n/things/twin/commands/modify", Path: "/attributes", Value: json.RawMessage("null")},
			want: `{"topic":"ns/n/things/twin/commands/modify","headers":{},"path":"/attributes","value":null}`,
		},
		{
			name: "strings escaped",
			in:   Envelope{Topic: "ns/n\"\\\n\x01/things/live/messages/s", Path: "/"},
			want: `{"topic":"ns/n\"\\\n\u0001/things/live/messages/s","headers":{},"path":"/"}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.in.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			if string(got) != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
			if !json.Valid(got) {
				t.Errorf("got invalid JSON %s", got)
			}
		})
	}
}

func TestEncodeInvalidRaw(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Envelope
	}{
		{"value", Envelope{Topic: "a/b/things/twin/errors", Value: json.RawMessage("{")}},
		{"extra", Envelope{Topic: "a/b/things/twin/errors", Extra: json.RawMessage("nope")}},
		{"metadata", Envelope{Topic: "a/b/things/twin/errors", Metadata: json.RawMessage("[")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if _, err := tt.in.Encode(); err == nil {
				t.Errorf("got nil error, want an error")
			}
		})
	}
}

func TestEnvelopeJSONMarshalers(t *testing.T) {
	t.Parallel()
	type wrapper struct {
		Event Envelope `json:"event"`
	}
	in := wrapper{Event: Envelope{Topic: "ns/n/things/twin/events/created", Path: "/", Value: json.RawMessage(`{"thingId":"ns:n"}`), Revision: 1}}
	data, err := json.Marshal(in)
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	want := `{"event":{"topic":"ns/n/things/twin/events/created","headers":{},"path":"/","value":{"thingId":"ns:n"},"revision":1}}`
	if string(data) != want {
		t.Errorf("Marshal got %s, want %s", data, want)
	}
	var out wrapper
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("Unmarshal: %v", err)
	}
	in.Event.Headers = Headers{}
	if !reflect.DeepEqual(out, in) {
		t.Errorf("Unmarshal got %#v, want %#v", out, in)
	}
	err = json.Unmarshal([]byte(`{"event":{"path":"/"}}`), &out)
	if !HasCode(err, CodeJSONFieldMissing) {
		t.Errorf("Unmarshal without topic got %v, want %s", err, CodeJSONFieldMissing)
	}
}

func TestErrorEnvelope(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		topic     string
		path      string
		err       *Error
		wantTopic string
		wantPath  string
	}{
		{"thing command", "org.eclipse.ditto/fancy-thing/things/twin/commands/modify", "/attributes",
			ErrThingNotAccessible("org.eclipse.ditto:fancy-thing"), "org.eclipse.ditto/fancy-thing/things/twin/errors", "/attributes"},
		{"live message", "ns/n/things/live/messages/a/b", "", ErrCommandTimeout(0), "ns/n/things/live/errors", "/"},
		{"policy", "ns/p/policies/commands/create", "/", ErrPolicyConflict("ns:p"), "ns/p/policies/errors", "/"},
		{"fallback", FallbackErrorTopic().String(), "/", ErrJSONFormatInvalid("Empty json."), "unknown/unknown/things/twin/errors", "/"},
		{"search", "_/_/things/twin/search/subscribe", "/", ErrSearchOptionInvalid("bad"), "_/_/things/search/error", "/"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			topic, err := ParseTopic(tt.topic)
			if err != nil {
				t.Fatalf("ParseTopic: %v", err)
			}
			h := Headers{HeaderCorrelationID: "c-1"}
			env := ErrorEnvelope(topic, h, tt.path, tt.err)
			if env.Topic != tt.wantTopic || env.Path != tt.wantPath || env.Status != tt.err.Status {
				t.Errorf("got topic %q path %q status %d, want %q %q %d", env.Topic, env.Path, env.Status, tt.wantTopic, tt.wantPath, tt.err.Status)
			}
			data, err := env.Encode()
			if err != nil {
				t.Fatalf("Encode: %v", err)
			}
			back, err := DecodeEnvelope(data)
			if err != nil {
				t.Fatalf("DecodeEnvelope(%s): %v", data, err)
			}
			got, ok := back.AsError()
			if !ok {
				t.Fatalf("AsError got false, want true")
			}
			if !reflect.DeepEqual(*got, *tt.err) {
				t.Errorf("AsError got %+v, want %+v", got, tt.err)
			}
			if want, _ := json.Marshal(tt.err); !reflect.DeepEqual(semantic(t, env.Value), semantic(t, want)) {
				t.Errorf("value got %s, want %s", env.Value, want)
			}
			if !errors.Is(got, tt.err) {
				t.Errorf("errors.Is(%v, %v) got false, want true", got, tt.err)
			}
			if back.Headers.Get(HeaderCorrelationID) != "c-1" {
				t.Errorf("correlation-id got %q, want c-1", back.Headers.Get(HeaderCorrelationID))
			}
		})
	}
}

func TestErrorEnvelopeValueBytes(t *testing.T) {
	t.Parallel()
	env := ErrorEnvelope(FallbackErrorTopic(), nil, "", ErrJSONFieldMissing("/topic"))
	want := `{"status":400,"error":"json.field.missing","message":"JSON did not include required </topic> field!","description":"Check if all required JSON fields were set."}`
	if string(env.Value) != want {
		t.Errorf("got  %s\nwant %s", env.Value, want)
	}
	env = ErrorEnvelope(FallbackErrorTopic(), nil, "", &Error{Status: 500, Code: "x"})
	if want := `{"status":500,"error":"x","message":""}`; string(env.Value) != want {
		t.Errorf("got %s, want %s", env.Value, want)
	}
}

func TestAsErrorRejects(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  Envelope
	}{
		{"not errors criterion", Envelope{Topic: "ns/n/things/twin/commands/modify", Value: json.RawMessage(`{"status":400,"error":"x"}`)}},
		{"no value", Envelope{Topic: "ns/n/things/twin/errors"}},
		{"value not object", Envelope{Topic: "ns/n/things/twin/errors", Value: json.RawMessage(`"x"`)}},
		{"no code", Envelope{Topic: "ns/n/things/twin/errors", Value: json.RawMessage(`{"status":400}`)}},
		{"bad topic", Envelope{Topic: "nope", Value: json.RawMessage(`{"status":400,"error":"x"}`)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, ok := tt.env.AsError(); ok {
				t.Errorf("AsError got %+v, true; want false", got)
			}
		})
	}
	env := Envelope{Topic: "ns/n/things/twin/errors", Status: 409, Value: json.RawMessage(`{"error":"things:thing.conflict"}`)}
	got, ok := env.AsError()
	if !ok || got.Status != 409 {
		t.Errorf("AsError without value status got %+v, %v; want status 409 from envelope", got, ok)
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	examples := make([][]byte, 0, 400)
	_ = filepath.WalkDir(examplesDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var ex exampleFile
		if json.Unmarshal(data, &ex) == nil {
			for _, m := range ex.Messages {
				examples = append(examples, m)
			}
		}
		return nil
	})
	for i, m := range examples {
		if i%10 == 0 {
			f.Add([]byte(m))
		}
	}
	f.Add([]byte(`{"topic":"ns/n/things/twin/commands/modify","headers":{"A":1,"a":"2","timeout":"1mo"},"path":"a//","value":null,"extra":null,"status":1e2,"revision":-0.0}`))
	f.Add([]byte(`null`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, data []byte) {
		e1, err := DecodeEnvelope(data)
		if err != nil {
			if AsError(err) == nil {
				t.Fatalf("DecodeEnvelope error %v is not an *Error", err)
			}
			return
		}
		checkAgainstEncodingJSON(t, data, e1)
		b1, err := e1.Encode()
		if err != nil {
			t.Fatalf("Encode of decoded %q: %v", data, err)
		}
		e2, err := DecodeEnvelope(b1)
		if err != nil {
			t.Fatalf("DecodeEnvelope(Encode(DecodeEnvelope(%q))) = %s: %v", data, b1, err)
		}
		b2, err := e2.Encode()
		if err != nil {
			t.Fatalf("second Encode: %v", err)
		}
		if !bytes.Equal(b1, b2) {
			t.Fatalf("encode not stable:\n1: %s\n2: %s", b1, b2)
		}
		if e1.Topic != e2.Topic || e1.Path != e2.Path || e1.Status != e2.Status || e1.Revision != e2.Revision {
			t.Fatalf("fields changed: %+v vs %+v", e1, e2)
		}
	})
}

// benchMessage is a typical modify command of about 500 bytes.
var benchMessage = []byte(`{"topic":"org.eclipse.ditto/fancy-thing/things/twin/commands/modify","headers":{"correlation-id":"a5b7e2c0-1d3f-4e5a-9b8c-7d6e5f4a3b2c","content-type":"application/json","response-required":true,"requested-acks":["twin-persisted"],"timeout":"10s"},"path":"/","value":{"thingId":"org.eclipse.ditto:fancy-thing","policyId":"org.eclipse.ditto:the_policy_id","attributes":{"location":{"latitude":44.673856,"longitude":8.261719}},"features":{"accelerometer":{"properties":{"x":3.141,"y":2.718,"z":1,"unit":"g"}}}}}`)

func BenchmarkDecodeEnvelope(b *testing.B) {
	b.SetBytes(int64(len(benchMessage)))
	for b.Loop() {
		if _, err := DecodeEnvelope(benchMessage); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEnvelope(b *testing.B) {
	env, err := DecodeEnvelope(benchMessage)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchMessage)))
	for b.Loop() {
		if _, err := env.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

// checkAgainstEncodingJSON compares what DecodeEnvelope's own scanner found
// with what encoding/json finds in the same input.
func checkAgainstEncodingJSON(t *testing.T, data []byte, e Envelope) {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("encoding/json rejects %q, which DecodeEnvelope accepted: %v", data, err)
	}
	var topic string
	if err := json.Unmarshal(m["topic"], &topic); err != nil || topic != e.Topic {
		t.Fatalf("topic got %q, encoding/json finds %q (%v)", e.Topic, topic, err)
	}
	if raw, ok := m["value"]; ok != (e.Value != nil) || (ok && !bytes.Equal(compact(raw), e.Value)) {
		t.Fatalf("value got %s, encoding/json finds %s", e.Value, raw)
	}
	var headers map[string]json.RawMessage
	if raw := m["headers"]; raw != nil {
		if err := json.Unmarshal(raw, &headers); err != nil {
			t.Fatalf("headers %s: %v", raw, err)
		}
	}
	lowered := make(map[string]bool)
	for k := range headers {
		lowered[strings.ToLower(k)] = true
	}
	if len(lowered) != len(headers) {
		return // keys differing only in case: the winner depends on order
	}
	if len(e.Headers) != len(headers) {
		t.Fatalf("got %d headers, encoding/json finds %d", len(e.Headers), len(headers))
	}
	for k, raw := range headers {
		want := string(compact(raw))
		if raw[0] == '"' {
			if err := json.Unmarshal(raw, &want); err != nil {
				t.Fatalf("header %q: %v", k, err)
			}
		}
		if got := e.Headers.Get(k); got != want {
			t.Fatalf("header %q got %q, encoding/json finds %q", k, got, want)
		}
	}
}

func TestDecodeEnvelopeUncheckedSkipsOnlyHeaderValidation(t *testing.T) {
	t.Parallel()
	bad := []byte(`{"topic":"a/b/things/twin/commands/retrieve","headers":{"timeout":"soon"},"path":"/"}`)
	if _, err := DecodeEnvelope(bad); err == nil {
		t.Fatal("DecodeEnvelope accepted an invalid timeout header")
	}
	env, err := DecodeEnvelopeUnchecked(bad)
	if err != nil || env.Headers["timeout"] != "soon" {
		t.Fatalf("DecodeEnvelopeUnchecked = %+v, %v; want the header kept", env, err)
	}
	if err := env.Headers.Validate(); err == nil {
		t.Error("Validate accepted the invalid timeout header")
	}
	// Everything else is still checked.
	for _, in := range []string{`{"headers":{},"path":"/"}`, `{"topic":"x","headers":{},"path":"/"}`, `not json`} {
		if _, err := DecodeEnvelopeUnchecked([]byte(in)); err == nil {
			t.Errorf("DecodeEnvelopeUnchecked accepted %s", in)
		}
	}
}

func TestAppendJSONTrustedMatchesAppendJSON(t *testing.T) {
	t.Parallel()
	for _, v := range []string{`{"a":1,"b":[true,null,"x y"]}`, `{ "a" : 1 }`, `"s"`, `[1, 2]`} {
		e := Envelope{Topic: "a/b/things/twin/commands/modify", Path: "/x", Value: json.RawMessage(v), Extra: json.RawMessage(`{"e":1}`)}
		want, err := e.AppendJSON(nil)
		if err != nil {
			t.Fatal(err)
		}
		got, err := e.AppendJSONTrusted(nil)
		if err != nil || string(got) != string(want) {
			t.Errorf("AppendJSONTrusted(%s) = %s, %v; want %s", v, got, err, want)
		}
	}
	// White space is compacted, and checked while at it.
	if _, err := (Envelope{Topic: "a/b/things/twin/errors", Value: json.RawMessage("{ ")}).AppendJSONTrusted(nil); err == nil {
		t.Error("AppendJSONTrusted accepted invalid JSON with white space")
	}
}

// Broken JSON never panics the trusted decoder, and a truncation of a valid
// reply that breaks the walk gets the checked decoder's error.
func TestDecodeEnvelopeTrustedOnBrokenInput(t *testing.T) {
	for _, in := range []string{`{"topic":`, `{"topic"`, `{"`, `{`, ` `, `{"headers":{"a":`, `[`, `"`} {
		if _, err := DecodeEnvelopeTrusted([]byte(in)); err == nil {
			t.Errorf("DecodeEnvelopeTrusted(%q) returned no error", in)
		}
	}
	for i := range len(benchMessage) {
		_, _ = DecodeEnvelopeTrusted(benchMessage[:i]) // must not panic
	}
}

func FuzzDecodeEnvelopeTrusted(f *testing.F) {
	f.Add(benchMessage)
	f.Add([]byte(`{"topic":"ns/n/things/twin/commands/modify","headers":{"A":1,"a":"2"},"path":"a//","value":null,"status":204}`))
	f.Add([]byte(`{"topic":`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = DecodeEnvelopeTrusted(data) // must not panic, whatever data is
		if !json.Valid(data) {
			return
		}
		// Trusted input is what the services write: compact.
		var buf bytes.Buffer
		if err := json.Compact(&buf, data); err != nil {
			t.Fatal(err)
		}
		data = buf.Bytes()
		got, gerr := DecodeEnvelopeTrusted(data)
		want, werr := DecodeEnvelopeUnchecked(data)
		if (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
			t.Fatalf("%q: trusted error %v, checked error %v", data, gerr, werr)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: trusted %+v, checked %+v", data, got, want)
		}
	})
}

func BenchmarkDecodeEnvelopeTrusted(b *testing.B) {
	b.SetBytes(int64(len(benchMessage)))
	for b.Loop() {
		if _, err := DecodeEnvelopeTrusted(benchMessage); err != nil {
			b.Fatal(err)
		}
	}
}
