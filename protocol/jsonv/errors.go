package jsonv

import (
	"strconv"

	"github.com/dittonats/dittonats/protocol"
)

// Ditto's error codes for the errors this package returns. Ditto answers all
// three with 400 Bad Request (DittoJsonException wraps them with that status).
const (
	CodeInvalidJSON          = "json.invalid"
	CodeInvalidPointer       = "json.pointer.invalid"
	CodeInvalidFieldSelector = "json.fieldselector.invalid"
)

// Sentinels for errors.Is: a *protocol.Error matches when its code is equal.
var (
	ErrInvalidJSON          = protocol.NewError(statusBadRequest, CodeInvalidJSON, "", "")
	ErrInvalidPointer       = protocol.NewError(statusBadRequest, CodeInvalidPointer, "", "")
	ErrInvalidFieldSelector = protocol.NewError(statusBadRequest, CodeInvalidFieldSelector, "", "")
)

const statusBadRequest = 400

// Descriptions are Ditto's, so clients see the same hints.
const (
	descInvalidJSON          = "Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format."
	descConsecutiveSlashes   = "Consecutive slashes in JSON pointers are not supported."
	descInvalidFieldSelector = "Check, for example, if the amount of opening parentheses '(' matches the amount of closing ones ')'."
)

// parseError reports malformed JSON. Ditto's message quotes the whole input;
// this one says what went wrong and where instead, which stays short for
// large payloads and does not echo them into logs.
func parseError(what string) error {
	return protocol.NewError(statusBadRequest, CodeInvalidJSON, "Failed to parse JSON: "+what+"!", descInvalidJSON)
}

// parseErrorAt reports malformed JSON at byte offset off of src.
func parseErrorAt(src string, off int, what string) error {
	line, col := 1, 1
	for i := 0; i < off && i < len(src); i++ {
		if src[i] == '\n' {
			line++
			col = 1
		} else {
			col++
		}
	}
	return parseError(what + " at line " + strconv.Itoa(line) + ", column " + strconv.Itoa(col))
}

func pointerError(s, description string) error {
	return protocol.NewError(statusBadRequest, CodeInvalidPointer, "The JSON pointer <"+s+"> is invalid!", description)
}

func fieldSelectorError(s string) error {
	return protocol.NewError(statusBadRequest, CodeInvalidFieldSelector, "The field selector <"+s+"> is invalid!", descInvalidFieldSelector)
}

// clip shortens input quoted in a message, so that a megabyte of digits does
// not end up in an error response and its log line.
func clip(s string) string {
	const limit = 40
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "..."
}
