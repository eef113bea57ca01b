package gateway

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/streams"
)

// What the command client reports becomes what Ditto's gateway answers.
func TestDittoError(t *testing.T) {
	t.Parallel()
	const timeout = 3 * time.Second
	other := errors.New("garbled reply")
	tests := []struct {
		err    error
		status int    // 0: not a Ditto error
		code   string // for Ditto errors
		same   error  // returned as it is
	}{
		{command.ErrUnavailable, 503, "gateway:service.unavailable", nil},
		{fmt.Errorf("wrapped: %w", command.ErrTimeout), 408, "command.timeout", nil},
		{context.DeadlineExceeded, 408, "command.timeout", nil},
		{nats.ErrConnectionClosed, 503, "gateway:service.unavailable", nil},
		{nats.ErrConnectionReconnecting, 503, "gateway:service.unavailable", nil},
		{protocol.ErrThingNotAccessible("a:b"), 404, "things:thing.notfound", nil},
		{context.Canceled, 0, "", context.Canceled},
		{other, 0, "", other},
	}
	for _, tt := range tests {
		got := dittoError(tt.err, timeout)
		perr := protocol.AsError(got)
		switch {
		case tt.status != 0 && (perr == nil || perr.Status != tt.status || perr.Code != tt.code):
			t.Errorf("dittoError(%v) = %v, want %d %s", tt.err, got, tt.status, tt.code)
		case tt.status == 0 && (perr != nil || !errors.Is(got, tt.same)):
			t.Errorf("dittoError(%v) = %v, want it wrapped as it is", tt.err, got)
		}
	}
}

// The gateway's commands carry the caller's subjects as the services read
// them.
func TestCommandsCarryTheCallersSubjects(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	reply, err := h.gw.request(context.Background(), command.Request{Group: protocol.GroupThings, EntityID: thingID, Timeout: time.Second,
		Auth: `["nginx:ditto"]`,
		Envelope: protocol.Envelope{Topic: "org.eclipse.ditto/t1/things/twin/commands/retrieve", Path: "/",
			Headers: protocol.Headers{protocol.HeaderCorrelationID: "d-1"}}})
	if err != nil || reply.Status != 200 {
		t.Errorf("request: got %+v, %v, want status 200", reply, err)
	}
	if got := h.waitCommands(1); got[0].header.Get(streams.HeaderAuth) != `["nginx:ditto"]` {
		t.Errorf("auth header: got %q", got[0].header.Get(streams.HeaderAuth))
	}
}
