package dittoconf

import (
	"strings"
	"unicode"
)

// Mask is what a secret is shown as.
const Mask = "***"

// secretWords are the parts of a key that make its value a secret
// wherever they appear in it (devops.password, statusPassword,
// client-secret, access-token, credentials).
var secretWords = []string{"password", "passwd", "secret", "token", "credentials"}

// IsSecret reports whether a key (the last part of a path, or an
// environment variable name) holds a secret: it contains password,
// passwd, secret, token or credentials, or has key or keys as a word of
// its own (private-key, symmetrical-key, apiKey, AWS_ACCESS_KEY, but not
// keep or keystore-type).
func IsSecret(key string) bool {
	lower := strings.ToLower(key)
	for _, w := range secretWords {
		if strings.Contains(lower, w) {
			return true
		}
	}
	for _, w := range words(key) {
		if w == "key" || w == "keys" {
			return true
		}
	}
	return false
}

// words splits a key into lower-case words at every character that is
// not a letter or digit and where camelCase starts a new word.
func words(key string) []string {
	var out []string
	var cur strings.Builder
	var prev rune
	flush := func() {
		if cur.Len() > 0 {
			out = append(out, strings.ToLower(cur.String()))
			cur.Reset()
		}
	}
	for _, r := range key {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
		case unicode.IsUpper(r) && unicode.IsLower(prev):
			flush()
			cur.WriteRune(r)
		default:
			cur.WriteRune(r)
		}
		prev = r
	}
	flush()
	return out
}

// Masked returns a copy of t to print or return: the value of every
// secret key (see IsSecret) that is set, whatever its type, is Mask, and
// the password in any URI (mongodb://user:password@host) is Mask too.
// An empty or null secret stays as it is: that it is unset is no secret.
func (t *Tree) Masked() *Tree {
	return &Tree{root: maskValue("", t.Root()).(map[string]any)}
}

// MaskValue is the value of key as Masked shows it.
func MaskValue(key string, v any) any { return maskValue(key, clone(v)) }

// maskValue masks v, the value of key, in place.
func maskValue(key string, v any) any {
	if key != "" && IsSecret(key) && v != nil && v != "" {
		return Mask
	}
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = maskValue(k, e)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = maskValue("", e)
		}
		return v
	case string:
		return MaskURI(v)
	}
	return v
}

// MaskURI replaces the password of every URI in s that has one
// (scheme://user:password@host...) with Mask.
func MaskURI(s string) string {
	if !strings.Contains(s, "://") {
		return s
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "://")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i+3])
		s = s[i+3:]
		// The authority ends at the first '/', '?', '#' or whitespace;
		// the user information before its last '@'.
		end := strings.IndexAny(s, "/?# \t\n\"'")
		if end < 0 {
			end = len(s)
		}
		auth := s[:end]
		if at := strings.LastIndexByte(auth, '@'); at >= 0 {
			if colon := strings.IndexByte(auth[:at], ':'); colon >= 0 {
				b.WriteString(auth[:colon+1])
				b.WriteString(Mask)
				b.WriteString(auth[at:])
				s = s[end:]
				continue
			}
		}
		b.WriteString(auth)
		s = s[end:]
	}
}

// MaskEnv is how the environment variable name=value is shown: a secret
// (see IsSecret) as Mask, a JVM options variable with its secret -D
// properties masked, any other with the passwords of its URIs masked.
func MaskEnv(name, value string) string {
	switch {
	case value == "":
		return value
	case IsSecret(name):
		return Mask
	case name == "JAVA_TOOL_OPTIONS" || name == "DITTO_OPTS" || name == "JAVA_OPTS" || name == "JDK_JAVA_OPTIONS":
		return MaskOptions(value)
	}
	return MaskURI(value)
}

// MaskOptions masks the secret -D properties of a JVM options string
// (-Dditto.gateway.authentication.devops.password=***) and the passwords
// of URIs in the rest. A string that cannot be split is masked whole.
func MaskOptions(s string) string {
	opts, err := SplitOptions(s)
	if err != nil {
		return Mask
	}
	for i, o := range opts {
		opts[i] = MaskOption(o)
	}
	return strings.Join(opts, " ")
}

// MaskOption masks one JVM option: the value of a -D property whose last
// key is a secret, and the password of a URI.
func MaskOption(o string) string {
	if rest, ok := strings.CutPrefix(o, "-D"); ok {
		if key, value, ok := strings.Cut(rest, "="); ok {
			last := key[strings.LastIndexByte(key, '.')+1:]
			if value != "" && IsSecret(last) {
				return "-D" + key + "=" + Mask
			}
		}
	}
	return MaskURI(o)
}
