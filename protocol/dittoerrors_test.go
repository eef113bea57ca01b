package protocol

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// catalog lists every constructor of dittoerrors.go with sample arguments
// and the status and code Ditto gives it.
var catalog = []struct {
	name       string
	err        *Error
	wantStatus int
	wantCode   string
}{
	{"JSONInvalid", ErrJSONInvalid("m"), 400, "json.invalid"},
	{"JSONTooDeep", ErrJSONTooDeep(512), 400, "json.invalid"},
	{"JSONFormatInvalid", ErrJSONFormatInvalid("m"), 400, "json.format.invalid"},
	{"JSONFieldMissing", ErrJSONFieldMissing("/topic"), 400, "json.field.missing"},
	{"JSONPointerInvalid", ErrJSONPointerInvalid("//"), 400, "json.pointer.invalid"},
	{"JSONFieldSelectorInvalid", ErrJSONFieldSelectorInvalid("a("), 400, "json.fieldselector.invalid"},
	{"JSONKeyInvalid", ErrJSONKeyInvalid("a/b"), 400, "json.key.invalid"},
	{"HeaderInvalid", ErrHeaderInvalid("h", "v", "boolean"), 400, "header.invalid"},
	{"HeaderInvalidMessage", ErrHeaderInvalidMessage("m"), 400, "header.invalid"},
	{"HeaderNotSupported", ErrHeaderNotSupported("h", "v"), 400, "header.notsupported"},
	{"TimeoutInvalid", ErrTimeoutInvalid("m"), 400, "timeout.invalid"},
	{"TimeoutOutOfBounds", ErrTimeoutOutOfBounds(2*time.Minute, time.Minute), 400, "timeout.invalid"},
	{"CommandTimeout", ErrCommandTimeout(time.Minute), 408, "command.timeout"},
	{"RQLExpressionInvalid", ErrRQLExpressionInvalid(""), 400, "rql.expression.invalid"},
	{"SearchOptionInvalid", ErrSearchOptionInvalid("m"), 400, "thing-search:search.option.invalid"},
	{"NamespacedEntityIDInvalid", ErrNamespacedEntityIDInvalid("x"), 400, "namespacedentity.id.invalid"},
	{"EntityNotCreatable", ErrEntityNotCreatable("ns:x"), 403, "entity.notcreatable"},
	{"TooManyRequests", ErrTooManyRequests(), 429, "too.many.requests"},
	{"Internal", ErrInternal(), 500, "internalerror"},
	{"UnsupportedMediaType", ErrUnsupportedMediaType("text/plain", []string{"application/json"}), 415, "mediatype.unsupported"},
	{"MergePatchMediaType", ErrMergePatchMediaType("application/json"), 415, "mediatype.unsupported"},
	{"MergePatchContentTypeMissing", ErrMergePatchContentTypeMissing(), 415, "mediatype.unsupported"},
	{"PathUnknown", ErrPathUnknown("/x"), 400, "signals.commands:path.unknown"},
	{"UnsupportedSchemaVersion", ErrUnsupportedSchemaVersion(1), 404, "unsupported.api.version"},
	{"NamespaceBlocked", ErrNamespaceBlocked("ns"), 409, "namespace.blocked"},
	{"UnknownTopicPath", ErrUnknownTopicPath("t", ""), 400, "protocoladapter:unknown.topicpath"},

	{"GatewayAuthenticationFailed", ErrGatewayAuthenticationFailed("m"), 401, "gateway:authentication.failed"},
	{"GatewayUnauthorized", ErrGatewayUnauthorized(), 401, "gateway:authentication.failed"},
	{"GatewayAuthenticationProviderUnavailable", ErrGatewayAuthenticationProviderUnavailable(), 503, "gateway:authentication.provider.unavailable"},
	{"GatewayJWTIssuerNotSupported", ErrGatewayJWTIssuerNotSupported("i"), 401, "gateway:jwt.issuer.notsupported"},
	{"GatewayMethodNotAllowed", ErrGatewayMethodNotAllowed("TRACE"), 405, "gateway:method.notallowed"},
	{"GatewayServiceUnavailable", ErrGatewayServiceUnavailable(), 503, "gateway:service.unavailable"},
	{"GatewayTimeoutInvalid", ErrGatewayTimeoutInvalid(2*time.Minute, time.Minute), 400, "gateway:timeout.invalid"},
	{"GatewayInternal", ErrGatewayInternal(), 500, "gateway:internalerror"},
	{"GatewayDuplicateHeader", ErrGatewayDuplicateHeader("h"), 400, "gateway:duplicate.header.field"},
	{"GatewayNamespaceNotAccessible", ErrGatewayNamespaceNotAccessible("ns"), 403, "gateway:namespace.notaccessible"},

	{"ThingNotAccessible", ErrThingNotAccessible("ns:t"), 404, "things:thing.notfound"},
	{"ThingNotAccessiblePolicyDeleted", ErrThingNotAccessiblePolicyDeleted("ns:t", "ns:p"), 404, "things:thing.notfound"},
	{"ThingNotModifiable", ErrThingNotModifiable("ns:t"), 403, "things:thing.notmodifiable"},
	{"ThingNotModifiablePolicyDeleted", ErrThingNotModifiablePolicyDeleted("ns:t", "ns:p"), 403, "things:thing.notmodifiable"},
	{"ThingNotDeletable", ErrThingNotDeletable("ns:t"), 403, "things:thing.notdeletable"},
	{"ThingConflict", ErrThingConflict("ns:t"), 409, "things:thing.conflict"},
	{"ThingNotCreatablePolicyMissing", ErrThingNotCreatablePolicyMissing("ns:t", "ns:p"), 400, "things:thing.notcreatable"},
	{"ThingNotCreatablePolicyExists", ErrThingNotCreatablePolicyExists("ns:t", "ns:p"), 400, "things:thing.notcreatable"},
	{"ThingNotCreatablePolicyFailed", ErrThingNotCreatablePolicyFailed("ns:t", "ns:p", ErrPolicyTooLarge(2048, 1024)), 413, "things:thing.notcreatable"},
	{"ThingNotCreatableNoSubject", ErrThingNotCreatableNoSubject("ns:t"), 400, "things:thing.notcreatable"},
	{"ThingNotCreatableLiveChannel", ErrThingNotCreatableLiveChannel(), 405, "things:thing.notcreatable"},
	{"ThingIDInvalid", ErrThingIDInvalid("x"), 400, "things:id.invalid"},
	{"ThingIDNotSettableForPost", ErrThingIDNotSettableForPost(), 400, "things:id.notsettable"},
	{"ThingIDNotSettable", ErrThingIDNotSettable(), 400, "things:id.notsettable"},
	{"ThingIDNotSettableForProtocol", ErrThingIDNotSettableForProtocol(), 400, "things:id.notsettable"},
	{"ThingIDNotDeletable", ErrThingIDNotDeletable(), 400, "things:id.notdeletable"},
	{"ThingPolicyIDNotAllowed", ErrThingPolicyIDNotAllowed("ns:t"), 400, "things:policy.id.notallowed"},
	{"ThingPolicyIDNotDeletable", ErrThingPolicyIDNotDeletable(), 400, "things:policyId.notdeletable"},
	{"ThingPolicyIDNotModifiable", ErrThingPolicyIDNotModifiable("ns:t"), 403, "things:policyId.notmodifiable"},
	{"ThingPolicyIDNotAccessible", ErrThingPolicyIDNotAccessible("ns:t"), 404, "things:policyId.notfound"},
	{"ThingPolicyNotAllowed", ErrThingPolicyNotAllowed("ns:t"), 400, "things:policy.notallowed"},
	{"ThingPolicyInvalid", ErrThingPolicyInvalid("ns:t", []string{"READ", "WRITE"}), 400, "things:policy.invalid"},
	{"ThingPoliciesConflicting", ErrThingPoliciesConflicting("ns:t"), 400, "things:policy.conflicting"},
	{"AttributesNotAccessible", ErrAttributesNotAccessible("ns:t"), 404, "things:attributes.notfound"},
	{"AttributesNotModifiable", ErrAttributesNotModifiable("ns:t"), 403, "things:attributes.notmodifiable"},
	{"AttributeNotAccessible", ErrAttributeNotAccessible("ns:t", "/a"), 404, "things:attribute.notfound"},
	{"AttributeNotModifiable", ErrAttributeNotModifiable("ns:t", "/a"), 403, "things:attribute.notmodifiable"},
	{"AttributePointerInvalid", ErrAttributePointerInvalid("/"), 400, "things:attribute.pointerinvalid"},
	{"ThingDefinitionNotAccessible", ErrThingDefinitionNotAccessible("ns:t"), 404, "things:definition.notfound"},
	{"ThingDefinitionNotModifiable", ErrThingDefinitionNotModifiable("ns:t"), 403, "things:definition.notmodifiable"},
	{"DefinitionIdentifierInvalid", ErrDefinitionIdentifierInvalid("x"), 400, "things:definition.identifier.invalid"},
	{"FeaturesNotAccessible", ErrFeaturesNotAccessible("ns:t"), 404, "things:features.notfound"},
	{"FeaturesNotModifiable", ErrFeaturesNotModifiable("ns:t"), 403, "things:features.notmodifiable"},
	{"FeatureNotAccessible", ErrFeatureNotAccessible("ns:t", "f"), 404, "things:feature.notfound"},
	{"FeatureNotModifiable", ErrFeatureNotModifiable("ns:t", "f"), 403, "things:feature.notmodifiable"},
	{"FeatureDefinitionNotAccessible", ErrFeatureDefinitionNotAccessible("ns:t", "f"), 404, "things:feature.definition.notfound"},
	{"FeatureDefinitionNotModifiable", ErrFeatureDefinitionNotModifiable("ns:t", "f"), 403, "things:feature.definition.notmodifiable"},
	{"FeatureDefinitionEmpty", ErrFeatureDefinitionEmpty(), 400, "things:feature.definition.empty"},
	{"FeaturePropertiesNotAccessible", ErrFeaturePropertiesNotAccessible("ns:t", "f"), 404, "things:feature.properties.notfound"},
	{"FeaturePropertiesNotModifiable", ErrFeaturePropertiesNotModifiable("ns:t", "f"), 403, "things:feature.properties.notmodifiable"},
	{"FeaturePropertyNotAccessible", ErrFeaturePropertyNotAccessible("ns:t", "f", "/x"), 404, "things:feature.property.notfound"},
	{"FeaturePropertyNotModifiable", ErrFeaturePropertyNotModifiable("ns:t", "f", "/x"), 403, "things:feature.property.notmodifiable"},
	{"FeatureDesiredPropertiesNotAccessible", ErrFeatureDesiredPropertiesNotAccessible("ns:t", "f"), 404, "things:feature.desiredProperties.notfound"},
	{"FeatureDesiredPropertiesNotModifiable", ErrFeatureDesiredPropertiesNotModifiable("ns:t", "f"), 403, "things:feature.desiredProperties.notmodifiable"},
	{"FeatureDesiredPropertyNotAccessible", ErrFeatureDesiredPropertyNotAccessible("ns:t", "f", "/x"), 404, "things:feature.desiredProperty.notfound"},
	{"FeatureDesiredPropertyNotModifiable", ErrFeatureDesiredPropertyNotModifiable("ns:t", "f", "/x"), 403, "things:feature.desiredProperty.notmodifiable"},
	{"ThingTooManyModifyingRequests", ErrThingTooManyModifyingRequests("ns:t"), 429, "things:thing.toomanymodifyingrequests"},
	{"ThingUnavailable", ErrThingUnavailable("ns:t"), 503, "things:thing.unavailable"},
	{"ThingTooLarge", ErrThingTooLarge(200000, 102400), 413, "things:thing.toolarge"},
	{"ThingPreconditionFailed", ErrThingPreconditionFailed("if-match", `"rev:1"`, `"rev:2"`), 412, "things:precondition.failed"},
	{"ThingPreconditionNotModified", ErrThingPreconditionNotModified(`"rev:1"`, `"rev:1"`), 304, "things:precondition.notmodified"},
	{"ThingConditionFailed", ErrThingConditionFailed(), 412, "things:condition.failed"},
	{"ThingConditionFailedPermission", ErrThingConditionFailedPermission(), 412, "things:condition.failed"},
	{"LiveChannelConditionFailedPermission", ErrLiveChannelConditionFailedPermission(), 412, "things:condition.failed"},
	{"ThingConditionInvalid", ErrThingConditionInvalid("eq(", ""), 400, "things:condition.invalid"},
	{"LiveChannelConditionNotAllowed", ErrLiveChannelConditionNotAllowed(), 405, "things:live.channelcondition.notallowed"},
	{"ThingMergeInvalid", ErrThingMergeInvalid(), 400, "things:merge.invalid"},
	{"ThingHistoryNotAccessible", ErrThingHistoryNotAccessible("ns:t", 3), 404, "things:thing.history.notfound"},
	{"ThingHistoryNotAccessibleAt", ErrThingHistoryNotAccessibleAt("ns:t", "2024-01-01T00:00:00Z"), 404, "things:thing.history.notfound"},
	{"ThingMetadataNotModifiable", ErrThingMetadataNotModifiable(), 400, "things:metadata.notmodifiable"},
	{"ThingMetadataHeadersConflict", ErrThingMetadataHeadersConflict(), 400, "things:metadata.headersconflict"},
	{"ThingIDsMissing", ErrThingIDsMissing(), 400, "things:things.ids.missing"},

	{"PolicyNotAccessible", ErrPolicyNotAccessible("ns:p"), 404, "policies:policy.notfound"},
	{"PolicyNotModifiable", ErrPolicyNotModifiable("ns:p"), 403, "policies:policy.notmodifiable"},
	{"PolicyNotCreatable", ErrPolicyNotCreatable("ns:p"), 403, "policies:policy.notcreatable"},
	{"PolicyConflict", ErrPolicyConflict("ns:p"), 409, "policies:policy.conflict"},
	{"PolicyTooLarge", ErrPolicyTooLarge(2048, 1024), 413, "policies:policy.toolarge"},
	{"PolicyTooManyModifyingRequests", ErrPolicyTooManyModifyingRequests("ns:p"), 429, "policies:policy.toomanymodifyingrequests"},
	{"PolicyUnavailable", ErrPolicyUnavailable("ns:p"), 503, "policies:policy.unavailable"},
	{"PolicyModificationInvalid", ErrPolicyModificationInvalid("ns:p"), 403, "policies:policy.modificationinvalid"},
	{"PolicyEntryModificationInvalid", ErrPolicyEntryModificationInvalid("ns:p", "l"), 403, "policies:entry.modificationinvalid"},
	{"PolicyEntryNotAccessible", ErrPolicyEntryNotAccessible("ns:p", "l"), 404, "policies:entry.notfound"},
	{"PolicyEntryNotModifiable", ErrPolicyEntryNotModifiable("ns:p", "l"), 403, "policies:entry.notmodifiable"},
	{"PolicyEntryInvalid", ErrPolicyEntryInvalid(), 400, "policies:entry.invalid"},
	{"PolicyEntryInvalidMessage", ErrPolicyEntryInvalidMessage("m", "d"), 400, "policies:entry.invalid"},
	{"PolicyLabelCharsInvalid", ErrPolicyLabelCharsInvalid("a/b", "Neither slashes nor any control characters are allowed."), 400, "policies:entry.invalid"},
	{"PolicyResourceInvalid", ErrPolicyResourceInvalid("thing:/\x01", "No control characters are allowed."), 400, "policies:entry.invalid"},
	{"PolicyLabelInvalid", ErrPolicyLabelInvalid("imported-x"), 400, "policies:label.invalid"},
	{"PolicyResourcesNotAccessible", ErrPolicyResourcesNotAccessible("ns:p", "l"), 404, "policies:resources.notfound"},
	{"PolicyResourcesNotModifiable", ErrPolicyResourcesNotModifiable("ns:p", "l"), 403, "policies:resources.notmodifiable"},
	{"PolicyResourceNotAccessible", ErrPolicyResourceNotAccessible("ns:p", "l", "thing:/"), 404, "policies:resource.notfound"},
	{"PolicyResourceNotModifiable", ErrPolicyResourceNotModifiable("ns:p", "l", "thing:/"), 403, "policies:resource.notmodifiable"},
	{"PolicySubjectsNotAccessible", ErrPolicySubjectsNotAccessible("ns:p", "l"), 404, "policies:subjects.notfound"},
	{"PolicySubjectsNotModifiable", ErrPolicySubjectsNotModifiable("ns:p", "l"), 403, "policies:subjects.notmodifiable"},
	{"PolicySubjectNotAccessible", ErrPolicySubjectNotAccessible("ns:p", "l", "nginx:ditto"), 404, "policies:subject.notfound"},
	{"PolicySubjectNotModifiable", ErrPolicySubjectNotModifiable("ns:p", "l", "nginx:ditto"), 403, "policies:subject.notmodifiable"},
	{"PolicyIDInvalid", ErrPolicyIDInvalid("x"), 400, "policies:id.invalid"},
	{"PolicyIDNotSettable", ErrPolicyIDNotSettable(), 400, "policies:id.notsettable"},
	{"PolicyIDNotSettableForPost", ErrPolicyIDNotSettableForPost(), 400, "policies:id.notsettable"},
	{"PolicySubjectIDInvalid", ErrPolicySubjectIDInvalid("x"), 400, "policies:subjectid.invalid"},
	{"PolicySubjectExpiryInvalid", ErrPolicySubjectExpiryInvalid("x"), 400, "policies:subjectexpiry.invalid"},
	{"PolicySubjectExpiryInPast", ErrPolicySubjectExpiryInPast("2000-01-01T00:00:00Z"), 400, "policies:subjectexpiry.invalid"},
	{"PolicyPreconditionFailed", ErrPolicyPreconditionFailed("if-match", `"a"`, `"b"`), 412, "policies:precondition.failed"},
	{"PolicyPreconditionNotModified", ErrPolicyPreconditionNotModified(`"a"`, `"a"`), 304, "policies:precondition.notmodified"},
	{"PolicyImportsNotAccessible", ErrPolicyImportsNotAccessible("ns:p"), 404, "policies:imports.notfound"},
	{"PolicyImportsNotModifiable", ErrPolicyImportsNotModifiable("ns:p"), 403, "policies:imports.notmodifiable"},
	{"PolicyImportNotAccessible", ErrPolicyImportNotAccessible("ns:p", "ns:i"), 404, "policies:import.notfound"},
	{"PolicyImportNotModifiable", ErrPolicyImportNotModifiable("ns:p", "ns:i"), 403, "policies:import.notmodifiable"},
	{"PolicyImportInvalid", ErrPolicyImportInvalid(), 400, "policies:import.invalid"},
	{"PolicyHistoryNotAccessible", ErrPolicyHistoryNotAccessible("ns:p", 2), 404, "policies:policy.history.notfound"},
	{"PolicyHistoryNotAccessibleAt", ErrPolicyHistoryNotAccessibleAt("ns:p", "2024-01-01T00:00:00Z"), 404, "policies:policy.history.notfound"},
}

func TestCatalogStatusAndCode(t *testing.T) {
	t.Parallel()
	seen := make(map[string]bool)
	for _, tt := range catalog {
		t.Run(tt.name, func(t *testing.T) {
			if seen[tt.name] {
				t.Fatalf("duplicate catalog entry %s", tt.name)
			}
			seen[tt.name] = true
			if tt.err.Status != tt.wantStatus {
				t.Errorf("status got %d, want %d", tt.err.Status, tt.wantStatus)
			}
			if tt.err.Code != tt.wantCode {
				t.Errorf("code got %q, want %q", tt.err.Code, tt.wantCode)
			}
			if tt.err.Message == "" && tt.name != "SearchOptionInvalid" {
				t.Errorf("message got empty, want Ditto's message")
			}
			if !HasCode(fmt.Errorf("wrapped: %w", tt.err), tt.wantCode) {
				t.Errorf("HasCode of wrapped error got false, want true")
			}
			// MessageFormat quoting leaves no doubled quotes in messages.
			if strings.Contains(tt.err.Message, "''") {
				t.Errorf("message %q has a doubled quote", tt.err.Message)
			}
		})
	}
}

func TestCatalogMessages(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name            string
		err             *Error
		wantMessage     string
		wantDescription string
		wantHref        string
	}{
		{"command timeout grouped millis", ErrCommandTimeout(time.Minute),
			"The Command reached the specified timeout of 60,000ms.", "Try increasing the command timeout.", ""},
		{"gateway timeout bounds", ErrGatewayTimeoutInvalid(90*time.Second, time.Minute),
			"The timeout <90,000ms> is not inside its allowed bounds <0ms - 60,000ms>", "Choose a timeout inside the bounds.", ""},
		{"message timeout bounds", ErrTimeoutOutOfBounds(11*time.Minute, 10*time.Minute),
			"The timeout <660,000ms> is not inside its allowed bounds <0ms - 600,000ms>", "Please choose a valid timeout.", ""},
		{"json too deep", ErrJSONTooDeep(512),
			"The JSON would be nested deeper than 512 levels after this change.",
			"Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format.", ""},
		{"thing too large kB", ErrThingTooLarge(200000, 102400),
			"The size of '195.312' kB exceeds the maximal allowed Thing size of '100' kB.", "Reduce the Thing size in the bounds of the specified limit", ""},
		{"policy too large grouped kB", ErrPolicyTooLarge(2000000, 1048576),
			"The size of '1,953.125' kB exceeds the maximal allowed Policy size of '1,024' kB.", "Reduce the Policy size in the bounds of the specified limit", ""},
		{"precondition not modified keeps doubled quotes in description", ErrThingPreconditionNotModified(`"rev:1"`, `"rev:1"`),
			`The comparison of precondition header 'if-none-match' for the requested Thing resource evaluated to false. Expected: '"rev:1"' not to match actual: '"rev:1"'.`,
			"The comparison of the provided precondition header ''if-none-match'' with the current ETag value of the requested Thing resource evaluated to false. Check the value of your conditional header value.", ""},
		{"unsupported media types listed like Java", ErrUnsupportedMediaType("text/plain", []string{"application/json", "application/merge-patch+json"}),
			"The Media-Type <text/plain> is not supported for this resource.", "Allowed Media-Types are: <[application/json, application/merge-patch+json]>.", ""},
		{"merge patch media type", ErrMergePatchMediaType("application/json"),
			"The Media-Type <application/json> is not supported for this resource.", "Allowed Media-Type is: <application/merge-patch+json>.", "https://tools.ietf.org/html/rfc7396"},
		{"unauthorized", ErrGatewayUnauthorized(), "Unauthorized.", "Check if your credentials were correct.", ""},
		{"policy invalid permissions", ErrThingPolicyInvalid("ns:t", []string{"READ", "WRITE"}),
			"The Policy specified for the Thing with ID 'ns:t' is invalid.", "It must contain at least one Subject with the following permission(s): '[READ, WRITE]'!", ""},
		{"not creatable takes cause status", ErrThingNotCreatablePolicyFailed("ns:t", "ns:p", ErrPolicyNotCreatable("ns:p")),
			"The Thing with ID 'ns:t' could not be created as the Policy with ID 'ns:p' could not be created due to: 'The Policy with ID 'ns:p' could not be created as the requester had insufficient permissions.'",
			"Either check if the ID of the Policy you created the Thing with is correct and that the Policy is existing or If you want to use the existing Policy, specify it as 'policyId' in the Thing JSON you create.", ""},
		{"thing deleted policy", ErrThingNotModifiablePolicyDeleted("ns:t", "ns:p"),
			"The Thing with ID 'ns:t' could not be accessed as its Policy with ID 'ns:p' is not or no longer existing.",
			"Recreate/create the Policy with ID 'ns:p' in order to get access to the Thing again.", ""},
		{"label chars", ErrPolicyLabelCharsInvalid("a/b", "Neither slashes nor any control characters are allowed."),
			"The Policy Label a/b is invalid", "Neither slashes nor any control characters are allowed.", ""},
		{"namespaced id", ErrNamespacedEntityIDInvalid("x"), "Namespaced entity ID 'x' is not valid!",
			"It must conform to the namespaced entity ID notation (see Ditto documentation) with a maximum name length of 256 characters.",
			"https://www.eclipse.dev/ditto/basic-namespaces-and-names.html#namespaced-id"},
		{"merge invalid", ErrThingMergeInvalid(), "The provided JSON Merge Patch is invalid, it must conform to RFC7396.",
			"The provided JSON Merge Patch cannot be applied at the given path.", "https://tools.ietf.org/html/rfc7396"},
		{"condition invalid default description", ErrThingConditionInvalid("eq(a", ""), "The specified condition 'eq(a' is invalid.",
			"The provided condition is not valid. Please check the value of your condition header.", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.err.Message != tt.wantMessage {
				t.Errorf("message got  %q\nwant %q", tt.err.Message, tt.wantMessage)
			}
			if tt.err.Description != tt.wantDescription {
				t.Errorf("description got  %q\nwant %q", tt.err.Description, tt.wantDescription)
			}
			if tt.err.Href != tt.wantHref {
				t.Errorf("href got %q, want %q", tt.err.Href, tt.wantHref)
			}
		})
	}
}

// Sample arguments as the exception examples in Ditto's documentation use them.
const (
	exThing    = "org.eclipse.ditto:fancy-thing"
	exPolicy   = "org.eclipse.ditto:the_policy_id"
	exLabel    = "the_label"
	exFeature  = "accelerometer"
	exResource = "/the_resource_path"
	exSubject  = "google:the_subjectid"
)

// byExampleCode builds the error each exception example shows.
var byExampleCode = map[string]func() *Error{
	"policies:entry.invalid":                    ErrPolicyEntryInvalid,
	"policies:entry.modificationinvalid":        func() *Error { return ErrPolicyEntryModificationInvalid(exPolicy, exLabel) },
	"policies:entry.notfound":                   func() *Error { return ErrPolicyEntryNotAccessible(exPolicy, exLabel) },
	"policies:entry.notmodifiable":              func() *Error { return ErrPolicyEntryNotModifiable(exPolicy, exLabel) },
	"policies:id.invalid":                       func() *Error { return ErrPolicyIDInvalid("invalid id") },
	"policies:policy.conflict":                  func() *Error { return ErrPolicyConflict(exPolicy) },
	"policies:policy.modificationinvalid":       func() *Error { return ErrPolicyModificationInvalid(exPolicy) },
	"policies:policy.notfound":                  func() *Error { return ErrPolicyNotAccessible(exPolicy) },
	"policies:policy.notmodifiable":             func() *Error { return ErrPolicyNotModifiable(exPolicy) },
	"policies:policy.toomanymodifyingrequests":  func() *Error { return ErrPolicyTooManyModifyingRequests(exPolicy) },
	"policies:policy.unavailable":               func() *Error { return ErrPolicyUnavailable(exPolicy) },
	"policies:resource.notfound":                func() *Error { return ErrPolicyResourceNotAccessible(exPolicy, exLabel, exResource) },
	"policies:resource.notmodifiable":           func() *Error { return ErrPolicyResourceNotModifiable(exPolicy, exLabel, exResource) },
	"policies:resources.notfound":               func() *Error { return ErrPolicyResourcesNotAccessible(exPolicy, exLabel) },
	"policies:resources.notmodifiable":          func() *Error { return ErrPolicyResourcesNotModifiable(exPolicy, exLabel) },
	"policies:subject.notfound":                 func() *Error { return ErrPolicySubjectNotAccessible(exPolicy, exLabel, exSubject) },
	"policies:subject.notmodifiable":            func() *Error { return ErrPolicySubjectNotModifiable(exPolicy, exLabel, exSubject) },
	"policies:subjectid.invalid":                func() *Error { return ErrPolicySubjectIDInvalid("invalid subject") },
	"policies:subjects.notfound":                func() *Error { return ErrPolicySubjectsNotAccessible(exPolicy, exLabel) },
	"policies:subjects.notmodifiable":           func() *Error { return ErrPolicySubjectsNotModifiable(exPolicy, exLabel) },
	"thing-search:search.option.invalid":        func() *Error { return ErrSearchOptionInvalid("") },
	"things:attribute.notfound":                 func() *Error { return ErrAttributeNotAccessible(exThing, "/location") },
	"things:attribute.notmodifiable":            func() *Error { return ErrAttributeNotModifiable(exThing, "/location") },
	"things:attributes.notfound":                func() *Error { return ErrAttributesNotAccessible(exThing) },
	"things:attributes.notmodifiable":           func() *Error { return ErrAttributesNotModifiable(exThing) },
	"things:feature.definition.empty":           ErrFeatureDefinitionEmpty,
	"things:feature.definition.notfound":        func() *Error { return ErrFeatureDefinitionNotAccessible(exThing, exFeature) },
	"things:feature.definition.notmodifiable":   func() *Error { return ErrFeatureDefinitionNotModifiable(exThing, exFeature) },
	"things:feature.desiredProperties.notfound": func() *Error { return ErrFeatureDesiredPropertiesNotAccessible(exThing, exFeature) },
	"things:feature.desiredProperties.notmodifiable": func() *Error {
		return ErrFeatureDesiredPropertiesNotModifiable(exThing, exFeature)
	},
	"things:feature.desiredProperty.notfound": func() *Error { return ErrFeatureDesiredPropertyNotAccessible(exThing, exFeature, "/x") },
	"things:feature.desiredProperty.notmodifiable": func() *Error {
		return ErrFeatureDesiredPropertyNotModifiable(exThing, exFeature, "/x")
	},
	"things:feature.notfound":                 func() *Error { return ErrFeatureNotAccessible(exThing, exFeature) },
	"things:feature.notmodifiable":            func() *Error { return ErrFeatureNotModifiable(exThing, exFeature) },
	"things:feature.properties.notfound":      func() *Error { return ErrFeaturePropertiesNotAccessible(exThing, exFeature) },
	"things:feature.properties.notmodifiable": func() *Error { return ErrFeaturePropertiesNotModifiable(exThing, exFeature) },
	"things:feature.property.notfound":        func() *Error { return ErrFeaturePropertyNotAccessible(exThing, exFeature, "/x") },
	"things:feature.property.notmodifiable":   func() *Error { return ErrFeaturePropertyNotModifiable(exThing, exFeature, "/x") },
	"things:features.notfound":                func() *Error { return ErrFeaturesNotAccessible(exThing) },
	"things:features.notmodifiable":           func() *Error { return ErrFeaturesNotModifiable(exThing) },
	"things:id.invalid":                       func() *Error { return ErrThingIDInvalid("invalid id") },
	"things:id.notdeletable":                  ErrThingIDNotDeletable,
	"things:id.notsettable":                   ErrThingIDNotSettable,
	"things:policyId.notdeletable":            ErrThingPolicyIDNotDeletable,
	"things:policyId.notmodifiable":           func() *Error { return ErrThingPolicyIDNotModifiable(exThing) },
	"things:policy.notallowed":                func() *Error { return ErrThingPolicyNotAllowed(exThing) },
	"things:thing.conflict":                   func() *Error { return ErrThingConflict(exThing) },
	"things:thing.notcreatable":               func() *Error { return ErrThingNotCreatablePolicyMissing(exThing, exPolicy) },
	"things:thing.notdeletable":               func() *Error { return ErrThingNotDeletable(exThing) },
	"things:thing.notfound":                   func() *Error { return ErrThingNotAccessible(exThing) },
	"things:thing.notmodifiable":              func() *Error { return ErrThingNotModifiable(exThing) },
	"things:thing.toomanymodifyingrequests":   func() *Error { return ErrThingTooManyModifyingRequests(exThing) },
	"things:thing.unavailable":                func() *Error { return ErrThingUnavailable(exThing) },
}

// docDrift lists where Ditto's documentation examples are older than its
// source, which the catalog follows; the value is what the source has.
var docDrift = map[string]string{
	// Ditto 3 appended a retry hint to both descriptions.
	"policies:policy.unavailable": "description gained ', please retry the performed action in order to improve resiliency.'",
	"things:thing.unavailable":    "description gained ', please retry the performed action in order to improve resiliency.'",
	// Renamed in the source long ago; the examples keep the old codes.
	"things:policyId.notallowed":                   "code is things:policy.id.notallowed (ErrThingPolicyIDNotAllowed)",
	"things:feature.definition.identifier.invalid": "code is things:definition.identifier.invalid (ErrDefinitionIdentifierInvalid)",
	// The example omits the message; the catalog sends the parser's message.
	"thing-search:search.option.invalid": "message is whatever the option parser reports",
}

func TestCatalogMatchesDittoExamples(t *testing.T) {
	t.Parallel()
	checked := 0
	for name, f := range loadExamples(t) {
		if !strings.Contains(name, "exceptions") {
			continue
		}
		var msg struct {
			Value json.RawMessage `json:"value"`
		}
		if err := json.Unmarshal(f.Messages[0], &msg); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		var want Error
		if err := json.Unmarshal(msg.Value, &want); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		build, ok := byExampleCode[want.Code]
		if _, drift := docDrift[want.Code]; drift {
			if ok {
				got := build()
				if got.Status != want.Status || got.Code != want.Code {
					t.Errorf("%s: drifted example still must match status and code: got %d %s, want %d %s",
						name, got.Status, got.Code, want.Status, want.Code)
				}
			}
			continue
		}
		if !ok {
			t.Errorf("%s: no catalog constructor for example code %q", name, want.Code)
			continue
		}
		checked++
		got := build()
		if got.Status != want.Status || got.Code != want.Code {
			t.Errorf("%s: got %d %s, want %d %s", name, got.Status, got.Code, want.Status, want.Code)
		}
		if got.Message != want.Message {
			t.Errorf("%s: message\ngot  %q\nwant %q", name, got.Message, want.Message)
		}
		if got.Description != want.Description {
			t.Errorf("%s: description\ngot  %q\nwant %q", name, got.Description, want.Description)
		}
		if want.Href != "" && got.Href != want.Href {
			t.Errorf("%s: href got %q, want %q", name, got.Href, want.Href)
		}
	}
	if checked < 45 {
		t.Errorf("checked %d examples, want at least 45", checked)
	}
}

func TestHasCode(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		code string
		want bool
	}{
		{"same code", ErrThingNotAccessible("ns:t"), CodeThingNotFound, true},
		{"wrapped", fmt.Errorf("load: %w", ErrThingNotAccessible("ns:t")), CodeThingNotFound, true},
		{"joined", errors.Join(errors.New("x"), ErrPolicyConflict("ns:p")), CodePolicyConflict, true},
		{"other code", ErrThingNotAccessible("ns:t"), CodeThingNotModifiable, false},
		{"plain error", errors.New("things:thing.notfound"), CodeThingNotFound, false},
		{"nil", nil, CodeThingNotFound, false},
	}
	for _, tt := range tests {
		if got := HasCode(tt.err, tt.code); got != tt.want {
			t.Errorf("%s: HasCode got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestJavaNumbers(t *testing.T) {
	t.Parallel()
	ints := []struct {
		in   int64
		want string
	}{
		{0, "0"}, {999, "999"}, {1000, "1,000"}, {60000, "60,000"}, {1234567, "1,234,567"}, {-1000, "-1,000"}, {-12, "-12"},
	}
	for _, tt := range ints {
		if got := javaInt(tt.in); got != tt.want {
			t.Errorf("javaInt(%d) got %q, want %q", tt.in, got, tt.want)
		}
	}
	kbs := []struct {
		in   int64
		want string
	}{
		{0, "0"}, {1024, "1"}, {102400, "100"}, {1536, "1.5"}, {200000, "195.312"}, {2000000, "1,953.125"},
		// 64 bytes is exactly 0.0625 kB: half-even rounds to 0.062.
		{64, "0.062"}, {192, "0.188"}, {1, "0.001"},
	}
	for _, tt := range kbs {
		if got := javaKB(tt.in); got != tt.want {
			t.Errorf("javaKB(%d) got %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Precondition errors carry the current tag as ETag, as Ditto's do, and name
// a missing one null.
func TestPreconditionErrorsCarryTheCurrentETag(t *testing.T) {
	for _, e := range []*Error{
		ErrThingPreconditionFailed("if-match", `"rev:1"`, `"rev:2"`),
		ErrThingPreconditionNotModified(`"rev:2"`, `"rev:2"`),
		ErrPolicyPreconditionFailed("if-match", `"rev:1"`, `"rev:2"`),
		ErrPolicyPreconditionNotModified(`"rev:2"`, `"rev:2"`),
	} {
		if got := e.Headers[HeaderETag]; got != `"rev:2"` {
			t.Errorf("%s: ETag %q, want \"rev:2\"", e.Code, got)
		}
	}
	for _, e := range []*Error{
		ErrThingPreconditionFailed("if-match", "*", ""),
		ErrPolicyPreconditionFailed("if-match", "*", ""),
	} {
		if _, set := e.Headers[HeaderETag]; set || !strings.HasSuffix(e.Message, "actual entity-tag: 'null'.") {
			t.Errorf("%s on a missing resource: headers %v, message %q", e.Code, e.Headers, e.Message)
		}
	}
}
