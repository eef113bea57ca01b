package protocol

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// This file is the catalog of Ditto's errors: one constructor per Ditto
// exception (or per builder variant of one), each with Ditto's status, error
// code, message and description, taken from Ditto 3.x's *Exception classes.
// Messages are Ditto's java.text.MessageFormat templates rendered the way
// MessageFormat renders them: '' becomes ', a text in single quotes loses
// its quotes (so "('WRITE' is required)" reads "(WRITE is required)"), and
// numbers are grouped ("60,000ms").

// Error codes, for errors.Is through HasCode or a sentinel of the same code.
const (
	// General (no prefix).
	CodeJSONInvalid                   = "json.invalid"
	CodeJSONFormatInvalid             = "json.format.invalid"
	CodeJSONFieldMissing              = "json.field.missing"
	CodeJSONPointerInvalid            = "json.pointer.invalid"
	CodeJSONFieldSelectorInvalid      = "json.fieldselector.invalid"
	CodeJSONKeyInvalid                = "json.key.invalid"
	CodeHeaderInvalid                 = "header.invalid"
	CodeHeaderNotSupported            = "header.notsupported"
	CodeTimeoutInvalid                = "timeout.invalid"
	CodeCommandTimeout                = "command.timeout"
	CodeRQLExpressionInvalid          = "rql.expression.invalid"
	CodeNamespacedEntityIDInvalid     = "namespacedentity.id.invalid"
	CodeEntityNotCreatable            = "entity.notcreatable"
	CodeTooManyRequests               = "too.many.requests"
	CodeInternalError                 = "internalerror"
	CodeMediaTypeUnsupported          = "mediatype.unsupported"
	CodePathUnknown                   = "signals.commands:path.unknown"
	CodeUnsupportedSchemaVersion      = "unsupported.api.version"
	CodeNamespaceBlocked              = "namespace.blocked"
	CodeUnknownTopicPath              = "protocoladapter:unknown.topicpath"
	CodeSearchOptionInvalid           = "thing-search:search.option.invalid"
	CodeSearchQueryTimeExceeded       = "thing-search:query.time.exceeded"
	CodeAckRequestTimeout             = "acknowledgement:request.timeout"
	CodeGatewayAuthenticationFailed   = "gateway:authentication.failed"
	CodeGatewayAuthProviderUnavail    = "gateway:authentication.provider.unavailable"
	CodeGatewayMethodNotAllowed       = "gateway:method.notallowed"
	CodeGatewayServiceUnavailable     = "gateway:service.unavailable"
	CodeGatewayTimeoutInvalid         = "gateway:timeout.invalid"
	CodeGatewayInternalError          = "gateway:internalerror"
	CodeGatewayDuplicateHeader        = "gateway:duplicate.header.field"
	CodeGatewayJWTIssuerNotSupported  = "gateway:jwt.issuer.notsupported"
	CodeGatewayNamespaceNotAccessible = "gateway:namespace.notaccessible"

	// Things.
	CodeThingNotFound                         = "things:thing.notfound"
	CodeThingNotModifiable                    = "things:thing.notmodifiable"
	CodeThingNotDeletable                     = "things:thing.notdeletable"
	CodeThingConflict                         = "things:thing.conflict"
	CodeThingNotCreatable                     = "things:thing.notcreatable"
	CodeThingIDInvalid                        = "things:id.invalid"
	CodeThingIDNotSettable                    = "things:id.notsettable"
	CodeThingIDNotDeletable                   = "things:id.notdeletable"
	CodeThingPolicyIDNotAllowed               = "things:policy.id.notallowed"
	CodeThingPolicyIDNotDeletable             = "things:policyId.notdeletable"
	CodeThingPolicyIDNotModifiable            = "things:policyId.notmodifiable"
	CodeThingPolicyIDNotFound                 = "things:policyId.notfound"
	CodeThingPolicyNotAllowed                 = "things:policy.notallowed"
	CodeThingPolicyInvalid                    = "things:policy.invalid"
	CodeThingPoliciesConflicting              = "things:policy.conflicting"
	CodeAttributesNotFound                    = "things:attributes.notfound"
	CodeAttributesNotModifiable               = "things:attributes.notmodifiable"
	CodeAttributeNotFound                     = "things:attribute.notfound"
	CodeAttributeNotModifiable                = "things:attribute.notmodifiable"
	CodeAttributePointerInvalid               = "things:attribute.pointerinvalid"
	CodeThingDefinitionNotFound               = "things:definition.notfound"
	CodeThingDefinitionNotModifiable          = "things:definition.notmodifiable"
	CodeDefinitionIdentifierInvalid           = "things:definition.identifier.invalid"
	CodeFeaturesNotFound                      = "things:features.notfound"
	CodeFeaturesNotModifiable                 = "things:features.notmodifiable"
	CodeFeatureNotFound                       = "things:feature.notfound"
	CodeFeatureNotModifiable                  = "things:feature.notmodifiable"
	CodeFeatureDefinitionNotFound             = "things:feature.definition.notfound"
	CodeFeatureDefinitionNotModifiable        = "things:feature.definition.notmodifiable"
	CodeFeatureDefinitionEmpty                = "things:feature.definition.empty"
	CodeFeaturePropertiesNotFound             = "things:feature.properties.notfound"
	CodeFeaturePropertiesNotModifiable        = "things:feature.properties.notmodifiable"
	CodeFeaturePropertyNotFound               = "things:feature.property.notfound"
	CodeFeaturePropertyNotModifiable          = "things:feature.property.notmodifiable"
	CodeFeatureDesiredPropertiesNotFound      = "things:feature.desiredProperties.notfound"
	CodeFeatureDesiredPropertiesNotModifiable = "things:feature.desiredProperties.notmodifiable"
	CodeFeatureDesiredPropertyNotFound        = "things:feature.desiredProperty.notfound"
	CodeFeatureDesiredPropertyNotModifiable   = "things:feature.desiredProperty.notmodifiable"
	CodeThingTooManyModifyingRequests         = "things:thing.toomanymodifyingrequests"
	CodeThingUnavailable                      = "things:thing.unavailable"
	CodeThingTooLarge                         = "things:thing.toolarge"
	CodeThingPreconditionFailed               = "things:precondition.failed"
	CodeThingPreconditionNotModified          = "things:precondition.notmodified"
	CodeThingConditionFailed                  = "things:condition.failed"
	CodeThingConditionInvalid                 = "things:condition.invalid"
	CodeLiveChannelConditionNotAllowed        = "things:live.channelcondition.notallowed"
	CodeThingMergeInvalid                     = "things:merge.invalid"
	CodeThingHistoryNotFound                  = "things:thing.history.notfound"
	CodeThingMetadataNotModifiable            = "things:metadata.notmodifiable"
	CodeThingMetadataHeadersConflict          = "things:metadata.headersconflict"
	CodeThingIDsMissing                       = "things:things.ids.missing"

	// Policies.
	CodePolicyNotFound                 = "policies:policy.notfound"
	CodePolicyNotModifiable            = "policies:policy.notmodifiable"
	CodePolicyNotCreatable             = "policies:policy.notcreatable"
	CodePolicyConflict                 = "policies:policy.conflict"
	CodePolicyTooLarge                 = "policies:policy.toolarge"
	CodePolicyTooManyModifyingRequests = "policies:policy.toomanymodifyingrequests"
	CodePolicyUnavailable              = "policies:policy.unavailable"
	CodePolicyModificationInvalid      = "policies:policy.modificationinvalid"
	CodePolicyEntryModificationInvalid = "policies:entry.modificationinvalid"
	CodePolicyEntryNotFound            = "policies:entry.notfound"
	CodePolicyEntryNotModifiable       = "policies:entry.notmodifiable"
	CodePolicyEntryInvalid             = "policies:entry.invalid"
	CodePolicyLabelInvalid             = "policies:label.invalid"
	CodePolicyResourcesNotFound        = "policies:resources.notfound"
	CodePolicyResourcesNotModifiable   = "policies:resources.notmodifiable"
	CodePolicyResourceNotFound         = "policies:resource.notfound"
	CodePolicyResourceNotModifiable    = "policies:resource.notmodifiable"
	CodePolicySubjectsNotFound         = "policies:subjects.notfound"
	CodePolicySubjectsNotModifiable    = "policies:subjects.notmodifiable"
	CodePolicySubjectNotFound          = "policies:subject.notfound"
	CodePolicySubjectNotModifiable     = "policies:subject.notmodifiable"
	CodePolicyIDInvalid                = "policies:id.invalid"
	CodePolicyIDNotSettable            = "policies:id.notsettable"
	CodePolicySubjectIDInvalid         = "policies:subjectid.invalid"
	CodePolicySubjectExpiryInvalid     = "policies:subjectexpiry.invalid"
	CodePolicyPreconditionFailed       = "policies:precondition.failed"
	CodePolicyPreconditionNotModified  = "policies:precondition.notmodified"
	CodePolicyImportsNotFound          = "policies:imports.notfound"
	CodePolicyImportsNotModifiable     = "policies:imports.notmodifiable"
	CodePolicyImportNotFound           = "policies:import.notfound"
	CodePolicyImportNotModifiable      = "policies:import.notmodifiable"
	CodePolicyImportInvalid            = "policies:import.invalid"
	CodePolicyHistoryNotFound          = "policies:policy.history.notfound"
)

// HasCode reports whether err's chain holds an *Error with the given code.
func HasCode(err error, code string) bool {
	return errors.Is(err, &Error{Code: code})
}

// hrefNamespacedID documents Ditto's entity id notation.
const hrefNamespacedID = "https://www.eclipse.dev/ditto/basic-namespaces-and-names.html#namespaced-id"

const hrefRFC7396 = "https://tools.ietf.org/html/rfc7396"

// MediaTypeMergePatchJSON is the only content type Ditto accepts for PATCH.
const MediaTypeMergePatchJSON = "application/merge-patch+json"

func withHref(e *Error, href string) *Error {
	e.Href = href
	return e
}

// ---- General -------------------------------------------------------------

const descJSONInvalid = "Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format."

// ErrJSONInvalid is Ditto's JsonParseException: JSON that does not parse or
// has the wrong shape. message says what is wrong.
func ErrJSONInvalid(message string) *Error {
	return NewError(http.StatusBadRequest, CodeJSONInvalid, message, descJSONInvalid)
}

// ErrJSONNotOfType is Ditto's JsonParseException for a field of the wrong
// type: value as the caller shows it (clipped or not), the field's JSON
// pointer, and the simple name of the expected Java type (String,
// JsonObject, boolean).
func ErrJSONNotOfType(value, pointer, javaType string) *Error {
	return ErrJSONInvalid("Value <" + value + "> for <" + pointer + "> is not of type <" + javaType + ">!")
}

// ErrJSONTooDeep is the JsonParseException (json.invalid) of a write whose
// result would nest arrays and objects deeper than maxDepth levels, the
// deepest JSON the platform parses: stored, it could not be read back. Ditto
// has no depth limit of its own; its parser fails on such JSON with a stack
// overflow, which it reports as json.invalid.
func ErrJSONTooDeep(maxDepth int) *Error {
	return ErrJSONInvalid(fmt.Sprintf("The JSON would be nested deeper than %d levels after this change.", maxDepth))
}

// ErrJSONFormatInvalid is the fallback of Ditto's DittoJsonException, for a
// JSON problem that is not a parse error (Ditto: "Empty json."); it has no
// description.
func ErrJSONFormatInvalid(message string) *Error {
	return NewError(http.StatusBadRequest, CodeJSONFormatInvalid, message, "")
}

// ErrJSONFieldMissing is Ditto's JsonMissingFieldException for the field at
// pointer, e.g. "/topic".
func ErrJSONFieldMissing(pointer string) *Error {
	return NewError(http.StatusBadRequest, CodeJSONFieldMissing,
		fmt.Sprintf("JSON did not include required <%s> field!", pointer),
		"Check if all required JSON fields were set.")
}

// ErrJSONPointerInvalid is Ditto's JsonPointerInvalidException.
func ErrJSONPointerInvalid(pointer string) *Error {
	return NewError(http.StatusBadRequest, CodeJSONPointerInvalid,
		fmt.Sprintf("The JSON pointer <%s> is invalid!", pointer),
		"Check, for example, if the JSON Pointer is not empty.")
}

// ErrJSONFieldSelectorInvalid is Ditto's JsonFieldSelectorInvalidException.
func ErrJSONFieldSelectorInvalid(selector string) *Error {
	return NewError(http.StatusBadRequest, CodeJSONFieldSelectorInvalid,
		fmt.Sprintf("The field selector <%s> is invalid!", selector),
		"Check, for example, if the amount of opening parentheses '(' matches the amount of closing ones ')'.")
}

// ErrJSONKeyInvalid is Ditto's JsonKeyInvalidException, e.g. for a feature id
// or attribute key with a slash or control character.
func ErrJSONKeyInvalid(key string) *Error {
	return NewError(http.StatusBadRequest, CodeJSONKeyInvalid,
		fmt.Sprintf("The JSON key <%s> is invalid!", key),
		"Neither slashes nor any control characters are allowed as part of the JSON key.")
}

// ErrHeaderInvalid is Ditto's DittoHeaderInvalidException for a header whose
// value is not of type typ ("boolean", "int", "JSON array", ...). Ditto also
// sends the header name as "invalidHeaderKey", which Error has no field for.
func ErrHeaderInvalid(name, value, typ string) *Error {
	return NewError(http.StatusBadRequest, CodeHeaderInvalid,
		fmt.Sprintf("The value '%s' of the header '%s' is not a valid %s.", value, name, typ),
		fmt.Sprintf("Verify that the value of the header '%s' is a valid '%s' and try again.", name, typ))
}

// ErrHeaderInvalidMessage is Ditto's DittoHeaderInvalidException with a
// custom message and the default description.
func ErrHeaderInvalidMessage(message string) *Error {
	return NewError(http.StatusBadRequest, CodeHeaderInvalid, message,
		"Verify that the header has the correct syntax and try again.")
}

// ErrHeaderNotSupported is Ditto's DittoHeaderNotSupportedException.
func ErrHeaderNotSupported(name, value string) *Error {
	return NewError(http.StatusBadRequest, CodeHeaderNotSupported,
		fmt.Sprintf("The value '%s' of the header '%s' is not supported on this resource level.", value, name),
		"Verify that the header has the correct syntax and is used on the correct resource level.")
}

const descTimeoutInvalid = "Please choose a valid timeout."

// ErrTimeoutInvalid is Ditto's TimeoutInvalidException for a timeout header
// that does not parse; message is Ditto's reason.
func ErrTimeoutInvalid(message string) *Error {
	return NewError(http.StatusBadRequest, CodeTimeoutInvalid, message, descTimeoutInvalid)
}

// ErrTimeoutOutOfBounds is Ditto's TimeoutInvalidException for a message
// timeout above max (the gateway's message routes use it).
func ErrTimeoutOutOfBounds(timeout, max time.Duration) *Error {
	return NewError(http.StatusBadRequest, CodeTimeoutInvalid,
		fmt.Sprintf("The timeout <%sms> is not inside its allowed bounds <0ms - %sms>",
			javaInt(timeout.Milliseconds()), javaInt(max.Milliseconds())),
		descTimeoutInvalid)
}

// ErrCommandTimeout is Ditto's CommandTimeoutException (408): no response
// arrived within the command's timeout.
func ErrCommandTimeout(timeout time.Duration) *Error {
	return NewError(http.StatusRequestTimeout, CodeCommandTimeout,
		fmt.Sprintf("The Command reached the specified timeout of %sms.", javaInt(timeout.Milliseconds())),
		"Try increasing the command timeout.")
}

// ErrRQLExpressionInvalid is Ditto's InvalidRqlExpressionException; an empty
// message gives Ditto's default one.
func ErrRQLExpressionInvalid(message string) *Error {
	if message == "" {
		message = "The given RQL expression was invalid"
	}
	return NewError(http.StatusBadRequest, CodeRQLExpressionInvalid, message,
		"Ensure that all opening parentheses have also closing ones and that the RQL expression is valid.")
}

// ErrSearchOptionInvalid is Ditto's InvalidOptionException; Ditto sends it
// with the parser's message (or none).
func ErrSearchOptionInvalid(message string) *Error {
	return NewError(http.StatusBadRequest, CodeSearchOptionInvalid, message,
		"At least one provided option is invalid.")
}

// ErrSearchQueryTimeExceeded is Ditto's QueryTimeExceededException (408): a
// search took longer than its timeout.
func ErrSearchQueryTimeExceeded() *Error {
	return NewError(http.StatusRequestTimeout, CodeSearchQueryTimeExceeded,
		"The search request took too long to process.",
		"Optimize the query, e.g. reducing use of wildcards in 'like' or amount of predicates and/or try again later.")
}

// ErrAckRequestTimeout is Ditto's AcknowledgementRequestTimeoutException
// (408): a requested acknowledgement did not arrive within timeout.
func ErrAckRequestTimeout(timeout time.Duration) *Error {
	return NewError(http.StatusRequestTimeout, CodeAckRequestTimeout,
		fmt.Sprintf("The acknowledgement request reached the specified timeout of %sms.", javaInt(timeout.Milliseconds())),
		"Try increasing the timeout and make sure that the requested acknowledgement is sent back in time.")
}

// ErrNamespacedEntityIDInvalid is Ditto's NamespacedEntityIdInvalidException,
// for an entity id of no more specific type.
func ErrNamespacedEntityIDInvalid(id string) *Error {
	return withHref(NewError(http.StatusBadRequest, CodeNamespacedEntityIDInvalid,
		fmt.Sprintf("Namespaced entity ID '%s' is not valid!", id),
		"It must conform to the namespaced entity ID notation (see Ditto documentation) with a maximum name length of 256 characters."),
		hrefNamespacedID)
}

// ErrEntityNotCreatable is Ditto's EntityNotCreatableException (403): the
// entity-creation configuration does not allow the caller to create id.
func ErrEntityNotCreatable(id string) *Error {
	return NewError(http.StatusForbidden, CodeEntityNotCreatable,
		fmt.Sprintf("The Entity with ID '%s' could not be created as the creation was configured not to be allowed.", id),
		"The creation was configured not to be allowed for the authenticated subject. Check with your administrator if that was unexpected.")
}

// ErrTooManyRequests is Ditto's TooManyRequestsException (429).
func ErrTooManyRequests() *Error {
	return NewError(http.StatusTooManyRequests, CodeTooManyRequests, "You made too many requests.", "Try again soon.")
}

// ErrInternal is Ditto's DittoInternalErrorException (500).
func ErrInternal() *Error {
	return NewError(http.StatusInternalServerError, CodeInternalError,
		"There was a rare case of an unexpected internal error.",
		"Please contact the service team or your administrator.")
}

// ErrUnsupportedMediaType is Ditto's UnsupportedMediaTypeException (415) for
// a request body of mediaType where one of allowed is expected.
func ErrUnsupportedMediaType(mediaType string, allowed []string) *Error {
	return NewError(http.StatusUnsupportedMediaType, CodeMediaTypeUnsupported,
		fmt.Sprintf("The Media-Type <%s> is not supported for this resource.", mediaType),
		fmt.Sprintf("Allowed Media-Types are: <[%s]>.", strings.Join(allowed, ", ")))
}

// ErrMergePatchMediaType is Ditto's UnsupportedMediaTypeException for a PATCH
// whose content type is not application/merge-patch+json.
func ErrMergePatchMediaType(mediaType string) *Error {
	return withHref(NewError(http.StatusUnsupportedMediaType, CodeMediaTypeUnsupported,
		fmt.Sprintf("The Media-Type <%s> is not supported for this resource.", mediaType),
		fmt.Sprintf("Allowed Media-Type is: <%s>.", MediaTypeMergePatchJSON)),
		hrefRFC7396)
}

// ErrMergePatchContentTypeMissing is Ditto's UnsupportedMediaTypeException
// for a PATCH without content type.
func ErrMergePatchContentTypeMissing() *Error {
	return withHref(NewError(http.StatusUnsupportedMediaType, CodeMediaTypeUnsupported,
		`The Content-Type header was empty or not present. Please set Content-Type header to "application/merge-patch+json" for this resource`,
		fmt.Sprintf("Allowed Media-Type is: <%s>.", MediaTypeMergePatchJSON)),
		hrefRFC7396)
}

// ErrPathUnknown is Ditto's PathUnknownException: a message path that is no
// known command, response or event for its topic.
func ErrPathUnknown(path string) *Error {
	return NewError(http.StatusBadRequest, CodePathUnknown,
		fmt.Sprintf("The path '%s' does not correspond to any known command, response or event.", path),
		"Check if the path is correct.")
}

// ErrUnsupportedSchemaVersion is Ditto's UnsupportedSchemaVersionException
// (404), e.g. for /api/1.
func ErrUnsupportedSchemaVersion(version int) *Error {
	return NewError(http.StatusNotFound, CodeUnsupportedSchemaVersion,
		fmt.Sprintf("The requested resource is not supported by version '%d'.", version),
		"Check if you specified the correct version of the API.")
}

// ErrNamespaceBlocked is Ditto's NamespaceBlockedException (409), sent while
// a namespace is being erased.
func ErrNamespaceBlocked(namespace string) *Error {
	return NewError(http.StatusConflict, CodeNamespaceBlocked,
		fmt.Sprintf("Namespace '%s' is not available due to an ongoing operation.", namespace),
		"Please try again later.")
}

// ErrUnknownTopicPath is Ditto's UnknownTopicPathException; description says
// which part is wrong ("" gives Ditto's default).
func ErrUnknownTopicPath(topic, description string) *Error {
	if description == "" {
		description = "Check if the topic path is correct."
	}
	return NewError(http.StatusBadRequest, CodeUnknownTopicPath,
		fmt.Sprintf("The topic path '%s' is not supported.", topic), description)
}

// ---- Gateway -------------------------------------------------------------

// ErrGatewayAuthenticationFailed is Ditto's GatewayAuthenticationFailedException
// (401) with the given reason.
func ErrGatewayAuthenticationFailed(message string) *Error {
	return NewError(http.StatusUnauthorized, CodeGatewayAuthenticationFailed, message,
		"Check if your credentials were correct.")
}

// ErrGatewayUnauthorized is what Ditto's gateway answers when no
// authentication mechanism applies to a request (no credentials at all).
func ErrGatewayUnauthorized() *Error {
	return ErrGatewayAuthenticationFailed("Unauthorized.")
}

// ErrGatewayAuthenticationProviderUnavailable is Ditto's
// GatewayAuthenticationProviderUnavailableException (503).
func ErrGatewayAuthenticationProviderUnavailable() *Error {
	return NewError(http.StatusServiceUnavailable, CodeGatewayAuthProviderUnavail,
		"The authentication provider is not available.",
		"If after retry it is still unavailable, please contact the service team.")
}

// ErrGatewayJWTIssuerNotSupported is Ditto's GatewayJwtIssuerNotSupportedException.
func ErrGatewayJWTIssuerNotSupported(issuer string) *Error {
	return NewError(http.StatusUnauthorized, CodeGatewayJWTIssuerNotSupported,
		fmt.Sprintf("The JWT issuer '%s' is not supported.", issuer), "Check if your JWT is correct.")
}

// ErrGatewayMethodNotAllowed is Ditto's GatewayMethodNotAllowedException (405).
func ErrGatewayMethodNotAllowed(method string) *Error {
	return NewError(http.StatusMethodNotAllowed, CodeGatewayMethodNotAllowed,
		fmt.Sprintf("The provided HTTP method '%s' is not allowed on this resource.", method),
		"Check if you used the correct resource and method combination.")
}

// ErrGatewayServiceUnavailable is Ditto's GatewayServiceUnavailableException
// (503); Ditto's gateway also answers it when its HTTP request timeout hits.
func ErrGatewayServiceUnavailable() *Error {
	return NewError(http.StatusServiceUnavailable, CodeGatewayServiceUnavailable,
		"The service you wanted to reach is currently not available.",
		"Please contact the service team if this happens again.")
}

// ErrGatewayTimeoutInvalid is Ditto's GatewayTimeoutInvalidException: a
// command timeout outside [0, max].
func ErrGatewayTimeoutInvalid(timeout, max time.Duration) *Error {
	return NewError(http.StatusBadRequest, CodeGatewayTimeoutInvalid,
		fmt.Sprintf("The timeout <%sms> is not inside its allowed bounds <0ms - %sms>",
			javaInt(timeout.Milliseconds()), javaInt(max.Milliseconds())),
		"Choose a timeout inside the bounds.")
}

// ErrGatewayInternal is Ditto's GatewayInternalErrorException (500).
func ErrGatewayInternal() *Error {
	return NewError(http.StatusInternalServerError, CodeGatewayInternalError,
		"There was a rare case of an unexpected internal error.", "Please contact the service team.")
}

// ErrGatewayDuplicateHeader is Ditto's GatewayDuplicateHeaderException.
func ErrGatewayDuplicateHeader(name string) *Error {
	return withHref(NewError(http.StatusBadRequest, CodeGatewayDuplicateHeader,
		fmt.Sprintf("The message contains headers which include a duplicate header field: '%s'", name),
		"A request must not contain multiple header fields with the same field name. For more information see RFC 7230 section 3.2.2."),
		"https://tools.ietf.org/rfc/rfc7230.txt")
}

// ErrGatewayNamespaceNotAccessible is Ditto's NamespaceNotAccessibleException.
func ErrGatewayNamespaceNotAccessible(namespace string) *Error {
	return NewError(http.StatusForbidden, CodeGatewayNamespaceNotAccessible,
		fmt.Sprintf("Access to namespace '%s' is not allowed.", namespace),
		"Check if your credentials provide access to the requested namespace.")
}

// ---- Things --------------------------------------------------------------

const (
	descCheckThingPermissions   = "Check if the ID of your requested Thing was correct and you have sufficient permissions."
	descCheckThingWasCorrect    = "Check if the ID of the Thing was correct and you have sufficient permissions."
	descCheckThingAndFeatureIDs = "Check if the ID of the Thing and the Feature ID was correct and you have sufficient permissions."
	descCheckThingAndFeature    = "Check if the ID of the Thing and the ID of your requested Feature was correct and you have sufficient permissions."
)

// ErrThingNotAccessible is Ditto's ThingNotAccessibleException (404).
func ErrThingNotAccessible(thingID string) *Error {
	return NewError(http.StatusNotFound, CodeThingNotFound,
		fmt.Sprintf("The Thing with ID '%s' could not be found or requester had insufficient permissions to access it.", thingID),
		descCheckThingPermissions)
}

// ErrThingNotAccessiblePolicyDeleted is what Ditto answers for a read of an
// existing thing whose policy does not exist (any more).
func ErrThingNotAccessiblePolicyDeleted(thingID, policyID string) *Error {
	e := ErrThingNotAccessible(thingID)
	e.Message, e.Description = policyDeletedMessage(thingID, policyID)
	return e
}

// ErrThingNotModifiable is Ditto's ThingNotModifiableException (403).
func ErrThingNotModifiable(thingID string) *Error {
	return NewError(http.StatusForbidden, CodeThingNotModifiable,
		fmt.Sprintf("The Thing with ID '%s' could not be modified as the requester had insufficient permissions (WRITE is required).", thingID),
		descCheckThingPermissions)
}

// ErrThingNotModifiablePolicyDeleted is what Ditto answers for a change to an
// existing thing whose policy does not exist (any more).
func ErrThingNotModifiablePolicyDeleted(thingID, policyID string) *Error {
	e := ErrThingNotModifiable(thingID)
	e.Message, e.Description = policyDeletedMessage(thingID, policyID)
	return e
}

func policyDeletedMessage(thingID, policyID string) (message, description string) {
	return fmt.Sprintf("The Thing with ID '%s' could not be accessed as its Policy with ID '%s' is not or no longer existing.", thingID, policyID),
		fmt.Sprintf("Recreate/create the Policy with ID '%s' in order to get access to the Thing again.", policyID)
}

// ErrThingNotDeletable is Ditto's ThingNotDeletableException (403).
func ErrThingNotDeletable(thingID string) *Error {
	return NewError(http.StatusForbidden, CodeThingNotDeletable,
		fmt.Sprintf("The Thing with ID '%s' could not be deleted as the requester had insufficient permissions ( WRITE on root resource is required).", thingID),
		descCheckThingPermissions)
}

// ErrThingConflict is Ditto's ThingConflictException (409): a create for a
// thing that exists.
func ErrThingConflict(thingID string) *Error {
	return NewError(http.StatusConflict, CodeThingConflict,
		fmt.Sprintf("The Thing with ID '%s' already exists", thingID), "Choose another Thing ID")
}

// ErrThingNotCreatablePolicyMissing is Ditto's ThingNotCreatableException for
// a thing whose policy is missing (Ditto uses it when the policy's namespace
// is blocked). A create naming a policyId that does not exist is answered
// with the policy look-up's error instead, ErrPolicyNotAccessible.
func ErrThingNotCreatablePolicyMissing(thingID, policyID string) *Error {
	return NewError(http.StatusBadRequest, CodeThingNotCreatable,
		fmt.Sprintf("The Thing with ID '%s' could not be created as the Policy with ID '%s' is not existing.", thingID, policyID),
		"Check if the ID of the Policy you created the Thing with is correct and that the Policy is existing.")
}

// ErrThingNotCreatablePolicyExists is Ditto's ThingNotCreatableException when
// the implicit policy a create would make already exists.
func ErrThingNotCreatablePolicyExists(thingID, policyID string) *Error {
	return NewError(http.StatusBadRequest, CodeThingNotCreatable,
		fmt.Sprintf("The Thing with ID '%s' could not be created because creation of its implicit Policy ID '%s' failed.", thingID, policyID),
		"If you want to use an existing Policy, specify it as 'policyId' in the Thing JSON you create.")
}

// ErrThingNotCreatablePolicyFailed is Ditto's ThingNotCreatableException when
// creating the thing's policy failed with cause; it takes cause's status.
func ErrThingNotCreatablePolicyFailed(thingID, policyID string, cause *Error) *Error {
	return NewError(cause.Status, CodeThingNotCreatable,
		fmt.Sprintf("The Thing with ID '%s' could not be created as the Policy with ID '%s' could not be created due to: '%s'", thingID, policyID, cause.Message),
		"Either check if the ID of the Policy you created the Thing with is correct and that the Policy is existing or If you want to use the existing Policy, specify it as 'policyId' in the Thing JSON you create.")
}

// ErrThingNotCreatableNoSubject is Ditto's ThingNotCreatableException when a
// thing with an implicit policy is created without an authenticated subject.
func ErrThingNotCreatableNoSubject(thingID string) *Error {
	return NewError(http.StatusBadRequest, CodeThingNotCreatable,
		fmt.Sprintf("The Thing with ID '%s' could not be created with implicit Policy because no authorization subject is present.", thingID),
		"")
}

// ErrThingNotCreatableLiveChannel is Ditto's ThingNotCreatableException (405)
// for a create on the live channel.
func ErrThingNotCreatableLiveChannel() *Error {
	return NewError(http.StatusMethodNotAllowed, CodeThingNotCreatable,
		"Thing could not be created via channel <live>.",
		"Creating a thing via <live> channel is not supported. If you want to create a digital twin instead, please use channel <twin>.")
}

// ErrThingIDInvalid is Ditto's ThingIdInvalidException.
func ErrThingIDInvalid(thingID string) *Error {
	return withHref(NewError(http.StatusBadRequest, CodeThingIDInvalid,
		fmt.Sprintf("Thing ID '%s' is not valid!", thingID),
		"It must conform to the namespaced entity ID notation (see Ditto documentation)"),
		hrefNamespacedID)
}

// ErrThingIDNotSettableForPost is Ditto's ThingIdNotExplicitlySettableException
// for a POST body with a thingId.
func ErrThingIDNotSettableForPost() *Error {
	return NewError(http.StatusBadRequest, CodeThingIDNotSettable,
		"It is not allowed to provide a Thing ID in the request body for method POST. The method POST will generate the Thing ID by itself.",
		"To provide your own Thing ID use a PUT request instead.")
}

// ErrThingIDNotSettable is Ditto's ThingIdNotExplicitlySettableException for
// a PUT or PATCH body whose thingId differs from the URL's.
func ErrThingIDNotSettable() *Error {
	return NewError(http.StatusBadRequest, CodeThingIDNotSettable,
		"The Thing ID in the request body is not equal to the Thing ID in the request URL.",
		"Either delete the Thing ID from the request body or use the same Thing ID as in the request URL.")
}

// ErrThingIDNotSettableForProtocol is Ditto's ThingIdNotExplicitlySettableException
// for a Ditto Protocol message whose thing JSON names another thing than its topic.
func ErrThingIDNotSettableForProtocol() *Error {
	return NewError(http.StatusBadRequest, CodeThingIDNotSettable,
		"The Thing ID in the thing JSON is not equal to the Thing ID in the topic path.",
		"Either delete the Thing ID from the thing JSON or use the same Thing ID as in the topic path.")
}

// ErrThingIDNotDeletable is Ditto's ThingIdNotDeletableException.
func ErrThingIDNotDeletable() *Error {
	return NewError(http.StatusBadRequest, CodeThingIDNotDeletable,
		"The Thing ID of a Thing cannot be deleted.",
		"Remove the Thing ID entry from the request body and retry the request.")
}

// ErrThingPolicyIDNotAllowed is Ditto's PolicyIdNotAllowedException: a thing
// with both an inline policy and a policyId.
func ErrThingPolicyIDNotAllowed(thingID string) *Error {
	return NewError(http.StatusBadRequest, CodeThingPolicyIDNotAllowed,
		fmt.Sprintf("The Thing with ID '%s' could not be modified as it contained an inline Policy with an ID or a Policy ID and a Policy", thingID),
		"If you want to use an existing Policy, specify it as 'policyId' in the Thing JSON. If you want to create a Thing with inline Policy, no Policy ID is allowed as it will be created with the Thing ID.")
}

// ErrThingPolicyIDNotDeletable is Ditto's PolicyIdNotDeletableException.
func ErrThingPolicyIDNotDeletable() *Error {
	return NewError(http.StatusBadRequest, CodeThingPolicyIDNotDeletable,
		"The Policy ID of a Thing cannot be deleted.",
		"Remove Policy ID entry from the request body and retry the request.")
}

// ErrThingPolicyIDNotModifiable is Ditto's PolicyIdNotModifiableException (403).
func ErrThingPolicyIDNotModifiable(thingID string) *Error {
	return NewError(http.StatusForbidden, CodeThingPolicyIDNotModifiable,
		fmt.Sprintf("The Policy ID of the Thing with ID '%s' could not be modified as the requester had insufficient permissions (WRITE is required).", thingID),
		descCheckThingPermissions)
}

// ErrThingPolicyIDNotAccessible is Ditto's PolicyIdNotAccessibleException (404).
func ErrThingPolicyIDNotAccessible(thingID string) *Error {
	return NewError(http.StatusNotFound, CodeThingPolicyIDNotFound,
		fmt.Sprintf("The Policy ID of the Thing with ID <%s> could not be found or requester had insufficient permissions to access it.", thingID),
		descCheckThingPermissions)
}

// ErrThingPolicyNotAllowed is Ditto's PolicyNotAllowedException: an inline
// policy on a modify of an existing thing.
func ErrThingPolicyNotAllowed(thingID string) *Error {
	return NewError(http.StatusBadRequest, CodeThingPolicyNotAllowed,
		fmt.Sprintf("The Thing with ID '%s' could not be modified as it contained an inline Policy", thingID),
		"Once a Thing with inline Policy is created it can't be modified with another Policy. Use the Policy resources to modify the existing Policy.")
}

// ErrThingPolicyInvalid is Ditto's PolicyInvalidException: the thing's policy
// lacks a subject with permissions (e.g. READ, WRITE).
func ErrThingPolicyInvalid(thingID string, permissions []string) *Error {
	return NewError(http.StatusBadRequest, CodeThingPolicyInvalid,
		fmt.Sprintf("The Policy specified for the Thing with ID '%s' is invalid.", thingID),
		fmt.Sprintf("It must contain at least one Subject with the following permission(s): '[%s]'!", strings.Join(permissions, ", ")))
}

// ErrThingPoliciesConflicting is Ditto's PoliciesConflictingException: both
// an inline policy and _copyPolicyFrom.
func ErrThingPoliciesConflicting(thingID string) *Error {
	return NewError(http.StatusBadRequest, CodeThingPoliciesConflicting,
		fmt.Sprintf("The Thing with ID '%s' could not be created as it contained an inline Policy as well as a policyID to copy.", thingID),
		"Please either define an inline Policy or define a policy to copy, but not both.")
}

// ErrAttributesNotAccessible is Ditto's AttributesNotAccessibleException (404).
func ErrAttributesNotAccessible(thingID string) *Error {
	return NewError(http.StatusNotFound, CodeAttributesNotFound,
		fmt.Sprintf("The Attributes of the Thing with ID '%s' could not be found or the requester had insufficient permissions to access it.", thingID),
		descCheckThingWasCorrect)
}

// ErrAttributesNotModifiable is Ditto's AttributesNotModifiableException (403).
func ErrAttributesNotModifiable(thingID string) *Error {
	return NewError(http.StatusForbidden, CodeAttributesNotModifiable,
		fmt.Sprintf("The Attributes on the Thing with ID '%s' could not be modified as the requester had insufficient permissions (WRITE is required).", thingID),
		descCheckThingPermissions)
}

// ErrAttributeNotAccessible is Ditto's AttributeNotAccessibleException (404)
// for the attribute at pointer (e.g. "/location").
func ErrAttributeNotAccessible(thingID, pointer string) *Error {
	return NewError(http.StatusNotFound, CodeAttributeNotFound,
		fmt.Sprintf("The attribute with key '%s' on the thing with ID '%s' could not be found or the requester had insufficient permissions to access it.", pointer, thingID),
		"Check if the ID of the thing and the key of your requested attribute was correct and you have sufficient permissions.")
}

// ErrAttributeNotModifiable is Ditto's AttributeNotModifiableException (403).
// Ditto's message starts with a space.
func ErrAttributeNotModifiable(thingID, pointer string) *Error {
	return NewError(http.StatusForbidden, CodeAttributeNotModifiable,
		fmt.Sprintf(" The Attribute with name '%s' on the Thing with ID '%s' could not be modified as the requester had insufficient permissions (WRITE is required).", pointer, thingID),
		descCheckThingPermissions)
}

// ErrAttributePointerInvalid is Ditto's AttributePointerInvalidException.
// Ditto's message starts with a space.
func ErrAttributePointerInvalid(pointer string) *Error {
	return NewError(http.StatusBadRequest, CodeAttributePointerInvalid,
		fmt.Sprintf(" The Attribute JSON pointer '%s' is invalid.", pointer),
		"Check if the pointer to the requested Attribute is correct.")
}

// ErrThingDefinitionNotAccessible is Ditto's ThingDefinitionNotAccessibleException.
func ErrThingDefinitionNotAccessible(thingID string) *Error {
	return NewError(http.StatusNotFound, CodeThingDefinitionNotFound,
		fmt.Sprintf("The Definition of the Thing with ID <%s> could not be found or the requester had insufficient permissions to access it.", thingID),
		"Check if the ID of the thing and the key of your requested definition was correct and you have sufficient permissions.")
}

// ErrThingDefinitionNotModifiable is Ditto's ThingDefinitionNotModifiableException.
func ErrThingDefinitionNotModifiable(thingID string) *Error {
	return NewError(http.StatusForbidden, CodeThingDefinitionNotModifiable,
		fmt.Sprintf("The Definition on the Thing with ID '%s' could not be modified as the requester had insufficient permissions (WRITE is required).", thingID),
		descCheckThingPermissions)
}

// ErrDefinitionIdentifierInvalid is Ditto's DefinitionIdentifierInvalidException,
// for thing and feature definitions alike.
func ErrDefinitionIdentifierInvalid(identifier string) *Error {
	return NewError(http.StatusBadRequest, CodeDefinitionIdentifierInvalid,
		fmt.Sprintf("Definition identifier <%s> is invalid!", identifier),
		"An identifier string is expected to have the structure 'namespace:name:version' where each segment must contain at least one char of [_a-zA-Z0-9\\-.] OR it must be a valid HTTP(s) URL.")
}

// ErrFeaturesNotAccessible is Ditto's FeaturesNotAccessibleException (404).
func ErrFeaturesNotAccessible(thingID string) *Error {
	return NewError(http.StatusNotFound, CodeFeaturesNotFound,
		fmt.Sprintf("The Features on the Thing with ID '%s' do not exist or the requester had insufficient permissions to access it.", thingID),
		descCheckThingWasCorrect)
}

// ErrFeaturesNotModifiable is Ditto's FeaturesNotModifiableException (403).
func ErrFeaturesNotModifiable(thingID string) *Error {
	return NewError(http.StatusForbidden, CodeFeaturesNotModifiable,
		fmt.Sprintf("The Features on the Thing with ID '%s' cannot be modified as requester had insufficient permissions to modify it (WRITE is required).", thingID),
		descCheckThingWasCorrect)
}

// ErrFeatureNotAccessible is Ditto's FeatureNotAccessibleException (404).
func ErrFeatureNotAccessible(thingID, featureID string) *Error {
	return NewError(http.StatusNotFound, CodeFeatureNotFound,
		fmt.Sprintf("The Feature with ID '%s' on the Thing with ID '%s' could not be found or the requester had insufficient permissions to access it.", featureID, thingID),
		descCheckThingAndFeature)
}

// ErrFeatureNotModifiable is Ditto's FeatureNotModifiableException (403).
func ErrFeatureNotModifiable(thingID, featureID string) *Error {
	return NewError(http.StatusForbidden, CodeFeatureNotModifiable,
		fmt.Sprintf("The Feature with ID '%s' on the Thing with ID '%s' could not be modified as the requester had insufficient permissions to modify it (WRITE is required).", featureID, thingID),
		descCheckThingAndFeature)
}

// ErrFeatureDefinitionNotAccessible is Ditto's FeatureDefinitionNotAccessibleException.
func ErrFeatureDefinitionNotAccessible(thingID, featureID string) *Error {
	return NewError(http.StatusNotFound, CodeFeatureDefinitionNotFound,
		fmt.Sprintf("The Definition of the Feature with ID '%s' on the Thing with ID '%s' does not exist or the requester had insufficient permissions to access it.", featureID, thingID),
		descCheckThingAndFeatureIDs)
}

// ErrFeatureDefinitionNotModifiable is Ditto's FeatureDefinitionNotModifiableException.
func ErrFeatureDefinitionNotModifiable(thingID, featureID string) *Error {
	return NewError(http.StatusForbidden, CodeFeatureDefinitionNotModifiable,
		fmt.Sprintf("The Definition of the Feature with ID '%s' on the Thing with ID '%s' cannot be modified as the requester had insufficient permissions to modify it (WRITE is required).", featureID, thingID),
		descCheckThingAndFeatureIDs)
}

// ErrFeatureDefinitionEmpty is Ditto's FeatureDefinitionEmptyException.
func ErrFeatureDefinitionEmpty() *Error {
	return NewError(http.StatusBadRequest, CodeFeatureDefinitionEmpty,
		"Feature Definition must not be empty!",
		"A Feature Definition must contain at least one element. It can however also be set to null or deleted completely.")
}

// ErrFeaturePropertiesNotAccessible is Ditto's FeaturePropertiesNotAccessibleException.
func ErrFeaturePropertiesNotAccessible(thingID, featureID string) *Error {
	return NewError(http.StatusNotFound, CodeFeaturePropertiesNotFound,
		fmt.Sprintf("The Properties of the Feature with ID '%s' on the Thing with ID '%s' do not exist or the requester had insufficient permissions to access it.", featureID, thingID),
		descCheckThingAndFeatureIDs)
}

// ErrFeaturePropertiesNotModifiable is Ditto's FeaturePropertiesNotModifiableException.
func ErrFeaturePropertiesNotModifiable(thingID, featureID string) *Error {
	return NewError(http.StatusForbidden, CodeFeaturePropertiesNotModifiable,
		fmt.Sprintf("The Properties of the Feature with ID '%s' on the Thing with ID '%s' cannot be modified as the requester had insufficient permissions to modify it (WRITE is required).", featureID, thingID),
		descCheckThingAndFeatureIDs)
}

// ErrFeaturePropertyNotAccessible is Ditto's FeaturePropertyNotAccessibleException.
func ErrFeaturePropertyNotAccessible(thingID, featureID, pointer string) *Error {
	return NewError(http.StatusNotFound, CodeFeaturePropertyNotFound,
		fmt.Sprintf("The Property with JSON Pointer '%s' of the Feature with ID '%s' on the Thing with ID '%s' does not exist or the requester had insufficient permissions to access it.", pointer, featureID, thingID),
		"Check if the ID of the Thing, the Feature ID and the key of your requested property was correct and you have sufficient permissions.")
}

// ErrFeaturePropertyNotModifiable is Ditto's FeaturePropertyNotModifiableException.
func ErrFeaturePropertyNotModifiable(thingID, featureID, pointer string) *Error {
	return NewError(http.StatusForbidden, CodeFeaturePropertyNotModifiable,
		fmt.Sprintf("The Property with JSON Pointer '%s' of the Feature with ID '%s' on the Thing with ID '%s' could not be modified as the requester had insufficient permissions to modify it (WRITE is required).", pointer, featureID, thingID),
		"Check if the ID of the Thing, the Feature ID and the key of your requested property was correct and you have sufficient permissions.")
}

// ErrFeatureDesiredPropertiesNotAccessible is Ditto's FeatureDesiredPropertiesNotAccessibleException.
func ErrFeatureDesiredPropertiesNotAccessible(thingID, featureID string) *Error {
	return NewError(http.StatusNotFound, CodeFeatureDesiredPropertiesNotFound,
		fmt.Sprintf("The desired properties of the Feature with ID '%s' on the Thing with ID '%s' do not exist or the requester had insufficient permissions to access it.", featureID, thingID),
		descCheckThingAndFeatureIDs)
}

// ErrFeatureDesiredPropertiesNotModifiable is Ditto's FeatureDesiredPropertiesNotModifiableException.
func ErrFeatureDesiredPropertiesNotModifiable(thingID, featureID string) *Error {
	return NewError(http.StatusForbidden, CodeFeatureDesiredPropertiesNotModifiable,
		fmt.Sprintf("The desired properties of the Feature with ID '%s' on the Thing with ID '%s' cannot be modified as the requester had insufficient permissions to modify it (WRITE is required).", featureID, thingID),
		descCheckThingAndFeatureIDs)
}

// ErrFeatureDesiredPropertyNotAccessible is Ditto's FeatureDesiredPropertyNotAccessibleException.
func ErrFeatureDesiredPropertyNotAccessible(thingID, featureID, pointer string) *Error {
	return NewError(http.StatusNotFound, CodeFeatureDesiredPropertyNotFound,
		fmt.Sprintf("The desired property with JSON Pointer '%s' of the Feature with ID '%s' on the Thing with ID '%s' does not exist or the requester had insufficient permissions to access it.", pointer, featureID, thingID),
		"Check if the ID of the Thing, the Feature ID and the key of your requested desired property was correct and you have sufficient permissions.")
}

// ErrFeatureDesiredPropertyNotModifiable is Ditto's FeatureDesiredPropertyNotModifiableException.
func ErrFeatureDesiredPropertyNotModifiable(thingID, featureID, pointer string) *Error {
	return NewError(http.StatusForbidden, CodeFeatureDesiredPropertyNotModifiable,
		fmt.Sprintf("The desired property with JSON Pointer '%s' of the Feature with ID '%s' on the Thing with ID '%s' could not be modified as the requester had insufficient permissions to modify it (WRITE is required).", pointer, featureID, thingID),
		"Check if the ID of the Thing, the Feature ID and the key of your requested desired property was correct and you have sufficient permissions.")
}

// ErrThingTooManyModifyingRequests is Ditto's ThingTooManyModifyingRequestsException (429).
func ErrThingTooManyModifyingRequests(thingID string) *Error {
	return NewError(http.StatusTooManyRequests, CodeThingTooManyModifyingRequests,
		fmt.Sprintf("Too many modifying requests are already outstanding to the Thing with ID '%s'.", thingID),
		"Throttle your modifying requests to the Thing or re-structure your Thing in multiple Things if you really need so many concurrent modifications.")
}

// ErrThingUnavailable is Ditto's ThingUnavailableException (503).
func ErrThingUnavailable(thingID string) *Error {
	return NewError(http.StatusServiceUnavailable, CodeThingUnavailable,
		fmt.Sprintf("The Thing with ID '%s' is not available, please try again later.", thingID),
		"The requested Thing is temporarily not available, please retry the performed action in order to improve resiliency.")
}

// ErrThingTooLarge is Ditto's ThingTooLargeException (413): a thing of
// actualBytes over the limit of maxBytes (LIMITS_THINGS_MAX_SIZE).
func ErrThingTooLarge(actualBytes, maxBytes int64) *Error {
	return NewError(http.StatusRequestEntityTooLarge, CodeThingTooLarge,
		fmt.Sprintf("The size of '%s' kB exceeds the maximal allowed Thing size of '%s' kB.", javaKB(actualBytes), javaKB(maxBytes)),
		"Reduce the Thing size in the bounds of the specified limit")
}

// ErrMessagePayloadTooLarge is Ditto's MessagePayloadSizeTooLargeException
// (413): a message of actualBytes over LIMITS_MESSAGES_MAX_SIZE.
func ErrMessagePayloadTooLarge(actualBytes, maxBytes int64) *Error {
	return NewError(http.StatusRequestEntityTooLarge, "messages:payload.toolarge",
		fmt.Sprintf("The message payload size of '%s' kB exceeds the maximal allowed size of '%s' kB.", javaKB(actualBytes), javaKB(maxBytes)),
		"Reduce the message payload in the bounds of the specified limit")
}

// ErrThingPreconditionFailed is Ditto's ThingPreconditionFailedException
// (412): header (if-match, if-none-match) with value did not match entity-tag
// actual, the resource's current tag ("" when it does not exist). As
// Ditto's, the response carries the current tag as ETag.
func ErrThingPreconditionFailed(header, value, actual string) *Error {
	return NewError(http.StatusPreconditionFailed, CodeThingPreconditionFailed,
		fmt.Sprintf("The comparison of precondition header '%s' for the requested Thing resource evaluated to false. Header value: '%s', actual entity-tag: '%s'.", header, value, tagOrNull(actual)),
		"The comparison of the provided precondition header with the current ETag value of the requested Thing resource evaluated to false. Check the value of your conditional header value.").withETag(actual)
}

// ErrThingPreconditionNotModified is Ditto's ThingPreconditionNotModifiedException
// (304), carrying the matched current tag as ETag. Ditto's description keeps
// the doubled quotes of its template.
func ErrThingPreconditionNotModified(expectedNotToMatch, matched string) *Error {
	return NewError(http.StatusNotModified, CodeThingPreconditionNotModified,
		fmt.Sprintf("The comparison of precondition header 'if-none-match' for the requested Thing resource evaluated to false. Expected: '%s' not to match actual: '%s'.", expectedNotToMatch, matched),
		"The comparison of the provided precondition header ''if-none-match'' with the current ETag value of the requested Thing resource evaluated to false. Check the value of your conditional header value.").withETag(matched)
}

// tagOrNull is how Ditto names an entity tag in a message: a missing one is
// null (Java's String.valueOf).
func tagOrNull(tag string) string {
	if tag == "" {
		return "null"
	}
	return tag
}

// ErrThingConditionFailed is Ditto's ThingConditionFailedException (412): the
// condition header evaluated to false.
func ErrThingConditionFailed() *Error {
	return NewError(http.StatusPreconditionFailed, CodeThingConditionFailed,
		"The specified condition does not match the state of the requested Thing.",
		"The provided condition did not match the actual Thing state. Please check your provided condition.")
}

// ErrThingConditionFailedPermission is Ditto's ThingConditionFailedException
// when the caller may not read what the condition refers to.
func ErrThingConditionFailedPermission() *Error {
	return NewError(http.StatusPreconditionFailed, CodeThingConditionFailed,
		"The specified resource in the condition could not be found or the requester had insufficient permissions to access it.",
		"Check if you have sufficient permissions to access the specified resource (READ permission is required).")
}

// ErrLiveChannelConditionFailedPermission is Ditto's ThingConditionFailedException
// when the caller may not read what the live-channel-condition refers to.
func ErrLiveChannelConditionFailedPermission() *Error {
	return NewError(http.StatusPreconditionFailed, CodeThingConditionFailed,
		"The specified resource in the live channel condition could not be found or the requester had insufficient permissions to access it.",
		"Check if you have sufficient permissions to access the specified resource (READ permission is required).")
}

// ErrThingConditionInvalid is Ditto's ThingConditionInvalidException with the
// RQL parser's description.
func ErrThingConditionInvalid(condition, description string) *Error {
	if description == "" {
		description = "The provided condition is not valid. Please check the value of your condition header."
	}
	return NewError(http.StatusBadRequest, CodeThingConditionInvalid,
		fmt.Sprintf("The specified condition '%s' is invalid.", condition), description)
}

// ErrLiveChannelConditionNotAllowed is Ditto's LiveChannelConditionNotAllowedException (405).
func ErrLiveChannelConditionNotAllowed() *Error {
	return NewError(http.StatusMethodNotAllowed, CodeLiveChannelConditionNotAllowed,
		"The specified 'live-channel-condition' is only allowed to be used for retrieving API calls.",
		"For modifying API calls the 'live-channel-condition' cannot be used, please remove the condition.")
}

// ErrThingMergeInvalid is Ditto's ThingMergeInvalidException.
func ErrThingMergeInvalid() *Error {
	return withHref(NewError(http.StatusBadRequest, CodeThingMergeInvalid,
		"The provided JSON Merge Patch is invalid, it must conform to RFC7396.",
		"The provided JSON Merge Patch cannot be applied at the given path."),
		hrefRFC7396)
}

const descThingHistory = "Check if the ID of your requested Thing was correct, you have sufficient permissions and ensure that the asked for revision/timestamp does not exceed the history-retention-duration or is from the future."

// ErrThingHistoryNotAccessible is Ditto's ThingHistoryNotAccessibleException
// for a revision.
func ErrThingHistoryNotAccessible(thingID string, revision int64) *Error {
	return NewError(http.StatusNotFound, CodeThingHistoryNotFound,
		fmt.Sprintf("The Thing with ID '%s' at revision '%d' could not be found or requester had insufficient permissions to access it.", thingID, revision),
		descThingHistory)
}

// ErrThingHistoryNotAccessibleAt is Ditto's ThingHistoryNotAccessibleException
// for a timestamp (ISO-8601, as Java's Instant prints it).
func ErrThingHistoryNotAccessibleAt(thingID, timestamp string) *Error {
	return NewError(http.StatusNotFound, CodeThingHistoryNotFound,
		fmt.Sprintf("The Thing with ID '%s' at timestamp '%s' could not be found or requester had insufficient permissions to access it.", thingID, timestamp),
		descThingHistory)
}

// ErrThingMetadataNotModifiable is Ditto's MetadataNotModifiableException.
func ErrThingMetadataNotModifiable() *Error {
	return NewError(http.StatusBadRequest, CodeThingMetadataNotModifiable,
		"Metadata of the Thing could not be modified",
		"Multiple occurrences of metadata per request is not allowed. Either specify metadata in the header 'put-metadata' or in the Thing '_metadata'.")
}

// ErrThingMetadataHeadersConflict is Ditto's MetadataHeadersConflictException.
func ErrThingMetadataHeadersConflict() *Error {
	return NewError(http.StatusBadRequest, CodeThingMetadataHeadersConflict,
		"Metadata of the Thing could not be created, modified, retrieved or deleted.",
		"Multiple metadata headers were specified. Use only on of the following metadata headers: 'put-metadata', 'get-metadata' or 'delete-metadata'.")
}

// ErrThingIDsMissing is Ditto's MissingThingIdsException (GET /things without ids).
func ErrThingIDsMissing() *Error {
	return NewError(http.StatusBadRequest, CodeThingIDsMissing,
		"The required list of thing ids was missing.",
		"Please provide at least one thing id and try again.")
}

// ---- Policies ------------------------------------------------------------

const (
	descCheckPolicyPermissions = "Check if the ID of your requested Policy was correct and you have sufficient permissions."
	descCheckPolicyAndLabel    = "Check if the ID of the Policy and the Label of the PolicyEntry was correct and you have sufficient permissions."
	descPolicyLockout          = "There must always be at least one PolicyEntry with 'WRITE' permissions on resource 'policy:/'."
)

// ErrPolicyNotAccessible is Ditto's PolicyNotAccessibleException (404).
func ErrPolicyNotAccessible(policyID string) *Error {
	return NewError(http.StatusNotFound, CodePolicyNotFound,
		fmt.Sprintf("The Policy with ID '%s' could not be found or requester had insufficient permissions to access it.", policyID),
		descCheckPolicyPermissions)
}

// ErrPolicyNotModifiable is Ditto's PolicyNotModifiableException (403).
func ErrPolicyNotModifiable(policyID string) *Error {
	return NewError(http.StatusForbidden, CodePolicyNotModifiable,
		fmt.Sprintf("The Policy with ID '%s' could not be modified as the requester had insufficient permissions.", policyID),
		descCheckPolicyPermissions)
}

// ErrPolicyNotCreatable is Ditto's PolicyNotCreatableException (403).
func ErrPolicyNotCreatable(policyID string) *Error {
	return NewError(http.StatusForbidden, CodePolicyNotCreatable,
		fmt.Sprintf("The Policy with ID '%s' could not be created as the requester had insufficient permissions.", policyID),
		"Check if you have sufficient permissions in the new policy to create.")
}

// ErrPolicyConflict is Ditto's PolicyConflictException (409).
func ErrPolicyConflict(policyID string) *Error {
	return NewError(http.StatusConflict, CodePolicyConflict,
		fmt.Sprintf("The Policy with ID '%s' already exists", policyID), "Choose another Policy ID")
}

// ErrPolicyTooLarge is Ditto's PolicyTooLargeException (413).
func ErrPolicyTooLarge(actualBytes, maxBytes int64) *Error {
	return NewError(http.StatusRequestEntityTooLarge, CodePolicyTooLarge,
		fmt.Sprintf("The size of '%s' kB exceeds the maximal allowed Policy size of '%s' kB.", javaKB(actualBytes), javaKB(maxBytes)),
		"Reduce the Policy size in the bounds of the specified limit")
}

// ErrPolicyTooManyModifyingRequests is Ditto's PolicyTooManyModifyingRequestsException (429).
func ErrPolicyTooManyModifyingRequests(policyID string) *Error {
	return NewError(http.StatusTooManyRequests, CodePolicyTooManyModifyingRequests,
		fmt.Sprintf("Too many modifying requests are already outstanding to the Policy with ID '%s'.", policyID),
		"Throttle your modifying requests to the Policy or re-structure your Policy in multiple Policies if you really need so many concurrent modifications.")
}

// ErrPolicyUnavailable is Ditto's PolicyUnavailableException (503).
func ErrPolicyUnavailable(policyID string) *Error {
	return NewError(http.StatusServiceUnavailable, CodePolicyUnavailable,
		fmt.Sprintf("The Policy with ID '%s' is not available, please try again later.", policyID),
		"The requested Policy is temporarily not available, please retry the performed action in order to improve resiliency.")
}

// ErrPolicyModificationInvalid is Ditto's PolicyModificationInvalidException
// (403): the change would leave no entry with WRITE on policy:/.
func ErrPolicyModificationInvalid(policyID string) *Error {
	return NewError(http.StatusForbidden, CodePolicyModificationInvalid,
		fmt.Sprintf("The Policy with ID '%s' could not be modified as the resulting Policy would be invalid.", policyID),
		descPolicyLockout)
}

// ErrPolicyEntryModificationInvalid is Ditto's PolicyEntryModificationInvalidException (403).
func ErrPolicyEntryModificationInvalid(policyID, label string) *Error {
	return NewError(http.StatusForbidden, CodePolicyEntryModificationInvalid,
		fmt.Sprintf("The PolicyEntry with Label '%s' on the Policy with ID '%s' could not be modified as the resulting Policy would be invalid.", label, policyID),
		descPolicyLockout)
}

// ErrPolicyEntryNotAccessible is Ditto's PolicyEntryNotAccessibleException (404).
func ErrPolicyEntryNotAccessible(policyID, label string) *Error {
	return NewError(http.StatusNotFound, CodePolicyEntryNotFound,
		fmt.Sprintf("The PolicyEntry with Label '%s' on the Policy with ID '%s' could not be found or requester had insufficient permissions to access it.", label, policyID),
		"Check if the ID of the Policy and the Label of your requested PolicyEntry was correct and you have sufficient permissions.")
}

// ErrPolicyEntryNotModifiable is Ditto's PolicyEntryNotModifiableException (403).
func ErrPolicyEntryNotModifiable(policyID, label string) *Error {
	return NewError(http.StatusForbidden, CodePolicyEntryNotModifiable,
		fmt.Sprintf("The PolicyEntry with Label '%s' on the Policy with ID '%s' could not be modified as the requester had insufficient permissions.", label, policyID),
		"Check if the ID of the Policy and the Label of your requested PolicyEntry was correct and you have sufficient permissions.")
}

// ErrPolicyEntryInvalid is Ditto's PolicyEntryInvalidException with its
// default message and description (an entry without known permission).
func ErrPolicyEntryInvalid() *Error {
	return NewError(http.StatusBadRequest, CodePolicyEntryInvalid,
		"The Policy Entry is invalid.",
		"Policy entry does not contain any known permission like 'READ' or 'WRITE'")
}

// ErrPolicyEntryInvalidMessage is Ditto's PolicyEntryInvalidException with
// its own message and description.
func ErrPolicyEntryInvalidMessage(message, description string) *Error {
	return NewError(http.StatusBadRequest, CodePolicyEntryInvalid, message, description)
}

// ErrPolicyLabelCharsInvalid is what Ditto answers for a policy label with
// a slash or control character (a PolicyEntryInvalidException); reason is
// the validator's, e.g. "Neither slashes nor any control characters are
// allowed." or "Not allowed to exceed length of 256.".
func ErrPolicyLabelCharsInvalid(label, reason string) *Error {
	return ErrPolicyEntryInvalidMessage("The Policy Label "+label+" is invalid", reason)
}

// ErrPolicyResourceInvalid is what Ditto answers for a resource key with a
// control character (a PolicyEntryInvalidException); reason is the
// validator's, e.g. "No control characters are allowed.".
func ErrPolicyResourceInvalid(resourceKey, reason string) *Error {
	return ErrPolicyEntryInvalidMessage("The Policy Resource "+resourceKey+" is invalid", reason)
}

// ErrPolicyLabelInvalid is Ditto's LabelInvalidException: a label starting
// with the reserved prefix "imported" or "nsimported".
func ErrPolicyLabelInvalid(label string) *Error {
	return NewError(http.StatusBadRequest, CodePolicyLabelInvalid,
		fmt.Sprintf("Label '%s' is not valid!", label),
		"It must not start with the blocklisted 'imported' or 'nsimported' prefix.")
}

// ErrPolicyResourcesNotAccessible is Ditto's ResourcesNotAccessibleException.
func ErrPolicyResourcesNotAccessible(policyID, label string) *Error {
	return NewError(http.StatusNotFound, CodePolicyResourcesNotFound,
		fmt.Sprintf("The Resources of the PolicyEntry with Label '%s' on the Policy with ID '%s' could not be found or requester had insufficient permissions to access it.", label, policyID),
		descCheckPolicyAndLabel)
}

// ErrPolicyResourcesNotModifiable is Ditto's ResourcesNotModifiableException.
func ErrPolicyResourcesNotModifiable(policyID, label string) *Error {
	return NewError(http.StatusForbidden, CodePolicyResourcesNotModifiable,
		fmt.Sprintf("The Resources of the PolicyEntry with Label '%s' on the Policy with ID '%s' could not be modified as the requester had insufficient permissions.", label, policyID),
		"Check if the ID of the Policy and the PolicyEntry's Label of your requested Resources was correct and you have sufficient permissions.")
}

// ErrPolicyResourceNotAccessible is Ditto's ResourceNotAccessibleException;
// resource is the resource key or path as the request named it.
func ErrPolicyResourceNotAccessible(policyID, label, resource string) *Error {
	return NewError(http.StatusNotFound, CodePolicyResourceNotFound,
		fmt.Sprintf("The Resource '%s' of the PolicyEntry with Label '%s' on the Policy with ID '%s' could not be found or requester had insufficient permissions to access it.", resource, label, policyID),
		"Check if the ID of the Policy, the Label of the PolicyEntry and the path of your requested Resource was correct and you have sufficient permissions.")
}

// ErrPolicyResourceNotModifiable is Ditto's ResourceNotModifiableException.
func ErrPolicyResourceNotModifiable(policyID, label, resource string) *Error {
	return NewError(http.StatusForbidden, CodePolicyResourceNotModifiable,
		fmt.Sprintf("The Resource '%s' of the PolicyEntry with Label '%s' on the Policy with ID '%s' could not be modified as the requester had insufficient permissions.", resource, label, policyID),
		"Check if the ID of the Policy, the Label of the PolicyEntry and the path of your requested Resource was correct and you have sufficient permissions.")
}

// ErrPolicySubjectsNotAccessible is Ditto's SubjectsNotAccessibleException.
func ErrPolicySubjectsNotAccessible(policyID, label string) *Error {
	return NewError(http.StatusNotFound, CodePolicySubjectsNotFound,
		fmt.Sprintf("The Subjects of the PolicyEntry with Label '%s' on the Policy with ID '%s' could not be found or requester had insufficient permissions to access it.", label, policyID),
		descCheckPolicyAndLabel)
}

// ErrPolicySubjectsNotModifiable is Ditto's SubjectsNotModifiableException.
func ErrPolicySubjectsNotModifiable(policyID, label string) *Error {
	return NewError(http.StatusForbidden, CodePolicySubjectsNotModifiable,
		fmt.Sprintf("The Subjects of the PolicyEntry with Label '%s' on the Policy with ID '%s' could not be modified as the requester had insufficient permissions.", label, policyID),
		"Check if the ID of the Policy and the PolicyEntry's Label of your requested Subjects was correct and you have sufficient permissions.")
}

// ErrPolicySubjectNotAccessible is Ditto's SubjectNotAccessibleException.
func ErrPolicySubjectNotAccessible(policyID, label, subjectID string) *Error {
	return NewError(http.StatusNotFound, CodePolicySubjectNotFound,
		fmt.Sprintf("The Subject with ID '%s' of the PolicyEntry with Label '%s' on the Policy with ID '%s' could not be found or requester had insufficient permissions to access it.", subjectID, label, policyID),
		"Check if the ID of the Policy, the Label of the PolicyEntry and ID of your requested Subject was correct and you have sufficient permissions.")
}

// ErrPolicySubjectNotModifiable is Ditto's SubjectNotModifiableException.
func ErrPolicySubjectNotModifiable(policyID, label, subjectID string) *Error {
	return NewError(http.StatusForbidden, CodePolicySubjectNotModifiable,
		fmt.Sprintf("The Subject with ID '%s' of the PolicyEntry with Label '%s' on the Policy with ID '%s' could not be modified as the requester had insufficient permissions.", subjectID, label, policyID),
		"Check if the ID of the Policy, the Label of the PolicyEntry and ID of your requested Subject was correct and you have sufficient permissions.")
}

// ErrPolicyIDInvalid is Ditto's PolicyIdInvalidException.
func ErrPolicyIDInvalid(policyID string) *Error {
	return withHref(NewError(http.StatusBadRequest, CodePolicyIDInvalid,
		fmt.Sprintf("Policy ID '%s' is not valid!", policyID),
		"It must conform to the namespaced entity ID notation (see Ditto documentation)"),
		hrefNamespacedID)
}

// ErrPolicyIDNotSettable is Ditto's PolicyIdNotExplicitlySettableException
// for a PUT body whose policyId differs from the URL's.
func ErrPolicyIDNotSettable() *Error {
	return NewError(http.StatusBadRequest, CodePolicyIDNotSettable,
		"The Policy ID in the request body is not equal to the Policy ID in the request URL.",
		"Either delete the Policy ID from the request body or use the same Policy ID as in the request URL.")
}

// ErrPolicyIDNotSettableForPost is Ditto's PolicyIdNotExplicitlySettableException
// for a POST body with a policyId.
func ErrPolicyIDNotSettableForPost() *Error {
	return NewError(http.StatusBadRequest, CodePolicyIDNotSettable,
		"It is not allowed to provide a Policy ID in the request body for method POST. The method POST will generate the Policy ID by itself.",
		"To provide your own Policy ID use a PUT request instead.")
}

// ErrPolicySubjectIDInvalid is Ditto's SubjectIdInvalidException.
func ErrPolicySubjectIDInvalid(subjectID string) *Error {
	return NewError(http.StatusBadRequest, CodePolicySubjectIDInvalid,
		fmt.Sprintf("Subject ID '%s' is not valid!", subjectID),
		"It must contain an issuer as prefix separated by a colon ':' from the actual subject")
}

// ErrPolicySubjectExpiryInvalid is Ditto's SubjectExpiryInvalidException for
// an expiry that is not an ISO-8601 timestamp.
func ErrPolicySubjectExpiryInvalid(expiry string) *Error {
	return NewError(http.StatusBadRequest, CodePolicySubjectExpiryInvalid,
		fmt.Sprintf("Subject expiry timestamp '%s' is not valid.", expiry),
		"It must be provided as ISO-8601 formatted char sequence.")
}

// ErrPolicySubjectExpiryInPast is Ditto's SubjectExpiryInvalidException for
// an expiry in the past.
func ErrPolicySubjectExpiryInPast(expiry string) *Error {
	return NewError(http.StatusBadRequest, CodePolicySubjectExpiryInvalid,
		fmt.Sprintf("Subject expiry timestamp '%s' is not valid.", expiry),
		"It must not be in the past, please adjust to a timestamp in the future.")
}

// ErrPolicyPreconditionFailed is Ditto's PolicyPreconditionFailedException
// (412), as ErrThingPreconditionFailed.
func ErrPolicyPreconditionFailed(header, value, actual string) *Error {
	return NewError(http.StatusPreconditionFailed, CodePolicyPreconditionFailed,
		fmt.Sprintf("The comparison of precondition header '%s' for the requested Policy resource evaluated to false. Header value: '%s', actual entity-tag: '%s'.", header, value, tagOrNull(actual)),
		"The comparison of the provided precondition header with the current ETag value of the requested Policy resource evaluated to false. Check the value of your conditional header value.").withETag(actual)
}

// ErrPolicyPreconditionNotModified is Ditto's PolicyPreconditionNotModifiedException
// (304), as ErrThingPreconditionNotModified.
func ErrPolicyPreconditionNotModified(expectedNotToMatch, matched string) *Error {
	return NewError(http.StatusNotModified, CodePolicyPreconditionNotModified,
		fmt.Sprintf("The comparison of precondition header 'if-none-match' for the requested Policy resource evaluated to false. Expected: '%s' not to match actual: '%s'.", expectedNotToMatch, matched),
		"The comparison of the provided precondition header ''if-none-match'' with the current ETag value of the requested Policy resource evaluated to false. Check the value of your conditional header value.").withETag(matched)
}

// ErrPolicyImportsNotAccessible is Ditto's PolicyImportsNotAccessibleException.
func ErrPolicyImportsNotAccessible(policyID string) *Error {
	return NewError(http.StatusNotFound, CodePolicyImportsNotFound,
		fmt.Sprintf("The imports of the Policy with ID '%s' could not be found or requester had insufficient permissions to access it.", policyID),
		"Check if the ID of the Policy was correct and you have sufficient permissions.")
}

// ErrPolicyImportsNotModifiable is Ditto's PolicyImportsNotModifiableException.
func ErrPolicyImportsNotModifiable(policyID string) *Error {
	return NewError(http.StatusForbidden, CodePolicyImportsNotModifiable,
		fmt.Sprintf("The Imports of the Policy with ID '%s' could not be modified as the requester had insufficient permissions.", policyID),
		descCheckPolicyPermissions)
}

// ErrPolicyImportNotAccessible is Ditto's PolicyImportNotAccessibleException.
func ErrPolicyImportNotAccessible(policyID, importedPolicyID string) *Error {
	return NewError(http.StatusNotFound, CodePolicyImportNotFound,
		fmt.Sprintf("The Policy import '%s' of Policy '%s' could not be found or requester had insufficient permissions to access it.", importedPolicyID, policyID),
		"Check if the ID of the Policy and the imported Policy was correct and you have sufficient permissions.")
}

// ErrPolicyImportNotModifiable is Ditto's PolicyImportNotModifiableException.
func ErrPolicyImportNotModifiable(policyID, importedPolicyID string) *Error {
	return NewError(http.StatusForbidden, CodePolicyImportNotModifiable,
		fmt.Sprintf("The Import of the Policy with ID '%s' in Policy with ID '%s' could not be modified as the requester had insufficient permissions.", importedPolicyID, policyID),
		"Check if the ID of your requested Policy and imported Policy was correct and you have sufficient permissions.")
}

// ErrPolicyImportInvalid is Ditto's PolicyImportInvalidException: a policy
// importing itself.
func ErrPolicyImportInvalid() *Error {
	return NewError(http.StatusBadRequest, CodePolicyImportInvalid,
		"The Policy Import is invalid.",
		"The Policy Import references the policy where it is defined.")
}

const descPolicyHistory = "Check if the ID of your requested Policy was correct, you have sufficient permissions and ensure that the asked for revision/timestamp does not exceed the history-retention-duration or is from the future."

// ErrPolicyHistoryNotAccessible is Ditto's PolicyHistoryNotAccessibleException
// for a revision.
func ErrPolicyHistoryNotAccessible(policyID string, revision int64) *Error {
	return NewError(http.StatusNotFound, CodePolicyHistoryNotFound,
		fmt.Sprintf("The Policy with ID '%s' at revision '%d' could not be found or requester had insufficient permissions to access it.", policyID, revision),
		descPolicyHistory)
}

// ErrPolicyHistoryNotAccessibleAt is Ditto's PolicyHistoryNotAccessibleException
// for a timestamp.
func ErrPolicyHistoryNotAccessibleAt(policyID, timestamp string) *Error {
	return NewError(http.StatusNotFound, CodePolicyHistoryNotFound,
		fmt.Sprintf("The Policy with ID '%s' at timestamp '%s' could not be found or requester had insufficient permissions to access it.", policyID, timestamp),
		descPolicyHistory)
}

// ---- Java number rendering -----------------------------------------------

// javaInt renders n as java.text.MessageFormat renders a long in an English
// locale: with thousands separators.
func javaInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// javaKB renders bytes/1024.0 as MessageFormat renders a double: grouped
// integer part, at most three fraction digits, rounded half-even, trailing
// zeros dropped ("1,953.125", "100", "0.062").
func javaKB(bytes int64) string {
	s := strconv.FormatFloat(float64(bytes)/1024.0, 'f', 3, 64)
	intPart, frac, _ := strings.Cut(s, ".")
	frac = strings.TrimRight(frac, "0")
	n, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil {
		return s
	}
	out := javaInt(n)
	if intPart == "-0" {
		out = "-0"
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}
