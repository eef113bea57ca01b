package things

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
)

// Live commands and live events (Ditto's live channel, protocol-twinlive).
// Both reach this service like twin commands, on the thing's command
// subject, with any thing-command path:
//
//	topic <ns>/<name>/things/live/commands/<create|modify|merge|delete|retrieve>
//	topic <ns>/<name>/things/live/events/<created|modified|merged|deleted>
//
// A live command is enforced as its twin command is (Ditto's
// LiveSignalEnforcement calls ThingCommandEnforcement.authorizeByPolicyOrThrow)
// and then passed on, not applied: published on
// <p>.things.live.commands.<ns> (core NATS) with the sender's NATS reply
// subject, so that a device's session answers the sender directly and the
// first answer wins, as for live messages (messages.go). Nothing is
// journaled and the twin does not change.
//
// A live event is what a device reports on its own. Sending one needs
// unrestricted WRITE on the event's thing: resource (LiveSignalEnforcement
// .enforceLiveEvent; things:event.notallowed otherwise). It is published on
// <p>.things.live.events.<ns> with the ditto-read-subjects and
// ditto-partial-access-paths twin events carry, and answered with a bare
// 204 that the gateway does not pass on: so the gateway learns at once that
// the event was taken and needs to wait for nothing, and the emitter hears
// only of a refusal.
//
// Both pass the twin commands queued for their thing, as messages do
// (messages.go): they only read the state and publish.

// headerAnswerValue is the NATS header of a passed-on live command whose
// sender may not read all of the addressed resource: its value
// answerWithoutValue tells the gateway of the answering device to drop the
// value of the device's answer (Ditto filters the answer with the
// sender's policy view instead, LiveSignalEnforcement.filterResponse). The
// gateway reads the same name (services/gateway/livecmd.go).
const (
	headerAnswerValue  = "Ditto-Answer-Value"
	answerWithoutValue = "none"
)

// isLiveCommand reports whether a topic is a live thing command.
func isLiveCommand(t protocol.Topic) bool {
	return t.Group == protocol.GroupThings && t.Channel == protocol.ChannelLive && t.Criterion == protocol.CriterionCommands
}

// isLiveEvent reports whether a topic is a live thing event.
func isLiveEvent(t protocol.Topic) bool {
	return t.Group == protocol.GroupThings && t.Channel == protocol.ChannelLive && t.Criterion == protocol.CriterionEvents
}

// liveCommand checks, enforces and passes on a live command. The checks
// and errors are the twin command's: the protocol's (path, value shape),
// then the thing (not found), then the policy (WRITE for modifying
// commands, READ for a retrieve). What the twin does not decide is not
// looked at: whether a feature or attribute exists, conditions and entity
// tags are the device's to judge.
//
// A live retrieve needs unrestricted READ on the retrieved path, not only
// READ on part of it. The answer comes from the device, straight to the
// sender, and nothing on the way knows the policy to cut it down, so a
// sender who may not read all of the resource is refused (with the twin's
// not-accessible error) rather than shown what the device sends. Ditto
// forwards the command and filters the device's answer instead.
func (h *handler) liveCommand(ctx context.Context, cmd *entity.Command, st *entity.State) (entity.Outcome, error) {
	id := cmd.EntityID
	if err := protocol.ValidateThingID(id); err != nil {
		return entity.Outcome{}, err
	}
	res, err := parseResource(cmd.Envelope.Path)
	if err != nil {
		return entity.Outcome{}, err
	}
	c := &call{cmd: cmd, st: st, res: res}
	action := cmd.Topic.Action
	var patch jsonv.Value
	switch action {
	case protocol.ActionCreate:
		if res.kind != kThing {
			return entity.Outcome{}, protocol.ErrPathUnknown(cmd.Envelope.Path)
		}
		if err := c.checkLiveValue(); err != nil {
			return entity.Outcome{}, err
		}
	case protocol.ActionModify:
		if err := c.checkLiveValue(); err != nil {
			return entity.Outcome{}, err
		}
	case protocol.ActionMerge:
		if patch, err = c.value(); err != nil {
			return entity.Outcome{}, err
		}
	case protocol.ActionDelete:
		if res.kind == kPolicyID {
			return entity.Outcome{}, protocol.ErrThingPolicyIDNotDeletable()
		}
	case protocol.ActionRetrieve:
		if cmd.Envelope.Fields != "" {
			if _, err := jsonv.ParseFieldSelector(cmd.Envelope.Fields); err != nil {
				return entity.Outcome{}, err
			}
		}
	default:
		return entity.Outcome{}, errNotSupported(cmd.Envelope.Topic)
	}
	if !st.Exists() {
		return entity.Outcome{}, protocol.ErrThingNotAccessible(id)
	}
	if err := h.authorize(ctx, c, action != protocol.ActionRetrieve); err != nil {
		return entity.Outcome{}, err
	}
	readsAll := c.view == nil || c.view.HasUnrestricted(enforcer.TypeThing, res.path, enforcer.Read)
	switch action {
	case protocol.ActionRetrieve:
		if !readsAll {
			if !c.canReadPartially(res.path) {
				return entity.Outcome{}, res.notAccessible(id)
			}
			return entity.Outcome{}, errLiveRetrievePartial(res.notAccessible(id))
		}
	case protocol.ActionMerge:
		if !c.mayMerge(patch) {
			return entity.Outcome{}, c.denyWrite()
		}
	default:
		if !c.canWrite(res.path) {
			return entity.Outcome{}, c.denyWrite()
		}
	}
	enf, err := h.liveEnforcer(ctx, c)
	if err != nil {
		return entity.Outcome{}, err
	}
	ns, _ := protocol.SplitID(id)
	hdr := map[string]string{protocol.HeaderReadSubjects: liveCommandReaders(enf, ns, res.path, time.Now())}
	if !readsAll {
		hdr[headerAnswerValue] = answerWithoutValue
	}
	reply, out := passing(cmd)
	if err := h.publishLive(cmd, cmd.Envelope, h.names.LiveCommands(ns), reply, hdr, protocol.ErrThingTooLarge); err != nil {
		return entity.Outcome{}, err
	}
	return out, nil
}

// checkLiveValue checks the value of a live modify or create as Ditto's
// protocol adapter does when it reads the command: present, and of the
// shape the resource takes. The value is passed on as it was sent.
func (c *call) checkLiveValue() error {
	val, err := c.value()
	if err != nil {
		return err
	}
	if _, err := checkValue(c.res, val); err != nil {
		return err
	}
	if c.res.kind == kThing {
		if tid, ok := val.Get("thingId"); ok {
			if s, _ := tid.Str(); s != c.cmd.EntityID {
				return protocol.ErrThingIDNotSettable()
			}
		}
	}
	return nil
}

// liveEnforcer returns the enforcer of the thing's policy for a live
// signal that passed authorize: the one authorize loaded, or for a sudo
// command (which skips enforcement) the policy loaded now; nil when that
// policy does not exist, which lets nobody read.
func (h *handler) liveEnforcer(ctx context.Context, c *call) (*enforcer.Enforcer, error) {
	if c.enf != nil {
		return c.enf, nil
	}
	pid, err := policyID(c.st)
	if err != nil || pid == "" {
		return nil, err
	}
	enf, err := h.cache.get(ctx, pid)
	if errors.Is(err, errPolicyGone) {
		return nil, nil
	}
	return enf, err
}

// liveCommandReaders is the ditto-read-subjects header of a live command
// at path: the subjects that, each alone, may read all of path. A command
// cannot be cut down to what a receiver may read the way an event is (a
// modify with part of its value is another command), so a subject that
// may read only part of the path does not get it. Ditto names the
// subjects with READ at the path (Enforcer.getSubjectsWithPermission),
// which lets a device read a value revoked below it; this is stricter.
func liveCommandReaders(enf *enforcer.Enforcer, ns string, path jsonv.Pointer, now time.Time) string {
	if enf == nil {
		return "[]"
	}
	subjects := enf.Readers(ns, now).Subjects() // sorted
	readers := make([]jsonv.Value, 0, len(subjects))
	one := make([]string, 1)
	for _, s := range subjects {
		one[0] = s
		if enf.For(ns, one).HasUnrestricted(enforcer.TypeThing, path, enforcer.Read) {
			readers = append(readers, jsonv.String(s))
		}
	}
	return jsonv.Array(readers...).String()
}

// liveEvent checks, enforces and publishes a live event.
func (h *handler) liveEvent(ctx context.Context, cmd *entity.Command, st *entity.State) (entity.Outcome, error) {
	id := cmd.EntityID
	if err := protocol.ValidateThingID(id); err != nil {
		return entity.Outcome{}, err
	}
	res, err := parseResource(cmd.Envelope.Path)
	if err != nil {
		return entity.Outcome{}, err
	}
	c := &call{cmd: cmd, st: st, res: res}
	value := jsonv.Null() // what a deletion leaves at the path
	switch cmd.Topic.Action {
	case protocol.ActionCreated, protocol.ActionModified:
		if err := c.checkLiveValue(); err != nil {
			return entity.Outcome{}, err
		}
		value, _ = c.value() // checked
	case protocol.ActionMerged:
		if value, err = c.value(); err != nil {
			return entity.Outcome{}, err
		}
		if res.kind == kThing && value.Kind() != jsonv.KindObject {
			return entity.Outcome{}, fieldType("thing", "JsonObject", value)
		}
	case protocol.ActionDeleted:
	default:
		return entity.Outcome{}, errNotSupported(cmd.Envelope.Topic)
	}
	enf, err := h.signalEnforcer(ctx, st)
	if err != nil {
		return entity.Outcome{}, err
	}
	ns, _ := protocol.SplitID(id)
	// Like a live message, a refused event does not tell whether the
	// caller may see the thing: Ditto answers both the same way.
	if !cmd.Sudo && !enf.For(ns, cmd.Auth).HasUnrestricted(enforcer.TypeThing, res.path, enforcer.Write) {
		return entity.Outcome{}, errEventSendNotAllowed(id)
	}
	r := enf.Readers(ns, time.Now())
	hdr := map[string]string{protocol.HeaderReadSubjects: r.ReadSubjectsHeader(enforcer.TypeThing, res.path)}
	// The partial access paths are those of what the event carries: the
	// twin is not changed by it, and a receiver cuts the event down to
	// the paths it names (protocol.EventAccess), as for a twin event.
	if paths := r.PartialAccessPaths(enforcer.TypeThing, jsonv.Object().Set(res.path, value)); paths != "" {
		hdr[protocol.HeaderPartialAccessPaths] = paths
	}
	if err := h.publishLive(cmd, cmd.Envelope, h.names.LiveEvents(ns), "", hdr, protocol.ErrThingTooLarge); err != nil {
		return entity.Outcome{}, err
	}
	return entity.Outcome{Response: c.response(http.StatusNoContent, nil, nil)}, nil
}

// errLiveRetrievePartial is the answer to a live retrieve of a resource
// the caller may read only part of: notAccessible, the twin's 404 for
// what the caller may not read, with a description that says why.
func errLiveRetrievePartial(notAccessible *protocol.Error) *protocol.Error {
	e := *notAccessible
	e.Description = "A live retrieve needs READ permission on all of the retrieved resource: the device's answer cannot be filtered. Retrieve a part you may read entirely."
	return &e
}

// errEventSendNotAllowed is Ditto's EventSendNotAllowedException.
func errEventSendNotAllowed(thingID string) *protocol.Error {
	return protocol.NewError(http.StatusForbidden, "things:event.notallowed",
		"You are not allowed to send events for the Thing with id '"+thingID+"'!",
		"Please make sure that the Thing exists and that you have WRITE permissions on the message resource in the policy of the Thing.")
}
