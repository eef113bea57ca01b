package command

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/streams"
)

// PiggybackSubject is the subject a piggyback command acts as when its
// headers carry no authorization context ("ditto-auth-context"): the
// DevOps user, who sent it. It has no issuer prefix, so no policy can name
// it: without ditto-sudo such a command is enforced as a caller no policy
// grants anything (Ditto enforces it with an empty authorization context),
// and a sudo command's log line names the DevOps user.
const PiggybackSubject = "devops"

// piggybackOnlyHeaders are the ExecutePiggybackCommand's headers that
// address or authorize the piggyback command rather than travel with it.
// A piggyback command is always answered, on the twin channel, without
// acknowledgements.
var piggybackOnlyHeaders = []string{
	"aggregate", "is-group-topic", protocol.HeaderSudo, protocol.HeaderAuthContext,
	protocol.HeaderResponseRequired, protocol.HeaderRequestedAcks, protocol.HeaderChannel,
}

// maxParallelRetrieves bounds the things one retrieveThings retrieves at
// once.
const maxParallelRetrieves = 8

// PiggybackHandler executes the piggyback commands Ditto addresses to the
// shard region of group's entities: every thing command (group
// protocol.GroupThings, serving devops.ComponentThings) or every policy
// command (protocol.GroupPolicies, devops.ComponentPolicies) in Ditto's
// internal JSON, which protocol.ParseInternalCommand reads. It answers ok
// false for any other type.
//
// The command goes, as its Ditto Protocol envelope, through c to the
// instance that owns the entity, and its reply comes back as the internal
// JSON of the command's response (or Ditto's error). With the header
// ditto-sudo true it is sent as a sudo command (streams.KindSudo with
// streams.HeaderSudo "true"), which skips enforcement; otherwise it is
// enforced (streams.KindCommands). Either way it acts as the subjects of
// the ditto-auth-context header when the headers carry one, else as
// PiggybackSubject. The other headers travel with the command; ctx's
// deadline is its timeout. Every command is logged at info.
func PiggybackHandler(c *Client, group string, log *slog.Logger) devops.Handler {
	return func(ctx context.Context, p devops.Piggyback) (devops.Answer, bool) {
		if protocol.InternalCommandGroup(p.Type) != group {
			return devops.Answer{}, false
		}
		start := time.Now()
		x := piggybackRun{c: c, group: group, log: log, sudo: p.Sudo()}
		a := x.run(ctx, p)
		log.Info("piggyback command", "type", p.Type, "entity_id", x.entityID, "sudo", x.sudo, "status", a.Status,
			"auth", x.subjects, "correlation-id", p.Header(protocol.HeaderCorrelationID),
			"duration", time.Since(start))
		return a, true
	}
}

// piggybackRun is the execution of one piggyback command.
type piggybackRun struct {
	c     *Client
	group string
	log   *slog.Logger
	sudo  bool

	// entityID (the thing ids of retrieveThings, comma-separated) and
	// subjects are what the log line reports.
	entityID string
	subjects []string
}

func (x *piggybackRun) run(ctx context.Context, p devops.Piggyback) devops.Answer {
	headers, subjects, perr := piggybackHeaders(p.Headers)
	if perr != nil {
		return devops.ErrorAnswer(perr)
	}
	if len(subjects) == 0 {
		subjects = []string{PiggybackSubject}
	}
	x.subjects = subjects
	budget := defaultTimeout
	if d, ok := ctx.Deadline(); ok {
		budget = time.Until(d)
		// The service drops a command whose caller has given up: tell it
		// when that is.
		headers[protocol.HeaderTimeout] = strconv.FormatInt(max(budget.Milliseconds(), 1), 10) + "ms"
	}
	cmd, err := protocol.ParseInternalCommand(p.Command, headers)
	if err != nil {
		return devops.ErrorAnswer(x.dittoError(err, "", budget))
	}
	x.entityID = cmd.EntityID
	kind := streams.KindCommands
	if x.sudo {
		kind = streams.KindSudo
	}
	req := Request{Group: x.group, Kind: kind, Auth: EncodeAuth(subjects)}
	var reply protocol.Envelope
	if cmd.EntityID == "" { // retrieveThings
		x.entityID = strings.Join(cmd.ThingIDs, ",")
		reply, err = x.retrieveThings(ctx, cmd, req)
	} else {
		req.Envelope, req.EntityID = cmd.Envelope, cmd.EntityID
		reply, err = x.c.Request(ctx, req)
	}
	if err != nil {
		return devops.ErrorAnswer(x.dittoError(err, req.EntityID, budget))
	}
	status, body := cmd.Response(reply)
	return devops.Answer{Status: status, Body: body}
}

// retrieveThings retrieves each of a retrieveThings command's things, at
// most maxParallelRetrieves at once, and returns the reply with those the
// subjects may see, in order. A thing that is missing or not visible is
// left out, as Ditto's things aggregator does; a failure of the services
// fails the command.
func (x *piggybackRun) retrieveThings(ctx context.Context, cmd *protocol.InternalCommand, base Request) (protocol.Envelope, error) {
	replies := make([]protocol.Envelope, len(cmd.ThingIDs))
	errs := make([]error, len(cmd.ThingIDs))
	sem := make(chan struct{}, maxParallelRetrieves)
	var wg sync.WaitGroup
	for i, id := range cmd.ThingIDs {
		req := base
		req.Envelope, req.EntityID = cmd.RetrieveThingEnvelope(id), id
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			replies[i], errs[i] = x.c.Request(ctx, req)
		})
	}
	wg.Wait()
	things := make([]json.RawMessage, 0, len(replies))
	for i, r := range replies {
		if errs[i] != nil {
			return protocol.Envelope{}, errs[i]
		}
		if perr, isErr := r.AsError(); isErr {
			if perr.Status >= http.StatusInternalServerError {
				return r, nil
			}
			continue
		}
		things = append(things, r.Value)
	}
	return cmd.RetrieveThingsReply(things), nil
}

// dittoError maps an error of parsing or sending the command to the Ditto
// error the DevOps user is answered; one that is not a Ditto error is
// logged and answered as Ditto's internal error.
func (x *piggybackRun) dittoError(err error, entityID string, budget time.Duration) *protocol.Error {
	switch {
	case errors.Is(err, ErrUnavailable), errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrConnectionReconnecting):
		if x.group == protocol.GroupPolicies {
			return protocol.ErrPolicyUnavailable(entityID)
		}
		return protocol.ErrThingUnavailable(entityID)
	case errors.Is(err, ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return protocol.ErrCommandTimeout(budget)
	}
	if perr := protocol.AsError(err); perr != nil {
		return perr
	}
	x.log.Warn("piggyback command failed", "entity_id", entityID, "sudo", x.sudo, "err", err)
	return protocol.ErrInternal()
}

// piggybackHeaders returns the headers a piggyback command travels with
// (the ExecutePiggybackCommand's, validated, without piggybackOnlyHeaders)
// and the subjects of its ditto-auth-context header, nil when it has
// none.
func piggybackHeaders(raw map[string]json.RawMessage) (protocol.Headers, []string, *protocol.Error) {
	headers := protocol.Headers{}
	if len(raw) > 0 {
		data, err := json.Marshal(raw)
		if err == nil {
			err = headers.UnmarshalJSON(data)
		}
		if err != nil || headers == nil {
			return nil, nil, protocol.ErrJSONInvalid("The headers are not a JSON object.")
		}
	}
	if err := headers.Validate(); err != nil {
		return nil, nil, protocol.AsError(err)
	}
	subjects, perr := authContextSubjects(headers[protocol.HeaderAuthContext])
	if perr != nil {
		return nil, nil, perr
	}
	for _, name := range piggybackOnlyHeaders {
		delete(headers, name)
	}
	return headers, subjects, nil
}

// authContextSubjects reads the subjects of Ditto's authorization context
// header, {"type":"...","subjects":["issuer:subject",...]} (an empty
// object is an empty context); nil for an absent header.
func authContextSubjects(v string) ([]string, *protocol.Error) {
	if v == "" {
		return nil, nil
	}
	var ctx struct {
		Subjects *[]string `json:"subjects"`
	}
	invalid := protocol.ErrHeaderInvalid(protocol.HeaderAuthContext, v, "JSON object")
	if err := json.Unmarshal([]byte(v), &ctx); err != nil {
		return nil, invalid
	}
	if ctx.Subjects == nil {
		if strings.TrimSpace(v) == "{}" {
			return nil, nil
		}
		return nil, protocol.ErrJSONFieldMissing("/subjects")
	}
	for _, s := range *ctx.Subjects {
		if s == "" {
			return nil, invalid
		}
	}
	return *ctx.Subjects, nil
}
