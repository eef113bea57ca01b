package protocol

import (
	"errors"
	"fmt"
)

// Error is Ditto's wire error: the JSON object an HTTP error response carries
// as its body and a Ditto Protocol error envelope carries as its value.
//
// Two errors are the same error when their codes are equal, so callers test
// with errors.Is against a sentinel of the same code.
type Error struct {
	// Status is the HTTP status code (4xx user errors, 5xx server errors).
	Status int `json:"status"`
	// Code is Ditto's error code, e.g. "things:thing.notfound".
	Code string `json:"error"`
	// Message says what went wrong with this request.
	Message string `json:"message"`
	// Description hints at how to fix it.
	Description string `json:"description,omitempty"`
	// Href links to further information.
	Href string `json:"href,omitempty"`
	// Headers are headers the error response carries, as Ditto's exceptions
	// carry their own headers: e.g. the current ETag of the resource whose
	// precondition failed. They are not part of the error JSON.
	Headers Headers `json:"-"`
}

// withETag returns e carrying etag as the ETag header of its response, as
// Ditto's precondition exceptions do; an empty etag (no current resource)
// adds nothing.
func (e *Error) withETag(etag string) *Error {
	if etag == "" {
		return e
	}
	if e.Headers == nil {
		e.Headers = Headers{}
	}
	e.Headers[HeaderETag] = etag
	return e
}

// NewError returns an Error with the given fields.
func NewError(status int, code, message, description string) *Error {
	return &Error{Status: status, Code: code, Message: message, Description: description}
}

// Error implements error.
func (e *Error) Error() string {
	return fmt.Sprintf("%s (%d): %s", e.Code, e.Status, e.Message)
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Code == e.Code
}

// AsError returns the *Error in err's chain, or nil when there is none.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}
