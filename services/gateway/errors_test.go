package gateway

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

// TestRequestErrors checks the requests the gateway answers itself, with
// Ditto's status and error, without sending any command.
func TestRequestErrors(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	tests := []struct {
		name   string
		req    req
		status int
		code   string // Ditto error code
		allow  string // Allow header of a 405
		check  func(t *testing.T, e *protocol.Error)
	}{
		{name: "invalid thing id", req: req{method: "GET", target: "/api/2/things/no-namespace-colon"},
			status: 400, code: protocol.CodeThingIDInvalid,
			check: func(t *testing.T, e *protocol.Error) {
				if want := "Thing ID 'no-namespace-colon' is not valid!"; e.Message != want {
					t.Errorf("message: got %q, want %q", e.Message, want)
				}
			}},
		{name: "invalid thing id before unknown sub-resource", req: req{method: "GET", target: "/api/2/things/bad/inbox/messages/x"},
			status: 400, code: protocol.CodeThingIDInvalid},
		{name: "invalid policy id", req: req{method: "GET", target: "/api/2/policies/x%2Fy:z"},
			status: 400, code: protocol.CodePolicyIDInvalid},
		{name: "invalid JSON", req: req{method: "PUT", target: thingURL + "/attributes/a", body: `{"a":`},
			status: 400, code: protocol.CodeJSONInvalid},
		{name: "empty body", req: req{method: "PUT", target: thingURL + "/attributes/a", header: map[string]string{"Content-Type": "application/json"}},
			status: 400, code: protocol.CodeJSONInvalid,
			check: func(t *testing.T, e *protocol.Error) {
				if want := "The JSON string to read from must not be empty!"; e.Message != want {
					t.Errorf("message: got %q, want %q", e.Message, want)
				}
			}},
		{name: "thing not an object", req: req{method: "PUT", target: thingURL, body: `[1]`},
			status: 400, code: protocol.CodeJSONInvalid},
		{name: "invalid fields", req: req{method: "GET", target: thingURL + "?fields=attributes(a"},
			status: 400, code: "json.fieldselector.invalid"},
		{name: "consecutive slashes in pointer", req: req{method: "GET", target: thingURL + "/attributes/a//b"},
			status: 400, code: protocol.CodeJSONPointerInvalid},
		{name: "invalid boolean header", req: req{method: "GET", target: thingURL, header: map[string]string{"Response-Required": "maybe"}},
			status: 400, code: protocol.CodeHeaderInvalid},
		{name: "invalid timeout syntax", req: req{method: "GET", target: thingURL + "?timeout=soon"},
			status: 400, code: protocol.CodeTimeoutInvalid},
		{name: "timeout above the maximum", req: req{method: "GET", target: thingURL + "?timeout=2m"},
			status: 400, code: protocol.CodeGatewayTimeoutInvalid,
			check: func(t *testing.T, e *protocol.Error) {
				if want := "The timeout <120,000ms> is not inside its allowed bounds <0ms - 60,000ms>"; e.Message != want {
					t.Errorf("message: got %q, want %q", e.Message, want)
				}
			}},
		{name: "zero timeout with response required", req: req{method: "GET", target: thingURL + "?timeout=0&response-required=true"},
			status: 400, code: protocol.CodeHeaderInvalid},
		{name: "header and query disagree", req: req{method: "GET", target: thingURL + "?timeout=5s", header: map[string]string{"Timeout": "6s"}},
			status: 400, code: protocol.CodeGatewayDuplicateHeader,
			check: func(t *testing.T, e *protocol.Error) {
				if want := "<timeout> was provided as header as well as query parameter with divergent values!"; e.Message != want {
					t.Errorf("message: got %q, want %q", e.Message, want)
				}
			}},
		{name: "PATCH without merge-patch content type", req: req{method: "PATCH", target: thingURL, body: `{}`,
			header: map[string]string{"Content-Type": "application/json"}},
			status: 415, code: protocol.CodeMediaTypeUnsupported,
			check: func(t *testing.T, e *protocol.Error) {
				if want := "The Media-Type <application/json> is not supported for this resource."; e.Message != want {
					t.Errorf("message: got %q, want %q", e.Message, want)
				}
			}},
		{name: "PUT with text content type", req: req{method: "PUT", target: thingURL, body: `{}`,
			header: map[string]string{"Content-Type": "text/plain; charset=utf-8"}},
			status: 415, code: protocol.CodeMediaTypeUnsupported,
			check: func(t *testing.T, e *protocol.Error) {
				if want := "Allowed Media-Types are: <[application/octet-stream, application/json]>."; e.Description != want {
					t.Errorf("description: got %q, want %q", e.Description, want)
				}
			}},
		{name: "POST thing with id", req: req{method: "POST", target: "/api/2/things", body: `{"thingId":"a:b"}`},
			status: 400, code: protocol.CodeThingIDNotSettable},
		{name: "POST thing on live channel", req: req{method: "POST", target: "/api/2/things?channel=live", body: `{}`},
			status: 405, code: protocol.CodeThingNotCreatable},
		{name: "POST thing invalid namespace", req: req{method: "POST", target: "/api/2/things?namespace=1bad", body: `{}`},
			status: 400, code: protocol.CodeThingIDInvalid},
		{name: "POST policy with id", req: req{method: "POST", target: "/api/2/policies", body: `{"policyId":"a:b"}`},
			status: 400, code: protocol.CodePolicyIDNotSettable},
		{name: "PUT thing with other id", req: req{method: "PUT", target: thingURL, body: `{"thingId":"org.eclipse.ditto:other"}`},
			status: 400, code: protocol.CodeThingIDNotSettable},
		{name: "PUT policy with other id", req: req{method: "PUT", target: polURL, body: `{"policyId":"org.eclipse.ditto:other"}`},
			status: 400, code: protocol.CodePolicyIDNotSettable},
		{name: "PATCH thing with null", req: req{method: "PATCH", target: thingURL, body: `null`},
			status: 400, code: protocol.CodeThingMergeInvalid},
		{name: "PATCH thing deleting its id", req: req{method: "PATCH", target: thingURL, body: `{"thingId":null}`},
			status: 400, code: protocol.CodeThingIDNotDeletable},
		{name: "PATCH thing deleting its policyId", req: req{method: "PATCH", target: thingURL, body: `{"policyId":null}`},
			status: 400, code: protocol.CodeThingPolicyIDNotDeletable},
		{name: "PATCH policyId with null", req: req{method: "PATCH", target: thingURL + "/policyId", body: `null`},
			status: 400, code: protocol.CodeThingPolicyIDNotDeletable},
		{name: "PUT invalid policyId", req: req{method: "PUT", target: thingURL + "/policyId", body: `"nocolon"`},
			status: 400, code: protocol.CodePolicyIDInvalid},
		{name: "GET things without ids", req: req{method: "GET", target: "/api/2/things"},
			status: 400, code: protocol.CodeThingIDsMissing},
		{name: "GET things with invalid id", req: req{method: "GET", target: "/api/2/things?ids=" + thingID + ",bad"},
			status: 400, code: protocol.CodeThingIDInvalid},
		{name: "unsupported API version", req: req{method: "GET", target: "/api/1/things/" + thingID},
			status: 404, code: protocol.CodeUnsupportedSchemaVersion},

		{name: "non-numeric API version", req: req{method: "GET", target: "/api/v2/things"}, status: 404, code: codeRouteNotFound},
		{name: "unknown API resource", req: req{method: "GET", target: "/api/2/unknown"}, status: 404, code: codeRouteNotFound},
		{name: "unknown thing sub-resource", req: req{method: "GET", target: thingURL + "/foo"}, status: 404, code: codeRouteNotFound},
		{name: "GET on a mailbox", req: req{method: "GET", target: thingURL + "/inbox/messages/hello"},
			status: 405, code: protocol.CodeGatewayMethodNotAllowed, allow: "POST"},
		{name: "mailbox without subject", req: req{method: "POST", target: thingURL + "/inbox/messages/", body: `{}`},
			status: 404, code: codeRouteNotFound},
		{name: "claim of a feature", req: req{method: "POST", target: thingURL + "/features/f/inbox/claim", body: `{}`},
			status: 404, code: codeRouteNotFound},
		{name: "unknown search resource", req: req{method: "GET", target: "/api/2/search/policies"}, status: 404, code: codeRouteNotFound},
		{name: "policyId with trailing slash", req: req{method: "GET", target: thingURL + "/policyId/"}, status: 404, code: codeRouteNotFound},
		{name: "unknown root path", req: req{method: "GET", target: "/foo"}, status: 404, code: codeRouteNotFound,
			check: func(t *testing.T, e *protocol.Error) {
				if e.Message != textNotFound || e.Href != hrefHTTPAPI {
					t.Errorf("message, href: got %q, %q, want %q, %q", e.Message, e.Href, textNotFound, hrefHTTPAPI)
				}
			}},
		{name: "root", req: req{method: "GET", target: "/"}, status: 404, code: codeRouteNotFound},
		{name: "api without version", req: req{method: "GET", target: "/api"}, status: 404, code: codeRouteNotFound},
		{name: "api version without resource", req: req{method: "GET", target: "/api/2"}, status: 404, code: codeRouteNotFound},
		{name: "unknown API resource, nonsense", req: req{method: "GET", target: "/api/2/nonsense"}, status: 404, code: codeRouteNotFound},
		{name: "unknown API resource, POST", req: req{method: "POST", target: "/api/2/nonsense", body: `{}`}, status: 404, code: codeRouteNotFound},
		{name: "unknown thing sub-resource, nonsense", req: req{method: "GET", target: "/api/2/things/x:y/nonsense"}, status: 404, code: codeRouteNotFound},
		{name: "unknown feature sub-resource", req: req{method: "GET", target: thingURL + "/features/f/nonsense"}, status: 404, code: codeRouteNotFound},
		{name: "unknown policy sub-resource", req: req{method: "GET", target: polURL + "/nonsense"}, status: 404, code: codeRouteNotFound},
		{name: "unknown policy entry sub-resource", req: req{method: "GET", target: polURL + "/entries/owner/nonsense"}, status: 404, code: codeRouteNotFound},
		{name: "unknown whoami sub-resource", req: req{method: "GET", target: "/api/2/whoami/x"}, status: 404, code: codeRouteNotFound},
		{name: "unknown health sub-resource", req: req{method: "GET", target: "/health/x"}, status: 404, code: codeRouteNotFound},
		{name: "unknown overall resource", req: req{method: "GET", target: "/overall/nope"}, status: 404, code: codeRouteNotFound},
		{name: "unknown WebSocket path", req: req{method: "GET", target: "/ws/2/x"}, status: 404, code: codeRouteNotFound},
		{name: "unsupported API version 3", req: req{method: "GET", target: "/api/3/things/" + thingID},
			status: 404, code: protocol.CodeUnsupportedSchemaVersion},
		{name: "unsupported WebSocket version 3", req: req{method: "GET", target: "/ws/3"},
			status: 404, code: protocol.CodeUnsupportedSchemaVersion},
		{name: "PUT on whoami", req: req{method: "PUT", target: "/api/2/whoami", body: `{}`},
			status: 405, code: protocol.CodeGatewayMethodNotAllowed, allow: "GET",
			check: func(t *testing.T, e *protocol.Error) {
				if want := "The provided HTTP method 'PUT' is not allowed on this resource."; e.Message != want {
					t.Errorf("message: got %q, want %q", e.Message, want)
				}
			}},
		{name: "POST on health", req: req{method: "POST", target: "/health"}, status: 405, code: protocol.CodeGatewayMethodNotAllowed, allow: "GET"},
		{name: "PUT on search", req: req{method: "PUT", target: "/api/2/search/things", body: `{}`},
			status: 405, code: protocol.CodeGatewayMethodNotAllowed, allow: "GET, POST"},
		{name: "POST on a thing", req: req{method: "POST", target: thingURL, body: `{}`},
			status: 405, code: protocol.CodeGatewayMethodNotAllowed, allow: "GET, PUT, PATCH, DELETE"},
		{name: "HEAD is no GET", req: req{method: "HEAD", target: thingURL},
			status: 405, code: protocol.CodeGatewayMethodNotAllowed, allow: "GET, PUT, PATCH, DELETE"},
		{name: "PATCH on a policy", req: req{method: "PATCH", target: polURL, body: `{}`},
			status: 405, code: protocol.CodeGatewayMethodNotAllowed, allow: "GET, PUT, DELETE"},
		{name: "DELETE on policyId", req: req{method: "DELETE", target: thingURL + "/policyId"},
			status: 405, code: protocol.CodeGatewayMethodNotAllowed, allow: "GET, PUT, PATCH"},
		{name: "DELETE on things", req: req{method: "DELETE", target: "/api/2/things"},
			status: 405, code: protocol.CodeGatewayMethodNotAllowed, allow: "GET, POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := h.do(tt.req)
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if g := w.Header().Get("Content-Type"); g != contentTypeJSON {
				t.Errorf("Content-Type: got %q, want %q", g, contentTypeJSON)
			}
			if g := w.Header().Get("Allow"); g != tt.allow {
				t.Errorf("Allow: got %q, want %q", g, tt.allow)
			}
			var e protocol.Error
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if !errors.Is(&e, &protocol.Error{Code: tt.code}) {
				t.Errorf("error: got %q, want %q", e.Code, tt.code)
			}
			if e.Status != tt.status {
				t.Errorf("body status: got %d, want %d", e.Status, tt.status)
			}
			if e.Message == "" || e.Description == "" {
				t.Errorf("got message %q, description %q, want both", e.Message, e.Description)
			}
			if tt.check != nil {
				tt.check(t, &e)
			}
			if got := h.commands(); len(got) != 0 {
				t.Errorf("sent %d commands, want none: %+v", len(got), got[0].env)
			}
		})
	}
}

// TestErrorEchoesCorrelationID checks that the gateway's own errors carry
// the request's correlation id, as Ditto's do.
func TestErrorEchoesCorrelationID(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	w := h.do(req{method: "GET", target: "/api/2/things/bad", header: map[string]string{"Correlation-Id": "c-9"}})
	if w.Code != http.StatusBadRequest {
		t.Fatalf("status: got %d, want 400", w.Code)
	}
	if g := header(w, "correlation-id"); g != "c-9" {
		t.Errorf("correlation-id: got %q, want %q", g, "c-9")
	}
}

// TestDuplicateHeader checks Ditto's refusal of a header sent twice.
func TestDuplicateHeader(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil)
	r := newRequest("GET", thingURL, "")
	r.Header.Add("If-Match", `"a"`)
	r.Header.Add("If-Match", `"b"`)
	w := serve(h.gw, r)
	if w.Code != http.StatusBadRequest || errorCode(t, w) != protocol.CodeGatewayDuplicateHeader {
		t.Errorf("got %d %s, want 400 %s", w.Code, w.Body, protocol.CodeGatewayDuplicateHeader)
	}
	if !strings.Contains(w.Body.String(), "'if-match'") {
		t.Errorf("body %s does not name the header", w.Body)
	}
}
