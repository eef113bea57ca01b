package devops

import (
	"fmt"
	"net/http"

	"github.com/dittonats/dittonats/protocol"
)

// errInvalidLevel is what Ditto's ImmutableLoggerConfig.fromJson throws
// for a level its LogLevel does not know: a JsonParseException.
func errInvalidLevel() *protocol.Error { return protocol.ErrJSONInvalid("Invalid LogLevel!") }

// errTypeNotParsable is Ditto's JsonTypeNotParsableException for a
// command type its command registry does not know.
func errTypeNotParsable(typ string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "json.type.notparsable",
		fmt.Sprintf("The JSON type '%s' is not supported by registry 'GlobalCommandRegistry'.", typ),
		"Check if you sent the JSON with the correct type.")
}
