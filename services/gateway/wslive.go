package gateway

import (
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/logging"
)

// A live message or live command a session receives may wait for its
// answer: the sender's NATS reply subject is kept under the signal's
// correlation-id until the signal's timeout, and the session's answer with
// that correlation-id is published there, straight to the gateway that
// waits for it. Answers nobody waits for (any more) are dropped, as Ditto
// drops them.
//
// An answer to a live command must fit the command, as Ditto's
// CommandAndCommandResponseMatchingValidator requires: a response of the
// same action at the same path of the same thing, or an error. One that
// does not is dropped and the command keeps waiting for a fitting answer
// (Ditto's sender then gets command.timeout, whose description names the
// unfit answer; here the device's gateway is not the sender's, so the
// sender's 408 cannot tell).

// pendingAnswer is where the answer to a received message or command goes.
type pendingAnswer struct {
	reply   string
	expires time.Time
	// command is set for a live command, whose answer is checked against
	// topic and path; withoutValue drops the answer's value (the sender
	// may not read all of the command's resource).
	command      bool
	topic        protocol.Topic
	path         string
	withoutValue bool
}

// maxPendingAnswers bounds the signals a session may hold unanswered;
// beyond it the oldest expire first.
const maxPendingAnswers = 1024

// makeRoom readies m, which holds at most max entries, for one more: when
// it is full, the entries expired at now go, and if none did, the one
// that expires first.
func makeRoom[V any](m map[string]V, max int, now time.Time, expires func(V) time.Time) {
	if len(m) < max {
		return
	}
	var oldest string
	var at time.Time
	for k, v := range m {
		if e := expires(v); e.Before(now) {
			delete(m, k)
		} else if oldest == "" || e.Before(at) {
			oldest, at = k, e
		}
	}
	if len(m) >= max {
		delete(m, oldest)
	}
}

// expectAnswer notes that the session got the live message or command ev,
// which wants an answer when it has a reply subject.
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
	makeRoom(s.answers, maxPendingAnswers, now, func(p pendingAnswer) time.Time { return p.expires })
	s.answers[cid] = pendingAnswer{
		reply: ev.reply, expires: now.Add(timeout),
		command: ev.stream == streamLiveCommands, topic: ev.topic, path: ev.env.Path,
		withoutValue: ev.answerWithoutValue,
	}
}

// answerMessage passes a session's answer to a live message or command
// (a response with a status, or an error on .../things/live/errors) on to
// its sender.
func (s *wsSession) answerMessage(env protocol.Envelope) {
	cid := env.Headers[protocol.HeaderCorrelationID]
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		return // the session's reader parsed it
	}
	s.mu.Lock()
	p, ok := s.answers[cid]
	expired := ok && time.Now().After(p.expires)
	fits := ok && p.fits(topic, env.Path)
	if fits || expired {
		delete(s.answers, cid)
	}
	s.mu.Unlock()
	switch {
	case !ok || expired:
		s.log.Debug("answer to no signal waiting", logging.CorrelationID(cid))
		return
	case !fits:
		s.log.Debug("answer does not fit the live command", logging.CorrelationID(cid), "topic", env.Topic, "path", env.Path,
			"command_topic", p.topic.String(), "command_path", p.path)
		return
	}
	env.Headers[protocol.HeaderResponseRequired] = "false"
	if p.withoutValue && topic.Criterion != protocol.CriterionErrors {
		env.Value = nil
	}
	data, err := env.AppendJSON(nil)
	if err != nil {
		s.log.Warn("live answer not encodable", "topic", env.Topic, logging.CorrelationID(cid), "err", err)
		return
	}
	if err := s.g.nc.Publish(p.reply, data); err != nil {
		s.log.Warn("pass on live answer", logging.CorrelationID(cid), "err", err)
	}
}

// fits reports whether an answer with topic and path answers p: any
// answer on the live channel of the same thing answers a message (as
// before); a command's is an error, or a response of the command's action
// at its path (paths compared as Ditto's JSON pointers, so "/a/" is "/a").
func (p pendingAnswer) fits(topic protocol.Topic, path string) bool {
	if topic.Channel != protocol.ChannelLive || topic.EntityID() != p.topic.EntityID() {
		return false
	}
	if topic.Criterion == protocol.CriterionErrors {
		return true
	}
	if !p.command {
		return topic.Criterion == protocol.CriterionMessages
	}
	return topic.Criterion == protocol.CriterionCommands && topic.Action == p.topic.Action && samePath(path, p.path)
}
