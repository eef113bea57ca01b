package gateway

import (
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/dittonats/dittonats/protocol"
)

// This file is the one place that turns Ditto's answers into HTTP responses:
// reply envelopes, *protocol.Error values, the JSON errors for requests no
// route accepts, and the plain-text answers of the HTTP layer Ditto's
// gateway is built on (Apache Pekko HTTP) for bad credentials on /status
// and unreadable bodies.

const (
	contentTypeJSON = "application/json"
	contentTypeText = "text/plain; charset=UTF-8"
)

// Pekko HTTP's texts for rejections Ditto leaves to its default handler.
const (
	textNotFound           = "The requested resource could not be found."
	textCredentialsMissing = "The resource requires authentication, which was not supplied with the request"
	textCredentialsInvalid = "The supplied authentication is invalid"
	// Pekko's summaries of a request entity its parser fails on: the one
	// for a connection closed mid-entity, and ours for the rest (Pekko
	// names the exact fault, e.g. "Illegal chunk termination", which Go's
	// server does not tell).
	textEntityTruncated = "Entity stream truncation. The HTTP parser was receiving an entity when the underlying connection was closed unexpectedly."
	textEntityIllegal   = "Illegal request entity: malformed chunked transfer coding or trailer"
)

// errorJSON renders err as Ditto's error body (status, error, message,
// description, href). It borrows protocol's error envelope so that the
// bytes match those of error envelopes exactly.
func errorJSON(err *protocol.Error) []byte {
	return protocol.ErrorEnvelope(protocol.Topic{Group: protocol.GroupThings}, nil, "/", err).Value
}

// headerValues hands out one-element header values from one backing array:
// a response's headers then cost one allocation instead of one each.
type headerValues []string

func newHeaderValues(n int) headerValues { return make(headerValues, 0, n) }

func (hv *headerValues) one(v string) []string {
	*hv = append(*hv, v)
	n := len(*hv)
	return (*hv)[n-1 : n : n]
}

// setExternalHeaders copies the headers Ditto shows clients (those it
// defines with writeToExternal) from hdrs into w, lower-case as Ditto writes
// them, taking the values from hv. Content-type is the body's, set by the
// caller.
func setExternalHeaders(w http.ResponseWriter, hdrs protocol.Headers, hv *headerValues) {
	out := w.Header()
	for k, v := range hdrs {
		if k == protocol.HeaderContentType {
			continue
		}
		if def, ok := protocol.LookupHeader(k); ok && def.ToExternal {
			out[k] = hv.one(v)
		}
	}
}

// writeError answers err with its status and Ditto's error JSON, carrying
// the external headers of hdrs (the request's or the reply's). A 304 has no
// body, as in Ditto.
func writeError(w http.ResponseWriter, hdrs protocol.Headers, err *protocol.Error) {
	hv := newHeaderValues(len(hdrs) + 2)
	setExternalHeaders(w, hdrs, &hv)
	status := err.Status
	if status < 100 || status > 599 {
		status = http.StatusInternalServerError
	}
	if status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	body := errorJSON(err)
	h := w.Header()
	h["Content-Type"] = hv.one(contentTypeJSON)
	h["Content-Length"] = hv.one(strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeReply answers with a service's reply envelope: its status, its value
// as body and its external headers; an error envelope becomes the error.
// location is the Location header of a 201 (empty for none).
func writeReply(w http.ResponseWriter, reply protocol.Envelope, location string) {
	if perr, ok := reply.AsError(); ok {
		writeError(w, reply.Headers, perr)
		return
	}
	status := reply.Status
	if status == 0 {
		status = http.StatusOK
		if reply.Value == nil {
			status = http.StatusNoContent
		}
	}
	ct := reply.Headers[protocol.HeaderContentType]
	if ct == "" {
		ct = contentTypeJSON
	}
	writeReplyBody(w, reply.Headers, status, reply.Value, ct, location)
}

// writeReplyBody answers status with the external headers of hdrs and
// body of content type ct (nil: none); location is the Location header of
// a 201 (empty for none). A 204 or 304 has no body.
func writeReplyBody(w http.ResponseWriter, hdrs protocol.Headers, status int, body []byte, ct, location string) {
	hv := newHeaderValues(len(hdrs) + 3)
	setExternalHeaders(w, hdrs, &hv)
	h := w.Header()
	if status == http.StatusCreated && location != "" {
		h["Location"] = hv.one(location)
	}
	if body == nil || status == http.StatusNoContent || status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	h["Content-Type"] = hv.one(ct)
	h["Content-Length"] = hv.one(strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeJSON answers status with a JSON body and the external headers of hdrs.
func writeJSON(w http.ResponseWriter, hdrs protocol.Headers, status int, body []byte) {
	hv := newHeaderValues(len(hdrs) + 2)
	setExternalHeaders(w, hdrs, &hv)
	h := w.Header()
	h["Content-Type"] = hv.one(contentTypeJSON)
	h["Content-Length"] = hv.one(strconv.Itoa(len(body)))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeText(w http.ResponseWriter, status int, text string) {
	h := w.Header()
	h["Content-Type"] = []string{contentTypeText}
	h["Content-Length"] = []string{strconv.Itoa(len(text))}
	w.WriteHeader(status)
	_, _ = w.Write([]byte(text))
}

// writeUnreadableBody answers a request whose body could not be read (err)
// as Pekko HTTP answers an entity its parser fails on: 400 with a plain-text
// summary, and the connection closed, since where the next request would
// start is unknown.
func writeUnreadableBody(w http.ResponseWriter, err error) {
	text := textEntityIllegal
	if errors.Is(err, io.ErrUnexpectedEOF) {
		text = textEntityTruncated
	}
	w.Header()["Connection"] = []string{"close"}
	writeText(w, http.StatusBadRequest, text)
}

// codeRouteNotFound is the error code of a path no route serves. Ditto has
// no exception for it (its gateway leaves the rejection to Pekko), so the
// code is ours, in the gateway's namespace and Ditto's naming style.
const codeRouteNotFound = "gateway:route.notfound"

// hrefHTTPAPI is the HTTP API documentation the not-found error links to.
const hrefHTTPAPI = "https://www.eclipse.dev/ditto/http-api-doc.html"

// errRouteNotFound is the error of a path no route serves: 404 with Pekko's
// text as message.
func errRouteNotFound() *protocol.Error {
	e := protocol.NewError(http.StatusNotFound, codeRouteNotFound, textNotFound,
		"Check the path and the API version of the request: no resource of the HTTP API is served at it.")
	e.Href = hrefHTTPAPI
	return e
}

// writeNotFound answers a path no route serves with 404, as Ditto does.
// Ditto answers Pekko's plain-text rejection here; we answer JSON so
// clients and the explorer UI get details (the explorer shows "No error
// details from Ditto" for a body that is not Ditto's error JSON).
func writeNotFound(w http.ResponseWriter) {
	writeError(w, nil, errRouteNotFound())
}

// writeMethodNotAllowed answers a method (the request's) the matched route
// does not serve with 405 and an Allow header naming the methods it
// serves, as Ditto does. Ditto answers Pekko's plain-text rejection here;
// we answer JSON so clients and the explorer UI get details, with Ditto's
// own GatewayMethodNotAllowedException.
func writeMethodNotAllowed(w http.ResponseWriter, method string, allowed methods) {
	w.Header()["Allow"] = []string{allowed.String()}
	writeError(w, nil, protocol.ErrGatewayMethodNotAllowed(method))
}

// writeBasicChallenge answers a request to a resource protected with
// Pekko's basic authentication (Ditto's /status).
func writeBasicChallenge(w http.ResponseWriter, realm string, credentialsGiven bool) {
	w.Header()["Www-Authenticate"] = []string{`Basic realm="` + realm + `",charset=UTF-8`}
	text := textCredentialsMissing
	if credentialsGiven {
		text = textCredentialsInvalid
	}
	writeText(w, http.StatusUnauthorized, text)
}

// methods is a set of HTTP methods a route serves.
type methods uint8

const (
	methodGet methods = 1 << iota
	methodPost
	methodPut
	methodPatch
	methodDelete
)

// Common method sets of Ditto's routes.
const (
	methodsAll      = methodGet | methodPut | methodPatch | methodDelete
	methodsGetPut   = methodGet | methodPut
	methodsNoPatch  = methodGet | methodPut | methodDelete
	methodsGetPatch = methodGet | methodPut | methodPatch
)

// methodOf maps an HTTP method to its bit; others, HEAD included, map to
// 0: Ditto's Pekko HTTP runs with transparent-head-requests off, so HEAD is
// a method no route serves.
func methodOf(m string) methods {
	switch m {
	case http.MethodGet:
		return methodGet
	case http.MethodPost:
		return methodPost
	case http.MethodPut:
		return methodPut
	case http.MethodPatch:
		return methodPatch
	case http.MethodDelete:
		return methodDelete
	}
	return 0
}

// String lists the methods in the order Ditto's routes declare them.
func (m methods) String() string {
	s := ""
	for _, e := range [...]struct {
		bit  methods
		name string
	}{{methodGet, "GET"}, {methodPost, "POST"}, {methodPut, "PUT"}, {methodPatch, "PATCH"}, {methodDelete, "DELETE"}} {
		if m&e.bit != 0 {
			if s != "" {
				s += ", "
			}
			s += e.name
		}
	}
	return s
}
