package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
)

// timestampLayout is logstash-logback-encoder's @timestamp: ISO-8601 with
// milliseconds and the zone offset ("Z" in UTC).
const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// Logback's level values, as level_value carries them.
const (
	levelValueTrace = 5000
	levelValueDebug = 10000
	levelValueInfo  = 20000
	levelValueWarn  = 30000
	levelValueError = 40000
)

// logbackLevel names l as logback does, with its level value: a slog
// level between two of logback's is the lower one (INFO+2 is INFO).
func logbackLevel(l slog.Level) (string, int) {
	switch {
	case l < slog.LevelDebug:
		return "TRACE", levelValueTrace
	case l < slog.LevelInfo:
		return "DEBUG", levelValueDebug
	case l < slog.LevelWarn:
		return "INFO", levelValueInfo
	case l < slog.LevelError:
		return "WARN", levelValueWarn
	}
	return "ERROR", levelValueError
}

// standardFields are the fields of the layout that attributes cannot
// replace; an attribute with one of these keys is written as "attr.<key>"
// (except logger_name with a string value, which names the logger).
var standardFields = map[string]bool{
	"@timestamp": true, "@version": true, "message": true, "logger_name": true,
	"thread_name": true, "level": true, "level_value": true,
}

// lineWriter takes one encoded line, newline-terminated. The line is the
// writer's to keep; it must not block on the network.
type lineWriter interface {
	writeLine(line []byte)
}

// jsonOut is one destination of JSON lines with its threshold.
type jsonOut struct {
	w     lineWriter
	level slog.Level
}

// meta is what every line of a process carries besides its record.
// Immutable.
type meta struct {
	loggerName string
	// custom are logback.xml's customFields (appname) and the instance;
	// a record's attribute of the same key replaces them.
	custom []field
	red    redactor
}

// field is one top-level JSON member, its value encoded.
type field struct {
	key string
	val []byte
}

// jsonHandler writes records as JSON lines in logstash-logback-encoder's
// layout: @timestamp, @version, message, logger_name, level, level_value,
// then every attribute as a top-level member, groups flattened with dots
// ("headers.authorization"). A record is encoded once and handed to every
// out whose threshold admits it. Safe for concurrent use: it is immutable
// and each out serializes its own writes.
type jsonHandler struct {
	outs   []jsonOut
	meta   *meta
	prefix string  // the open groups, each followed by a dot
	fields []field // the attributes of WithAttrs, encoded
	// loggerName is a logger_name attribute of WithAttrs, if any.
	loggerName string
}

func (h *jsonHandler) Enabled(_ context.Context, l slog.Level) bool {
	for _, o := range h.outs {
		if l >= o.level {
			return true
		}
	}
	return false
}

func (h *jsonHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	st := &encodeState{fields: append([]field(nil), h.fields...), loggerName: h.loggerName}
	for _, a := range attrs {
		h.appendAttr(st, h.prefix, a)
	}
	h2 := *h
	h2.fields, h2.loggerName = st.fields, st.loggerName
	return &h2
}

func (h *jsonHandler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.prefix = h.prefix + name + "."
	return &h2
}

func (h *jsonHandler) Handle(_ context.Context, rec slog.Record) error {
	line := h.encode(rec)
	for _, o := range h.outs {
		if rec.Level >= o.level {
			o.w.writeLine(line)
		}
	}
	return nil
}

// encodeState collects the members of one line; a later attribute of the
// same key replaces an earlier one (so that no member appears twice).
type encodeState struct {
	fields     []field
	loggerName string
}

func (st *encodeState) set(key string, val []byte) {
	for i := range st.fields {
		if st.fields[i].key == key {
			st.fields[i].val = val
			return
		}
	}
	st.fields = append(st.fields, field{key, val})
}

func (h *jsonHandler) encode(rec slog.Record) []byte {
	st := &encodeState{fields: make([]field, 0, len(h.meta.custom)+len(h.fields)+rec.NumAttrs()), loggerName: h.loggerName}
	st.fields = append(st.fields, h.meta.custom...)
	for _, f := range h.fields {
		st.set(f.key, f.val)
	}
	rec.Attrs(func(a slog.Attr) bool {
		h.appendAttr(st, h.prefix, a)
		return true
	})
	t := rec.Time
	if t.IsZero() {
		t = time.Now()
	}
	loggerName := h.meta.loggerName
	if st.loggerName != "" {
		loggerName = st.loggerName
	}
	level, value := logbackLevel(rec.Level)
	b := make([]byte, 0, 256)
	b = append(b, `{"@timestamp":"`...)
	b = t.AppendFormat(b, timestampLayout)
	b = append(b, `","@version":"1","message":`...)
	b = appendString(b, rec.Message)
	b = append(b, `,"logger_name":`...)
	b = appendString(b, loggerName)
	b = append(b, `,"level":"`...)
	b = append(b, level...)
	b = append(b, `","level_value":`...)
	b = strconv.AppendInt(b, int64(value), 10)
	for _, f := range st.fields {
		b = append(b, ',')
		b = appendString(b, f.key)
		b = append(b, ':')
		b = append(b, f.val...)
	}
	return append(b, "}\n"...)
}

// appendAttr adds a (under the group prefix) to st: a group's members
// flattened, a redacted header's value as "***".
func (h *jsonHandler) appendAttr(st *encodeState, prefix string, a slog.Attr) {
	a.Value = a.Value.Resolve()
	if a.Equal(slog.Attr{}) {
		return
	}
	if h.meta.red.redacts(a.Key) {
		st.set(prefix+a.Key, appendString(nil, Redacted))
		return
	}
	if a.Value.Kind() == slog.KindGroup {
		p := prefix
		if a.Key != "" {
			p = prefix + a.Key + "."
		}
		for _, ga := range a.Value.Group() {
			h.appendAttr(st, p, ga)
		}
		return
	}
	if a.Key == "" {
		return
	}
	key := prefix + a.Key
	if standardFields[key] {
		if key == "logger_name" && a.Value.Kind() == slog.KindString {
			st.loggerName = a.Value.String()
			return
		}
		key = "attr." + key
	}
	st.set(key, h.appendValue(nil, a.Value))
}

// appendValue encodes v as JSON: numbers and booleans as such, durations
// as Go writes them ("1.5s"), times as RFC 3339, errors as their message,
// anything else as encoding/json does (or as %+v if it cannot).
func (h *jsonHandler) appendValue(b []byte, v slog.Value) []byte {
	switch v.Kind() {
	case slog.KindString:
		return appendString(b, v.String())
	case slog.KindInt64:
		return strconv.AppendInt(b, v.Int64(), 10)
	case slog.KindUint64:
		return strconv.AppendUint(b, v.Uint64(), 10)
	case slog.KindFloat64:
		f := v.Float64()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return appendString(b, strconv.FormatFloat(f, 'g', -1, 64))
		}
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	case slog.KindBool:
		return strconv.AppendBool(b, v.Bool())
	case slog.KindDuration:
		return appendString(b, v.Duration().String())
	case slog.KindTime:
		return appendString(b, v.Time().Format(time.RFC3339Nano))
	}
	x := v.Any()
	if m, ok := h.meta.red.mapValue(x); ok {
		x = m
	}
	switch x := x.(type) {
	case nil:
		return append(b, "null"...)
	case error:
		return appendString(b, x.Error())
	case []byte:
		return appendString(b, string(x))
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return appendString(b, fmt.Sprintf("%+v", x))
	}
	return append(b, bytes.TrimRight(buf.Bytes(), "\n")...)
}

// appendString appends s as a JSON string: quotes, backslashes and
// control characters escaped, invalid UTF-8 as U+FFFD, U+2028 and U+2029
// escaped (as encoding/json does, for JavaScript readers).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
