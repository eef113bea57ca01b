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

func TestSendRoutesToShardWithHeadersAndRetriesUntilServed(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	nc := srv.Connect(t)
	names := streams.New("")
	c := &Client{NC: nc, Names: names, Shards: 7}
	id := "org.eclipse.ditto:t1"
	subject := names.ThingCommands(streams.Shard(id, 7))

	// Nobody serves the shard yet: the client keeps trying.
	served := make(chan struct{})
	go func() {
		time.Sleep(150 * time.Millisecond) // the shard's owner arrives late
		responder := srv.Connect(t)
		_, err := responder.Subscribe(subject, func(m *nats.Msg) {
			if m.Header.Get(streams.HeaderEntity) != id || m.Header.Get(streams.HeaderAuth) != `["nginx:ditto"]` || m.Header.Get(streams.HeaderSudo) != "" {
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
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	env, err := c.Send(ctx, Request{
		Envelope: protocol.Envelope{Topic: "org.eclipse.ditto/t1/things/twin/commands/retrieve", Path: "/"},
		EntityID: id, Group: protocol.GroupThings, Auth: []string{"nginx:ditto"},
	})
	<-served
	if err != nil || env.Status != 200 {
		t.Fatalf("Send = %+v, %v; want the responder's 200", env, err)
	}
}

func TestSendGivesUpAtDeadline(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	c := &Client{NC: srv.Connect(t), Names: streams.New(""), Shards: 3}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	_, err := c.Send(ctx, Request{Envelope: protocol.Envelope{Topic: "a/b/policies/commands/retrieve"}, EntityID: "a:b", Group: protocol.GroupPolicies, Sudo: true})
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("err = %v, want ErrUnavailable", err)
	}
}

func TestSendRejectsUnknownGroup(t *testing.T) {
	t.Parallel()
	c := &Client{Names: streams.New(""), Shards: 3}
	if _, err := c.Send(context.Background(), Request{EntityID: "a:b", Group: "nope"}); err == nil {
		t.Fatal("unknown group accepted")
	}
}

func TestRequestWithin(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	nc := srv.Connect(t)

	t.Run("retries until served", func(t *testing.T) {
		t.Parallel()
		go func() {
			time.Sleep(100 * time.Millisecond)
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
