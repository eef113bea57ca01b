package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dittonats/dittonats/protocol"
)

// The WebSocket scenarios connect to /ws/2 as the bench user:
//
//	EVENT_FANOUT  MODIFY_THINGS paced to -fanout-rate modifies a second while
//	              -subscribers sessions follow the bench namespace's events
//	              (START-SEND-EVENTS?namespaces=...): ops are events received,
//	              p50/p99 the time from a modify's send to each session
//	              receiving its event (so an upper bound of response to
//	              event); every acknowledged modify must reach every session,
//	              in revision order per thing: a lost or reordered event is
//	              an error
//	DEVICE_LIVE_MESSAGES  after Ditto's benchmark: POST a JSON message to a
//	              random thing's inbox (timeout 10s) with C connections for D;
//	              one WebSocket session (START-SEND-MESSAGES) plays the
//	              devices and answers each with 200 and the same payload, which
//	              is the HTTP answer; a round trip is an op
//	WS_IDLE       -idle-sessions authenticated sessions opened and held; the
//	              row's RSS is the server's with them open, the note the
//	              growth per session
//
// Each write of EVENT_FANOUT carries a value of its own (a counter), by
// which the sessions find when it was sent.

const (
	scEventFanout   = "EVENT_FANOUT"
	scWSIdle        = "WS_IDLE"
	scLiveMessages  = "DEVICE_LIVE_MESSAGES"
	liveSubject     = "bench"
	liveMessageBody = `"ping"` // a JSON string: the bench client sends JSON bodies
)

// fanoutDrain is how long EVENT_FANOUT waits after its load for the last
// events to arrive before it counts the missing ones as lost.
const fanoutDrain = 10 * time.Second

// wsURL is the WebSocket endpoint of the target.
func (t *target) wsURL() string {
	scheme := "ws"
	if t.tls != nil {
		scheme = "wss"
	}
	return scheme + "://" + t.host + "/ws/2"
}

// dialWS opens an authenticated session.
func (t *target) dialWS(ctx context.Context) (*websocket.Conn, error) {
	d := websocket.Dialer{HandshakeTimeout: 30 * time.Second, TLSClientConfig: t.tls,
		ReadBufferSize: 4096, WriteBufferSize: 1024}
	conn, resp, err := d.DialContext(ctx, t.wsURL(), http.Header{"Authorization": {t.auth}})
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("websocket upgrade: %w (HTTP %d)", err, resp.StatusCode)
		}
		return nil, fmt.Errorf("websocket upgrade: %w", err)
	}
	return conn, nil
}

// startEvents sends START-SEND-EVENTS for ns and waits for its ACK.
func startEvents(conn *websocket.Conn, ns string) error {
	return startStream(conn, "START-SEND-EVENTS?namespaces="+ns)
}

// startStream sends a START control message and waits for its ACK.
func startStream(conn *websocket.Conn, control string) error {
	if err := conn.WriteMessage(websocket.TextMessage, []byte(control)); err != nil {
		return err
	}
	name, _, _ := strings.Cut(control, "?")
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	defer func() { _ = conn.SetReadDeadline(time.Time{}) }()
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return fmt.Errorf("waiting for %s:ACK: %w", name, err)
		}
		if string(data) == name+":ACK" {
			return nil
		}
	}
}

// fanout is EVENT_FANOUT's bookkeeping.
type fanout struct {
	next atomic.Int64 // the last value written
	sent sync.Map     // value (int64) -> send time (time.Time)
	// answered is when each value's write was answered (value ->
	// time.Time), and writing the value each worker's request in flight
	// writes (*worker -> int64).
	answered, writing sync.Map
}

// op writes a fresh value to a thing's bench property and notes its send
// time.
func (f *fanout) op(r *runner) *op {
	return &op{
		method: "PUT",
		path:   func(i int) string { return r.corpus.property[i] },
		body: func(w *worker, _ int) []byte {
			v := f.next.Add(1)
			f.writing.Store(w, v)
			f.sent.Store(v, time.Now())
			return strconv.AppendInt(nil, v, 10)
		},
		answered: func(w *worker, _ int) {
			if v, ok := f.writing.Load(w); ok {
				f.answered.Store(v, time.Now())
			}
		},
	}
}

// since returns, sorted, per event received, the time from its write's
// moment in from (f.sent or f.answered) to its receipt. An event received
// before its write's answer (the event is published before the write is
// answered) counts as 0; a write whose answer was not read (at the run's
// end) is left out.
func since(subs []*subscriber, from *sync.Map) []time.Duration {
	var out []time.Duration
	for _, s := range subs {
		for _, r := range s.receipts {
			if t, ok := from.Load(r.value); ok {
				out = append(out, max(0, r.at.Sub(t.(time.Time))))
			}
		}
	}
	slices.Sort(out)
	return out
}

// fmtSince prints a percentile of the times from the answers: "0" for an
// event that came before its answer, "-" when there were none.
func fmtSince(sorted []time.Duration, p float64) string {
	if len(sorted) > 0 && percentile(sorted, p) == 0 {
		return "0"
	}
	return fmtDur(percentile(sorted, p))
}

// receipt is when a session received the event of a value.
type receipt struct {
	value int64
	at    time.Time
}

// subscriber is one session of EVENT_FANOUT.
type subscriber struct {
	conn     *websocket.Conn
	receipts []receipt
	seen     map[int64]bool // values received
	// duplicates counts events received twice.
	duplicates int64
	last       map[string]int64 // revision of the last event per thing
	// reordered counts events older than one already received for the
	// same thing; foreign counts events of values the bench did not write.
	reordered, foreign int64
	received           atomic.Int64
	err                error
}

// read receives events until the connection closes.
func (s *subscriber) read(f *fanout) {
	for {
		_, data, err := s.conn.ReadMessage()
		if err != nil {
			if !strings.Contains(err.Error(), "use of closed network connection") && !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
				s.err = err
			}
			return
		}
		at := time.Now()
		env, err := protocol.DecodeEnvelopeTrusted(data)
		if err != nil || !strings.Contains(env.Topic, "/things/twin/events/") {
			continue
		}
		var v int64
		if json.Unmarshal(env.Value, &v) != nil {
			s.foreign++
			continue
		}
		if _, ok := f.sent.Load(v); !ok {
			s.foreign++
			continue
		}
		id, _, _ := strings.Cut(env.Topic, "/things/")
		if env.Revision <= s.last[id] {
			s.reordered++
		}
		s.last[id] = max(s.last[id], env.Revision)
		if s.seen[v] {
			s.duplicates++
		}
		s.seen[v] = true
		s.receipts = append(s.receipts, receipt{value: v, at: at})
		s.received.Add(1)
	}
}

// eventFanout runs EVENT_FANOUT.
func (r *runner) eventFanout(ctx context.Context, t *target, ws []*worker, srv *proc) result {
	res := result{Scenario: scEventFanout}
	errs := errorTally{}
	f := &fanout{}
	subs := make([]*subscriber, r.cfg.subscribers)
	for i := range subs {
		conn, err := t.dialWS(ctx)
		if err == nil {
			err = startEvents(conn, r.cfg.namespace)
		}
		if err != nil {
			errs.add("subscribe", err.Error(), 1)
			for _, s := range subs[:i] {
				_ = s.conn.Close()
			}
			res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
			return res
		}
		subs[i] = &subscriber{conn: conn, seen: map[int64]bool{}, last: map[string]int64{}}
	}
	var readers sync.WaitGroup
	for _, s := range subs {
		readers.Go(func() { s.read(f) })
	}
	r.logf("%s: %d sessions follow the events; modifies at %g/s", scEventFanout, len(subs), r.cfg.fanoutRate)
	o := f.op(r)
	pick := pacedPick(randomPick(r.cfg.n), r.cfg.fanoutRate)
	cpu := startCPU(pidOf(srv))
	p := runPhase(ctx, t, ws, o, pick, r.cfg.d, true)
	r.acked += p.ops
	// Wait for the stragglers: every acknowledged write to every session.
	want := p.ops * int64(len(subs))
	deadline := time.Now().Add(fanoutDrain)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		var got int64
		for _, s := range subs {
			got += s.received.Load()
		}
		if got >= want {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	elapsed := p.elapsed
	serverCPU, loadCPU := cpu.cores()
	for _, s := range subs {
		_ = s.conn.Close()
	}
	readers.Wait()
	var got, lost, reordered, foreign, dup int64
	for _, s := range subs {
		got += int64(len(s.seen))
		reordered += s.reordered
		foreign += s.foreign
		dup += s.duplicates
		if s.err != nil {
			errs.add("session failed", s.err.Error(), 1)
		}
	}
	lost = want - got
	if lost > 0 {
		errs.add("event lost", fmt.Sprintf("%d of %d events (%d writes x %d sessions) did not arrive within %s", lost, want, p.ops, len(subs), fanoutDrain), lost)
	}
	if dup > 0 {
		errs.add("event duplicated", "a write's event received twice by one session", dup)
	}
	if reordered > 0 {
		errs.add("event reordered", "an event older than one already received for the same thing", reordered)
	}
	errs.merge(p.errs)
	lat := since(subs, &f.sent)
	res.Ops, res.Elapsed = got, elapsed
	res.P50, res.P99 = percentile(lat, 50), percentile(lat, 99)
	res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
	res.ServerCPU, res.LoadCPU = serverCPU, loadCPU
	res.RSS = rssOf(srv)
	fromAnswer := since(subs, &f.answered)
	early, _ := slices.BinarySearch(fromAnswer, 1) // the zeros, first
	res.Note = fmt.Sprintf("%d modifies acknowledged (%s/s) x %d sessions = %d events wanted, %d received, %d lost, %d reordered; latency from the modify's send to each session's receipt; from the modify's answer: p50 %s, p99 %s (%.0f%% of the events arrived before their modify's answer, counted as 0)",
		p.ops, fmtRate(float64(p.ops)/elapsed.Seconds()), len(subs), want, got, max(lost, 0), reordered,
		fmtSince(fromAnswer, 50), fmtSince(fromAnswer, 99), 100*float64(early)/float64(max(1, len(fromAnswer))))
	if foreign > 0 {
		res.Note += fmt.Sprintf("; %d events of other writes", foreign)
	}
	return res
}

// wsIdle runs WS_IDLE: it opens the sessions, c at a time, and measures the
// server's RSS with them open.
func (r *runner) wsIdle(ctx context.Context, t *target, srv *proc) result {
	res := result{Scenario: scWSIdle, ServerCPU: -1, LoadCPU: -1}
	errs := errorTally{}
	before := rssOf(srv)
	n := r.cfg.idleSessions
	conns := make([]*websocket.Conn, n)
	var next atomic.Int64
	var failed atomic.Int64
	var mu sync.Mutex
	start := time.Now()
	var wg sync.WaitGroup
	for range min(r.cfg.c, n) {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				conn, err := t.dialWS(ctx)
				if err != nil {
					failed.Add(1)
					mu.Lock()
					errs.add("open session", err.Error(), 1)
					mu.Unlock()
					continue
				}
				conns[i] = conn
			}
		})
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	// Held for a moment: the server has settled its buffers.
	time.Sleep(2 * time.Second)
	open := int64(n) - failed.Load()
	// Every session must still answer: one command over each.
	alive := int64(0)
	for _, conn := range conns {
		if conn == nil {
			continue
		}
		if conn.WriteMessage(websocket.TextMessage, []byte("STOP-SEND-EVENTS")) == nil {
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			if _, data, err := conn.ReadMessage(); err == nil && string(data) == "STOP-SEND-EVENTS:ACK" {
				alive++
				continue
			}
		}
		errs.add("session not answering", "no STOP-SEND-EVENTS:ACK", 1)
	}
	res.RSS = rssOf(srv)
	for _, conn := range conns {
		if conn != nil {
			_ = conn.Close()
		}
	}
	res.Ops = alive
	res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
	if before > 0 && res.RSS > 0 && open > 0 {
		res.Note = fmt.Sprintf("%d sessions opened in %s; server RSS %s before, %s with them open: %.1f KiB per session",
			open, fmtDur(res.Elapsed), fmtBytes(before), fmtBytes(res.RSS), float64(res.RSS-before)/float64(open)/1024)
	} else {
		res.Note = fmt.Sprintf("%d sessions opened in %s (no server RSS with -url)", open, fmtDur(res.Elapsed))
	}
	return res
}

// device answers every live message it gets with 200 and its payload,
// until the connection closes.
func device(conn *websocket.Conn, answered *atomic.Int64, failed *atomic.Value) {
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return
		}
		env, err := protocol.DecodeEnvelopeTrusted(data)
		if err != nil || !strings.Contains(env.Topic, "/things/live/messages/") || env.Status != 0 {
			continue
		}
		out := protocol.Envelope{
			Topic: env.Topic,
			Headers: protocol.Headers{
				protocol.HeaderCorrelationID: env.Headers[protocol.HeaderCorrelationID],
				protocol.HeaderContentType:   "application/json",
			},
			Path:   strings.Replace(env.Path, "/inbox/", "/outbox/", 1),
			Value:  env.Value,
			Status: http.StatusOK,
		}
		b, err := out.AppendJSON(nil)
		if err == nil {
			err = conn.WriteMessage(websocket.TextMessage, b)
		}
		if err != nil {
			failed.Store(err.Error())
			return
		}
		answered.Add(1)
	}
}

// liveMessages runs DEVICE_LIVE_MESSAGES.
func (r *runner) liveMessages(ctx context.Context, t *target, ws []*worker, srv *proc) result {
	conn, err := t.dialWS(ctx)
	if err == nil {
		err = startStream(conn, "START-SEND-MESSAGES?namespaces="+r.cfg.namespace)
	}
	if err != nil {
		errs := errorTally{}
		errs.add("device session", err.Error(), 1)
		return result{Scenario: scLiveMessages, Errors: 1, ErrorKinds: errs.sorted()}
	}
	var answered atomic.Int64
	var failed atomic.Value
	done := make(chan struct{})
	go func() { defer close(done); device(conn, &answered, &failed) }()
	o := &op{
		method: "POST",
		path: func(i int) string {
			return r.corpus.thing[i] + "/inbox/messages/" + liveSubject + "?timeout=10s"
		},
		body: func(*worker, int) []byte { return []byte(liveMessageBody) },
		check: func(_ int, body []byte) error {
			if string(body) != liveMessageBody {
				return fmt.Errorf("answer %q, want the device's %q", body, liveMessageBody)
			}
			return nil
		},
	}
	res := r.load(ctx, scLiveMessages, t, ws, srv, o)
	_ = conn.Close()
	<-done
	res.Note = fmt.Sprintf("one WebSocket session answered %d messages", answered.Load())
	if e, ok := failed.Load().(string); ok {
		res.Note += "; it failed: " + e
	}
	return res
}

// websocket runs the selected WebSocket scenarios.
func (r *runner) websocket(ctx context.Context, t *target, ws []*worker, srv *proc, checked func() error) error {
	if r.cfg.selected(scLiveMessages) {
		res := r.liveMessages(ctx, t, ws, srv)
		if err := checked(); err != nil {
			return err
		}
		r.add(res)
	}
	if r.cfg.selected(scEventFanout) {
		res := r.eventFanout(ctx, t, ws, srv)
		if err := checked(); err != nil {
			return err
		}
		r.add(res)
	}
	if r.cfg.selected(scWSIdle) {
		r.logf("%s: opening %d sessions, %d at a time", scWSIdle, r.cfg.idleSessions, r.cfg.c)
		res := r.wsIdle(ctx, t, srv)
		if err := checked(); err != nil {
			return err
		}
		r.add(res)
	}
	return nil
}
