package streams_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// violations collects a connection's permission errors, which NATS reports
// asynchronously.
type violations struct {
	mu   sync.Mutex
	errs []string
}

func (v *violations) handler(_ *nats.Conn, _ *nats.Subscription, err error) {
	v.mu.Lock()
	v.errs = append(v.errs, err.Error())
	v.mu.Unlock()
}

// await waits until a violation naming subject was reported.
func (v *violations) await(t *testing.T, op, subject string) {
	t.Helper()
	streamstest.Eventually(t, 5*time.Second, func() error {
		v.mu.Lock()
		defer v.mu.Unlock()
		for _, e := range v.errs {
			if strings.Contains(strings.ToLower(e), "permissions violation for "+op) && strings.Contains(e, subject) {
				return nil
			}
		}
		return errors.New("no permissions violation for " + op + " to " + subject + " reported; errors: " + strings.Join(v.errs, "; "))
	})
}

// secured is a server admitting the platform's roles, with its streams and
// buckets created by the services themselves.
type secured struct {
	srv   *streamstest.Server
	names streams.Names
}

func newSecured(t *testing.T) *secured {
	t.Helper()
	s := &secured{srv: streamstest.StartSecured(t, streams.New("")), names: streams.New("")}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, r := range []streams.Role{streams.RoleThings, streams.RolePolicies} {
		js, err := jetstream.New(s.srv.ConnectAs(t, r))
		if err != nil {
			t.Fatal(err)
		}
		if err := streams.Ensure(ctx, js, s.names, streams.DefaultConfig(), string(r)); err != nil {
			t.Fatalf("%s ensures its streams and buckets: %v", r, err)
		}
	}
	return s
}

// as connects as r and collects its violations.
func (s *secured) as(t *testing.T, r streams.Role) (*nats.Conn, *violations) {
	t.Helper()
	v := &violations{}
	return s.srv.ConnectAs(t, r, nats.ErrorHandler(v.handler)), v
}

// received reports whether sub gets a message within a short time.
func received(t *testing.T, sub *nats.Subscription) bool {
	t.Helper()
	_, err := sub.NextMsg(300 * time.Millisecond)
	return err == nil
}

func TestAnonymousAndUnknownClientsAreRefused(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	if nc, err := nats.Connect(s.srv.ClientURL()); err == nil {
		nc.Close()
		t.Fatal("an anonymous client was admitted")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Errorf("anonymous client: %v, want the authorization error", err)
	}
	if nc, err := nats.Connect(s.srv.ClientURL(), nats.UserInfo("operator", "guess")); err == nil {
		nc.Close()
		t.Fatal("a client with a made-up password was admitted")
	}
}

func TestGatewayCannotServeOrAnswerCommands(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	gw, v := s.as(t, streams.RoleGateway)
	for _, kind := range streams.CommandKinds {
		subject := s.names.Commands(streams.ServiceThings, kind, 3)
		sub, err := gw.QueueSubscribeSync(subject, streams.ServiceThings)
		if err != nil {
			t.Fatal(err)
		}
		v.await(t, "subscription", subject)
		things, _ := s.as(t, streams.RoleThings)
		if err := things.Publish(s.names.Commands(streams.ServiceThings, streams.KindCommands, 3), []byte("x")); err != nil {
			t.Fatal(err)
		}
		if kind == streams.KindCommands && received(t, sub) {
			t.Errorf("the gateway received a command of %s", subject)
		}
	}
	// Nor can it inject a reply into another role's inbox.
	thingsConn, _ := s.as(t, streams.RoleThings)
	inbox, err := thingsConn.SubscribeSync(streams.InboxPrefix(streams.RoleThings) + ".x")
	if err != nil {
		t.Fatal(err)
	}
	if err := thingsConn.Flush(); err != nil {
		t.Fatal(err)
	}
	forged := streams.InboxPrefix(streams.RoleThings) + ".x"
	if err := gw.Publish(forged, []byte(`{"status":200}`)); err != nil {
		t.Fatal(err)
	}
	v.await(t, "publish", forged)
	if received(t, inbox) {
		t.Error("a forged reply from the gateway reached the things service's inbox")
	}
}

func TestGatewayHasNoJetStreamAPI(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	gw, v := s.as(t, streams.RoleGateway)
	for _, subject := range []string{
		"$JS.API.INFO",
		"$JS.API.STREAM.INFO." + s.names.ThingEventsStream(),
		"$JS.API.STREAM.PURGE." + s.names.ThingEventsStream(),
		"$JS.API.STREAM.DELETE." + s.names.PolicyEventsStream(),
		"$JS.API.CONSUMER.CREATE." + s.names.ThingEventsStream(),
		"$KV." + s.names.ShardLeaseBucket(streams.ServiceThings) + ".shard.1",
	} {
		if _, err := gw.Request(subject, nil, 500*time.Millisecond); err == nil {
			t.Errorf("the gateway got an answer from %s", subject)
		}
		v.await(t, "publish", subject)
	}
}

func TestOnlyTheServicesPublishTheirEvents(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	op, _ := s.as(t, streams.RoleOperator)
	watch, err := op.SubscribeSync(s.names.ThingEventsAll())
	if err != nil {
		t.Fatal(err)
	}
	pwatch, err := op.SubscribeSync(s.names.PolicyEventsAll())
	if err != nil {
		t.Fatal(err)
	}
	if err := op.Flush(); err != nil {
		t.Fatal(err)
	}
	subject := s.names.ThingEvents("org.eclipse.ditto")
	for _, r := range []streams.Role{streams.RoleGateway, streams.RoleOperator, streams.RolePolicies, streams.RoleSearch} {
		nc, v := s.as(t, r)
		if err := nc.Publish(subject, []byte(`{"forged":true}`)); err != nil {
			t.Fatal(err)
		}
		v.await(t, "publish", subject)
		if received(t, watch) {
			t.Errorf("%s published a thing event", r)
		}
	}
	psubject := s.names.PolicyEvents("org.eclipse.ditto")
	things, v := s.as(t, streams.RoleThings)
	if err := things.Publish(psubject, []byte(`{"forged":true}`)); err != nil {
		t.Fatal(err)
	}
	v.await(t, "publish", psubject)
	if received(t, pwatch) {
		t.Error("the things service published a policy event")
	}
	// The owner does publish, into its stream.
	js, err := jetstream.New(things)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(context.Background(), subject, []byte(`{}`)); err != nil {
		t.Errorf("the things service cannot publish its event: %v", err)
	}
	if !received(t, watch) {
		t.Error("the operator does not see the things service's event")
	}
}

func TestOperatorCannotDestroyStreamsOrBuckets(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	things, _ := s.as(t, streams.RoleThings)
	tjs, _ := jetstream.New(things)
	ctx := context.Background()
	if _, err := tjs.Publish(ctx, s.names.ThingEvents("ns"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	op, v := s.as(t, streams.RoleOperator)
	ojs, _ := jetstream.New(op)
	var targets []string
	for _, svc := range []string{streams.ServiceThings, streams.ServicePolicies} {
		targets = append(targets, s.names.EventsStream(svc),
			"KV_"+s.names.ShardLeaseBucket(svc), "KV_"+s.names.PublishedBucket(svc))
	}
	for _, stream := range targets {
		for _, subject := range []string{"$JS.API.STREAM.PURGE." + stream, "$JS.API.STREAM.DELETE." + stream,
			"$JS.API.STREAM.UPDATE." + stream, "$JS.API.STREAM.MSG.DELETE." + stream} {
			if _, err := op.Request(subject, []byte(`{}`), 500*time.Millisecond); err == nil {
				t.Errorf("the operator got an answer from %s", subject)
			}
			v.await(t, "publish", subject)
		}
		// The operator reads what it may not destroy.
		if _, err := ojs.Stream(ctx, stream); err != nil {
			t.Errorf("the operator cannot read stream %s: %v", stream, err)
		}
	}
	for _, bucket := range []string{s.names.ShardLeaseBucket(streams.ServiceThings), s.names.PublishedBucket(streams.ServicePolicies)} {
		kv, err := ojs.KeyValue(ctx, bucket)
		if err != nil {
			t.Fatalf("the operator cannot open bucket %s: %v", bucket, err)
		}
		if _, err := kv.Put(ctx, "shard.0", []byte("operator")); err == nil {
			t.Errorf("the operator wrote into bucket %s", bucket)
		}
	}
	info, err := tjs.Stream(ctx, s.names.ThingEventsStream())
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := info.Info(ctx); st == nil || st.State.Msgs != 1 {
		t.Errorf("the thing events stream lost its event: %+v", st)
	}
}

func TestNoRoleReadsAnothersReplies(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	for _, reader := range streams.Roles {
		nc, v := s.as(t, reader)
		for _, owner := range streams.Roles {
			if owner == reader {
				continue
			}
			subject := streams.InboxPrefix(owner) + ".>"
			if _, err := nc.SubscribeSync(subject); err != nil {
				t.Fatal(err)
			}
			v.await(t, "subscription", subject)
		}
	}
	// And a request's reply reaches its requester: the operator's request
	// to a service answered through allow_responses.
	things, _ := s.as(t, streams.RoleThings)
	subject := s.names.Commands(streams.ServiceThings, streams.KindSudo, 1)
	if _, err := things.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond([]byte("ok")) }); err != nil {
		t.Fatal(err)
	}
	if err := things.Flush(); err != nil {
		t.Fatal(err)
	}
	op, _ := s.as(t, streams.RoleOperator)
	if m, err := op.Request(subject, nil, 5*time.Second); err != nil || string(m.Data) != "ok" {
		t.Errorf("operator's sudo request: %v, %v", m, err)
	}
}

// The services that follow events over plain NATS (the gateway the thing
// events, the things service the policy events) get each event once the
// stream stored it, without the reply subject of its publisher's
// JetStream acknowledgement: they could otherwise answer it through
// allow_responses, forging the acknowledgement of an event the stream may
// not have stored.
func TestStoredEventsCarryNoReplySubject(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	for _, tc := range []struct {
		publisher, follower streams.Role
		subject, stored     string
	}{
		{streams.RoleThings, streams.RoleGateway, s.names.ThingEvents("org.eclipse.ditto"), s.names.ThingStoredEventsAll()},
		{streams.RolePolicies, streams.RoleThings, s.names.PolicyEvents("org.eclipse.ditto"), s.names.PolicyStoredEventsAll()},
	} {
		op, _ := s.as(t, streams.RoleOperator)
		published, err := op.SubscribeSync(tc.subject)
		if err != nil {
			t.Fatal(err)
		}
		follower, v := s.as(t, tc.follower)
		stored, err := follower.SubscribeSync(tc.stored)
		if err != nil {
			t.Fatal(err)
		}
		// The follower may not subscribe to the publishes themselves.
		if _, err := follower.SubscribeSync(tc.subject); err != nil {
			t.Fatal(err)
		}
		v.await(t, "subscription", tc.subject)
		for _, nc := range []*nats.Conn{op, follower} {
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		js, err := jetstream.New(s.srv.ConnectAs(t, tc.publisher))
		if err != nil {
			t.Fatal(err)
		}
		ack, err := js.Publish(context.Background(), tc.subject, []byte(`{"event":1}`))
		if err != nil {
			t.Fatalf("%s publishes its event: %v", tc.publisher, err)
		}
		orig, err := published.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("the operator sees no publish of %s: %v", tc.subject, err)
		}
		if orig.Reply == "" {
			t.Fatalf("the publish of %s has no reply subject: nothing to forge", tc.subject)
		}
		m, err := stored.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("%s gets no stored event on %s: %v", tc.follower, tc.stored, err)
		}
		if m.Reply != "" {
			t.Errorf("%s got the event with reply subject %q", tc.follower, m.Reply)
		}
		if string(m.Data) != `{"event":1}` || m.Header.Get("Nats-Sequence") != strconv.FormatUint(ack.Sequence, 10) {
			t.Errorf("%s got %q (sequence %q), want the stored event at %d", tc.follower, m.Data, m.Header.Get("Nats-Sequence"), ack.Sequence)
		}
		// Its reply subject is not the follower's to answer.
		if err := follower.Publish(orig.Reply, []byte(`{"stream":"forged","seq":1}`)); err != nil {
			t.Fatal(err)
		}
		v.await(t, "publish", orig.Reply)
		// Only the stream publishes stored events: no role, the
		// publisher of the events included, forges one.
		forged := strings.TrimSuffix(tc.stored, ">") + "org~eclipse~ditto"
		for _, r := range streams.Roles {
			nc, rv := s.as(t, r)
			if err := nc.Publish(forged, []byte(`{"forged":true}`)); err != nil {
				t.Fatal(err)
			}
			rv.await(t, "publish", forged)
		}
		if received(t, stored) {
			t.Errorf("%s got a forged stored event on %s", tc.follower, forged)
		}
	}
}

// Who may send which kind of command: sudo commands only the operator
// and a service to itself, internal commands only the services.
func TestCommandKindsByRole(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	policies, _ := s.as(t, streams.RolePolicies)
	type check struct {
		role    streams.Role
		kind    streams.CommandKind
		allowed bool
	}
	checks := []check{
		{streams.RoleGateway, streams.KindCommands, true},
		{streams.RoleGateway, streams.KindSudo, false},
		{streams.RoleGateway, streams.KindInternal, false},
		{streams.RoleOperator, streams.KindCommands, true},
		{streams.RoleOperator, streams.KindSudo, true},
		{streams.RoleOperator, streams.KindInternal, false},
		{streams.RoleThings, streams.KindCommands, true},
		{streams.RoleThings, streams.KindSudo, false},
		// Its own piggyback commands only; the policies an effective
		// policy is computed from it reads from the journal.
		{streams.RolePolicies, streams.KindSudo, true},
		{streams.RolePolicies, streams.KindInternal, false},
		{streams.RoleThings, streams.KindInternal, true},
		// Search loads what it indexes unfiltered, and acts for no caller.
		{streams.RoleSearch, streams.KindCommands, false},
		{streams.RoleSearch, streams.KindSudo, false},
		{streams.RoleSearch, streams.KindInternal, true},
	}
	subs := map[streams.CommandKind]*nats.Subscription{}
	for _, kind := range streams.CommandKinds {
		sub, err := policies.SubscribeSync(s.names.Commands(streams.ServicePolicies, kind, 2))
		if err != nil {
			t.Fatal(err)
		}
		subs[kind] = sub
	}
	if err := policies.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, c := range checks {
		nc, v := s.as(t, c.role)
		subject := s.names.Commands(streams.ServicePolicies, c.kind, 2)
		if err := nc.Publish(subject, []byte("cmd")); err != nil {
			t.Fatal(err)
		}
		if got := received(t, subs[c.kind]); got != c.allowed {
			t.Errorf("%s sending %s: delivered %t, want %t", c.role, subject, got, c.allowed)
		}
		if !c.allowed {
			v.await(t, "publish", subject)
		}
	}
}

// Only the search service serves search queries: another role listening on
// the subject would read every caller's subjects and could answer for the
// index. The gateway and the operator may ask; the search role may touch no
// stream beyond its consumers.
func TestOnlySearchServesQueries(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	subject := s.names.SearchQueries()
	for _, r := range []streams.Role{streams.RoleGateway, streams.RoleThings, streams.RoleOperator} {
		nc, v := s.as(t, r)
		if _, err := nc.SubscribeSync(subject); err != nil {
			t.Fatal(err)
		}
		v.await(t, "subscription", subject)
	}
	search, _ := s.as(t, streams.RoleSearch)
	sub, err := search.SubscribeSync(subject)
	if err != nil {
		t.Fatal(err)
	}
	if err := search.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []streams.Role{streams.RoleGateway, streams.RoleOperator} {
		nc, _ := s.as(t, r)
		if err := nc.Publish(subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		if !received(t, sub) {
			t.Errorf("a search request of %s did not reach the search service", r)
		}
	}
	things, v := s.as(t, streams.RoleThings)
	if err := things.Publish(subject, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	v.await(t, "publish", subject)
	if received(t, sub) {
		t.Error("the things service sent a search request")
	}
	nc, v := s.as(t, streams.RoleSearch)
	purge := "$JS.API.STREAM.PURGE." + s.names.ThingEventsStream()
	if err := nc.Publish(purge, nil); err != nil {
		t.Fatal(err)
	}
	v.await(t, "publish", purge)
}

// Only gateways serve the streaming subscriptions over NATS; the
// operator sends to them, a gateway forwards to the instance that holds a
// subscription, and no entity or search service may do either.
func TestOnlyGatewaysServeStreamingOverNATS(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	group, instance := s.names.GatewayStreaming(), s.names.GatewayStreamingInstance("gw-1")
	for _, r := range []streams.Role{streams.RoleThings, streams.RolePolicies, streams.RoleSearch, streams.RoleOperator} {
		nc, v := s.as(t, r)
		for _, subject := range []string{group, instance} {
			if _, err := nc.SubscribeSync(subject); err != nil {
				t.Fatal(err)
			}
			v.await(t, "subscription", subject)
		}
	}
	gw, _ := s.as(t, streams.RoleGateway)
	groupSub, err := gw.QueueSubscribeSync(group, streams.ServiceGateway)
	if err != nil {
		t.Fatal(err)
	}
	instanceSub, err := gw.SubscribeSync(instance)
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Flush(); err != nil {
		t.Fatal(err)
	}
	op, _ := s.as(t, streams.RoleOperator)
	if err := op.Publish(group, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if !received(t, groupSub) {
		t.Error("the operator's streaming message did not reach the gateway")
	}
	other, _ := s.as(t, streams.RoleGateway)
	if err := other.Publish(instance, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if !received(t, instanceSub) {
		t.Error("a gateway could not forward to another gateway instance")
	}
	for _, r := range []streams.Role{streams.RoleThings, streams.RoleSearch} {
		nc, v := s.as(t, r)
		if err := nc.Publish(group, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		v.await(t, "publish", group)
	}
	if received(t, groupSub) {
		t.Error("a service other than the operator sent a streaming message")
	}
}

// The authorization block is what nats-server parses, for every role.
func TestAuthorizationConfig(t *testing.T) {
	t.Parallel()
	n := streams.New("")
	conf, err := n.AuthorizationConfig([]streams.User{
		{Role: streams.RoleGateway, PasswordVariable: "GATEWAY_PASSWORD"},
		{Role: streams.RoleOperator, Password: `p"w`},
		{Role: streams.RoleThings, Nkey: "UABC"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`user: "gateway"`, `password: $GATEWAY_PASSWORD`, `password: "p\"w"`, `nkey: "UABC"`,
		`"ditto.things.sudo.*"`, `allow_responses: true`} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %s:\n%s", want, conf)
		}
	}
	if _, err := n.AuthorizationConfig([]streams.User{{Role: "root", Password: "x"}}); err == nil {
		t.Error("a user of an unknown role was rendered")
	}
	if _, err := n.AuthorizationConfig([]streams.User{{Role: streams.RoleGateway}}); err == nil {
		t.Error("a user without credential was rendered")
	}
}

// Live messages: only the things service publishes them (after enforcing
// them; receivers trust their ditto-read-subjects), only the gateway
// receives them, and no stream keeps them.
func TestOnlyTheThingsServicePublishesLiveMessages(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	subject := s.names.LiveMessages("org.eclipse.ditto")
	gw, _ := s.as(t, streams.RoleGateway)
	sub, err := gw.SubscribeSync(s.names.LiveMessagesAll())
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []streams.Role{streams.RoleOperator, streams.RolePolicies, streams.RoleSearch, streams.RoleThings} {
		nc, v := s.as(t, r)
		if _, err := nc.SubscribeSync(s.names.LiveMessagesAll()); err != nil {
			t.Fatal(err)
		}
		v.await(t, "subscription", s.names.LiveMessagesAll())
	}
	for _, r := range []streams.Role{streams.RoleGateway, streams.RoleOperator, streams.RolePolicies, streams.RoleSearch} {
		nc, v := s.as(t, r)
		if err := nc.Publish(subject, []byte(`{"forged":true}`)); err != nil {
			t.Fatal(err)
		}
		v.await(t, "publish", subject)
		if received(t, sub) {
			t.Errorf("%s published a live message", r)
		}
	}
	things, _ := s.as(t, streams.RoleThings)
	if err := things.Publish(subject, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if !received(t, sub) {
		t.Error("the gateway did not receive the things service's live message")
	}
	// Core NATS only: no stream takes the subject.
	op, _ := s.as(t, streams.RoleOperator)
	ojs, err := jetstream.New(op)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if name, err := ojs.StreamNameBySubject(ctx, subject); !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Errorf("stream of live messages: %q, %v; want none", name, err)
	}
}

// A live message carries its sender's reply subject: the gateway session
// that takes it answers the sender directly through allow_responses, a
// bounded number of times; it cannot write into that inbox otherwise.
func TestLiveMessageAnswerReachesTheSender(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	ns := "org.eclipse.ditto"
	things, _ := s.as(t, streams.RoleThings)
	cmdSubject := s.names.ThingCommands(1)
	// The things service's side: pass the command on with its reply.
	if _, err := things.QueueSubscribe(cmdSubject, streams.ServiceThings, func(m *nats.Msg) {
		_ = things.PublishMsg(&nats.Msg{Subject: s.names.LiveMessages(ns), Reply: m.Reply, Data: m.Data})
	}); err != nil {
		t.Fatal(err)
	}
	if err := things.Flush(); err != nil {
		t.Fatal(err)
	}
	device, v := s.as(t, streams.RoleGateway)
	live, err := device.SubscribeSync(s.names.LiveMessagesAll())
	if err != nil {
		t.Fatal(err)
	}
	if err := device.Flush(); err != nil {
		t.Fatal(err)
	}
	sender, _ := s.as(t, streams.RoleGateway)
	inbox := sender.NewInbox()
	answers, err := sender.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := sender.PublishRequest(cmdSubject, inbox, []byte(`ask`)); err != nil {
		t.Fatal(err)
	}
	m, err := live.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatalf("the device's gateway got no live message: %v", err)
	}
	if m.Reply != inbox {
		t.Fatalf("live message reply subject %q, want the sender's inbox %q", m.Reply, inbox)
	}
	// The answers are bounded (a streaming request over NATS is answered
	// by at most MaxStreamingDemand events and an end): all of them reach
	// the sender, and beyond them the gateway cannot write into that
	// inbox.
	for i := range streams.MaxStreamingDemand + 2 {
		if err := m.Respond([]byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	v.await(t, "publish", m.Reply)
	for i := range streams.MaxStreamingDemand + 1 {
		got, err := answers.NextMsg(5 * time.Second)
		if err != nil {
			t.Fatalf("answer %d: %v", i, err)
		}
		if string(got.Data) != strconv.Itoa(i) {
			t.Fatalf("answer %d is %q", i, got.Data)
		}
	}
	if extra, err := answers.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("an answer beyond the bound reached the sender: %q", extra.Data)
	}
}

// Every service serves its own DevOps subjects, group and instance, and
// no other service's; the gateway and the operator send DevOps commands to
// all of them.
func TestDevOpsSubjectsByRole(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	services := map[streams.Role]string{streams.RoleThings: streams.ServiceThings, streams.RolePolicies: streams.ServicePolicies,
		streams.RoleGateway: streams.ServiceGateway, streams.RoleSearch: streams.DevOpsName(streams.ServiceSearch)}
	for role, svc := range services {
		nc, _ := s.as(t, role)
		var subs []*nats.Subscription
		for _, subject := range []string{s.names.DevOps(svc), s.names.DevOpsInstance(svc, "i-1"), s.names.DevOpsAny(svc)} {
			sub, err := nc.SubscribeSync(subject)
			if err != nil {
				t.Fatal(err)
			}
			subs = append(subs, sub)
		}
		if err := nc.Flush(); err != nil {
			t.Fatal(err)
		}
		for _, sender := range []streams.Role{streams.RoleGateway, streams.RoleOperator} {
			snc, _ := s.as(t, sender)
			for _, sub := range subs {
				if err := snc.Publish(sub.Subject, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
				if !received(t, sub) {
					t.Errorf("%s's DevOps command on %s did not reach %s", sender, sub.Subject, role)
				}
			}
		}
	}
	// Each registers with service discovery under its own name, and only
	// the operator (the nats CLI) and the gateway ask.
	for role, svc := range services {
		nc, _ := s.as(t, role)
		for _, subject := range s.names.Discovery(svc) {
			sub, err := nc.SubscribeSync(subject)
			if err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
			op, _ := s.as(t, streams.RoleOperator)
			if err := op.Publish(subject, nil); err != nil {
				t.Fatal(err)
			}
			if !received(t, sub) {
				t.Errorf("the operator's %s did not reach %s", subject, role)
			}
			_ = sub.Unsubscribe()
		}
	}
	gw, gv := s.as(t, streams.RoleGateway)
	if err := gw.Publish("$SRV.PING."+s.names.MicroName(streams.ServiceThings), nil); err != nil {
		t.Fatal(err)
	}
	if err := gw.Publish("$SRV.STATS", nil); err != nil {
		t.Fatal(err)
	}
	gv.await(t, "publish", "$SRV.STATS")
	things, v := s.as(t, streams.RoleThings)
	if _, err := things.SubscribeSync("$SRV.PING." + s.names.MicroName(streams.ServicePolicies)); err != nil {
		t.Fatal(err)
	}
	v.await(t, "subscription", "$SRV.PING."+s.names.MicroName(streams.ServicePolicies))
	other := s.names.DevOps(streams.ServicePolicies)
	if _, err := things.SubscribeSync(other); err != nil {
		t.Fatal(err)
	}
	v.await(t, "subscription", other)
	if err := things.Publish(other, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	v.await(t, "publish", other)
}

// Policy announcements name the subjects they are for; the gateways
// deliver them to those subjects' sessions only. So only the policies
// service may publish them (a forged one would reach any subject's
// sessions) and only the gateways may read them; the acknowledgements of
// announcements reach only the policies service.
func TestPolicyAnnouncementsByRole(t *testing.T) {
	t.Parallel()
	s := newSecured(t)
	subject := s.names.PolicyAnnouncements("org.eclipse.ditto")
	gw, _ := s.as(t, streams.RoleGateway)
	watch, err := gw.SubscribeSync(s.names.PolicyAnnouncementsAll())
	if err != nil {
		t.Fatal(err)
	}
	if err := gw.Flush(); err != nil {
		t.Fatal(err)
	}
	for _, r := range []streams.Role{streams.RoleGateway, streams.RoleThings, streams.RoleOperator, streams.RoleSearch} {
		nc, v := s.as(t, r)
		if err := nc.Publish(subject, []byte(`{"forged":true}`)); err != nil {
			t.Fatal(err)
		}
		v.await(t, "publish", subject)
		if received(t, watch) {
			t.Errorf("%s published a policy announcement", r)
		}
	}
	policies, _ := s.as(t, streams.RolePolicies)
	if err := policies.Publish(subject, []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if !received(t, watch) {
		t.Error("the policies service cannot publish announcements")
	}
	for _, r := range []streams.Role{streams.RoleThings, streams.RoleSearch, streams.RoleOperator} {
		nc, v := s.as(t, r)
		if _, err := nc.SubscribeSync(s.names.PolicyAnnouncementsAll()); err != nil {
			t.Fatal(err)
		}
		v.await(t, "subscription", s.names.PolicyAnnouncementsAll())
	}
	acks := s.names.AcksOf(streams.PolicyAcksToken)
	packs, err := policies.SubscribeSync(acks)
	if err != nil {
		t.Fatal(err)
	}
	if err := policies.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := gw.Publish(s.names.Acks(streams.PolicyAcksToken, "x1"), []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	if !received(t, packs) {
		t.Error("a gateway cannot acknowledge an announcement to the policies service")
	}
	things, v := s.as(t, streams.RoleThings)
	if _, err := things.SubscribeSync(acks); err != nil {
		t.Fatal(err)
	}
	v.await(t, "subscription", acks)
}
