package protocol

import (
	"regexp"
	"testing"
)

// ackLabelRegexp is Ditto's AcknowledgementLabels.ACK_LABEL_REGEX, matched
// whole as Java's Matcher.matches does, with Java's \s.
var ackLabelRegexp = regexp.MustCompile(`^(?:\{\{[ \t\n\x0B\f\r]*[a-z]+:[a-z]+[ \t\n\x0B\f\r]*}}:)?[a-zA-Z0-9\-_:]{3,165}$`)

func FuzzValidAckLabel(f *testing.F) {
	for _, s := range []string{"twin-persisted", "ab", "a:b", "{{connection:id}}:ack", "{{ connection:id }}:x", "{{connection}}:abc",
		"{{a:b}}:{{c:d}}:x", "{{\x0bconn:id\x0b}}:abc", "{{\u00a0conn:id}}:abc", "dot.ted", "\u00e4bc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, label string) {
		if got, want := ValidAckLabel(label), ackLabelRegexp.MatchString(label); got != want {
			t.Errorf("ValidAckLabel(%q) = %v, Ditto's regex says %v", label, got, want)
		}
	})
}
