package gateway

import (
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// A live message a session receives may wait for its answer: the sender's
// NATS reply subject is kept under the message's correlation-id until the
// message's timeout, and the session's message with that correlation-id and
// a status is published there, straight to the gateway that waits for it.
// Answers nobody waits for (any more) are dropped, as Ditto drops them.

// pendingAnswer is where the answer to a received message goes.
type pendingAnswer struct {
	reply   string
	expires time.Time
}

// maxPendingAnswers bounds the messages a session may hold unanswered;
// beyond it the oldest expire first.
const maxPendingAnswers = 1024

// expectAnswer notes that the session got the message ev, which wants an
// answer when it has a reply subject.
func (s *wsSession) expectAnswer(ev *hubEvent) {
	cid := ev.env.Headers[protocol.HeaderCorrelationID]
	if ev.reply == "" || cid == "" {
		return
	}
	timeout := defaultMessageTimeout
	if v, ok := ev.env.Headers[protocol.HeaderTimeout]; ok {
		if d, err := protocol.ParseTimeout(v); err == nil {
			timeout = d
		}
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.answers == nil {
		s.answers = map[string]pendingAnswer{}
	}
	if len(s.answers) >= maxPendingAnswers {
		var oldest string
		var at time.Time
		for k, p := range s.answers {
			if p.expires.Before(now) {
				delete(s.answers, k)
				continue
			}
			if oldest == "" || p.expires.Before(at) {
				oldest, at = k, p.expires
			}
		}
		if len(s.answers) >= maxPendingAnswers {
			delete(s.answers, oldest)
		}
	}
	s.answers[cid] = pendingAnswer{reply: ev.reply, expires: now.Add(timeout)}
}

// answerMessage passes a session's answer to a message on to its sender.
func (s *wsSession) answerMessage(env protocol.Envelope) {
	cid := env.Headers[protocol.HeaderCorrelationID]
	s.mu.Lock()
	p, ok := s.answers[cid]
	delete(s.answers, cid)
	s.mu.Unlock()
	if !ok || time.Now().After(p.expires) {
		s.log.Debug("answer to no message waiting", "correlation_id", cid)
		return
	}
	env.Headers[protocol.HeaderResponseRequired] = "false"
	data, err := env.AppendJSON(nil)
	if err != nil {
		s.log.Warn("message answer not encodable", "topic", env.Topic, "err", err)
		return
	}
	if err := s.g.nc.Publish(p.reply, data); err != nil {
		s.log.Warn("pass on message answer", "correlation_id", cid, "err", err)
	}
}
