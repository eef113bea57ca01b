package jsonv

import "unicode/utf8"

// AppendJSON appends v as compact JSON to dst and returns the extended slice.
//
// Escaping follows Ditto's JsonCharEscaper: '"' and '\\' are escaped, control
// characters use \b \f \n \r \t or \u00XX (upper-case hex), and everything
// else, '/', DEL and non-ASCII included, is written as is. Invalid UTF-8
// (only possible in Values built with String or keys given to Object) is
// written as U+FFFD so the output is always valid JSON. Numbers are written
// with their literal text.
func (v Value) AppendJSON(dst []byte) []byte {
	switch v.k {
	case KindNull:
		return append(dst, "null"...)
	case KindBool:
		if v.n == 1 {
			return append(dst, "true"...)
		}
		return append(dst, "false"...)
	case KindNumber:
		return append(dst, v.text()...)
	case KindString:
		if v.f&flagPlain != 0 {
			dst = append(dst, '"')
			dst = append(dst, v.text()...)
			return append(dst, '"')
		}
		return appendString(dst, v.text())
	case KindArray:
		dst = append(dst, '[')
		for i, e := range v.Elements() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = e.AppendJSON(dst)
		}
		return append(dst, ']')
	case KindObject:
		dst = append(dst, '{')
		for i, m := range v.Members() {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendString(dst, m.Key)
			dst = append(dst, ':')
			dst = m.Value.AppendJSON(dst)
		}
		return append(dst, '}')
	}
	return dst
}

// MarshalJSON implements json.Marshaler.
func (v Value) MarshalJSON() ([]byte, error) {
	return v.AppendJSON(nil), nil
}

const hexDigits = "0123456789ABCDEF"

// appendString appends s as a quoted JSON string, copying unescaped runs in
// one go.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	run := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r != utf8.RuneError || size != 1 {
				i += size
				continue
			}
			dst = append(dst, s[run:i]...)
			dst = append(dst, "\uFFFD"...)
			i++
			run = i
			continue
		}
		dst = append(dst, s[run:i]...)
		switch c {
		case '"':
			dst = append(dst, '\\', '"')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\b':
			dst = append(dst, '\\', 'b')
		case '\f':
			dst = append(dst, '\\', 'f')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		run = i
	}
	dst = append(dst, s[run:]...)
	return append(dst, '"')
}
