package gateway

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
)

// This file reads the plain-text control messages of the WebSocket
// binding (Ditto's ProtocolMessageExtractor): START-SEND-<TYPE> with
// optional "?k=v&k=v" parameters, STOP-SEND-<TYPE> and JWT-TOKEN. It
// only parses and validates; acting on them is the session's job.

// streamingType is a kind of signal a session starts or stops receiving.
// The zero value is no type (a JWT-TOKEN message).
type streamingType uint8

const (
	streamEvents              streamingType = iota + 1 // twin events
	streamMessages                                     // live messages
	streamLiveCommands                                 // live commands
	streamLiveEvents                                   // live events
	streamPolicyAnnouncements                          // policy announcements
)

// streamingSuffixes names each type as its control messages do.
var streamingSuffixes = [...]string{
	streamEvents:              "EVENTS",
	streamMessages:            "MESSAGES",
	streamLiveCommands:        "LIVE-COMMANDS",
	streamLiveEvents:          "LIVE-EVENTS",
	streamPolicyAnnouncements: "POLICY-ANNOUNCEMENTS",
}

// String returns the type as control messages name it, e.g. "LIVE-EVENTS".
func (t streamingType) String() string {
	if int(t) < len(streamingSuffixes) && streamingSuffixes[t] != "" {
		return streamingSuffixes[t]
	}
	return fmt.Sprintf("streamingType(%d)", uint8(t))
}

// Control message identifiers and parameter names, as on the wire.
const (
	controlStartPrefix = "START-SEND-"
	controlStopPrefix  = "STOP-SEND-"
	controlJWT         = "JWT-TOKEN"
	controlAckSuffix   = ":ACK"

	paramNamespaces    = "namespaces"
	paramFilter        = "filter"
	paramExtraFields   = "extraFields"
	paramCorrelationID = "correlation-id"
	paramJWT           = "jwtToken"
)

// control is one parsed control message.
type control struct {
	// start is true for START-SEND-*, false for STOP-SEND-* and JWT-TOKEN.
	start bool
	// typ is the stream started or stopped; zero for JWT-TOKEN.
	typ streamingType
	// jwt marks a JWT-TOKEN message, whose token is jwtToken ("" when the
	// parameter is missing). It has no ACK.
	jwt      bool
	jwtToken string

	// The parameters of a START; a STOP has none (Ditto ignores them).
	// namespaces is nil for all namespaces.
	namespaces []string
	// filter is the RQL filter as given (URL-decoded), "" for none;
	// filterNode is its parsed form. Properties naming a placeholder
	// (topic:action, resource:path, ...) are kept as written in
	// filterNode, e.g. Property "topic:action".
	filter     string
	filterNode rql.Node
	// extraFields is the field selector to enrich signals with, "" for
	// none. It may hold {{ placeholders }}, which Ditto resolves per
	// signal before retrieving the fields.
	extraFields string
	// correlationID is the correlation-id parameter, "" when not given.
	// Ditto gives it to the error about an invalid filter.
	correlationID string
}

// controlKinds are the identifiers a control message starts with, in
// Ditto's order. Ditto matches by prefix: "START-SEND-EVENTSfoo" is a
// START-SEND-EVENTS. No identifier is a prefix of another.
var controlKinds = func() []control {
	var out []control
	for t := streamEvents; t <= streamPolicyAnnouncements; t++ {
		out = append(out, control{start: true, typ: t}, control{typ: t})
	}
	return append(out, control{jwt: true})
}()

// identifier returns the message name without parameters.
func (c control) identifier() string {
	switch {
	case c.jwt:
		return controlJWT
	case c.start:
		return controlStartPrefix + c.typ.String()
	default:
		return controlStopPrefix + c.typ.String()
	}
}

// ack returns the text frame that confirms c, e.g. "START-SEND-EVENTS:ACK";
// a JWT-TOKEN message is not confirmed, so its ack is "".
func (c control) ack() string {
	if c.jwt {
		return ""
	}
	return c.identifier() + controlAckSuffix
}

// String renders c as a control message that parses back to c.
func (c control) String() string {
	var q []string
	add := func(k, v string) { q = append(q, k+"="+url.QueryEscape(v)) }
	if c.jwt {
		add(paramJWT, c.jwtToken)
	}
	if len(c.namespaces) > 0 {
		add(paramNamespaces, strings.Join(c.namespaces, ","))
	}
	if c.filter != "" {
		add(paramFilter, c.filter)
	}
	if c.extraFields != "" {
		add(paramExtraFields, c.extraFields)
	}
	if c.correlationID != "" {
		add(paramCorrelationID, c.correlationID)
	}
	if len(q) == 0 {
		return c.identifier()
	}
	return c.identifier() + "?" + strings.Join(q, "&")
}

// parseControl reads frame as a control message. ok is false when frame
// is not one, so it is a Ditto Protocol message; err is set when it is
// one but its parameters are invalid (no ACK is due then).
//
// Errors, as Ditto reports them:
//   - an invalid filter: rql.expression.invalid, carrying the
//     correlation-id parameter as header when given (Ditto falls back to
//     the connection's correlation id, which the caller knows);
//   - an invalid extraFields: things:field.selection.invalid, or
//     json.fieldselector.invalid / json.pointer.invalid for a selector
//     that does not parse.
//
// Ditto fails the whole WebSocket on parameters that are not
// "key=value" pairs, bad %-escapes, a repeated key or a selector that does
// not parse (its extractor throws outside its error handling); here they
// are errors (codeControlInvalid, json.*) and the session may go on.
func parseControl(frame string) (ctl control, ok bool, err *protocol.Error) {
	for _, kind := range controlKinds {
		if strings.HasPrefix(frame, kind.identifier()) {
			ctl, ok = kind, true
			break
		}
	}
	if !ok || !(ctl.start || ctl.jwt) {
		return ctl, ok, nil // not a control message, or a STOP
	}
	params, err := controlParams(frame)
	if err != nil {
		return control{}, true, err
	}
	if ctl.jwt {
		ctl.jwtToken = params[paramJWT]
		return ctl, true, nil
	}
	if ns := params[paramNamespaces]; ns != "" {
		ctl.namespaces = javaSplit(ns, ",")
		if len(ctl.namespaces) == 0 {
			ctl.namespaces = nil // "," names no namespace: all of them
		}
	}
	ctl.correlationID = params[paramCorrelationID]
	// Ditto validates extraFields before it learns that policy
	// announcements ignore it, and ignores their filter unread.
	if ef := params[paramExtraFields]; ef != "" {
		if err := checkExtraFields(ef); err != nil {
			return control{}, true, err
		}
		if ctl.typ != streamPolicyAnnouncements {
			ctl.extraFields = ef
		}
	}
	if f, given := params[paramFilter]; given && ctl.typ != streamPolicyAnnouncements {
		node, err := parseStreamFilter(f)
		if err != nil {
			return control{}, true, withCorrelationID(err, ctl.correlationID)
		}
		ctl.filter, ctl.filterNode = f, node
	}
	return ctl, true, nil
}

// withCorrelationID returns a copy of err that carries cid as its
// correlation-id header, or err itself when cid is empty.
func withCorrelationID(err *protocol.Error, cid string) *protocol.Error {
	if cid == "" {
		return err
	}
	e := *err
	e.Headers = protocol.Headers{protocol.HeaderCorrelationID: cid}
	return &e
}

// ---- Parameters --------------------------------------------------------

// codeControlInvalid is the error code of control message parameters
// that are not "key=value" pairs. Ditto has no error for them (it closes
// the WebSocket), so the code is this gateway's own.
const codeControlInvalid = "gateway:websocket.control.invalid"

// errControlInvalid reports unusable control message parameters.
func errControlInvalid(query, reason string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, codeControlInvalid,
		fmt.Sprintf("The parameters <%s> of the control message are invalid: %s.", query, reason),
		"Give the parameters as URL-encoded key=value pairs separated by '&', each key at most once, "+
			"e.g. START-SEND-EVENTS?namespaces=org.eclipse.ditto&filter=gt(attributes%2Fcounter,42).")
}

// controlParams returns the parameters after the first '?' of frame,
// URL-decoded, as Ditto's extractor reads them: pairs split at '&'
// (trailing empty pairs dropped, as Java's String.split does), each split
// at its first '='. Unknown keys are kept; the caller ignores them.
func controlParams(frame string) (map[string]string, *protocol.Error) {
	_, query, found := strings.Cut(frame, "?")
	if !found {
		return nil, nil
	}
	pairs := javaSplit(query, "&")
	params := make(map[string]string, len(pairs))
	for _, pair := range pairs {
		rawKey, rawValue, ok := strings.Cut(pair, "=")
		if !ok {
			return nil, errControlInvalid(query, fmt.Sprintf("<%s> is not a key=value pair", pair))
		}
		key, ok := javaURLDecode(rawKey)
		if !ok {
			return nil, errControlInvalid(query, fmt.Sprintf("<%s> has an invalid %%-escape", rawKey))
		}
		value, ok := javaURLDecode(rawValue)
		if !ok {
			return nil, errControlInvalid(query, fmt.Sprintf("<%s> has an invalid %%-escape", rawValue))
		}
		if _, dup := params[key]; dup {
			return nil, errControlInvalid(query, fmt.Sprintf("<%s> is given more than once", key))
		}
		params[key] = value
	}
	return params, nil
}

// javaSplit splits s at sep as Java's String.split does: trailing empty
// parts are dropped, except that an empty s gives one empty part.
func javaSplit(s, sep string) []string {
	if s == "" {
		return []string{""}
	}
	parts := strings.Split(s, sep)
	for len(parts) > 0 && parts[len(parts)-1] == "" {
		parts = parts[:len(parts)-1]
	}
	return parts
}

// javaURLDecode decodes s as Java's URLDecoder does with UTF-8: '+' is a
// space, %XX escapes are bytes whose invalid UTF-8 becomes U+FFFD (as
// does invalid UTF-8 in the frame, which Ditto reads as a Java string),
// and a malformed escape fails.
func javaURLDecode(s string) (string, bool) {
	if !strings.ContainsAny(s, "%+") {
		return strings.ToValidUTF8(s, "\uFFFD"), true
	}
	v, err := url.QueryUnescape(s)
	if err != nil {
		return "", false
	}
	return strings.ToValidUTF8(v, "\uFFFD"), true
}

// ---- extraFields -------------------------------------------------------

// thingSelectableFields are the patterns of the fields an extraFields
// selector may name (Ditto's ThingFieldSelector), in Ditto's order, which
// its error description lists.
var thingSelectableFields = []string{"thingId", "policyId", "definition",
	"_namespace", "_revision", "_created", "_modified", "_metadata(/[^,]+)?", "_policy", "_context",
	"_context(/[^,]+)?", "features(/[^,]+)?", "attributes(/[^,]+)?"}

// thingFieldSelection matches a whole selector of known fields: no
// parentheses, no blanks after commas, no empty items.
var thingFieldSelection = func() *regexp.Regexp {
	field := "/?(?:" + strings.Join(thingSelectableFields, "|") + ")"
	return regexp.MustCompile("^" + field + "(?:," + field + ")*$")
}()

// errThingFieldSelectionInvalid is Ditto's InvalidThingFieldSelectionException
// (things:field.selection.invalid) for an extraFields selector.
func errThingFieldSelectionInvalid(selector string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "things:field.selection.invalid",
		fmt.Sprintf("Thing field selection <%s> was not valid.", selector),
		"Please provide a comma separated List of valid Thing fields. "+
			"Make sure that you did not use a space after a comma. Valid Fields are: ["+
			strings.Join(thingSelectableFields, ", ")+"]")
}

// checkExtraFields validates an extraFields selector as Ditto does: it
// must parse as a field selector, then either hold a placeholder or name
// only known thing fields.
func checkExtraFields(s string) *protocol.Error {
	if _, err := jsonv.ParseFieldSelector(s); err != nil {
		if perr := protocol.AsError(err); perr != nil {
			return perr
		}
		return protocol.ErrJSONFieldSelectorInvalid(s)
	}
	if containsPlaceholder(s) || thingFieldSelection.MatchString(s) {
		return nil
	}
	return errThingFieldSelectionInvalid(s)
}

// containsPlaceholder reports whether s holds a "{{ ... }}" or legacy
// "${...}" placeholder (Ditto's Placeholders.containsAnyPlaceholder).
func containsPlaceholder(s string) bool {
	if i := strings.Index(s, "{{"); i >= 0 && strings.Contains(s[i+2:], "}}") {
		return true
	}
	i := strings.Index(s, "${")
	return i >= 0 && strings.Contains(s[i+2:], "}")
}

// ---- filter ------------------------------------------------------------

// filterPlaceholders are the placeholders a session's filter may use as
// a property (the supported names of the topic, entity, thing, feature
// and resource placeholders Ditto's StreamingSessionActor parses with;
// time and header placeholders have no names there).
var filterPlaceholders = map[string]bool{
	"topic:full": true, "topic:namespace": true, "topic:entityName": true, "topic:group": true,
	"topic:channel": true, "topic:criterion": true, "topic:action": true, "topic:subject": true,
	"topic:action-subject": true,
	"entity:id":            true, "entity:namespace": true, "entity:name": true,
	"thing:id": true, "thing:namespace": true, "thing:name": true,
	"feature:id":    true,
	"resource:type": true, "resource:path": true,
}

// parseStreamFilter parses a session's RQL filter, which may name the
// placeholders above as properties besides the thing's fields.
func parseStreamFilter(filter string) (rql.Node, *protocol.Error) {
	node, err := rql.ParseWith(filter, func(p string) bool { return filterPlaceholders[strings.TrimPrefix(p, "/")] })
	if err != nil {
		return nil, rqlError(err)
	}
	return node, nil
}

// rqlError returns the wire error of a parse error.
func rqlError(err error) *protocol.Error {
	if perr := protocol.AsError(err); perr != nil {
		return perr
	}
	return protocol.ErrRQLExpressionInvalid(err.Error())
}
