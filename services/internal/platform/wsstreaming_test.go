package platform

import (
	"encoding/json"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// The streaming subscription protocol on the WebSocket: a thing's persisted
// events, paged from the real things service on demand.

const streamingThing = "org.eclipse.ditto:ws-history"

func streamingTopic(id, action string) string {
	ns, name := protocol.SplitID(id)
	return ns + "/" + name + "/things/twin/streaming/" + action
}

func persistedMsg(id, cid, value string) string {
	return `{"topic":"` + streamingTopic(id, "subscribeForPersistedEvents") + `","headers":{"correlation-id":"` + cid + `"},"path":"/","value":` + value + "}"
}

func streamRequestMsg(id, cid, sub string, demand int) string {
	return fmt.Sprintf(`{"topic":%q,"headers":{"correlation-id":%q},"path":"/","value":{"subscriptionId":%q,"demand":%d}}`,
		streamingTopic(id, "request"), cid, sub, demand)
}

func streamCancelMsg(id, cid, sub string) string {
	return fmt.Sprintf(`{"topic":%q,"headers":{"correlation-id":%q},"path":"/","value":{"subscriptionId":%q}}`,
		streamingTopic(id, "cancel"), cid, sub)
}

type streamingValue struct {
	SubscriptionID string          `json:"subscriptionId"`
	Item           json.RawMessage `json:"item"`
	Error          *protocol.Error `json:"error"`
}

// streamingEvent reads the next message, which must be the streaming event
// action of thing id with correlation-id cid, and returns its value.
func (c *wsClient) streamingEvent(id, action, cid string) streamingValue {
	c.t.Helper()
	env := c.envelope()
	if env.Topic != streamingTopic(id, action) || env.Path != "/" || env.Headers[protocol.HeaderCorrelationID] != cid {
		c.t.Fatalf("got %s %v %s, want %s with correlation-id %s", env.Topic, env.Headers, env.Value, action, cid)
	}
	var v streamingValue
	if err := json.Unmarshal(env.Value, &v); err != nil {
		c.t.Fatalf("%s value %s: %v", action, env.Value, err)
	}
	return v
}

// nextRevisions reads n next events of subscription sub and returns the
// revisions of their items, checking each item is an event of the thing.
func (c *wsClient) nextRevisions(id, cid, sub string, n int) []int {
	c.t.Helper()
	var revs []int
	for range n {
		v := c.streamingEvent(id, "next", cid)
		if v.SubscriptionID != sub {
			c.t.Fatalf("next of %q, want %q", v.SubscriptionID, sub)
		}
		item, err := protocol.DecodeEnvelope(v.Item)
		if err != nil {
			c.t.Fatalf("item %s: %v", v.Item, err)
		}
		topic, err := protocol.ParseTopic(item.Topic)
		if err != nil || topic.Criterion != protocol.CriterionEvents || topic.Namespace+":"+topic.EntityName != id {
			c.t.Fatalf("item topic %s (%v)", item.Topic, err)
		}
		revs = append(revs, int(item.Revision))
	}
	return revs
}

func revRange(from, to int) []int {
	var out []int
	for n := from; n <= to; n++ {
		out = append(out, n)
	}
	return out
}

func intsEq(t *testing.T, what string, got, want []int) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("%s: got revisions %v, want %v", what, got, want)
	}
}

// Streaming persisted events over the WebSocket: demand paces the stream
// (exactly as many next as requested, then nothing until the next
// request), ranges by revision and by time, the filter, cancel, and the
// failures: an unknown subscription, a thing the caller may not read, a
// non-positive demand and the bad ranges of the SSE history.
func TestWebSocketStreamingHistory(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = streamingThing
	const thing = "/api/2/things/" + id
	modified := map[int]time.Time{}
	mark := func(rev int) { modified[rev] = pl.modifiedAt(t, thing, rev) }
	pl.expect(t, "ditto", "PUT", thing, `{"attributes":{"n":1}}`, nil, 201, "")
	mark(1)
	for n := 2; n <= 12; n++ {
		pl.expect(t, "ditto", "PUT", thing+"/attributes/n", strconv.Itoa(n), nil, 204, "")
		mark(n)
	}

	t.Run("demand paces the stream", func(t *testing.T) {
		c := pl.mustDial(t, "ditto")
		c.send(persistedMsg(id, "s1", `{"fromHistoricalRevision":1,"toHistoricalRevision":12}`))
		sub := c.streamingEvent(id, "created", "s1").SubscriptionID
		c.silent(200 * time.Millisecond) // nothing before the first request
		c.send(streamRequestMsg(id, "r1", sub, 3))
		intsEq(t, "demand 3", c.nextRevisions(id, "r1", sub, 3), revRange(1, 3))
		c.silent(300 * time.Millisecond)
		c.send(streamRequestMsg(id, "r2", sub, 4))
		intsEq(t, "demand 4", c.nextRevisions(id, "r2", sub, 4), revRange(4, 7))
		c.silent(300 * time.Millisecond)
		c.send(streamRequestMsg(id, "r3", sub, 100))
		intsEq(t, "the rest", c.nextRevisions(id, "r3", sub, 5), revRange(8, 12))
		if v := c.streamingEvent(id, "complete", "r3"); v.SubscriptionID != sub {
			t.Fatalf("complete of %q", v.SubscriptionID)
		}
		// The ended subscription answers a request as Ditto's zombie does.
		c.send(streamRequestMsg(id, "r4", sub, 1))
		if v := c.streamingEvent(id, "failed", "r4"); v.Error == nil || v.Error.Code != "streaming.subscription.protocol.error" {
			t.Fatalf("request after complete: %+v", v.Error)
		}
	})
	t.Run("revision ranges and no value", func(t *testing.T) {
		c := pl.mustDial(t, "ditto")
		for i, tt := range []struct {
			value string
			want  []int
		}{
			{`{"fromHistoricalRevision":3,"toHistoricalRevision":5}`, revRange(3, 5)},
			{`{"fromHistoricalRevision":-2}`, revRange(10, 12)},
			{`{}`, revRange(1, 12)},
		} {
			cid := "v" + strconv.Itoa(i)
			c.send(persistedMsg(id, cid, tt.value))
			sub := c.streamingEvent(id, "created", cid).SubscriptionID
			c.send(streamRequestMsg(id, cid, sub, 1000))
			intsEq(t, tt.value, c.nextRevisions(id, cid, sub, len(tt.want)), tt.want)
			c.streamingEvent(id, "complete", cid)
		}
	})
	t.Run("timestamps", func(t *testing.T) {
		from, to := modified[4], modified[8]
		var want []int
		for n := 1; n <= 12; n++ {
			if modified[n].After(from) && modified[n].Before(to) {
				want = append(want, n)
			}
		}
		c := pl.mustDial(t, "ditto")
		c.send(persistedMsg(id, "ts", fmt.Sprintf(`{"fromHistoricalTimestamp":%q,"toHistoricalTimestamp":%q}`,
			from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano))))
		sub := c.streamingEvent(id, "created", "ts").SubscriptionID
		c.send(streamRequestMsg(id, "ts", sub, 2))
		got := c.nextRevisions(id, "ts", sub, min(2, len(want)))
		c.send(streamRequestMsg(id, "ts", sub, 100))
		got = append(got, c.nextRevisions(id, "ts", sub, len(want)-len(got))...)
		intsEq(t, "4's to 8's _modified", got, want)
		c.streamingEvent(id, "complete", "ts")
	})
	t.Run("filter", func(t *testing.T) {
		c := pl.mustDial(t, "ditto")
		c.send(persistedMsg(id, "f", `{"fromHistoricalRevision":1,"filter":"or(eq(attributes/n,2),gt(attributes/n,10))"}`))
		sub := c.streamingEvent(id, "created", "f").SubscriptionID
		c.send(streamRequestMsg(id, "f", sub, 2))
		intsEq(t, "first 2", c.nextRevisions(id, "f", sub, 2), []int{2, 11})
		c.silent(200 * time.Millisecond)
		c.send(streamRequestMsg(id, "f", sub, 2))
		intsEq(t, "the rest", c.nextRevisions(id, "f", sub, 1), []int{12})
		c.streamingEvent(id, "complete", "f")
	})
	t.Run("cancel", func(t *testing.T) {
		c := pl.mustDial(t, "ditto")
		c.send(persistedMsg(id, "c", `{"fromHistoricalRevision":1}`))
		sub := c.streamingEvent(id, "created", "c").SubscriptionID
		c.send(streamRequestMsg(id, "c", sub, 2))
		intsEq(t, "before cancel", c.nextRevisions(id, "c", sub, 2), revRange(1, 2))
		c.send(streamCancelMsg(id, "cc", sub))
		c.silent(300 * time.Millisecond)
		c.send(streamRequestMsg(id, "c2", sub, 5))
		if v := c.streamingEvent(id, "failed", "c2"); v.Error == nil || v.Error.Code != "streaming.subscription.protocol.error" {
			t.Fatalf("request after cancel: %+v", v.Error)
		}
	})
	t.Run("unknown subscription", func(t *testing.T) {
		c := pl.mustDial(t, "ditto")
		c.send(streamRequestMsg(id, "u", "42", 1))
		v := c.streamingEvent(id, "failed", "u")
		if v.SubscriptionID != "42" || v.Error == nil || v.Error.Code != "streaming.subscription.not.found" || v.Error.Status != 404 {
			t.Fatalf("unknown id: %+v %+v", v, v.Error)
		}
		c.send(streamCancelMsg(id, "u2", "43"))
		if v := c.streamingEvent(id, "failed", "u2"); v.Error == nil || v.Error.Code != "streaming.subscription.not.found" {
			t.Fatalf("cancel of unknown id: %+v", v.Error)
		}
	})
	t.Run("non-positive demand", func(t *testing.T) {
		for _, demand := range []int{0, -1} {
			c := pl.mustDial(t, "ditto")
			c.send(persistedMsg(id, "d", `{"fromHistoricalRevision":1}`))
			sub := c.streamingEvent(id, "created", "d").SubscriptionID
			c.send(streamRequestMsg(id, "d", sub, demand))
			v := c.streamingEvent(id, "failed", "d")
			if v.Error == nil || v.Error.Code != "streaming.subscription.protocol.error" || v.Error.Status != 400 {
				t.Fatalf("demand %d: %+v", demand, v.Error)
			}
		}
	})
	t.Run("failures of the range", func(t *testing.T) {
		pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:ws-private", `{"attributes":{"x":1}}`, nil, 201, "")
		for _, tt := range []struct {
			name, user, id, value string
			status                int
			code                  string
		}{
			{"no read access", "ditto2", "org.eclipse.ditto:ws-private", `{"fromHistoricalRevision":0}`, 404, "things:thing.notfound"},
			{"no such thing", "ditto", "org.eclipse.ditto:ws-nope", `{"fromHistoricalRevision":0}`, 404, "things:thing.notfound"},
			{"from after to", "ditto", id, `{"fromHistoricalRevision":5,"toHistoricalRevision":3}`, 400, "json.format.invalid"},
			{"from beyond", "ditto", id, `{"fromHistoricalRevision":13}`, 404, "things:thing.history.notfound"},
			{"to beyond", "ditto", id, `{"fromHistoricalRevision":1,"toHistoricalRevision":20}`, 404, "things:thing.history.notfound"},
			{"malformed timestamp", "ditto", id, `{"fromHistoricalTimestamp":"yesterday"}`, 400, "json.format.invalid"},
			{"starts in the future", "ditto", id, `{"fromHistoricalTimestamp":"2999-01-01T00:00:00Z"}`, 404, "things:thing.history.notfound"},
			{"both forms", "ditto", id, `{"fromHistoricalRevision":1,"fromHistoricalTimestamp":"2024-01-01T00:00:00Z"}`, 400, "json.format.invalid"},
			{"bad filter", "ditto", id, `{"fromHistoricalRevision":1,"filter":"eq(attributes/n"}`, 400, "rql.expression.invalid"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				c := pl.mustDial(t, tt.user)
				c.send(persistedMsg(tt.id, "e", tt.value))
				sub := c.streamingEvent(tt.id, "created", "e").SubscriptionID
				c.silent(100 * time.Millisecond) // failed only after a request
				c.send(streamRequestMsg(tt.id, "e", sub, 5))
				v := c.streamingEvent(tt.id, "failed", "e")
				if v.SubscriptionID != sub || v.Error == nil || v.Error.Code != tt.code || v.Error.Status != tt.status {
					t.Fatalf("got %+v, want %d %s", v.Error, tt.status, tt.code)
				}
			})
		}
	})
	t.Run("malformed value", func(t *testing.T) {
		c := pl.mustDial(t, "ditto")
		c.send(persistedMsg(id, "m", `{"fromHistoricalRevision":"one"}`))
		env := c.envelope()
		if env.Topic != "org.eclipse.ditto/ws-history/things/twin/errors" || errorCode(env) != "json.invalid" {
			t.Fatalf("got %s %s", env.Topic, env.Value)
		}
	})
}

// Streaming a policy's persisted events: the same protocol on
// <ns>/<name>/policies/streaming/..., enforced with the policy as it is
// now (a caller who may not read it gets its not-found).
func TestWebSocketStreamingPolicyHistory(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = "org.eclipse.ditto:ws-policy-history"
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{}`, nil, 201, "") // creates the policy: revision 1
	for i := 1; i <= 3; i++ {
		pl.expect(t, "ditto", "PUT", fmt.Sprintf("/api/2/policies/%s/entries/E%d", id, i),
			`{"subjects":{"nginx:someone":{"type":"x"}},"resources":{"thing:/attributes":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")
	}
	topic := func(action string) string {
		ns, name := protocol.SplitID(id)
		return ns + "/" + name + "/policies/streaming/" + action
	}
	read := func(c *wsClient, action string) streamingValue {
		t.Helper()
		env := c.envelope()
		if env.Topic != topic(action) {
			t.Fatalf("got %s %s, want %s", env.Topic, env.Value, action)
		}
		var v streamingValue
		if err := json.Unmarshal(env.Value, &v); err != nil {
			t.Fatalf("value %s: %v", env.Value, err)
		}
		return v
	}
	subscribe := `{"topic":"` + topic("subscribeForPersistedEvents") + `","headers":{"correlation-id":"p"},"path":"/","value":{"fromHistoricalRevision":2}}`
	request := func(sub string, demand int) string {
		return fmt.Sprintf(`{"topic":%q,"headers":{"correlation-id":"p"},"path":"/","value":{"subscriptionId":%q,"demand":%d}}`, topic("request"), sub, demand)
	}

	c := pl.mustDial(t, "ditto")
	c.send(subscribe)
	sub := read(c, "created").SubscriptionID
	c.send(request(sub, 1))
	var revs []int
	for want := 2; want <= 4; want++ {
		if want == 3 {
			c.silent(200 * time.Millisecond)
			c.send(request(sub, 10))
		}
		v := read(c, "next")
		item, err := protocol.DecodeEnvelope(v.Item)
		if err != nil {
			t.Fatalf("item %s: %v", v.Item, err)
		}
		if want := protocol.NewTopic(id, protocol.GroupPolicies, "", protocol.CriterionEvents, protocol.ActionCreated).String(); item.Topic != want {
			t.Fatalf("item topic %s, want %s", item.Topic, want)
		}
		revs = append(revs, int(item.Revision))
	}
	intsEq(t, "policy revisions", revs, revRange(2, 4))
	read(c, "complete")

	c2 := pl.mustDial(t, "ditto2")
	c2.send(subscribe)
	sub = read(c2, "created").SubscriptionID
	c2.send(request(sub, 1))
	if v := read(c2, "failed"); v.Error == nil || v.Error.Code != "policies:policy.notfound" || v.Error.Status != 404 {
		t.Fatalf("ditto2: %+v", v.Error)
	}

	// Now ditto2 may read the entry E1 only (revision 5): it gets the
	// event of E1 and none of the others.
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+id+"/entries/READER",
		`{"subjects":{"nginx:ditto2":{"type":"x"}},"resources":{"policy:/entries/E1":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")
	c3 := pl.mustDial(t, "ditto2")
	c3.send(subscribe)
	sub = read(c3, "created").SubscriptionID
	c3.send(request(sub, 10))
	v := read(c3, "next")
	item, err := protocol.DecodeEnvelope(v.Item)
	if err != nil || item.Revision != 2 || item.Path != "/entries/E1" {
		t.Fatalf("ditto2 reading E1: item %s (%v)", v.Item, err)
	}
	read(c3, "complete")
}
