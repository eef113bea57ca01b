package gateway

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/streams"
)

// Change notifications reach WebSocket sessions through one plain NATS
// subscription per gateway on the thing events (no JetStream consumer: a
// session sees what happens while it is connected, as in Ditto). The hub's
// NATS callback does only what is cheap and the same for every session:
// it decodes the event once, reads its read subjects once, and offers it
// to each session that started events, whose namespaces it is in and whose
// subjects may read it. Each session then cuts the event down to what its
// subjects may read (ditto-partial-access-paths), enriches it with
// extraFields, applies its filter and queues it, on its own goroutine, so
// that a slow session or a slow enrichment holds up nobody else.

// hubEvent is one event (or live signal) as the hub hands it to
// sessions.
type hubEvent struct {
	env    protocol.Envelope
	topic  protocol.Topic
	access *protocol.EventAccess
	// stream is the kind of signal: streamEvents (twin events),
	// streamMessages, streamLiveCommands or streamLiveEvents.
	stream streamingType
	// message marks a live message; reply is where the answer to a live
	// message or command goes (the sender's NATS reply subject), "" when
	// none is wanted.
	message bool
	reply   string
	// answerWithoutValue marks a live command whose sender may not read
	// all of what it addresses: the value of the answer is dropped (see
	// livecmd.go).
	answerWithoutValue bool
	// acks is what the event asks of the subscribers that declared
	// acknowledgement labels (wsacks.go); nil for nothing.
	acks *ackRequest

	// whole is what every receiver that may read all of the event and
	// asks for no enrichment gets, made once for all of them: fifty
	// sessions following the same events encode each one once.
	wholeOnce sync.Once
	whole     wholeEvent
}

// wholeEvent is the event as a receiver that may read all of it gets it.
type wholeEvent struct {
	env   protocol.Envelope
	thing jsonv.Value // what a filter is evaluated on
	frame []byte      // the WebSocket message
}

// wholeView returns ev's view for receivers that may read all of it.
func (ev *hubEvent) wholeView() *wholeEvent {
	ev.wholeOnce.Do(func() {
		w := &ev.whole
		w.env = ev.clientEnvelope(ev.env.Value)
		w.thing = eventThing(ev.topic, w.env, jsonv.Value{})
		w.frame, _ = w.env.AppendJSON(nil) // an error leaves no frame: encoded per session then
	})
	return &ev.whole
}

// clientEnvelope is the event as a client gets it, with value (the event's
// own or what of it the client may read). A live command that waits for
// an answer says so with response-required, as Ditto's does: the device
// is to answer it.
func (ev *hubEvent) clientEnvelope(value json.RawMessage) protocol.Envelope {
	headers := clientHeaders(ev.env.Headers)
	if ev.stream == streamLiveCommands && ev.reply != "" {
		headers[protocol.HeaderResponseRequired] = "true"
	}
	return protocol.Envelope{
		Topic:     ev.env.Topic,
		Headers:   headers,
		Path:      ev.env.Path,
		Value:     value,
		Revision:  ev.env.Revision,
		Timestamp: ev.env.Timestamp,
	}
}

// sameBytes reports whether a and b are the same memory.
func sameBytes(a, b []byte) bool {
	return len(a) == len(b) && (len(a) == 0 || &a[0] == &b[0])
}

// eventSink is a receiver of the hub's events: a WebSocket session or an
// SSE stream.
type eventSink interface {
	// subjects are the authenticated subjects the events are for.
	subjects() []string
	// origin is the ditto-origin of the sink's own commands, whose events
	// it does not get; "" for none.
	origin() string
	// take hands ev over without blocking; a sink that has no room drops
	// it and counts it. ev is shared by every sink and must not change.
	take(ev *hubEvent)
}

// eventHub fans thing events out to the sinks that want them.
type eventHub struct {
	nc      *nats.Conn
	subject string
	live    bool // the hub carries live signals, not twin events
	// announcements: the hub carries policy announcements.
	announcements bool
	log           *slog.Logger

	mu    sync.RWMutex
	sinks map[eventSink]struct{}
	sub   *nats.Subscription
}

func newEventHub(nc *nats.Conn, names streams.Names, log *slog.Logger) *eventHub {
	return &eventHub{nc: nc, subject: names.ThingStoredEventsAll(), log: log, sinks: map[eventSink]struct{}{}}
}

// newLiveHub returns the hub of the live signals the things service
// passes on to the devices' sessions: live messages, live commands and
// live events, on one subscription. A sink gets the kinds it started (SSE
// message streams only messages, see sse.go; a session the streams it
// started, see take).
func newLiveHub(nc *nats.Conn, names streams.Names, log *slog.Logger) *eventHub {
	return &eventHub{nc: nc, subject: names.LiveAll(), live: true, log: log, sinks: map[eventSink]struct{}{}}
}

// newAnnouncementHub returns the hub of the policy announcements the
// policies service publishes (policies/announcements/subjectDeletion),
// for the sessions that started policy announcements: each goes to the
// sessions authenticated as one of the subjects it is about (NATS header
// ditto-read-subjects, which only the policies service sets).
func newAnnouncementHub(nc *nats.Conn, names streams.Names, log *slog.Logger) *eventHub {
	return &eventHub{nc: nc, subject: names.PolicyAnnouncementsAll(), announcements: true, log: log, sinks: map[eventSink]struct{}{}}
}

// join adds s; the first sink subscribes the gateway to the events.
func (h *eventHub) join(s eventSink) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sub == nil {
		sub, err := h.nc.Subscribe(h.subject, h.deliver)
		if err != nil {
			return err
		}
		// Events are never held up by NATS's default slow-consumer
		// limits: the callback only hands them on.
		_ = sub.SetPendingLimits(-1, 256<<20)
		// The server has the subscription before the first sink is told
		// it is subscribed: what is published after that reaches it.
		if err := h.nc.Flush(); err != nil {
			_ = sub.Unsubscribe()
			return err
		}
		h.sub = sub
	}
	h.sinks[s] = struct{}{}
	return nil
}

// leave removes s.
func (h *eventHub) leave(s eventSink) {
	h.mu.Lock()
	delete(h.sinks, s)
	h.mu.Unlock()
}

// deliver is the NATS callback of the events subscription.
func (h *eventHub) deliver(m *nats.Msg) {
	env, err := protocol.DecodeEnvelopeTrusted(m.Data)
	if err != nil {
		h.log.Warn("undecodable event", "subject", m.Subject, "err", err)
		return
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		h.log.Warn("event with bad topic", "topic", env.Topic, "err", err)
		return
	}
	readers, partial := env.Headers[protocol.HeaderReadSubjects], env.Headers[protocol.HeaderPartialAccessPaths]
	stream := streamEvents
	if h.announcements {
		readers, partial, stream = m.Header.Get(protocol.HeaderReadSubjects), "", streamPolicyAnnouncements
	}
	if h.live {
		// Live signals carry who may read them in NATS headers, which
		// only the things service sets; the envelope is the sender's.
		readers, partial = m.Header.Get(protocol.HeaderReadSubjects), m.Header.Get(protocol.HeaderPartialAccessPaths)
		if stream = liveStream(topic); stream == 0 {
			h.log.Warn("live signal of unknown kind", "topic", env.Topic)
			return
		}
		if stream != streamLiveEvents {
			partial = "" // a message or command is read whole or not at all
		}
	}
	access, err := protocol.ParseEventAccess(readers, partial)
	if err != nil {
		h.log.Warn("event with bad access headers", "topic", env.Topic, "err", err)
		return
	}
	ev := &hubEvent{env: env, topic: topic, access: access, stream: stream, message: stream == streamMessages,
		acks: eventAckRequest(env.Headers)}
	if stream == streamMessages || stream == streamLiveCommands {
		ev.reply = m.Reply
		ev.answerWithoutValue = m.Header.Get(headerAnswerValue) == answerWithoutValue
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	origin := env.Headers[protocol.HeaderOrigin]
	for s := range h.sinks {
		if (origin != "" && origin == s.origin()) || !access.Readable(s.subjects()) {
			// Its own change, or not for its subjects: a subscriber that
			// declared a label the event requests acknowledges it weakly.
			if ws, ok := s.(*wsSession); ok && ev.acks != nil && !h.announcements {
				ws.weakAcks(ev)
			}
			continue
		}
		s.take(ev)
	}
}

func (s *wsSession) subjects() []string { return s.caller.subjects }
func (s *wsSession) origin() string     { return s.id }

func (s *wsSession) take(ev *hubEvent) {
	if ev.stream != streamEvents && s.subscription(ev.stream) == nil {
		// The live hub offers every live signal to a session that
		// started any kind of them; not queued, so that the signals it
		// did not ask for take no room from those it did.
		if ev.acks != nil {
			s.weakAcks(ev) // as eventLoop does for a stream not started
		}
		return
	}
	select {
	case s.events <- ev:
	default:
		s.dropped.Add(1)
	}
}

// control acts on a control message and acknowledges it.
func (s *wsSession) control(ctl control) {
	s.mu.Lock()
	if ctl.start {
		c := ctl
		s.subs[ctl.typ] = &c
	} else {
		delete(s.subs, ctl.typ)
	}
	s.mu.Unlock()
	var hub *eventHub
	switch ctl.typ {
	case streamEvents:
		hub = s.g.hub
	case streamMessages, streamLiveCommands, streamLiveEvents:
		hub = s.g.msgHub
	case streamPolicyAnnouncements:
		hub = s.g.annHub
	}
	if hub != nil {
		if ctl.start {
			s.startEventLoop()
			if err := hub.join(s); err != nil {
				s.log.Warn("subscribe", "stream", ctl.typ.String(), "err", err)
				s.reply(protocol.ErrorEnvelope(protocol.FallbackErrorTopic(), nil, "/", protocol.ErrGatewayServiceUnavailable()))
				return
			}
		} else if (hub != s.g.hub || len(s.declared) == 0) && (hub != s.g.msgHub || !s.takesLive()) {
			// A session that declared labels stays with the events, to
			// acknowledge weakly what requests its labels.
			hub.leave(s)
		}
	}
	s.send([]byte(ctl.ack()))
}

// startEventLoop starts the session's event goroutine, once.
func (s *wsSession) startEventLoop() {
	s.eventsOnce.Do(func() {
		s.events = make(chan *hubEvent, s.g.cfg.WSOutgoingBuffer)
		s.wg.Go(func() { s.eventLoop(s.ctx) })
	})
}

// takesLive reports whether the session has started any of the streams
// the live hub carries.
func (s *wsSession) takesLive() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[streamMessages] != nil || s.subs[streamLiveCommands] != nil || s.subs[streamLiveEvents] != nil
}

// subscription returns the parameters of the started stream typ, or nil.
func (s *wsSession) subscription(typ streamingType) *control {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.subs[typ]
}

// eventLoop prepares the events the hub offers and queues those the
// session gets.
func (s *wsSession) eventLoop(ctx context.Context) {
	// The session leaves the live hub when it ends (run leaves the
	// events hub): started once, the loop runs until then.
	defer s.g.msgHub.leave(s)
	defer s.g.annHub.leave(s)
	for {
		select {
		case <-s.done:
			return
		case ev := <-s.events:
			sub := s.subscription(ev.stream)
			if sub == nil {
				s.weakAcks(ev) // not subscribed (any more)
				continue
			}
			frame, ok := s.prepareEvent(ctx, sub, ev)
			if !ok {
				s.weakAcks(ev) // filtered out
				continue
			}
			if ev.reply != "" {
				s.expectAnswer(ev) // wslive.go: a live message or command to answer
			}
			s.expectAcks(ev)
			if !s.offer(frame) {
				s.dropped.Add(1)
			}
		}
	}
}

// streamParams are what a receiver of events asked for: namespaces (nil
// for all), an RQL filter and extraFields.
type streamParams struct {
	namespaces  []string
	filter      rql.Node
	extraFields string
}

// eventView is what one receiver gets of an event: the envelope cut down
// to what its subjects may read, with the headers clients see and the
// enriched fields in Extra; or, when enrichment failed, the error it gets
// in the event's place.
type eventView struct {
	env   protocol.Envelope
	extra jsonv.Value
	err   *protocol.Error
	// shared is set when the view is the event's whole view, which other
	// receivers share: env and its headers must not be changed.
	shared *wholeEvent
}

// viewEvent returns what a receiver of caller's subjects gets of ev under
// p, or false when it gets nothing.
//
// Unlike Ditto, which evaluates the filter on the event before cutting it
// down to what the receiver may read, the filter sees only what the
// receiver gets: a filter must not tell about values it may not read.
func (g *Gateway) viewEvent(ctx context.Context, caller *principal, p streamParams, ev *hubEvent) (eventView, bool) {
	if len(p.namespaces) > 0 && !slices.Contains(p.namespaces, ev.topic.Namespace) {
		return eventView{}, false
	}
	value, ok := ev.access.For(caller.subjects, ev.env.Path, ev.env.Value)
	if !ok {
		return eventView{}, false
	}
	if p.extraFields == "" && sameBytes(value, ev.env.Value) {
		// All of it, nothing to add: the view every such receiver shares.
		w := ev.wholeView()
		if p.filter != nil && !rql.MatchesAt(p.filter, w.thing, time.Now()) {
			return eventView{}, false
		}
		return eventView{env: w.env, shared: w}, true
	}
	v := eventView{env: ev.clientEnvelope(value)}
	if p.extraFields != "" && !(ev.topic.Action == protocol.ActionDeleted && ev.env.Path == "/") {
		// A deleted thing has nothing left to enrich with.
		if v.extra, v.err = g.enrich(ctx, caller, p.extraFields, ev); v.err != nil {
			return v, true // Ditto sends the error in the event's place
		}
		if v.extra.Kind() == jsonv.KindObject && v.extra.Len() > 0 {
			v.env.Extra = json.RawMessage(v.extra.String())
		}
	}
	if p.filter != nil {
		thing := eventThing(ev.topic, v.env, v.extra)
		if !rql.MatchesAt(p.filter, thing, time.Now()) {
			return eventView{}, false
		}
	}
	return v, true
}

// prepareEvent returns the frame of ev for this session, or false when the
// session does not get it.
func (s *wsSession) prepareEvent(ctx context.Context, sub *control, ev *hubEvent) ([]byte, bool) {
	if ev.stream == streamPolicyAnnouncements {
		// Announcements are for the subjects they name, whole; of the
		// parameters only namespaces applies (Ditto ignores the filter).
		if len(sub.namespaces) > 0 && !slices.Contains(sub.namespaces, ev.topic.Namespace) {
			return nil, false
		}
		env := ev.env
		env.Headers = clientHeaders(env.Headers)
		return s.encode(env)
	}
	v, ok := s.g.viewEvent(ctx, s.caller, streamParams{namespaces: sub.namespaces, filter: sub.filterNode, extraFields: sub.extraFields}, ev)
	if !ok {
		return nil, false
	}
	if v.err != nil {
		return s.encode(protocol.ErrorEnvelope(ev.topic, v.env.Headers, "/", v.err))
	}
	if v.shared != nil && v.shared.frame != nil {
		return v.shared.frame, true
	}
	return s.encode(v.env)
}

// encode renders a message for the client.
func (s *wsSession) encode(env protocol.Envelope) ([]byte, bool) {
	frame, err := env.AppendJSON(nil)
	if err != nil {
		s.log.Warn("message not encodable", "topic", env.Topic, "err", err)
		return nil, false
	}
	return frame, true
}

// clientHeaders are the headers of a signal the platform sends a client
// (an event, a response): those Ditto writes to external clients, with
// response-required false, since no signal sent to a client asks for an
// answer by that header.
func clientHeaders(h protocol.Headers) protocol.Headers {
	out := make(protocol.Headers, len(h)+1)
	for k, v := range h {
		if def, ok := protocol.LookupHeader(k); ok && !def.ToExternal {
			continue
		}
		out[k] = v
	}
	out[protocol.HeaderResponseRequired] = "false"
	return out
}

// enrich retrieves the fields of the event's thing that the selector
// names, with the caller's permissions, as Ditto's signal enrichment does.
// The error is what the session gets instead of the event: the thing's own
// (not found, for a session that may not read it) or Ditto's
// signal.enrichment.failed.
func (g *Gateway) enrich(ctx context.Context, caller *principal, selector string, ev *hubEvent) (jsonv.Value, *protocol.Error) {
	id := ev.topic.EntityID()
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(id, protocol.GroupThings, protocol.ChannelTwin, protocol.CriterionCommands, protocol.ActionRetrieve).String(),
		Headers: protocol.Headers{protocol.HeaderCorrelationID: ev.env.Headers[protocol.HeaderCorrelationID]},
		Path:    "/",
		Fields:  selector,
	}
	reply, err := g.request(ctx, command.Request{Group: protocol.GroupThings, EntityID: id, Auth: caller.auth,
		Envelope: env, Timeout: enrichTimeout})
	if err != nil {
		return jsonv.Value{}, errEnrichmentFailed()
	}
	if perr, isErr := reply.AsError(); isErr {
		return jsonv.Value{}, perr
	}
	v, err := jsonv.Parse(reply.Value)
	if err != nil || v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, errEnrichmentFailed()
	}
	return v, nil
}

// errEnrichmentFailed is Ditto's SignalEnrichmentFailedException.
func errEnrichmentFailed() *protocol.Error {
	return protocol.NewError(http.StatusInternalServerError, "signal.enrichment.failed",
		"Signal enrichment failed.", "The cause is unknown. Please try again later.")
}

// enrichTimeout bounds the retrieval of a thing's extraFields.
const enrichTimeout = 10 * time.Second

// eventThing is the thing a session's filter is evaluated on, as Ditto's
// ThingEventToThingConverter builds it: the thing id, revision and
// modification time, the event's value at its path (nothing for a
// deletion; a merge patch without its nulls), over the enriched fields.
// The placeholders a filter may name (topic:action, resource:path, ...)
// are members of it too: no thing has members of such names.
func eventThing(topic protocol.Topic, ev protocol.Envelope, extra jsonv.Value) jsonv.Value {
	thing := jsonv.Object()
	if extra.Kind() == jsonv.KindObject {
		thing = extra
	}
	if len(ev.Value) > 0 && topic.Criterion == protocol.CriterionEvents && topic.Action != protocol.ActionDeleted {
		if v, err := jsonv.Parse(ev.Value); err == nil {
			if topic.Action == protocol.ActionMerged {
				v = withoutNulls(v)
			}
			if p, err := jsonv.ParsePointer(ev.Path); err == nil {
				if p.IsRoot() {
					if v.Kind() == jsonv.KindObject {
						thing = jsonv.MergePatch(thing, v)
					}
				} else {
					thing = thing.Set(p, v)
				}
			}
		}
	}
	id := topic.EntityID()
	set := func(key string, v jsonv.Value) { thing = thing.Set(jsonv.Pointer{key}, v) }
	set("thingId", jsonv.String(id))
	if ev.Revision > 0 {
		set("_revision", jsonv.Int(ev.Revision))
	}
	if ev.Timestamp != "" {
		set("_modified", jsonv.String(ev.Timestamp))
	}
	channel := topic.Channel
	for _, ph := range [...]struct{ key, value string }{
		{"topic:full", topic.String()}, {"topic:namespace", topic.Namespace}, {"topic:entityName", topic.EntityName},
		{"topic:group", topic.Group}, {"topic:channel", channel}, {"topic:criterion", topic.Criterion},
		{"topic:action", topic.Action}, {"topic:action-subject", topic.Action},
		{"entity:id", id}, {"entity:namespace", topic.Namespace}, {"entity:name", topic.EntityName},
		{"resource:type", "thing"}, {"resource:path", ev.Path},
	} {
		set(ph.key, jsonv.String(ph.value))
	}
	if topic.Criterion == protocol.CriterionMessages {
		// A message's action is its subject; its resource a mailbox.
		set("topic:subject", jsonv.String(topic.Action))
		set("resource:type", jsonv.String("message"))
	}
	return thing
}

// withoutNulls returns v without the object members that are null, at any
// depth.
func withoutNulls(v jsonv.Value) jsonv.Value {
	if v.Kind() != jsonv.KindObject {
		return v
	}
	var ms []jsonv.Member
	for _, m := range v.Members() {
		if m.Value.Kind() == jsonv.KindNull {
			continue
		}
		ms = append(ms, jsonv.Member{Key: m.Key, Value: withoutNulls(m.Value)})
	}
	return jsonv.Object(ms...)
}
