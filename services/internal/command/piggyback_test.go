package command

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// received is a command as a stand-in service instance received it.
type received struct {
	subject string
	header  nats.Header
	env     protocol.Envelope
}

// fakeService answers every thing command with answer and records what it
// received.
type fakeService struct {
	mu  sync.Mutex
	got []received
}

func startFakeService(t *testing.T, srv *streamstest.Server, answer func(env protocol.Envelope) protocol.Envelope) *fakeService {
	t.Helper()
	f := &fakeService{}
	nc := srv.Connect(t)
	_, err := nc.Subscribe("ditto.*.*.*", func(m *nats.Msg) {
		env, err := protocol.DecodeEnvelope(m.Data)
		if err != nil {
			t.Errorf("undecodable command %s: %v", m.Data, err)
			return
		}
		f.mu.Lock()
		f.got = append(f.got, received{subject: m.Subject, header: m.Header, env: env})
		f.mu.Unlock()
		data, _ := answer(env).Encode()
		m.Respond(data)
	})
	if err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	return f
}

func (f *fakeService) received() []received {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]received(nil), f.got...)
}

// piggyback builds the piggyback command of cmd with the given headers.
func piggyback(t *testing.T, headers, cmd string) devops.Piggyback {
	t.Helper()
	p, perr := devops.ParsePiggyback([]byte(`{"targetActorSelection":"/system/sharding/thing","headers":` + headers +
		`,"piggybackCommand":` + cmd + `}`))
	if perr != nil {
		t.Fatal(perr)
	}
	return p
}

func withTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func jsonEqual(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("%s: %s: %v", what, got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: want %s: %v", what, want, err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if !bytes.Equal(gb, wb) {
		t.Errorf("%s:\n got %s\nwant %s", what, got, want)
	}
}

// A sudo piggyback command goes to the sudo subject of the entity's shard
// with Ditto-Sudo and the DevOps user as its subject; one without sudo to
// the commands subject as the subjects of its authorization context. The
// piggyback's own headers stay behind, the others travel, and the reply
// comes back as Ditto's internal response JSON.
func TestPiggybackHandlerSendsSudoAndEnforcedCommands(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	names := streams.New("")
	f := startFakeService(t, srv, func(env protocol.Envelope) protocol.Envelope {
		env.Status, env.Value = 200, json.RawMessage(`{"thingId":"org.eclipse.ditto:t1","attributes":{"a":1}}`)
		return env
	})
	var logs bytes.Buffer
	h := PiggybackHandler(New(srv.Connect(t), names, 7), protocol.GroupThings,
		slog.New(slog.NewJSONHandler(&logs, nil)))

	a, ok := h(withTimeout(t, 5*time.Second), piggyback(t,
		`{"aggregate":false,"is-group-topic":true,"ditto-sudo":true,"correlation-id":"cid-1","if-match":"\"rev:1\""}`,
		`{"type":"things.commands:retrieveThing","thingId":"org.eclipse.ditto:t1"}`))
	if !ok || a.Status != 200 {
		t.Fatalf("answer %d %s, %v", a.Status, a.Body, ok)
	}
	jsonEqual(t, "sudo retrieve", a.Body, `{"type":"things.responses:retrieveThing","status":200,"thingId":"org.eclipse.ditto:t1",`+
		`"thingPlainJson":"{\"thingId\":\"org.eclipse.ditto:t1\",\"attributes\":{\"a\":1}}"}`)

	a, ok = h(withTimeout(t, 5*time.Second), piggyback(t,
		`{"ditto-auth-context":{"type":"pre-authenticated-connection","subjects":["nginx:ditto","integration:x"]}}`,
		`{"type":"things.commands:modifyAttribute","thingId":"org.eclipse.ditto:t1","attribute":"a","value":2}`))
	if !ok || a.Status != 200 {
		t.Fatalf("answer %d %s, %v", a.Status, a.Body, ok)
	}

	got := f.received()
	if len(got) != 2 {
		t.Fatalf("service received %d commands, want 2", len(got))
	}
	shard := streams.Shard("org.eclipse.ditto:t1", 7)
	sudo, enforced := got[0], got[1]
	if want := names.Commands(streams.ServiceThings, streams.KindSudo, shard); sudo.subject != want {
		t.Errorf("sudo command on %s, want %s", sudo.subject, want)
	}
	if sudo.header.Get(streams.HeaderSudo) != "true" || sudo.header.Get(streams.HeaderAuth) != `["devops"]` {
		t.Errorf("sudo command headers %v", sudo.header)
	}
	if sudo.env.Topic != "org.eclipse.ditto/t1/things/twin/commands/retrieve" || sudo.env.Path != "/" {
		t.Errorf("sudo command %+v", sudo.env)
	}
	for _, name := range []string{"aggregate", "is-group-topic", "ditto-sudo"} {
		if _, has := sudo.env.Headers[name]; has {
			t.Errorf("header %s travelled with the command: %v", name, sudo.env.Headers)
		}
	}
	if sudo.env.Headers["correlation-id"] != "cid-1" || sudo.env.Headers["if-match"] != `"rev:1"` ||
		!strings.HasSuffix(sudo.env.Headers["timeout"], "ms") {
		t.Errorf("command headers %v", sudo.env.Headers)
	}
	if want := names.Commands(streams.ServiceThings, streams.KindCommands, shard); enforced.subject != want {
		t.Errorf("enforced command on %s, want %s", enforced.subject, want)
	}
	if enforced.header.Get(streams.HeaderSudo) != "" || enforced.header.Get(streams.HeaderAuth) != `["nginx:ditto","integration:x"]` {
		t.Errorf("enforced command headers %v", enforced.header)
	}
	if _, has := enforced.env.Headers["ditto-auth-context"]; has || enforced.env.Path != "/attributes/a" || string(enforced.env.Value) != "2" {
		t.Errorf("enforced command %+v", enforced.env)
	}
	for _, want := range []string{`"type":"things.commands:retrieveThing","entity_id":"org.eclipse.ditto:t1","sudo":true,"status":200`,
		`"type":"things.commands:modifyAttribute","entity_id":"org.eclipse.ditto:t1","sudo":false,"status":200`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %s:\n%s", want, logs.String())
		}
	}
}

// The handler takes only its group's commands; what it cannot read is
// answered with Ditto's error; a command nobody serves fails with the
// entity's unavailable error.
func TestPiggybackHandlerRefusals(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	h := PiggybackHandler(New(srv.Connect(t), streams.New(""), 7), protocol.GroupPolicies,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := withTimeout(t, 5*time.Second)
	for _, typ := range []string{"things.commands:retrieveThing", "policies.commands:frobnicate", "devops.commands:changeLogLevel"} {
		if _, ok := h(ctx, piggyback(t, `{}`, `{"type":"`+typ+`"}`)); ok {
			t.Errorf("%s: handled by the policies handler", typ)
		}
	}
	a, ok := h(ctx, piggyback(t, `{"ditto-sudo":true}`, `{"type":"policies.commands:retrievePolicy"}`))
	if !ok || a.Status != 400 {
		t.Fatalf("answer %d %s, %v", a.Status, a.Body, ok)
	}
	jsonEqual(t, "missing policyId", a.Body, `{"status":400,"error":"json.field.missing","message":"JSON did not include required </policyId> field!","description":"Check if all required JSON fields were set."}`)

	a, _ = h(ctx, piggyback(t, `{"ditto-auth-context":"nonsense"}`, `{"type":"policies.commands:retrievePolicy","policyId":"ns:p"}`))
	if a.Status != 400 || !strings.Contains(string(a.Body), `"header.invalid"`) {
		t.Errorf("invalid auth context: %d %s", a.Status, a.Body)
	}

	short := withTimeout(t, 300*time.Millisecond)
	a, _ = h(short, piggyback(t, `{"ditto-sudo":true}`, `{"type":"policies.commands:retrievePolicy","policyId":"ns:p"}`))
	if a.Status != 503 || !strings.Contains(string(a.Body), `"policies:policy.unavailable"`) {
		t.Errorf("nobody serving: %d %s", a.Status, a.Body)
	}
}

// retrieveThings retrieves each thing and answers those the subjects may
// see, in order.
func TestPiggybackHandlerRetrieveThings(t *testing.T) {
	t.Parallel()
	srv := streamstest.Start(t)
	f := startFakeService(t, srv, func(env protocol.Envelope) protocol.Envelope {
		topic, _ := protocol.ParseTopic(env.Topic)
		if topic.EntityName == "hidden" {
			return protocol.ErrorEnvelope(topic, env.Headers, env.Path, protocol.ErrThingNotAccessible(topic.EntityID()))
		}
		env.Status, env.Value = 200, json.RawMessage(`{"thingId":"`+topic.EntityID()+`"}`)
		return env
	})
	h := PiggybackHandler(New(srv.Connect(t), streams.New(""), 7), protocol.GroupThings,
		slog.New(slog.NewTextHandler(io.Discard, nil)))
	a, ok := h(withTimeout(t, 5*time.Second), piggyback(t, `{"ditto-sudo":true}`,
		`{"type":"things.commands:retrieveThings","thingIds":["ns:b","ns:hidden","ns:a"],"selectedFields":"thingId"}`))
	if !ok || a.Status != 200 {
		t.Fatalf("answer %d %s, %v", a.Status, a.Body, ok)
	}
	jsonEqual(t, "retrieveThings", a.Body, `{"type":"things.responses:retrieveThings","status":200,"thingsPlainJson":"[{\"thingId\":\"ns:b\"},{\"thingId\":\"ns:a\"}]"}`)
	for _, r := range f.received() {
		if r.env.Fields != "thingId" || r.header.Get(streams.HeaderSudo) != "true" {
			t.Errorf("retrieve %+v %v", r.env, r.header)
		}
	}
	if n := len(f.received()); n != 3 {
		t.Errorf("%d retrieves, want 3", n)
	}
}
