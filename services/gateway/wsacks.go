package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/gorilla/websocket"
	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/logging"
)

// Acknowledgements on the WebSocket, both ways:
//
//   - A session declares the labels it issues with the declared-acks
//     query parameter (or header) of its upgrade request. Each label is
//     held by one subscriber in the whole installation: the session answers
//     requests on the label's subject (streams.Names.AckLabel) and, before
//     taking a label, asks whether anybody holds it; a taken label ends the
//     session at once with Ditto's acknowledgement:label.not.unique. (Two
//     sessions declaring the same label in the same instant may both get
//     it: the check is not a lock.)
//   - An event that requests a label the session declared is remembered by
//     its correlation-id and address when the session gets it; the
//     acknowledgement the client then sends (topic
//     <ns>/<name>/things/<channel>/acks/<label>, the event's correlation-id,
//     a status and an optional value) goes to that address. When the
//     session does not get the event (not subscribed, filtered out, not
//     readable for it, its own change), it sends a weak acknowledgement
//     (200, ditto-weak-ack: true) at once, as Ditto does, so that the
//     requester does not wait for an acknowledgement that cannot come.
//   - A command the session sends with requested-acks beyond
//     twin-persisted is answered with Ditto's aggregated acknowledgements
//     message (topic <ns>/<name>/things/twin/acks, every label's status,
//     payload and headers in value, the combined status).

// ackRequest is what an event asks of its subscribers: the custom labels
// and where their acknowledgements go.
type ackRequest struct {
	labels  []string
	address string
}

// eventAckRequest reads an event's acknowledgement request, nil for none.
func eventAckRequest(h protocol.Headers) *ackRequest {
	addr := h[protocol.HeaderAckregatorAddress]
	if addr == "" {
		return nil
	}
	var labels []string
	if json.Unmarshal([]byte(h[protocol.HeaderRequestedAcks]), &labels) != nil || len(labels) == 0 {
		return nil
	}
	return &ackRequest{labels: labels, address: addr}
}

// pendingAcks is an event the session got whose acknowledgements its
// client is to send.
type pendingAcks struct {
	address string
	thingID string
	labels  []string // declared by the session and not yet sent
	expires time.Time
}

// maxPendingAcks bounds the events a session holds for acknowledgements;
// beyond it the oldest are forgotten.
const maxPendingAcks = 1024

// pendingAckTTL is how long a session keeps an event's address: the
// longest timeout a command may have.
const pendingAckTTL = protocol.MaxCommandTimeout

// declaredAcks reads and checks the labels a WebSocket upgrade request
// declares, before the upgrade: an invalid label is Ditto's
// acknowledgement:label.invalid, a built-in one
// acknowledgement:ditto.acklabel.forbidden.
func declaredAcks(r *http.Request) ([]string, *protocol.Error) {
	h, perr := commandHeaders(r, r.URL.Query())
	if perr != nil {
		return nil, perr
	}
	v, ok := h[protocol.HeaderDeclaredAcks]
	if !ok {
		return nil, nil
	}
	var labels []string
	if err := json.Unmarshal([]byte(v), &labels); err != nil {
		return nil, protocol.ErrHeaderInvalid(protocol.HeaderDeclaredAcks, v, "JSON array")
	}
	var out []string
	for _, l := range labels {
		switch {
		case protocol.IsBuiltinAck(l):
			return nil, protocol.ErrAckLabelForbidden(l)
		case !protocol.ValidAckLabel(l):
			return nil, protocol.ErrAckLabelInvalid(l)
		case !contains(out, l):
			out = append(out, l)
		}
	}
	return out, nil
}

// labelHolderAnswer is what a session holding a label answers to whoever
// asks for it.
var labelHolderAnswer = []byte("taken")

// claimLabels takes the session's declared labels, or reports that one of
// them is held by another subscriber. The subscriptions answer for the
// labels until the session ends.
func (s *wsSession) claimLabels() (bool, error) {
	for _, l := range s.declared {
		_, err := s.g.nc.Request(s.g.names.AckLabel(l), nil, labelCheckTimeout)
		switch {
		case err == nil:
			return false, nil // somebody holds it
		case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrTimeout):
		default:
			return false, err
		}
	}
	for _, l := range s.declared {
		sub, err := s.g.nc.Subscribe(s.g.names.AckLabel(l), func(m *nats.Msg) { _ = m.Respond(labelHolderAnswer) })
		if err != nil {
			return false, err
		}
		s.labelSubs = append(s.labelSubs, sub)
	}
	return true, s.g.nc.Flush()
}

// labelCheckTimeout bounds the wait for a holder of a label; with nobody
// holding it NATS answers at once (no responders).
const labelCheckTimeout = 2 * time.Second

// releaseLabels gives up the session's labels.
func (s *wsSession) releaseLabels() {
	for _, sub := range s.labelSubs {
		_ = sub.Unsubscribe()
	}
}

// startAcks claims the declared labels after the upgrade and joins the
// event hub, so that events requesting them reach the session even when it
// did not start events (it then acknowledges them weakly). False when the
// session was ended.
func (s *wsSession) startAcks() bool {
	if len(s.declared) == 0 {
		return true
	}
	ok, err := s.claimLabels()
	if err != nil {
		s.log.Warn("declare acknowledgement labels", "err", err)
		s.closeWithError(protocol.ErrGatewayServiceUnavailable())
		return false
	}
	if !ok {
		s.closeWithError(protocol.ErrAckLabelNotUnique())
		return false
	}
	s.startEventLoop()
	if err := s.g.hub.join(s); err != nil {
		s.log.Warn("subscribe for acknowledgement requests", "err", err)
		s.closeWithError(protocol.ErrGatewayServiceUnavailable())
		return false
	}
	return true
}

// closeWithError sends perr and closes the session, as Ditto ends a
// WebSocket whose labels are taken.
func (s *wsSession) closeWithError(perr *protocol.Error) {
	frame, err := protocol.ErrorEnvelope(protocol.FallbackErrorTopic(), nil, "/", perr).AppendJSON(nil)
	if err == nil {
		_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
		_ = s.conn.WriteMessage(websocket.TextMessage, frame)
	}
	_ = s.conn.WriteControl(websocket.CloseMessage,
		websocket.FormatCloseMessage(websocket.ClosePolicyViolation, perr.Code), time.Now().Add(time.Second))
	s.close()
}

// declares returns the labels of req the session declared.
func (s *wsSession) declares(req *ackRequest) []string {
	var out []string
	for _, l := range req.labels {
		if contains(s.declared, l) {
			out = append(out, l)
		}
	}
	return out
}

// expectAcks notes that the session got ev, whose acknowledgements for
// the labels it declared its client is to send.
func (s *wsSession) expectAcks(ev *hubEvent) {
	if ev.acks == nil || len(s.declared) == 0 {
		return
	}
	labels := s.declares(ev.acks)
	cid := ev.env.Headers[protocol.HeaderCorrelationID]
	if len(labels) == 0 || cid == "" {
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ackees == nil {
		s.ackees = map[string]pendingAcks{}
	}
	makeRoom(s.ackees, maxPendingAcks, now, func(p pendingAcks) time.Time { return p.expires })
	s.ackees[cid] = pendingAcks{address: ev.acks.address, thingID: ev.topic.EntityID(), labels: labels, expires: now.Add(pendingAckTTL)}
}

// weakAcks acknowledges weakly the labels the session declared of an
// event it does not get.
func (s *wsSession) weakAcks(ev *hubEvent) {
	// Announcements reach only the sessions of the subjects they name,
	// which acknowledge them or not: nobody acknowledges them weakly.
	if ev.acks == nil || len(s.declared) == 0 || ev.stream == streamPolicyAnnouncements {
		return
	}
	for _, l := range s.declares(ev.acks) {
		h := protocol.Headers{protocol.HeaderWeakAck: "true"}
		if cid, ok := ev.env.Headers[protocol.HeaderCorrelationID]; ok {
			h[protocol.HeaderCorrelationID] = cid
		}
		env := ackEnvelope(ev.topic.EntityID(), ev.topic.Channel, l, http.StatusOK, h, json.RawMessage(weakAckPayload))
		if err := s.g.sendAck(ev.acks.address, env); err != nil {
			s.log.Debug("weak acknowledgement", "label", l, logging.CorrelationID(ev.env.Headers[protocol.HeaderCorrelationID]), "err", err)
		}
	}
}

// issueAck passes an acknowledgement the client sent on to the request
// that waits for it. A label the session did not declare is Ditto's
// acknowledgement:label.not.declared (a built-in one
// acknowledgement:ditto.acklabel.forbidden); an acknowledgement for which
// no event is waiting is dropped, as Ditto drops it.
func (s *wsSession) issueAck(topic protocol.Topic, env protocol.Envelope) {
	label := topic.Action
	switch {
	case protocol.IsBuiltinAck(label):
		s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, protocol.ErrAckLabelForbidden(label)))
		return
	case !contains(s.declared, label):
		s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, protocol.ErrAckLabelNotDeclared(label)))
		return
	}
	cid := env.Headers[protocol.HeaderCorrelationID]
	s.mu.Lock()
	p, ok := s.ackees[cid]
	if ok {
		rest := p.labels[:0:0]
		for _, l := range p.labels {
			if l != label {
				rest = append(rest, l)
			}
		}
		if len(rest) == len(p.labels) {
			ok = false // already sent, or not requested
		} else if len(rest) == 0 {
			delete(s.ackees, cid)
		} else {
			p.labels = rest
			s.ackees[cid] = p
		}
	}
	s.mu.Unlock()
	if !ok || time.Now().After(p.expires) || topic.EntityID() != p.thingID {
		s.log.Debug("acknowledgement nobody waits for", "label", label, logging.CorrelationID(cid))
		return
	}
	status := env.Status
	if status == 0 {
		status = http.StatusOK
	}
	channel := topic.Channel
	if channel == "" {
		// An acknowledgement of a policy announcement: passed on in the
		// one form acknowledgements have in Ditto's protocol.
		channel = protocol.ChannelTwin
	}
	out := ackEnvelope(p.thingID, channel, label, status, externalHeaders(env.Headers), env.Value)
	if err := s.g.sendAck(p.address, out); err != nil {
		s.log.Warn("pass on acknowledgement", "label", label, logging.CorrelationID(cid), "err", err)
	}
}

// aggregatedAcks is Ditto's Acknowledgements message for a WebSocket
// client: every ack by label in value, each with its status, payload (if
// any) and headers (if any), and the combined status.
func aggregatedAcks(thingID, channel, cid string, acks []ack) protocol.Envelope {
	out := appendAcks(nil, acks, false)
	return protocol.Envelope{
		Topic:   protocol.NewTopic(thingID, protocol.GroupThings, channel, protocol.CriterionAcks, "").String(),
		Headers: protocol.Headers{protocol.HeaderCorrelationID: cid, protocol.HeaderContentType: "application/json", protocol.HeaderResponseRequired: "false"},
		Path:    "/",
		Value:   out,
		Status:  combinedStatus(acks),
	}
}
