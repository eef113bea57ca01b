package platform

import (
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

// natsStreamer is an operator's NATS client of the streaming protocol, as
// the nats CLI is: each message goes to the gateways' streaming subject
// with a reply inbox of its own and the subjects it acts for.
type natsStreamer struct {
	t    *testing.T
	nc   *nats.Conn
	subj string
	auth string
}

// send sends msg and returns the inbox its answers come to.
func (s *natsStreamer) send(msg string) *nats.Subscription {
	s.t.Helper()
	inbox, err := s.nc.SubscribeSync(s.nc.NewInbox())
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { _ = inbox.Unsubscribe() })
	m := nats.NewMsg(s.subj)
	m.Reply, m.Data = inbox.Subject, []byte(msg)
	if s.auth != "" {
		m.Header.Set(streams.HeaderAuth, s.auth)
	}
	if err := s.nc.PublishMsg(m); err != nil {
		s.t.Fatal(err)
	}
	return inbox
}

// read reads the next answer in inbox: a message with topic, whose value
// it returns.
func (s *natsStreamer) read(inbox *nats.Subscription, topic string) streamingValue {
	s.t.Helper()
	m, err := inbox.NextMsg(10 * time.Second)
	if err != nil {
		s.t.Fatalf("no %s: %v", topic, err)
	}
	env, err := protocol.DecodeEnvelope(m.Data)
	if err != nil {
		s.t.Fatalf("answer %s: %v", m.Data, err)
	}
	if env.Topic != topic {
		s.t.Fatalf("got %s %s, want %s", env.Topic, env.Value, topic)
	}
	var v streamingValue
	if err := json.Unmarshal(env.Value, &v); err != nil {
		s.t.Fatalf("value %s: %v", env.Value, err)
	}
	return v
}

// revisions reads n next of sub from inbox and returns their items'
// revisions.
func (s *natsStreamer) revisions(inbox *nats.Subscription, id, sub string, n int) []int {
	s.t.Helper()
	var revs []int
	for range n {
		v := s.read(inbox, streamingTopic(id, "next"))
		if v.SubscriptionID != sub {
			s.t.Fatalf("next of %q, want %q", v.SubscriptionID, sub)
		}
		item, err := protocol.DecodeEnvelope(v.Item)
		if err != nil {
			s.t.Fatalf("item %s: %v", v.Item, err)
		}
		revs = append(revs, int(item.Revision))
	}
	return revs
}

// quiet checks nothing more comes to inbox for d.
func (s *natsStreamer) quiet(inbox *nats.Subscription, d time.Duration) {
	s.t.Helper()
	if m, err := inbox.NextMsg(d); err == nil {
		s.t.Fatalf("unexpected answer %s", m.Data)
	}
}

// The streaming subscription protocol over NATS: the operator's client
// subscribes to a thing's (and a policy's) persisted events as a subject
// the policy lets read them, and gets exactly what it demands per
// request, in order, then complete; another caller cannot touch the
// subscription; a caller who may not read the thing gets its not-found;
// a message without subjects is refused. (Which roles may send there:
// streams.TestOnlyGatewaysServeStreamingOverNATS.)
func TestNATSStreamingHistory(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const id = "org.eclipse.ditto:nats-history"
	const thing = "/api/2/things/" + id
	pl.expect(t, "ditto", "PUT", thing, `{"attributes":{"n":1}}`, nil, 201, "")
	for n := 2; n <= 12; n++ {
		pl.expect(t, "ditto", "PUT", thing+"/attributes/n", strconv.Itoa(n), nil, 204, "")
	}
	op := pl.operator(t)
	names := streams.New("")
	ditto := &natsStreamer{t: t, nc: op, subj: names.GatewayStreaming(), auth: `["nginx:ditto"]`}
	created := streamingTopic(id, "created")

	t.Run("demand paces the stream", func(t *testing.T) {
		in := ditto.send(persistedMsg(id, "s1", `{"fromHistoricalRevision":1,"toHistoricalRevision":12}`))
		sub := ditto.read(in, created).SubscriptionID
		if sub == "" {
			t.Fatal("created without a subscription id")
		}
		ditto.quiet(in, 200*time.Millisecond)
		r1 := ditto.send(streamRequestMsg(id, "r1", sub, 3))
		intsEq(t, "demand 3", ditto.revisions(r1, id, sub, 3), revRange(1, 3))
		ditto.quiet(r1, 300*time.Millisecond)
		r2 := ditto.send(streamRequestMsg(id, "r2", sub, 100))
		intsEq(t, "the rest", ditto.revisions(r2, id, sub, 9), revRange(4, 12))
		if v := ditto.read(r2, streamingTopic(id, "complete")); v.SubscriptionID != sub {
			t.Fatalf("complete of %q", v.SubscriptionID)
		}
		r3 := ditto.send(streamRequestMsg(id, "r3", sub, 1))
		if v := ditto.read(r3, streamingTopic(id, "failed")); v.Error == nil || v.Error.Code != "streaming.subscription.protocol.error" {
			t.Fatalf("request after complete: %+v", v.Error)
		}
	})
	t.Run("filter and cancel", func(t *testing.T) {
		in := ditto.send(persistedMsg(id, "f", `{"fromHistoricalRevision":1,"filter":"gt(attributes/n,9)"}`))
		sub := ditto.read(in, created).SubscriptionID
		r := ditto.send(streamRequestMsg(id, "f", sub, 2))
		intsEq(t, "filtered", ditto.revisions(r, id, sub, 2), []int{10, 11})
		c := ditto.send(streamCancelMsg(id, "c", sub))
		ditto.quiet(c, 300*time.Millisecond) // a cancel is not answered
		r = ditto.send(streamRequestMsg(id, "f2", sub, 1))
		if v := ditto.read(r, streamingTopic(id, "failed")); v.Error == nil || v.Error.Code != "streaming.subscription.protocol.error" {
			t.Fatalf("request after cancel: %+v", v.Error)
		}
	})
	t.Run("demand beyond the bound of one reply subject", func(t *testing.T) {
		in := ditto.send(persistedMsg(id, "b", `{"fromHistoricalRevision":1}`))
		sub := ditto.read(in, created).SubscriptionID
		r := ditto.send(streamRequestMsg(id, "b", sub, 1<<40))
		intsEq(t, "all", ditto.revisions(r, id, sub, 12), revRange(1, 12))
		ditto.read(r, streamingTopic(id, "complete"))
	})
	t.Run("another caller cannot use the subscription", func(t *testing.T) {
		in := ditto.send(persistedMsg(id, "o", `{"fromHistoricalRevision":1}`))
		sub := ditto.read(in, created).SubscriptionID
		other := &natsStreamer{t: t, nc: op, subj: ditto.subj, auth: `["nginx:ditto2"]`}
		r := other.send(streamRequestMsg(id, "o2", sub, 5))
		v := other.read(r, streamingTopic(id, "failed"))
		if v.Error == nil || v.Error.Code != "streaming.subscription.not.found" || v.Error.Status != 404 {
			t.Fatalf("another caller's request: %+v", v.Error)
		}
		other.quiet(r, 200*time.Millisecond)
		// Still there for its owner.
		r = ditto.send(streamRequestMsg(id, "o", sub, 1))
		intsEq(t, "owner", ditto.revisions(r, id, sub, 1), []int{1})
	})
	t.Run("a caller who may not read the thing", func(t *testing.T) {
		other := &natsStreamer{t: t, nc: op, subj: ditto.subj, auth: `["nginx:ditto2"]`}
		in := other.send(persistedMsg(id, "x", `{"fromHistoricalRevision":1}`))
		sub := other.read(in, created).SubscriptionID
		r := other.send(streamRequestMsg(id, "x", sub, 5))
		v := other.read(r, streamingTopic(id, "failed"))
		if v.Error == nil || v.Error.Code != "things:thing.notfound" || v.Error.Status != 404 {
			t.Fatalf("unreadable thing: %+v", v.Error)
		}
		other.quiet(r, 200*time.Millisecond)
	})
	t.Run("a policy's history", func(t *testing.T) {
		ns, name := protocol.SplitID(id)
		topic := func(action string) string { return ns + "/" + name + "/policies/streaming/" + action }
		in := ditto.send(`{"topic":"` + topic("subscribeForPersistedEvents") + `","headers":{},"path":"/","value":{"fromHistoricalRevision":1}}`)
		sub := ditto.read(in, topic("created")).SubscriptionID
		r := ditto.send(`{"topic":"` + topic("request") + `","headers":{},"path":"/","value":{"subscriptionId":"` + sub + `","demand":10}}`)
		if v := ditto.read(r, topic("next")); v.Item == nil {
			t.Fatal("no policy event")
		}
		ditto.read(r, topic("complete"))
	})
	t.Run("without subjects", func(t *testing.T) {
		anon := &natsStreamer{t: t, nc: op, subj: ditto.subj}
		in := anon.send(persistedMsg(id, "a", `{"fromHistoricalRevision":1}`))
		m, err := in.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		env, err := protocol.DecodeEnvelope(m.Data)
		if err != nil || errorCode(env) != "gateway:authentication.failed" {
			t.Fatalf("no subjects: %s (%v)", m.Data, err)
		}
	})
	t.Run("not a streaming message", func(t *testing.T) {
		in := ditto.send(`{"topic":"org.eclipse.ditto/nats-history/things/twin/commands/retrieve","headers":{},"path":"/"}`)
		m, err := in.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatal(err)
		}
		env, err := protocol.DecodeEnvelope(m.Data)
		if err != nil || errorCode(env) != "protocoladapter:unknown.topicpath" {
			t.Fatalf("a command: %s (%v)", m.Data, err)
		}
	})
}
