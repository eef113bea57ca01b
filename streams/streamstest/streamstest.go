// Package streamstest starts an in-process nats-server with JetStream for
// tests: random port, temporary store, shut down at test cleanup. A secured
// server admits only the platform's roles (streams.Roles), each with its
// permissions, as production does.
package streamstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/dittonats/dittonats/streams"
)

// Server is a running test server.
type Server struct {
	*server.Server
	// seeds holds each role's nkey seed on a secured server.
	seeds map[streams.Role][]byte
}

// Start starts a JetStream-enabled server listening on a random loopback
// port with its store in a temporary directory; it shuts down when the test
// ends. It admits anonymous clients.
func Start(t testing.TB) *Server {
	t.Helper()
	return start(t, "", nil)
}

// StartSecured is Start with authentication: only the roles of names, each
// with its own nkey and permissions; ConnectAs connects as one.
func StartSecured(t testing.TB, names streams.Names) *Server {
	t.Helper()
	seeds := map[streams.Role][]byte{}
	var users []streams.User
	for _, r := range streams.Roles {
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		seeds[r] = seed
		users = append(users, streams.User{Role: r, Nkey: pub})
	}
	conf, err := names.AuthorizationConfig(users)
	if err != nil {
		t.Fatal(err)
	}
	return start(t, conf, seeds)
}

func start(t testing.TB, conf string, seeds map[streams.Role][]byte) *Server {
	t.Helper()
	opts := &server.Options{}
	if conf != "" {
		if err := opts.ProcessConfigString(conf); err != nil {
			t.Fatalf("authorization config: %v", err)
		}
	}
	opts.ServerName = "test"
	opts.Host = "127.0.0.1"
	opts.Port = server.RANDOM_PORT
	opts.JetStream = true
	opts.StoreDir = t.TempDir()
	opts.NoLog = true
	opts.NoSigs = true
	// Plenty for tests that open many connections.
	opts.MaxPayload = 8 << 20
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("new nats server: %v", err)
	}
	s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatal("nats server not ready within 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return &Server{Server: s, seeds: seeds}
}

// Connect opens a client connection that is closed when the test ends.
func (s *Server) Connect(t testing.TB, opts ...nats.Option) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(s.ClientURL(), opts...)
	if err != nil {
		t.Fatalf("connect to test nats server: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// ConnectAs connects to a secured server as role r, with the role's inbox
// prefix, as the platform's processes do.
func (s *Server) ConnectAs(t testing.TB, r streams.Role, opts ...nats.Option) *nats.Conn {
	t.Helper()
	seed, ok := s.seeds[r]
	if !ok {
		t.Fatalf("no credential of role %q on this server", r)
	}
	kp, err := nkeys.FromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := kp.PublicKey()
	sign := func(nonce []byte) ([]byte, error) { return kp.Sign(nonce) }
	opts = append([]nats.Option{nats.Nkey(pub, sign), nats.CustomInboxPrefix(streams.InboxPrefix(r))}, opts...)
	return s.Connect(t, opts...)
}

// Seed returns role r's nkey seed on a secured server (for processes the
// test starts).
func (s *Server) Seed(r streams.Role) []byte { return s.seeds[r] }

// JetStream opens a connection and returns its JetStream context.
func (s *Server) JetStream(t testing.TB) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc := s.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatalf("jetstream: %v", err)
	}
	return nc, js
}
