package gateway

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

// A message body travels as Ditto's protocol carries it and comes back as
// the same bytes.
func TestMessagePayloadRoundTrip(t *testing.T) {
	for _, tt := range []struct {
		ct, body, value string
	}{
		{"application/json", `{"a":1}`, `{"a":1}`},
		{"application/vnd.eclipse.ditto+json; charset=utf-8", `[1,2]`, `[1,2]`},
		{"text/plain", "how are you?", `"how are you?"`},
		{"TEXT/PLAIN; charset=UTF-8", "ä \"quoted\"", `"ä \"quoted\""`},
		{"application/xml", "<a/>", `"<a/>"`},
		{"application/octet-stream", "\x00\x01\xfa", `"AAH6"`},
		{"image/png", "png", `"cG5n"`},
	} {
		v, err := messagePayload(tt.ct, []byte(tt.body))
		if err != nil {
			t.Fatalf("%s %q: %v", tt.ct, tt.body, err)
		}
		if string(v) != tt.value {
			t.Errorf("%s %q: value %s, want %s", tt.ct, tt.body, v, tt.value)
		}
		body, ct := messageBody(protocol.Envelope{Value: v, Headers: protocol.Headers{protocol.HeaderContentType: tt.ct}})
		if string(body) != tt.body || ct != tt.ct {
			t.Errorf("%s %q: back as %q (%s)", tt.ct, tt.body, body, ct)
		}
	}
	if _, err := messagePayload("application/json", []byte("{nope")); err == nil {
		t.Error("invalid JSON accepted")
	}
	if v, err := messagePayload("text/plain", nil); err != nil || v != nil {
		t.Errorf("empty body: %s %v, want no value", v, err)
	}
}

func FuzzMessagePayload(f *testing.F) {
	f.Add("application/json", []byte(`{"a":[1,"x"]}`))
	f.Add("text/plain; charset=utf-8", []byte("hi"))
	f.Add("application/octet-stream", []byte{0, 255})
	f.Add(";;=", []byte("x"))
	f.Fuzz(func(t *testing.T, ct string, body []byte) {
		if ct == "" {
			ct = "application/octet-stream" // as sendMessage reads a body without type
		}
		v, err := messagePayload(ct, body)
		if err != nil {
			return
		}
		if len(body) == 0 {
			return
		}
		if !json.Valid(v) {
			t.Fatalf("value %q is not JSON", v)
		}
		back, _ := messageBody(protocol.Envelope{Value: v, Headers: protocol.Headers{protocol.HeaderContentType: ct}})
		if payloadKind(ct) == payloadJSON {
			return // JSON is carried as it is, compacted or not
		}
		if payloadKind(ct) == payloadText && !bytes.Equal(back, bytes.ToValidUTF8(body, []byte("\uFFFD"))) {
			t.Fatalf("text %q came back as %q", body, back)
		}
		if payloadKind(ct) == payloadBinary && !bytes.Equal(back, body) {
			t.Fatalf("binary %q came back as %q", body, back)
		}
	})
}
