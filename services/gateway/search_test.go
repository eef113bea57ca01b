package gateway

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/searchapi"
	"github.com/dittonats/dittonats/streams"
)

// searchCall is one request the fake search service received.
type searchCall struct {
	req  searchapi.Request
	auth string
}

// searchAnswer decides the fake search service's answer; ok=false means no
// answer.
type searchAnswer func(searchapi.Request) (status int, body string, ok bool)

// fakeSearch stands in for the search service on the gateway's search
// subject: it records each request and answers as told. The real search
// service is tested in its own package.
type fakeSearch struct {
	mu     sync.Mutex
	calls  []searchCall
	answer searchAnswer
}

func startSearch(t *testing.T, h *harness, answer searchAnswer) *fakeSearch {
	t.Helper()
	f := &fakeSearch{answer: answer}
	nc := h.srv.Connect(t)
	_, err := nc.Subscribe(streams.New("").SearchQueries(), func(m *nats.Msg) {
		var req searchapi.Request
		if err := json.Unmarshal(m.Data, &req); err != nil {
			t.Errorf("search: undecodable request %q: %v", m.Data, err)
			return
		}
		f.mu.Lock()
		f.calls = append(f.calls, searchCall{req: req, auth: m.Header.Get(streams.HeaderAuth)})
		answer := f.answer
		f.mu.Unlock()
		status, body, ok := answer(req)
		if !ok {
			return
		}
		reply := nats.NewMsg(m.Reply)
		reply.Header.Set(searchapi.HeaderStatus, strconv.Itoa(status))
		reply.Data = []byte(body)
		if err := m.RespondMsg(reply); err != nil {
			t.Errorf("search: respond: %v", err)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *fakeSearch) received() []searchCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	got := f.calls
	f.calls = nil
	return got
}

const searchResult = `{"items":[{"thingId":"org.eclipse.ditto:t1"}],"nextPageOffset":1}`

func answerSearch(req searchapi.Request) (int, string, bool) {
	switch req.Type {
	case searchapi.TypeCount:
		return http.StatusOK, "3", true
	case searchapi.TypeAwait:
		return http.StatusNoContent, "", true
	}
	return http.StatusOK, searchResult, true
}

func TestSearchRoutes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	search := startSearch(t, h, answerSearch)
	form := map[string]string{"Content-Type": mediaTypeForm}
	tests := []struct {
		name   string
		req    req
		status int
		body   string
		want   searchapi.Request
	}{
		{"query", req{method: "GET", target: "/api/2/search/things?filter=eq(attributes/a,1)&option=sort(%2BthingId)&option=size(2)&fields=thingId&namespaces=a,b,,a&namespaces=c"},
			200, searchResult, searchapi.Request{Type: searchapi.TypeQuery, Filter: "eq(attributes/a,1)",
				Options: "sort(+thingId),size(2)", Fields: "thingId", Namespaces: []string{"a", "b", "c"}}},
		{"no parameters", req{method: "GET", target: "/api/2/search/things/"},
			200, searchResult, searchapi.Request{Type: searchapi.TypeQuery}},
		{"filters joined", req{method: "GET", target: "/api/2/search/things?filter=exists(a)&filter=exists(b)"},
			200, searchResult, searchapi.Request{Type: searchapi.TypeQuery, Filter: "and(exists(a),exists(b))"}},
		{"timeout", req{method: "GET", target: "/api/2/search/things?timeout=5s"},
			200, searchResult, searchapi.Request{Type: searchapi.TypeQuery, TimeoutMillis: 5000}},
		{"timeout header", req{method: "GET", target: "/api/2/search/things", header: map[string]string{"Timeout": "1500ms"}},
			200, searchResult, searchapi.Request{Type: searchapi.TypeQuery, TimeoutMillis: 1500}},
		{"count", req{method: "GET", target: "/api/2/search/things/count?filter=exists(a)&namespaces=a&option=size(2)&fields=thingId"},
			200, "3", searchapi.Request{Type: searchapi.TypeCount, Filter: "exists(a)", Namespaces: []string{"a"}}},
		{"post query", req{method: "POST", target: "/api/2/search/things", header: form,
			body: "filter=eq(attributes%2Fa,1)&option=size(2)&option=sort(-thingId)&fields=thingId,policyId&namespaces=x"},
			200, searchResult, searchapi.Request{Type: searchapi.TypeQuery, Filter: "eq(attributes/a,1)",
				Options: "size(2),sort(-thingId)", Fields: "thingId,policyId", Namespaces: []string{"x"}}},
		{"post count", req{method: "POST", target: "/api/2/search/things/count", header: form, body: "filter=exists(a)"},
			200, "3", searchapi.Request{Type: searchapi.TypeCount, Filter: "exists(a)"}},
		{"client auth header ignored", req{method: "GET", target: "/api/2/search/things", header: map[string]string{streams.HeaderAuth: `["evil:x"]`}},
			200, searchResult, searchapi.Request{Type: searchapi.TypeQuery}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(tt.req)
			if w.Code != tt.status || w.Body.String() != tt.body {
				t.Fatalf("got %d %s, want %d %s", w.Code, w.Body, tt.status, tt.body)
			}
			if ct := w.Header().Get("Content-Type"); ct != contentTypeJSON {
				t.Errorf("content-type: got %q, want %q", ct, contentTypeJSON)
			}
			if header(w, protocol.HeaderCorrelationID) == "" {
				t.Error("no correlation-id in the response")
			}
			calls := search.received()
			if len(calls) != 1 {
				t.Fatalf("search got %d requests, want 1", len(calls))
			}
			if !reflect.DeepEqual(calls[0].req, tt.want) {
				t.Errorf("request: got %+v, want %+v", calls[0].req, tt.want)
			}
			if calls[0].auth != `["nginx:ditto"]` {
				t.Errorf("%s: got %q, want the caller's subjects", streams.HeaderAuth, calls[0].auth)
			}
		})
	}
}

func TestSearchRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	search := startSearch(t, h, answerSearch)
	tests := []struct {
		name   string
		req    req
		status int
		code   string // Ditto error code; "" for a plain-text answer
		allow  string
	}{
		{"unauthenticated", req{method: "GET", target: "/api/2/search/things", header: map[string]string{"Authorization": ""}},
			401, protocol.CodeGatewayAuthenticationFailed, ""},
		{"method", req{method: "PUT", target: "/api/2/search/things", body: "{}"}, 405, protocol.CodeGatewayMethodNotAllowed, "GET, POST"},
		{"count method", req{method: "DELETE", target: "/api/2/search/things/count"}, 405, protocol.CodeGatewayMethodNotAllowed, "GET, POST"},
		{"post json", req{method: "POST", target: "/api/2/search/things", body: `{"filter":"exists(a)"}`},
			415, protocol.CodeMediaTypeUnsupported, ""},
		{"post malformed form", req{method: "POST", target: "/api/2/search/things", body: "filter=%zz",
			header: map[string]string{"Content-Type": mediaTypeForm}}, 400, "", ""},
		{"count trailing slash", req{method: "GET", target: "/api/2/search/things/count/"}, 404, codeRouteNotFound, ""},
		{"search alone", req{method: "GET", target: "/api/2/search"}, 404, codeRouteNotFound, ""},
		{"other collection", req{method: "GET", target: "/api/2/search/policies"}, 404, codeRouteNotFound, ""},
		{"bad timeout", req{method: "GET", target: "/api/2/search/things?timeout=2m"}, 400, protocol.CodeGatewayTimeoutInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(tt.req)
			if w.Code != tt.status || errorCode(t, w) != tt.code {
				t.Fatalf("got %d %s, want %d %q", w.Code, w.Body, tt.status, tt.code)
			}
			if got := w.Header().Get("Allow"); got != tt.allow {
				t.Errorf("Allow: got %q, want %q", got, tt.allow)
			}
			if n := len(search.received()); n != 0 {
				t.Errorf("search got %d requests, want none", n)
			}
		})
	}
}

// TestSearchPassThrough checks that the search service's status and body
// reach the client as they are.
func TestSearchPassThrough(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	invalid := string(errorJSON(protocol.ErrRQLExpressionInvalid("")))
	startSearch(t, h, func(searchapi.Request) (int, string, bool) { return http.StatusBadRequest, invalid, true })
	w := h.do(req{method: "GET", target: "/api/2/search/things?filter=eq(", header: map[string]string{"Correlation-Id": "search-1"}})
	if w.Code != http.StatusBadRequest || w.Body.String() != invalid {
		t.Fatalf("got %d %s, want 400 %s", w.Code, w.Body, invalid)
	}
	if got := header(w, protocol.HeaderCorrelationID); got != "search-1" {
		t.Errorf("correlation-id: got %q, want search-1", got)
	}
	if ct := w.Header().Get("Content-Type"); ct != contentTypeJSON {
		t.Errorf("content-type: got %q", ct)
	}
}

func TestSearchUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	w := h.do(req{method: "GET", target: "/api/2/search/things/count"})
	if w.Code != http.StatusServiceUnavailable || errorCode(t, w) != protocol.CodeGatewayServiceUnavailable {
		t.Fatalf("got %d %s, want 503 %s", w.Code, w.Body, protocol.CodeGatewayServiceUnavailable)
	}
}

func TestSearchTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	startSearch(t, h, func(searchapi.Request) (int, string, bool) { return 0, "", false })
	w := h.do(req{method: "GET", target: "/api/2/search/things?timeout=200ms"})
	if w.Code != http.StatusRequestTimeout || errorCode(t, w) != protocol.CodeSearchQueryTimeExceeded {
		t.Fatalf("got %d %s, want 408 %s", w.Code, w.Body, protocol.CodeSearchQueryTimeExceeded)
	}
}

// replyWithRevision answers like defaultReply and adds the revision the
// change produced, as the things service does.
func replyWithRevision(rev int64) replyFunc {
	return func(cmd protocol.Envelope) (protocol.Envelope, bool) {
		r, ok := defaultReply(cmd)
		r.Headers[protocol.HeaderEntityRevision] = strconv.FormatInt(rev, 10)
		return r, ok
	}
}

// aggregated decodes a body of aggregated acknowledgements.
func aggregated(t *testing.T, body []byte) map[string]struct {
	Status  int             `json:"status"`
	Payload json.RawMessage `json:"payload"`
	Headers map[string]any  `json:"headers"`
} {
	t.Helper()
	var out map[string]struct {
		Status  int             `json:"status"`
		Payload json.RawMessage `json:"payload"`
		Headers map[string]any  `json:"headers"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("aggregated acks %s: %v", body, err)
	}
	return out
}

func TestSearchPersistedAck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.setReply(replyWithRevision(7))
	search := startSearch(t, h, answerSearch)

	t.Run("both succeed", func(t *testing.T) {
		w := h.do(req{method: "PUT", target: thingURL + "/attributes/a?requested-acks=twin-persisted,search-persisted", body: "1",
			header: map[string]string{"Correlation-Id": "ack-1"}})
		if w.Code != http.StatusOK {
			t.Fatalf("status: got %d, want 200; body %s", w.Code, w.Body)
		}
		acks := aggregated(t, w.Body.Bytes())
		if len(acks) != 2 || acks[ackTwinPersisted].Status != 204 || acks[ackSearchPersisted].Status != 204 {
			t.Errorf("acks: got %s", w.Body)
		}
		if got := acks[ackTwinPersisted].Headers[protocol.HeaderEntityRevision]; got != float64(7) {
			t.Errorf("twin-persisted entity-revision: got %v, want 7", got)
		}
		if got := acks[ackSearchPersisted].Headers[protocol.HeaderCorrelationID]; got != "ack-1" {
			t.Errorf("search-persisted correlation-id: got %v, want ack-1", got)
		}
		calls := search.received()
		want := searchapi.Request{Type: searchapi.TypeAwait, ThingID: thingID, Revision: 7}
		if len(calls) != 1 {
			t.Fatalf("search got %d requests, want 1", len(calls))
		}
		calls[0].req.TimeoutMillis = 0
		if !reflect.DeepEqual(calls[0].req, want) || calls[0].auth != `["nginx:ditto"]` {
			t.Errorf("await: got %+v as %s, want %+v", calls[0].req, calls[0].auth, want)
		}
	})

	t.Run("search-persisted alone", func(t *testing.T) {
		w := h.do(req{method: "DELETE", target: thingURL, header: map[string]string{"Requested-Acks": "search-persisted"}})
		if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
			t.Fatalf("got %d %q, want 204 without body", w.Code, w.Body)
		}
		calls := search.received()
		if len(calls) != 1 || !calls[0].req.Deleted || calls[0].req.ThingID != thingID {
			t.Errorf("await: got %+v, want a deletion of %s", calls, thingID)
		}
	})

	t.Run("creation", func(t *testing.T) {
		w := h.do(req{method: "POST", target: "/api/2/things?requested-acks=search-persisted,twin-persisted", body: "{}"})
		if w.Code != http.StatusOK {
			t.Fatalf("status: got %d, want 200; body %s", w.Code, w.Body)
		}
		if w.Header().Get("Location") != "" {
			t.Errorf("Location: got %q, want none (it is in the twin-persisted ack)", w.Header().Get("Location"))
		}
		twin := aggregated(t, w.Body.Bytes())[ackTwinPersisted]
		loc, _ := twin.Headers["location"].(string)
		if twin.Status != http.StatusCreated || len(twin.Payload) == 0 || !strings.HasPrefix(loc, "http://gw.example:8080/api/2/things/org.eclipse.ditto:") {
			t.Errorf("twin-persisted: got %+v", twin)
		}
		if c := search.received(); len(c) != 1 || c[0].req.Deleted || !strings.HasSuffix(loc, "/"+c[0].req.ThingID) {
			t.Errorf("await: got %+v, want the created thing", c)
		}
	})

	t.Run("without search-persisted", func(t *testing.T) {
		w := h.do(req{method: "PUT", target: thingURL + "/attributes/a?requested-acks=twin-persisted", body: "1"})
		if w.Code != http.StatusNoContent || w.Body.Len() != 0 {
			t.Fatalf("got %d %s, want the command's 204", w.Code, w.Body)
		}
		if n := len(search.received()); n != 0 {
			t.Errorf("search got %d requests, want none", n)
		}
	})

	t.Run("read", func(t *testing.T) {
		w := h.do(req{method: "GET", target: thingURL + "?requested-acks=search-persisted"})
		if w.Code != http.StatusOK {
			t.Fatalf("got %d %s, want the retrieve's 200", w.Code, w.Body)
		}
		if n := len(search.received()); n != 0 {
			t.Errorf("search got %d requests, want none", n)
		}
	})
}

func TestSearchPersistedAckFails(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.setReply(replyWithRevision(3))
	search := startSearch(t, h, func(req searchapi.Request) (int, string, bool) { return 0, "", false })

	t.Run("timeout", func(t *testing.T) {
		start := time.Now()
		w := h.do(req{method: "PATCH", target: thingURL + "?requested-acks=twin-persisted,search-persisted&timeout=300ms", body: `{"attributes":{"a":1}}`,
			header: map[string]string{"Correlation-Id": "ack-2"}})
		if w.Code != http.StatusFailedDependency {
			t.Fatalf("status: got %d, want 424; body %s", w.Code, w.Body)
		}
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Errorf("answered after %s, want after the 300ms timeout", d)
		}
		acks := aggregated(t, w.Body.Bytes())
		if acks[ackTwinPersisted].Status != http.StatusNoContent {
			t.Errorf("twin-persisted: got %+v, want 204", acks[ackTwinPersisted])
		}
		sp := acks[ackSearchPersisted]
		var e protocol.Error
		if err := json.Unmarshal(sp.Payload, &e); err != nil {
			t.Fatalf("search-persisted payload %s: %v", sp.Payload, err)
		}
		if sp.Status != http.StatusRequestTimeout || e.Code != protocol.CodeAckRequestTimeout ||
			e.Message != "The acknowledgement request reached the specified timeout of 300ms." {
			t.Errorf("search-persisted: got %d %s", sp.Status, sp.Payload)
		}
		if sp.Headers[protocol.HeaderCorrelationID] != "ack-2" {
			t.Errorf("search-persisted headers: got %v", sp.Headers)
		}
		if c := search.received(); len(c) != 1 || c[0].req.Revision != 3 || c[0].req.TimeoutMillis <= 0 || c[0].req.TimeoutMillis > 300 {
			t.Errorf("await: got %+v", c)
		}
	})

	t.Run("timeout alone", func(t *testing.T) {
		w := h.do(req{method: "PUT", target: thingURL + "/attributes/a?requested-acks=search-persisted&timeout=200ms", body: "1"})
		if w.Code != http.StatusRequestTimeout || errorCode(t, w) != protocol.CodeAckRequestTimeout {
			t.Fatalf("got %d %s, want 408 %s", w.Code, w.Body, protocol.CodeAckRequestTimeout)
		}
	})

	t.Run("without response", func(t *testing.T) {
		w := h.do(req{method: "PUT", target: thingURL + "/attributes/a?requested-acks=twin-persisted,search-persisted&timeout=200ms&response-required=false", body: "1"})
		if w.Code != http.StatusFailedDependency {
			t.Fatalf("status: got %d, want 424; body %s", w.Code, w.Body)
		}
		acks := aggregated(t, w.Body.Bytes())
		if sp := acks[ackSearchPersisted]; sp.Status != 408 || sp.Payload != nil || len(sp.Headers) != 0 {
			t.Errorf("search-persisted: got %+v, want the status only", sp)
		}
	})

	t.Run("command fails", func(t *testing.T) {
		h.setReply(func(cmd protocol.Envelope) (protocol.Envelope, bool) {
			tp, err := protocol.ParseTopic(cmd.Topic)
			if err != nil {
				return protocol.Envelope{}, false
			}
			return protocol.ErrorEnvelope(tp, cmd.Headers, cmd.Path, protocol.ErrThingNotAccessible(thingID)), true
		})
		defer h.setReply(replyWithRevision(3))
		search.received() // forget the earlier subtests' requests
		w := h.do(req{method: "DELETE", target: thingURL + "?requested-acks=twin-persisted,search-persisted&timeout=5s"})
		if w.Code != http.StatusNotFound || errorCode(t, w) != protocol.CodeThingNotFound {
			t.Fatalf("got %d %s, want the command's 404", w.Code, w.Body)
		}
		if n := len(search.received()); n != 0 {
			t.Errorf("search got %d requests, want none", n)
		}
	})
}

func TestSearchPersistedAckUnavailable(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.setReply(replyWithRevision(2))
	w := h.do(req{method: "PUT", target: thingURL + "/attributes/a?requested-acks=twin-persisted,search-persisted", body: "1"})
	if w.Code != http.StatusFailedDependency {
		t.Fatalf("status: got %d, want 424; body %s", w.Code, w.Body)
	}
	sp := aggregated(t, w.Body.Bytes())[ackSearchPersisted]
	var e protocol.Error
	if err := json.Unmarshal(sp.Payload, &e); err != nil || sp.Status != http.StatusServiceUnavailable || e.Code != protocol.CodeGatewayServiceUnavailable {
		t.Errorf("search-persisted: got %d %s, want 503 %s", sp.Status, sp.Payload, protocol.CodeGatewayServiceUnavailable)
	}
}
