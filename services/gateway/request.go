package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

// queryHeaders are the query parameters Ditto's gateway reads as headers
// (ditto.gateway.http.query-params-as-headers), e.g. ?timeout=10s.
var queryHeaders = [...]string{
	protocol.HeaderAccept,
	protocol.HeaderChannel,
	protocol.HeaderCorrelationID,
	protocol.HeaderRequestedAcks,
	protocol.HeaderDeclaredAcks,
	protocol.HeaderResponseRequired,
	protocol.HeaderTimeout,
	protocol.HeaderLiveChannelTimeoutStrategy,
	protocol.HeaderAllowPolicyLockout,
	protocol.HeaderCondition,
	protocol.HeaderLiveChannelCondition,
	protocol.HeaderAtHistoricalRevision,
	protocol.HeaderAtHistoricalTimestamp,
	protocol.HeaderDryRun,
}

// headerXCorrelationID is the alternative correlation id header Ditto reads.
const headerXCorrelationID = "x-correlation-id"

// droppedHeaders never travel into a command. The first group is Ditto's
// protocol blocklist (ditto.protocol.blocklist); the others are consumed
// here (credentials, which must not reach services or journals), describe
// the HTTP message rather than the command, or are hop-by-hop.
var droppedHeaders = map[string]bool{
	"raw-request-uri": true, "cache-control": true, "connection": true,
	"timeout-access": true, "accept-encoding": true, "x-forwarded-scheme": true,

	"authorization": true, "proxy-authorization": true, "cookie": true,
	headerPreAuthenticated: true,
	// The NATS headers that carry who is calling: a client's HTTP header
	// of the same name must not even look like one.
	strings.ToLower(streams.HeaderAuth): true, strings.ToLower(streams.HeaderEntity): true,
	strings.ToLower(streams.HeaderSudo): true,

	"content-type": true, "content-length": true, "host": true,
	"transfer-encoding": true, "te": true, "trailer": true, "upgrade": true,
	"keep-alive": true, "proxy-connection": true,
}

// lowerNames maps canonical header keys (as net/http stores them) of the
// headers seen on most requests to their lower-case form, so that building
// the command headers does not allocate for them.
var lowerNames = func() map[string]string {
	names := []string{
		"accept", "accept-language", "user-agent", "origin", "referer",
		"x-forwarded-for", "x-forwarded-proto", "x-forwarded-host", "x-real-ip",
		headerXCorrelationID,
		"sec-fetch-mode", "sec-fetch-site", "sec-fetch-dest",
		"access-control-request-method", "access-control-request-headers",
	}
	for name := range droppedHeaders {
		names = append(names, name)
	}
	names = append(names,
		protocol.HeaderCorrelationID, protocol.HeaderResponseRequired, protocol.HeaderDryRun,
		protocol.HeaderReplyTo, protocol.HeaderChannel, protocol.HeaderLiveChannelTimeoutStrategy,
		protocol.HeaderIfMatch, protocol.HeaderIfNoneMatch, protocol.HeaderIfEqual,
		protocol.HeaderRequestedAcks, protocol.HeaderDeclaredAcks, protocol.HeaderTimeout,
		protocol.HeaderPutMetadata, protocol.HeaderGetMetadata, protocol.HeaderDeleteMetadata,
		protocol.HeaderAllowPolicyLockout, protocol.HeaderTraceparent, protocol.HeaderTracestate,
		protocol.HeaderCondition, protocol.HeaderLiveChannelCondition,
		protocol.HeaderAtHistoricalRevision, protocol.HeaderAtHistoricalTimestamp,
		protocol.HeaderMergeThingPatchConditions, protocol.HeaderPolicyView,
	)
	m := make(map[string]string, len(names))
	for _, n := range names {
		m[http.CanonicalHeaderKey(n)] = n
	}
	return m
}()

func lowerHeaderName(k string) string {
	if l, ok := lowerNames[k]; ok {
		return l
	}
	return strings.ToLower(k)
}

// commandHeaders builds the Ditto headers of a request the way Ditto's
// gateway does (RootRouteHeadersStepBuilder, CorrelationIdEnsuringDirective):
//
//   - every HTTP header except those Ditto reads only internally (a
//     client cannot set ditto-sudo or ditto-auth-context) and droppedHeaders;
//     headers Ditto does not know are passed through, as Ditto does;
//   - a header sent twice is Ditto's gateway:duplicate.header.field;
//   - the query parameters of queryHeaders, which must agree with a header
//     of the same name;
//   - string-array headers (requested-acks) given as "a,b" become JSON
//     arrays;
//   - correlation-id from the header, else x-correlation-id, else a new
//     UUID;
//   - values validated as Ditto validates them (header.invalid,
//     timeout.invalid).
func commandHeaders(r *http.Request, query url.Values) (protocol.Headers, *protocol.Error) {
	h := make(protocol.Headers, len(r.Header)+2)
	for k, vs := range r.Header {
		name := lowerHeaderName(k)
		if len(vs) > 1 && name != "cookie" {
			return nil, protocol.ErrGatewayDuplicateHeader(name)
		}
		if droppedHeaders[name] || len(vs) == 0 {
			continue
		}
		v, keep := fromExternal(name, vs[0])
		if keep {
			h[name] = v
		}
	}
	if len(query) > 0 {
		for _, name := range queryHeaders {
			vs, ok := query[name]
			if !ok || len(vs) == 0 {
				continue
			}
			v, _ := fromExternal(name, vs[0])
			if hv, set := h[name]; set && hv != v {
				e := protocol.ErrGatewayDuplicateHeader(name)
				e.Message = "<" + name + "> was provided as header as well as query parameter with divergent values!"
				return nil, e
			}
			h[name] = v
		}
	}
	if _, ok := h[protocol.HeaderCorrelationID]; !ok {
		if x, ok := h[headerXCorrelationID]; ok && x != "" {
			h[protocol.HeaderCorrelationID] = x
		} else {
			h[protocol.HeaderCorrelationID] = uuid.NewString()
		}
	}
	if err := h.Validate(); err != nil {
		return h, protocol.AsError(err)
	}
	return h, nil
}

// fromExternal filters and normalises one header a client sent, as Ditto's
// HeaderTranslator.fromExternalHeaders does.
func fromExternal(name, v string) (string, bool) {
	def, known := protocol.LookupHeader(name)
	if !known {
		return v, true
	}
	if !def.FromExternal {
		return "", false
	}
	if def.Type == protocol.HeaderTypeStringArray {
		return jsonArrayHeader(v), true
	}
	return v, true
}

// jsonArrayHeader reads a string-array header value: a JSON array is kept
// (compacted), anything else is taken as a comma-separated list, as Ditto's
// ReadJsonArrayHeadersFilter does.
func jsonArrayHeader(v string) string {
	if v == "" {
		return "[]"
	}
	var arr []json.RawMessage
	if strings.HasPrefix(strings.TrimSpace(v), "[") && json.Unmarshal([]byte(v), &arr) == nil {
		b, err := json.Marshal(arr)
		if err == nil {
			return string(b)
		}
	}
	var items []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			items = append(items, s)
		}
	}
	if items == nil {
		return "[]"
	}
	b, _ := json.Marshal(items) // a []string always marshals
	return string(b)
}
