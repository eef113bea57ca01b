package things_test

import (
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

// Live commands and live events as the gateway sends them: on the thing's
// command subject. Commands are passed on to <p>.things.live.commands.<ns>
// with the sender's reply subject and answered by nobody here; events are
// passed on to <p>.things.live.events.<ns> and answered 204. Refusals are
// answered with the twin's errors (events: things:event.notallowed).

// liveSignal is a live command or event as the gateway sends it.
type liveSignal struct {
	criterion, action, id, path string
	value                       string // JSON; none when empty
	auth                        []string
	fields                      string
}

func liveCmd(auth []string, action, id, path string) liveSignal {
	return liveSignal{criterion: protocol.CriterionCommands, action: action, id: id, path: path, auth: auth}
}

func liveEv(auth []string, action, id, path string) liveSignal {
	return liveSignal{criterion: protocol.CriterionEvents, action: action, id: id, path: path, auth: auth}
}

func (s liveSignal) with(v string) liveSignal { s.value = v; return s }

// twin is the same command on the twin channel, to compare refusals with.
func (s liveSignal) twin() command {
	return command{id: s.id, action: s.action, path: s.path, value: s.value, auth: s.auth}
}

// liveSignals is a running platform with a gateway's view of the live
// channel: a subscription to every live signal and an inbox for answers,
// one reply subject per request (see liveFixture).
type liveSignals struct {
	*fixture
	live    *nats.Subscription
	inbox   string
	answers *nats.Subscription
	reply   string // of the last request
}

func newLiveSignals(t *testing.T) *liveSignals {
	t.Helper()
	f := newFixture(t)
	f.startBoth(t)
	ls := &liveSignals{fixture: f, inbox: f.gw.NewInbox()}
	var err error
	if ls.live, err = f.gw.SubscribeSync(f.names.LiveAll()); err != nil {
		t.Fatal(err)
	}
	if ls.answers, err = f.gw.SubscribeSync(ls.inbox + ".*"); err != nil {
		t.Fatal(err)
	}
	if err := f.gw.Flush(); err != nil {
		t.Fatal(err)
	}
	// The lamp of ditto, with a device that reads the thing, a partial
	// reader that may not read one attribute, and a writer of the
	// attributes that may not read them.
	ls.expect(t, thing(ditto, modify, lamp).with(`{"attributes":{"x":1,"secret":"s"},"features":{"lamp":{"properties":{"on":false}}}}`), 201, "")
	ls.expect(t, policy(ditto, modify, lamp+"/entries/DEVICE").with(`{"subjects":{"nginx:device":{"type":"device"}},"resources":{
		"thing:/":{"grant":["READ"],"revoke":[]}}}`), 201, "")
	ls.expect(t, policy(ditto, modify, lamp+"/entries/PARTIAL").with(`{"subjects":{"nginx:partial":{"type":"app"}},"resources":{
		"thing:/":{"grant":["READ"],"revoke":[]},"thing:/attributes/secret":{"grant":[],"revoke":["READ"]}}}`), 201, "")
	ls.expect(t, policy(ditto, modify, lamp+"/entries/WRITER").with(`{"subjects":{"nginx:writer":{"type":"app"}},"resources":{
		"thing:/attributes":{"grant":["WRITE"],"revoke":[]}}}`), 201, "")
	return ls
}

// post sends s with a reply subject of its own; it returns the
// correlation id.
func (ls *liveSignals) post(t *testing.T, s liveSignal) string {
	t.Helper()
	cid := fmt.Sprintf("live-%d", ls.seq.Add(1))
	h := protocol.Headers{protocol.HeaderCorrelationID: cid, protocol.HeaderTimeout: "10s"}
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(s.id, protocol.GroupThings, protocol.ChannelLive, s.criterion, s.action).String(),
		Headers: h, Path: s.path, Fields: s.fields,
	}
	if s.value != "" {
		env.Value = json.RawMessage(s.value)
	}
	data, err := env.Encode()
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(ls.names.Commands(streams.ServiceThings, streams.KindCommands, streams.Shard(s.id, testShards)))
	msg.Data = data
	a, _ := json.Marshal(s.auth)
	msg.Header.Set(streams.HeaderAuth, string(a))
	msg.Header.Set(streams.HeaderEntity, streams.EncodeEntityHeader(s.id))
	ls.reply = ls.inbox + "." + cid
	msg.Reply = ls.reply
	if err := ls.gw.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	return cid
}

// passedOn sends s and returns the live signal it became, checking its
// correlation id.
func (ls *liveSignals) passedOn(t *testing.T, s liveSignal) (*nats.Msg, protocol.Envelope) {
	t.Helper()
	cid := ls.post(t, s)
	got, err := ls.live.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("live %s %s %s%s as %v was not passed on: %v", s.criterion, s.action, s.id, s.path, s.auth, err)
	}
	env, err := protocol.DecodeEnvelope(got.Data)
	if err != nil {
		t.Fatalf("passed-on signal %q: %v", got.Data, err)
	}
	if env.Headers[protocol.HeaderCorrelationID] != cid {
		t.Fatalf("passed-on signal %s, want correlation-id %s", got.Data, cid)
	}
	return got, env
}

// answer returns the service's answer to the last request.
func (ls *liveSignals) answer(t *testing.T) protocol.Envelope {
	t.Helper()
	ans, err := ls.answers.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	if ans.Subject != ls.reply {
		t.Fatalf("answer on %s, want the request's reply subject %s", ans.Subject, ls.reply)
	}
	env, err := protocol.DecodeEnvelopeTrusted(ans.Data)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

// noAnswer checks that the service answered nothing.
func (ls *liveSignals) noAnswer(t *testing.T) {
	t.Helper()
	if m, err := ls.answers.NextMsg(200 * time.Millisecond); err == nil {
		t.Fatalf("the service answered a passed-on live command: %s", m.Data)
	}
}

// refused sends s, checks the error answer and that nothing was passed
// on, and returns the error.
func (ls *liveSignals) refused(t *testing.T, s liveSignal, status int, code string) *protocol.Error {
	t.Helper()
	cid := ls.post(t, s)
	env := ls.answer(t)
	perr, ok := env.AsError()
	if !ok || perr.Status != status || perr.Code != code {
		t.Fatalf("live %s %s %s%s as %v: answer %+v %s, want %d %s", s.criterion, s.action, s.id, s.path, s.auth, env, env.Value, status, code)
	}
	if env.Headers[protocol.HeaderCorrelationID] != cid {
		t.Errorf("error answer has correlation-id %q, want %q", env.Headers[protocol.HeaderCorrelationID], cid)
	}
	// A signal the owner may send is the next one passed on: the refused
	// one was not.
	_, got := ls.passedOn(t, liveCmd(ditto, retrieve, lamp, "/attributes/x"))
	if got.Path != "/attributes/x" {
		t.Fatalf("a refused signal was passed on: %+v", got)
	}
	return perr
}

// refusedAsTwin checks that the live command s is refused exactly as its
// twin command is.
func (ls *liveSignals) refusedAsTwin(t *testing.T, s liveSignal) {
	t.Helper()
	tw := ls.send(t, s.twin())
	if tw.err == nil {
		t.Fatalf("twin %s %s%s as %v was not refused: %s", s.action, s.id, s.path, s.auth, tw)
	}
	perr := ls.refused(t, s, tw.err.Status, tw.err.Code)
	if perr.Message != tw.err.Message {
		t.Errorf("live refusal %q, twin's %q", perr.Message, tw.err.Message)
	}
}

// twinState returns the lamp's twin as ditto reads it, revision included.
func (ls *liveSignals) twinState(t *testing.T) string {
	t.Helper()
	r := ls.expect(t, thing(ditto, retrieve, lamp).selecting("attributes,features,_revision"), 200, "")
	return string(r.env.Value)
}

// A live command is passed on with the sender's reply subject and the
// subjects that may read all of its path; the service does not answer it,
// the receiver's answer reaches the sender, and the twin does not change.
func TestLiveCommandPassedOn(t *testing.T) {
	t.Parallel()
	ls := newLiveSignals(t)
	before := ls.twinState(t)

	got, env := ls.passedOn(t, liveCmd(ditto, modify, lamp, "/attributes/x").with(`42`))
	if want := ls.names.LiveCommands("org.eclipse.ditto"); got.Subject != want {
		t.Errorf("passed on to %s, want %s", got.Subject, want)
	}
	if got.Reply != ls.reply {
		t.Errorf("passed on with reply subject %q, want the sender's %q", got.Reply, ls.reply)
	}
	if env.Topic != "org.eclipse.ditto/lamp/things/live/commands/modify" || env.Path != "/attributes/x" || string(env.Value) != `42` {
		t.Errorf("passed-on envelope %+v %s", env, env.Value)
	}
	// The partial reader may read all of /attributes/x; the writer reads
	// nothing.
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto","nginx:partial"]`)
	natsHeader(t, got, protocol.HeaderOriginator, "nginx:ditto")
	natsHeader(t, got, streams.HeaderEntity, lamp)
	natsHeader(t, got, "Ditto-Answer-Value", "")
	ls.noAnswer(t)
	// The receiver answers the sender directly.
	if err := got.Respond([]byte(`{"topic":"org.eclipse.ditto/lamp/things/live/commands/modify","headers":{},"path":"/attributes/x","status":204}`)); err != nil {
		t.Fatal(err)
	}
	if ans := ls.answer(t); ans.Status != 204 || ans.Topic != "org.eclipse.ditto/lamp/things/live/commands/modify" {
		t.Errorf("sender got %+v", ans)
	}

	// At /attributes the partial reader may not read everything: it does
	// not get the command.
	got, _ = ls.passedOn(t, liveCmd(ditto, merge, lamp, "/attributes").with(`{"secret":null}`))
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto"]`)
	got, _ = ls.passedOn(t, liveCmd(ditto, retrieve, lamp, "/"))
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto"]`)
	ls.passedOn(t, liveCmd(ditto, del, lamp, "/features/lamp"))
	ls.passedOn(t, liveCmd(ditto, create, lamp, "/").with(`{"attributes":{}}`))
	// A feature the twin does not have is the device's business.
	ls.passedOn(t, liveCmd(ditto, modify, lamp, "/features/fan/properties/speed").with(`3`))

	// The writer may send what it may not read; the device's answer then
	// reaches it without a value.
	got, _ = ls.passedOn(t, liveCmd([]string{"nginx:writer"}, modify, lamp, "/attributes/y").with(`1`))
	natsHeader(t, got, "Ditto-Answer-Value", "none")

	// Sender-named read subjects are not passed on.
	cid := fmt.Sprintf("live-%d", ls.seq.Add(1))
	data := []byte(`{"topic":"org.eclipse.ditto/lamp/things/live/commands/retrieve","headers":{"correlation-id":"` + cid +
		`","ditto-read-subjects":"[\"nginx:mallory\"]"},"path":"/"}`)
	msg := nats.NewMsg(ls.names.Commands(streams.ServiceThings, streams.KindCommands, streams.Shard(lamp, testShards)))
	msg.Data = data
	msg.Header.Set(streams.HeaderAuth, `["nginx:ditto"]`)
	msg.Header.Set(streams.HeaderEntity, lamp)
	if err := ls.gw.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	got, err := ls.live.NextMsg(10 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto"]`)
	if env, _ := protocol.DecodeEnvelope(got.Data); env.Headers[protocol.HeaderReadSubjects] != "" {
		t.Errorf("the sender's read subjects were passed on: %v", env.Headers)
	}

	if after := ls.twinState(t); after != before {
		t.Errorf("live commands changed the twin: %s, was %s", after, before)
	}
}

// A live command is refused as its twin command is; a live retrieve
// needs READ on all of what it retrieves.
func TestLiveCommandRefused(t *testing.T) {
	t.Parallel()
	ls := newLiveSignals(t)
	stranger := []string{"nginx:stranger"}

	// READ but not WRITE: the twin's 403; nothing at all: the twin's 404.
	ls.refusedAsTwin(t, liveCmd([]string{"nginx:device"}, modify, lamp, "/attributes/x").with(`1`))
	ls.refusedAsTwin(t, liveCmd([]string{"nginx:device"}, del, lamp, "/"))
	ls.refusedAsTwin(t, liveCmd([]string{"nginx:device"}, merge, lamp, "/features").with(`{"lamp":null}`))
	ls.refusedAsTwin(t, liveCmd(stranger, modify, lamp, "/attributes/x").with(`1`))
	ls.refusedAsTwin(t, liveCmd(stranger, retrieve, lamp, "/attributes"))
	ls.refusedAsTwin(t, liveCmd([]string{"nginx:writer"}, modify, lamp, "/features/lamp").with(`{}`))
	ls.refusedAsTwin(t, liveCmd(ditto, retrieve, "org.eclipse.ditto:unknown", "/"))
	ls.refusedAsTwin(t, liveCmd(ditto, modify, lamp, "/nope").with(`1`))
	ls.refusedAsTwin(t, liveCmd(ditto, modify, lamp, "/attributes/x"))
	ls.refusedAsTwin(t, liveCmd(ditto, modify, lamp, "/attributes").with(`1`))
	ls.refusedAsTwin(t, liveCmd(ditto, del, lamp, "/policyId"))

	// The partial reader may retrieve what it reads entirely, not more.
	perr := ls.refused(t, liveCmd([]string{"nginx:partial"}, retrieve, lamp, "/attributes"), 404, "things:attributes.notfound")
	if perr.Description == "" {
		t.Error("the refused partial retrieve does not say why")
	}
	ls.refused(t, liveCmd([]string{"nginx:partial"}, retrieve, lamp, "/"), 404, "things:thing.notfound")
	ls.refused(t, liveCmd([]string{"nginx:partial"}, retrieve, lamp, "/attributes/secret"), 404, "things:attribute.notfound")
	got, _ := ls.passedOn(t, liveCmd([]string{"nginx:partial"}, retrieve, lamp, "/attributes/x"))
	natsHeader(t, got, protocol.HeaderOriginator, "nginx:partial")
	// The writer reads nothing: its retrieve is refused as the twin's.
	ls.refusedAsTwin(t, liveCmd([]string{"nginx:writer"}, retrieve, lamp, "/attributes/x"))

	// Actions the live channel has no command for.
	ls.refused(t, liveCmd(ditto, "migrate", lamp, "/"), 400, "protocoladapter:unknown.topicpath")
	ls.refused(t, liveEv(ditto, "migrated", lamp, "/"), 400, "protocoladapter:unknown.topicpath")
}

// A live event needs unrestricted WRITE where it happened; it is passed
// on with the read subjects and partial access paths of what it carries,
// answered 204, and changes nothing.
func TestLiveEvent(t *testing.T) {
	t.Parallel()
	ls := newLiveSignals(t)
	before := ls.twinState(t)

	got, env := ls.passedOn(t, liveEv(ditto, protocol.ActionModified, lamp, "/attributes").with(`{"x":2,"secret":"t"}`))
	if want := ls.names.LiveEvents("org.eclipse.ditto"); got.Subject != want {
		t.Errorf("passed on to %s, want %s", got.Subject, want)
	}
	if got.Reply != "" {
		t.Errorf("live event passed on with reply subject %q", got.Reply)
	}
	if env.Topic != "org.eclipse.ditto/lamp/things/live/events/modified" || string(env.Value) != `{"x":2,"secret":"t"}` {
		t.Errorf("passed-on event %+v %s", env, env.Value)
	}
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto","nginx:partial"]`)
	natsHeader(t, got, protocol.HeaderPartialAccessPaths, `{"subjects":["nginx:partial"],"paths":{"attributes/x":[0]}}`)
	natsHeader(t, got, protocol.HeaderOriginator, "nginx:ditto")
	if ans := ls.answer(t); ans.Status != 204 {
		t.Errorf("live event answered %+v", ans)
	}

	// The writer may emit events below /attributes.
	got, _ = ls.passedOn(t, liveEv([]string{"nginx:writer"}, protocol.ActionDeleted, lamp, "/attributes/secret"))
	natsHeader(t, got, protocol.HeaderReadSubjects, `["nginx:device","nginx:ditto","nginx:partial"]`)
	natsHeader(t, got, protocol.HeaderPartialAccessPaths, `{"subjects":["nginx:partial"],"paths":{}}`)
	ls.answer(t)

	// Without WRITE: Ditto's event.notallowed, whether or not the thing
	// can be seen; no thing: not found.
	perr := ls.refused(t, liveEv([]string{"nginx:device"}, protocol.ActionModified, lamp, "/attributes/x").with(`1`), 403, "things:event.notallowed")
	if perr.Message != "You are not allowed to send events for the Thing with id 'org.eclipse.ditto:lamp'!" {
		t.Errorf("message %q", perr.Message)
	}
	ls.refused(t, liveEv([]string{"nginx:stranger"}, protocol.ActionCreated, lamp, "/attributes/x").with(`1`), 403, "things:event.notallowed")
	ls.refused(t, liveEv([]string{"nginx:writer"}, protocol.ActionMerged, lamp, "/").with(`{"attributes":{"x":1}}`), 403, "things:event.notallowed")
	ls.refused(t, liveEv(ditto, protocol.ActionModified, "org.eclipse.ditto:unknown", "/attributes/x").with(`1`), 404, "things:thing.notfound")
	ls.refused(t, liveEv(ditto, protocol.ActionModified, lamp, "/attributes/x"), 400, "json.field.missing")
	ls.refused(t, liveEv(ditto, protocol.ActionMerged, lamp, "/"), 400, "json.field.missing")
	ls.refused(t, liveEv(ditto, protocol.ActionMerged, lamp, "/").with(`1`), 400, "json.invalid")
	ls.refused(t, liveEv(ditto, protocol.ActionModified, lamp, "/features").with(`[]`), 400, "json.invalid")

	if after := ls.twinState(t); after != before {
		t.Errorf("live events changed the twin: %s, was %s", after, before)
	}
}
