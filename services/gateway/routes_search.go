package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/searchapi"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/streams"
)

// The search routes (Ditto's ThingSearchRoute) map a request to one
// searchapi.Request and answer with what the search service answers: its
// status and body. The search service checks filter, options, fields and
// namespaces and answers Ditto's errors for them; the gateway only reads
// the parameters.

// mediaTypeForm is the only media type of a search POST.
const mediaTypeForm = "application/x-www-form-urlencoded"

// searchGrace is how much longer than the query's own timeout the gateway
// waits for the search service, so that the service's own answer (its 408
// thing-search:query.time.exceeded, or a late result) wins over the
// gateway's.
const searchGrace = 250 * time.Millisecond

// serveSearch serves /api/2/search/things (a query) and
// /api/2/search/things/count, with GET (query parameters) and POST (the same
// parameters as a form body).
func (g *Gateway) serveSearch(ar *apiRequest, rest []string) {
	if len(rest) == 0 || rest[0] != "things" {
		writeNotFound(ar.w)
		return
	}
	count := false
	switch {
	case atEnd(rest[1:]):
	case len(rest) == 2 && rest[1] == "count":
		// Pekko's path("count"): no trailing slash.
		count = true
	default:
		writeNotFound(ar.w)
		return
	}
	m := methodOf(ar.r.Method)
	if m != methodGet && m != methodPost {
		writeMethodNotAllowed(ar.w, ar.r.Method, methodGet|methodPost)
		return
	}
	// Search results as server-sent events (wssearch.go), Ditto's SSE
	// route, which takes GET /search/things with Accept text/event-stream.
	if !count && m == methodGet && acceptsEventStream(ar.r.Header.Values("Accept")) {
		g.serveSearchSSE(ar, ar.query)
		return
	}
	params := ar.query
	if m == methodPost {
		form, err := g.readForm(ar)
		if errors.Is(err, errMalformedForm) {
			writeText(ar.w, http.StatusBadRequest, textFormMalformed)
			return
		}
		if err != nil {
			g.fail(ar, err)
			return
		}
		params = form
	}
	_, timeoutGiven := ar.headers[protocol.HeaderTimeout]
	t, perr := g.timing(ar.headers)
	if perr != nil {
		writeError(ar.w, ar.headers, perr)
		return
	}
	if t.fireAndForget {
		accepted(ar)
		return
	}
	req := searchapi.Request{
		Type:       searchapi.TypeQuery,
		Filter:     searchFilter(params["filter"]),
		Namespaces: searchNamespaces(params["namespaces"]),
	}
	if count {
		req.Type = searchapi.TypeCount
	} else {
		req.Options = strings.Join(params["option"], ",")
		req.Fields = strings.Join(params["fields"], ",")
	}
	if timeoutGiven {
		req.TimeoutMillis = max(t.timeout.Milliseconds(), 1)
	}
	reply, err := g.searchRequest(ar.r.Context(), ar.caller.auth, req, t.timeout+searchGrace)
	switch {
	case errors.Is(err, context.Canceled):
		return // the client went away
	case errors.Is(err, errSearchTimeout):
		writeError(ar.w, ar.headers, protocol.ErrSearchQueryTimeExceeded())
		return
	case err != nil:
		g.fail(ar, err)
		return
	}
	status, err := searchStatus(reply)
	if err != nil {
		g.fail(ar, err)
		return
	}
	writeSearchReply(ar, status, reply.Data)
}

// readForm reads the form body of a search POST, which Ditto requires to be
// application/x-www-form-urlencoded (415 otherwise).
func (g *Gateway) readForm(ar *apiRequest) (url.Values, error) {
	if mt := mediaType(ar.r); mt != mediaTypeForm {
		return nil, protocol.ErrUnsupportedMediaType(mt, []string{mediaTypeForm})
	}
	body, err := g.readBody(ar, protocol.GroupThings)
	if err != nil {
		return nil, err
	}
	form, err := url.ParseQuery(string(body))
	if err != nil {
		return nil, errMalformedForm
	}
	return form, nil
}

// errMalformedForm is a search POST body that is no form (a bad percent
// escape); Pekko rejects it as malformed request content, in plain text.
var errMalformedForm = errors.New("malformed form body")

const textFormMalformed = "The request content was malformed:\nIllegal form data"

// searchFilter joins the filter parameters as Ditto does: one as it is,
// several as the conjunction and(f1,f2,...).
func searchFilter(filters []string) string {
	switch len(filters) {
	case 0:
		return ""
	case 1:
		return filters[0]
	}
	return "and(" + strings.Join(filters, ",") + ")"
}

// searchNamespaces splits the namespaces parameters at commas, dropping
// empty ones and repeats, as Ditto does; nil when none were given.
func searchNamespaces(params []string) []string {
	var out []string
	for _, p := range params {
		for ns := range strings.SplitSeq(p, ",") {
			if ns != "" && !contains(out, ns) {
				out = append(out, ns)
			}
		}
	}
	return out
}

// errSearchTimeout is a search request the search service did not answer
// in time.
var errSearchTimeout = errors.New("search service did not answer in time")

// searchRequest sends req to the search service on behalf of the caller
// whose subjects auth holds (the JSON array of streams.HeaderAuth) and waits
// up to wait for the answer. Nobody serving the subject is Ditto's
// gateway:service.unavailable at once; no answer in time is
// errSearchTimeout.
func (g *Gateway) searchRequest(ctx context.Context, auth string, req searchapi.Request, wait time.Duration) (*nats.Msg, error) {
	data, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("encode search request: %w", err)
	}
	msg := &nats.Msg{
		Subject: g.names.SearchQueries(),
		Header:  nats.Header{streams.HeaderAuth: []string{auth}},
		Data:    data,
	}
	msg.Header = tracing.Inject(ctx, msg.Header) // the search continues the request's trace
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	reply, err := g.nc.RequestMsgWithContext(ctx, msg)
	switch {
	case err == nil:
		return reply, nil
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, nats.ErrConnectionClosed),
		errors.Is(err, nats.ErrDisconnected), errors.Is(err, nats.ErrConnectionDraining),
		errors.Is(err, nats.ErrConnectionReconnecting):
		return nil, protocol.ErrGatewayServiceUnavailable()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return nil, errSearchTimeout
	case errors.Is(err, context.Canceled):
		return nil, err
	default:
		return nil, fmt.Errorf("request search: %w", err)
	}
}

// searchStatus reads the HTTP status of a search service's answer.
func searchStatus(m *nats.Msg) (int, error) {
	v := m.Header.Get(searchapi.HeaderStatus)
	status, err := strconv.Atoi(v)
	if err != nil || status < 100 || status > 599 {
		return 0, fmt.Errorf("search reply: invalid %s header %q", searchapi.HeaderStatus, v)
	}
	return status, nil
}

// writeSearchReply answers with the search service's status and body (a
// JSON document, or nothing) and the request's correlation-id.
func writeSearchReply(ar *apiRequest, status int, body []byte) {
	hdrs := protocol.Headers{protocol.HeaderCorrelationID: ar.headers[protocol.HeaderCorrelationID]}
	if len(body) == 0 || status == http.StatusNoContent || status == http.StatusNotModified {
		ar.w.Header()[protocol.HeaderCorrelationID] = []string{hdrs[protocol.HeaderCorrelationID]}
		ar.w.WriteHeader(status)
		return
	}
	writeJSON(ar.w, hdrs, status, body)
}
