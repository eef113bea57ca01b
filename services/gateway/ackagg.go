package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/streams"
)

// Custom acknowledgements, as Ditto's AcknowledgementAggregatorActor
// collects them. A twin command whose requested-acks name labels other than
// the built-in ones gets an address, a NATS subject of this gateway
// process (ditto-ackgregator-address, an internal header no client can
// set). The things service copies the address and the custom labels into
// the command's event; the WebSocket session that declared a label and
// receives the event (on any gateway) sends the acknowledgement its client
// issues to that address, or a weak acknowledgement when the event is not
// for it (filtered out, not readable, not subscribed). The gateway that
// sent the command waits for every label until the command's timeout and
// answers with all of them together (aggregatedJSON), a label nobody
// acknowledged in time as Ditto's 408 acknowledgement:request.timeout.

// ackHub routes the acknowledgements addressed to this gateway process to
// the requests waiting for them: one NATS subscription, made when the first
// request needs it.
type ackHub struct {
	nc    *nats.Conn
	names streams.Names
	token string // this process's subject token
	seq   atomic.Uint64

	mu      sync.Mutex
	sub     *nats.Subscription
	waiting map[string]*ackWait
}

func newAckHub(nc *nats.Conn, names streams.Names) *ackHub {
	return &ackHub{nc: nc, names: names, token: nuid.Next(), waiting: map[string]*ackWait{}}
}

// ackWait collects the custom acknowledgements of one request.
type ackWait struct {
	hub     *ackHub
	id      string
	address string
	acks    chan ack
}

// open returns a new address and what arrives there, for labels.
func (h *ackHub) open(labels int) (*ackWait, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.sub == nil {
		sub, err := h.nc.Subscribe(h.names.AcksOf(h.token), h.deliver)
		if err != nil {
			return nil, err
		}
		// The subscription is known to the server before the first
		// address is handed out.
		if err := h.nc.Flush(); err != nil {
			_ = sub.Unsubscribe()
			return nil, err
		}
		h.sub = sub
	}
	id := strconv.FormatUint(h.seq.Add(1), 36)
	w := &ackWait{hub: h, id: id, address: h.names.Acks(h.token, id), acks: make(chan ack, 2*labels)}
	h.waiting[id] = w
	return w, nil
}

// close stops the delivery to w.
func (w *ackWait) close() {
	w.hub.mu.Lock()
	delete(w.hub.waiting, w.id)
	w.hub.mu.Unlock()
}

// deliver is the NATS callback of the address subscription: an
// acknowledgement as a Ditto Protocol message.
func (h *ackHub) deliver(m *nats.Msg) {
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	h.mu.Lock()
	w := h.waiting[id]
	h.mu.Unlock()
	if w == nil {
		return // its request was answered or timed out
	}
	a, ok := decodeAck(m.Data)
	if !ok {
		return
	}
	select {
	case w.acks <- a:
	default: // more than asked for: the first ones count
	}
}

// decodeAck reads an acknowledgement message.
func decodeAck(data []byte) (ack, bool) {
	env, err := protocol.DecodeEnvelope(data)
	if err != nil {
		return ack{}, false
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil || topic.Criterion != protocol.CriterionAcks || topic.Action == "" {
		return ack{}, false
	}
	a := ack{label: topic.Action, status: env.Status, headers: clientHeaders(env.Headers)}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	delete(a.headers, protocol.HeaderResponseRequired)
	if len(env.Value) > 0 {
		a.payload = env.Value
	}
	return a, true
}

// ackPlan is what a command's requested-acks ask of the gateway.
type ackPlan struct {
	labels []string // in the order requested, without repeats
	search bool     // search-persisted is among them
	custom int      // how many are custom labels
	wait   *ackWait // where custom ones arrive; nil without
	// live marks a live message or command: its response is the device's
	// answer, the live-response acknowledgement.
	live bool
}

// planAcks returns the plan for the command c with headers h, or nil when
// its answer is the plain response. On the twin channel (modifying thing
// commands) that is when no acknowledgement but twin-persisted is
// requested, which the response is; Ditto ignores live-response there. On
// the live channel (messages and commands) it is when no custom label is
// requested: the device's answer is live-response; twin-persisted and
// search-persisted are ignored there. The custom labels get an address,
// written to the command's headers.
func (g *Gateway) planAcks(c *command.Request, h protocol.Headers) (*ackPlan, error) {
	if _, requested := h[protocol.HeaderRequestedAcks]; !requested || c.Group != protocol.GroupThings {
		return nil, nil // the plain response (live: the device's answer)
	}
	p := &ackPlan{}
	switch t := c.Envelope.Topic; {
	case strings.Contains(t, "/things/twin/commands/"):
		if !modifying(t) {
			return nil, nil
		}
	case strings.Contains(t, "/things/live/messages/"), strings.Contains(t, "/things/live/commands/"):
		p.live = true
	default:
		return nil, nil
	}
	for _, l := range requestedAcks(h) {
		switch {
		case l == protocol.AckLiveResponse && !p.live,
			(l == protocol.AckTwinPersisted || l == protocol.AckSearchPersisted) && p.live:
			continue
		case l == protocol.AckSearchPersisted:
			p.search = true
		case !protocol.IsBuiltinAck(l):
			p.custom++
		}
		p.labels = append(p.labels, l)
	}
	if !p.search && p.custom == 0 {
		return nil, nil
	}
	if p.custom > 0 {
		w, err := g.ackHub.open(p.custom)
		if err != nil {
			return nil, err
		}
		p.wait = w
		c.Envelope.Headers[protocol.HeaderAckregatorAddress] = w.address
	}
	return p, nil
}

// done releases the plan's address.
func (p *ackPlan) done() {
	if p != nil && p.wait != nil {
		p.wait.close()
	}
}

// modifying reports whether the command topic t changes its entity.
func modifying(t string) bool {
	i := strings.LastIndexByte(t, '/')
	return i >= 0 && t[i+1:] != protocol.ActionRetrieve
}

// ackContext is what collecting a command's acknowledgements needs to know
// of its request.
type ackContext struct {
	ctx           context.Context
	auth          string // the caller, as command.Request carries it
	correlationID string
	thingID       string
	location      string // of a created thing, for twin-persisted
	deleted       bool   // the command deleted the thing
	timeout       time.Duration
	started       time.Time
}

// collect gathers the acknowledgements of p for the successful reply: its
// own twin-persisted, search-persisted from the search service and the
// custom ones from their subscribers, until every one is in or the
// request's timeout passed. Only the request's context ending is an error.
func (g *Gateway) collect(ac ackContext, p *ackPlan, reply protocol.Envelope) ([]ack, error) {
	got := make(map[string]ack, len(p.labels))
	var searched chan ack
	if p.search {
		searched = make(chan ack, 1)
		rev, _ := strconv.ParseInt(reply.Headers[protocol.HeaderEntityRevision], 10, 64)
		go func() {
			a, err := g.awaitIndexed(ac, rev, ac.timeout-time.Since(ac.started))
			if err != nil {
				a = ack{} // the context ended; noticed below
			}
			searched <- a
		}()
	}
	var customs <-chan ack
	if p.wait != nil {
		customs = p.wait.acks
	}
	missing := p.custom
	if p.search {
		missing++
	}
	take := func(a ack) bool {
		if _, dup := got[a.label]; dup || !contains(p.labels, a.label) || protocol.IsBuiltinAck(a.label) {
			return false
		}
		got[a.label] = a
		return true
	}
	timer := time.NewTimer(max(ac.timeout-time.Since(ac.started), 0))
	defer timer.Stop()
	for missing > 0 {
		select {
		case <-ac.ctx.Done():
			return nil, ac.ctx.Err()
		case a := <-searched:
			searched = nil
			if a.label == "" {
				return nil, context.Canceled
			}
			got[a.label] = a
			missing--
		case a := <-customs:
			if take(a) {
				missing--
			}
		case <-timer.C:
			// What arrived while the command ran still counts.
			for drained := false; !drained; {
				select {
				case a := <-customs:
					take(a)
				default:
					drained = true
				}
			}
			missing = 0
		}
	}
	acks := make([]ack, 0, len(p.labels))
	for _, l := range p.labels {
		switch l {
		case protocol.AckTwinPersisted:
			acks = append(acks, twinPersisted(reply, ac.location))
			continue
		case protocol.AckLiveResponse:
			acks = append(acks, liveResponse(reply, ac))
			continue
		}
		a, ok := got[l]
		if !ok {
			a = ack{label: l, status: http.StatusRequestTimeout, payload: errorJSON(protocol.ErrAckRequestTimeout(ac.timeout)),
				headers: protocol.Headers{protocol.HeaderCorrelationID: ac.correlationID}}
		}
		acks = append(acks, a)
	}
	return acks, nil
}

// weakAckPayload is the payload of a weak acknowledgement, Ditto's text.
const weakAckPayload = `"Acknowledgement was issued automatically as weak ack, because the signal is not relevant for the subscriber. Possible reasons are: the subscriber did not subscribe for the signal type, or the signal was dropped by a configured RQL filter."`

// sendAck publishes an acknowledgement message to address, which must be
// an acknowledgement subject.
func (g *Gateway) sendAck(address string, env protocol.Envelope) error {
	if !strings.HasPrefix(address, g.names.Prefix()+".acks.") {
		return errors.New("not an acknowledgement address: " + address)
	}
	data, err := env.AppendJSON(nil)
	if err != nil {
		return err
	}
	return g.nc.Publish(address, data)
}

// ackEnvelope is the acknowledgement message of label for the thing
// thingID, as a subscriber issues it.
func ackEnvelope(thingID, channel, label string, status int, headers protocol.Headers, payload json.RawMessage) protocol.Envelope {
	return protocol.Envelope{
		Topic:   protocol.NewTopic(thingID, protocol.GroupThings, channel, protocol.CriterionAcks, label).String(),
		Headers: headers,
		Path:    "/",
		Value:   payload,
		Status:  status,
	}
}

// liveResponse is the live-response acknowledgement of a live signal's
// reply: the device's answer (its status, value and external headers), or
// the acknowledgement timeout when none came (a zero reply).
func liveResponse(reply protocol.Envelope, ac ackContext) ack {
	if reply.Status == 0 && reply.Topic == "" {
		return ack{label: protocol.AckLiveResponse, status: http.StatusRequestTimeout,
			payload: errorJSON(protocol.ErrAckRequestTimeout(ac.timeout)),
			headers: protocol.Headers{protocol.HeaderCorrelationID: ac.correlationID}}
	}
	a := ack{label: protocol.AckLiveResponse, status: reply.Status, headers: clientHeaders(reply.Headers)}
	if a.status == 0 {
		a.status = http.StatusOK
	}
	delete(a.headers, protocol.HeaderResponseRequired)
	a.headers[protocol.HeaderCorrelationID] = ac.correlationID
	if len(reply.Value) > 0 {
		a.payload = reply.Value
	}
	return a
}

// liveOutcome turns the result of sending a live signal with a plan into
// the reply to collect acknowledgements on: the device not answering in
// time is no failure of the request but a live-response that timed out
// (a zero reply).
func liveOutcome(p *ackPlan, reply protocol.Envelope, err error) (protocol.Envelope, error) {
	if err == nil || p == nil || !p.live {
		return reply, err
	}
	if perr := protocol.AsError(err); perr != nil && perr.Status == http.StatusRequestTimeout {
		return protocol.Envelope{}, nil
	}
	return reply, err
}
