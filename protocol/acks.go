package protocol

import (
	"fmt"
	"net/http"
	"strings"
)

// Built-in acknowledgement labels (Ditto's DittoAcknowledgementLabel): the
// platform issues them itself, so no subscriber may declare or send them.
const (
	AckTwinPersisted   = "twin-persisted"
	AckLiveResponse    = "live-response"
	AckSearchPersisted = "search-persisted"
)

// IsBuiltinAck reports whether label is one of the platform's own labels.
func IsBuiltinAck(label string) bool {
	return label == AckTwinPersisted || label == AckLiveResponse || label == AckSearchPersisted
}

// Error codes of acknowledgements (Ditto's base.model.acks exceptions).
const (
	CodeAckLabelInvalid     = "acknowledgement:label.invalid"
	CodeAckLabelNotUnique   = "acknowledgement:label.not.unique"
	CodeAckLabelNotDeclared = "acknowledgement:label.not.declared"
	CodeAckLabelForbidden   = "acknowledgement:ditto.acklabel.forbidden"
)

// ValidAckLabel reports whether label is an acknowledgement label as
// Ditto's AcknowledgementLabels.ACK_LABEL_REGEX defines one: 3 to 165 of
// [a-zA-Z0-9-_:], optionally after an unresolved placeholder and a colon
// ("{{connection:id}}:my-ack").
func ValidAckLabel(label string) bool {
	if strings.HasPrefix(label, "{{") {
		end := strings.Index(label, "}}:")
		if end < 0 || !placeholderName(strings.Trim(label[2:end], javaSpace)) {
			return false
		}
		label = label[end+3:]
	}
	if len(label) < 3 || len(label) > 165 {
		return false
	}
	for i := 0; i < len(label); i++ {
		c := label[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == ':') {
			return false
		}
	}
	return true
}

// javaSpace is what Java's regular expressions match with \s.
const javaSpace = " \t\n\x0B\f\r"

// placeholderName reports whether s is "prefix:name", both [a-z]+.
func placeholderName(s string) bool {
	prefix, name, ok := strings.Cut(s, ":")
	lower := func(x string) bool {
		if x == "" {
			return false
		}
		for i := 0; i < len(x); i++ {
			if x[i] < 'a' || x[i] > 'z' {
				return false
			}
		}
		return true
	}
	return ok && lower(prefix) && lower(name)
}

// ErrAckLabelInvalid is Ditto's AcknowledgementLabelInvalidException.
func ErrAckLabelInvalid(label string) *Error {
	e := NewError(http.StatusBadRequest, CodeAckLabelInvalid,
		fmt.Sprintf("Acknowledgement label <%s> is invalid.", label),
		"An acknowledgement label must conform to the regular expression of Ditto documentation.")
	e.Href = "https://www.eclipse.dev/ditto/protocol-specification-topic.html#acknowledgement-criterion-actions"
	return e
}

// ErrAckLabelNotUnique is Ditto's AcknowledgementLabelNotUniqueException
// (409): a label a WebSocket declares is declared by another subscriber.
func ErrAckLabelNotUnique() *Error {
	return NewError(http.StatusConflict, CodeAckLabelNotUnique,
		"One or more declared acknowledgement labels are taken by other subscribers.",
		"Please ensure all other subscribers with the declared acknowledgement labels are offline.")
}

// ErrAckLabelNotDeclared is Ditto's AcknowledgementLabelNotDeclaredException:
// a subscriber sent an acknowledgement with a label it did not declare.
func ErrAckLabelNotDeclared(label string) *Error {
	return NewError(http.StatusBadRequest, CodeAckLabelNotDeclared,
		fmt.Sprintf("Cannot send acknowledgement with label <%s>, which is not declared.", label),
		"Each connection may only send acknowledgements whose label matches one declared for the connection.")
}

// ErrAckLabelForbidden is Ditto's
// DittoAcknowledgementLabelExternalUseForbiddenException: a subscriber
// declared or sent one of the built-in labels.
func ErrAckLabelForbidden(label string) *Error {
	return NewError(http.StatusBadRequest, CodeAckLabelForbidden,
		fmt.Sprintf("The Ditto internal Acknowledgement label <%s> is not allowed to be issued externally!", label),
		"Make sure to not issue an Ditto internal Acknowledgement label.")
}
