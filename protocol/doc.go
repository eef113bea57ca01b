// Package protocol is the Ditto Protocol and Ditto's wire formats, with only
// the standard library: the message envelope (Envelope, DecodeEnvelope), its
// topic (Topic, ParseTopic), its headers (Headers, ParseTimeout), entity ids
// (ValidateThingID, ValidatePolicyID), and the wire error (Error) with the
// catalog of Ditto's error codes, statuses, messages and descriptions
// (dittoerrors.go). Everything here mirrors Eclipse Ditto 3.x byte for byte
// where clients can see it; where it deliberately differs, the doc comment
// says so.
//
// Subpackages: jsonv (JSON values, pointers, field selectors, merge patch)
// and rql (Ditto's RQL filters and search options).
package protocol
