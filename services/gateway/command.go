package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/logging"
)

// apiRequest is an authenticated request below /api/2.
type apiRequest struct {
	w       http.ResponseWriter
	r       *http.Request
	query   url.Values
	headers protocol.Headers // the command headers; see commandHeaders
	caller  *principal
}

// fail answers err: a *protocol.Error as Ditto's error, anything else as
// Ditto's gateway internal error (logged, since the client learns nothing).
func (g *Gateway) fail(ar *apiRequest, err error) {
	var unreadable *unreadableBodyError
	if errors.As(err, &unreadable) {
		g.log.DebugContext(ar.r.Context(), "request body unreadable", "method", ar.r.Method, "path", ar.r.URL.Path,
			logging.CorrelationID(ar.headers[protocol.HeaderCorrelationID]), "err", unreadable.err)
		writeUnreadableBody(ar.w, unreadable.err)
		return
	}
	perr := protocol.AsError(err)
	if perr == nil {
		if errors.Is(err, context.Canceled) {
			return // the client went away
		}
		g.log.ErrorContext(ar.r.Context(), "request failed", "method", ar.r.Method, "path", ar.r.URL.Path,
			logging.CorrelationID(ar.headers[protocol.HeaderCorrelationID]), "err", err)
		perr = protocol.ErrGatewayInternal()
	}
	writeError(ar.w, ar.headers, perr)
}

// timing is how a command waits for its answer.
type timing struct {
	timeout time.Duration
	// fireAndForget: response-required=false and no acknowledgements
	// requested, so the command is published and 202 answered at once.
	fireAndForget bool
}

// timing applies Ditto's rules for the timeout and response-required
// headers (AbstractRoute, AbstractCommandAckRequestSetter,
// AcknowledgementAggregatorActorStarter): the timeout defaults to
// REQUEST_TIMEOUT and must not exceed one minute; response-required defaults
// to false for a zero timeout and true otherwise; a zero timeout with a
// response or acknowledgements requested is invalid. The effective timeout
// is written to the command headers, as Ditto does.
func (g *Gateway) timing(h protocol.Headers) (timing, *protocol.Error) {
	t := timing{}
	d, given, perr := headerTimeout(h, g.cfg.RequestTimeout)
	if perr != nil {
		return timing{timeout: g.cfg.RequestTimeout}, perr
	}
	t.timeout = d
	if !given {
		h[protocol.HeaderTimeout] = g.defaultTimeout
	}
	acks := h[protocol.HeaderRequestedAcks]
	acksRequested := acks != "" && acks != "[]"
	responseRequired := t.timeout > 0
	if v, ok := h[protocol.HeaderResponseRequired]; ok {
		responseRequired = v == "true"
	}
	if t.timeout == 0 && (responseRequired || acksRequested) {
		e := protocol.ErrHeaderInvalidMessage("The value of the header 'timeout' must not be zero if response or acknowledgements are requested.")
		e.Description = "Please provide a positive timeout."
		return t, e
	}
	t.fireAndForget = !responseRequired && !acksRequested
	return t, nil
}

// headerTimeout returns the duration of the timeout header, within
// Ditto's bound, and whether it was given; def when it was not.
func headerTimeout(h protocol.Headers, def time.Duration) (time.Duration, bool, *protocol.Error) {
	v, ok := h[protocol.HeaderTimeout]
	if !ok {
		return def, false, nil
	}
	d, err := protocol.ParseTimeout(v)
	if err != nil {
		return def, true, protocol.AsError(err)
	}
	if err := protocol.CheckTimeout(d, protocol.MaxCommandTimeout); err != nil {
		return def, true, protocol.AsError(err)
	}
	return d, true, nil
}

// formatTimeout renders a timeout header value as Ditto's DittoDuration
// does.
func formatTimeout(d time.Duration) string { return protocol.FormatDuration(d) }

// actionOf maps a method to the command action of a resource.
func actionOf(m methods) string {
	switch m {
	case methodPut:
		return protocol.ActionModify
	case methodPatch:
		return protocol.ActionMerge
	case methodDelete:
		return protocol.ActionDelete
	case methodPost:
		return protocol.ActionCreate
	}
	return protocol.ActionRetrieve
}

// channel returns the channel of the request's commands: twin unless the
// channel header (or query parameter) asks for live.
func channel(h protocol.Headers) string {
	if strings.EqualFold(strings.TrimSpace(h[protocol.HeaderChannel]), protocol.ChannelLive) {
		return protocol.ChannelLive
	}
	return protocol.ChannelTwin
}

// serveResource maps one request to its command, sends it to the owning
// service and answers with the reply.
func (g *Gateway) serveResource(ar *apiRequest, res resource) {
	m := methodOf(ar.r.Method)
	if m&res.allowed == 0 {
		writeMethodNotAllowed(ar.w, ar.r.Method, res.allowed)
		return
	}
	switch res.kind {
	case resThings:
		if m == methodGet {
			g.retrieveThings(ar)
		} else {
			g.createEntity(ar, protocol.GroupThings)
		}
		return
	case resPolicies:
		g.createEntity(ar, protocol.GroupPolicies)
		return
	case resMessage:
		g.sendMessage(ar, res)
		return
	}
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(res.id, res.group, channel(ar.headers), protocol.CriterionCommands, actionOf(m)).String(),
		Headers: ar.headers,
		Path:    res.path,
	}
	switch m {
	case methodGet:
		if res.fields {
			fields, err := fieldsParam(ar.query)
			if err != nil {
				g.fail(ar, err)
				return
			}
			env.Fields = fields
		}
		if res.kind == resPolicyRoot {
			// Ditto's PoliciesRoute reads policy-view as a parameter of
			// this route alone and checks it.
			if vs, ok := ar.query[protocol.HeaderPolicyView]; ok && len(vs) > 0 {
				switch v := strings.ToLower(strings.TrimSpace(vs[0])); v {
				case "", "original", "resolved":
					ar.headers[protocol.HeaderPolicyView] = vs[0]
				default:
					g.fail(ar, protocol.NewError(http.StatusBadRequest, "policies:view.invalid",
						"The 'policy-view' parameter has an invalid value.",
						"Use 'original' (or omit) for the stored policy, or 'resolved' for the merged view."))
					return
				}
			}
		}
	case methodPut, methodPatch:
		if m == methodPatch {
			ar.headers[protocol.HeaderContentType] = protocol.MediaTypeMergePatchJSON
		}
		value, err := g.commandValue(ar, res, m)
		if err != nil {
			g.fail(ar, err)
			return
		}
		env.Value = value
	}
	location := ""
	if m == methodPut {
		location = requestURL(ar.r, ar.r.URL.EscapedPath())
	}
	g.send(ar, command.Request{Group: res.group, EntityID: res.id, Auth: ar.caller.auth, Envelope: env}, location)
}

// send dispatches c and answers with its reply, or 202 at once for a
// fire-and-forget command.
func (g *Gateway) send(ar *apiRequest, c command.Request, location string) {
	t, perr := g.timing(ar.headers)
	if perr != nil {
		writeError(ar.w, ar.headers, perr)
		return
	}
	c.Timeout = t.timeout
	started := time.Now()
	plan, err := g.planAcks(&c, ar.headers)
	if err != nil {
		g.log.WarnContext(ar.r.Context(), "acknowledgement address", "entity_id", c.EntityID, logging.CorrelationID(ar.headers[protocol.HeaderCorrelationID]), "err", err)
		writeError(ar.w, ar.headers, protocol.ErrGatewayServiceUnavailable())
		return
	}
	defer plan.done()
	if t.fireAndForget {
		if err := g.publish(c); err != nil {
			if errors.Is(err, nats.ErrMaxPayload) {
				writeError(ar.w, ar.headers, g.tooLargeToSend(c))
				return
			}
			g.log.WarnContext(ar.r.Context(), "publish command", "entity_id", c.EntityID, logging.CorrelationID(ar.headers[protocol.HeaderCorrelationID]), "err", err)
			writeError(ar.w, ar.headers, protocol.ErrGatewayServiceUnavailable())
			return
		}
		accepted(ar)
		return
	}
	reply, err := g.request(ar.r.Context(), c)
	if errors.Is(err, nats.ErrMaxPayload) {
		err = g.tooLargeToSend(c)
	}
	reply, err = liveOutcome(plan, reply, err)
	if err != nil {
		g.fail(ar, err)
		return
	}
	if plan != nil {
		g.answerWithAcks(ar, c, reply, location, plan, t.timeout, started)
		return
	}
	if c.Group == protocol.GroupThings && channel(ar.headers) == protocol.ChannelLive {
		// A live command: the device answered (livecmd.go); no device in
		// time is command.timeout, from g.request.
		reply = liveReply(ar, reply)
	}
	if ar.headers[protocol.HeaderResponseRequired] == "false" {
		// Acknowledgements were requested without a response: Ditto
		// answers 202 once they arrived, or the failure.
		if perr, ok := reply.AsError(); ok {
			writeError(ar.w, reply.Headers, perr)
			return
		}
		accepted(ar)
		return
	}
	writeReply(ar.w, reply, location)
}

// accepted answers 202 without body, as Ditto does for response-required=false.
func accepted(ar *apiRequest) {
	if cid := ar.headers[protocol.HeaderCorrelationID]; cid != "" {
		ar.w.Header()[protocol.HeaderCorrelationID] = []string{cid}
	}
	ar.w.WriteHeader(http.StatusAccepted)
}

// fieldsParam returns the fields query parameter (repeated ones joined, as
// Ditto joins them), validated as a field selector.
func fieldsParam(q url.Values) (string, error) {
	vs, ok := q["fields"]
	if !ok {
		return "", nil
	}
	fields := strings.Join(vs, ",")
	if _, err := jsonv.ParseFieldSelector(fields); err != nil {
		return "", err
	}
	return fields, nil
}

// requestURL is the absolute URL of path on the host the request was sent
// to, as Ditto's Location headers are.
func requestURL(r *http.Request, path string) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + path
}

// ---- Bodies ----------------------------------------------------------------

// mediaType returns the media type of the request body without parameters,
// lower-case; a request without Content-Type is application/octet-stream,
// as Pekko HTTP (and therefore Ditto) sees it.
func mediaType(r *http.Request) string {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return "application/octet-stream"
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt, _, _ = strings.Cut(ct, ";")
		return strings.ToLower(strings.TrimSpace(mt))
	}
	return mt
}

// checkMediaType applies Ditto's ContentTypeValidationDirective: PATCH takes
// only application/merge-patch+json, PUT and POST application/json and the
// ADDITIONAL_ACCEPTED_MEDIA_TYPES. Both are 415 otherwise.
func (g *Gateway) checkMediaType(r *http.Request, m methods) error {
	mt := mediaType(r)
	if m == methodPatch {
		if mt != protocol.MediaTypeMergePatchJSON {
			return protocol.ErrMergePatchMediaType(mt)
		}
		return nil
	}
	if !g.mediaTypes[mt] {
		return protocol.ErrUnsupportedMediaType(mt, g.mediaTypesOrder)
	}
	return nil
}

// readBody reads the request body of an entity of group, refusing one over
// the entity size limit with Ditto's too-large error before reading it all
// (and before any command is sent). A body that cannot be read (a malformed
// chunk or trailer, a connection cut short) is an *unreadableBodyError.
func (g *Gateway) readBody(ar *apiRequest, group string) ([]byte, error) {
	limit, tooLarge := g.bodyLimit(group)
	if ar.r.ContentLength > limit {
		return nil, tooLarge(ar.r.ContentLength, limit)
	}
	body, err := io.ReadAll(http.MaxBytesReader(ar.w, ar.r.Body, limit))
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		// Without Content-Length the true size is unknown: report what
		// was read when the limit was crossed.
		return nil, tooLarge(int64(len(body))+1, limit)
	}
	if err != nil {
		return nil, &unreadableBodyError{err: err}
	}
	return body, nil
}

// unreadableBodyError is a request body the HTTP server could not read: the
// client sent a malformed chunked body or trailer, or went away.
type unreadableBodyError struct{ err error }

func (e *unreadableBodyError) Error() string { return "read request body: " + e.err.Error() }
func (e *unreadableBodyError) Unwrap() error { return e.err }

// sendHeadroom is what a command needs besides its value in a NATS
// message: topic, path and headers, all from a request head the server
// bounds to 64 KiB, some escaped in JSON.
const sendHeadroom = 256 << 10

// bodyLimit returns the largest request body of an entity of group that
// the gateway reads, and Ditto's error for a larger one: the configured
// limit, and without one (0) or above it what one NATS message can carry,
// since a larger body could not be sent.
func (g *Gateway) bodyLimit(group string) (int64, func(actual, max int64) *protocol.Error) {
	limit, tooLarge := int64(g.cfg.Limits.ThingsMaxSize), protocol.ErrThingTooLarge
	if group == protocol.GroupPolicies {
		limit, tooLarge = int64(g.cfg.Limits.PoliciesMaxSize), protocol.ErrPolicyTooLarge
	}
	if sendable := g.nc.MaxPayload() - sendHeadroom; sendable > 0 && (limit <= 0 || limit > sendable) {
		limit = sendable
	}
	return limit, tooLarge
}

// tooLargeToSend is the answer to a command that does not fit in one NATS
// message although its body was within the limit (its headers did not
// leave room): Ditto's too-large error of its entity, with the size of the
// whole command against the most NATS carries.
func (g *Gateway) tooLargeToSend(c command.Request) *protocol.Error {
	_, tooLarge := g.bodyLimit(c.Group)
	n := int64(len(c.Envelope.Value))
	if data, err := c.Envelope.AppendJSONTrusted(nil); err == nil {
		n = int64(len(data))
	}
	return tooLarge(n, g.nc.MaxPayload())
}

// readJSON reads the JSON body of a request with method m about an entity
// of group: its media type checked, its size limited, parsed.
func (g *Gateway) readJSON(ar *apiRequest, group string, m methods) ([]byte, jsonv.Value, error) {
	if err := g.checkMediaType(ar.r, m); err != nil {
		return nil, jsonv.Value{}, err
	}
	body, err := g.readBody(ar, group)
	if err != nil {
		return nil, jsonv.Value{}, err
	}
	v, err := parseBody(body)
	return body, v, err
}

// parseBody validates a request body as JSON, as Ditto reads it
// (JsonFactory.readFrom).
func parseBody(body []byte) (jsonv.Value, error) {
	if len(body) == 0 {
		return jsonv.Value{}, protocol.ErrJSONInvalid("The JSON string to read from must not be empty!")
	}
	return jsonv.Parse(body)
}

// notAnObject is Ditto's error for a body that must be a JSON object.
func notAnObject(body []byte) *protocol.Error {
	s := string(bytes.TrimSpace(body))
	if len(s) > 64 {
		s = s[:64] + "..."
	}
	return protocol.ErrJSONInvalid(fmt.Sprintf("<%s> is not a valid JSON object!", s))
}

// commandValue reads, limits and validates the body of a PUT or PATCH and
// applies the checks Ditto's routes make before building the command.
func (g *Gateway) commandValue(ar *apiRequest, res resource, m methods) ([]byte, error) {
	body, v, err := g.readJSON(ar, res.group, m)
	if err != nil {
		return nil, err
	}
	switch res.kind {
	case resThingRoot:
		return rootValue(body, v, m, "thingId", res.id, protocol.ErrThingIDNotSettable, true)
	case resPolicyRoot:
		return rootValue(body, v, m, "policyId", res.id, protocol.ErrPolicyIDNotSettable, false)
	case resThingPolicyID:
		if v.Kind() == jsonv.KindNull {
			if m == methodPatch {
				return nil, protocol.ErrThingPolicyIDNotDeletable()
			}
			return nil, protocol.ErrPolicyIDInvalid("null")
		}
		pid, ok := v.Str()
		if !ok {
			pid = string(bytes.TrimSpace(body))
		}
		if err := protocol.ValidatePolicyID(pid); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// rootValue checks the body of a PUT or PATCH of an entity itself, as
// Ditto's ThingJsonObjectCreator and PoliciesRoute do: it is an object whose
// id field, if present, is the id of the URL. A PUT without the id gets it
// (first), so the command carries the whole entity as Ditto's does. For a
// thing PATCH, null (for the thing, its thingId or its policyId) is
// refused.
func rootValue(body []byte, v jsonv.Value, m methods, idField, id string, notSettable func() *protocol.Error, thing bool) ([]byte, error) {
	if m == methodPatch && thing && v.Kind() == jsonv.KindNull {
		e := protocol.ErrThingMergeInvalid()
		e.Message = "The provided json value can not be applied at this resource"
		return nil, e
	}
	if v.Kind() != jsonv.KindObject {
		return nil, notAnObject(body)
	}
	given, ok := v.Get(idField)
	if ok {
		if m == methodPatch && thing && given.Kind() == jsonv.KindNull {
			return nil, protocol.ErrThingIDNotDeletable()
		}
		if s, isString := given.Str(); !isString || s != id {
			return nil, notSettable()
		}
	}
	if m == methodPatch {
		if pid, ok := v.Get("policyId"); ok && thing && pid.Kind() == jsonv.KindNull {
			return nil, protocol.ErrThingPolicyIDNotDeletable()
		}
		return body, nil
	}
	if ok {
		return body, nil
	}
	return withMember(body, idField, id), nil
}

// withMember returns the JSON object body with the string member key: value
// inserted first.
func withMember(body []byte, key, value string) []byte {
	obj := bytes.TrimSpace(body)
	inner := bytes.TrimSpace(obj[1 : len(obj)-1])
	out := make([]byte, 0, len(obj)+len(key)+len(value)+8)
	out = append(out, '{')
	out = appendJSONString(out, key)
	out = append(out, ':')
	out = appendJSONString(out, value)
	if len(inner) > 0 {
		out = append(out, ',')
		out = append(out, inner...)
	}
	return append(out, '}')
}

// appendJSONString appends s as a JSON string without escaping <, > and &,
// as Ditto writes strings.
func appendJSONString(dst []byte, s string) []byte {
	return jsonv.String(s).AppendJSON(dst)
}

// ---- Collections -------------------------------------------------------------

// createEntity serves POST /things and POST /policies: Ditto generates the
// id (the namespace query parameter, else DITTO_DEFAULT_NAMESPACE, and a
// random UUID) and refuses a body that names one.
func (g *Gateway) createEntity(ar *apiRequest, group string) {
	idField, notSettable := "policyId", protocol.ErrPolicyIDNotSettableForPost
	ns := g.cfg.DefaultNamespace
	if group == protocol.GroupThings {
		idField, notSettable = "thingId", protocol.ErrThingIDNotSettableForPost
		if channel(ar.headers) == protocol.ChannelLive {
			g.fail(ar, protocol.ErrThingNotCreatableLiveChannel())
			return
		}
		if vs := ar.query["namespace"]; len(vs) > 0 && vs[0] != "" {
			ns = vs[0]
		}
	}
	id := ns + ":" + uuid.NewString()
	validate := protocol.ValidatePolicyID
	if group == protocol.GroupThings {
		validate = protocol.ValidateThingID
	}
	if err := validate(id); err != nil {
		g.fail(ar, err)
		return
	}
	body, v, err := g.readJSON(ar, group, methodPost)
	if err != nil {
		g.fail(ar, err)
		return
	}
	if v.Kind() != jsonv.KindObject {
		g.fail(ar, notAnObject(body))
		return
	}
	if _, ok := v.Get(idField); ok {
		g.fail(ar, notSettable())
		return
	}
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(id, group, protocol.ChannelTwin, protocol.CriterionCommands, protocol.ActionCreate).String(),
		Headers: ar.headers,
		Path:    "/",
		Value:   withMember(body, idField, id),
	}
	location := requestURL(ar.r, "/api/2/"+group+"/"+id)
	g.send(ar, command.Request{Group: group, EntityID: id, Auth: ar.caller.auth, Envelope: env}, location)
}

// maxParallelRetrieves bounds the concurrent retrieves of one ids request.
const maxParallelRetrieves = 32

// retrieveThings serves GET /things?ids=a,b: it retrieves every thing
// concurrently and answers the JSON array of those the caller may see, in
// the order requested, as Ditto's things aggregator does (a thing that is
// missing or not visible is left out). Unlike Ditto, a thing the services
// could not answer for in time fails the request rather than silently
// shrinking the result.
//
// Without ids Ditto answers from the search index, which the gateway does
// not reach yet: that is Ditto's things:things.ids.missing.
func (g *Gateway) retrieveThings(ar *apiRequest) {
	var ids []string
	for _, v := range ar.query["ids"] {
		ids = append(ids, strings.Split(v, ",")...)
	}
	if _, asked := ar.query["ids"]; !asked {
		g.fail(ar, protocol.ErrThingIDsMissing())
		return
	}
	for _, id := range ids {
		if err := protocol.ValidateThingID(id); err != nil {
			g.fail(ar, err)
			return
		}
	}
	fields, err := fieldsParam(ar.query)
	if err != nil {
		g.fail(ar, err)
		return
	}
	t, perr := g.timing(ar.headers)
	if perr != nil {
		writeError(ar.w, ar.headers, perr)
		return
	}
	if t.fireAndForget {
		accepted(ar)
		return
	}
	results := make([]protocol.Envelope, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	sem := make(chan struct{}, maxParallelRetrieves)
	for i, id := range ids {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			env := protocol.Envelope{
				Topic:   protocol.NewTopic(id, protocol.GroupThings, protocol.ChannelTwin, protocol.CriterionCommands, protocol.ActionRetrieve).String(),
				Headers: ar.headers,
				Path:    "/",
				Fields:  fields,
			}
			results[i], errs[i] = g.request(ar.r.Context(), command.Request{
				Group: protocol.GroupThings, EntityID: id, Auth: ar.caller.auth, Envelope: env, Timeout: t.timeout,
			})
		}()
	}
	wg.Wait()
	body := []byte{'['}
	for i := range ids {
		if errs[i] != nil {
			g.fail(ar, errs[i])
			return
		}
		reply := results[i]
		if perr, isErr := reply.AsError(); isErr {
			if perr.Status >= http.StatusInternalServerError {
				writeError(ar.w, ar.headers, perr)
				return
			}
			continue
		}
		if reply.Value == nil || (reply.Status != 0 && reply.Status != http.StatusOK) {
			continue
		}
		if len(body) > 1 {
			body = append(body, ',')
		}
		body = append(body, reply.Value...)
	}
	body = append(body, ']')
	writeJSON(ar.w, protocol.Headers{protocol.HeaderCorrelationID: ar.headers[protocol.HeaderCorrelationID]}, http.StatusOK, body)
}
