package gateway

import (
	"net/http"
)

// CORS as Ditto's stock deployment answers it: there nginx (nginx-cors.conf)
// adds these headers to every /api response, so that Ditto's web UI, served
// from another origin, can call the API with basic auth and read ETag and
// the other Ditto headers. Ditto's own gateway directive (ENABLE_CORS) sets
// a subset of them; the gateway here stands in for both.
const (
	corsAllowMethods  = "GET, POST, PUT, PATCH, DELETE, OPTIONS"
	corsExposeHeaders = "correlation-id, response-required, dry-run, channel, etag, ditto-originator, requested-acks, timeout, location, ditto-metadata, traceparent, tracestate, entity-revision"
	corsMaxAge        = "1728000" // 20 days, as nginx-cors.conf says
)

// cors adds the CORS headers to a response and answers preflight requests.
// It reports whether the request has been answered: every OPTIONS request
// is, with 204 and no authentication (a browser's preflight carries no
// credentials).
func cors(w http.ResponseWriter, r *http.Request) bool {
	h := w.Header()
	origin := r.Header.Get("Origin")
	if origin != "" {
		// The Origin is echoed rather than "*", which browsers refuse
		// together with credentials.
		h["Access-Control-Allow-Origin"] = []string{origin}
		h["Access-Control-Allow-Methods"] = []string{corsAllowMethods}
		h["Access-Control-Allow-Credentials"] = []string{"true"}
		if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
			h["Access-Control-Allow-Headers"] = []string{req}
		}
		h["Access-Control-Expose-Headers"] = []string{corsExposeHeaders}
		h["Vary"] = []string{"Origin"}
	}
	if r.Method != http.MethodOptions {
		return false
	}
	if origin != "" {
		h["Access-Control-Max-Age"] = []string{corsMaxAge}
	}
	w.WriteHeader(http.StatusNoContent)
	return true
}
