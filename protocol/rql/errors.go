package rql

import (
	"fmt"
	"net/http"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol"
)

// ErrInvalidExpression is Ditto's InvalidRqlExpressionException: a filter or
// condition that does not parse, or that names a property a thing does not
// have. Every error Parse returns matches it with errors.Is.
var ErrInvalidExpression = protocol.NewError(http.StatusBadRequest, "rql.expression.invalid",
	"The given RQL expression was invalid",
	"Ensure that all opening parentheses have also closing ones and that the RQL expression is valid.")

// ErrInvalidOption is Ditto's InvalidOptionException for search options.
// Every error ParseOptions returns matches it with errors.Is. Ditto has no
// default message for it; the errors returned carry their own.
var ErrInvalidOption = protocol.NewError(http.StatusBadRequest, "thing-search:search.option.invalid",
	"The given search option was invalid",
	"At least one provided option is invalid.")

// SyntaxError says what is wrong with an RQL string and where. It unwraps to
// the *protocol.Error the wire carries (code rql.expression.invalid or
// thing-search:search.option.invalid), whose message repeats the reason and
// position, so callers translate it with protocol.AsError.
type SyntaxError struct {
	// Offset is the byte offset in the input where the problem was found.
	Offset int
	// Column is the 1-based character (not byte) position of Offset, the
	// number the message reports.
	Column int
	// Reason says what was wrong, without the position.
	Reason string

	wire *protocol.Error
}

// Error implements error.
func (e *SyntaxError) Error() string { return e.wire.Error() }

// Unwrap returns the wire error, so errors.Is(err, ErrInvalidExpression) and
// protocol.AsError(err) work on a *SyntaxError.
func (e *SyntaxError) Unwrap() error { return e.wire }

// newSyntaxError builds a SyntaxError at byte offset off of src, with its wire
// form derived from sentinel (code, status and description) so the wire
// message carries the reason and position.
func newSyntaxError(sentinel *protocol.Error, src string, off int, reason string) *SyntaxError {
	if off > len(src) {
		off = len(src)
	}
	col := utf8.RuneCountInString(src[:off]) + 1
	msg := fmt.Sprintf("%s (at position %d)", reason, col)
	return &SyntaxError{
		Offset: off,
		Column: col,
		Reason: reason,
		wire:   protocol.NewError(sentinel.Status, sentinel.Code, msg, sentinel.Description),
	}
}

// describeAt names the input found at byte offset off for an error message:
// the character there, or "end of input".
func describeAt(src string, off int) string {
	if off >= len(src) {
		return "end of input"
	}
	r, _ := utf8.DecodeRuneInString(src[off:])
	return fmt.Sprintf("%q", r)
}
