package logging

import (
	"log/slog"
	"net/http"
	"reflect"
	"strings"
)

// Redacted is what a redacted value is written as, as Ditto writes it.
const Redacted = "***"

// KeyCorrelationID is the attribute key of a request's correlation id: the
// name of Ditto's header and of its MDC field in logback's layouts.
const KeyCorrelationID = "correlation-id"

// CorrelationID is the attribute carrying a request's correlation id.
func CorrelationID(id string) slog.Attr { return slog.String(KeyCorrelationID, id) }

// redactor knows the header names whose values are never logged. The zero
// value redacts nothing. Immutable after newRedactor.
type redactor struct {
	names map[string]bool // lower case
}

func newRedactor(names []string) redactor {
	r := redactor{names: make(map[string]bool, len(names))}
	for _, n := range names {
		if n = strings.ToLower(strings.TrimSpace(n)); n != "" {
			r.names[n] = true
		}
	}
	return r
}

// redacts reports whether an attribute key names a redacted header (any
// case).
func (r redactor) redacts(key string) bool {
	if len(r.names) == 0 {
		return false
	}
	if r.names[key] {
		return true
	}
	return r.names[strings.ToLower(key)]
}

// attr returns a with its value redacted when its key is a redacted
// header name, or, for a map of headers (http.Header, protocol.Headers,
// any map with string keys), a copy with the redacted entries' values
// replaced.
func (r redactor) attr(a slog.Attr) slog.Attr {
	if r.redacts(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	if a.Value.Kind() == slog.KindAny {
		if v, ok := r.mapValue(a.Value.Any()); ok {
			return slog.Any(a.Key, v)
		}
	}
	return a
}

// mapValue returns a copy of a map with string keys in which the values
// of redacted keys are Redacted; ok is false when v is no such map or has
// no such key (then it is logged as it is).
func (r redactor) mapValue(v any) (any, bool) {
	if len(r.names) == 0 || v == nil {
		return nil, false
	}
	switch h := v.(type) {
	case http.Header:
		return r.header(h)
	case map[string]string:
		return redactMap(r, h, Redacted)
	case map[string][]string:
		return redactMap(r, h, []string{Redacted})
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Map || rv.Type().Key().Kind() != reflect.String {
		return nil, false
	}
	found := false
	for _, k := range rv.MapKeys() {
		if r.redacts(k.String()) {
			found = true
			break
		}
	}
	if !found {
		return nil, false
	}
	out := make(map[string]any, rv.Len())
	for it := rv.MapRange(); it.Next(); {
		k := it.Key().String()
		if r.redacts(k) {
			out[k] = Redacted
		} else {
			out[k] = it.Value().Interface()
		}
	}
	return out, true
}

func (r redactor) header(h http.Header) (http.Header, bool) {
	out, ok := redactMap(r, h, []string{Redacted})
	return out, ok
}

func redactMap[M ~map[string]V, V any](r redactor, m M, redacted V) (M, bool) {
	found := false
	for k := range m {
		if r.redacts(k) {
			found = true
			break
		}
	}
	if !found {
		return nil, false
	}
	out := make(M, len(m))
	for k, v := range m {
		if r.redacts(k) {
			out[k] = redacted
		} else {
			out[k] = v
		}
	}
	return out, true
}

// RedactHeaders returns h, or a copy of h in which the values of the
// headers names lists (any case, as DITTO_HEADERS_REDACTED_IN_LOG) are
// "***", for a caller that writes headers somewhere other than a log
// attribute. The sinks redact header maps logged as attributes
// themselves.
func RedactHeaders(h http.Header, names []string) http.Header {
	if out, ok := newRedactor(names).header(h); ok {
		return out
	}
	return h
}
