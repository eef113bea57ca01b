package gateway

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/logging"
)

// Live messages over HTTP (Ditto's httpapi-messages): a POST to a thing's
// or feature's inbox or outbox becomes a Ditto Protocol message on the live
// channel, sent like a command to the things service, which enforces the
// policy's message: resources and hands it to the devices' sessions (see
// wsevents.go for their side). The HTTP caller gets the answer a session
// sends back (status, headers and payload as the device chose them), 202
// at once for timeout=0, or 408 when nobody answers in time.

// defaultMessageTimeout is the timeout of a message without one (Ditto's
// messages default to 10 seconds, not to REQUEST_TIMEOUT).
const defaultMessageTimeout = 10 * time.Second

// claimSubject is the subject of claim messages, sent to /inbox/claim.
const claimSubject = "claim"

// messageResource resolves the segments after a thing's or feature's
// address that start with inbox or outbox: base is "" for the thing or
// "/features/<id>". Only POST is served.
func messageResource(res resource, base string, segs []string) (resource, error) {
	box := segs[0]
	rest := segs[1:]
	res.kind, res.allowed = resMessage, methodPost
	switch {
	case box == "inbox" && base == "" && len(rest) == 1 && rest[0] == claimSubject:
		res.path = "/inbox/messages/" + claimSubject // the protocol path of claims
		return res, nil
	case len(rest) >= 2 && rest[0] == "messages" && strings.Join(rest[1:], "") != "":
		subject := strings.Join(rest[1:], "/")
		res.path = base + "/" + box + "/messages/" + subject
		return res, nil
	}
	return resource{}, errNotFound
}

// messageSubject returns the subject of a message path.
func messageSubject(path string) string {
	_, subject, _ := strings.Cut(path, "/messages/")
	return subject
}

// sendMessage serves a POST to a mailbox.
func (g *Gateway) sendMessage(ar *apiRequest, res resource) {
	h := ar.headers
	timeout, _, perr := headerTimeout(h, defaultMessageTimeout)
	if perr != nil {
		g.fail(ar, perr)
		return
	}
	h[protocol.HeaderTimeout] = formatTimeout(timeout)
	responseRequired := timeout > 0
	if v, ok := h[protocol.HeaderResponseRequired]; ok {
		responseRequired = responseRequired && v != "false"
	}
	h[protocol.HeaderResponseRequired] = strconv.FormatBool(responseRequired)
	body, err := g.readBody(ar, protocol.GroupThings)
	if err != nil {
		g.fail(ar, err)
		return
	}
	if max := int64(g.cfg.Limits.MessagesMaxSize); max > 0 && int64(len(body)) > max {
		g.fail(ar, protocol.ErrMessagePayloadTooLarge(int64(len(body)), max))
		return
	}
	ct := ar.r.Header.Get("Content-Type")
	if ct == "" {
		ct = "application/octet-stream" // as Pekko HTTP sees a body without type
	}
	h[protocol.HeaderContentType] = ct
	value, err := messagePayload(ct, body)
	if err != nil {
		g.fail(ar, err)
		return
	}
	subject := messageSubject(res.path)
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(res.id, protocol.GroupThings, protocol.ChannelLive, protocol.CriterionMessages, subject).String(),
		Headers: h,
		Path:    res.path,
		Value:   value,
	}
	req := command.Request{Group: protocol.GroupThings, EntityID: res.id, Auth: ar.caller.auth, Envelope: env, Timeout: timeout}
	started := time.Now()
	plan, err := g.planAcks(&req, h)
	if err != nil {
		g.log.WarnContext(ar.r.Context(), "acknowledgement address", "entity_id", req.EntityID, logging.CorrelationID(ar.headers[protocol.HeaderCorrelationID]), "err", err)
		g.fail(ar, protocol.ErrGatewayServiceUnavailable())
		return
	}
	defer plan.done()
	if !responseRequired && plan == nil {
		if err := g.publish(req); err != nil {
			if errors.Is(err, nats.ErrMaxPayload) {
				err = g.tooLargeToSend(req)
			}
			g.fail(ar, err)
			return
		}
		accepted(ar)
		return
	}
	reply, err := g.request(ar.r.Context(), req)
	if errors.Is(err, nats.ErrMaxPayload) {
		err = g.tooLargeToSend(req)
	}
	reply, err = liveOutcome(plan, reply, err)
	if err != nil {
		g.fail(ar, err)
		return
	}
	if plan != nil {
		g.answerWithAcks(ar, req, reply, "", plan, timeout, started)
		return
	}
	writeMessageReply(ar.w, reply)
}

// messagePayload is the value of a message with body of content type ct,
// as Ditto's protocol carries it: JSON as it is, text as a JSON string,
// anything else base64-encoded in a JSON string.
func messagePayload(ct string, body []byte) (json.RawMessage, error) {
	if len(body) == 0 {
		return nil, nil
	}
	switch payloadKind(ct) {
	case payloadJSON:
		if !json.Valid(body) {
			return nil, protocol.ErrJSONInvalid(string(body))
		}
		return body, nil
	case payloadText:
		return jsonString(string(body)), nil
	}
	return jsonString(base64.StdEncoding.EncodeToString(body)), nil
}

// jsonString encodes s as a JSON string without escaping <, > and &, as
// Ditto writes strings.
func jsonString(s string) json.RawMessage {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

type payloadType uint8

const (
	payloadBinary payloadType = iota
	payloadJSON
	payloadText
)

// payloadKind classifies a content type as Ditto's ContentType does:
// application/json and any +json type are JSON, text/* and a few textual
// application types are text, everything else binary.
func payloadKind(ct string) payloadType {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		mt = strings.ToLower(strings.TrimSpace(strings.SplitN(ct, ";", 2)[0]))
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return payloadJSON
	case strings.HasPrefix(mt, "text/"), mt == "application/xml", mt == "application/javascript",
		mt == "application/x-www-form-urlencoded", strings.HasSuffix(mt, "+xml"):
		return payloadText
	}
	return payloadBinary
}

// writeMessageReply answers with a device's response: its status, its
// external headers and its payload decoded as its content type says.
func writeMessageReply(w http.ResponseWriter, reply protocol.Envelope) {
	if perr, ok := reply.AsError(); ok {
		writeError(w, reply.Headers, perr)
		return
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
	}
	body, ct := messageBody(reply)
	writeReplyBody(w, reply.Headers, status, body, ct, "")
}

// messageBody is the HTTP body of a message's payload and its content
// type: JSON as it is, a text payload's string, a binary payload decoded
// from base64 (as it is when it is not a base64 string).
func messageBody(env protocol.Envelope) ([]byte, string) {
	if len(env.Value) == 0 {
		return nil, ""
	}
	ct := env.Headers[protocol.HeaderContentType]
	if ct == "" {
		ct = contentTypeJSON
	}
	kind := payloadKind(ct)
	if kind == payloadJSON {
		return env.Value, ct
	}
	var s string
	if json.Unmarshal(env.Value, &s) != nil {
		return env.Value, ct // not a string: sent as the JSON it is
	}
	if kind == payloadText {
		return []byte(s), ct
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil {
		return b, ct
	}
	return []byte(s), ct
}
