package platform

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// The search protocol on the WebSocket and search results as server-sent
// events, against the real search service.

// searchNS holds the things of the search tests: t-0 ... t-4 with
// attributes kind, n (= the index) and secret; ditto may do anything with
// them, ditto2 may read attributes/n of t-1 and t-3.
const searchNS = "org.search"

func searchThingID(i int) string { return fmt.Sprintf("%s:t-%d", searchNS, i) }

// createSearchThings creates the things and waits until the search index
// holds them (the requested search-persisted acknowledgement).
func createSearchThings(t *testing.T, pl *platform) {
	t.Helper()
	for i := range 5 {
		entries := `"DEFAULT":{"subjects":{"nginx:ditto":{"type":"owner"}},"resources":{` +
			`"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}`
		if i%2 == 1 {
			entries += `,"GUEST":{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{` +
				`"thing:/attributes/n":{"grant":["READ"],"revoke":[]}}}`
		}
		body := fmt.Sprintf(`{"attributes":{"kind":"ws","n":%d,"secret":"s"},"_policy":{"entries":{%s}}}`, i, entries)
		pl.expect(t, "ditto", "PUT", "/api/2/things/"+searchThingID(i)+"?requested-acks=twin-persisted,search-persisted",
			body, nil, http.StatusOK, "")
	}
}

func subscribeMsg(cid, value, fields string) string {
	m := `{"topic":"_/_/things/twin/search/subscribe","headers":{"correlation-id":"` + cid + `"},"path":"/","value":` + value
	if fields != "" {
		m += `,"fields":"` + fields + `"`
	}
	return m + "}"
}

func requestMsg(cid, id string, demand int) string {
	return fmt.Sprintf(`{"topic":"_/_/things/twin/search/request","headers":{"correlation-id":%q},"path":"/","value":{"subscriptionId":%q,"demand":%d}}`, cid, id, demand)
}

func cancelMsg(cid, id string) string {
	return fmt.Sprintf(`{"topic":"_/_/things/twin/search/cancel","headers":{"correlation-id":%q},"path":"/","value":{"subscriptionId":%q}}`, cid, id)
}

// searchEvent reads the next message, which must be the search event
// action with the correlation-id cid, and returns its value.
func (c *wsClient) searchEvent(action, cid string) (v struct {
	SubscriptionID string            `json:"subscriptionId"`
	Items          []json.RawMessage `json:"items"`
	Error          *protocol.Error   `json:"error"`
}) {
	c.t.Helper()
	env := c.envelope()
	if env.Topic != "_/_/things/twin/search/"+action || env.Path != "/" || env.Headers[protocol.HeaderCorrelationID] != cid {
		c.t.Fatalf("got %s %v %s, want %s with correlation-id %s", env.Topic, env.Headers, env.Value, action, cid)
	}
	if err := json.Unmarshal(env.Value, &v); err != nil {
		c.t.Fatalf("%s value %s: %v", action, env.Value, err)
	}
	return v
}

// itemsEq checks a page's items against the JSON array want.
func itemsEq(t *testing.T, what string, items []json.RawMessage, want string) {
	t.Helper()
	b, _ := json.Marshal(items)
	jsonEq(t, what, string(b), want)
}

func fullThing(i int) string {
	return fmt.Sprintf(`{"thingId":%q,"policyId":%q,"attributes":{"kind":"ws","n":%d,"secret":"s"}}`, searchThingID(i), searchThingID(i), i)
}

func TestWebSocketSearchProtocol(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	createSearchThings(t, pl)
	c := pl.mustDial(t, "ditto")

	// Demand smaller than the results: one page per demanded page.
	c.send(subscribeMsg("s-1", `{"filter":"eq(attributes/kind,\"ws\")","options":"size(2)"}`, "thingId,policyId,attributes"))
	if v := c.searchEvent("created", "s-1"); v.SubscriptionID != "0" {
		t.Fatalf("created subscription %q, want 0", v.SubscriptionID)
	}
	c.silent(200 * time.Millisecond) // nothing before a request
	c.send(requestMsg("r-1", "0", 1))
	v := c.searchEvent("next", "r-1")
	itemsEq(t, "first page", v.Items, "["+fullThing(0)+","+fullThing(1)+"]")
	c.silent(300 * time.Millisecond) // no more than demanded
	c.send(requestMsg("r-2", "0", 2))
	itemsEq(t, "second page", c.searchEvent("next", "r-2").Items, "["+fullThing(2)+","+fullThing(3)+"]")
	itemsEq(t, "last page", c.searchEvent("next", "r-2").Items, "["+fullThing(4)+"]")
	c.searchEvent("complete", "r-2")

	// Fields, namespaces and sort; the page holds everything, so complete
	// follows it.
	c.send(subscribeMsg("s-2", `{"namespaces":["`+searchNS+`"],"options":"sort(-attributes/n),size(5)"}`, "thingId"))
	id := c.searchEvent("created", "s-2").SubscriptionID
	c.send(requestMsg("r-3", id, 100))
	itemsEq(t, "ids", c.searchEvent("next", "r-3").Items, fmt.Sprintf(`[{"thingId":%q},{"thingId":%q},{"thingId":%q},{"thingId":%q},{"thingId":%q}]`,
		searchThingID(4), searchThingID(3), searchThingID(2), searchThingID(1), searchThingID(0)))
	c.searchEvent("complete", "r-3")

	// Cancel: nothing more, and the id is cancelled.
	c.send(subscribeMsg("s-3", `{"options":"size(1)","namespaces":["`+searchNS+`"]}`, "thingId"))
	id = c.searchEvent("created", "s-3").SubscriptionID
	c.send(requestMsg("r-4", id, 1))
	itemsEq(t, "one", c.searchEvent("next", "r-4").Items, fmt.Sprintf(`[{"thingId":%q}]`, searchThingID(0)))
	c.send(cancelMsg("c-1", id))
	c.silent(200 * time.Millisecond)
	c.send(requestMsg("r-5", id, 1))
	if v := c.searchEvent("failed", "r-5"); v.Error == nil || v.Error.Code != "thing-search:subscription.protocol.error" || v.SubscriptionID != id {
		t.Fatalf("request after cancel failed with %+v", v)
	}

	// An invalid filter fails the subscription at its first request.
	c.send(subscribeMsg("s-4", `{"filter":"eq(attributes/kind"}`, ""))
	id = c.searchEvent("created", "s-4").SubscriptionID
	c.send(requestMsg("r-6", id, 1))
	if v := c.searchEvent("failed", "r-6"); v.Error == nil || v.Error.Code != "rql.expression.invalid" || v.Error.Status != 400 {
		t.Fatalf("invalid filter failed with %+v", v)
	}
	// So do options the protocol does not take.
	c.send(subscribeMsg("s-5", `{"options":"limit(0,2)"}`, ""))
	id = c.searchEvent("created", "s-5").SubscriptionID
	c.send(requestMsg("r-7", id, 1))
	if v := c.searchEvent("failed", "r-7"); v.Error == nil || v.Error.Code != "thing-search:search.option.invalid" {
		t.Fatalf("limit option failed with %+v", v)
	}

	// Unknown subscriptions.
	c.send(requestMsg("r-8", "42", 1))
	if v := c.searchEvent("failed", "r-8"); v.Error == nil || v.Error.Code != "thing-search:subscription.not.found" || v.SubscriptionID != "42" {
		t.Fatalf("unknown subscription failed with %+v", v)
	}
	// A malformed request is an error message; the session goes on.
	c.send(`{"topic":"_/_/things/twin/search/request","headers":{"correlation-id":"bad"},"path":"/","value":{"demand":1}}`)
	if env := c.envelope(); env.Topic != "_/_/things/search/error" || errorCode(env) != "json.field.missing" || env.Headers[protocol.HeaderCorrelationID] != "bad" {
		t.Fatalf("malformed request answered %s %v %s", env.Topic, env.Headers, env.Value)
	}
	c.send(`{"topic":"org.search/t-0/things/twin/commands/retrieve","headers":{"correlation-id":"alive"},"path":"/attributes/n"}`)
	if env := c.envelope(); env.Status != 200 || string(env.Value) != "0" {
		t.Fatalf("retrieve answered %+v %s", env, env.Value)
	}
}

// Another user finds only what it may read, and sees only that.
func TestWebSocketSearchAuthorization(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	createSearchThings(t, pl)
	guest := pl.mustDial(t, "ditto2")
	guest.send(subscribeMsg("g-1", `{"namespaces":["`+searchNS+`"]}`, ""))
	id := guest.searchEvent("created", "g-1").SubscriptionID
	guest.send(requestMsg("g-2", id, 10))
	itemsEq(t, "guest's page", guest.searchEvent("next", "g-2").Items, fmt.Sprintf(
		`[{"thingId":%q,"attributes":{"n":1}},{"thingId":%q,"attributes":{"n":3}}]`, searchThingID(1), searchThingID(3)))
	guest.searchEvent("complete", "g-2")
	// A condition on what the guest may not read matches nothing.
	guest.send(subscribeMsg("g-3", `{"filter":"eq(attributes/secret,\"s\")"}`, ""))
	id = guest.searchEvent("created", "g-3").SubscriptionID
	guest.send(requestMsg("g-4", id, 10))
	guest.searchEvent("complete", "g-4")
}

// searchSSE reads a whole search event stream as user.
func (pl *platform) searchSSE(t *testing.T, user, query, lastEventID string) (*http.Response, []searchSSEEvent) {
	t.Helper()
	req, err := http.NewRequest("GET", pl.url+"/api/2/search/things?"+query, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(user, user)
	req.Header.Set("Accept", "text/event-stream")
	if lastEventID != "" {
		req.Header.Set("Last-Event-ID", lastEventID)
	}
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read stream: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		return resp, nil
	}
	var evs []searchSSEEvent
	for block := range strings.SplitSeq(string(body), "\n\n") {
		if block == "" {
			continue
		}
		var ev searchSSEEvent
		for line := range strings.SplitSeq(block, "\n") {
			switch k, v, _ := strings.Cut(line, ":"); k {
			case "data":
				ev.data = v
			case "id":
				ev.id = v
			default:
				t.Fatalf("unexpected line %q", line)
			}
		}
		evs = append(evs, ev)
	}
	return resp, evs
}

type searchSSEEvent struct{ data, id string }

func TestSearchServerSentEvents(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	createSearchThings(t, pl)
	// check compares the events with the things of the indexes given,
	// whose data is data(i).
	check := func(t *testing.T, evs []searchSSEEvent, data func(int) string, want ...int) {
		t.Helper()
		if len(evs) != len(want) {
			t.Fatalf("got %d events %v, want %d", len(evs), evs, len(want))
		}
		for k, i := range want {
			if evs[k].id != searchThingID(i) {
				t.Errorf("event %d has id %q, want %q", k, evs[k].id, searchThingID(i))
			}
			jsonEq(t, "event "+evs[k].id, evs[k].data, data(i))
		}
	}
	nOnly := func(i int) string { return fmt.Sprintf(`{"attributes":{"n":%d}}`, i) }
	q := url.Values{"namespaces": {searchNS}, "fields": {"attributes/n"}}

	resp, evs := pl.searchSSE(t, "ditto", q.Encode(), "")
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	check(t, evs, nOnly, 0, 1, 2, 3, 4)
	// Resume after the thing of the last event received.
	_, evs = pl.searchSSE(t, "ditto", q.Encode(), searchThingID(1))
	check(t, evs, nOnly, 2, 3, 4)
	// In another order too.
	q2 := url.Values{"filter": {`eq(attributes/kind,"ws")`}, "option": {"sort(-attributes/n)"}}
	_, evs = pl.searchSSE(t, "ditto", q2.Encode(), searchThingID(3))
	check(t, evs, fullThing, 2, 1, 0)
	// Another user sees what it may read.
	_, evs = pl.searchSSE(t, "ditto2", url.Values{"namespaces": {searchNS}}.Encode(), "")
	check(t, evs, func(i int) string { return fmt.Sprintf(`{"thingId":%q,"attributes":{"n":%d}}`, searchThingID(i), i) }, 1, 3)

	// Errors before the stream, and credentials.
	if resp, _ := pl.searchSSE(t, "ditto", "filter=eq(attributes", ""); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("invalid filter: status %d", resp.StatusCode)
	}
	if resp, _ := pl.searchSSE(t, "mallory", q.Encode(), ""); resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("wrong credentials: status %d %v", resp.StatusCode, resp.Header)
	}
}
