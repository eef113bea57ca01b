package gateway

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/searchapi"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// ---- A search service in memory ----------------------------------------

// memSearch answers search requests over a fixed list of things: it
// evaluates the filter, sorts by the first sort key (default thingId),
// selects fields and pages with cursors "at-N" (an index into the sorted
// hits). It records every request.
type memSearch struct {
	things []jsonv.Value

	mu    sync.Mutex
	calls []searchapi.Request
	// failAt makes the request with this index (0-based) fail with err.
	failAt  int
	failErr *protocol.Error
}

// newMemSearch holds things thing-0 ... thing-(n-1) of namespace ns, with
// attribute n = 100-i (so that sorting by it reverses the id order).
func newMemSearch(ns string, n int) *memSearch {
	m := &memSearch{failAt: -1}
	for i := range n {
		m.things = append(m.things, jsonv.MustParse(fmt.Sprintf(`{"thingId":"%s:thing-%d","attributes":{"n":%d}}`, ns, i, 100-i)))
	}
	return m
}

func (m *memSearch) id(i int) string {
	v, _ := m.things[i].Get("thingId")
	s, _ := v.Str()
	return s
}

func (m *memSearch) received() []searchapi.Request {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.calls)
}

// search answers one request with a status and body, as the search
// service does.
func (m *memSearch) search(req searchapi.Request) (int, []byte) {
	m.mu.Lock()
	n := len(m.calls)
	m.calls = append(m.calls, req)
	m.mu.Unlock()
	if n == m.failAt {
		return m.failErr.Status, errorJSON(m.failErr)
	}
	fail := func(err error) (int, []byte) {
		perr := protocol.AsError(err)
		return perr.Status, errorJSON(perr)
	}
	var opts rql.Options
	if req.Options != "" {
		var err error
		if opts, err = rql.ParseOptions(req.Options); err != nil {
			return fail(err)
		}
	}
	start := 0
	if opts.Cursor != "" {
		// "at-<index>-<sort option>", as this fake wrote it.
		at, sort, _ := strings.Cut(strings.TrimPrefix(opts.Cursor, "at-"), "-")
		start, _ = strconv.Atoi(at)
		b, _ := base64.RawURLEncoding.DecodeString(sort)
		if len(b) > 0 {
			opts.Sort = searchMust(rql.ParseOptions(string(b))).Sort
		}
	}
	var filter rql.Node
	var err error
	if req.Filter != "" {
		if filter, err = rql.Parse(req.Filter); err != nil {
			return fail(err)
		}
	}
	var fields jsonv.FieldSelector
	if req.Fields != "" {
		if fields, err = jsonv.ParseFieldSelector(req.Fields); err != nil {
			return fail(err)
		}
	}
	var hits []jsonv.Value
	for _, th := range m.things {
		if filter == nil || rql.Matches(filter, th) {
			hits = append(hits, th)
		}
	}
	key := rql.SortKey{Property: "thingId"}
	if len(opts.Sort) > 0 {
		key = opts.Sort[0]
	}
	ptr := jsonv.Pointer(rql.PropertyKeys(key.Property))
	slices.SortStableFunc(hits, func(a, b jsonv.Value) int {
		va, _ := a.At(ptr)
		vb, _ := b.At(ptr)
		c := strings.Compare(va.String(), vb.String())
		if fa, ok := va.Float(); ok {
			fb, _ := vb.Float()
			c = int(fa - fb)
		}
		if key.Descending {
			return -c
		}
		return c
	})
	size := opts.Size
	if size == 0 {
		size = 25
	}
	res := searchapi.Result{Items: []json.RawMessage{}}
	end := min(start+size, len(hits))
	for _, h := range hits[min(start, end):end] {
		if fields != nil {
			h = h.Select(fields)
		}
		res.Items = append(res.Items, h.AppendJSON(nil))
	}
	if end < len(hits) {
		res.Cursor = "at-" + strconv.Itoa(end) + "-" + base64.RawURLEncoding.EncodeToString([]byte(rql.Options{Sort: opts.Sort}.String()))
	}
	body, _ := json.Marshal(res)
	return http.StatusOK, body
}

// fetch is memSearch as a searchFetcher.
func (m *memSearch) fetch(_ context.Context, req searchapi.Request, _ time.Duration) (searchapi.Result, error) {
	status, body := m.search(req)
	var res searchapi.Result
	if status != http.StatusOK {
		var perr protocol.Error
		_ = json.Unmarshal(body, &perr)
		return res, &perr
	}
	err := json.Unmarshal(body, &res)
	return res, err
}

// answer is memSearch as the fake search service's answer.
func (m *memSearch) answer(req searchapi.Request) (int, string, bool) {
	status, body := m.search(req)
	return status, string(body), true
}

// ---- Subscriptions without a session -----------------------------------

// searchRig drives a session's wsSearches directly: what they emit lands
// in out, pages come from fetch.
type searchRig struct {
	t   *testing.T
	ss  *wsSearches
	out chan protocol.Envelope
}

func newSearchRig(t *testing.T, fetch searchFetcher, mod func(*wsSearches)) *searchRig {
	t.Helper()
	r := &searchRig{t: t, out: make(chan protocol.Envelope, 256)}
	r.ss = &wsSearches{
		emit:  func(env protocol.Envelope) { r.out <- env },
		fetch: fetch,
		timing: func(protocol.Headers) (time.Duration, int64, *protocol.Error) {
			return time.Second, 0, nil
		},
		pageDefault: 25, pageMax: 200,
		idle: time.Minute, maxLive: 3,
		zombies: endedIDs{lifetime: time.Minute, max: 4},
	}
	if mod != nil {
		mod(r.ss)
	}
	t.Cleanup(r.ss.stop)
	return r
}

// send hands a Ditto Protocol message to the subscriptions as the
// session's reader does.
func (r *searchRig) send(frame string) {
	r.t.Helper()
	env, err := protocol.DecodeEnvelope([]byte(frame))
	if err != nil {
		r.t.Fatalf("frame %s: %v", frame, err)
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		r.t.Fatalf("frame %s: %v", frame, err)
	}
	env.Headers = externalHeaders(env.Headers)
	r.ss.command(context.Background(), topic, env)
}

func (r *searchRig) next() protocol.Envelope {
	r.t.Helper()
	select {
	case env := <-r.out:
		return env
	case <-time.After(wsWait):
		r.t.Fatalf("nothing emitted within %s", wsWait)
		return protocol.Envelope{}
	}
}

func (r *searchRig) silent(d time.Duration) {
	r.t.Helper()
	select {
	case env := <-r.out:
		r.t.Fatalf("unexpected %s %s", env.Topic, env.Value)
	case <-time.After(d):
	}
}

// search command frames.
func subscribeFrame(cid, value, fields string) string {
	f := `{"topic":"_/_/things/twin/search/subscribe","headers":{"correlation-id":"` + cid + `"},"path":"/"`
	if value != "" {
		f += `,"value":` + value
	}
	if fields != "" {
		f += `,"fields":"` + fields + `"`
	}
	return f + "}"
}

func requestFrame(cid, id string, demand int64) string {
	return fmt.Sprintf(`{"topic":"_/_/things/twin/search/request","headers":{"correlation-id":%q},"path":"/","value":{"subscriptionId":%q,"demand":%d}}`, cid, id, demand)
}

func cancelFrame(cid, id string) string {
	return fmt.Sprintf(`{"topic":"_/_/things/twin/search/cancel","headers":{"correlation-id":%q},"path":"/","value":{"subscriptionId":%q}}`, cid, id)
}

// searchValue is the value of a search event.
type searchValue struct {
	SubscriptionID string            `json:"subscriptionId"`
	Items          []json.RawMessage `json:"items"`
	Error          *protocol.Error   `json:"error"`
}

// wantSearchEvent checks an event's topic, path, correlation-id and
// subscription id and returns its value.
func wantSearchEvent(t *testing.T, env protocol.Envelope, action, cid, id string) searchValue {
	t.Helper()
	var v searchValue
	if err := json.Unmarshal(env.Value, &v); err != nil {
		t.Fatalf("%s: value %s: %v", env.Topic, env.Value, err)
	}
	if want := "_/_/things/twin/search/" + action; env.Topic != want || env.Path != "/" ||
		env.Headers[protocol.HeaderCorrelationID] != cid || v.SubscriptionID != id {
		t.Fatalf("got %s %s %v %s, want %s at / with correlation-id %s for subscription %s",
			env.Topic, env.Path, env.Headers, env.Value, want, cid, id)
	}
	return v
}

// wantFailed checks a failed event and its error code.
func wantFailed(t *testing.T, env protocol.Envelope, cid, id, code string) *protocol.Error {
	t.Helper()
	v := wantSearchEvent(t, env, protocol.ActionFailed, cid, id)
	if v.Error == nil || v.Error.Code != code {
		t.Fatalf("failed with %s, want %s", env.Value, code)
	}
	return v.Error
}

// wantSearchError checks an error message about a search command.
func wantSearchError(t *testing.T, env protocol.Envelope, cid, code string, status int) {
	t.Helper()
	perr, ok := env.AsError()
	if !ok || env.Topic != "_/_/things/search/error" || perr.Code != code || env.Status != status ||
		env.Headers[protocol.HeaderCorrelationID] != cid {
		t.Fatalf("got %s %d %v %s, want error %s (%d) with correlation-id %s", env.Topic, env.Status, env.Headers, env.Value, code, status, cid)
	}
}

func itemIDs(t *testing.T, items []json.RawMessage) []string {
	t.Helper()
	var ids []string
	for _, it := range items {
		var th struct {
			ThingID string `json:"thingId"`
		}
		if err := json.Unmarshal(it, &th); err != nil {
			t.Fatalf("item %s: %v", it, err)
		}
		ids = append(ids, th.ThingID)
	}
	return ids
}

// A subscription fetches a page only when there is demand for it and
// sends one page per demanded page, then complete; events carry the
// headers of the command that caused them.
func TestWSSearchPagesOnDemand(t *testing.T) {
	t.Parallel()
	mem := newMemSearch("org.example", 5)
	r := newSearchRig(t, mem.fetch, nil)

	r.send(subscribeFrame("s-1", `{"filter":"exists(thingId)","options":"size(2)","namespaces":["org.example","org.example"]}`, "thingId"))
	wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-1", "0")
	r.silent(50 * time.Millisecond)
	if n := len(mem.received()); n != 0 {
		t.Fatalf("the search was asked %d times before any request", n)
	}

	r.send(requestFrame("r-1", "0", 1))
	v := wantSearchEvent(t, r.next(), protocol.ActionNext, "r-1", "0")
	if got, want := itemIDs(t, v.Items), []string{mem.id(0), mem.id(1)}; !slices.Equal(got, want) {
		t.Fatalf("first page %v, want %v", got, want)
	}
	// Demand satisfied: nothing more is sent, nor fetched.
	r.silent(100 * time.Millisecond)
	if n := len(mem.received()); n != 1 {
		t.Fatalf("the search was asked %d times for one page", n)
	}

	r.send(requestFrame("r-2", "0", 5))
	v = wantSearchEvent(t, r.next(), protocol.ActionNext, "r-2", "0")
	if got, want := itemIDs(t, v.Items), []string{mem.id(2), mem.id(3)}; !slices.Equal(got, want) {
		t.Fatalf("second page %v, want %v", got, want)
	}
	v = wantSearchEvent(t, r.next(), protocol.ActionNext, "r-2", "0")
	if got, want := itemIDs(t, v.Items), []string{mem.id(4)}; !slices.Equal(got, want) {
		t.Fatalf("last page %v, want %v", got, want)
	}
	wantSearchEvent(t, r.next(), protocol.ActionComplete, "r-2", "0")

	calls := mem.received()
	if len(calls) != 3 {
		t.Fatalf("%d search requests, want 3", len(calls))
	}
	first := searchapi.Request{Type: searchapi.TypeQuery, Filter: "exists(thingId)", Options: "size(2)",
		Fields: "thingId", Namespaces: []string{"org.example"}}
	if c := calls[0]; c.Type != first.Type || c.Filter != first.Filter || c.Options != first.Options ||
		c.Fields != first.Fields || !slices.Equal(c.Namespaces, first.Namespaces) {
		t.Errorf("first request %+v, want %+v", c, first)
	}
	if c := calls[1]; c.Options != "cursor(at-2-),size(2)" || c.Filter != first.Filter {
		t.Errorf("second request %+v, want the cursor of the first page", c)
	}

	// Ended: the id answers a protocol error, a new subscription counts on.
	r.send(requestFrame("r-3", "0", 1))
	wantFailed(t, r.next(), "r-3", "0", codeSubscriptionProtocolError)
	r.send(subscribeFrame("s-2", "", ""))
	wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-2", "1")
	r.send(requestFrame("r-4", "1", 1))
	v = wantSearchEvent(t, r.next(), protocol.ActionNext, "r-4", "1")
	if len(v.Items) != 5 {
		t.Errorf("default page of %d items, want all 5", len(v.Items))
	}
	wantSearchEvent(t, r.next(), protocol.ActionComplete, "r-4", "1")
	// A search without hits completes without a page.
	r.send(subscribeFrame("s-3", `{"filter":"eq(thingId,\"nope:nope\")"}`, ""))
	wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-3", "2")
	r.send(requestFrame("r-5", "2", 1))
	wantSearchEvent(t, r.next(), protocol.ActionComplete, "r-5", "2")
}

func TestWSSearchFailures(t *testing.T) {
	t.Parallel()
	mem := newMemSearch("org.example", 3)
	r := newSearchRig(t, mem.fetch, nil)
	id := 0
	// subscribe starts a subscription and returns its id.
	subscribe := func(value string) string {
		t.Helper()
		sid := strconv.Itoa(id)
		id++
		r.send(subscribeFrame("s-"+sid, value, ""))
		wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-"+sid, sid)
		return sid
	}
	for _, tt := range []struct {
		name, value string
		demand      int64
		code        string
	}{
		{"zero demand", `{}`, 0, codeSubscriptionProtocolError},
		{"negative demand", `{}`, -3, codeSubscriptionProtocolError},
		{"limit option", `{"options":"limit(0,2)"}`, 1, protocol.CodeSearchOptionInvalid},
		{"cursor option", `{"options":"cursor(abc)"}`, 1, protocol.CodeSearchOptionInvalid},
		{"unknown option", `{"options":"frob(1)"}`, 1, protocol.CodeSearchOptionInvalid},
		{"size over the maximum", `{"options":"size(201)"}`, 1, protocol.CodeSearchOptionInvalid},
		{"invalid filter", `{"filter":"eq(attributes/x"}`, 1, protocol.CodeRQLExpressionInvalid},
	} {
		sid := subscribe(tt.value)
		r.send(requestFrame("r-"+sid, sid, tt.demand))
		perr := wantFailed(t, r.next(), "r-"+sid, sid, tt.code)
		if tt.name == "size over the maximum" && perr.Description != "size(n) -- n must be between 1 and 200" {
			t.Errorf("%s: description %q", tt.name, perr.Description)
		}
		// Failed ends it.
		r.send(requestFrame("again", sid, 1))
		wantFailed(t, r.next(), "again", sid, codeSubscriptionProtocolError)
	}

	// The search service's errors end the subscription.
	mem.mu.Lock()
	mem.failAt, mem.failErr = len(mem.calls)+1, protocol.ErrSearchQueryTimeExceeded()
	mem.mu.Unlock()
	sid := subscribe(`{"options":"size(1)"}`)
	r.send(requestFrame("r-x", sid, 3))
	wantSearchEvent(t, r.next(), protocol.ActionNext, "r-x", sid)
	wantFailed(t, r.next(), "r-x", sid, protocol.CodeSearchQueryTimeExceeded)

	// Unknown ids.
	r.send(requestFrame("u-1", "99", 1))
	if perr := wantFailed(t, r.next(), "u-1", "99", codeSubscriptionNotFound); perr.Status != 404 {
		t.Errorf("not found with status %d", perr.Status)
	}
	r.send(cancelFrame("u-2", "98"))
	wantFailed(t, r.next(), "u-2", "98", codeSubscriptionNotFound)

	// Messages Ditto's protocol adapter refuses: an error message.
	for _, tt := range []struct {
		name, frame, code string
		status            int
	}{
		{"value no object", subscribeFrame("e-1", `"x"`, ""), protocol.CodeJSONInvalid, 400},
		{"filter no string", subscribeFrame("e-1", `{"filter":1}`, ""), protocol.CodeJSONInvalid, 400},
		{"namespaces no array", subscribeFrame("e-1", `{"namespaces":"a"}`, ""), protocol.CodeJSONInvalid, 400},
		{"bad fields", subscribeFrame("e-1", `{}`, "attributes("), protocol.CodeJSONFieldSelectorInvalid, 400},
		{"no subscription id", `{"topic":"_/_/things/twin/search/request","headers":{"correlation-id":"e-1"},"path":"/","value":{"demand":1}}`, protocol.CodeJSONFieldMissing, 400},
		{"demand no number", `{"topic":"_/_/things/twin/search/request","headers":{"correlation-id":"e-1"},"path":"/","value":{"subscriptionId":"0","demand":"1"}}`, protocol.CodeJSONInvalid, 400},
		{"demand fraction", `{"topic":"_/_/things/twin/search/request","headers":{"correlation-id":"e-1"},"path":"/","value":{"subscriptionId":"0","demand":1.5}}`, protocol.CodeJSONInvalid, 400},
		{"live channel", `{"topic":"_/_/things/live/search/subscribe","headers":{"correlation-id":"e-1"},"path":"/"}`, "protocoladapter:unknown.topicpath", 400},
		{"an event", `{"topic":"_/_/things/twin/search/next","headers":{"correlation-id":"e-1"},"path":"/","value":{"subscriptionId":"0","items":[]}}`, "protocoladapter:unknown.topicpath", 400},
	} {
		r.send(tt.frame)
		env := r.next()
		perr, ok := env.AsError()
		if !ok || env.Topic != "_/_/things/search/error" || perr.Code != tt.code || env.Status != tt.status ||
			env.Headers[protocol.HeaderCorrelationID] != "e-1" {
			t.Errorf("%s: got %s %d %v %s, want %s", tt.name, env.Topic, env.Status, env.Headers, env.Value, tt.code)
		}
	}
	r.silent(50 * time.Millisecond)
}

// Cancel ends a subscription silently, also while it waits for a page;
// its id is remembered for a while, then forgotten.
func TestWSSearchCancel(t *testing.T) {
	t.Parallel()
	mem := newMemSearch("org.example", 4)
	fetching := make(chan struct{}, 1)
	fetch := func(ctx context.Context, req searchapi.Request, wait time.Duration) (searchapi.Result, error) {
		if strings.Contains(req.Filter, "slow") {
			fetching <- struct{}{}
			<-ctx.Done()
			return searchapi.Result{}, ctx.Err()
		}
		return mem.fetch(ctx, req, wait)
	}
	r := newSearchRig(t, fetch, func(ss *wsSearches) { ss.zombies.lifetime = 300 * time.Millisecond })

	r.send(subscribeFrame("s-0", `{"options":"size(1)"}`, ""))
	wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-0", "0")
	r.send(requestFrame("r-0", "0", 1))
	wantSearchEvent(t, r.next(), protocol.ActionNext, "r-0", "0")
	r.send(cancelFrame("c-0", "0"))
	r.silent(50 * time.Millisecond)
	r.send(requestFrame("r-1", "0", 1))
	wantFailed(t, r.next(), "r-1", "0", codeSubscriptionProtocolError)
	r.send(cancelFrame("c-1", "0")) // cancelling a cancelled one: nothing
	r.silent(50 * time.Millisecond)

	// Cancelled while the search service works on its page.
	r.send(subscribeFrame("s-1", `{"filter":"eq(attributes/slow,1)"}`, ""))
	wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-1", "1")
	r.send(requestFrame("r-2", "1", 1))
	<-fetching
	r.send(cancelFrame("c-2", "1"))
	r.silent(100 * time.Millisecond)

	// The zombies expire.
	streamstest.Eventually(t, 5*time.Second, func() error {
		r.send(requestFrame("late", "0", 1))
		if v := wantSearchEvent(t, r.next(), protocol.ActionFailed, "late", "0"); v.Error.Code != codeSubscriptionNotFound {
			return fmt.Errorf("request after the zombie lifetime failed with %s", v.Error.Code)
		}
		return nil
	})
}

// A subscription nobody requests from ends after the idle timeout, with
// the headers of its last command.
func TestWSSearchIdleTimeout(t *testing.T) {
	t.Parallel()
	mem := newMemSearch("org.example", 4)
	r := newSearchRig(t, mem.fetch, func(ss *wsSearches) { ss.idle = 150 * time.Millisecond })
	start := time.Now()
	r.send(subscribeFrame("s-0", `{"options":"size(1)"}`, ""))
	wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-0", "0")
	wantFailed(t, r.next(), "s-0", "0", codeSubscriptionTimeout)
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("timed out after %s", d)
	}
	// Requests keep it alive: each one restarts the timeout.
	r.send(subscribeFrame("s-1", `{"options":"size(1)"}`, ""))
	wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-1", "1")
	for i := range 3 {
		time.Sleep(100 * time.Millisecond) // less than the timeout, on purpose
		cid := "r-" + strconv.Itoa(i)
		r.send(requestFrame(cid, "1", 1))
		wantSearchEvent(t, r.next(), protocol.ActionNext, cid, "1")
	}
	wantFailed(t, r.next(), "r-2", "1", codeSubscriptionTimeout)
}

// A session runs a bounded number of subscriptions and remembers a
// bounded number of ended ones.
func TestWSSearchLimits(t *testing.T) {
	t.Parallel()
	mem := newMemSearch("org.example", 4)
	r := newSearchRig(t, mem.fetch, nil) // 3 live, 4 zombies
	for i := range 3 {
		cid := "s-" + strconv.Itoa(i)
		r.send(subscribeFrame(cid, "", ""))
		wantSearchEvent(t, r.next(), protocol.ActionCreated, cid, strconv.Itoa(i))
	}
	r.send(subscribeFrame("s-x", "", ""))
	wantSearchError(t, r.next(), "s-x", protocol.CodeTooManyRequests, http.StatusTooManyRequests)
	r.send(cancelFrame("c-0", "0"))
	r.send(subscribeFrame("s-3", "", ""))
	wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-3", "3")
	// Several run side by side.
	for _, id := range []string{"1", "2", "3"} {
		r.send(requestFrame("r-"+id, id, 1))
	}
	got := map[string]string{}
	for range 6 {
		env := r.next()
		var v searchValue
		_ = json.Unmarshal(env.Value, &v)
		got[v.SubscriptionID] += strings.TrimPrefix(env.Topic, "_/_/things/twin/search/") + " "
	}
	for _, id := range []string{"1", "2", "3"} {
		if got[id] != "next complete " {
			t.Errorf("subscription %s sent %q, want next and complete", id, got[id])
		}
	}
	// Zombies: 0, then 1 to 3 (in the order they completed), then 4 to
	// 6 (started and cancelled). Four are remembered: 0 and two of 1 to
	// 3 are forgotten.
	for i := 4; i < 7; i++ {
		cid := "s-" + strconv.Itoa(i)
		r.send(subscribeFrame(cid, "", ""))
		wantSearchEvent(t, r.next(), protocol.ActionCreated, cid, strconv.Itoa(i))
		r.send(cancelFrame("c-"+strconv.Itoa(i), strconv.Itoa(i)))
	}
	remembered := ""
	for i := range 7 {
		id := strconv.Itoa(i)
		r.send(requestFrame("z-"+id, id, 1))
		v := wantSearchEvent(t, r.next(), protocol.ActionFailed, "z-"+id, id)
		if v.Error.Code == codeSubscriptionProtocolError {
			remembered += id
		}
	}
	if len(remembered) != 4 || !strings.HasSuffix(remembered, "456") || remembered[0] == '0' {
		t.Errorf("remembered %q, want one of 1 to 3 and 4 to 6", remembered)
	}
	r.ss.mu.Lock()
	n := len(r.ss.zombies.expiry)
	r.ss.mu.Unlock()
	if n > 4 {
		t.Errorf("%d zombies remembered, want at most 4", n)
	}
}

// stop ends every subscription, also one waiting for the search service,
// and no subscription starts after it.
func TestWSSearchStop(t *testing.T) {
	t.Parallel()
	fetching := make(chan struct{}, 1)
	var mu sync.Mutex
	ended := false
	fetch := func(ctx context.Context, _ searchapi.Request, _ time.Duration) (searchapi.Result, error) {
		fetching <- struct{}{}
		<-ctx.Done()
		mu.Lock()
		ended = true
		mu.Unlock()
		return searchapi.Result{}, ctx.Err()
	}
	r := newSearchRig(t, fetch, nil)
	r.send(subscribeFrame("s-0", "", ""))
	wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-0", "0")
	r.send(subscribeFrame("s-1", "", ""))
	wantSearchEvent(t, r.next(), protocol.ActionCreated, "s-1", "1")
	r.send(requestFrame("r-0", "0", 1))
	<-fetching
	done := make(chan struct{})
	go func() { r.ss.stop(); close(done) }()
	select {
	case <-done:
	case <-time.After(wsWait):
		t.Fatal("stop did not return")
	}
	mu.Lock()
	if !ended {
		t.Error("stop returned before the page request ended")
	}
	mu.Unlock()
	r.send(subscribeFrame("s-2", "", ""))
	r.silent(50 * time.Millisecond)
}

// Over a session: the caller's subjects go to the search service, and the
// events reach the client.
func TestWebSocketSearch(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	mem := newMemSearch("org.example", 3)
	fake := startSearch(t, h, mem.answer)
	c := dialWS(t, startWS(t, h.gw), "ditto2")
	c.send(subscribeFrame("s-0", `{"options":"size(2)"}`, ""))
	wantSearchEvent(t, c.envelope(), protocol.ActionCreated, "s-0", "0")
	c.send(requestFrame("r-0", "0", 1))
	v := wantSearchEvent(t, c.envelope(), protocol.ActionNext, "r-0", "0")
	if len(v.Items) != 2 {
		t.Fatalf("page of %d items, want 2", len(v.Items))
	}
	c.send(requestFrame("r-1", "0", 1))
	wantSearchEvent(t, c.envelope(), protocol.ActionNext, "r-1", "0")
	wantSearchEvent(t, c.envelope(), protocol.ActionComplete, "r-1", "0")
	calls := fake.received()
	if len(calls) != 2 {
		t.Fatalf("%d search requests, want 2", len(calls))
	}
	for _, call := range calls {
		if call.auth != `["nginx:ditto2"]` {
			t.Errorf("search asked for %s, want the session's subjects", call.auth)
		}
	}
	// A bad value is an error message, and the session goes on.
	c.send(subscribeFrame("s-1", `[]`, ""))
	wantSearchError(t, c.envelope(), "s-1", protocol.CodeJSONInvalid, http.StatusBadRequest)
	c.send(`{"topic":"_/_/things/twin/search/subscribe","headers":{"correlation-id":"s-2","timeout":"2h"},"path":"/"}`)
	wantSearchError(t, c.envelope(), "s-2", "gateway:timeout.invalid", http.StatusBadRequest)
	c.send(subscribeFrame("s-3", "", ""))
	wantSearchEvent(t, c.envelope(), protocol.ActionCreated, "s-3", "1")
}

// ---- Server-sent events ------------------------------------------------

// searchSSEEvent is one server-sent event.
type searchSSEEvent struct{ data, id string }

// parseSearchSSE splits a complete event stream into its events.
func parseSearchSSE(t *testing.T, body string) []searchSSEEvent {
	t.Helper()
	var out []searchSSEEvent
	for block := range strings.SplitSeq(body, "\n\n") {
		if block == "" {
			continue
		}
		var ev searchSSEEvent
		for line := range strings.SplitSeq(block, "\n") {
			k, v, ok := strings.Cut(line, ":")
			switch {
			case !ok:
				t.Fatalf("event line %q has no field", line)
			case k == "data":
				ev.data = v
			case k == "id":
				ev.id = v
			default:
				t.Fatalf("unexpected field %q in %q", k, block)
			}
		}
		out = append(out, ev)
	}
	if !strings.HasSuffix(body, "\n\n") && body != "" {
		t.Fatalf("stream %q does not end with an event", body)
	}
	return out
}

func searchSSERequest(target, lastEventID string) req {
	hdr := map[string]string{"Accept": "text/event-stream"}
	if lastEventID != "" {
		hdr[headerLastEventID] = lastEventID
	}
	return req{method: "GET", target: target, header: hdr}
}

func TestSearchSSE(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) { c.Limits.SearchMaxPageSize, c.Limits.SearchDefaultPageSize = 2, 2 })
	mem := newMemSearch("org.example", 5)
	startSearch(t, h, mem.answer)
	// ids returns the events' ids, checking each event's data against
	// its thing.
	ids := func(t *testing.T, w interface{ Result() *http.Response }, body string, fields string) []string {
		t.Helper()
		res := w.Result()
		if res.StatusCode != 200 || res.Header.Get("Content-Type") != "text/event-stream" {
			t.Fatalf("got %d %s, want 200 text/event-stream; body %s", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		var out []string
		for _, ev := range parseSearchSSE(t, body) {
			out = append(out, ev.id)
			i := slices.IndexFunc(mem.things, func(th jsonv.Value) bool {
				v, _ := th.Get("thingId")
				s, _ := v.Str()
				return s == ev.id
			})
			if i < 0 {
				t.Fatalf("event %+v names no thing", ev)
			}
			want := mem.things[i]
			if fields != "" {
				want = want.Select(searchMust(jsonv.ParseFieldSelector(fields)))
			}
			got, err := jsonv.ParseString(ev.data)
			if err != nil || !got.Equal(want) {
				t.Fatalf("event %s data %s, want %s", ev.id, ev.data, want.AppendJSON(nil))
			}
		}
		return out
	}
	all := []string{mem.id(0), mem.id(1), mem.id(2), mem.id(3), mem.id(4)}

	t.Run("all hits, paged", func(t *testing.T) {
		w := h.do(searchSSERequest("/api/2/search/things?fields=attributes/n", ""))
		if got := ids(t, w, w.Body.String(), "attributes/n"); !slices.Equal(got, all) {
			t.Fatalf("ids %v, want %v", got, all)
		}
		if !strings.HasPrefix(w.Body.String(), `data:{"attributes":{"n":100}}`+"\nid:"+mem.id(0)+"\n\n") {
			t.Errorf("stream starts %.80q", w.Body.String())
		}
	})
	t.Run("thingId selected", func(t *testing.T) {
		w := h.do(searchSSERequest("/api/2/search/things?fields=thingId&namespaces=org.example", ""))
		if got := ids(t, w, w.Body.String(), "thingId"); !slices.Equal(got, all) {
			t.Fatalf("ids %v, want %v", got, all)
		}
	})
	t.Run("resume by thing id", func(t *testing.T) {
		w := h.do(searchSSERequest("/api/2/search/things?filter="+url.QueryEscape(`gt(attributes/n,0)`), mem.id(1)))
		if got := ids(t, w, w.Body.String(), ""); !slices.Equal(got, all[2:]) {
			t.Fatalf("ids %v, want %v", got, all[2:])
		}
	})
	t.Run("resume by thing id, descending", func(t *testing.T) {
		w := h.do(searchSSERequest("/api/2/search/things?option=sort(-thingId)", mem.id(3)))
		if got, want := ids(t, w, w.Body.String(), ""), []string{mem.id(2), mem.id(1), mem.id(0)}; !slices.Equal(got, want) {
			t.Fatalf("ids %v, want %v", got, want)
		}
	})
	t.Run("resume in another order", func(t *testing.T) {
		// Sorted by n ascending, the ids go 4, 3, 2, 1, 0.
		w := h.do(searchSSERequest("/api/2/search/things?option=sort(%2Battributes/n)", mem.id(3)))
		if got, want := ids(t, w, w.Body.String(), ""), []string{mem.id(2), mem.id(1), mem.id(0)}; !slices.Equal(got, want) {
			t.Fatalf("ids %v, want %v", got, want)
		}
	})
	t.Run("resume after the last", func(t *testing.T) {
		w := h.do(searchSSERequest("/api/2/search/things", mem.id(4)))
		if got := ids(t, w, w.Body.String(), ""); len(got) != 0 {
			t.Fatalf("ids %v, want none", got)
		}
	})
	// Problems with Last-Event-ID are the stream's one event.
	for _, tt := range []struct{ name, target, last, code string }{
		{"resume after a thing not among the hits", "/api/2/search/things?option=sort(-attributes/n)", "org.example:gone", protocol.CodeThingNotFound},
		{"resume after no thing id", "/api/2/search/things", "no id", protocol.CodeThingIDInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(searchSSERequest(tt.target, tt.last))
			evs := parseSearchSSE(t, w.Body.String())
			if w.Code != 200 || len(evs) != 1 || evs[0].id != "" || !strings.Contains(evs[0].data, `"error":"`+tt.code+`"`) {
				t.Fatalf("got %d %q, want one error event %s", w.Code, w.Body, tt.code)
			}
		})
	}
	// Bad parameters are answered before the stream.
	for _, tt := range []struct{ name, target, last, code string }{
		{"limit", "/api/2/search/things?option=limit(0,2)", "", protocol.CodeSearchOptionInvalid},
		{"bad option", "/api/2/search/things?option=size(x)", "", protocol.CodeSearchOptionInvalid},
		{"bad filter", "/api/2/search/things?filter=eq(x", "", protocol.CodeRQLExpressionInvalid},
		{"bad filter, resuming", "/api/2/search/things?filter=eq(x", mem.id(0), protocol.CodeRQLExpressionInvalid},
		{"bad filter, bad id", "/api/2/search/things?filter=eq(x", "no id", protocol.CodeRQLExpressionInvalid},
		{"bad fields", "/api/2/search/things?fields=attributes(", "", protocol.CodeJSONFieldSelectorInvalid},
		{"bad timeout", "/api/2/search/things?timeout=forever", "", protocol.CodeTimeoutInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(searchSSERequest(tt.target, tt.last))
			if w.Code != 400 || errorCode(t, w) != tt.code {
				t.Fatalf("got %d %s, want 400 %s", w.Code, w.Body, tt.code)
			}
		})
	}
	t.Run("failure mid-stream", func(t *testing.T) {
		mem.mu.Lock()
		mem.failAt, mem.failErr = len(mem.calls)+1, protocol.ErrSearchQueryTimeExceeded()
		mem.mu.Unlock()
		w := h.do(searchSSERequest("/api/2/search/things", ""))
		evs := parseSearchSSE(t, w.Body.String())
		if w.Code != 200 || len(evs) != 3 || evs[1].id != mem.id(1) || evs[2].id != "" ||
			!strings.Contains(evs[2].data, `"error":"`+protocol.CodeSearchQueryTimeExceeded+`"`) {
			t.Fatalf("got %d %q, want two things and the error", w.Code, w.Body)
		}
	})
	t.Run("not an event stream", func(t *testing.T) {
		for _, accept := range []string{"*/*", "application/json", ""} {
			w := h.do(req{method: "GET", target: "/api/2/search/things", header: map[string]string{"Accept": accept}})
			if w.Code != 200 || w.Header().Get("Content-Type") != contentTypeJSON {
				t.Errorf("Accept %q: got %d %s, want the JSON answer", accept, w.Code, w.Header().Get("Content-Type"))
			}
		}
		w := h.do(req{method: "GET", target: "/api/2/search/things", header: map[string]string{"Accept": "text/*"}})
		if w.Header().Get("Content-Type") != "text/event-stream" {
			t.Errorf("Accept text/*: got %s, want an event stream as in Ditto", w.Header().Get("Content-Type"))
		}
		w = h.do(req{method: "GET", target: "/api/2/search/things/count", header: map[string]string{"Accept": "text/event-stream"}})
		if w.Code != 200 || w.Body.String() == "" || strings.HasPrefix(w.Body.String(), "data:") {
			t.Errorf("count as event stream: got %d %q, want the count", w.Code, w.Body)
		}
	})
	t.Run("wrong credentials", func(t *testing.T) {
		r := searchSSERequest("/api/2/search/things", "")
		r.header["Authorization"] = basic("mallory")
		if w := h.do(r); w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") == "" {
			t.Fatalf("got %d %v, want 401 with a challenge", w.Code, w.Header())
		}
	})
}

func searchMust[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// ---- Parsers -----------------------------------------------------------

func TestParseSubscribeValue(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, raw string
		want      subscribeValue
		code      string
	}{
		{"absent", "", subscribeValue{}, ""},
		{"null", "null", subscribeValue{}, ""},
		{"empty", "{}", subscribeValue{}, ""},
		{"all", `{"filter":"exists(thingId)","options":"size(3)","namespaces":["a","b","a"],"other":1}`,
			subscribeValue{filter: "exists(thingId)", options: "size(3)", namespaces: []string{"a", "b"}}, ""},
		{"null fields", `{"filter":null,"options":null,"namespaces":null}`, subscribeValue{}, ""},
		{"empty namespaces", `{"namespaces":[]}`, subscribeValue{}, ""},
		{"case matters", `{"Filter":"x"}`, subscribeValue{}, ""},
		{"array", `[]`, subscribeValue{}, protocol.CodeJSONInvalid},
		{"string", `"x"`, subscribeValue{}, protocol.CodeJSONInvalid},
		{"not JSON", `{`, subscribeValue{}, protocol.CodeJSONInvalid},
		{"filter number", `{"filter":1}`, subscribeValue{}, protocol.CodeJSONInvalid},
		{"options object", `{"options":{}}`, subscribeValue{}, protocol.CodeJSONInvalid},
		{"namespace number", `{"namespaces":["a",1]}`, subscribeValue{}, protocol.CodeJSONInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, perr := parseSubscribeValue(json.RawMessage(tt.raw))
			if tt.code != "" {
				if perr == nil || perr.Code != tt.code {
					t.Fatalf("got %+v, %v, want error %s", got, perr, tt.code)
				}
				return
			}
			if perr != nil || got.filter != tt.want.filter || got.options != tt.want.options || !slices.Equal(got.namespaces, tt.want.namespaces) {
				t.Fatalf("got %+v, %v, want %+v", got, perr, tt.want)
			}
		})
	}
}

func TestParseSubscriptionValue(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, raw  string
		withDemand bool
		id         string
		demand     int64
		code       string
	}{
		{"cancel", `{"subscriptionId":"7"}`, false, "7", 0, ""},
		{"request", `{"subscriptionId":"7","demand":3}`, true, "7", 3, ""},
		{"demand absent", `{"subscriptionId":"7"}`, true, "7", 0, ""},
		{"demand null", `{"subscriptionId":"7","demand":null}`, true, "7", 0, ""},
		{"demand negative", `{"subscriptionId":"7","demand":-2}`, true, "7", -2, ""},
		{"demand largest", `{"subscriptionId":"7","demand":9223372036854775807}`, true, "7", 9223372036854775807, ""},
		{"demand ignored on cancel", `{"subscriptionId":"7","demand":"x"}`, false, "7", 0, ""},
		{"demand too large", `{"subscriptionId":"7","demand":1e30}`, true, "", 0, protocol.CodeJSONInvalid},
		{"demand string", `{"subscriptionId":"7","demand":"3"}`, true, "", 0, protocol.CodeJSONInvalid},
		{"id missing", `{"demand":3}`, true, "", 0, protocol.CodeJSONFieldMissing},
		{"value missing", ``, false, "", 0, protocol.CodeJSONFieldMissing},
		{"id number", `{"subscriptionId":7}`, false, "", 0, protocol.CodeJSONInvalid},
		{"not an object", `7`, false, "", 0, protocol.CodeJSONInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			id, demand, perr := parseSubscriptionValue(json.RawMessage(tt.raw), tt.withDemand)
			if tt.code != "" {
				if perr == nil || perr.Code != tt.code {
					t.Fatalf("got %q %d %v, want error %s", id, demand, perr, tt.code)
				}
				return
			}
			if perr != nil || id != tt.id || demand != tt.demand {
				t.Fatalf("got %q %d %v, want %q %d", id, demand, perr, tt.id, tt.demand)
			}
		})
	}
}

func TestStreamOptions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		opts string
		size int // page size with default 25, maximum 200; 0 when refused
		code string
	}{
		{"", 25, ""},
		{"sort(+thingId)", 25, ""},
		{"size(10),sort(-_modified)", 10, ""},
		{"size(200)", 200, ""},
		{"size(201)", 0, protocol.CodeSearchOptionInvalid},
		{"size(0)", 0, protocol.CodeSearchOptionInvalid},
		{"limit(0,10)", 0, protocol.CodeSearchOptionInvalid},
		{"cursor(abc)", 0, protocol.CodeSearchOptionInvalid},
		{"sort(+nope)", 0, protocol.CodeSearchOptionInvalid},
		{"sort(", 0, protocol.CodeSearchOptionInvalid},
	} {
		opts, perr := streamOptions(tt.opts)
		size := 0
		if perr == nil {
			size, perr = pageSize(opts, tt.opts, 25, 200)
		}
		switch {
		case tt.code != "" && (perr == nil || perr.Code != tt.code):
			t.Errorf("%q: got %d, %v, want error %s", tt.opts, size, perr, tt.code)
		case tt.code == "" && (perr != nil || size != tt.size):
			t.Errorf("%q: got %d, %v, want size %d", tt.opts, size, perr, tt.size)
		}
	}
}

func TestSearchEventStreamAccepted(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		accept []string
		want   bool
	}{
		{nil, false},
		{[]string{"text/event-stream"}, true},
		{[]string{"application/json, Text/Event-Stream;q=0.5"}, true},
		{[]string{"application/json", "text/*"}, true},
		{[]string{"*/*"}, false},
		{[]string{"text/plain"}, false},
		{[]string{"text/event-streams"}, false},
	} {
		r, _ := http.NewRequest("GET", "/", nil)
		for _, a := range tt.accept {
			r.Header.Add("Accept", a)
		}
		if got := acceptsEventStream(r.Header.Values("Accept")); got != tt.want {
			t.Errorf("Accept %q: got %v, want %v", tt.accept, got, tt.want)
		}
	}
}

// The encoded events are valid JSON in Ditto's shape.
func TestSearchEventValues(t *testing.T) {
	t.Parallel()
	env := searchFailed(`a"b`, protocol.Headers{"correlation-id": "x"}, errSubscriptionNotFound(`a"b`))
	var v searchValue
	if err := json.Unmarshal(env.Value, &v); err != nil || v.SubscriptionID != `a"b` || v.Error == nil ||
		v.Error.Status != 404 || v.Error.Message != `No subscription with ID 'a"b' exists.` {
		t.Fatalf("failed value %s: %+v %v", env.Value, v, err)
	}
	if _, err := env.AppendJSON(nil); err != nil {
		t.Fatal(err)
	}
	next := nextValue("1", []json.RawMessage{json.RawMessage(`{"thingId":"a:b","attributes":{"x":"<&>"}}`), json.RawMessage(`{}`)})
	if string(next) != `{"subscriptionId":"1","items":[{"thingId":"a:b","attributes":{"x":"<&>"}},{}]}` {
		t.Fatalf("next value %s", next)
	}
	if string(nextValue("2", nil)) != `{"subscriptionId":"2","items":[]}` {
		t.Fatalf("empty next value %s", nextValue("2", nil))
	}
}

func FuzzSearchValues(f *testing.F) {
	for _, s := range []string{``, `null`, `{}`, `{"filter":"eq(a,1)","options":"size(2)","namespaces":["x"]}`,
		`{"subscriptionId":"0","demand":3}`, `{"subscriptionId":1}`, `{"demand":1e99}`, `[`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if v, perr := parseSubscribeValue(raw); perr != nil {
			if perr.Status != 400 || !strings.HasPrefix(perr.Code, "json.") {
				t.Fatalf("subscribe value %q: error %+v", raw, perr)
			}
		} else if len(v.namespaces) != len(slices.Compact(slices.Sorted(slices.Values(v.namespaces)))) {
			t.Fatalf("subscribe value %q: repeated namespaces %v", raw, v.namespaces)
		}
		for _, withDemand := range []bool{false, true} {
			id, demand, perr := parseSubscriptionValue(raw, withDemand)
			switch {
			case perr != nil && (perr.Status != 400 || !strings.HasPrefix(perr.Code, "json.")):
				t.Fatalf("subscription value %q: error %+v", raw, perr)
			case perr == nil && !withDemand && demand != 0:
				t.Fatalf("subscription value %q: demand %d without asking", raw, demand)
			case perr == nil:
				// The id is the value's subscriptionId.
				var m map[string]json.RawMessage
				if err := json.Unmarshal(raw, &m); err == nil {
					var s string
					if json.Unmarshal(m["subscriptionId"], &s) == nil && s != id {
						t.Fatalf("subscription value %q: id %q, want %q", raw, id, s)
					}
				}
			}
		}
	})
}

func FuzzStreamOptions(f *testing.F) {
	for _, s := range []string{"", "size(2)", "sort(+thingId,-attributes/x)", "limit(0,1)", "cursor(x)", "size(9999999999)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		opts, perr := streamOptions(s)
		if perr != nil {
			if !errors.Is(perr, protocol.ErrSearchOptionInvalid("")) {
				t.Fatalf("%q: error %+v", s, perr)
			}
			return
		}
		if opts.Limit != nil || opts.Cursor != "" {
			t.Fatalf("%q: accepted %+v", s, opts)
		}
		size, perr := pageSize(opts, s, 25, 200)
		if perr == nil && (size < 1 || size > 200) {
			t.Fatalf("%q: page size %d", s, size)
		}
	})
}

// A stream longer than the HTTP server's write timeout is not cut off:
// each page gets a deadline of its own.
func TestSearchSSEOutlastsWriteTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, func(c *Config) {
		c.RequestTimeout, c.WriteTimeout = 100*time.Millisecond, 200*time.Millisecond
		c.Limits.SearchMaxPageSize, c.Limits.SearchDefaultPageSize = 1, 1
	})
	mem := newMemSearch("org.example", 6)
	startSearch(t, h, func(req searchapi.Request) (int, string, bool) {
		time.Sleep(80 * time.Millisecond) // 6 pages: longer than the write timeout
		return mem.answer(req)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- h.gw.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	r, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/2/search/things", nil)
	r.Header.Set("Authorization", basic("ditto"))
	r.Header.Set("Accept", "text/event-stream")
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(r)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		t.Fatalf("stream cut after %s: %v (got %q)", time.Since(start), err, body)
	}
	if evs := parseSearchSSE(t, string(body)); len(evs) != 6 || time.Since(start) < 200*time.Millisecond {
		t.Fatalf("got %d events in %s, want 6 over more than the write timeout", len(evs), time.Since(start))
	}
}
