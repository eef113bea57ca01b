package command

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

func TestRequestRoutesToShardWithHeadersAndRetriesUntilServed(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	nc := srv.Connect(t)
	names := streams.New("")
	c := New(nc, names, 7)
	// A name ending in a blank: NATS header values lose it, so the
	// header carries the id quoted.
	id := "org.eclipse.ditto:t1 "
	subject := names.ThingCommands(streams.Shard(id, 7))

	// Nobody serves the shard yet: the client keeps trying.
	served := make(chan struct{})
	go func() {
		time.Sleep(150 * time.Millisecond) // simulates a slow component: the shard's owner arrives late
		responder := srv.Connect(t)
		_, err := responder.Subscribe(subject, func(m *nats.Msg) {
			if got := streams.DecodeEntityHeader(m.Header.Get(streams.HeaderEntity)); got != id {
				t.Errorf("entity header decodes to %q, want %q", got, id)
			}
			if m.Header.Get(streams.HeaderAuth) != `["nginx:ditto"]` || m.Header.Get(streams.HeaderSudo) != "" {
				t.Errorf("headers %v", m.Header)
			}
			env, _ := protocol.DecodeEnvelope(m.Data)
			env.Status = 200
			data, _ := env.Encode()
			m.Respond(data)
		})
		if err != nil {
			t.Error(err)
		}
		responder.Flush()
		close(served)
	}()
	env, err := c.Request(context.Background(), Request{
		Envelope: protocol.Envelope{Topic: "org.eclipse.ditto/t1 /things/twin/commands/retrieve", Path: "/"},
		EntityID: id, Group: protocol.GroupThings, Auth: EncodeAuth([]string{"nginx:ditto"}), Timeout: 5 * time.Second,
	})
	<-served
	if err != nil || env.Status != 200 {
		t.Fatalf("Request = %+v, %v; want the responder's 200", env, err)
	}
}

func TestRequestGivesUpAtTheEarlierOfTimeoutAndDeadline(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	c := New(srv.Connect(t), streams.New(""), 3)
	req := Request{Envelope: protocol.Envelope{Topic: "a/b/policies/commands/retrieve"}, EntityID: "a:b",
		Group: protocol.GroupPolicies, Kind: streams.KindInternal, Timeout: time.Minute}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	if _, err := c.Request(ctx, req); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("gave up after %s, want about the context's 200ms", d)
	}
	cancel()
	if _, err := c.Request(ctx, req); !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
		t.Errorf("ended context: err = %v, want the context's error", err)
	}
}

func TestRequestAnsweredLateIsTimeout(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	names := streams.New("")
	c := New(srv.Connect(t), names, 3)
	silent := srv.Connect(t)
	if _, err := silent.Subscribe(names.CommandsAll(streams.ServiceThings, streams.KindCommands), func(*nats.Msg) {}); err != nil {
		t.Fatal(err)
	}
	_ = silent.Flush()
	_, err := c.Request(context.Background(), Request{Envelope: protocol.Envelope{Topic: "a/b/things/twin/commands/retrieve"},
		EntityID: "a:b", Group: protocol.GroupThings, Auth: `["x:y"]`, Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
}

func TestSubjectsByGroupAndKind(t *testing.T) {
	t.Parallel()
	c := New(nil, streams.Names{}, 0)
	n := streams.New("")
	const id = "org.eclipse.ditto:x"
	s := streams.Shard(id, streams.DefaultShards)
	tests := []struct {
		group string
		kind  streams.CommandKind
		want  string
		ok    bool
	}{
		{protocol.GroupThings, "", n.ThingCommands(s), true},
		{protocol.GroupPolicies, streams.KindCommands, n.PolicyCommands(s), true},
		{protocol.GroupPolicies, streams.KindInternal, n.Commands(streams.ServicePolicies, streams.KindInternal, s), true},
		{protocol.GroupThings, streams.KindSudo, n.Commands(streams.ServiceThings, streams.KindSudo, s), true},
		{protocol.GroupConnections, "", "", false},
	}
	for _, tt := range tests {
		got, err := c.Subject(Request{Group: tt.group, Kind: tt.kind, EntityID: id})
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Subject(%s, %s): got %q, %v, want %q ok=%t", tt.group, tt.kind, got, err, tt.want, tt.ok)
		}
	}
}

// No command leaves without authenticated subjects but a service's
// internal one: services would reject it anyway.
func TestCommandsNeedAuth(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	c := New(srv.Connect(t), streams.New(""), 3)
	for _, kind := range []streams.CommandKind{"", streams.KindCommands, streams.KindSudo} {
		req := Request{Envelope: protocol.Envelope{Topic: "a/b/things/twin/commands/retrieve"}, EntityID: "a:b",
			Group: protocol.GroupThings, Kind: kind, Timeout: time.Second}
		if _, err := c.Request(context.Background(), req); err == nil || errors.Is(err, ErrUnavailable) {
			t.Errorf("kind %q without Auth: Request gave %v, want a refusal before sending", kind, err)
		}
		if err := c.Publish(req); err == nil {
			t.Errorf("kind %q without Auth: Publish sent it", kind)
		}
	}
}

func TestRequestWithin(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	nc := srv.Connect(t)

	t.Run("retries until served", func(t *testing.T) {
		t.Parallel()
		go func() {
			time.Sleep(100 * time.Millisecond) // simulates a slow component: the responder arrives late
			responder := srv.Connect(t)
			if _, err := responder.Subscribe("late", func(m *nats.Msg) { _ = m.Respond([]byte("ok")) }); err != nil {
				t.Error(err)
			}
			_ = responder.Flush()
		}()
		reply, err := RequestWithin(nc, nats.NewMsg("late"), 5*time.Second)
		if err != nil || string(reply.Data) != "ok" {
			t.Fatalf("got %v, %v; want the late responder's ok", reply, err)
		}
	})
	t.Run("nobody serves until the timeout", func(t *testing.T) {
		t.Parallel()
		start := time.Now()
		_, err := RequestWithin(nc, nats.NewMsg("nobody"), 200*time.Millisecond)
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("err = %v, want ErrUnavailable", err)
		}
		if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
			t.Errorf("gave up after %s, want about the timeout", d)
		}
	})
	t.Run("served but unanswered", func(t *testing.T) {
		t.Parallel()
		silent := srv.Connect(t)
		if _, err := silent.Subscribe("silent", func(*nats.Msg) {}); err != nil {
			t.Fatal(err)
		}
		_ = silent.Flush()
		_, err := RequestWithin(nc, nats.NewMsg("silent"), 100*time.Millisecond)
		if !errors.Is(err, nats.ErrTimeout) {
			t.Fatalf("err = %v, want nats.ErrTimeout", err)
		}
	})
}

// DecodeAuth reads what EncodeAuth writes and refuses anything but a
// non-empty array of non-empty subject ids.
func TestDecodeAuth(t *testing.T) {
	t.Parallel()
	if got, ok := DecodeAuth(EncodeAuth([]string{"nginx:a", "nginx:b"})); !ok || len(got) != 2 || got[0] != "nginx:a" || got[1] != "nginx:b" {
		t.Errorf("round trip: %v %v", got, ok)
	}
	for _, bad := range []string{"", "[]", `[""]`, `["a",""]`, `"a"`, `{}`, `[1]`, "x"} {
		if got, ok := DecodeAuth(bad); ok {
			t.Errorf("DecodeAuth(%q) = %v, want refused", bad, got)
		}
	}
}
