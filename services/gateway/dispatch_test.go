package gateway

import (
	"context"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

func TestDispatcherSubject(t *testing.T) {
	t.Parallel()
	d := NewDispatcher(nil, streams.Names{}, 0)
	tests := []struct {
		group, id, want string
		ok              bool
	}{
		{protocol.GroupThings, thingID, streams.New("").ThingCommands(streams.Shard(thingID, streams.DefaultShards)), true},
		{protocol.GroupPolicies, policyID, streams.New("").PolicyCommands(streams.Shard(policyID, streams.DefaultShards)), true},
		{protocol.GroupConnections, "c", "", false},
	}
	for _, tt := range tests {
		got, err := d.Subject(tt.group, tt.id)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Subject(%s, %s): got %q, %v, want %q ok=%t", tt.group, tt.id, got, err, tt.want, tt.ok)
		}
	}
}

// TestDispatcherRefusesAnonymous checks that no command leaves without
// authenticated subjects, which services would reject anyway.
func TestDispatcherRefusesAnonymous(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	c := Command{Group: protocol.GroupThings, EntityID: thingID, Timeout: time.Second,
		Envelope: protocol.Envelope{Topic: "org.eclipse.ditto/t1/things/twin/commands/retrieve", Path: "/",
			Headers: protocol.Headers{protocol.HeaderCorrelationID: "d-1"}}}
	if _, err := h.gw.Dispatcher().Request(context.Background(), c); err == nil {
		t.Error("Request without Auth: got nil error")
	}
	if err := h.gw.Dispatcher().Publish(c); err == nil {
		t.Error("Publish without Auth: got nil error")
	}
	c.Auth = `["nginx:ditto"]`
	reply, err := h.gw.Dispatcher().Request(context.Background(), c)
	if err != nil || reply.Status != 200 {
		t.Errorf("Request: got %+v, %v, want status 200", reply, err)
	}
	if got := h.waitCommands(1); got[0].header.Get(streams.HeaderAuth) != c.Auth {
		t.Errorf("auth header: got %q, want %q", got[0].header.Get(streams.HeaderAuth), c.Auth)
	}
}
