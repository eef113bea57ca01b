package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol/internal/jsonsyntax"
)

// Envelope is a Ditto Protocol message: the JSON a WebSocket client sends and
// receives, and the body of every command request and reply on NATS.
type Envelope struct {
	Topic   string  `json:"topic"`
	Headers Headers `json:"headers"`
	Path    string  `json:"path"`
	// Value is absent when nil; JSON null is the four bytes "null".
	Value     json.RawMessage `json:"value,omitempty"`
	Fields    string          `json:"fields,omitempty"`
	Extra     json.RawMessage `json:"extra,omitempty"`
	Status    int             `json:"status,omitempty"`
	Revision  int64           `json:"revision,omitempty"`
	Timestamp string          `json:"timestamp,omitempty"`
	Metadata  json.RawMessage `json:"metadata,omitempty"`
}

// maxEchoedInput bounds how much of a malformed message an error repeats.
// Ditto repeats all of it; a long prefix identifies the message as well.
const maxEchoedInput = 256

// DecodeEnvelope parses a Ditto Protocol message the way Ditto's protocol
// adapter does, and returns Ditto's error for what it rejects:
//
//   - empty input: json.format.invalid ("Empty json.");
//   - malformed JSON or a non-object: json.invalid;
//   - topic or path missing (or null): json.field.missing;
//   - a field of the wrong JSON type: json.invalid;
//   - a header value of the wrong syntax: header.invalid or timeout.invalid;
//   - an unparsable topic: protocoladapter:unknown.topicpath.
//
// Field names are case-sensitive and unknown fields are ignored. As in
// Ditto, the path is normalised ("" and "/" are the root, a missing leading
// slash is added, one trailing slash dropped), a status outside 100-599 is
// dropped, and JSON null for an optional field other than value, extra and
// metadata means absent. Values are kept as compact JSON.
//
// Value, Extra and Metadata may share data's memory: data must not be
// changed while the envelope is in use.
func DecodeEnvelope(data []byte) (Envelope, error) {
	return decodeEnvelope(data, true)
}

// DecodeEnvelopeUnchecked is DecodeEnvelope without validating header values
// (a header's syntax is checked with Headers.Validate where it is used). It
// is for envelopes between services, which were validated where they
// entered the platform: re-validating every reply and every hop is the
// largest share of decoding.
func DecodeEnvelopeUnchecked(data []byte) (Envelope, error) {
	return decodeEnvelope(data, false)
}

// DecodeEnvelopeTrusted is DecodeEnvelopeUnchecked for JSON known to be
// valid: replies of the platform's own services, which write them with
// AppendJSON or AppendJSONTrusted from values they parsed. It skips the JSON
// syntax check, the largest cost of decoding a reply that carries a thing.
// Given valid JSON whose value is compact (as AppendJSON writes it) it
// returns exactly what DecodeEnvelopeUnchecked returns; the value is taken
// as it is, without compaction.
// Given invalid JSON it never panics: it returns DecodeEnvelopeUnchecked's
// error where the walk over the structure fails, and otherwise an envelope
// of whatever it found, so untrusted input must not come here.
func DecodeEnvelopeTrusted(data []byte) (e Envelope, err error) {
	defer func() {
		// The structure walk assumes valid JSON and may index past the end
		// of broken input; such input gets the checked decoder's error.
		if recover() != nil {
			e, err = decodeEnvelope(data, false)
		}
	}()
	return decodeEnvelopeFields(data, false, false)
}

func decodeEnvelope(data []byte, validate bool) (Envelope, error) {
	return decodeEnvelopeFields(data, validate, true)
}

func decodeEnvelopeFields(data []byte, validate, checkSyntax bool) (Envelope, error) {
	if len(data) == 0 {
		return Envelope{}, ErrJSONFormatInvalid("Empty json.")
	}
	if checkSyntax && !jsonsyntax.Valid(data) {
		return Envelope{}, syntaxError(data)
	}
	fields, err := splitObject(data)
	if err != nil {
		return Envelope{}, err
	}
	var e Envelope
	if raw := fields.headers; raw != nil && !isNull(raw) {
		if raw[0] != '{' {
			return Envelope{}, typeError(raw, "/headers", "JsonObject")
		}
		e.Headers = decodeHeaders(raw)
		if validate {
			if err := e.Headers.Validate(); err != nil {
				return Envelope{}, err
			}
		}
	}
	if e.Topic, err = requiredString(fields.topic, "/topic"); err != nil {
		return Envelope{}, err
	}
	if _, err := ParseTopic(e.Topic); err != nil {
		return Envelope{}, err
	}
	path, err := requiredString(fields.path, "/path")
	if err != nil {
		return Envelope{}, err
	}
	e.Path = normalizePath(path)
	if raw := fields.value; raw != nil {
		if checkSyntax {
			e.Value = compact(raw)
		} else {
			// The services write values compact (AppendJSON compacts
			// them): the reply's value, often a whole thing, is
			// taken as it is rather than scanned once more.
			e.Value = raw[:len(raw):len(raw)]
		}
	}
	if e.Extra, err = optionalObject(fields.extra, "/extra"); err != nil {
		return Envelope{}, err
	}
	if raw := fields.status; raw != nil && !isNull(raw) {
		n, ok := integral(raw, math.MinInt32, math.MaxInt32)
		if !ok {
			return Envelope{}, typeError(raw, "/status", "Integer")
		}
		if n >= 100 && n <= 599 {
			e.Status = int(n)
		}
	}
	if e.Timestamp, err = optionalString(fields.timestamp, "/timestamp"); err != nil {
		return Envelope{}, err
	}
	if e.Metadata, err = optionalObject(fields.metadata, "/metadata"); err != nil {
		return Envelope{}, err
	}
	if e.Fields, err = optionalString(fields.fields, "/fields"); err != nil {
		return Envelope{}, err
	}
	if raw := fields.revision; raw != nil && !isNull(raw) {
		n, ok := integral(raw, math.MinInt64, math.MaxInt64)
		if !ok {
			return Envelope{}, typeError(raw, "/revision", "Long")
		}
		e.Revision = n
	}
	return e, nil
}

// envelopeFields holds the raw JSON of each top-level field Ditto reads.
type envelopeFields struct {
	topic, headers, path, value, fields, extra, status, revision, timestamp, metadata json.RawMessage
}

// splitObject reads the top-level object of valid JSON, keeping each known
// field's JSON. A later duplicate of a field wins, as in Ditto.
func splitObject(data []byte) (envelopeFields, error) {
	var f envelopeFields
	i := skipSpace(data, 0)
	switch data[i] {
	case '{':
	case 'n':
		// Ditto reads the literal null as an empty object, which then lacks
		// a topic.
		return f, nil
	default:
		return f, notAnObject(data[i:])
	}
	err := eachMember(data, i, func(key, raw []byte) error {
		name := string(key[1 : len(key)-1])
		if bytes.IndexByte(key, '\\') >= 0 {
			name = unquote(key)
		}
		switch name {
		case "topic":
			f.topic = raw
		case "headers":
			f.headers = raw
		case "path":
			f.path = raw
		case "value":
			f.value = raw
		case "fields":
			f.fields = raw
		case "extra":
			f.extra = raw
		case "status":
			f.status = raw
		case "revision":
			f.revision = raw
		case "timestamp":
			f.timestamp = raw
		case "metadata":
			f.metadata = raw
		}
		return nil
	})
	return f, err
}

func syntaxError(data []byte) *Error {
	return ErrJSONInvalid(fmt.Sprintf("Failed to parse JSON string '%s'!", echo(data)))
}

func notAnObject(data []byte) *Error {
	return ErrJSONInvalid(fmt.Sprintf("<%s> is not a valid JSON object!", echo(compact(data))))
}

func typeError(raw json.RawMessage, pointer, javaType string) *Error {
	return ErrJSONNotOfType(echo(compact(raw)), pointer, javaType)
}

// echo returns data for an error message, cut at maxEchoedInput bytes on a
// rune boundary.
func echo(data []byte) string {
	if len(data) <= maxEchoedInput {
		return string(data)
	}
	cut := maxEchoedInput
	for cut > 0 && !utf8.RuneStart(data[cut]) {
		cut--
	}
	return string(data[:cut]) + "..."
}

func isNull(raw json.RawMessage) bool { return string(raw) == "null" }

func requiredString(raw json.RawMessage, pointer string) (string, error) {
	if raw == nil || isNull(raw) {
		return "", ErrJSONFieldMissing(pointer)
	}
	return optionalString(raw, pointer)
}

func optionalString(raw json.RawMessage, pointer string) (string, error) {
	if raw == nil || isNull(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", typeError(raw, pointer, "String")
	}
	return unquote(raw), nil
}

func optionalObject(raw json.RawMessage, pointer string) (json.RawMessage, error) {
	if raw == nil {
		return nil, nil
	}
	if raw[0] != '{' && !isNull(raw) {
		return nil, typeError(raw, pointer, "JsonObject")
	}
	return compact(raw), nil
}

// integral reads a JSON number that has an integral value within [lo, hi].
func integral(raw json.RawMessage, lo, hi int64) (int64, bool) {
	s := string(raw)
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, n >= lo && n <= hi
	}
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < float64(lo) || f >= float64(hi) {
		return 0, false
	}
	return int64(f), true
}

// normalizePath renders a message path as Ditto does after reading it into a
// JSON pointer: the root is "/", a missing leading slash is added, and a
// trailing slash after a segment is dropped. Ditto stops splitting at the
// first empty segment and keeps the rest, slashes included, as one segment,
// so "/a//b" renders back unchanged. (Ditto also escapes '~' as "~0" when
// it renders the pointer without unescaping when it reads one; that quirk is
// not copied.)
func normalizePath(p string) string {
	if p == "" || p == "/" {
		return "/"
	}
	if p[0] == '/' && p[len(p)-1] != '/' {
		// Every segment, and a final run kept whole, renders back as it was.
		return p
	}
	seg := 0
	if p[0] == '/' {
		seg = 1
	}
	var b strings.Builder
	b.Grow(len(p) + 1)
	for {
		i := strings.IndexByte(p[seg:], '/')
		if i <= 0 {
			break
		}
		b.WriteByte('/')
		b.WriteString(p[seg : seg+i])
		seg += i + 1
	}
	if seg < len(p) {
		b.WriteByte('/')
		b.WriteString(p[seg:])
	}
	return b.String()
}

// Encode returns the JSON form of e, with its fields in Ditto's order.
func (e Envelope) Encode() ([]byte, error) {
	return e.AppendJSON(make([]byte, 0, 256+len(e.Value)))
}

// MarshalJSON implements json.Marshaler with Encode.
func (e Envelope) MarshalJSON() ([]byte, error) {
	return e.Encode()
}

// UnmarshalJSON implements json.Unmarshaler with DecodeEnvelope.
func (e *Envelope) UnmarshalJSON(data []byte) error {
	d, err := DecodeEnvelope(data)
	if err != nil {
		return err
	}
	*e = d
	return nil
}

// AppendJSON appends the JSON form of e to dst: topic, headers (always, {}
// when empty), path ("/" when empty), then the optional fields value, extra,
// status, revision, timestamp, metadata and fields, as Ditto writes them.
// Value, Extra and Metadata must hold valid JSON.
func (e Envelope) AppendJSON(dst []byte) ([]byte, error) {
	return e.appendJSON(dst, false)
}

// AppendJSONTrusted is AppendJSON for envelopes whose Value, Extra and
// Metadata this process produced or decoded and therefore knows to be valid
// JSON: compact ones are copied without being checked again, which on
// every hop of every message was the largest cost of encoding. Raw JSON
// with white space is still compacted, and checked while at it.
func (e Envelope) AppendJSONTrusted(dst []byte) ([]byte, error) {
	return e.appendJSON(dst, true)
}

func (e Envelope) appendJSON(dst []byte, trusted bool) ([]byte, error) {
	dst = append(dst, `{"topic":`...)
	dst = appendJSONString(dst, e.Topic)
	dst = append(dst, `,"headers":`...)
	dst = e.Headers.AppendJSON(dst)
	dst = append(dst, `,"path":`...)
	path := e.Path
	if path == "" {
		path = "/"
	}
	dst = appendJSONString(dst, path)
	var err error
	if e.Value != nil {
		if dst, err = appendRaw(dst, `,"value":`, e.Value, trusted); err != nil {
			return nil, fmt.Errorf("encode envelope value: %w", err)
		}
	}
	if e.Extra != nil {
		if dst, err = appendRaw(dst, `,"extra":`, e.Extra, trusted); err != nil {
			return nil, fmt.Errorf("encode envelope extra: %w", err)
		}
	}
	if e.Status != 0 {
		dst = append(dst, `,"status":`...)
		dst = strconv.AppendInt(dst, int64(e.Status), 10)
	}
	if e.Revision != 0 {
		dst = append(dst, `,"revision":`...)
		dst = strconv.AppendInt(dst, e.Revision, 10)
	}
	if e.Timestamp != "" {
		dst = append(dst, `,"timestamp":`...)
		dst = appendJSONString(dst, e.Timestamp)
	}
	if e.Metadata != nil {
		if dst, err = appendRaw(dst, `,"metadata":`, e.Metadata, trusted); err != nil {
			return nil, fmt.Errorf("encode envelope metadata: %w", err)
		}
	}
	if e.Fields != "" {
		dst = append(dst, `,"fields":`...)
		dst = appendJSONString(dst, e.Fields)
	}
	return append(dst, '}'), nil
}

// appendRaw appends name and the compacted raw JSON, validating it unless
// trusted. Trusted raw JSON that is already compact is copied as it is.
func appendRaw(dst []byte, name string, raw json.RawMessage, trusted bool) ([]byte, error) {
	dst = append(dst, name...)
	if trusted && !hasInsignificantSpace(raw) {
		return append(dst, raw...), nil
	}
	buf := bytes.NewBuffer(dst)
	if err := json.Compact(buf, raw); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrorEnvelope returns the error message Ditto sends for err in reply to a
// message about topic t: the topic with criterion errors and no action, the
// given headers and path ("/" when empty), err's status, and err as value.
// An error about a search topic gets Ditto's search error topic,
// "_/_/things/search/error".
func ErrorEnvelope(t Topic, headers Headers, path string, err *Error) Envelope {
	if t.Criterion == CriterionSearch {
		t = Topic{Namespace: IDPlaceholder, EntityName: IDPlaceholder, Group: GroupThings,
			Criterion: CriterionSearch, Action: ActionError}
	} else {
		t.Criterion = CriterionErrors
		t.Action = ""
	}
	if path == "" {
		path = "/"
	}
	return Envelope{Topic: t.String(), Headers: headers, Path: path, Value: appendErrorJSON(nil, err), Status: err.Status}
}

// appendErrorJSON appends err as Ditto writes an error: status, error,
// message, then description and href when set. Unlike json.Marshal it does
// not escape <, > and &, which Ditto's messages use ("</topic>").
func appendErrorJSON(dst []byte, err *Error) []byte {
	dst = append(dst, `{"status":`...)
	dst = strconv.AppendInt(dst, int64(err.Status), 10)
	dst = append(dst, `,"error":`...)
	dst = appendJSONString(dst, err.Code)
	dst = append(dst, `,"message":`...)
	dst = appendJSONString(dst, err.Message)
	if err.Description != "" {
		dst = append(dst, `,"description":`...)
		dst = appendJSONString(dst, err.Description)
	}
	if err.Href != "" {
		dst = append(dst, `,"href":`...)
		dst = appendJSONString(dst, err.Href)
	}
	return append(dst, '}')
}

// FallbackErrorTopic returns the topic of the error Ditto sends over a
// WebSocket for a message it could not read far enough to know its topic,
// "unknown/unknown/things/twin/errors" (Ditto's ThingErrorResponse without
// entity id uses the id "unknown:unknown").
func FallbackErrorTopic() Topic {
	return Topic{
		Namespace: "unknown", EntityName: "unknown",
		Group: GroupThings, Channel: ChannelTwin, Criterion: CriterionErrors,
	}
}

// AsError returns the error an error envelope carries: its topic's criterion
// is errors (or it is a search error topic) and its value is an error object
// with an error code. A value without status takes the envelope's status.
func (e Envelope) AsError() (*Error, bool) {
	t, err := ParseTopic(e.Topic)
	if err != nil || len(e.Value) == 0 || e.Value[0] != '{' {
		return nil, false
	}
	searchError := t.Criterion == CriterionSearch && (t.Action == ActionError || t.Action == ActionSearchErrors)
	if t.Criterion != CriterionErrors && !searchError {
		return nil, false
	}
	var wire Error
	if err := json.Unmarshal(e.Value, &wire); err != nil || wire.Code == "" {
		return nil, false
	}
	if wire.Status == 0 {
		wire.Status = e.Status
	}
	return &wire, true
}

// The helpers below walk JSON that jsonsyntax.Valid has accepted, so they
// need not check syntax: they only find where values start and end. This is
// several times faster than json.Decoder's token API on the hot path of
// every command, reply and event.

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// skipString returns the index after the string starting at data[i] == '"'.
func skipString(data []byte, i int) int {
	for i++; i < len(data); i++ {
		switch data[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return i
}

// skipValue returns the index after the value starting at data[i].
func skipValue(data []byte, i int) int {
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for i < len(data) {
			switch data[i] {
			case '"':
				i = skipString(data, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	default:
		for i < len(data) {
			switch c := data[i]; {
			case c == ',' || c == '}' || c == ']' || isSpace(c):
				return i
			}
			i++
		}
		return i
	}
}

// eachMember calls fn with the raw key (quotes included) and raw value of
// each member of the valid JSON object starting at data[i] == '{'.
func eachMember(data []byte, i int, fn func(key, value []byte) error) error {
	i = skipSpace(data, i+1)
	for i < len(data) && data[i] != '}' {
		ks := i
		i = skipString(data, i)
		key := data[ks:i]
		i = skipSpace(data, i)
		i = skipSpace(data, i+1) // ':'
		vs := i
		i = skipValue(data, i)
		if err := fn(key, data[vs:i]); err != nil {
			return err
		}
		i = skipSpace(data, i)
		if i < len(data) && data[i] == ',' {
			i = skipSpace(data, i+1)
		}
	}
	return nil
}

// unquote returns the string a valid JSON string literal holds. Invalid
// UTF-8 becomes U+FFFD, as encoding/json does.
func unquote(lit []byte) string {
	body := lit[1 : len(lit)-1]
	if bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body)
	}
	var s string
	if err := json.Unmarshal(lit, &s); err != nil {
		return string(body)
	}
	return s
}

// hasInsignificantSpace reports whether valid JSON has white space outside
// its strings, which compacting would remove.
func hasInsignificantSpace(data []byte) bool {
	for i := 0; i < len(data); i++ {
		switch c := data[i]; {
		case c == '"':
			i = skipString(data, i) - 1
		case isSpace(c):
			return true
		}
	}
	return false
}

// compact returns a copy of valid JSON without insignificant white space.
func compact(raw []byte) json.RawMessage {
	if !hasInsignificantSpace(raw) {
		// Already compact: share the input (capacity clipped, so an
		// append to the value cannot write into the rest of it).
		return raw[:len(raw):len(raw)]
	}
	var buf bytes.Buffer
	buf.Grow(len(raw))
	if err := json.Compact(&buf, raw); err != nil {
		return bytes.Clone(raw)
	}
	return buf.Bytes()
}
