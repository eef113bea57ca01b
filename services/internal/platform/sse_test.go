package platform

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/gateway"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// sseStream is an SSE stream on the platform's gateway, read by a
// goroutine.
type sseStream struct {
	t      *testing.T
	resp   *http.Response
	cancel context.CancelFunc
	events chan string   // the data of each event, "" for a heartbeat
	done   chan struct{} // closed when reading ended
	err    error         // why reading ended; read after done

	mu  sync.Mutex
	raw strings.Builder
}

// openSSE opens target (a path with query) as an SSE stream as user.
func (pl *platform) openSSE(t *testing.T, user, target string) *sseStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, pl.url+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	req.SetBasicAuth(user, user)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("GET %s: %v", target, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("GET %s as %s: %d %s %s", target, user, resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	s := &sseStream{t: t, resp: resp, cancel: cancel, events: make(chan string, 1000), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		br := bufio.NewReader(resp.Body)
		var data []string
		event := "" // the event type of the event being read
		for {
			line, err := br.ReadString('\n')
			s.mu.Lock()
			s.raw.WriteString(line)
			s.mu.Unlock()
			if err != nil {
				s.err = err
				return
			}
			switch line = strings.TrimSuffix(line, "\n"); {
			case line == "":
				if event != "" {
					s.events <- "event:" + event + "\n" + strings.Join(data, "\n")
				} else {
					s.events <- strings.Join(data, "\n")
				}
				data, event = nil, ""
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(line, "data:"))
			case strings.HasPrefix(line, "event:"):
				event = strings.TrimPrefix(line, "event:")
			default:
				s.events <- "unexpected line " + line
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-s.done
	})
	return s
}

// next returns the data of the next event that is no heartbeat.
func (s *sseStream) next() string {
	s.t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case d := <-s.events:
			if d != "" {
				return d
			}
		case <-s.done:
			s.t.Fatalf("stream ended: %v", s.err)
		case <-deadline:
			s.t.Fatal("no event within 10s")
		}
	}
}

// expect checks that the next event is the JSON want.
func (s *sseStream) expect(what, want string) {
	s.t.Helper()
	jsonEq(s.t, what, s.next(), want)
}

// heartbeat waits for the next heartbeat, failing on any other event.
func (s *sseStream) heartbeat(within time.Duration) {
	s.t.Helper()
	select {
	case d := <-s.events:
		if d != "" {
			s.t.Fatalf("got %s, want a heartbeat", d)
		}
	case <-time.After(within):
		s.t.Fatalf("no heartbeat within %s", within)
	}
}

// Change notifications over SSE: the data format for all things and for
// one thing's path, ids, fields and _context, namespaces, filter and
// extraFields, and what the caller may read.
func TestSSEChangeNotifications(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = "org.eclipse.ditto:sse-1"
	const thing = "/api/2/things/" + id
	pl.expect(t, "ditto", "PUT", thing, `{"attributes":{"public":0,"secret":0,"location":"hall"},"features":{"lamp":{"properties":{"on":false}}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+id+"/entries/GUEST",
		`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{"thing:/attributes/public":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")

	lamp := pl.openSSE(t, "ditto", "/api/2/things?ids="+id+"&fields=thingId,features/lamp")
	location := pl.openSSE(t, "ditto", thing+"/attributes/location")
	withContext := pl.openSSE(t, "ditto", thing+"?fields=thingId,_revision,_context/topic,_context/path")
	guest := pl.openSSE(t, "ditto2", "/api/2/things")
	other := pl.openSSE(t, "ditto", "/api/2/things?namespaces=org.other,com.example")
	filtered := pl.openSSE(t, "ditto", "/api/2/things?filter="+url.QueryEscape(`gt(attributes/public,5)`))
	enriched := pl.openSSE(t, "ditto", "/api/2/things?fields=thingId,attributes&extraFields=attributes/location&filter="+
		url.QueryEscape(`eq(attributes/location,"hall")`))

	// 1. The lamp switches on (revision 2).
	pl.expect(t, "ditto", "PUT", thing+"/features/lamp/properties/on", `true`, nil, 204, "")
	lamp.expect("lamp", `{"thingId":"`+id+`","features":{"lamp":{"properties":{"on":true}}}}`)
	withContext.expect("with _context", `{"thingId":"`+id+`","_revision":2,"_context":{"topic":"org.eclipse.ditto/sse-1/things/twin/events/modified","path":"/features/lamp/properties/on"}}`)
	enriched.expect("enriched", `{"thingId":"`+id+`","attributes":{"location":"hall"}}`)

	// 2. A value the guest may read changes.
	pl.expect(t, "ditto", "PUT", thing+"/attributes/public", `7`, nil, 204, "")
	guest.expect("guest: its first event", `{"thingId":"`+id+`","attributes":{"public":7}}`)
	filtered.expect("filtered: its first event", `{"thingId":"`+id+`","attributes":{"public":7}}`)
	lamp.expect("lamp: fields leave the thing id", `{"thingId":"`+id+`"}`)
	enriched.expect("enriched", `{"thingId":"`+id+`","attributes":{"public":7,"location":"hall"}}`)

	// 3. The location changes: the enriched filter no longer matches.
	pl.expect(t, "ditto", "PUT", thing+"/attributes/location", `"kitchen"`, nil, 204, "")
	location.expect("location: its first event", `"kitchen"`)

	// 4. All at once, with a secret the guest may not read.
	pl.expect(t, "ditto", "PUT", thing+"/attributes", `{"public":8,"secret":9,"location":"hall"}`, nil, 204, "")
	location.expect("location: a change above it", `"hall"`)
	guest.expect("guest: the part it may read", `{"thingId":"`+id+`","attributes":{"public":8}}`)
	enriched.expect("enriched", `{"thingId":"`+id+`","attributes":{"public":8,"secret":9,"location":"hall"}}`)

	// 5. Another namespace, which the guest may not read.
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.other:sse-2", `{"attributes":{"x":1}}`, nil, 201, "")
	other.expect("other namespace: its first event", `{"thingId":"org.other:sse-2","policyId":"org.other:sse-2","attributes":{"x":1}}`)
	pl.expect(t, "ditto", "PUT", thing+"/attributes/public", `10`, nil, 204, "")
	guest.expect("guest: nothing of the other thing", `{"thingId":"`+id+`","attributes":{"public":10}}`)
	filtered.expect("filtered", `{"thingId":"`+id+`","attributes":{"public":8,"secret":9,"location":"hall"}}`)
	filtered.expect("filtered", `{"thingId":"`+id+`","attributes":{"public":10}}`)

	// Wrong credentials: 401 with a challenge; no Accept: the plain API.
	r := pl.expect(t, "nobody", "GET", "/api/2/things", "", map[string]string{"Accept": "text/event-stream"}, 401, "gateway:authentication.failed")
	if r.header.Get("WWW-Authenticate") == "" {
		t.Error("401 without a challenge")
	}
	r = pl.expect(t, "ditto", "GET", thing+"/attributes/location", "", nil, 200, "")
	if r.body != `"hall"` || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("plain GET answered %s %q", r.header.Get("Content-Type"), r.body)
	}
	pl.expect(t, "ditto", "GET", "/api/2/things?filter=nope", "", map[string]string{"Accept": "text/event-stream"}, 400, "rql.expression.invalid")

	// The lamp stream got every change of its thing, of which the fields
	// leave the thing id, and nothing else; then a silent stream sends
	// heartbeats.
	for _, step := range []string{"3", "4", "5"} {
		lamp.expect("lamp: step "+step, `{"thingId":"`+id+`"}`)
	}
	lamp.heartbeat(3 * time.Second)
}

// listeningPlatform starts the platform with its gateway serving on a
// port of its own, with its HTTP server's timeouts, rather than on a test
// server.
func listeningPlatform(t *testing.T, cfg Config) *platform {
	t.Helper()
	cfg.Gateway.BindHostname, cfg.Gateway.HTTPPort = "127.0.0.1", 0
	addrs := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, cfg, All, slog.New(listenAddrHandler{addrs}))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	pl := &platform{p: p, cancel: cancel, done: make(chan error, 1)}
	go func() { pl.done <- p.Wait(ctx) }()
	t.Cleanup(func() { pl.stop(t) })
	select {
	case addr := <-addrs:
		pl.url = "http://" + addr
	case <-time.After(10 * time.Second):
		t.Fatal("the gateway did not listen within 10s")
	}
	// Ready once the shards are leased; until then a request may also
	// outlast the short write timeout the tests configure.
	streamstest.Eventually(t, 20*time.Second, func() error {
		req, err := http.NewRequest(http.MethodGet, pl.url+"/api/2/things/org.eclipse.ditto:readiness-probe", nil)
		if err != nil {
			return err
		}
		req.SetBasicAuth("ditto", "ditto")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("platform not ready: %d", resp.StatusCode)
		}
		return nil
	})
	return pl
}

// listenAddrHandler is a log handler that passes on the address of the
// gateway's "gateway listening" record and discards everything.
type listenAddrHandler struct{ addrs chan<- string }

func (h listenAddrHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h listenAddrHandler) WithAttrs([]slog.Attr) slog.Handler       { return h }
func (h listenAddrHandler) WithGroup(string) slog.Handler            { return h }

func (h listenAddrHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Message != "gateway listening" {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "addr" {
			select {
			case h.addrs <- a.Value.String():
			default:
			}
			return false
		}
		return true
	})
	return nil
}

// A stream outlives the gateway's write timeout, a client that goes away
// frees its stream, and the platform's shutdown ends the others.
func TestSSELifecycle(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Gateway.RequestTimeout, cfg.Gateway.WriteTimeout = 2*time.Second, 3*time.Second
	pl := listeningPlatform(t, cfg)
	gw := pl.p.runners[Gateway].(*gateway.Gateway)
	const id = "org.eclipse.ditto:sse-life"
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{}`, nil, 201, "")

	start := time.Now()
	staying := pl.openSSE(t, "ditto", "/api/2/things/"+id)
	leaving := pl.openSSE(t, "ditto2", "/api/2/things")
	// Four heartbeats, one a second: the stream is older than the write
	// timeout.
	for range 4 {
		staying.heartbeat(3 * time.Second)
	}
	if age := time.Since(start); age < cfg.Gateway.WriteTimeout {
		t.Fatalf("four heartbeats within %s", age)
	}
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id+"/attributes/a", `1`, nil, 201, "")
	staying.expect("after the write timeout", `{"thingId":"`+id+`","attributes":{"a":1}}`)

	if n := gw.OpenEventStreams(); n != 2 {
		t.Fatalf("%d streams open, want 2", n)
	}
	leaving.cancel()
	streamstest.Eventually(t, 5*time.Second, func() error {
		if n := gw.OpenEventStreams(); n != 1 {
			return fmt.Errorf("%d streams open, want 1", n)
		}
		return nil
	})

	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		pl.stop(t)
	}()
	select {
	case <-staying.done:
		if !errors.Is(staying.err, io.EOF) {
			t.Errorf("stream ended with %v, want the end of the response", staying.err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open 5s after shutdown began")
	}
	<-stopped
}
