package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

// baselinePrefix is the subject prefix of the baseline's own NATS server;
// it shares nothing with a platform, so it is not the platform's prefix.
const baselinePrefix = "bench"

// readyLine starts the line the baseline prints on stdout once it accepts
// requests; the address follows it.
const readyLine = "baseline listening on "

// baseline is the ceiling the platform is compared with: net/http in front
// of one NATS request/reply to a responder that holds the N thing JSONs in a
// map, all in one process, over an in-process NATS connection. It shards
// its subjects the way the platform does, so a request takes the same path
// minus everything the platform does on top.
type baseline struct {
	ns     *server.Server
	nc     *nats.Conn
	names  streams.Names
	shards int
	auth   string
	things map[string][]byte // read-only once serving
}

// newBaseline starts the embedded NATS server and the responders for n
// things of namespace thingNS; user is the basic-auth "name:password"
// every request must carry.
func newBaseline(thingNS string, n int, user string) (*baseline, error) {
	ns, err := server.NewServer(&server.Options{
		ServerName: "bench-baseline",
		DontListen: true,
		NoLog:      true,
		NoSigs:     true,
	})
	if err != nil {
		return nil, fmt.Errorf("baseline nats server: %w", err)
	}
	ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("baseline nats server not ready within 10s")
	}
	nc, err := nats.Connect("", nats.InProcessServer(ns), nats.Name("bench-baseline"))
	if err != nil {
		ns.Shutdown()
		return nil, fmt.Errorf("baseline nats connect: %w", err)
	}
	b := &baseline{
		ns:     ns,
		nc:     nc,
		names:  streams.New(baselinePrefix),
		shards: streams.DefaultShards,
		auth:   newAuth(user),
		things: make(map[string][]byte, n),
	}
	for i := range n {
		b.things[thingID(thingNS, i)] = appendThing(nil, thingNS, i, true)
	}
	// One subscription per shard, as the platform serves its shards: each
	// has its own delivery goroutine, so shards answer in parallel.
	for s := range b.shards {
		if _, err := nc.Subscribe(b.names.ThingCommands(s), b.respond); err != nil {
			b.close()
			return nil, fmt.Errorf("baseline subscribe: %w", err)
		}
	}
	if err := nc.Flush(); err != nil {
		b.close()
		return nil, fmt.Errorf("baseline flush: %w", err)
	}
	return b, nil
}

// respond answers a request whose payload is a thing id with the thing's
// JSON, or an empty payload when there is no such thing.
func (b *baseline) respond(m *nats.Msg) {
	_ = m.Respond(b.things[string(m.Data)])
}

func (b *baseline) close() {
	b.nc.Close()
	b.ns.Shutdown()
	b.ns.WaitForShutdown()
}

// handler serves GET /api/2/things/{id} and GET /health.
func (b *baseline) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"status":"UP"}`)
	})
	mux.HandleFunc("GET /api/2/things/{id}", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != b.auth {
			w.Header().Set("WWW-Authenticate", `Basic realm="DITTO"`)
			writeError(w, protocol.NewError(http.StatusUnauthorized, "gateway:authentication.failed", "Unauthorized.", ""))
			return
		}
		id := r.PathValue("id")
		msg, err := b.nc.Request(b.names.ThingCommands(streams.Shard(id, b.shards)), []byte(id), 10*time.Second)
		if err != nil {
			writeError(w, protocol.NewError(http.StatusServiceUnavailable, "bench:baseline.unavailable", err.Error(), ""))
			return
		}
		if len(msg.Data) == 0 {
			writeError(w, protocol.NewError(http.StatusNotFound, "things:thing.notfound", "The Thing with ID '"+id+"' could not be found.", ""))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(msg.Data)
	})
	return mux
}

// writeError answers with Ditto's error JSON, so the load generator counts
// baseline errors as it counts the platform's.
func writeError(w http.ResponseWriter, e *protocol.Error) {
	body, err := json.Marshal(e)
	if err != nil {
		body = []byte(`{}`) // a struct of strings and an int always marshals
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	_, _ = w.Write(body)
}

// serveBaseline runs the baseline server until ctx ends or stdin closes (the
// parent bench is gone), after printing readyLine and its address to out.
func serveBaseline(ctx context.Context, thingNS string, n int, user string, stdin io.Reader, out io.Writer) error {
	b, err := newBaseline(thingNS, n, user)
	if err != nil {
		return err
	}
	defer b.close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("baseline listen: %w", err)
	}
	srv := &http.Server{Handler: b.handler(), ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	parentGone := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(parentGone)
	}()
	if _, err := fmt.Fprintf(out, "%s%s\n", readyLine, l.Addr()); err != nil {
		srv.Close()
		return fmt.Errorf("baseline announce: %w", err)
	}
	select {
	case err := <-served:
		return fmt.Errorf("baseline serve: %w", err)
	case <-ctx.Done():
	case <-parentGone:
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("baseline shutdown: %w", err)
	}
	return nil
}

// startBaseline re-executes this binary as the baseline server and waits
// until it announces its address; it returns the process and its base URL.
func startBaseline(ctx context.Context, exe, thingNS string, n int, user, logPath string) (*proc, string, error) {
	cmd := exec.Command(exe, "-serve-baseline", "-n", strconv.Itoa(n), "-namespace", thingNS, "-user", user)
	var stdout io.ReadCloser
	p, err := startProc("baseline", cmd, logPath, func(p *proc) error {
		var err error
		if p.stdin, err = cmd.StdinPipe(); err != nil {
			return fmt.Errorf("baseline stdin: %w", err)
		}
		if stdout, err = cmd.StdoutPipe(); err != nil {
			return fmt.Errorf("baseline stdout: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	addr := make(chan string, 1)
	go func() {
		// Read the announcement, then keep draining so the child never
		// blocks on a full pipe.
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), readyLine); ok {
				select {
				case addr <- a:
				default:
				}
			}
		}
	}()
	// Building N thing JSONs takes a moment for large N.
	timer := time.NewTimer(time.Minute)
	defer timer.Stop()
	select {
	case a := <-addr:
		return p, "http://" + a, nil
	case <-p.done:
		return nil, "", p.diedError()
	case <-ctx.Done():
		_, _ = p.stop(5 * time.Second)
		return nil, "", ctx.Err()
	case <-timer.C:
		_, _ = p.stop(5 * time.Second)
		return nil, "", fmt.Errorf("baseline did not announce its address within a minute; log %s", logPath)
	}
}

// baselineMain is the -serve-baseline mode of the binary.
func baselineMain(ctx context.Context, thingNS string, n int, user string) int {
	if err := serveBaseline(ctx, thingNS, n, user, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench -serve-baseline:", err)
		return 1
	}
	return 0
}
