package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/logging"
	"github.com/dittonats/dittonats/services/internal/tracing"
)

// The WebSocket endpoint /ws/2 speaks the Ditto Protocol: every text frame
// is a Ditto Protocol message or a control message (START-SEND-EVENTS, ...,
// see wsproto.go), answered on the same connection. A session is one
// authenticated connection; the caller is authenticated once, at the
// upgrade, exactly as an HTTP request is.
//
// Each session has one writer goroutine that owns the connection's write
// side, fed by a bounded queue. Replies to the session's own commands wait
// for room in the queue (the session limits its commands in flight, so
// they are bounded too); events that find the queue full are dropped and
// counted, so that a slow client never holds up the event fan-out of the
// gateway or other sessions.

// wsUpgrader accepts any origin: the caller authenticates with
// credentials, not with cookies, so a cross-site page gains nothing.
// The connection reads through the HTTP server's buffered reader, and
// writes through a buffer taken from a pool for each message, so that an
// idle session holds no write buffer.
var wsUpgrader = websocket.Upgrader{
	WriteBufferPool: &sync.Pool{},
	CheckOrigin:     func(*http.Request) bool { return true },
}

// serveWebSocket serves /ws/{version}.
func (g *Gateway) serveWebSocket(w http.ResponseWriter, r *http.Request, segs []string) {
	// Counted before the upgrade, while the HTTP server still tracks the
	// connection: so Serve's shutdown cannot miss a session.
	g.running.Add(1)
	defer g.running.Done()
	if len(segs) != 1 || !isDigits(segs[0]) {
		writeNotFound(w)
		return
	}
	if segs[0] != "2" {
		v, _ := strconv.Atoi(segs[0]) // digits: at worst out of range, clamped
		writeError(w, nil, protocol.ErrUnsupportedSchemaVersion(v))
		return
	}
	caller, ok := g.authenticate(w, r, r.URL.Query(), nil)
	if !ok {
		return
	}
	if !websocket.IsWebSocketUpgrade(r) {
		writeError(w, nil, errNotUpgrade())
		return
	}
	declared, perr := declaredAcks(r)
	if perr != nil {
		writeError(w, nil, perr)
		return
	}
	bw := &batchingWriter{ResponseWriter: w}
	conn, err := wsUpgrader.Upgrade(bw, r, nil)
	if err != nil {
		return // the upgrader has answered
	}
	s := g.newSession(conn, caller)
	s.batch = bw.conn
	s.declared = declared
	s.run(r.Context())
}

// errNotUpgrade answers a plain request to the WebSocket route.
func errNotUpgrade() *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "gateway:websocket.upgrade.expected",
		"Expected a WebSocket upgrade request.",
		"Connect to this endpoint with a WebSocket client.")
}

// wsSession is one WebSocket connection.
type wsSession struct {
	g      *Gateway
	conn   *websocket.Conn
	batch  *batchConn // conn's connection, when it batches writes
	caller *principal
	log    *slog.Logger
	// id names the session: the ditto-origin of its commands, so that
	// their events are not sent back to it.
	id string

	out      outQueue      // frames to write, in order
	pinger   *time.Timer   // sends the next ping
	done     chan struct{} // closed when the session ends
	inflight chan struct{} // one token per command in flight, until the writer takes its answer

	closeOnce sync.Once

	mu   sync.Mutex
	subs map[streamingType]*control // the started streams and their parameters
	// events feeds the session's event goroutine (see wsevents.go); both
	// are made when the session first starts events, so that an idle
	// session costs neither.
	events     chan *hubEvent
	eventsOnce sync.Once
	ctx        context.Context // the session's, for its goroutines
	wg         sync.WaitGroup  // the session's goroutines besides the reader
	// dropped counts events lost to a full queue.
	dropped atomic.Int64
	// answers are the live messages the session got that wait for its
	// answer, by correlation-id (see wslive.go); guarded by mu.
	answers map[string]pendingAnswer
	// searches are the session's search subscriptions (wssearch.go).
	searches wsSearches
	// histories are the session's streaming subscriptions of persisted
	// events (wsstreaming.go).
	histories wsHistories
	// declared are the acknowledgement labels the session issues, held
	// by labelSubs; ackees the events whose acknowledgements its client
	// is to send, by correlation-id, guarded by mu (wsacks.go).
	declared  []string
	labelSubs []*nats.Subscription
	ackees    map[string]pendingAcks
	// expiry ends a session authenticated with a token when the token
	// expires (wsjwt.go).
	expiry atomic.Pointer[time.Timer]
}

// wsFrame is a frame queued for the writer.
type wsFrame struct {
	data []byte
	// answer marks the answer to a command in flight, which holds its
	// in-flight token until the writer takes the frame: the token is
	// returned before the client can see the answer, so a client that has
	// its answer may send the next command at once, and answers waiting
	// for room in the queue stay bounded by the in-flight limit.
	answer bool
}

func (g *Gateway) newSession(conn *websocket.Conn, caller *principal) *wsSession {
	s := &wsSession{
		id:       newCorrelationID(),
		g:        g,
		conn:     conn,
		caller:   caller,
		log:      g.log.With("ws_subject", caller.subjects[0]),
		done:     make(chan struct{}),
		inflight: make(chan struct{}, g.cfg.WSMaxInFlight),
		subs:     map[streamingType]*control{},
	}
	s.out.room.L = &s.out.mu
	return s
}

// run serves the session until the client or the gateway ends it.
func (s *wsSession) run(ctx context.Context) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.g.sessions.Add(1)
	defer s.g.sessions.Add(-1)
	s.ctx = ctx
	s.pinger = time.AfterFunc(s.g.cfg.WSPingInterval, s.ping)
	s.startExpiry()
	if !s.g.track(s) {
		s.goAway() // the gateway is shutting down
	}
	defer s.releaseLabels()
	if s.startAcks() {
		s.readLoop(ctx)
	}
	s.close()
	s.searches.stop()  // wssearch.go: cancels the subscriptions, waits for them
	s.histories.stop() // wsstreaming.go: likewise
	s.g.untrack(s)
	s.g.hub.leave(s)
	s.wg.Wait()
}

// close ends the session once.
func (s *wsSession) close() {
	s.closeOnce.Do(func() {
		s.out.mu.Lock()
		s.out.closed = true
		s.out.room.Broadcast()
		s.out.mu.Unlock()
		close(s.done)
		s.pinger.Stop()
		if t := s.expiry.Load(); t != nil {
			t.Stop()
		}
		_ = s.conn.Close()
	})
}

// readLoop reads frames until the connection fails or closes.
func (s *wsSession) readLoop(ctx context.Context) {
	// Frames beyond the hard limit end the session (gorilla answers
	// 1009); frames beyond the message size limit below it get Ditto's
	// error and the session goes on.
	max := int64(s.g.cfg.Limits.MessagesMaxSize)
	if max <= 0 {
		max = 1 << 30 // no limit but what a connection can take
	}
	s.conn.SetReadLimit(max*2 + 64<<10)
	idle := s.g.cfg.WSIdleTimeout
	s.conn.SetPongHandler(func(string) error {
		return s.conn.SetReadDeadline(time.Now().Add(idle))
	})
	th := s.g.throttle()
	for {
		_ = s.conn.SetReadDeadline(time.Now().Add(idle))
		typ, data, err := s.conn.ReadMessage()
		if err != nil {
			return
		}
		if th != nil && !th.wait(s.done) {
			return
		}
		if typ != websocket.TextMessage {
			continue // Ditto reads text frames only
		}
		if int64(len(data)) > max {
			s.reply(protocol.ErrorEnvelope(protocol.FallbackErrorTopic(), nil, "/", protocol.ErrMessagePayloadTooLarge(int64(len(data)), max)))
			continue
		}
		s.handle(ctx, data)
	}
}

// handle acts on one frame.
func (s *wsSession) handle(ctx context.Context, data []byte) {
	if ctl, ok, perr := parseControl(string(data)); ok || perr != nil {
		if perr != nil {
			// The stream keeps its previous parameters, if it had any.
			h := perr.Headers
			if perr.Code == protocol.CodeRQLExpressionInvalid && h[protocol.HeaderCorrelationID] == "" {
				h = protocol.Headers{protocol.HeaderCorrelationID: s.id}
			}
			s.reply(protocol.ErrorEnvelope(protocol.FallbackErrorTopic(), h, "/", perr))
			return
		}
		if ctl.jwt {
			s.refreshToken(ctl.jwtToken) // wsjwt.go
			return
		}
		s.control(ctl)
		return
	}
	env, err := protocol.DecodeEnvelope(data)
	if err != nil {
		perr := protocol.AsError(err)
		if perr == nil {
			perr = protocol.ErrInternal()
		}
		s.reply(protocol.ErrorEnvelope(protocol.FallbackErrorTopic(), frameCorrelation(data), "/", perr))
		return
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		s.reply(protocol.ErrorEnvelope(protocol.FallbackErrorTopic(), correlationOnly(env.Headers), env.Path, protocol.AsError(err)))
		return
	}
	env.Headers = externalHeaders(env.Headers)
	switch {
	case topic.Group == protocol.GroupPolicies && topic.Criterion == protocol.CriterionCommands && topic.Action == protocol.ActionCheckPermissions:
		s.checkPermissionsCommand(ctx, topic, env) // checkperms.go
	case topic.Group == protocol.GroupThings && topic.Channel == protocol.ChannelTwin && topic.Criterion == protocol.CriterionCommands,
		topic.Group == protocol.GroupPolicies && topic.Criterion == protocol.CriterionCommands:
		s.command(ctx, topic, env)
	case topic.Group == protocol.GroupThings && topic.Channel == protocol.ChannelLive && topic.Criterion == protocol.CriterionMessages:
		if env.Status != 0 {
			s.answerMessage(env) // a device's answer to a message it got
			return
		}
		if _, ok := env.Headers[protocol.HeaderTimeout]; !ok {
			env.Headers[protocol.HeaderTimeout] = formatTimeout(defaultMessageTimeout)
		}
		s.command(ctx, topic, env)
	case topic.Group == protocol.GroupThings && topic.Channel == protocol.ChannelLive && topic.Criterion == protocol.CriterionCommands:
		s.liveCommand(ctx, topic, env) // livecmd.go: a live command, or a device's answer to one
	case topic.Group == protocol.GroupThings && topic.Channel == protocol.ChannelLive && topic.Criterion == protocol.CriterionEvents:
		s.liveEvent(ctx, topic, env) // livecmd.go
	case topic.Group == protocol.GroupThings && topic.Channel == protocol.ChannelLive && topic.Criterion == protocol.CriterionErrors:
		s.answerMessage(env) // wslive.go: a device's error answer to a live command or message
	case topic.Group == protocol.GroupThings && topic.Criterion == protocol.CriterionSearch:
		s.searchCommand(ctx, topic, env) // wssearch.go
	case topic.Criterion == protocol.CriterionStreaming:
		s.streamingCommand(ctx, topic, env) // wsstreaming.go
	case (topic.Group == protocol.GroupThings || topic.Group == protocol.GroupPolicies) && topic.Criterion == protocol.CriterionAcks && topic.Action != "":
		// wsacks.go: an acknowledgement of a signal the session got (of a
		// policy announcement also on the policy's own topic).
		s.issueAck(topic, env)
	default:
		s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, errUnsupportedSignal(topic)))
	}
}

// errUnsupportedSignal answers a message of a kind the session does not
// take (events sent by a client, live signals before the live channel).
func errUnsupportedSignal(t protocol.Topic) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "protocoladapter:unknown.topicpath",
		"The topic path <"+t.String()+"> is not supported here.",
		"Send commands of the twin channel, or control messages.")
}

// externalHeaders keeps the headers a client may set, as commandHeaders
// does for HTTP: headers Ditto reads only internally and the NATS headers
// that carry who is calling are dropped.
func externalHeaders(h protocol.Headers) protocol.Headers {
	out := make(protocol.Headers, len(h)+2)
	for k, v := range h {
		name := strings.ToLower(k)
		if droppedHeaders[name] && name != protocol.HeaderContentType {
			continue // content-type describes a message's payload here
		}
		if def, known := protocol.LookupHeader(name); known && !def.FromExternal {
			continue
		}
		out[name] = v
	}
	return out
}

// correlationOnly returns the correlation-id of h as the headers of an
// error about a message that was not understood.
func correlationOnly(h protocol.Headers) protocol.Headers {
	if cid, ok := h[protocol.HeaderCorrelationID]; ok {
		return protocol.Headers{protocol.HeaderCorrelationID: cid}
	}
	return nil
}

// frameCorrelation returns the correlation-id of a frame that is not a
// valid Ditto Protocol message but has a readable one, as the headers of
// the error about it.
func frameCorrelation(data []byte) protocol.Headers {
	var msg struct {
		Headers struct {
			CorrelationID *string `json:"correlation-id"`
		} `json:"headers"`
	}
	if json.Unmarshal(data, &msg) != nil || msg.Headers.CorrelationID == nil {
		return nil
	}
	return protocol.Headers{protocol.HeaderCorrelationID: *msg.Headers.CorrelationID}
}

// command sends a thing or policy command for the session's caller and
// replies with the answer, without holding up the frames after it.
func (s *wsSession) command(ctx context.Context, topic protocol.Topic, env protocol.Envelope) {
	if topic.Group == protocol.GroupPolicies && isPolicyActionPath(env.Path) {
		// Ditto's protocol has no policy actions; here only the HTTP
		// route builds them, from a verified token (servePolicyAction).
		s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path,
			protocol.ErrUnknownTopicPath(topic.String(), "Policy actions are only available over HTTP.")))
		return
	}
	if _, ok := env.Headers[protocol.HeaderCorrelationID]; !ok {
		env.Headers[protocol.HeaderCorrelationID] = newCorrelationID()
	}
	if err := env.Headers.Validate(); err != nil {
		s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, protocol.AsError(err)))
		return
	}
	responseRequired := env.Headers[protocol.HeaderResponseRequired] != "false"
	if acks := env.Headers[protocol.HeaderRequestedAcks]; !responseRequired && acks != "" && acks != "[]" {
		e := protocol.ErrHeaderInvalidMessage("For WebSocket, it is forbidden to request acknowledgements while 'response-required' is set to false.")
		e.Description = "Please set 'requested-acks' to [] or 'response-required' to true."
		s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, e))
		return
	}
	t, perr := s.g.timing(env.Headers)
	if perr != nil {
		if responseRequired {
			s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, perr))
		}
		return
	}
	env.Headers[protocol.HeaderOrigin] = s.id
	req := command.Request{Group: topic.Group, EntityID: topic.EntityID(), Auth: s.caller.auth, Envelope: env, Timeout: t.timeout}
	started := time.Now()
	plan, err := s.g.planAcks(&req, env.Headers)
	if err != nil {
		s.log.Warn("acknowledgement address", "entity_id", req.EntityID, logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]), "err", err)
		s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, protocol.ErrGatewayServiceUnavailable()))
		return
	}
	if t.fireAndForget {
		if err := s.g.publish(req); err != nil {
			s.log.Debug("publish command", "entity_id", req.EntityID, logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]), "err", err)
		}
		return
	}
	select {
	case s.inflight <- struct{}{}:
	default:
		plan.done()
		s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, protocol.ErrTooManyRequests()))
		return
	}
	go func() {
		answered := false // the writer returns the token with the answer
		defer func() {
			if !answered {
				<-s.inflight
			}
		}()
		defer plan.done()
		ctx := ctx
		if s.g.tracer.Enabled() {
			// A Ditto Protocol message's traceparent header continues its
			// sender's trace, as an HTTP request's does.
			var h nats.Header
			if tp := env.Headers[tracing.HeaderTraceparent]; tp != "" {
				h = nats.Header{tracing.HeaderTraceparent: {tp}, tracing.HeaderTracestate: {env.Headers[tracing.HeaderTracestate]}}
			}
			var span tracing.Span
			ctx, span = s.g.tracer.Start(s.g.tracer.Extract(ctx, h), "WS "+command.CommandType(env.Topic, env.Path))
			span.SetCorrelationID(env.Headers[protocol.HeaderCorrelationID])
			span.SetEntityID(req.EntityID)
			defer span.End()
		}
		reply, err := s.g.request(ctx, req)
		reply, err = liveOutcome(plan, reply, err)
		if err != nil {
			if errors.Is(err, nats.ErrMaxPayload) {
				err = s.g.tooLargeToSend(req)
			}
			perr := protocol.AsError(err)
			if !responseRequired {
				return
			}
			if perr == nil {
				if ctx.Err() != nil {
					return // the session ended
				}
				s.log.WarnContext(ctx, "websocket command", "entity_id", req.EntityID, logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]), "err", err)
				perr = protocol.ErrInternal()
			}
			answered = s.answer(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, perr))
			return
		}
		if !responseRequired {
			return // Ditto answers neither the response nor an error
		}
		if _, failed := reply.AsError(); plan != nil && !failed {
			acks, err := s.g.collect(ackContext{
				ctx: ctx, auth: s.caller.auth, correlationID: env.Headers[protocol.HeaderCorrelationID],
				thingID: req.EntityID, timeout: t.timeout, started: started,
				deleted: topic.Action == protocol.ActionDelete && env.Path == "/",
			}, plan, reply)
			if err != nil {
				return // the session ended
			}
			for i := range acks {
				if acks[i].label == ackTwinPersisted {
					acks[i].headers = replyHeaders(acks[i].headers, env.Headers)
					delete(acks[i].headers, protocol.HeaderResponseRequired)
				}
			}
			answered = s.answer(aggregatedAcks(req.EntityID, topic.Channel, env.Headers[protocol.HeaderCorrelationID], acks))
			return
		}
		reply.Headers = replyHeaders(reply.Headers, env.Headers)
		answered = s.answer(reply)
	}()
}

// replyHeaders are the headers of a reply as a client sees them: those
// Ditto writes to external clients, with the command's correlation-id.
func replyHeaders(h, cmd protocol.Headers) protocol.Headers {
	// A response asks for no response (Ditto's
	// AbstractCommandResponse.ensureNoResponseRequired).
	out := clientHeaders(h)
	if cid, ok := cmd[protocol.HeaderCorrelationID]; ok {
		out[protocol.HeaderCorrelationID] = cid
	}
	return out
}

// reply queues a message to the client, waiting for room.
func (s *wsSession) reply(env protocol.Envelope) { s.queue(env, false) }

// answer queues the answer to a command in flight, waiting for room, and
// hands the command's in-flight token to the writer; false when it was not
// queued, and the token is still the caller's.
func (s *wsSession) answer(env protocol.Envelope) bool { return s.queue(env, true) }

func (s *wsSession) queue(env protocol.Envelope, answer bool) bool {
	data, err := env.AppendJSON(nil)
	if err != nil {
		s.log.Warn("websocket reply not encodable", "topic", env.Topic, logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]), "err", err)
		return false
	}
	return s.enqueue(wsFrame{data: data, answer: answer})
}

// send queues a frame, waiting for room; false when the session ended.
func (s *wsSession) send(frame []byte) bool { return s.enqueue(wsFrame{data: frame}) }

func (s *wsSession) enqueue(f wsFrame) bool { return s.push(f, true) }

// offer queues a frame if there is room; false when it was dropped.
func (s *wsSession) offer(frame []byte) bool { return s.push(wsFrame{data: frame}, false) }

// push queues f, waiting for room when wait is set, and starts the writer
// if none runs; false when f was not queued.
func (s *wsSession) push(f wsFrame, wait bool) bool {
	q := &s.out
	q.mu.Lock()
	defer q.mu.Unlock()
	for wait && !q.closed && len(q.frames) >= s.g.cfg.WSOutgoingBuffer {
		q.room.Wait()
	}
	if q.closed || len(q.frames) >= s.g.cfg.WSOutgoingBuffer {
		return false
	}
	q.frames = append(q.frames, f)
	if !q.writing {
		q.writing = true
		q.wake = make(chan struct{}, 1)
		s.wg.Go(s.drain)
	} else if f.answer || len(q.frames) >= s.halfQueue() {
		select { // a writer waiting for its batch goes now
		case q.wake <- struct{}{}:
		default:
		}
	}
	return true
}

// outQueue is a session's bounded queue of frames to write. A writer
// goroutine runs only while frames wait, so that an idle session has none
// and holds no buffer.
type outQueue struct {
	mu      sync.Mutex
	room    sync.Cond // signalled when a frame leaves or the session ends
	frames  []wsFrame
	writing bool // a drain goroutine runs
	closed  bool
	// wake ends the running writer's wait for its batch (see batchConn):
	// an answer or a filling queue is not held back.
	wake chan struct{}
}

// drain writes the queued frames in order and ends when none is left.
func (s *wsSession) drain() {
	q := &s.out
	for {
		q.mu.Lock()
		if q.closed || len(q.frames) == 0 {
			q.writing = false
			q.frames = nil // an emptied queue lets its array go
			q.mu.Unlock()
			return
		}
		// An answer does not wait, nor does a queue filling up.
		urgent := q.frames[0].answer || len(q.frames) >= s.halfQueue()
		wake := q.wake
		q.mu.Unlock()
		if s.batch != nil {
			// Every frame queued by the end of the batch interval goes out
			// in one write.
			s.batch.holdWrites(urgent, wake)
			s.batch.start()
		}
		if !s.writeQueued() {
			s.close()
			return
		}
		if s.batch != nil {
			if err := s.batch.flush(time.Now().Add(s.g.cfg.WSWriteTimeout)); err != nil {
				s.close()
				return
			}
		}
	}
}

// halfQueue is the queue length at which a waiting writer is woken.
func (s *wsSession) halfQueue() int { return max(1, s.g.cfg.WSOutgoingBuffer/2) }

// writeQueued writes the frames queued when it starts, in order; false
// when a write failed.
func (s *wsSession) writeQueued() bool {
	q := &s.out
	q.mu.Lock()
	n := len(q.frames)
	q.mu.Unlock()
	for range n {
		q.mu.Lock()
		if q.closed || len(q.frames) == 0 {
			q.mu.Unlock()
			return true
		}
		f := q.frames[0]
		q.frames[0] = wsFrame{}
		q.frames = q.frames[1:]
		q.room.Broadcast()
		q.mu.Unlock()
		if f.answer {
			<-s.inflight
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(s.g.cfg.WSWriteTimeout))
		if err := s.conn.WriteMessage(websocket.TextMessage, f.data); err != nil {
			return false
		}
	}
	return true
}

// ping sends a ping and arms the next one; control frames may be written
// beside the writer.
func (s *wsSession) ping() {
	select {
	case <-s.done:
		return
	default:
	}
	if err := s.conn.WriteControl(websocket.PingMessage, nil, time.Now().Add(s.g.cfg.WSWriteTimeout)); err != nil {
		s.close()
		return
	}
	s.pinger.Reset(s.g.cfg.WSPingInterval)
}

// goAway ends the session because the gateway shuts down, telling the
// client to come back.
func (s *wsSession) goAway() {
	_ = s.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.CloseGoingAway, "gateway shutting down"), time.Now().Add(time.Second))
	s.close()
}

// throttle returns the session's throttle, nil when throttling is off.
func (g *Gateway) throttle() *throttle {
	if !g.cfg.WSThrottlingEnabled {
		return nil
	}
	return &throttle{interval: g.cfg.WSThrottlingInterval, limit: g.cfg.WSThrottlingLimit}
}

// throttle lets through limit messages per interval, as Ditto's WebSocket
// throttling does; the reader waits for the next interval beyond that, so
// the client is slowed down by TCP flow control rather than refused.
type throttle struct {
	interval time.Duration
	limit    int
	start    time.Time
	n        int
}

// wait returns once another message may be taken; false when done closed
// first.
func (t *throttle) wait(done <-chan struct{}) bool {
	now := time.Now()
	if now.Sub(t.start) >= t.interval {
		t.start, t.n = now, 0
	}
	if t.n < t.limit {
		t.n++
		return true
	}
	timer := time.NewTimer(t.start.Add(t.interval).Sub(now))
	defer timer.Stop()
	select {
	case <-timer.C:
		t.start, t.n = time.Now(), 1
		return true
	case <-done:
		return false
	}
}

// newCorrelationID returns a fresh correlation id.
func newCorrelationID() string { return uuid.NewString() }

// track registers a session for shutdown; false when the gateway is
// already shutting down.
func (g *Gateway) track(s *wsSession) bool {
	g.wsMu.Lock()
	defer g.wsMu.Unlock()
	if g.wsClosing {
		return false
	}
	g.wsSessions[s] = struct{}{}
	return true
}

func (g *Gateway) untrack(s *wsSession) {
	g.wsMu.Lock()
	delete(g.wsSessions, s)
	g.wsMu.Unlock()
}

// openWebSockets counts the open WebSocket sessions.
func (g *Gateway) openWebSockets() int {
	g.wsMu.Lock()
	defer g.wsMu.Unlock()
	return len(g.wsSessions)
}

// closeSessions ends every session with 1001 (going away).
func (g *Gateway) closeSessions() {
	g.wsMu.Lock()
	g.wsClosing = true
	sessions := make([]*wsSession, 0, len(g.wsSessions))
	for s := range g.wsSessions {
		sessions = append(sessions, s)
	}
	g.wsMu.Unlock()
	for _, s := range sessions {
		s.goAway()
	}
}
