package gateway

import (
	"errors"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

// errNotFound means that no route serves the path; it is answered with
// 404 and the gateway:route.notfound error JSON (writeNotFound).
var errNotFound = errors.New("no route")

// resourceKind selects what a route does beyond mapping the request to one
// command.
type resourceKind uint8

const (
	resPlain         resourceKind = iota
	resThings                     // /things: ids retrieval and POST
	resThingRoot                  // /things/{id}
	resThingPolicyID              // /things/{id}/policyId
	resPolicies                   // /policies: POST
	resPolicyRoot                 // /policies/{id}
	resMessage                    // a mailbox: POST a live message (messages.go)
)

// resource is what a path below /api/2 addresses: an entity and the path
// of the command inside it.
type resource struct {
	group string // protocol.GroupThings or protocol.GroupPolicies
	id    string // entity id; empty for collections
	// path is the command's path: the URL's path after the entity id,
	// percent-decoded, "/" for the entity itself.
	path    string
	allowed methods
	// fields is set where Ditto's GET reads the fields query parameter.
	fields bool
	kind   resourceKind
}

// atEnd reports whether the path ends here, with or without one trailing
// slash (Pekko's pathEndOrSingleSlash).
func atEnd(segs []string) bool {
	return len(segs) == 0 || len(segs) == 1 && segs[0] == ""
}

// pointerPath renders the remaining segments as the JSON pointer Ditto
// builds from them ("/" + the decoded rest) and validates it: consecutive
// slashes are Ditto's json.pointer.invalid. One trailing slash is dropped,
// as Ditto's pointer drops it.
func pointerPath(segs []string) (string, error) {
	p := "/" + strings.Join(segs, "/")
	if _, err := jsonv.ParsePointer(p); err != nil {
		return "", err
	}
	if len(p) > 1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return p, nil
}

// thingResource resolves the segments after /api/2/things the way Ditto's
// ThingsRoute and FeaturesRoute match them. An invalid thing id is Ditto's
// things:id.invalid whatever follows it. migrateDefinition is not served
// yet and answers 404.
func thingResource(segs []string) (resource, error) {
	if atEnd(segs) {
		return resource{group: protocol.GroupThings, kind: resThings, allowed: methodGet | methodPost}, nil
	}
	id := segs[0]
	if id == "" {
		return resource{}, errNotFound
	}
	if err := protocol.ValidateThingID(id); err != nil {
		return resource{}, err
	}
	res := resource{group: protocol.GroupThings, id: id, allowed: methodsAll}
	rest := segs[1:]
	switch {
	case atEnd(rest):
		res.kind, res.path, res.fields = resThingRoot, "/", true
	case rest[0] == "policyId" && len(rest) == 1:
		// Pekko's path("policyId"): no trailing slash.
		res.kind, res.path, res.allowed = resThingPolicyID, "/policyId", methodsGetPatch
	case rest[0] == "definition" && atEnd(rest[1:]):
		res.path = "/definition"
	case rest[0] == "attributes" && atEnd(rest[1:]):
		res.path, res.fields = "/attributes", true
	case rest[0] == "attributes":
		p, err := pointerPath(rest[1:])
		if err != nil {
			return resource{}, err
		}
		res.path = "/attributes" + p
	case rest[0] == "features":
		return featureResource(res, rest[1:])
	case rest[0] == "inbox" || rest[0] == "outbox":
		return messageResource(res, "", rest)
	default:
		return resource{}, errNotFound
	}
	return res, nil
}

// featureResource resolves the segments after /things/{id}/features.
func featureResource(res resource, segs []string) (resource, error) {
	if atEnd(segs) {
		res.path, res.fields = "/features", true
		return res, nil
	}
	fid := segs[0]
	if fid == "" {
		return resource{}, errNotFound
	}
	base := "/features/" + fid
	rest := segs[1:]
	switch {
	case atEnd(rest):
		res.path, res.fields = base, true
	case rest[0] == "definition" && atEnd(rest[1:]):
		res.path = base + "/definition"
	case (rest[0] == "properties" || rest[0] == "desiredProperties") && atEnd(rest[1:]):
		res.path, res.fields = base+"/"+rest[0], true
	case rest[0] == "properties" || rest[0] == "desiredProperties":
		p, err := pointerPath(rest[1:])
		if err != nil {
			return resource{}, err
		}
		res.path = base + "/" + rest[0] + p
	case rest[0] == "inbox" || rest[0] == "outbox":
		return messageResource(res, base, rest)
	default:
		return resource{}, errNotFound
	}
	return res, nil
}
