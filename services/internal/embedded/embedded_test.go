package embedded

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/streams"
)

// connectAs opens an in-process connection as role r.
func connectAs(t *testing.T, srv *Server, seeds map[streams.Role][]byte, r streams.Role) *nats.Conn {
	t.Helper()
	pub, sign, err := NkeyOption(seeds[r])
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect(nats.Nkey(pub, sign), nats.CustomInboxPrefix(streams.InboxPrefix(r)))
	if err != nil {
		t.Fatalf("connect as %s: %v", r, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func TestEmbeddedServerServesInProcessAndTCPAndPersists(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	seeds, err := Credentials(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	names := streams.New("")
	cfg := Config{DataDir: dir, Listen: "127.0.0.1:0", MaxPayload: 1 << 20, Names: names, Seeds: seeds}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	srv, err := Start(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	in := connectAs(t, srv, seeds, streams.RoleThings)
	js, err := jetstream.New(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := streams.Ensure(ctx, js, names, streams.DefaultConfig(), streams.ServiceThings); err != nil {
		t.Fatal(err)
	}
	if srv.ClientURL() == "" {
		t.Fatal("no client URL although a port was requested")
	}
	// The operator's nats CLI comes over TCP with its nkey; an anonymous
	// client does not get in.
	if nc, err := nats.Connect(srv.ClientURL()); err == nil {
		nc.Close()
		t.Error("an anonymous TCP client was admitted")
	}
	op, err := nats.Connect(srv.ClientURL(), mustNkey(t, seeds[streams.RoleOperator]))
	if err != nil {
		t.Fatalf("the operator cannot connect over TCP: %v", err)
	}
	defer op.Close()
	sub, err := op.SubscribeSync(names.ThingEventsAll())
	if err != nil {
		t.Fatal(err)
	}
	op.Flush()
	if _, err := js.Publish(ctx, names.ThingEvents("ns"), []byte("kept")); err != nil {
		t.Fatal(err)
	}
	if msg, err := sub.NextMsg(5 * time.Second); err != nil || string(msg.Data) != "kept" {
		t.Fatalf("the operator got %v, %v; want the event", msg, err)
	}
	in.Close()
	srv.Shutdown(ctx)

	// A restart on the same data directory keeps the stream's messages and
	// the credentials.
	again, err := Credentials(filepath.Join(dir, "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	for r, seed := range seeds {
		if !bytes.Equal(again[r], seed) {
			t.Errorf("credential of %s changed over a restart", r)
		}
	}
	srv2, err := Start(Config{DataDir: dir, MaxPayload: 1 << 20, Names: names, Seeds: again}, log)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Shutdown(ctx)
	if srv2.ClientURL() != "" {
		t.Errorf("ClientURL = %q with no port configured, want empty", srv2.ClientURL())
	}
	js2, _ := jetstream.New(connectAs(t, srv2, again, streams.RoleThings))
	s, err := js2.Stream(ctx, names.ThingEventsStream())
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.GetMsg(ctx, 1)
	if err != nil || string(m.Data) != "kept" {
		t.Fatalf("after restart: got %v, %v; want message 'kept'", m, err)
	}
}

func mustNkey(t *testing.T, seed []byte) nats.Option {
	t.Helper()
	pub, sign, err := NkeyOption(seed)
	if err != nil {
		t.Fatal(err)
	}
	return nats.Nkey(pub, sign)
}

func TestStartRejectsBadListen(t *testing.T) {
	t.Parallel()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	seeds, err := Credentials(filepath.Join(t.TempDir(), "secrets"))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range []string{"nohostport", "127.0.0.1:notaport"} {
		if _, err := Start(Config{DataDir: t.TempDir(), Listen: l, Names: streams.New(""), Seeds: seeds}, log); err == nil {
			t.Errorf("Start accepted listen address %q", l)
		}
	}
	if _, err := Start(Config{DataDir: t.TempDir(), Names: streams.New("")}, log); err == nil {
		t.Error("Start accepted a configuration without credentials")
	}
}

// Credentials are made once, readable by the owner only, and a seed file
// that is not one stops the process with the file's name.
func TestCredentials(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "secrets")
	seeds, err := Credentials(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(seeds) != len(streams.Roles) {
		t.Fatalf("%d credentials, want one per role (%d)", len(seeds), len(streams.Roles))
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("credentials directory mode %v, %v; want 0700", st.Mode().Perm(), err)
	}
	seen := map[string]bool{}
	for _, r := range streams.Roles {
		st, err := os.Stat(SeedFile(dir, r))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, %v; want 0600", r, st.Mode().Perm(), err)
		}
		if seen[string(seeds[r])] {
			t.Errorf("role %s shares its seed with another role", r)
		}
		seen[string(seeds[r])] = true
	}
	if err := os.WriteFile(SeedFile(dir, streams.RoleGateway), []byte("not a seed\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Credentials(dir)
	if err == nil || !strings.Contains(err.Error(), SeedFile(dir, streams.RoleGateway)) {
		t.Errorf("a broken seed file: %v, want an error naming it", err)
	}
	if err := os.Chmod(SeedFile(dir, streams.RoleGateway), 0); err == nil && os.Getuid() != 0 {
		if _, err := Credentials(dir); err == nil || !errors.Is(err, os.ErrPermission) {
			t.Errorf("an unreadable seed file: %v, want a permission error", err)
		}
	}
}
