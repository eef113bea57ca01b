package gateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"golang.org/x/crypto/bcrypt"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// The harness runs a gateway against a real embedded NATS server and a
// scripted responder subscribed to the command subjects. The responder
// stands in for the things and policies services: it records the envelope
// and NATS headers it received and answers a canned reply.

// received is one command as the responder saw it.
type received struct {
	subject string
	header  nats.Header
	env     protocol.Envelope
	reply   string // the NATS reply subject; empty for fire-and-forget
}

// replyFunc decides the responder's answer; ok=false means no answer.
type replyFunc func(protocol.Envelope) (reply protocol.Envelope, ok bool)

type harness struct {
	t      testing.TB
	srv    *streamstest.Server
	gw     *Gateway
	client *nats.Conn // the gateway's connection

	mu      sync.Mutex
	got     []received
	reply   replyFunc
	discard bool // do not record commands (benchmarks)
}

// testUsers are users with bcrypt cost 4, so tests do not wait for bcrypt.
var testUsers = sync.OnceValue(func() string {
	var b strings.Builder
	b.WriteString("# test users\n\n")
	for _, u := range []string{"ditto", "ditto2", "alice"} {
		h, err := bcrypt.GenerateFromPassword([]byte(u+"-pw"), bcrypt.MinCost)
		if err != nil {
			panic(err)
		}
		b.WriteString(u + ":" + string(h) + "\n")
	}
	return b.String()
})

// basic returns the Authorization header value of user with the test
// password.
func basic(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+user+"-pw"))
}

// newHarness starts NATS, the responder and a gateway configured by mod.
func newHarness(t testing.TB, mod func(*Config)) *harness {
	t.Helper()
	h := &harness{t: t, srv: streamstest.Start(t)}
	h.reply = defaultReply
	responder := h.srv.Connect(t)
	for _, subj := range []string{"ditto.things.commands.*", "ditto.policies.commands.*"} {
		if _, err := responder.Subscribe(subj, h.respond); err != nil {
			t.Fatalf("subscribe %s: %v", subj, err)
		}
	}
	if err := responder.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
	h.client = h.srv.Connect(t)

	usersFile := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(usersFile, []byte(testUsers()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.UsersFile = usersFile
	if mod != nil {
		mod(&cfg)
	}
	gw, err := New(cfg, Deps{NC: h.client, Names: streams.New(""), Shards: streams.DefaultShards})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	h.gw = gw
	return h
}

func (h *harness) respond(m *nats.Msg) {
	env, err := protocol.DecodeEnvelope(m.Data)
	if err != nil {
		h.t.Errorf("responder: undecodable command %q: %v", m.Data, err)
		return
	}
	h.mu.Lock()
	if !h.discard {
		h.got = append(h.got, received{subject: m.Subject, header: m.Header, env: env, reply: m.Reply})
	}
	reply := h.reply
	h.mu.Unlock()
	if m.Reply == "" {
		return
	}
	out, ok := reply(env)
	if !ok {
		return
	}
	data, err := out.Encode()
	if err != nil {
		h.t.Errorf("responder: encode reply: %v", err)
		return
	}
	if err := m.Respond(data); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		h.t.Errorf("responder: respond: %v", err)
	}
}

// setReply replaces the responder's answers.
func (h *harness) setReply(f replyFunc) {
	h.mu.Lock()
	h.reply = f
	h.mu.Unlock()
}

// commands returns the commands received so far and forgets them.
func (h *harness) commands() []received {
	h.mu.Lock()
	defer h.mu.Unlock()
	got := h.got
	h.got = nil
	return got
}

// waitCommands polls until n commands were received.
func (h *harness) waitCommands(n int) []received {
	h.t.Helper()
	streamstest.Eventually(h.t, 5*time.Second, func() error {
		h.mu.Lock()
		k := len(h.got)
		h.mu.Unlock()
		if k < n {
			return fmt.Errorf("got %d commands, want %d", k, n)
		}
		return nil
	})
	return h.commands()
}

// defaultReply answers like the things service would for a thing that
// exists: retrieves with a value, modifications with 204, creations with
// 201.
func defaultReply(cmd protocol.Envelope) (protocol.Envelope, bool) {
	t, err := protocol.ParseTopic(cmd.Topic)
	if err != nil {
		return protocol.Envelope{}, false
	}
	r := protocol.Envelope{Topic: cmd.Topic, Path: cmd.Path, Headers: protocol.Headers{
		protocol.HeaderCorrelationID: cmd.Headers[protocol.HeaderCorrelationID],
		protocol.HeaderETag:          `"rev:1"`,
	}}
	switch t.Action {
	case protocol.ActionRetrieve:
		r.Status = http.StatusOK
		r.Value = []byte(`{"thingId":"` + t.EntityID() + `"}`)
	case protocol.ActionCreate:
		r.Status = http.StatusCreated
		r.Value = cmd.Value
	default:
		r.Status = http.StatusNoContent
	}
	return r, true
}

// req describes one HTTP request to the gateway.
type req struct {
	method, target, body string
	header               map[string]string
}

// do sends r through the gateway's handler, authenticated as ditto unless
// r sets Authorization itself (an empty value sends none).
func (h *harness) do(r req) *httptest.ResponseRecorder {
	h.t.Helper()
	var body io.Reader
	if r.body != "" {
		body = strings.NewReader(r.body)
	}
	hr := httptest.NewRequest(r.method, "http://gw.example:8080"+r.target, body)
	hr.Header.Set("Authorization", basic("ditto"))
	if r.body != "" {
		ct := "application/json"
		if r.method == http.MethodPatch {
			ct = protocol.MediaTypeMergePatchJSON
		}
		hr.Header.Set("Content-Type", ct)
	}
	for k, v := range r.header {
		if v == "" {
			hr.Header.Del(k)
			continue
		}
		hr.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	h.gw.ServeHTTP(w, hr)
	return w
}

// errorCode returns the "error" field of a Ditto error body, or "".
func errorCode(t *testing.T, w *httptest.ResponseRecorder) string {
	t.Helper()
	if w.Header().Get("Content-Type") != contentTypeJSON {
		return ""
	}
	var e protocol.Error
	if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
		return ""
	}
	return e.Code
}

// header returns the response header k as the gateway wrote it: Ditto's
// headers lower-case, HTTP's own canonical.
func header(w *httptest.ResponseRecorder, k string) string {
	if vs, ok := w.Header()[strings.ToLower(k)]; ok && len(vs) > 0 {
		return vs[0]
	}
	return w.Header().Get(k)
}

// newRequest builds a request authenticated as ditto.
func newRequest(method, target, body string) *http.Request {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	r := httptest.NewRequest(method, "http://gw.example:8080"+target, rd)
	r.Header.Set("Authorization", basic("ditto"))
	return r
}

// serve runs r through g's handler.
func serve(g *Gateway, r *http.Request) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	g.ServeHTTP(w, r)
	return w
}
