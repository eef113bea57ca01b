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
	return protocol.ErrUnknownTopicPath(topic, "The things service handles twin commands only.")
}
