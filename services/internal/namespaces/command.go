package namespaces

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/dittonats/dittonats/protocol"
)

// Types of the commands handled here and of their responses (Ditto's
// BlockNamespace, UnblockNamespace, PurgeNamespace and Shutdown).
const (
	TypeBlock            = "namespaces.commands:blockNamespace"
	TypeBlockResponse    = "namespaces.responses:blockNamespace"
	TypeUnblock          = "namespaces.commands:unblockNamespace"
	TypeUnblockResponse  = "namespaces.responses:unblockNamespace"
	TypePurge            = "namespaces.commands:purgeNamespace"
	TypePurgeResponse    = "namespaces.responses:purgeNamespace"
	TypeShutdown         = "common.commands:shutdown"
	ReasonPurgeNamespace = "purge-namespace"
)

// Resource types of the responses: blocking answers for namespaces (Ditto's
// namespace commands' resource type), a purge for what the answering
// service erased (Ditto's entity types, and the search service's).
const (
	ResourceNamespaces  = "namespaces"
	ResourceThing       = "thing"
	ResourcePolicy      = "policy"
	ResourceThingSearch = "thing-search"
)

// Command is a parsed namespace command, or a shutdown with its reason.
type Command struct {
	// Type is one of the Type... command constants.
	Type string
	// Namespace is the command's namespace; for a shutdown, the
	// namespace its purge-namespace reason names ("" for another reason).
	Namespace string
	// Reason is a shutdown's reason type ("" when it has none); Ditto
	// knows purge-namespace and purge-entities and ignores any other.
	Reason string
}

// Parse reads the piggyback command data of type typ as Ditto's fromJson
// does, and checks the namespace. ok is false for a type this package does
// not handle. The errors are Ditto's: json.invalid for JSON that does not
// parse or a field of the wrong type, json.field.missing for a missing
// namespace (or a purge-namespace reason without details), and
// namespacedentity.id.invalid for a namespace no entity can have.
//
// A shutdown without a reason, or with a reason other than
// purge-namespace, parses with that Reason: Ditto accepts it, and its
// entities ignore it.
func Parse(typ string, data []byte) (c Command, ok bool, perr *protocol.Error) {
	switch typ {
	case TypeBlock, TypeUnblock, TypePurge, TypeShutdown:
	default:
		return Command{}, false, nil
	}
	c.Type = typ
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return Command{}, true, protocol.ErrJSONInvalid("Failed to parse JSON string '" + string(data) + "'!")
	}
	if typ == TypeShutdown {
		return parseShutdown(c, fields)
	}
	ns, perr := stringField(fields, "namespace", "/namespace")
	if perr != nil {
		return Command{}, true, perr
	}
	if perr := checkNamespace(ns); perr != nil {
		return Command{}, true, perr
	}
	c.Namespace = ns
	return c, true, nil
}

// parseShutdown reads Ditto's Shutdown: an optional reason object, whose
// type selects how its details are read (ShutdownReasonFactory).
func parseShutdown(c Command, fields map[string]json.RawMessage) (Command, bool, *protocol.Error) {
	raw, ok := fields["reason"]
	if !ok || isNull(raw) {
		return c, true, nil
	}
	var reason map[string]json.RawMessage
	if err := json.Unmarshal(raw, &reason); err != nil || reason == nil {
		return Command{}, true, protocol.ErrJSONNotOfType(string(raw), "/reason", "JsonObject")
	}
	if rawType, ok := reason["type"]; ok && !isNull(rawType) {
		if err := json.Unmarshal(rawType, &c.Reason); err != nil {
			return Command{}, true, protocol.ErrJSONNotOfType(string(rawType), "/type", "String")
		}
	}
	if c.Reason != ReasonPurgeNamespace {
		return c, true, nil
	}
	ns, perr := stringField(reason, "details", "/details")
	if perr != nil {
		return Command{}, true, perr
	}
	if perr := checkNamespace(ns); perr != nil {
		return Command{}, true, perr
	}
	c.Namespace = ns
	return c, true, nil
}

// stringField reads the string field name, at pointer in errors.
func stringField(fields map[string]json.RawMessage, name, pointer string) (string, *protocol.Error) {
	raw, ok := fields[name]
	if !ok {
		return "", protocol.ErrJSONFieldMissing(pointer)
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil || isNull(raw) {
		return "", protocol.ErrJSONNotOfType(string(raw), pointer, "String")
	}
	return s, nil
}

func isNull(raw json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(raw), []byte("null")) }

// checkNamespace refuses a namespace no entity can be in. Ditto's
// namespace commands only refuse an empty one (with an
// IllegalArgumentException, which reaches the caller as no answer at
// all); here anything outside Ditto's namespace pattern gets a 400, since
// blocking or purging it could never do anything.
func checkNamespace(ns string) *protocol.Error {
	if ns != "" && protocol.ValidateNamespace(ns) {
		return nil
	}
	return ErrNamespaceInvalid(ns)
}

// ErrNamespaceInvalid is the 400 for a namespace that is empty or not of
// Ditto's namespace notation: Ditto's NamespacedEntityIdInvalidException
// (its error code and documentation link), saying what is wrong with the
// namespace.
func ErrNamespaceInvalid(ns string) *protocol.Error {
	e := protocol.ErrNamespacedEntityIDInvalid(ns)
	e.Message = fmt.Sprintf("The namespace '%s' is not valid!", ns)
	e.Description = "A namespace is not empty and consists of segments separated by '.' or '-', each starting with a letter followed by letters, digits or '_'."
	return e
}

// Response is Ditto's JSON of BlockNamespaceResponse,
// UnblockNamespaceResponse and PurgeNamespaceResponse. Successful is
// PurgeNamespaceResponse's isSuccessful, which Ditto's operating guide
// shows in the JSON; it is left out of the other two.
type Response struct {
	Type         string `json:"type"`
	Status       int    `json:"status"`
	Namespace    string `json:"namespace"`
	ResourceType string `json:"resourceType"`
	Successful   *bool  `json:"successful,omitempty"`
}

// blockResponse is the response to block or unblock (typ) of ns.
func blockResponse(typ, ns string) Response {
	return Response{Type: typ, Status: http.StatusOK, Namespace: ns, ResourceType: ResourceNamespaces}
}

// purgeResponse is PurgeNamespaceResponse.successful or .failed: Ditto
// answers a failed purge with status 500.
func purgeResponse(ns, resourceType string, ok bool) Response {
	status := http.StatusOK
	if !ok {
		status = http.StatusInternalServerError
	}
	return Response{Type: TypePurgeResponse, Status: status, Namespace: ns, ResourceType: resourceType, Successful: &ok}
}
