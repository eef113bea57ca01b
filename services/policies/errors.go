package policies

import (
	"fmt"
	"net/http"

	"github.com/dittonats/dittonats/protocol"
)

// Errors the protocol catalog does not hold: those Ditto raises from its
// protocol adapter and JSON model rather than from a policy exception class.

// Ditto's protocol adapter error codes (ProtocolAdapterException prefix).
const (
	codeUnknownPath      = "protocoladapter:unknown.path"
	codeUnknownTopicPath = "protocoladapter:unknown.topicpath"
)

// maxEchoed bounds how much of a rejected JSON value an error repeats: Ditto
// echoes all of it, which for a 100 kB policy is noise in a log line.
const maxEchoed = 200

// errUnknownPath is Ditto's UnknownPathException: a path that names no
// policy resource at all.
func errUnknownPath(path string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, codeUnknownPath,
		fmt.Sprintf("The path '%s' does not correspond to any known command, response or event.", path),
		"Check if the path is correct.")
}

// errUnsupported is Ditto's UnknownTopicPathException for a topic (action)
// that has no command for the resource the path names. It also answers the
// resources Ditto has but this service does not implement (imports, entry
// namespaces/importable/allowedAdditions/references, actions): Ditto-shaped,
// and true of this installation.
func errUnsupported(topic, path string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, codeUnknownTopicPath,
		fmt.Sprintf("The topic '%s' is not supported in combination with the path '%s'", topic, path),
		"Check if the topic path is correct.")
}

// errNotAnObject is what Ditto's JsonFactory.newObject answers for a command
// value that is not a JSON object.
func errNotAnObject(raw string) *protocol.Error {
	return protocol.ErrJSONInvalid(fmt.Sprintf("<%s> is not a valid JSON object!", clip(raw)))
}

// errNestedNotAnObject is what Ditto's policy model answers for an entry or
// subject that is not a JSON object.
func errNestedNotAnObject(raw string) *protocol.Error {
	return protocol.ErrJSONInvalid(fmt.Sprintf("<%s> is not a JSON object!", clip(raw)))
}

// errWrongType is Ditto's JsonFieldDefinition type mismatch; javaType is the
// simple name of the expected Java type (JsonObject, JsonArray, String).
func errWrongType(raw, pointer, javaType string) *protocol.Error {
	return protocol.ErrJSONNotOfType(clip(raw), pointer, javaType)
}

// errSubjectTypeMissing is what Ditto answers for a subject without "type".
func errSubjectTypeMissing() *protocol.Error {
	e := protocol.ErrJSONFieldMissing("/type")
	e.Message = "The 'type' for the 'subject' is missing."
	return e
}

// errResourceNotAnObject is what Ditto answers for a resource whose value is
// not a grant/revoke object.
func errResourceNotAnObject(key string) *protocol.Error {
	return protocol.ErrJSONInvalid(fmt.Sprintf(
		"The JSON object for the 'permissions' (grant/revoke) of the 'resource' '%s' is missing or not an object.", key))
}

// errResourceKeyFormat is what Ditto answers for a resource key without the
// "type:" prefix.
func errResourceKeyFormat() *protocol.Error {
	return protocol.ErrJSONInvalid("The provided string was not in the expected format 'type:path'")
}

// errValueMissing answers a modify command without a value.
func errValueMissing() *protocol.Error {
	return protocol.ErrJSONFieldMissing("/value")
}

// errSubjectIDInvalid is Ditto's SubjectIdInvalidException; a non-empty
// reason replaces the default description, as Ditto's validator does.
func errSubjectIDInvalid(id, reason string) *protocol.Error {
	e := protocol.ErrPolicySubjectIDInvalid(id)
	if reason != "" {
		e.Description = reason
	}
	return e
}

// errPolicyInvalid is Ditto's PolicyModificationInvalidException carrying
// the validator's reason as description.
func errPolicyInvalid(policyID, reason string) *protocol.Error {
	e := protocol.ErrPolicyModificationInvalid(policyID)
	e.Description = reason
	return e
}

// errEntryInvalid is Ditto's PolicyEntryModificationInvalidException carrying
// the validator's reason as description.
func errEntryInvalid(policyID, label, reason string) *protocol.Error {
	e := protocol.ErrPolicyEntryModificationInvalid(policyID, label)
	e.Description = reason
	return e
}

// clip shortens a JSON value quoted in a message.
func clip(s string) string {
	if len(s) <= maxEchoed {
		return s
	}
	return s[:maxEchoed] + "..."
}
