package protocol

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol/internal/jsonsyntax"
)

// Header names Ditto defines (DittoHeaderDefinition), lower-case as they are
// stored. Only names Ditto itself uses are listed.
const (
	HeaderAuthContext                    = "ditto-auth-context"
	HeaderCorrelationID                  = "correlation-id"
	HeaderResponseRequired               = "response-required"
	HeaderDittoDryRun                    = "ditto-dry-run"
	HeaderDryRun                         = "dry-run"
	HeaderReadSubjects                   = "ditto-read-subjects"
	HeaderReadRevokedSubjects            = "ditto-read-revoked-subjects"
	HeaderContentType                    = "content-type"
	HeaderAccept                         = "accept"
	HeaderAuthorization                  = "authorization"
	HeaderReplyTo                        = "reply-to"
	HeaderChannel                        = "channel"
	HeaderLiveChannelTimeoutStrategy     = "live-channel-timeout-strategy"
	HeaderOrigin                         = "ditto-origin"
	HeaderETag                           = "etag"
	HeaderIfMatch                        = "if-match"
	HeaderIfNoneMatch                    = "if-none-match"
	HeaderIfEqual                        = "if-equal"
	HeaderReplyTarget                    = "ditto-reply-target"
	HeaderDivertResponseToConnection     = "divert-response-to-connection"
	HeaderDivertExpectedResponseTypes    = "divert-expected-response-types"
	HeaderDivertedResponseFromConnection = "diverted-response-from-connection"
	HeaderExpectedResponseTypes          = "ditto-expected-response-types"
	HeaderInboundPayloadMapper           = "ditto-inbound-payload-mapper"
	HeaderOriginator                     = "ditto-originator"
	HeaderRequestedAcks                  = "requested-acks"
	HeaderDeclaredAcks                   = "declared-acks"
	HeaderTimeout                        = "timeout"
	HeaderEntityID                       = "ditto-entity-id"
	HeaderWWWAuthenticate                = "www-authenticate"
	HeaderLocation                       = "location"
	HeaderConnectionID                   = "ditto-connection-id"
	HeaderPutMetadata                    = "put-metadata"
	HeaderGetMetadata                    = "get-metadata"
	HeaderDeleteMetadata                 = "delete-metadata"
	HeaderDittoMetadata                  = "ditto-metadata"
	HeaderAllowPolicyLockout             = "allow-policy-lockout"
	HeaderWeakAck                        = "ditto-weak-ack"
	HeaderEventJournalTags               = "ditto-event-journal-tags"
	HeaderTraceparent                    = "traceparent"
	HeaderTracestate                     = "tracestate"
	HeaderSudo                           = "ditto-sudo"
	HeaderRetrieveDeleted                = "ditto-retrieve-deleted"
	HeaderAckregatorAddress              = "ditto-ackgregator-address"
	HeaderCondition                      = "condition"
	HeaderLiveChannelCondition           = "live-channel-condition"
	HeaderLiveChannelConditionMatched    = "live-channel-condition-matched"
	HeaderAtHistoricalRevision           = "at-historical-revision"
	HeaderAtHistoricalTimestamp          = "at-historical-timestamp"
	HeaderHistoricalHeaders              = "historical-headers"
	HeaderEntityRevision                 = "entity-revision"
	HeaderPreDefinedExtraFields          = "ditto-pre-defined-extra-fields"
	HeaderPreDefinedExtraFieldsReadGrant = "ditto-pre-defined-extra-fields-read-grant"
	HeaderPartialAccessPaths             = "ditto-partial-access-paths"
	HeaderPreDefinedExtraFieldsObject    = "ditto-pre-defined-extra-fields-object"
	HeaderMergeThingPatchConditions      = "merge-thing-patch-conditions"
	HeaderPolicyView                     = "policy-view"
	HeaderPolicyViewFieldsSelector       = "ditto-policy-view-fields-selector"
)

// Values of the channel header and of the enum-typed headers.
const (
	LiveChannelTimeoutStrategyFail    = "fail"
	LiveChannelTimeoutStrategyUseTwin = "use-twin"

	IfEqualUpdate              = "update"
	IfEqualSkip                = "skip"
	IfEqualSkipMinimizingMerge = "skip-minimizing-merge"
)

// MaxCommandTimeout is the largest timeout Ditto's gateway accepts for a
// command by default (ditto.gateway.command.max-timeout = 1m).
const MaxCommandTimeout = time.Minute

// HeaderType is the JSON type a header value has in a Ditto Protocol
// message, and the syntax its string form must follow.
type HeaderType uint8

// Header types, named after the Java types of DittoHeaderDefinition.
const (
	HeaderTypeString HeaderType = iota
	HeaderTypeBool
	HeaderTypeInt
	HeaderTypeLong
	HeaderTypeStringArray // a JSON array whose elements are strings
	HeaderTypeArray       // a JSON array of anything (put-metadata)
	HeaderTypeObject
)

// HeaderDefinition says how Ditto treats one header: its JSON type and
// whether it crosses the boundary to external clients.
type HeaderDefinition struct {
	Name string
	Type HeaderType
	// FromExternal is true when the gateway accepts the header from clients
	// (Ditto's readFromExternal). Internal headers a client sends are dropped.
	FromExternal bool
	// ToExternal is true when the header is shown to clients (Ditto's
	// writeToExternal).
	ToExternal bool

	check headerCheck
}

// headerCheck selects the value validator Ditto attaches to a definition.
type headerCheck uint8

const (
	checkNone headerCheck = iota
	checkNonEmpty
	checkBool
	checkInt
	checkLong
	checkStringArray
	checkAckLabels
	checkArray
	checkObject
	checkTimeout
	checkChannel
	checkLiveChannelTimeoutStrategy
	checkIfEqual
	checkEntityTag
	checkEntityTagMatchers
)

// headerDefinitions is read-only after initialisation; it mirrors
// DittoHeaderDefinition (Ditto 3.x) entry by entry.
var headerDefinitions = func() map[string]HeaderDefinition {
	defs := []HeaderDefinition{
		{HeaderAuthContext, HeaderTypeObject, false, false, checkObject},
		{HeaderCorrelationID, HeaderTypeString, true, true, checkNonEmpty},
		{HeaderResponseRequired, HeaderTypeBool, true, true, checkBool},
		{HeaderDittoDryRun, HeaderTypeBool, false, false, checkBool},
		{HeaderDryRun, HeaderTypeBool, true, true, checkBool},
		{HeaderReadSubjects, HeaderTypeStringArray, false, false, checkStringArray},
		{HeaderReadRevokedSubjects, HeaderTypeStringArray, false, false, checkStringArray},
		{HeaderContentType, HeaderTypeString, true, true, checkNone},
		{HeaderAccept, HeaderTypeString, true, false, checkNone},
		{HeaderAuthorization, HeaderTypeString, true, false, checkNone},
		{HeaderReplyTo, HeaderTypeString, true, true, checkNone},
		{HeaderChannel, HeaderTypeString, true, true, checkChannel},
		{HeaderLiveChannelTimeoutStrategy, HeaderTypeString, true, false, checkLiveChannelTimeoutStrategy},
		{HeaderOrigin, HeaderTypeString, false, false, checkNone},
		{HeaderETag, HeaderTypeString, false, true, checkEntityTag},
		{HeaderIfMatch, HeaderTypeString, true, false, checkEntityTagMatchers},
		{HeaderIfNoneMatch, HeaderTypeString, true, false, checkEntityTagMatchers},
		{HeaderIfEqual, HeaderTypeString, true, false, checkIfEqual},
		{HeaderReplyTarget, HeaderTypeInt, false, false, checkInt},
		{HeaderDivertResponseToConnection, HeaderTypeString, true, false, checkNonEmpty},
		{HeaderDivertExpectedResponseTypes, HeaderTypeString, true, false, checkNonEmpty},
		{HeaderDivertedResponseFromConnection, HeaderTypeString, true, true, checkNonEmpty},
		{HeaderExpectedResponseTypes, HeaderTypeStringArray, false, false, checkStringArray},
		{HeaderInboundPayloadMapper, HeaderTypeString, false, false, checkNone},
		{HeaderOriginator, HeaderTypeString, false, true, checkNone},
		{HeaderRequestedAcks, HeaderTypeStringArray, true, true, checkAckLabels},
		{HeaderDeclaredAcks, HeaderTypeStringArray, true, false, checkStringArray},
		{HeaderTimeout, HeaderTypeString, true, true, checkTimeout},
		{HeaderEntityID, HeaderTypeString, false, false, checkNone},
		{HeaderWWWAuthenticate, HeaderTypeString, false, true, checkNone},
		{HeaderLocation, HeaderTypeString, true, true, checkNone},
		{HeaderConnectionID, HeaderTypeString, false, true, checkNone},
		{HeaderPutMetadata, HeaderTypeArray, true, false, checkArray},
		{HeaderGetMetadata, HeaderTypeString, true, false, checkNone},
		{HeaderDeleteMetadata, HeaderTypeString, true, false, checkNone},
		{HeaderDittoMetadata, HeaderTypeObject, false, true, checkObject},
		{HeaderAllowPolicyLockout, HeaderTypeBool, true, false, checkBool},
		{HeaderWeakAck, HeaderTypeBool, false, true, checkBool},
		{HeaderEventJournalTags, HeaderTypeStringArray, false, false, checkStringArray},
		{HeaderTraceparent, HeaderTypeString, true, true, checkNone},
		{HeaderTracestate, HeaderTypeString, true, true, checkNone},
		{HeaderSudo, HeaderTypeBool, false, false, checkBool},
		{HeaderRetrieveDeleted, HeaderTypeBool, false, false, checkBool},
		{HeaderAckregatorAddress, HeaderTypeString, false, false, checkNonEmpty},
		{HeaderCondition, HeaderTypeString, true, false, checkNone},
		{HeaderLiveChannelCondition, HeaderTypeString, true, false, checkNone},
		{HeaderLiveChannelConditionMatched, HeaderTypeBool, false, true, checkBool},
		{HeaderAtHistoricalRevision, HeaderTypeLong, true, false, checkLong},
		{HeaderAtHistoricalTimestamp, HeaderTypeString, true, false, checkNone},
		{HeaderHistoricalHeaders, HeaderTypeObject, false, true, checkObject},
		{HeaderEntityRevision, HeaderTypeLong, false, true, checkLong},
		{HeaderPreDefinedExtraFields, HeaderTypeStringArray, false, false, checkStringArray},
		{HeaderPreDefinedExtraFieldsReadGrant, HeaderTypeObject, false, false, checkObject},
		{HeaderPartialAccessPaths, HeaderTypeObject, false, false, checkObject},
		{HeaderPreDefinedExtraFieldsObject, HeaderTypeObject, false, false, checkObject},
		{HeaderMergeThingPatchConditions, HeaderTypeObject, true, false, checkObject},
		{HeaderPolicyView, HeaderTypeString, true, false, checkNone},
		{HeaderPolicyViewFieldsSelector, HeaderTypeString, false, false, checkNone},
	}
	m := make(map[string]HeaderDefinition, len(defs))
	for _, d := range defs {
		m[d.Name] = d
	}
	return m
}()

// LookupHeader returns Ditto's definition of the header name (any case).
func LookupHeader(name string) (HeaderDefinition, bool) {
	d, ok := headerDefinitions[lower(name)]
	return d, ok
}

// Headers are the headers of a Ditto Protocol message. Ditto treats header
// names case-insensitively; Headers stores them lower-case, and every value
// as a string as Ditto's DittoHeaders does, whatever its JSON type on the
// wire.
type Headers map[string]string

// Get returns the value of the header name (any case), or "".
func (h Headers) Get(name string) string {
	return h[lower(name)]
}

// Lookup returns the value of the header name (any case) and whether it is set.
func (h Headers) Lookup(name string) (string, bool) {
	v, ok := h[lower(name)]
	return v, ok
}

// Set sets the header name (stored lower-case) to value. h must not be nil.
func (h Headers) Set(name, value string) {
	h[lower(name)] = value
}

// Del removes the header name (any case).
func (h Headers) Del(name string) {
	delete(h, lower(name))
}

// Clone returns a copy of h that shares nothing with it; nil stays nil.
func (h Headers) Clone() Headers {
	if h == nil {
		return nil
	}
	c := make(Headers, len(h))
	for k, v := range h {
		c[k] = v
	}
	return c
}

// Timeout returns the parsed timeout header; ok is false when it is absent.
func (h Headers) Timeout() (d time.Duration, ok bool, err error) {
	v, ok := h[HeaderTimeout]
	if !ok {
		return 0, false, nil
	}
	d, err = ParseTimeout(v)
	return d, true, err
}

// UnmarshalJSON reads a JSON object. Keys are lower-cased (a later key wins
// over an earlier one differing only in case); string values are kept as
// they are, any other value as its compact JSON text, as Ditto does. JSON
// null leaves h nil.
func (h *Headers) UnmarshalJSON(data []byte) error {
	if !jsonsyntax.Valid(data) {
		return errors.New("headers: invalid JSON")
	}
	i := skipSpace(data, 0)
	switch data[i] {
	case '{':
		*h = decodeHeaders(data[i:])
	case 'n':
		*h = nil
	default:
		return errors.New("headers: not a JSON object")
	}
	return nil
}

// decodeHeaders reads the valid JSON object data into Headers.
func decodeHeaders(data []byte) Headers {
	out := make(Headers, 8)
	// eachMember's callback never fails here.
	_ = eachMember(data, 0, func(key, raw []byte) error {
		out[headerName(key)] = headerValue(raw)
		return nil
	})
	return out
}

// internedHeaderNames holds Ditto's header names and internedHeaderValues
// the values most headers have, so that decoding them allocates nothing:
// every command and reply carries headers, and their strings were a tenth
// of the platform's allocations.
var (
	internedHeaderNames = func() map[string]string {
		m := make(map[string]string, len(headerDefinitions))
		for name := range headerDefinitions {
			m[name] = name
		}
		return m
	}()
	internedHeaderValues = func() map[string]string {
		m := map[string]string{}
		for _, v := range []string{"true", "false", "application/json", MediaTypeMergePatchJSON,
			ChannelTwin, ChannelLive, "[]", "10s", "60s"} {
			m[v] = v
		}
		return m
	}()
)

// headerName returns the lower-case header name of the raw JSON string key.
func headerName(key []byte) string {
	if name, ok := internedHeaderNames[string(key[1:len(key)-1])]; ok {
		return name
	}
	return lower(unquote(key))
}

// headerValue returns the header value of raw JSON: a string's content,
// any other value as its compact JSON text.
func headerValue(raw []byte) string {
	lit := raw
	if raw[0] == '"' {
		lit = raw[1 : len(raw)-1]
	}
	if v, ok := internedHeaderValues[string(lit)]; ok {
		return v
	}
	if raw[0] == '"' {
		return unquote(raw)
	}
	return string(compact(raw))
}

// MarshalJSON writes h as a JSON object with keys sorted. Headers Ditto
// types as boolean, number, array or object are written with that type when
// their value has the right syntax, everything else as a string. A nil h is
// written as {}, since Ditto always has headers.
func (h Headers) MarshalJSON() ([]byte, error) {
	return h.AppendJSON(nil), nil
}

// AppendJSON appends the JSON form MarshalJSON returns to dst.
func (h Headers) AppendJSON(dst []byte) []byte {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	dst = append(dst, '{')
	for i, k := range keys {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, k)
		dst = append(dst, ':')
		dst = appendHeaderValue(dst, k, h[k])
	}
	return append(dst, '}')
}

// appendHeaderValue renders one header with its Ditto JSON type. A value
// that does not parse as its type is written as a string, so marshalling
// never fails and never loses the value.
func appendHeaderValue(dst []byte, key, value string) []byte {
	def, ok := headerDefinitions[key]
	if !ok {
		return appendJSONString(dst, value)
	}
	switch def.Type {
	case HeaderTypeBool:
		if value == "true" || value == "false" {
			return append(dst, value...)
		}
	case HeaderTypeInt, HeaderTypeLong:
		if n, err := strconv.ParseInt(value, 10, 64); err == nil {
			return strconv.AppendInt(dst, n, 10)
		}
	case HeaderTypeStringArray, HeaderTypeArray, HeaderTypeObject:
		want := byte('[')
		if def.Type == HeaderTypeObject {
			want = '{'
		}
		trimmed := strings.TrimSpace(value)
		if len(trimmed) > 0 && trimmed[0] == want {
			buf := bytes.NewBuffer(dst)
			if err := json.Compact(buf, []byte(trimmed)); err == nil {
				return buf.Bytes()
			}
		}
	}
	return appendJSONString(dst, value)
}

// Validate checks every header Ditto defines a syntax for, the way Ditto
// validates DittoHeaders when it builds them, and returns the first problem
// in key order: header.invalid (or timeout.invalid for the timeout header).
// Unknown headers are not checked.
func (h Headers) Validate() error {
	keys := make([]string, 0, len(h))
	for k := range h {
		if def, ok := headerDefinitions[k]; ok && def.check != checkNone {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if err := validateHeader(headerDefinitions[k], h[k]); err != nil {
			return err
		}
	}
	return nil
}

func validateHeader(def HeaderDefinition, v string) error {
	switch def.check {
	case checkNonEmpty:
		if v == "" {
			return ErrHeaderInvalidMessage(fmt.Sprintf("The value of the header '%s' must not be empty.", def.Name))
		}
	case checkBool:
		if v != "true" && v != "false" {
			return ErrHeaderInvalid(def.Name, v, "boolean")
		}
	case checkInt:
		if _, err := strconv.ParseInt(v, 10, 32); err != nil {
			return ErrHeaderInvalid(def.Name, v, "int")
		}
	case checkLong:
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return ErrHeaderInvalid(def.Name, v, "long")
		}
	case checkStringArray:
		if !isJSON(v, '[') {
			return ErrHeaderInvalid(def.Name, v, "JSON array")
		}
		if !onlyStrings(v) {
			return ErrHeaderInvalidMessage(fmt.Sprintf("JSON array for <%s> contained non-string values!", def.Name))
		}
	case checkAckLabels:
		// Ditto's RequestedAcksValueValidator.
		var labels []any
		if !isJSON(v, '[') || json.Unmarshal([]byte(v), &labels) != nil {
			return ErrHeaderInvalid(def.Name, v, "JSON array")
		}
		for _, l := range labels {
			s, ok := l.(string)
			if !ok {
				return ErrHeaderInvalidMessage(fmt.Sprintf("JSON array for <%s> contained invalid acknowledgement labels.", def.Name))
			}
			if !ValidAckLabel(s) {
				return ErrHeaderInvalid(def.Name, v, "JSON array of acknowledgement labels")
			}
		}
	case checkArray:
		if !isJSON(v, '[') {
			return ErrHeaderInvalid(def.Name, v, "MetadataHeaders")
		}
	case checkObject:
		if !isJSON(v, '{') {
			return ErrHeaderInvalid(def.Name, v, "JSON object")
		}
	case checkTimeout:
		if _, err := ParseTimeout(v); err != nil {
			return err
		}
	case checkChannel:
		if c := strings.ToLower(strings.TrimSpace(v)); c != ChannelTwin && c != ChannelLive {
			e := ErrHeaderInvalid(def.Name, v, HeaderChannel)
			e.Description = "The value must either be <twin> or <live>."
			return e
		}
	case checkLiveChannelTimeoutStrategy:
		return checkEnum(def.Name, v, "LiveChannelTimeoutStrategy",
			LiveChannelTimeoutStrategyFail, LiveChannelTimeoutStrategyUseTwin)
	case checkIfEqual:
		return checkEnum(def.Name, v, "IfEqual", IfEqualUpdate, IfEqualSkip, IfEqualSkipMinimizingMerge)
	case checkEntityTag:
		if !ValidEntityTag(v) {
			return entityTagError(def.Name, v)
		}
	case checkEntityTagMatchers:
		// Ditto splits on commas with surrounding blanks and, like Java's
		// String.split, ignores trailing empty parts.
		parts := strings.Split(v, ",")
		for len(parts) > 1 && strings.TrimSpace(parts[len(parts)-1]) == "" {
			parts = parts[:len(parts)-1]
		}
		for _, p := range parts {
			p = strings.TrimSpace(p)
			if p != "*" && !ValidEntityTag(p) {
				return entityTagError(def.Name, p)
			}
		}
	}
	return nil
}

// isJSON reports whether v is valid JSON whose value starts with open.
func isJSON(v string, open byte) bool {
	b := []byte(v)
	i := skipSpace(b, 0)
	return i < len(b) && b[i] == open && jsonsyntax.Valid(b)
}

// onlyStrings reports whether the valid JSON array v holds only strings.
func onlyStrings(v string) bool {
	b := []byte(v)
	i := skipSpace(b, 0) + 1
	for {
		i = skipSpace(b, i)
		if i >= len(b) || b[i] == ']' {
			return true
		}
		if b[i] != '"' {
			return false
		}
		i = skipSpace(b, skipString(b, i))
		if i < len(b) && b[i] == ',' {
			i++
		}
	}
}

func checkEnum(name, v, typeName string, allowed ...string) error {
	if slices.Contains(allowed, strings.ToLower(strings.TrimSpace(v))) {
		return nil
	}
	e := ErrHeaderInvalid(name, v, "enum value of type '"+typeName+"'")
	e.Description = "The value must be one of: <" + strings.Join(allowed, "|") + ">."
	return e
}

func entityTagError(name, v string) *Error {
	e := ErrHeaderInvalid(name, v, "entity-tag")
	e.Href = "https://tools.ietf.org/html/rfc7232#section-2.3"
	return e
}

// ValidEntityTag reports whether s is an entity-tag as Ditto accepts it:
// an optional W/ prefix and a double-quoted opaque tag without '"' or '*'.
func ValidEntityTag(s string) bool {
	s = strings.TrimPrefix(s, "W/")
	if len(s) < 2 || s[0] != '"' || s[len(s)-1] != '"' {
		return false
	}
	return !strings.ContainsAny(s[1:len(s)-1], `"*`)
}

// ParseTimeout parses Ditto's duration syntax used by the timeout header: a
// decimal amount with an optional sign and one of the units s, ms, m, h, d,
// w, mo, y; without a unit the amount is seconds ("60" is a minute). Months
// and years have Java's average lengths. A negative or unparsable value is
// Ditto's timeout.invalid error. Amounts too large for a time.Duration
// saturate at its maximum, so a bounds check rejects them.
//
// The upper bound is not checked here: Ditto's gateway checks it against its
// configured maximum (see MaxCommandTimeout and ErrGatewayTimeoutInvalid).
func ParseTimeout(s string) (time.Duration, error) {
	i := 0
	if i < len(s) && (s[i] == '+' || s[i] == '-') {
		i++
	}
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	unit, ok := durationUnit(s[j:])
	if j == i || !ok {
		// Ditto falls back to reading the whole string as a number of
		// seconds and reports Java's NumberFormatException message.
		return 0, ErrTimeoutInvalid(fmt.Sprintf("For input string: \"%s\"", s))
	}
	amount, err := strconv.ParseInt(s[:j], 10, 64)
	if err != nil {
		return 0, ErrTimeoutInvalid(fmt.Sprintf("For input string: \"%s\"", s[:j]))
	}
	if amount < 0 {
		return 0, ErrTimeoutInvalid(fmt.Sprintf("The duration must not be negative but was <%s%s>!", s[:j], s[j:]))
	}
	if unit != 0 && amount > int64(math.MaxInt64/unit) {
		return time.Duration(math.MaxInt64), nil
	}
	return time.Duration(amount) * unit, nil
}

// durationUnit maps DittoDuration's unit suffixes to their length.
func durationUnit(suffix string) (time.Duration, bool) {
	for _, u := range dittoUnits {
		if u.suffix == suffix {
			return u.unit, true
		}
	}
	return 0, false
}

// CheckTimeout returns Ditto's gateway:timeout.invalid error when d is
// negative or above max, as Ditto's gateway answers for the timeout header
// and query parameter of a command.
func CheckTimeout(d, max time.Duration) error {
	if d < 0 || d > max {
		return ErrGatewayTimeoutInvalid(d, max)
	}
	return nil
}

// lower returns s in ASCII lower case without allocating when it already is.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

// appendJSONString appends s as a JSON string with Ditto's escaping (see
// jsonsyntax.AppendString), the same bytes jsonv writes.
func appendJSONString(dst []byte, s string) []byte { return jsonsyntax.AppendString(dst, s) }
