package jsonv

import "github.com/dittonats/dittonats/protocol/internal/jsonsyntax"

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
		return jsonsyntax.AppendString(dst, v.text())
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
			dst = jsonsyntax.AppendString(dst, m.Key)
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
