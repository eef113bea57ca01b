package things

import (
	"net/http"

	"github.com/dittonats/dittonats/protocol"
)

// errSkippedEqual is Ditto's answer when if-equal is skip and the command
// would not change anything (ThingsConditionalHeadersValidatorProvider).
func errSkippedEqual() *protocol.Error {
	return protocol.NewError(http.StatusPreconditionFailed, protocol.CodeThingPreconditionFailed,
		"The previous value was equal to the new value and the 'if-equal' header was set to 'skip'.",
		"Your changes were not applied, which is probably the expected outcome.")
}

// errValueMissing answers a modify or merge command without a value.
func errValueMissing() *protocol.Error {
	return protocol.ErrJSONFieldMissing("/value")
}

// errNotSupported answers topics this service does not handle (yet).
func errNotSupported(topic string) *protocol.Error {
	return protocol.ErrUnknownTopicPath(topic, "The things service handles twin commands and live messages, commands and events only.")
}

// errMessageSendNotAllowed is Ditto's MessageSendNotAllowedException: the
// caller lacks WRITE on the message resource.
func errMessageSendNotAllowed(thingID string) *protocol.Error {
	return protocol.NewError(http.StatusForbidden, "messages:send.notallowed",
		"You are not allowed to send messages for the Thing with id '"+thingID+"'!",
		"Please make sure that the Thing exists and that you have WRITE permissions on the message resource in the policy of the Thing.")
}

// errMessageSubjectInvalid is Ditto's SubjectInvalidException.
func errMessageSubjectInvalid(subject string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "messages:subject.invalid",
		"Subject '"+subject+"' is not valid!",
		"It must not be empty and conform to RFC-3986 (URI) - check here if it does (select 'path' in the list): http://www.websitedev.de/temp/rfc3986-check.html.gz")
}

// errMessageFeatureIDInvalid is Ditto's FeatureIdInvalidException: a
// feature message whose path names no feature.
func errMessageFeatureIDInvalid() *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "messages:featureid.invalid",
		"The feature ID was missing or did not match the expected one.",
		"Please ensure that you added the feature ID to the Message and that this feature ID matches the one from the wrapping MessageCommand.")
}

// errMessagePathInvalid is Ditto's protocol adapter InvalidPathException
// for a message path that does not fit the subject of its topic.
func errMessagePathInvalid(path, subject string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "protocoladapter:invalid.path",
		"The path '"+path+"' is not valid.",
		"It should match the pattern: (/features/[^/]+)?/(inbox|outbox)/messages/"+subject)
}

// errMetadataHeadersConflict is Ditto's MetadataHeadersConflictException
// with the message MetadataHeaderChecker gives a query or a modifying
// command.
func errMetadataHeadersConflict(query bool) *protocol.Error {
	if query {
		return protocol.NewError(http.StatusBadRequest, "things:metadata.headersconflict",
			"Metadata of the Thing could not be retrieved.",
			"Multiple metadata headers were specified. For GET requests only the 'get-metadata' header can be specified.")
	}
	return protocol.NewError(http.StatusBadRequest, "things:metadata.headersconflict",
		"Metadata of the Thing could not be created, modified or deleted.",
		"Multiple metadata headers were specified. For PUT/PATCH requests either the 'put-metadata' or 'delete-metadata' header can be specified not both at the same time.")
}

// errMetadataNotModifiable is Ditto's MetadataNotModifiableException: a
// thing created with inline _metadata and put-metadata.
func errMetadataNotModifiable() *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "things:metadata.notmodifiable",
		"Metadata of the Thing could not be modified",
		"Multiple occurrences of metadata per request is not allowed. Either specify metadata in the header 'put-metadata' or in the Thing '_metadata'.")
}
