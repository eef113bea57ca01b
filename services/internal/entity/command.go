package entity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/logging"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/streams"
)

// Command is one command addressed to an entity, as its Handler sees it.
type Command struct {
	Envelope protocol.Envelope
	Topic    protocol.Topic
	// EntityID is the addressed entity ("namespace:name").
	EntityID string
	// Auth holds the authenticated subjects ("issuer:subject") of the
	// caller; empty only for a service's internal command.
	Auth []string
	// Sudo marks a command that skips enforcement: an operator's on a sudo
	// subject, or a service's on an internal subject.
	Sudo bool
	// Deadline is when the caller stops waiting.
	Deadline time.Time
	// Reply is the NATS reply subject of the request, "" when its sender
	// wants no answer. Only a handler that forwards the command (see
	// Outcome.Forwarded) has a use for it.
	Reply string
	// History is set for a retrieve of an earlier revision (Ditto's
	// at-historical-revision or at-historical-timestamp): the entity as it
	// was then, rebuilt apart from the live one. The handler answers from
	// it, enforcing with the entity as it is now. Nil for every other
	// command, and for a historical retrieve of the current revision.
	History *State
}

// Event is the change a command makes, with the headers its event carries.
type Event struct {
	Change
	Headers protocol.Headers
}

// Outcome is what a Handler decided.
type Outcome struct {
	// Event is persisted and applied before Response is sent; nil for
	// commands that change nothing.
	Event *Event
	// Response is the reply envelope.
	Response protocol.Envelope
	// After, if set, runs once Event is persisted and applied (or at once
	// when there is none), with the entity's new state, and may replace
	// Response (e.g. to render the new revision into an ETag).
	After func(st *State, resp *protocol.Envelope)
	// Forwarded says that the handler passed the command on, with its
	// Reply, to whoever answers it (a live message goes to the device's
	// session, which answers the sender directly): the host sends no
	// response.
	Forwarded bool
}

// process runs one command on its entity: decode, check who sent it, load
// the entity if needed, let the Handler decide, persist and publish the
// event, reply.
func (h *Host) process(sl *slot, req *request) {
	defer sl.state.forget()
	cmd, ok := h.prepare(req)
	if !ok {
		return
	}
	env, topic := &cmd.Envelope, cmd.Topic
	dctx := newDeadlineCtx(h.base, cmd.Deadline)
	defer dctx.release()
	var ctx context.Context = dctx
	if h.tracer.Enabled() {
		var sp tracing.Span
		ctx, sp = h.tracer.StartConsumer(ctx, tracing.SpanProcess, command.CommandType(env.Topic, env.Path), req.msg.Header)
		sp.SetEntityID(req.entityID)
		sp.SetCorrelationID(env.Headers[protocol.HeaderCorrelationID])
		defer sp.End()
	}

	for attempt := 0; ; attempt++ {
		if !sl.loaded {
			if err := h.load(ctx, sl); err != nil {
				h.log.ErrorContext(ctx, "load entity", "entity_id", req.entityID, logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]), "err", err)
				h.replyError(req.msg, topic, *env, h.cfg.Errors.Unavailable(req.entityID))
				return
			}
		}
		if hr, err := historyRequest(req, cmd); err != nil || hr != nil {
			// A page of the entity's events (historyevents.go), read
			// beside the mailbox when it can.
			switch {
			case err != nil:
				h.replyError(req.msg, topic, *env, err)
			case !h.aside(ctx, req, cmd, &sl.state, func(ctx context.Context, req *request, cmd *Command, cur *State) {
				h.historyEvents(ctx, req, cmd, cur, hr)
			}):
				h.historyEvents(ctx, req, cmd, &sl.state, hr)
			}
			return
		}
		if isHistorical(cmd) && sl.state.Exists() {
			// A read of a past state, rebuilt apart from the live one,
			// beside the mailbox when it can (history.go).
			if !h.pastAside(ctx, req, cmd, &sl.state) {
				h.retrievePast(ctx, req, cmd, &sl.state)
			}
			return
		}
		out, err := h.h.Handle(ctx, cmd, &sl.state)
		if err != nil {
			h.replyError(req.msg, topic, *env, err)
			return
		}
		if out.Event != nil {
			err := h.persist(ctx, sl, out.Event, h.historicalHeaders(cmd, out.Event))
			if errors.Is(err, journal.ErrConflict) && attempt < 3 {
				// Another instance wrote this revision: reload and decide
				// again on the current state.
				h.log.InfoContext(ctx, "journal conflict, reloading", "entity_id", req.entityID, "revision", sl.state.Revision+1,
					logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]))
				sl.loaded, sl.unsure = false, true
				continue
			}
			if err != nil {
				h.log.ErrorContext(ctx, "persist event", "entity_id", req.entityID, logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]), "err", err)
				// The outcome is unknown: reload next time.
				sl.loaded, sl.unsure = false, true
				h.replyError(req.msg, topic, *env, h.cfg.Errors.Unavailable(req.entityID))
				return
			}
		}
		resp := out.Response
		if out.After != nil {
			out.After(&sl.state, &resp)
		}
		if !out.Forwarded {
			h.reply(req.msg, env, resp)
		}
		if out.Event != nil && (sl.state.Revision%h.cfg.SnapshotEvery == 0 || sl.state.Deleted) {
			h.snapshot(sl)
		}
		return
	}
}

// prepare decodes and checks a request into its command, or answers it
// (or drops it, when its caller has given up) and returns false.
func (h *Host) prepare(req *request) (*Command, bool) {
	env := req.env
	if env == nil {
		e, err := protocol.DecodeEnvelopeUnchecked(req.msg.Data)
		if err != nil {
			h.replyError(req.msg, protocol.Topic{}, protocol.Envelope{}, err)
			return nil, false
		}
		env = &e
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		h.replyError(req.msg, protocol.Topic{}, *env, err)
		return nil, false
	}
	// Header values are checked here, once per command, whoever sent it.
	if err := env.Headers.Validate(); err != nil {
		h.replyError(req.msg, topic, *env, err)
		return nil, false
	}
	if topic.EntityID() != req.entityID {
		h.replyError(req.msg, topic, *env, protocol.NewError(400, "entity.id.invalid",
			fmt.Sprintf("The topic's entity ID '%s' differs from the routed entity ID '%s'.", topic.EntityID(), req.entityID), ""))
		return nil, false
	}
	cmd := &Command{Envelope: *env, Topic: topic, EntityID: req.entityID, Reply: req.msg.Reply}
	if err := h.authenticate(req, cmd); err != nil {
		h.replyError(req.msg, topic, *env, err)
		return nil, false
	}
	timeout := h.cfg.DefaultTimeout
	if t, ok := env.Headers[protocol.HeaderTimeout]; ok {
		if d, err := protocol.ParseTimeout(t); err == nil && d > 0 {
			timeout = d
		}
	}
	cmd.Deadline = req.received.Add(timeout)
	if time.Now().After(cmd.Deadline) {
		// The caller has given up and answered its client with a
		// timeout; applying the command now would surprise it.
		return nil, false
	}
	return cmd, true
}

// maxPassingLive bounds the live signals handled beside the mailboxes at
// once; beyond it they queue like commands.
const maxPassingLive = 64

// passLive handles a live signal for a busy entity beside its mailbox, on
// view (the entity as the queue's running command found it), and reports
// whether it did. Live signals change nothing: the handler only checks
// them and passes them on (Outcome.Forwarded) or answers them. A request
// that turns out not to be a live signal is left to the mailbox, as are
// live signals beyond maxPassingLive.
func (h *Host) passLive(req *request, view *State) bool {
	select {
	case h.liveSlots <- struct{}{}:
	default:
		return false
	}
	cmd, ok := h.prepare(req)
	if !ok {
		<-h.liveSlots
		return true // answered
	}
	if cmd.Topic.Channel != protocol.ChannelLive {
		<-h.liveSlots
		env := cmd.Envelope
		req.env = &env // decoded once
		return false
	}
	h.workers.Add(1) // from the dispatcher, which Stop ends before it waits
	go func() {
		defer h.workers.Done()
		defer func() { <-h.liveSlots }()
		dctx := newDeadlineCtx(h.base, cmd.Deadline)
		defer dctx.release()
		st := *view // the handler may cache in its own copy
		out, err := h.h.Handle(dctx, cmd, &st)
		switch {
		case err != nil:
			h.replyError(req.msg, cmd.Topic, cmd.Envelope, err)
		case out.Event != nil:
			h.log.Error("live signal produced an event; dropped", "entity_id", cmd.EntityID, "topic", cmd.Envelope.Topic,
				logging.CorrelationID(cmd.Envelope.Headers[protocol.HeaderCorrelationID]))
			h.replyError(req.msg, cmd.Topic, cmd.Envelope, h.cfg.Errors.Unavailable(cmd.EntityID))
		case !out.Forwarded:
			h.reply(req.msg, &cmd.Envelope, out.Response)
		}
	}()
	return true
}

// authenticate fills cmd.Auth and cmd.Sudo from the NATS headers, by the
// kind of subject the command came on (NATS permissions decide who may
// publish to which kind; nothing a client of the platform sends can set a
// NATS header):
//
//   - commands: the caller's subjects in Ditto-Auth are required and
//     enforced; Ditto-Sudo is ignored.
//   - sudo: Ditto-Sudo "true" and Ditto-Auth are both required; the command
//     skips enforcement and is logged.
//   - internal: a service's own command; it skips enforcement and names the
//     subjects it acts for only when it has some.
func (h *Host) authenticate(req *request, cmd *Command) error {
	auth := req.msg.Header.Get(streams.HeaderAuth)
	switch req.kind {
	case streams.KindInternal:
		cmd.Sudo = true
		if auth == "" {
			return nil
		}
	case streams.KindSudo:
		if req.msg.Header.Get(streams.HeaderSudo) != "true" {
			return errSudoHeaderMissing
		}
		cmd.Sudo = true
	}
	if cmd.Auth = h.subjects(auth); len(cmd.Auth) == 0 {
		return errUnauthenticated
	}
	if req.kind == streams.KindSudo {
		h.log.Info("sudo command", "entity_id", cmd.EntityID, "topic", cmd.Envelope.Topic, "path", cmd.Envelope.Path,
			"auth", cmd.Auth, logging.CorrelationID(cmd.Envelope.Headers[protocol.HeaderCorrelationID]))
	}
	return nil
}

// subjects parses the auth header (a JSON array of subject ids); nil when
// it is not one. Callers are few and send the same header again and again,
// so parsed headers are kept (at most authCacheSize of them).
func (h *Host) subjects(header string) []string {
	if v, ok := h.authCache.Load(header); ok {
		return v.([]string)
	}
	subjects, ok := command.DecodeAuth(header)
	if !ok {
		return nil
	}
	if h.authCached.Add(1) > authCacheSize {
		h.authCache.Clear()
		h.authCached.Store(0)
	}
	h.authCache.Store(header, subjects)
	return subjects
}

const authCacheSize = 4096

var (
	errUnauthenticated = protocol.NewError(401, "gateway:authentication.failed",
		"The command carries no authenticated subjects.",
		"Send commands through the gateway, which authenticates the caller, or name the subjects in the Ditto-Auth NATS header.")
	errSudoHeaderMissing = protocol.NewError(400, "header.invalid",
		"A command on a sudo subject must carry the NATS header 'Ditto-Sudo: true'.",
		"Set the header to confirm that the command is to bypass the policy; it is logged.")
	errInternal = protocol.NewError(500, "internal.error",
		"An internal error occurred.", "Please try again later; if the problem persists, contact the operators.")
)
