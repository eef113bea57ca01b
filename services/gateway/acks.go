package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/logging"
	"github.com/dittonats/dittonats/services/internal/searchapi"
)

// Acknowledgements as Ditto's AcknowledgementAggregatorActor collects them
// for a twin command: twin-persisted (the command's own success),
// search-persisted (the search index holds the change) and custom labels
// (issued by the WebSocket subscribers that declared them, see
// ackagg.go). A thing-modifying request that asks for more than
// twin-persisted is answered once all of them are in, or the timeout
// passed, with Ditto's aggregated acknowledgements.

// Built-in acknowledgement labels (Ditto's DittoAcknowledgementLabel).
const (
	ackTwinPersisted   = protocol.AckTwinPersisted
	ackSearchPersisted = protocol.AckSearchPersisted
)

// ack is one acknowledgement as Ditto renders it inside aggregated
// acknowledgements: status, optional JSON payload and external headers.
type ack struct {
	label   string
	status  int
	payload []byte
	headers protocol.Headers
}

func (a ack) success() bool { return a.status >= 200 && a.status < 300 }

// requestedAcks returns the labels of the requested-acks header (a JSON
// array once commandHeaders read it), without repeats.
func requestedAcks(h protocol.Headers) []string {
	v, ok := h[protocol.HeaderRequestedAcks]
	if !ok {
		return nil
	}
	var labels []string
	if err := json.Unmarshal([]byte(v), &labels); err != nil {
		return nil
	}
	out := labels[:0]
	for _, l := range labels {
		if !contains(out, l) {
			out = append(out, l)
		}
	}
	return out
}

// answerWithAcks answers the successful or failed reply of c once the
// acknowledgements of p are in, as Ditto's gateway does:
//
//   - a failed command is answered with its error, as without acks;
//   - otherwise the acks are combined (Ditto's Acknowledgements): one ack
//     answers with its own status and payload; several answer 200 when all
//     succeeded and 424 Failed Dependency otherwise, with a body holding
//     every ack by label;
//   - with response-required=false a success is 202 without body and a
//     failure keeps only the statuses of the acks.
func (g *Gateway) answerWithAcks(ar *apiRequest, c command.Request, reply protocol.Envelope, location string,
	p *ackPlan, timeout time.Duration, started time.Time) {
	if perr, ok := reply.AsError(); ok {
		writeError(ar.w, reply.Headers, perr)
		return
	}
	acks, err := g.collect(ackContext{
		ctx: ar.r.Context(), auth: ar.caller.auth, correlationID: ar.headers[protocol.HeaderCorrelationID],
		thingID: c.EntityID, location: location, timeout: timeout, started: started,
		deleted: methodOf(ar.r.Method) == methodDelete && c.Envelope.Path == "/",
	}, p, reply)
	if err != nil {
		return // the client went away
	}
	status := combinedStatus(acks)
	if ar.headers[protocol.HeaderResponseRequired] == "false" {
		if status >= 200 && status < 300 {
			accepted(ar)
			return
		}
		for i := range acks {
			acks[i].payload, acks[i].headers = nil, protocol.Headers{}
		}
	}
	body := aggregatedJSON(acks)
	if body == nil {
		hv := newHeaderValues(len(ar.headers))
		setExternalHeaders(ar.w, ar.headers, &hv)
		ar.w.WriteHeader(status)
		return
	}
	writeJSON(ar.w, ar.headers, status, body)
}

// awaitIndexed asks the search service to wait until its index holds the
// thing at revision rev (or no longer holds it, when deleted), for up to
// left, and returns the search-persisted ack: 204 when it does, Ditto's
// acknowledgement timeout (408, naming the request's whole timeout) when
// left passes first, 503 when no search service answers, and the search
// service's status and body otherwise. Only the request's context ending
// is an error.
func (g *Gateway) awaitIndexed(ac ackContext, rev int64, left time.Duration) (ack, error) {
	headers := protocol.Headers{protocol.HeaderCorrelationID: ac.correlationID}
	timedOut := ack{label: ackSearchPersisted, status: http.StatusRequestTimeout,
		payload: errorJSON(protocol.ErrAckRequestTimeout(ac.timeout)), headers: headers}
	if left <= 0 {
		return timedOut, nil
	}
	req := searchapi.Request{
		Type: searchapi.TypeAwait, ThingID: ac.thingID, Revision: rev, Deleted: ac.deleted,
		TimeoutMillis: max(left.Milliseconds(), 1),
	}
	reply, err := g.searchRequest(ac.ctx, ac.auth, req, left+searchGrace)
	switch {
	case errors.Is(err, context.Canceled):
		return ack{}, err
	case errors.Is(err, errSearchTimeout):
		return timedOut, nil
	case err != nil:
		perr := protocol.AsError(err)
		if perr == nil {
			g.log.Warn("await search index", "thing_id", ac.thingID, logging.CorrelationID(ac.correlationID), "err", err)
			perr = protocol.ErrGatewayServiceUnavailable()
		}
		return ack{label: ackSearchPersisted, status: perr.Status, payload: errorJSON(perr), headers: headers}, nil
	}
	status, err := searchStatus(reply)
	if err != nil {
		g.log.Warn("await search index", "thing_id", ac.thingID, logging.CorrelationID(ac.correlationID), "err", err)
		perr := protocol.ErrGatewayInternal()
		return ack{label: ackSearchPersisted, status: perr.Status, payload: errorJSON(perr), headers: headers}, nil
	}
	if status == http.StatusRequestTimeout {
		return timedOut, nil
	}
	a := ack{label: ackSearchPersisted, status: status, headers: headers}
	if len(reply.Data) > 0 && json.Valid(reply.Data) {
		a.payload = reply.Data
	}
	return a, nil
}

// twinPersisted is the twin-persisted ack of a successful reply: its
// status, value and external headers, with the Location of a creation, as
// Ditto's gateway adds it.
func twinPersisted(reply protocol.Envelope, location string) ack {
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
		if reply.Value == nil {
			status = http.StatusNoContent
		}
	}
	headers := protocol.Headers{}
	for k, v := range reply.Headers {
		if k == protocol.HeaderContentType {
			continue
		}
		if def, ok := protocol.LookupHeader(k); ok && def.ToExternal {
			headers[k] = v
		}
	}
	if status == http.StatusCreated && location != "" {
		headers[protocol.HeaderLocation] = location
	}
	a := ack{label: ackTwinPersisted, status: status, headers: headers}
	if status != http.StatusNoContent && len(reply.Value) > 0 {
		a.payload = reply.Value
	}
	return a
}

// combinedStatus is the status of aggregated acks (Ditto's
// Acknowledgements.getCombinedHttpStatus): a sole ack's own; else 200 when
// all succeeded and 424 Failed Dependency when one did not.
func combinedStatus(acks []ack) int {
	if len(acks) == 1 {
		return acks[0].status
	}
	for _, a := range acks {
		if !a.success() {
			return http.StatusFailedDependency
		}
	}
	return http.StatusOK
}

// aggregatedJSON renders acks as Ditto's Acknowledgements entity over
// HTTP: a sole ack's payload (nil for none), or appendAcks with every
// ack's headers.
func aggregatedJSON(acks []ack) []byte {
	if len(acks) == 1 {
		return acks[0].payload
	}
	return appendAcks(nil, acks, true)
}

// appendAcks appends an object of every ack by label, in the order
// requested, each {"status", "payload" (if any), "headers"}; headers that
// are empty only when allHeaders is set (Ditto's HTTP entity writes them
// always, its protocol adapter only when there are some).
func appendAcks(out []byte, acks []ack, allHeaders bool) []byte {
	out = append(out, '{')
	for i, a := range acks {
		if i > 0 {
			out = append(out, ',')
		}
		out = appendJSONString(out, a.label)
		out = append(out, `:{"status":`...)
		out = strconv.AppendInt(out, int64(a.status), 10)
		if a.payload != nil {
			out = append(out, `,"payload":`...)
			out = append(out, a.payload...)
		}
		if allHeaders || len(a.headers) > 0 {
			out = append(out, `,"headers":`...)
			out = a.headers.AppendJSON(out)
		}
		out = append(out, '}')
	}
	return append(out, '}')
}
