// Package dittoconf reads configuration the way Eclipse Ditto's services
// do: HOCON files (Ditto's *.conf and the blocks of its operating guide),
// Java system properties (-Dditto.gateway.authentication.devops.password=...
// in JAVA_TOOL_OPTIONS), and keeps the result as one Tree keyed by Ditto's
// dotted paths.
//
// The HOCON reader covers what Ditto's configuration files use: objects
// with or without braces and separators, dotted keys, arrays, quoted,
// unquoted and triple-quoted strings, numbers, booleans, null, # and //
// comments, value concatenation, += and substitutions: ${path} refers to
// a key set earlier (in the file or in the tree it is layered on),
// ${?NAME} is optional, and a path the configuration lacks is looked up as
// an environment variable. Unlike Typesafe Config, substitutions resolve
// as they are read, so a forward reference is an error. include is
// skipped with a warning.
//
// Tree values are JSON-shaped: map[string]any, []any, string, json.Number,
// bool and nil. Masked gives the tree with every secret (see IsSecret)
// shown as "***", which is how configuration is printed and returned.
//
// The package depends on the standard library only.
package dittoconf
