package policies

import (
	"fmt"
	"net/http"
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
			d, ok := protocol.ParseDittoDuration(s)
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
		d, ok := protocol.ParseDittoDuration(s)
		if !ok {
			return jsonv.Value{}, errAnnouncementInvalid(s)
		}
		random, hasRandom = jsonv.String(d.String()), true
	}
	var out []jsonv.Member
	if hasBefore {
		d, ok := protocol.ParseDittoDuration(beforeStr)
		// Ditto allows seconds, minutes and hours only.
		if !ok || (d.Unit != time.Second && d.Unit != time.Minute && d.Unit != time.Hour) {
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
func roundBeforeExpiry(d protocol.DittoDuration, granularity time.Duration) protocol.DittoDuration {
	g := max(int64(granularity/time.Millisecond), 1)
	ms := max(int64(d.Duration()/time.Millisecond), g)
	rounded := ((ms + g - 1) / g) * g
	d.Amount = max(1, rounded/int64(d.Unit/time.Millisecond))
	return d
}

// parseAnnouncement reads a stored (canonical) announcement.
func parseAnnouncement(a jsonv.Value) announcement {
	var out announcement
	if s, ok := a.Get(fieldBeforeExpiry); ok {
		if str, ok := s.Str(); ok {
			if d, ok := protocol.ParseDittoDuration(str); ok {
				out.before, out.hasBefore = d.Duration(), true
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
				if d, ok := protocol.ParseDittoDuration(s); ok {
					out.timeout = d.Duration()
				}
			}
		}
	}
	if r, ok := a.Get(fieldRandomizationInterval); ok {
		if s, ok := r.Str(); ok {
			if d, ok := protocol.ParseDittoDuration(s); ok {
				out.randomization, out.hasRandomization = d.Duration(), true
			}
		}
	}
	return out
}
