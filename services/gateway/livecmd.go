package gateway

import (
	"context"
	"errors"
	"net/http"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/logging"
)

// Live commands and live events (Ditto's live channel, protocol-twinlive).
//
// A live command is a thing command a device answers instead of the twin:
// over WebSocket a message on .../things/live/commands/<action>, over HTTP
// any thing route with the channel header or query parameter "live". It is
// sent to the things service like a twin command; the service enforces it
// as the twin command and passes it on to the sessions that started
// START-SEND-LIVE-COMMANDS and may read it (the live hub, wsevents.go),
// with the sender's NATS reply subject. The first such session to answer
// (same correlation-id, a status; wslive.go) answers the sender: over
// WebSocket with the response envelope, over HTTP with its status,
// headers and value. Nothing answering within the timeout is Ditto's
// command.timeout (408): with only the built-in live-response
// acknowledgement requested, which is the default of a live command,
// Ditto's gateway answers a missing device response with
// CommandTimeoutException (edge/service/.../acknowledgements/
// AcknowledgementAggregatorActor.java, getDefaultGetAsTimeoutError and
// completeAcknowledgements). The timeout defaults to REQUEST_TIMEOUT, as
// Ditto's gateway writes its http.request-timeout into every command
// (httpapi-overview.md speaks of 10 seconds; the code does not).
//
// A live event is what a device reports itself, sent over WebSocket on
// .../things/live/events/<action>. The things service checks it and
// passes it on to the sessions that started START-SEND-LIVE-EVENTS, cut
// down like twin events; its emitter hears back only a refusal.

// headerAnswerValue is the NATS header by which the things service marks
// a live command whose sender may not read all of the addressed resource:
// with answerWithoutValue the device's answer goes to the sender without
// its value (services/things/live.go sets it under the same name).
const (
	headerAnswerValue  = "Ditto-Answer-Value"
	answerWithoutValue = "none"
)

// liveStream returns the stream a live signal belongs to, 0 for a topic
// that is no live message, command or event.
func liveStream(t protocol.Topic) streamingType {
	if t.Group != protocol.GroupThings || t.Channel != protocol.ChannelLive {
		return 0
	}
	switch t.Criterion {
	case protocol.CriterionMessages:
		return streamMessages
	case protocol.CriterionCommands:
		return streamLiveCommands
	case protocol.CriterionEvents:
		return streamLiveEvents
	}
	return 0
}

// samePath reports whether two paths name the same JSON pointer.
func samePath(a, b string) bool {
	pa, errA := jsonv.ParsePointer(a)
	pb, errB := jsonv.ParsePointer(b)
	if errA != nil || errB != nil {
		return a == b
	}
	return pa.Equal(pb)
}

// liveCommand acts on a live command a session sent: one with a status is
// the session's answer to a live command it received; any other is sent
// like a twin command, and its answer is the device's.
func (s *wsSession) liveCommand(ctx context.Context, topic protocol.Topic, env protocol.Envelope) {
	if env.Status != 0 {
		s.answerMessage(env) // wslive.go
		return
	}
	s.command(ctx, topic, env)
}

// liveEvent sends a live event the session emits to the things service,
// which passes it on. A refusal is answered on .../things/live/errors
// with the event's correlation-id, unless response-required is false;
// nothing else is answered.
func (s *wsSession) liveEvent(ctx context.Context, topic protocol.Topic, env protocol.Envelope) {
	if _, ok := env.Headers[protocol.HeaderCorrelationID]; !ok {
		env.Headers[protocol.HeaderCorrelationID] = newCorrelationID()
	}
	responseRequired := env.Headers[protocol.HeaderResponseRequired] != "false"
	fail := func(err *protocol.Error) {
		if responseRequired {
			s.reply(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, err))
		}
	}
	if err := env.Headers.Validate(); err != nil {
		fail(protocol.AsError(err))
		return
	}
	timeout, _, perr := headerTimeout(env.Headers, s.g.cfg.RequestTimeout)
	if perr != nil {
		fail(perr)
		return
	}
	// The session does not get its own event back.
	env.Headers[protocol.HeaderOrigin] = s.id
	req := command.Request{Group: protocol.GroupThings, EntityID: topic.EntityID(), Auth: s.caller.auth, Envelope: env, Timeout: timeout}
	if !responseRequired || timeout == 0 {
		if err := s.g.publish(req); err != nil {
			s.log.Debug("publish live event", "entity_id", req.EntityID, logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]), "err", err)
		}
		return
	}
	select {
	case s.inflight <- struct{}{}:
	default:
		fail(protocol.ErrTooManyRequests())
		return
	}
	go func() {
		answered := false // the writer returns the token with the answer
		defer func() {
			if !answered {
				<-s.inflight
			}
		}()
		reply, err := s.g.request(ctx, req)
		if errors.Is(err, nats.ErrMaxPayload) {
			err = s.g.tooLargeToSend(req)
		}
		var perr *protocol.Error
		switch {
		case err != nil:
			if perr = protocol.AsError(err); perr == nil {
				if ctx.Err() != nil {
					return // the session ended
				}
				s.log.Warn("live event", "entity_id", req.EntityID, logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]), "err", err)
				perr = protocol.ErrInternal()
			}
		default:
			var refused bool
			if perr, refused = reply.AsError(); !refused {
				return // taken: an event is not answered
			}
		}
		answered = s.answer(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, perr))
	}()
}

// liveReply is the device's response to the live command of an HTTP
// request as the request's answer: its correlation-id is the request's (a
// fitting answer has it anyway), and a 204 has no body.
func liveReply(ar *apiRequest, reply protocol.Envelope) protocol.Envelope {
	if reply.Headers == nil {
		reply.Headers = protocol.Headers{}
	}
	reply.Headers[protocol.HeaderCorrelationID] = ar.headers[protocol.HeaderCorrelationID]
	if reply.Status == http.StatusNoContent {
		reply.Value = nil
	}
	return reply
}
