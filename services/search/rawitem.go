package search

// appendWhole appends a stored thing document as a search hit for a caller
// who may read all of it and selected no fields: the document without its
// top-level _created, _modified and _metadata members, byte for byte what
// rendering the parsed document would give. The document is compact JSON
// the index wrote itself; ok is false (and dst unchanged) when it does not
// start with its thingId or is not shaped as expected, and the caller then
// renders it the general way.
func appendWhole(dst []byte, doc string) ([]byte, bool) {
	const head = `{"thingId":`
	if len(doc) < len(head) || doc[:len(head)] != head || doc[len(doc)-1] != '}' {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, '{')
	first := true
	i := 1
	for i < len(doc)-1 {
		keyEnd, ok := skipString(doc, i)
		if !ok || keyEnd >= len(doc) || doc[keyEnd] != ':' {
			return dst[:start], false
		}
		valEnd, ok := skipValue(doc, keyEnd+1)
		if !ok {
			return dst[:start], false
		}
		switch doc[i:keyEnd] {
		case `"_created"`, `"_modified"`, `"_metadata"`:
		default:
			if !first {
				dst = append(dst, ',')
			}
			dst = append(dst, doc[i:valEnd]...)
			first = false
		}
		i = valEnd
		switch {
		case i < len(doc)-1 && doc[i] == ',':
			i++
		case i != len(doc)-1:
			return dst[:start], false
		}
	}
	return append(dst, '}'), true
}

// skipString returns the index just after the JSON string starting at i.
func skipString(b string, i int) (int, bool) {
	if i >= len(b) || b[i] != '"' {
		return 0, false
	}
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1, true
		}
	}
	return 0, false
}

// skipValue returns the index just after the compact JSON value starting
// at i: a string, or everything up to the ',' or '}' or ']' that ends it
// at its own depth (strings inside skipped whole).
func skipValue(b string, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	if b[i] == '"' {
		return skipString(b, i)
	}
	depth := 0
	for i < len(b) {
		switch c := b[i]; c {
		case '"':
			end, ok := skipString(b, i)
			if !ok {
				return 0, false
			}
			i = end
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i, true
			}
			depth--
			if depth == 0 {
				return i + 1, true
			}
		case ',':
			if depth == 0 {
				return i, true
			}
		}
		i++
	}
	return 0, false
}
