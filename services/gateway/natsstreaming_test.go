package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/streams"
)

// threeEvents answers every retrieve with a history page of three events
// of the thing, as the things service pages them.
func threeEvents(cmd protocol.Envelope) (protocol.Envelope, bool) {
	var page command.EventsPage
	page.To = 3
	for r := 1; r <= 3; r++ {
		page.Events = append(page.Events, json.RawMessage(fmt.Sprintf(
			`{"topic":"org.example/t/things/twin/events/modified","headers":{},"path":"/attributes/n","value":%d,"revision":%d}`, r, r)))
	}
	v, _ := json.Marshal(page)
	return protocol.Envelope{Topic: cmd.Topic, Path: cmd.Path, Status: http.StatusOK, Value: v,
		Headers: protocol.Headers{protocol.HeaderCorrelationID: cmd.Headers[protocol.HeaderCorrelationID]}}, true
}

// A subscription lives in the gateway instance that created it: its id
// names the instance, and another instance that gets a request for it on
// the shared subject forwards it there, with its reply subject.
func TestNATSStreamingForwardsToTheOwningInstance(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	h.setReply(threeEvents)
	names := streams.New("")
	b, err := New(h.gw.cfg, Deps{NC: h.srv.Connect(t), Names: names, Shards: streams.DefaultShards, Instance: "gw-b"})
	if err != nil {
		t.Fatal(err)
	}
	stop, err := b.serveNATSStreaming(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	h.gw.instance = "gw-a"
	a := &natsStreaming{g: h.gw, ctx: context.Background(), callers: map[string]*natsCaller{}}

	client := h.srv.Connect(t)
	ask := func(subject, frame string) *nats.Subscription {
		t.Helper()
		in, err := client.SubscribeSync(client.NewInbox())
		if err != nil {
			t.Fatal(err)
		}
		if err := client.Flush(); err != nil { // the inbox is known before anyone answers
			t.Fatal(err)
		}
		m := nats.NewMsg(subject)
		m.Reply, m.Data = in.Subject, []byte(frame)
		m.Header.Set(streams.HeaderAuth, `["nginx:ditto"]`)
		if subject == "" { // through instance a, as if the queue group picked it
			m.Subject = names.GatewayStreaming()
			a.handle(m)
		} else if err := client.PublishMsg(m); err != nil {
			t.Fatal(err)
		}
		return in
	}
	read := func(in *nats.Subscription, action string) streamingTestValue {
		t.Helper()
		m, err := in.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("no %s: %v", action, err)
		}
		env, err := protocol.DecodeEnvelope(m.Data)
		if err != nil || !strings.HasSuffix(env.Topic, "/streaming/"+action) {
			t.Fatalf("got %s, want %s (%v)", m.Data, action, err)
		}
		var v streamingTestValue
		if err := json.Unmarshal(env.Value, &v); err != nil {
			t.Fatal(err)
		}
		return v
	}

	in := ask(names.GatewayStreamingInstance("gw-b"), streamingFrame("subscribeForPersistedEvents", "s", `{}`))
	id := read(in, protocol.ActionCreated).SubscriptionID
	if !strings.HasPrefix(id, "gw-b:") {
		t.Fatalf("subscription id %q does not name its instance", id)
	}
	in = ask("", streamingFrame("request", "r", `{"subscriptionId":"`+id+`","demand":2}`))
	for range 2 {
		if v := read(in, protocol.ActionNext); v.SubscriptionID != id || v.Item == nil {
			t.Fatalf("forwarded request answered %+v", v)
		}
	}
	// Its own subscriptions instance a handles itself: an unknown one.
	in = ask("", streamingFrame("request", "r", `{"subscriptionId":"gw-a:9","demand":1}`))
	if v := read(in, protocol.ActionFailed); v.Error == nil || v.Error.Code != codeStreamingNotFound {
		t.Fatalf("unknown subscription of a: %+v", v.Error)
	}
}
