package things

import (
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

// The sender of a live message or command waits for the device's answer
// when it requests live-response, or requests no acknowledgements and did
// not say response-required false.
func TestAnswerWanted(t *testing.T) {
	for _, tc := range []struct {
		headers protocol.Headers
		want    bool
	}{
		{protocol.Headers{}, true},
		{protocol.Headers{"response-required": "false"}, false},
		{protocol.Headers{"requested-acks": `["live-response","my-ack"]`}, true},
		{protocol.Headers{"requested-acks": `["my-ack"]`}, false},
		{protocol.Headers{"requested-acks": `["my-ack"]`, "response-required": "true"}, false},
		{protocol.Headers{"requested-acks": `[]`}, true},
		{protocol.Headers{"requested-acks": `[]`, "response-required": "false"}, false},
	} {
		if got := answerWanted(tc.headers); got != tc.want {
			t.Errorf("answerWanted(%v) = %v, want %v", tc.headers, got, tc.want)
		}
	}
}
