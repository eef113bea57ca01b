package telemetry

import "strings"

// Request path labels, as Ditto's TraceInformationGenerator makes them:
// entity ids and everything below the first sub-resource are replaced by
// "x", so that a label takes a bounded number of values.
const (
	shortened = "/x"
	// OtherPath is the label of every path Ditto does not name.
	OtherPath = "/other"
)

// exactPaths are the paths labelled as they are.
var exactPaths = func() map[string]string {
	m := map[string]string{}
	for _, p := range []string{
		"api/2/whoami", "api/2/checkPermissions", "api/2/cloudevents",
		"api/2/search/things", "api/2/search/things/count", "ws/2",
		"health", "status", "status/health", "overall/status/health",
		"devops/logging", "devops/config",
	} {
		m[p] = "/" + p
	}
	return m
}()

// RequestPath returns the ditto_request_path label of an HTTP request path:
//
//	/api/2/things                                  /api/2/things
//	/api/2/things/ns:1                             /api/2/things/x
//	/api/2/things/ns:1/features/lamp/properties/on /api/2/things/x/features/x
//	/api/2/things/ns:1/inbox/messages/hello        /api/2/things/messages
//	/api/2/search/things/count                     /api/2/search/things/count
//	/anything/else                                 /other
//
// Duplicate slashes and a trailing slash are ignored. It allocates only
// for the label of a path below an entity's sub-resource that it has not
// seen the likes of: the labels are interned (see internedPath).
func RequestPath(path string) string {
	p := normalize(path)
	if l, ok := exactPaths[p]; ok {
		return l
	}
	rest, ok := strings.CutPrefix(p, "api/2/")
	if !ok {
		return OtherPath
	}
	typ, rest, _ := strings.Cut(rest, "/")
	if typ != "things" && typ != "policies" {
		return OtherPath
	}
	labels := &thingLabels
	if typ == "policies" {
		labels = &policyLabels
	}
	if rest == "" {
		return labels[0]
	}
	if isMessagePath(rest) {
		return labels[2]
	}
	_, rest, _ = strings.Cut(rest, "/") // the entity id
	sub, _, _ := strings.Cut(rest, "/")
	if sub == "" {
		return labels[1]
	}
	return internedPath(typ, sub)
}

// The labels of a type, of one entity and of its messages.
var (
	thingLabels  = [3]string{"/api/2/things", "/api/2/things" + shortened, "/api/2/things/messages"}
	policyLabels = [3]string{"/api/2/policies", "/api/2/policies" + shortened, "/api/2/policies/messages"}
)

// isMessagePath reports whether rest (below /api/2/<type>/) matches
// Ditto's message pattern: .../inbox/messages/... , .../outbox/messages/...
// or .../inbox/claim.
func isMessagePath(rest string) bool {
	return strings.Contains(rest, "/inbox/messages/") || strings.Contains(rest, "/outbox/messages/") ||
		strings.HasSuffix(rest, "/inbox/claim")
}

// internedPath returns "/api/2/<typ>/x/<sub>/x". The labels of Ditto's own
// sub-resources are prepared; any other sub is built each time (an unknown
// resource is answered with an error anyway, and the label stays bounded
// by what clients send, as Ditto's does).
func internedPath(typ, sub string) string {
	var key [64]byte
	// A lookup by converted bytes does not allocate.
	if l, ok := subPaths[string(append(append(append(key[:0], typ...), '/'), sub...))]; ok {
		return l
	}
	return "/api/2/" + typ + shortened + "/" + sub + shortened
}

var subPaths = func() map[string]string {
	m := map[string]string{}
	for _, typ := range []string{"things", "policies"} {
		for _, sub := range []string{"attributes", "features", "definition", "policyId", "entries", "imports", "subjects",
			"resources", "actions", "inbox", "outbox", "migrateDefinition"} {
			m[typ+"/"+sub] = "/api/2/" + typ + shortened + "/" + sub + shortened
		}
	}
	return m
}()

// normalize returns path without leading, trailing and duplicate slashes.
// It allocates only when the path has duplicate slashes.
func normalize(path string) string {
	p := trimSlashes(path)
	if !strings.Contains(p, "//") {
		return p
	}
	var b strings.Builder
	prev := byte(0)
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && prev == '/' {
			continue
		}
		prev = p[i]
		b.WriteByte(p[i])
	}
	return b.String()
}

// Channel returns the ditto_channel label: "live" for a request with the
// channel header or query parameter "live" or to a message path, else
// "twin".
func Channel(path, channelHeader, channelQuery string) string {
	if channelHeader == "live" || channelQuery == "live" {
		return "live"
	}
	if rest, ok := strings.CutPrefix(normalize(path), "api/2/"); ok && isMessagePath(rest) {
		return "live"
	}
	return "twin"
}
