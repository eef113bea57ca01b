package logging

import (
	"bufio"
	"bytes"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// stashServer is a real TCP server reading JSON lines, as Logstash's tcp
// input with the json_lines codec does.
type stashServer struct {
	t     *testing.T
	ln    net.Listener
	lines chan []byte
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func startStash(t *testing.T, addr string) *stashServer {
	t.Helper()
	var ln net.Listener
	var err error
	// The port of a stopped server may take a moment to be free again.
	for deadline := time.Now().Add(5 * time.Second); ; {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	s := &stashServer{t: t, ln: ln, lines: make(chan []byte, 10000)}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(s.stop)
	return s
}

func (s *stashServer) addr() string { return s.ln.Addr().String() }

func (s *stashServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns = append(s.conns, c)
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			sc := bufio.NewScanner(c)
			sc.Buffer(nil, 1<<20)
			for sc.Scan() {
				s.lines <- append(bytes.Clone(sc.Bytes()), '\n')
			}
		}()
	}
}

// stop closes the listener and every connection.
func (s *stashServer) stop() {
	s.ln.Close()
	s.mu.Lock()
	for _, c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// next returns the next line, failing after a while.
func (s *stashServer) next(t *testing.T) map[string]any {
	t.Helper()
	return decodeLine(t, s.nextRaw(t))
}

func (s *stashServer) nextRaw(t *testing.T) []byte {
	t.Helper()
	select {
	case b := <-s.lines:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no line reached the Logstash server")
		return nil
	}
}

// syncBuffer is a bytes.Buffer safe for a reader and the sinks.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func testOptions() options {
	o := defaultOptions()
	o.minBackoff, o.maxBackoff = 5*time.Millisecond, 20*time.Millisecond
	o.drainTimeout = 200 * time.Millisecond
	return o
}

func stashConfig(t *testing.T, addr string) Config {
	c := defaults(t)
	c.LogstashServer = addr
	return c
}

// Lines reach a real TCP server in the layout, with every attribute.
func TestLogstashSendsJSON(t *testing.T) {
	t.Parallel()
	srv := startStash(t, "127.0.0.1:0")
	var console syncBuffer
	s, err := newSinks(stashConfig(t, srv.addr()), &console, "things", "inst-1", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log := slog.New(s.Handler()).With("service", "things")
	log.Warn("thing created", "correlation-id", "cid-7", "traceparent", "00-abc-def-01", slog.Group("g", "x", 1))
	got := srv.next(t)
	for k, want := range map[string]any{
		"@version": "1", "message": "thing created", "logger_name": "things", "level": "WARN", "level_value": 30000.0,
		"appname": "things", "instance": "inst-1", "service": "things", "correlation-id": "cid-7",
		"traceparent": "00-abc-def-01", "g.x": 1.0,
	} {
		if got[k] != want {
			t.Errorf("%s = %#v, want %#v", k, got[k], want)
		}
	}
	if ts, _ := got["@timestamp"].(string); !timestampRE.MatchString(ts) {
		t.Errorf("@timestamp %q", ts)
	}
	if !strings.Contains(console.String(), "thing created") {
		t.Errorf("console did not get the line: %q", console.String())
	}
	if d := s.Dropped(); d.Logstash != 0 {
		t.Errorf("dropped %d", d.Logstash)
	}
}

// After the server restarts, lines reach it again.
func TestLogstashReconnects(t *testing.T) {
	t.Parallel()
	srv := startStash(t, "127.0.0.1:0")
	addr := srv.addr()
	s, err := newSinks(stashConfig(t, addr), &syncBuffer{}, "gateway", "", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	log := slog.New(s.Handler())
	log.Info("before")
	if got := srv.next(t); got["message"] != "before" {
		t.Fatalf("first line %v", got)
	}
	srv.stop()
	srv2 := startStash(t, addr)
	// A line written into the closed connection is lost (as with any TCP
	// sender); keep logging until one arrives.
	deadline := time.Now().Add(10 * time.Second)
	for {
		log.Info("after")
		select {
		case b := <-srv2.lines:
			if m := decodeLine(t, b); m["message"] != "after" {
				t.Fatalf("line %v", m)
			}
			return
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("no line reached the restarted server")
		}
	}
}

// With the server gone, logging returns at once: the queue fills, then
// drops and counts; one warning says so, however often reconnecting fails.
func TestLogstashUnreachableDropsWithoutBlocking(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := stashConfig(t, addr)
	cfg.LogstashRingBuffer = 16
	cfg.DisableSysout = true
	var console syncBuffer
	s, err := newSinks(cfg, &console, "gateway", "", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(s.Handler())
	const n = 5000
	start := time.Now()
	for i := range n {
		log.Info("line", "i", i)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("%d lines took %v with the server down", n, took)
	}
	if d := s.Dropped().Logstash; d < n-16 {
		t.Errorf("dropped %d, want at least %d", d, n-16)
	}
	// Several failed attempts within the warning interval: one warning.
	deadline := time.Now().Add(10 * time.Second)
	for s.stash.attempts.Load() < 5 {
		if time.Now().After(deadline) {
			t.Fatal("no reconnection attempts")
		}
		time.Sleep(5 * time.Millisecond)
	}
	out := console.String()
	if c := strings.Count(out, "logstash server unreachable"); c != 1 {
		t.Errorf("%d warnings, want 1:\n%s", c, out)
	}
	if !strings.Contains(out, "lines_dropped=") || !strings.Contains(out, addr) {
		t.Errorf("warning %q lacks the address or the count", out)
	}
	if strings.Contains(out, "level=INFO") {
		t.Errorf("DITTO_LOGGING_DISABLE_SYSOUT_LOG: console got lines:\n%s", out)
	}
	start = time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v", took)
	}
	if d := s.Dropped().Logstash; d != n {
		t.Errorf("after Close dropped %d, want all %d", d, n)
	}
}

// A server that accepts but never reads does not block the caller either.
func TestLogstashStalledServerDoesNotBlock(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	var mu sync.Mutex
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			// A small receive buffer (no autotuning) stalls the sender
			// after a few MB.
			c.(*net.TCPConn).SetReadBuffer(4096)
			mu.Lock()
			conns = append(conns, c) // never read
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	cfg := stashConfig(t, ln.Addr().String())
	cfg.LogstashRingBuffer = 64
	s, err := newSinks(cfg, &syncBuffer{}, "gateway", "", testOptions())
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(s.Handler())
	big := strings.Repeat("x", 4096)
	var slowest time.Duration
	for range 2500 { // ~10 MB: more than the socket buffers hold
		start := time.Now()
		log.Info(big)
		slowest = max(slowest, time.Since(start))
	}
	if slowest > time.Second {
		t.Errorf("a log call took %v against a stalled server", slowest)
	}
	if s.Dropped().Logstash == 0 {
		t.Error("nothing dropped against a stalled server")
	}
	start := time.Now()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Close took %v against a stalled server, want about the drain timeout", took)
	}
}
