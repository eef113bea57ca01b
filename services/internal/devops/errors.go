package devops

import "github.com/dittonats/dittonats/protocol"

// errInvalidLevel is what Ditto's ImmutableLoggerConfig.fromJson throws
// for a level its LogLevel does not know: a JsonParseException.
func errInvalidLevel() *protocol.Error { return protocol.ErrJSONInvalid("Invalid LogLevel!") }
