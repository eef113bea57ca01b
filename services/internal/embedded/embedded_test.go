package embedded

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func TestEmbeddedServerServesInProcessAndTCPAndPersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0", MaxPayload: 1 << 20}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	srv, err := Start(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	in, err := srv.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := in.SubscribeSync("hello")
	if err != nil {
		t.Fatal(err)
	}
	in.Flush()
	if srv.ClientURL() == "" {
		t.Fatal("no client URL although a port was requested")
	}
	tcp, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatalf("TCP client cannot connect: %v", err)
	}
	if err := tcp.Publish("hello", []byte("world")); err != nil {
		t.Fatal(err)
	}
	msg, err := sub.NextMsg(5 * time.Second)
	if err != nil || string(msg.Data) != "world" {
		t.Fatalf("in-process subscriber got %v, %v; want world", msg, err)
	}
	tcp.Close()

	js, err := jetstream.New(in)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "S", Subjects: []string{"s.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "s.1", []byte("kept")); err != nil {
		t.Fatal(err)
	}
	in.Close()
	srv.Shutdown(ctx)

	// A restart on the same data directory keeps the stream's messages.
	srv2, err := Start(Config{DataDir: dir, MaxPayload: 1 << 20}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Shutdown(ctx)
	if srv2.ClientURL() != "" {
		t.Errorf("ClientURL = %q with no port configured, want empty", srv2.ClientURL())
	}
	nc, err := srv2.Connect("test")
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js2, _ := jetstream.New(nc)
	s, err := js2.Stream(ctx, "S")
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil || string(m.Data) != "kept" {
		t.Fatalf("after restart: got %v, %v; want message 'kept'", m, err)
	}
}

func TestStartRejectsBadListen(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for _, l := range []string{"nohostport", "127.0.0.1:notaport"} {
		if _, err := Start(Config{DataDir: t.TempDir(), Listen: l}, log); err == nil {
			t.Errorf("Start accepted listen address %q", l)
		}
	}
}
