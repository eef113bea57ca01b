package embedded

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/streams"
)

// Config configures the embedded server.
type Config struct {
	// DataDir holds the JetStream store (in DataDir/nats).
	DataDir string
	// Listen is the host:port of the client port; port 0 picks a free one,
	// an empty Listen opens no port (in-process connections only).
	Listen string
	// MaxPayload bounds one message; things and policies of up to the
	// configured size limits must fit with their envelopes.
	MaxPayload int32
	// Names and Seeds: the server admits exactly the platform's roles,
	// each authenticated by its nkey (Seeds, see Credentials) and limited
	// to its permissions (streams.Names.Permissions).
	Names streams.Names
	Seeds map[streams.Role][]byte
}

// Server is a running embedded nats-server.
type Server struct {
	srv *server.Server
}

// Start starts the server and waits until it accepts connections.
func Start(cfg Config, log *slog.Logger) (*Server, error) {
	var users []streams.User
	for _, r := range streams.Roles {
		pub, _, err := NkeyOption(cfg.Seeds[r])
		if err != nil {
			return nil, fmt.Errorf("credential of role %s: %w", r, err)
		}
		users = append(users, streams.User{Role: r, Nkey: pub})
	}
	auth, err := cfg.Names.AuthorizationConfig(users)
	if err != nil {
		return nil, err
	}
	opts := &server.Options{}
	if err := opts.ProcessConfigString(auth); err != nil {
		return nil, fmt.Errorf("configure embedded nats authorization: %w", err)
	}
	opts.ServerName = "ditto-embedded"
	opts.JetStream = true
	opts.StoreDir = filepath.Join(cfg.DataDir, "nats")
	opts.NoSigs = true
	opts.MaxPayload = cfg.MaxPayload
	// Commands of many entities share one in-process connection; the
	// default 64 MiB of pending data per client is easily reached by a
	// burst of replies, and a slow-consumer disconnect would drop them.
	opts.MaxPending = 512 << 20
	if cfg.Listen == "" {
		opts.DontListen = true
	} else {
		host, portStr, err := net.SplitHostPort(cfg.Listen)
		if err != nil {
			return nil, fmt.Errorf("nats listen address %q: %w", cfg.Listen, err)
		}
		port, err := strconv.Atoi(portStr)
		if err != nil {
			return nil, fmt.Errorf("nats listen port %q: %w", portStr, err)
		}
		if port == 0 {
			port = server.RANDOM_PORT
		}
		opts.Host, opts.Port = host, port
	}
	srv, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("configure embedded nats: %w", err)
	}
	srv.SetLoggerV2(logger{log.With("component", "nats-server")}, false, false, false)
	srv.Start()
	if !srv.ReadyForConnections(30 * time.Second) {
		srv.Shutdown()
		return nil, fmt.Errorf("embedded nats not ready within 30s")
	}
	return &Server{srv: srv}, nil
}

// ClientURL is the URL external clients (the nats CLI) connect to; empty
// when no port is open.
func (s *Server) ClientURL() string {
	if s.srv.Addr() == nil {
		return ""
	}
	return s.srv.ClientURL()
}

// Connect opens an in-process connection (no TCP); opts must carry a
// role's credential.
func (s *Server) Connect(opts ...nats.Option) (*nats.Conn, error) {
	opts = append([]nats.Option{nats.InProcessServer(s.srv)}, opts...)
	return nats.Connect("", opts...)
}

// Shutdown stops the server after the caller drained its connections, and
// waits until the JetStream store is flushed and closed.
func (s *Server) Shutdown(ctx context.Context) {
	done := make(chan struct{})
	go func() {
		s.srv.Shutdown()
		s.srv.WaitForShutdown()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// logger bridges nats-server's printf logger to slog.
type logger struct{ l *slog.Logger }

func (g logger) Noticef(format string, v ...any) { g.l.Info(fmt.Sprintf(format, v...)) }
func (g logger) Warnf(format string, v ...any)   { g.l.Warn(fmt.Sprintf(format, v...)) }
func (g logger) Fatalf(format string, v ...any)  { g.l.Error(fmt.Sprintf(format, v...), "fatal", true) }
func (g logger) Errorf(format string, v ...any)  { g.l.Error(fmt.Sprintf(format, v...)) }
func (g logger) Debugf(format string, v ...any)  { g.l.Debug(fmt.Sprintf(format, v...)) }
func (g logger) Tracef(format string, v ...any)  { g.l.Debug(fmt.Sprintf(format, v...), "trace", true) }
