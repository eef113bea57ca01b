package things

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/streams"
)

// Live messages (Ditto's basic-messages and protocol-specification-things-
// messages). A message to or from a thing, or one of its features, reaches
// this service like a command, on the thing's command subject:
//
//	topic <ns>/<name>/things/live/messages/<subject>
//	path  [/features/<featureId>]/(inbox|outbox)/messages/<subject>
//
// It is checked and enforced as Ditto's LiveSignalEnforcement does and then
// passed on, not answered: published on <p>.things.live.messages.<ns>
// (core NATS; nothing stores a message) with the request's NATS reply
// subject as its own, so that the session that takes it (a device's
// WebSocket) answers the sender directly and the first answer wins. NATS
// headers say who may receive it (ditto-read-subjects) and who sent it
// (ditto-originator).
//
// A message does not wait for the twin commands queued for its thing: the
// gateway marks live signals (streams.HeaderLive) and the entity host
// hands one for a busy thing to this handler beside the mailbox, with a
// copy of the thing's state as the running command found it (entity
// passLive). The handler must therefore change nothing and keep nothing:
// it reads the state and the policy cache and publishes. A thing not in
// memory is loaded by its worker, so its first signal queues.

// claimSubject is the subject of claim messages (Ditto's
// KnownMessageSubjects.CLAIM_SUBJECT).
const claimSubject = "claim"

// claimPath is the path of a claim message: Ditto's protocol adapter only
// accepts the thing's inbox, and Ditto's HTTP route /inbox/claim sends
// this. claimRoutePath, the route's own path, is accepted as its alias.
const (
	claimPath      = "/inbox/messages/" + claimSubject
	claimRoutePath = "/inbox/claim"
)

// messagePath is the parsed path of a live message.
type messagePath struct {
	// path is the message's path as it is passed on.
	path string
	// resource is the message: resource it addresses (Ditto's
	// MessageCommand.getResourcePath, which is the path).
	resource jsonv.Pointer
	// feature is the addressed feature's id, "" for the thing.
	feature string
	// claim marks a claim message to the thing's inbox, which needs no
	// WRITE permission.
	claim bool
}

// parseMessagePath checks a message's path against the subject of its
// topic as Ditto's protocol adapter does (AbstractMessageMappingStrategies
// .validatePathForLiveMessages) and reads what it addresses.
func parseMessagePath(path, subject string) (messagePath, error) {
	if subject == "" {
		return messagePath{}, errMessageSubjectInvalid(subject)
	}
	for _, r := range subject {
		if controlChar(r) {
			// Ditto's DittoMessageSubjectValueValidator.
			return messagePath{}, protocol.ErrHeaderInvalid("ditto-message-subject", subject, "message subject")
		}
	}
	mp := messagePath{path: path}
	if subject == claimSubject && (path == claimPath || path == claimRoutePath) {
		mp.path, mp.claim = claimPath, true
	}
	box := mp.path
	if rest, ok := strings.CutPrefix(mp.path, "/features/"); ok {
		feature, tail, found := strings.Cut(rest, "/")
		if feature == "" {
			return messagePath{}, errMessageFeatureIDInvalid()
		}
		if !found {
			return messagePath{}, errMessagePathInvalid(path, subject)
		}
		mp.feature, box = feature, "/"+tail
	}
	if box != "/inbox/messages/"+subject && box != "/outbox/messages/"+subject {
		return messagePath{}, errMessagePathInvalid(path, subject)
	}
	res, err := jsonv.ParsePointer(mp.path)
	if err != nil {
		return messagePath{}, err
	}
	mp.resource = res
	return mp, nil
}

// isLiveMessage reports whether a topic is a live message.
func isLiveMessage(t protocol.Topic) bool {
	return t.Group == protocol.GroupThings && t.Channel == protocol.ChannelLive && t.Criterion == protocol.CriterionMessages
}

// liveMessage checks, enforces and passes on a live message. The order is
// Ditto's: the protocol adapter's checks, then the thing (a thing that
// does not exist or has no policy is not found, whoever asks), then WRITE
// on the message resource (refused with messages:send.notallowed, also
// when the caller may not see the thing at all: Ditto's
// LiveSignalEnforcement does not tell the two apart).
func (h *handler) liveMessage(ctx context.Context, cmd *entity.Command, st *entity.State) (entity.Outcome, error) {
	id := cmd.EntityID
	if err := protocol.ValidateThingID(id); err != nil {
		return entity.Outcome{}, err
	}
	mp, err := parseMessagePath(cmd.Envelope.Path, cmd.Topic.Action)
	if err != nil {
		return entity.Outcome{}, err
	}
	enf, err := h.signalEnforcer(ctx, st)
	if err != nil {
		return entity.Outcome{}, err
	}
	ns, _ := protocol.SplitID(id)
	// Claim messages ask for access, so they need none (Ditto's
	// LiveSignalEnforcement publishes SendClaimMessage unchecked); sudo
	// and internal commands skip enforcement as every command does.
	if !cmd.Sudo && !mp.claim &&
		!enf.For(ns, cmd.Auth).HasUnrestricted(enforcer.TypeMessage, mp.resource, enforcer.Write) {
		return entity.Outcome{}, errMessageSendNotAllowed(id)
	}
	reply, out := passing(cmd)
	if err := h.forward(cmd, mp, reply, messageReadSubjects(enf, ns, mp.resource, time.Now())); err != nil {
		return entity.Outcome{}, err
	}
	return out, nil
}

// signalEnforcer returns the enforcer of the thing's policy for a live
// message or live event. A thing that does not exist, has no policy or
// whose policy is gone is not accessible, whoever asks: Ditto has no
// enforcer then and answers as for a missing thing
// (authorizeSignalWithMissingEnforcer); a live signal is no ThingCommand,
// so it gets no "policy deleted" text.
func (h *handler) signalEnforcer(ctx context.Context, st *entity.State) (*enforcer.Enforcer, error) {
	if !st.Exists() {
		return nil, protocol.ErrThingNotAccessible(st.ID)
	}
	pid, err := policyID(st)
	if err != nil {
		return nil, err
	}
	if pid == "" {
		return nil, protocol.ErrThingNotAccessible(st.ID)
	}
	enf, err := h.cache.get(ctx, pid)
	if errors.Is(err, errPolicyGone) {
		return nil, protocol.ErrThingNotAccessible(st.ID)
	}
	return enf, err
}

// answerWanted reports whether the sender of a live message or command
// waits for the device's answer (Ditto's live-response): when it requests
// acknowledgements, only if live-response is among them; else unless it
// said response-required false.
func answerWanted(h protocol.Headers) bool {
	if v, ok := h[protocol.HeaderRequestedAcks]; ok && v != "[]" {
		var labels []string
		if json.Unmarshal([]byte(v), &labels) == nil {
			return slices.Contains(labels, protocol.AckLiveResponse)
		}
	}
	return h[protocol.HeaderResponseRequired] != "false"
}

// passing returns, for a live message or command about to be passed on,
// the reply subject it carries and the outcome to answer with: when the
// sender waits for the device's answer, the sender's reply subject and
// no answer here (the device answers); when it does not (it requested
// only custom acknowledgements), no reply subject and 202 at once, so
// that it learns the signal went out.
func passing(cmd *entity.Command) (reply string, out entity.Outcome) {
	if answerWanted(cmd.Envelope.Headers) {
		return cmd.Reply, entity.Outcome{Forwarded: true}
	}
	resp := protocol.Envelope{Topic: cmd.Envelope.Topic, Path: cmd.Envelope.Path, Status: http.StatusAccepted,
		Headers: protocol.Headers{}}
	if cid, ok := cmd.Envelope.Headers[protocol.HeaderCorrelationID]; ok {
		resp.Headers[protocol.HeaderCorrelationID] = cid
	}
	return "", entity.Outcome{Response: resp}
}

// messageReadSubjects is the ditto-read-subjects header of a message at
// resource: the subjects granted READ there, each subject evaluated alone
// over the grants and revokes at or above the resource (Ditto's
// Enforcer.getSubjectsWithPermission(message:<path>, READ), whose granted
// subjects LiveSignalEnforcement puts into the message's headers). Unlike
// an event's, a message is read whole or not at all, so READ somewhere
// else in the message: resources (another subject, the outbox) does not
// count, and a revoke at the resource or above it removes the subject.
func messageReadSubjects(enf *enforcer.Enforcer, ns string, resource jsonv.Pointer, now time.Time) string {
	subjects := enf.Readers(ns, now).Subjects() // sorted
	readers := make([]jsonv.Value, 0, len(subjects))
	one := make([]string, 1)
	for _, s := range subjects {
		one[0] = s
		if enf.For(ns, one).Has(enforcer.TypeMessage, resource, enforcer.Read) {
			readers = append(readers, jsonv.String(s))
		}
	}
	return jsonv.Array(readers...).String()
}

// platformHeaders are the headers only the platform sets on a live signal
// it passes on; a sender's own are dropped, so that no receiver can mistake
// them for the platform's.
var platformHeaders = [...]string{
	protocol.HeaderReadSubjects, protocol.HeaderReadRevokedSubjects,
	protocol.HeaderPartialAccessPaths, protocol.HeaderOriginator,
}

// forward publishes the message to the sessions that may take it, with
// reply as its reply subject and who may read it. The envelope is the one
// the sender sent, with a claim's path in Ditto's form.
func (h *handler) forward(cmd *entity.Command, mp messagePath, reply, readers string) error {
	env := cmd.Envelope
	env.Path = mp.path
	ns, _ := protocol.SplitID(cmd.EntityID)
	return h.publishLive(cmd, env, h.names.LiveMessages(ns), reply,
		map[string]string{protocol.HeaderReadSubjects: readers}, protocol.ErrMessagePayloadTooLarge)
}

// publishLive publishes the live signal env of cmd (less platformHeaders)
// on subject with the reply subject reply ("" for none), the NATS headers
// Ditto-Entity and ditto-originator, and hdr. tooLarge is the error when
// the signal does not fit in a NATS message.
func (h *handler) publishLive(cmd *entity.Command, env protocol.Envelope, subject, reply string, hdr map[string]string,
	tooLarge func(actual, max int64) *protocol.Error) error {
	for _, k := range platformHeaders {
		if _, ok := env.Headers[k]; ok {
			hs := make(protocol.Headers, len(env.Headers))
			for hk, hv := range env.Headers {
				hs[hk] = hv
			}
			for _, pk := range platformHeaders {
				delete(hs, pk)
			}
			env.Headers = hs
			break
		}
	}
	data, err := env.AppendJSONTrusted(nil)
	if err != nil {
		return err
	}
	msg := &nats.Msg{Subject: subject, Reply: reply, Data: data, Header: nats.Header{}}
	// Set directly: NATS headers are case-sensitive and these are the
	// exact keys receivers read.
	msg.Header[streams.HeaderEntity] = []string{streams.EncodeEntityHeader(cmd.EntityID)}
	for k, v := range hdr {
		msg.Header[k] = []string{v}
	}
	if len(cmd.Auth) > 0 {
		msg.Header[protocol.HeaderOriginator] = []string{cmd.Auth[0]}
	}
	err = h.nc.PublishMsg(msg)
	if errors.Is(err, nats.ErrMaxPayload) {
		return tooLarge(int64(len(data)), h.nc.MaxPayload())
	}
	if err != nil {
		if h.log != nil {
			h.log.Warn("pass on live signal", "thing_id", cmd.EntityID, "topic", env.Topic, "err", err)
		}
		return protocol.ErrThingUnavailable(cmd.EntityID)
	}
	return nil
}
