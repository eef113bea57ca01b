package policies

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

// A subject's announcement, as Ditto's SubjectAnnouncement has it:
//
//	"announcement": {"beforeExpiry": "1h", "whenDeleted": true,
//	  "requestedAcks": {"labels": ["conn:ack"], "timeout": "10s"},
//	  "randomizationInterval": "5m"}
//
// Stored in Ditto's canonical form (its toJson): beforeExpiry when given,
// rounded up to the announcement granularity; whenDeleted always;
// requestedAcks/labels when there are any; requestedAcks/timeout and
// randomizationInterval when given.
const (
	fieldBeforeExpiry          = "beforeExpiry"
	fieldWhenDeleted           = "whenDeleted"
	fieldRequestedAcks         = "requestedAcks"
	fieldLabels                = "labels"
	fieldTimeout               = "timeout"
	fieldRandomizationInterval = "randomizationInterval"
)

// announcement is a parsed, canonical subject announcement.
type announcement struct {
	// before is beforeExpiry; 0 with hasBefore false when not given.
	before    time.Duration
	hasBefore bool
	// whenDeleted asks for an announcement when the subject is deleted
	// (by expiry or by a change of the policy) and none was acknowledged.
	whenDeleted bool
	labels      []string
	// timeout is requestedAcks/timeout, 0 when not given.
	timeout time.Duration
	// randomization is randomizationInterval; hasRandomization false when
	// not given (the configured default applies).
	randomization    time.Duration
	hasRandomization bool
}

// dittoDuration is a duration in Ditto's DittoDuration syntax: an amount
// and a unit suffix; no suffix means seconds.
type dittoDuration struct {
	amount int64
	suffix string
	unit   time.Duration
}

func (d dittoDuration) String() string { return strconv.FormatInt(d.amount, 10) + d.suffix }

func (d dittoDuration) duration() time.Duration {
	if d.amount > int64(math.MaxInt64/d.unit) {
		return time.Duration(math.MaxInt64)
	}
	return time.Duration(d.amount) * d.unit
}

// dittoUnits are DittoDuration's units in the order Ditto tries them
// (DittoTimeUnit); months and years have Java's average lengths.
var dittoUnits = []struct {
	suffix string
	unit   time.Duration
}{
	{"s", time.Second}, {"", time.Second}, {"ms", time.Millisecond}, {"m", time.Minute},
	{"h", time.Hour}, {"d", 24 * time.Hour}, {"w", 7 * 24 * time.Hour},
	{"mo", 2629746 * time.Second}, {"y", 31556952 * time.Second},
}

// parseDittoDuration reads s as DittoDuration.parseDuration does: the
// first unit whose "[+-]digits<suffix>" pattern matches decides. Negative
// amounts are refused, as DittoDuration refuses them.
func parseDittoDuration(s string) (dittoDuration, bool) {
	for _, u := range dittoUnits {
		amount, ok := strings.CutSuffix(s, u.suffix)
		if !ok || !signedDigits(amount) {
			continue
		}
		n, err := strconv.ParseInt(amount, 10, 64)
		if err != nil || n < 0 {
			return dittoDuration{}, false
		}
		return dittoDuration{amount: n, suffix: u.suffix, unit: u.unit}, true
	}
	return dittoDuration{}, false
}

func signedDigits(s string) bool {
	if s != "" && (s[0] == '+' || s[0] == '-') {
		s = s[1:]
	}
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// errAnnouncementInvalid is Ditto's SubjectAnnouncementInvalidException.
func errAnnouncementInvalid(value string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "policies:subjectannouncement.invalid",
		fmt.Sprintf("The 'beforeExpiry' duration '%s' is not valid.", value),
		"It must be a positive integer followed by 'h' (hours), 'm' (minutes) or 's' (seconds).")
}

// normalizeAnnouncement validates a subject's announcement as Ditto's
// ImmutableSubjectAnnouncement.fromJson parses it and returns its
// canonical form, beforeExpiry rounded up to granularity as Ditto's policy
// strategies round it (roundSubjectAnnouncement).
func normalizeAnnouncement(a jsonv.Value, granularity time.Duration) (jsonv.Value, error) {
	before, hasBefore := a.Get(fieldBeforeExpiry)
	var beforeStr string
	if hasBefore {
		s, ok := before.Str()
		if !ok {
			return jsonv.Value{}, errWrongType(before.String(), "/"+fieldBeforeExpiry, "String")
		}
		beforeStr = s
	}
	whenDeleted := false
	if w, ok := a.Get(fieldWhenDeleted); ok {
		b, isBool := w.Bool()
		if !isBool {
			return jsonv.Value{}, errWrongType(w.String(), "/"+fieldWhenDeleted, "Boolean")
		}
		whenDeleted = b
	}
	var labels []jsonv.Value
	var timeout jsonv.Value
	hasTimeout := false
	if ra, ok := a.Get(fieldRequestedAcks); ok && ra.Kind() == jsonv.KindObject {
		if l, ok := ra.Get(fieldLabels); ok {
			if l.Kind() != jsonv.KindArray {
				return jsonv.Value{}, errWrongType(l.String(), "/"+fieldRequestedAcks+"/"+fieldLabels, "JsonArray")
			}
			// Ditto reads the string members as acknowledgement requests
			// and skips the others.
			for _, m := range l.Elements() {
				s, isStr := m.Str()
				if !isStr {
					continue
				}
				if !protocol.ValidAckLabel(s) {
					return jsonv.Value{}, protocol.ErrAckLabelInvalid(s)
				}
				labels = append(labels, jsonv.String(s))
			}
		}
		if t, ok := ra.Get(fieldTimeout); ok {
			s, isStr := t.Str()
			if !isStr {
				return jsonv.Value{}, errWrongType(t.String(), "/"+fieldRequestedAcks+"/"+fieldTimeout, "String")
			}
			d, ok := parseDittoDuration(s)
			if !ok {
				return jsonv.Value{}, errAnnouncementInvalid(s)
			}
			timeout, hasTimeout = jsonv.String(d.String()), true
		}
	}
	var random jsonv.Value
	hasRandom := false
	if r, ok := a.Get(fieldRandomizationInterval); ok {
		s, isStr := r.Str()
		if !isStr {
			return jsonv.Value{}, errWrongType(r.String(), "/"+fieldRandomizationInterval, "String")
		}
		d, ok := parseDittoDuration(s)
		if !ok {
			return jsonv.Value{}, errAnnouncementInvalid(s)
		}
		random, hasRandom = jsonv.String(d.String()), true
	}
	var out []jsonv.Member
	if hasBefore {
		d, ok := parseDittoDuration(beforeStr)
		// Ditto allows seconds, minutes and hours only.
		if !ok || (d.unit != time.Second && d.unit != time.Minute && d.unit != time.Hour) {
			return jsonv.Value{}, errAnnouncementInvalid(beforeStr)
		}
		out = append(out, jsonv.Member{Key: fieldBeforeExpiry, Value: jsonv.String(roundBeforeExpiry(d, granularity).String())})
	}
	out = append(out, jsonv.Member{Key: fieldWhenDeleted, Value: jsonv.Bool(whenDeleted)})
	if len(labels) > 0 || hasTimeout {
		var ra []jsonv.Member
		if len(labels) > 0 {
			ra = append(ra, jsonv.Member{Key: fieldLabels, Value: jsonv.Array(labels...)})
		}
		if hasTimeout {
			ra = append(ra, jsonv.Member{Key: fieldTimeout, Value: timeout})
		}
		out = append(out, jsonv.Member{Key: fieldRequestedAcks, Value: jsonv.Object(ra...)})
	}
	if hasRandom {
		out = append(out, jsonv.Member{Key: fieldRandomizationInterval, Value: random})
	}
	return jsonv.Object(out...), nil
}

// roundBeforeExpiry rounds d up to a multiple of granularity, in d's own
// unit, as Ditto's roundUpDuration and DittoDuration.setAmount do: at
// least one granularity and at least one unit.
func roundBeforeExpiry(d dittoDuration, granularity time.Duration) dittoDuration {
	g := max(int64(granularity/time.Millisecond), 1)
	ms := max(int64(d.duration()/time.Millisecond), g)
	rounded := ((ms + g - 1) / g) * g
	d.amount = max(1, rounded/int64(d.unit/time.Millisecond))
	return d
}

// parseAnnouncement reads a stored (canonical) announcement.
func parseAnnouncement(a jsonv.Value) announcement {
	var out announcement
	if s, ok := a.Get(fieldBeforeExpiry); ok {
		if str, ok := s.Str(); ok {
			if d, ok := parseDittoDuration(str); ok {
				out.before, out.hasBefore = d.duration(), true
			}
		}
	}
	if w, ok := a.Get(fieldWhenDeleted); ok {
		out.whenDeleted, _ = w.Bool()
	}
	if ra, ok := a.Get(fieldRequestedAcks); ok {
		if l, ok := ra.Get(fieldLabels); ok {
			for _, m := range l.Elements() {
				if s, ok := m.Str(); ok {
					out.labels = append(out.labels, s)
				}
			}
		}
		if t, ok := ra.Get(fieldTimeout); ok {
			if s, ok := t.Str(); ok {
				if d, ok := parseDittoDuration(s); ok {
					out.timeout = d.duration()
				}
			}
		}
	}
	if r, ok := a.Get(fieldRandomizationInterval); ok {
		if s, ok := r.Str(); ok {
			if d, ok := parseDittoDuration(s); ok {
				out.randomization, out.hasRandomization = d.duration(), true
			}
		}
	}
	return out
}
