package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

func TestReadResponse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		raw      string
		head     bool
		status   int
		errBody  string
		keep     bool
		leftover string // what must remain unread after the answer
	}{
		{"content length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhelloNEXT", false, 200, "", true, "NEXT"},
		{"no reason phrase", "HTTP/1.1 204\r\n\r\nNEXT", false, 204, "", true, "NEXT"},
		{"lower-case headers and LF only", "HTTP/1.1 200 OK\ncontent-length: 2\n\nokNEXT", false, 200, "", true, "NEXT"},
		{"chunked with extension and trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\nNEXT", false, 200, "", true, "NEXT"},
		{"error body kept", "HTTP/1.1 404 Not Found\r\nContent-Length: 9\r\n\r\n{\"a\":\"b\"}NEXT", false, 404, `{"a":"b"}`, true, "NEXT"},
		{"chunked error body kept", "HTTP/1.1 500 X\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n1\r\nc\r\n0\r\n\r\n", false, 500, "abc", true, ""},
		{"connection close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", false, 200, "", false, ""},
		{"HTTP/1.0 closes", "HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n", false, 200, "", false, ""},
		{"HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n", false, 200, "", true, ""},
		{"framed by close", "HTTP/1.1 200 OK\r\n\r\nall of it", false, 200, "", false, ""},
		{"interim answer skipped", "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 1\r\n\r\nxNEXT", false, 201, "", true, "NEXT"},
		{"HEAD has no body", "HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nNEXT", true, 200, "", true, "NEXT"},
		{"304 has no body", "HTTP/1.1 304 Not Modified\r\nContent-Length: 500\r\n\r\nNEXT", false, 304, "", true, "NEXT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReader(strings.NewReader(tt.raw))
			status, errBody, keep, err := readResponse(br, tt.head, nil)
			if err != nil {
				t.Fatalf("readResponse: %v", err)
			}
			if status != tt.status || string(errBody) != tt.errBody || keep != tt.keep {
				t.Errorf("got %d %q keep=%v, want %d %q keep=%v", status, errBody, keep, tt.status, tt.errBody, tt.keep)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != tt.leftover {
				t.Errorf("left %q unread, want %q", rest, tt.leftover)
			}
		})
	}
}

func TestReadResponseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		raw  string
		want error
	}{
		{"empty", "", io.ErrUnexpectedEOF},
		{"not HTTP", "SSH-2.0-OpenSSH\r\n\r\n", errProtocol},
		{"bad status", "HTTP/1.1 2x0 OK\r\n\r\n", errProtocol},
		{"status glued to reason", "HTTP/1.1 200OK\r\n\r\n", errProtocol},
		{"header without colon", "HTTP/1.1 200 OK\r\nbroken\r\n\r\n", errProtocol},
		{"bad content length", "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n", errProtocol},
		{"unknown transfer encoding", "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n", errProtocol},
		{"short body", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc", io.ErrUnexpectedEOF},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", errProtocol},
		{"chunk without line end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", errProtocol},
		{"headers cut off", "HTTP/1.1 200 OK\r\nContent-Le", io.ErrUnexpectedEOF},
		{"line too long", "HTTP/1.1 200 OK\r\nX: " + strings.Repeat("a", maxLine) + "\r\n\r\n", errProtocol},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tt.raw), maxLine)
			if _, _, _, err := readResponse(br, false, nil); !errors.Is(err, tt.want) {
				t.Errorf("error %v, want %v", err, tt.want)
			}
		})
	}
}

// The parser must never panic, and an answer it accepts must be one
// net/http reads the same way.
func FuzzReadResponse(f *testing.F) {
	for _, s := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello",
		"HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nbody",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		status, errBody, _, err := readResponse(bufio.NewReaderSize(strings.NewReader(raw), maxLine), false, nil)
		if err != nil {
			return
		}
		if status < 101 || status > 999 || len(errBody) > errorBodyLimit {
			t.Fatalf("status %d, error body of %d bytes", status, len(errBody))
		}
		if status/100 == 2 && errBody != nil {
			t.Fatalf("a %d answer kept a body", status)
		}
	})
}

// A worker talks to a real net/http server: keep-alive reuse, Ditto's error
// JSON named, and a request met by the server's close of an idle connection
// is sent again on a new one.
func TestWorkerAgainstNetHTTP(t *testing.T) {
	t.Parallel()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != newAuth("ditto:ditto") {
			w.WriteHeader(http.StatusUnauthorized)
			fmt.Fprint(w, `{"status":401,"error":"gateway:authentication.failed","message":"no"}`)
			return
		}
		switch r.URL.Path {
		case "/big":
			// Larger than net/http's buffer: sent chunked.
			fmt.Fprint(w, strings.Repeat("x", 10000))
		case "/put":
			b, _ := io.ReadAll(r.Body)
			if r.Method != http.MethodPut || string(b) != `{"v":1}` || r.Header.Get("Content-Type") != "application/json" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			w.WriteHeader(http.StatusNoContent)
		case "/bye":
			// Answers, then closes the connection without saying so, as
			// a server ending an idle keep-alive connection does.
			w.Header().Set("Content-Length", "0")
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			c, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				c.Close()
			}
		default:
			fmt.Fprint(w, `{"thingId":"a:b"}`)
		}
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	ctx := context.Background()
	tg, err := newTarget(srv.URL, "ditto:ditto")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorkers(1)[0]
	defer w.closeConn()
	get := func(p string) *op { return &op{method: http.MethodGet, path: func(int) string { return p }} }
	for i := range 3 {
		if err := w.do(ctx, tg, get("/thing"), 0); err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
	}
	if err := w.do(ctx, tg, get("/big"), 0); err != nil {
		t.Fatalf("GET chunked: %v", err)
	}
	put := &op{method: http.MethodPut, path: func(int) string { return "/put" }, body: func(*worker, int) []byte { return []byte(`{"v":1}`) }}
	if err := w.do(ctx, tg, put, 0); err != nil {
		t.Fatalf("PUT: %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 requests, want 1 kept alive", n)
	}
	if err := w.do(ctx, tg, get("/bye"), 0); err != nil {
		t.Fatalf("GET /bye: %v", err)
	}
	if err := w.do(ctx, tg, get("/thing"), 0); err != nil {
		t.Fatalf("GET after the server closed the connection: %v", err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (one more after the close)", n)
	}

	bad, err := newTarget(srv.URL, "ditto:wrong")
	if err != nil {
		t.Fatal(err)
	}
	wb := newWorkers(1)[0]
	defer wb.closeConn()
	err = wb.do(ctx, bad, get("/thing"), 0)
	if kind, _ := classify(err); kind != "HTTP 401 gateway:authentication.failed" {
		t.Errorf("kind %q (%v), want the status and Ditto's code", kind, err)
	}
}

// Ending the run's context ends a request that waits for its answer.
func TestWorkerStopsWithContext(t *testing.T) {
	t.Parallel()
	block, entered := make(chan struct{}), make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {
		entered <- struct{}{}
		<-block
	}))
	defer srv.Close()
	defer close(block)
	ctx, cancel := context.WithCancel(context.Background())
	tg, err := newTarget(srv.URL, "ditto:ditto")
	if err != nil {
		t.Fatal(err)
	}
	w := newWorkers(1)[0]
	done := make(chan error, 1)
	go func() { done <- w.do(ctx, tg, &op{method: http.MethodGet, path: func(int) string { return "/" }}, 0) }()
	<-entered // the request is out and waits for its answer
	cancel()
	if err := <-done; err == nil {
		t.Fatal("request succeeded after its context ended")
	}
}
