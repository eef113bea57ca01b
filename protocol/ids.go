package protocol

import (
	"strings"
	"unicode/utf8"
)

// MaxEntityIDLength is the longest entity id Ditto accepts, counted as Java
// counts string length: in UTF-16 code units (AbstractPatternValidator).
const MaxEntityIDLength = 256

// ValidateThingID returns Ditto's things:id.invalid error when id is not a
// valid namespaced entity id.
func ValidateThingID(id string) error {
	if !ValidEntityID(id) {
		return ErrThingIDInvalid(id)
	}
	return nil
}

// ValidatePolicyID returns Ditto's policies:id.invalid error when id is not
// a valid namespaced entity id.
func ValidatePolicyID(id string) error {
	if !ValidEntityID(id) {
		return ErrPolicyIDInvalid(id)
	}
	return nil
}

// ValidEntityID reports whether id is a namespaced entity id as Ditto's
// RegexPatterns.ID_REGEX and its length limit define it:
// namespace ":" name, where the namespace may be empty (see
// ValidateNamespace) and the name is not (see ValidEntityName), at most
// MaxEntityIDLength UTF-16 code units long.
func ValidEntityID(id string) bool {
	ns, name, ok := strings.Cut(id, ":")
	return ok && ValidateNamespace(ns) && ValidEntityName(name) && utf16Len(id) <= MaxEntityIDLength
}

// ValidateNamespace reports whether ns matches Ditto's namespace pattern
// |[a-zA-Z]\w*([.-][a-zA-Z]\w*)* where \w is [a-zA-Z0-9_] (Java's \w
// without the UNICODE_CHARACTER_CLASS flag). The empty namespace is valid.
func ValidateNamespace(ns string) bool {
	// Each part after a '.' or '-' starts with a letter; so does the first.
	wantLetter := true
	for i := 0; i < len(ns); i++ {
		c := ns[i]
		switch {
		case isASCIILetter(c):
			wantLetter = false
		case wantLetter:
			return false
		case c == '_' || (c >= '0' && c <= '9'):
		case c == '.' || c == '-':
			wantLetter = true
		default:
			return false
		}
	}
	return !wantLetter || ns == ""
}

// ValidEntityName reports whether name is a valid entity name: not empty,
// no '/', and none of the characters Ditto's pattern excludes, which are
// U+0000-U+001F and U+007F-U+00FF. Ditto applies that pattern to Java's
// UTF-16 chars; every rune above U+00FF (including those outside the BMP,
// whose surrogates are above U+00FF too) is therefore allowed, and so are
// multi-byte UTF-8 encodings of them. Invalid UTF-8 is rejected: Java
// strings cannot hold it, so such a name could not round-trip through JSON.
func ValidEntityName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == 0x7F || c == '/' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(name[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		if r <= 0xFF {
			return false
		}
		i += size
	}
	return true
}

// SplitID splits an entity id at its first ':' into namespace and name. An id
// without ':' is returned as a name in the empty namespace; validate ids
// before splitting them.
func SplitID(id string) (namespace, name string) {
	ns, n, ok := strings.Cut(id, ":")
	if !ok {
		return "", id
	}
	return ns, n
}

// JoinID returns the entity id namespace:name.
func JoinID(namespace, name string) string {
	return namespace + ":" + name
}

func isASCIILetter(c byte) bool {
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// utf16Len returns the length of s in UTF-16 code units, Java's
// String.length(). Invalid UTF-8 bytes count one each.
func utf16Len(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n++
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
		i += size
	}
	return n
}
