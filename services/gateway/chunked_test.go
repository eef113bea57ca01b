package gateway

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"
)

// levelRecorder is a slog handler that remembers the highest level logged.
type levelRecorder struct {
	mu      sync.Mutex
	highest slog.Level
	msgs    []string
}

func (r *levelRecorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *levelRecorder) WithAttrs([]slog.Attr) slog.Handler       { return r }
func (r *levelRecorder) WithGroup(string) slog.Handler            { return r }
func (r *levelRecorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.highest = max(r.highest, rec.Level)
	r.msgs = append(r.msgs, rec.Level.String()+" "+rec.Message)
	return nil
}

// A request body the server cannot read, sent over a real connection, is
// answered as Pekko HTTP answers it (400, plain text, connection closed),
// sends no command and logs no error.
func TestUnreadableChunkedBody(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	logs := &levelRecorder{highest: slog.LevelDebug}
	h.gw.log = slog.New(logs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.gw.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})

	head := func(method, target string) string {
		return method + " " + target + " HTTP/1.1\r\nHost: gw.example\r\nAuthorization: " + basic("ditto") +
			"\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
	}
	put := head("PUT", thingURL+"/attributes/a")
	tests := []struct {
		name     string
		request  string
		truncate bool // close the sending side after the request
		text     string
	}{
		{"chunk size not hex", put + "zz\r\n1\r\n0\r\n\r\n", false, textEntityIllegal},
		{"chunk without its CRLF", put + "1\r\n1XX0\r\n\r\n", false, textEntityIllegal},
		{"malformed trailer", put + "1\r\n1\r\n0\r\nno colon here\r\n\r\n", false, textEntityIllegal},
		{"POST with malformed chunk", head("POST", "/api/2/things") + "2\r\n{}\r\nq\r\n", false, textEntityIllegal},
		{"connection closed mid-body", put + "5\r\n12", true, textEntityTruncated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
				t.Fatal(err)
			}
			if _, err := io.WriteString(conn, tt.request); err != nil {
				t.Fatal(err)
			}
			if tt.truncate {
				if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
					t.Fatal(err)
				}
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf("read response: %v", err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || string(body) != tt.text {
				t.Errorf("got %d %q, want 400 %q", resp.StatusCode, body, tt.text)
			}
			if ct := resp.Header.Get("Content-Type"); ct != contentTypeText {
				t.Errorf("Content-Type %q, want %q", ct, contentTypeText)
			}
			if !resp.Close {
				t.Error("connection kept open, want it closed")
			}
		})
	}
	if got := h.commands(); len(got) != 0 {
		t.Errorf("sent %d commands, want none", len(got))
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if logs.highest > slog.LevelWarn {
		t.Errorf("logged %v, want nothing above WARN", logs.msgs)
	}
}
