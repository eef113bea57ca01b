package gateway

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/logging"
)

// Server-Sent Events for thing change notifications, as Ditto's
// ThingsSseRouteBuilder serves them (httpapi-sse): a GET of /api/2/things,
// /api/2/things/{thingId} or /api/2/things/{thingId}/{path} whose Accept
// header takes text/event-stream opens a stream of the thing events the
// caller may read, each sent as "data:" and the thing JSON of the change
// (or, below a thing, the changed value at the path). Every other request
// on those paths is the plain HTTP API.
//
// A stream is one more sink of the event hub (wsevents.go), with its own
// bounded queue that drops when full, so that a slow client holds up
// nobody. The handler's goroutine is the stream's one writer: it prepares
// each queued event with viewEvent (access cut, enrichment, filter), writes
// and flushes it, and sends Pekko's heartbeat, an event with empty data,
// when the stream was silent for sseKeepAlive.

const (
	contentTypeEventStream = "text/event-stream"
	// sseKeepAlive is the silence after which a stream sends a heartbeat.
	// Ditto's is a constant one second (keepAlive in
	// ThingsSseRouteBuilder), without a setting.
	sseKeepAlive = time.Second
)

// sseHeartbeat is Pekko's ServerSentEvent.heartbeat as it encodes it: an
// event with empty data, which an EventSource does not dispatch.
var sseHeartbeat = []byte("data:\n\n")

// sseMessagesPath matches the sub-paths of Ditto's message streams
// (inbox/outbox), which stream the live messages of a thing, not its
// changes; sseMessagesSubject those that name a subject.
var (
	sseMessagesPath    = regexp.MustCompile(`^(?:/features/[^/]+)?/(?:inbox|outbox)/messages(?:/.*)?$`)
	sseMessagesSubject = regexp.MustCompile(`^(?:/features/[^/]+)?/(?:inbox|outbox)/messages/.+$`)
)

// sseSpec is what a stream sends, as its request asks for it.
type sseSpec struct {
	// ids are the things whose events are sent; nil for every thing.
	ids []string
	// params are the namespaces, filter and extraFields viewEvent applies.
	params streamParams
	// fields selects the parts of the thing to send; nil sends its
	// regular fields. A stream below a thing selects its path.
	fields jsonv.FieldSelector
	// context is set when fields selects _context.
	context bool
	// pointer is the path below the thing whose value is sent; nil at
	// the thing itself.
	pointer jsonv.Pointer
	// messages is the mailbox path of a message stream ("" for change
	// notifications): its messages' paths equal it when it names a
	// subject (exact), else start with it.
	messages string
	exact    bool
}

// acceptsEventStream reports whether one of the Accept header values has
// a media range that takes text/event-stream, as Ditto's route checks it:
// text/event-stream or text/*, with any parameters and quality, while a
// range of main type "*" does not count.
func acceptsEventStream(accept []string) bool {
	for _, v := range accept {
		for mr := range strings.SplitSeq(v, ",") {
			mr, _, _ = strings.Cut(mr, ";")
			main, sub, ok := strings.Cut(strings.TrimSpace(mr), "/")
			if ok && strings.EqualFold(main, "text") && (sub == "*" || strings.EqualFold(sub, "event-stream")) {
				return true
			}
		}
	}
	return false
}

// parseSSESpec reads an SSE request for the segments after /things and
// the query. isSSE is false for paths Ditto's SSE route does not serve
// here (an empty thing id, message streams), which then go to the plain
// HTTP API. The errors are Ditto's, checked in its order: things:id.invalid,
// then the field selections (things:field.selection.invalid or
// json.fieldselector.invalid), then rql.expression.invalid.
//
// Each parameter is read once, its last value counting, as Pekko's
// parameterMap gives it. Below a thing the path is the field selection,
// whatever fields asks for, and the thing's id the ids.
func parseSSESpec(segs []string, query url.Values) (spec sseSpec, isSSE bool, err error) {
	param := func(name string) (string, bool) {
		vs := query[name]
		if len(vs) == 0 {
			return "", false
		}
		return vs[len(vs)-1], true
	}
	fields, hasFields := param("fields")
	sub := "" // the path below the thing
	if atEnd(segs) {
		if ids, ok := param("ids"); ok {
			spec.ids = javaSplit(ids, ",")
		}
	} else {
		id := segs[0]
		if id == "" {
			return sseSpec{}, false, nil
		}
		if rest := segs[1:]; !atEnd(rest) {
			sub = "/" + strings.Join(rest, "/")
			if sseMessagesPath.MatchString(sub) {
				return parseMessagesSpec(id, sub, param)
			}
			fields, hasFields = sub, true
		}
		spec.ids = []string{id}
	}
	for _, id := range spec.ids {
		if err := protocol.ValidateThingID(id); err != nil {
			return sseSpec{}, true, err
		}
	}
	if hasFields {
		if perr := checkExtraFields(fields); perr != nil {
			return sseSpec{}, true, perr
		}
		if spec.fields, err = jsonv.ParseFieldSelector(fields); err != nil {
			return sseSpec{}, true, err
		}
		spec.context = sub == "" && slices.ContainsFunc(spec.fields, func(p jsonv.Pointer) bool { return p[0] == "_context" })
	}
	if sub != "" {
		if spec.pointer, err = jsonv.ParsePointer(sub); err != nil {
			return sseSpec{}, true, err
		}
	}
	if extra, ok := param("extraFields"); ok {
		if perr := checkExtraFields(extra); perr != nil {
			return sseSpec{}, true, perr
		}
		spec.params.extraFields = extra
	}
	if ns, ok := param("namespaces"); ok {
		spec.params.namespaces = javaSplit(ns, ",")
	}
	if filter, ok := param("filter"); ok {
		node, perr := parseStreamFilter(filter)
		if perr != nil {
			return sseSpec{}, true, perr
		}
		spec.params.filter = node
	}
	return spec, true, nil
}

// parseMessagesSpec reads the request of a message stream of thing id at
// path (as Ditto's route: only namespaces besides the path).
func parseMessagesSpec(id, path string, param func(string) (string, bool)) (sseSpec, bool, error) {
	if err := protocol.ValidateThingID(id); err != nil {
		return sseSpec{}, true, err
	}
	spec := sseSpec{ids: []string{id}, messages: strings.TrimSuffix(path, "/"), exact: sseMessagesSubject.MatchString(path)}
	if ns, ok := param("namespaces"); ok {
		spec.params.namespaces = javaSplit(ns, ",")
	}
	return spec, true, nil
}

// serveThingsSSE serves the SSE request of an authenticated caller for the
// segments after /things, and reports whether it did: false for a request
// that is not one (no GET, no text/event-stream in Accept, a path the
// route does not serve), which the plain HTTP API then serves.
func (g *Gateway) serveThingsSSE(ar *apiRequest, segs []string) bool {
	if ar.r.Method != http.MethodGet || !acceptsEventStream(ar.r.Header.Values("Accept")) {
		return false
	}
	spec, isSSE, err := parseSSESpec(segs, ar.query)
	if !isSSE {
		return false
	}
	if err != nil {
		g.fail(ar, err)
		return true
	}
	if rng, ok := historyRange(ar.query); ok {
		g.serveHistorySSE(ar, spec, rng) // ssehistory.go
		return true
	}
	s := &sseStream{g: g, caller: ar.caller, spec: spec, events: make(chan *hubEvent, g.cfg.SSEOutgoingBuffer)}
	// Counted like WebSocket sessions, which Serve waits for.
	g.running.Add(1)
	defer g.running.Done()
	hub := g.hub
	if spec.messages != "" {
		hub = g.msgHub
	}
	if err := hub.join(s); err != nil {
		g.log.WarnContext(ar.r.Context(), "subscribe to events", logging.CorrelationID(ar.headers[protocol.HeaderCorrelationID]), "err", err)
		writeError(ar.w, ar.headers, protocol.ErrGatewayServiceUnavailable())
		return true
	}
	defer hub.leave(s)
	s.run(ar.w, ar.r)
	if n := s.dropped.Load(); n > 0 {
		g.log.InfoContext(ar.r.Context(), "SSE stream dropped events", "events_dropped", n, logging.CorrelationID(ar.headers[protocol.HeaderCorrelationID]))
	}
	return true
}

// OpenEventStreams returns how many SSE streams currently receive events.
func (g *Gateway) OpenEventStreams() int {
	g.hub.mu.RLock()
	defer g.hub.mu.RUnlock()
	n := 0
	for s := range g.hub.sinks {
		if _, ok := s.(*sseStream); ok {
			n++
		}
	}
	return n
}

// sseStream is one open SSE stream, an event sink of the hub.
type sseStream struct {
	g      *Gateway
	caller *principal
	spec   sseSpec
	// events is the stream's queue, filled by the hub's callback and
	// emptied by the handler's goroutine.
	events chan *hubEvent
	// dropped counts events lost to a full queue.
	dropped atomic.Int64
}

func (s *sseStream) subjects() []string { return s.caller.subjects }

// origin is empty: a stream sends no commands of its own.
func (s *sseStream) origin() string { return "" }

// take queues ev when it is one the stream may send: a twin event of one
// of its things in one of its namespaces. A full queue drops it.
func (s *sseStream) take(ev *hubEvent) {
	if s.spec.messages != "" {
		if !ev.message || !s.takesMessage(ev) {
			return
		}
	} else if ev.message || ev.topic.Channel != protocol.ChannelTwin ||
		(s.spec.ids != nil && !slices.Contains(s.spec.ids, ev.topic.EntityID())) ||
		(s.spec.params.namespaces != nil && !slices.Contains(s.spec.params.namespaces, ev.topic.Namespace)) {
		return
	}
	select {
	case s.events <- ev:
	default:
		s.dropped.Add(1)
	}
}

// run writes the stream until the client goes away, the gateway shuts
// down or a write fails.
func (s *sseStream) run(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	if m := s.g.metrics; m != nil {
		m.sse.Add(1)
		defer m.sse.Add(-1)
	}
	go func() {
		select {
		case <-s.g.closing:
			cancel()
		case <-ctx.Done():
		}
	}()
	sw := &sseWriter{w: w, rc: http.NewResponseController(w), timeout: s.g.cfg.WriteTimeout}
	// When the stream ends, a write that waits for a client that reads
	// nothing fails at once.
	stop := context.AfterFunc(ctx, sw.stop)
	defer func() {
		stop()
		sw.close()
	}()

	w.Header()["Content-Type"] = []string{contentTypeEventStream}
	w.WriteHeader(http.StatusOK)
	if !sw.write(nil) {
		return
	}
	keepAlive := time.NewTimer(sseKeepAlive)
	defer keepAlive.Stop()
	for {
		var frame []byte
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			frame = sseHeartbeat
		case ev := <-s.events:
			var ok bool
			if frame, ok = s.frame(ctx, ev); !ok {
				continue
			}
		}
		if !sw.write(frame) {
			return
		}
		keepAlive.Reset(sseKeepAlive)
	}
}

// takesMessage reports whether the message ev is one of the stream's: of
// its thing, at its mailbox path (or below it), in its namespaces.
func (s *sseStream) takesMessage(ev *hubEvent) bool {
	if ev.topic.EntityID() != s.spec.ids[0] ||
		(s.spec.params.namespaces != nil && !slices.Contains(s.spec.params.namespaces, ev.topic.Namespace)) {
		return false
	}
	if s.spec.exact {
		return ev.env.Path == s.spec.messages
	}
	return strings.HasPrefix(ev.env.Path, s.spec.messages)
}

// messageFrame is the SSE event of a message, as Ditto's route sends it:
// its payload as text (a binary payload's bytes) as data, its subject as
// event type.
func messageFrame(env protocol.Envelope, subject string) []byte {
	body, _ := messageBody(env)
	frame := appendSSEData(nil, body)
	frame = append(frame[:len(frame)-1], "event:"...)
	frame = append(frame, strings.ReplaceAll(subject, "\n", " ")...)
	return append(frame, '\n', '\n')
}

// frame returns the SSE event of ev for this stream, or false when the
// stream does not send it. An enrichment that failed sends Ditto's error
// in the event's place, as Ditto does.
func (s *sseStream) frame(ctx context.Context, ev *hubEvent) ([]byte, bool) {
	v, ok := s.g.viewEvent(ctx, s.caller, s.spec.params, ev)
	if !ok {
		return nil, false
	}
	if ev.message {
		return messageFrame(v.env, ev.topic.Action), true
	}
	if v.err != nil {
		return appendSSEData(nil, errorJSON(v.err)), true
	}
	data, ok := s.spec.render(ev.topic, v)
	if !ok {
		return nil, false
	}
	return appendSSEData(nil, data), true
}

// appendSSEData appends the SSE event with data, one "data:" line per line
// of it, as Pekko encodes a ServerSentEvent without type or id.
func appendSSEData(dst, data []byte) []byte {
	for {
		line, rest, more := strings.Cut(string(data), "\n")
		dst = append(append(append(dst, "data:"...), line...), '\n')
		if !more {
			return append(dst, '\n')
		}
		data = []byte(rest)
	}
}

// sseWriter writes a stream's events. Each write gets a deadline of its
// own (GATEWAY_HTTP_WRITE_TIMEOUT): the server's write timeout, which
// bounds a whole response, must not cut a stream that lives for hours,
// while a client that stops reading must not hold the stream for ever.
type sseWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration

	mu      sync.Mutex // guards the fields below and the deadline
	writing bool       // a write is under way
	stopped bool       // the stream ended: no more writes
	broken  bool       // a write failed
	closed  bool       // the handler is returning: the writer is no more used
}

// write writes b (nothing for nil) and flushes it; false when the stream
// ended or the write failed.
func (sw *sseWriter) write(b []byte) bool {
	sw.mu.Lock()
	if sw.stopped {
		sw.mu.Unlock()
		return false
	}
	sw.writing = true
	err := sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout))
	sw.mu.Unlock()
	if err == nil && len(b) > 0 {
		_, err = sw.w.Write(b)
	}
	if err == nil {
		err = sw.rc.Flush()
	}
	sw.mu.Lock()
	sw.writing = false
	sw.broken = sw.broken || err != nil
	sw.mu.Unlock()
	return err == nil
}

// stop ends the stream from another goroutine: a write under way fails at
// once.
func (sw *sseWriter) stop() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.closed {
		return
	}
	sw.stopped = true
	if sw.writing {
		_ = sw.rc.SetWriteDeadline(time.Now())
	}
}

// close is the handler's last use of the writer. Unless a write failed,
// the end of the response the server writes after the handler gets a
// fresh deadline, in case stop cut the previous one short.
func (sw *sseWriter) close() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.stopped, sw.closed = true, true
	if !sw.broken {
		_ = sw.rc.SetWriteDeadline(time.Now().Add(sw.timeout))
	}
}

// ---- Data format ---------------------------------------------------------

// thingRegularFields are the fields of Ditto's thing JSON without field
// selection, in the order Ditto writes them (ImmutableThing.toJson);
// thingHiddenFields those only a field selection shows.
var (
	thingRegularFields = []string{"thingId", "policyId", "definition", "attributes", "features"}
	thingHiddenFields  = []string{"_revision", "_modified", "_created", "_namespace", "_metadata"}
)

// render returns the data of the event (as viewEvent cut it down and
// enriched it) for the stream, as Ditto's ThingsSseRouteBuilder renders it
// (toNonemptyValue), or false when the stream sends nothing:
//
//   - at a thing without fields, the thing JSON of the change (its regular
//     fields: thingId, policyId, definition, attributes, features);
//   - with fields, the selected fields, hidden ones included, and nothing
//     when none is there; selecting _context adds the event's topic, path,
//     value and headers, selectable in turn (_context/topic, ...);
//   - below a thing, the value at the path in the thing of the change, and
//     nothing when it has none there: a change above the path sends the
//     part at the path, one below it the part of the value at the path
//     that changed.
func (q *sseSpec) render(topic protocol.Topic, v eventView) ([]byte, bool) {
	thing := sseThing(topic, v.env, v.extra)
	if q.fields == nil {
		return pickMembers(thing, thingRegularFields).AppendJSON(nil), true
	}
	out := pickMembers(thing, thingHiddenFields, thingRegularFields).Select(q.fields)
	if out.Len() == 0 {
		return nil, false
	}
	if q.pointer != nil {
		at, ok := out.At(q.pointer)
		if !ok {
			return nil, false
		}
		return at.AppendJSON(nil), true
	}
	if q.context {
		out = out.Set(jsonv.Pointer{"_context"}, sseContext(v.env)).Select(q.fields)
	}
	return out.AppendJSON(nil), true
}

// sseThing is the thing an event describes, as Ditto's
// ThingEventToThingConverter builds it and ThingsSseRouteBuilder merges it
// with the extra fields: the changed value at its path (nothing for a
// deletion; for a merge, the patch without its nulls, a null patch an empty
// object) over the enriched fields, with the thing's id, namespace,
// revision and modification time.
func sseThing(topic protocol.Topic, env protocol.Envelope, extra jsonv.Value) jsonv.Value {
	thing := jsonv.Object()
	if len(env.Value) > 0 && topic.Action != protocol.ActionDeleted {
		v, verr := jsonv.Parse(env.Value)
		p, perr := jsonv.ParsePointer(env.Path)
		if verr == nil && perr == nil {
			if topic.Action == protocol.ActionMerged {
				if v.Kind() == jsonv.KindNull {
					v = jsonv.Object()
				}
				v = withoutNulls(v)
			}
			switch {
			case !p.IsRoot():
				thing = thing.Set(p, v)
			case v.Kind() == jsonv.KindObject:
				thing = v
			}
		}
	}
	if extra.Kind() == jsonv.KindObject && extra.Len() > 0 {
		thing = mergeUnder(thing, extra)
	}
	set := func(key string, v jsonv.Value) { thing = thing.Set(jsonv.Pointer{key}, v) }
	set("thingId", jsonv.String(topic.EntityID()))
	set("_namespace", jsonv.String(topic.Namespace))
	if env.Revision > 0 {
		set("_revision", jsonv.Int(env.Revision))
	}
	if env.Timestamp != "" {
		set("_modified", jsonv.String(env.Timestamp))
	}
	return thing
}

// mergeUnder returns the objects base and extra deep-merged, base's values
// winning (Ditto's JsonFactory.newObject(base, extra)); anything but two
// objects is base.
func mergeUnder(base, extra jsonv.Value) jsonv.Value {
	if base.Kind() != jsonv.KindObject || extra.Kind() != jsonv.KindObject {
		return base
	}
	out := slices.Clone(base.Members())
	for _, m := range extra.Members() {
		if i := slices.IndexFunc(out, func(b jsonv.Member) bool { return b.Key == m.Key }); i >= 0 {
			out[i].Value = mergeUnder(out[i].Value, m.Value)
			continue
		}
		out = append(out, m)
	}
	return jsonv.Object(out...)
}

// pickMembers returns the members of obj named in the lists, in their
// order.
func pickMembers(obj jsonv.Value, lists ...[]string) jsonv.Value {
	var ms []jsonv.Member
	for _, keys := range lists {
		for _, k := range keys {
			if v, ok := obj.Get(k); ok {
				ms = append(ms, jsonv.Member{Key: k, Value: v})
			}
		}
	}
	return jsonv.Object(ms...)
}

// sseContext is the _context of an event (Ditto's addContext): its topic,
// path, value (JSON null when it has none) and the headers a client sees,
// here the event as the stream's caller may see it.
func sseContext(env protocol.Envelope) jsonv.Value {
	value := jsonv.Null()
	if len(env.Value) > 0 {
		if v, err := jsonv.Parse(env.Value); err == nil {
			value = v
		}
	}
	keys := make([]string, 0, len(env.Headers))
	for k := range env.Headers {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	headers := make([]jsonv.Member, len(keys))
	for i, k := range keys {
		headers[i] = jsonv.Member{Key: k, Value: jsonv.String(env.Headers[k])}
	}
	return jsonv.Object(
		jsonv.Member{Key: "topic", Value: jsonv.String(env.Topic)},
		jsonv.Member{Key: "path", Value: jsonv.String(env.Path)},
		jsonv.Member{Key: "value", Value: value},
		jsonv.Member{Key: "headers", Value: jsonv.Object(headers...)},
	)
}
