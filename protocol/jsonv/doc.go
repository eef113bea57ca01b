// Package jsonv holds JSON values the way Ditto's JSON library does
// (org.eclipse.ditto.json): immutable values with ordered objects, JSON
// pointers, field selectors and merge patch. It owns no I/O; the services
// keep their twins as Values, so it is tuned for small memory and cheap
// copy-on-write updates.
//
// Values are immutable and safe to share between goroutines. Set, Delete and
// MergePatch return new Values that copy only the objects along the path and
// share the rest. Objects keep member order (Ditto keeps insertion order) and
// numbers keep their literal text; equality is semantic (member order and
// number spelling do not matter).
//
// Where this package departs from Ditto, the doc comment of the function says
// so; all errors are *protocol.Error with Ditto's codes (json.invalid,
// json.pointer.invalid, json.fieldselector.invalid) and status 400.
package jsonv
