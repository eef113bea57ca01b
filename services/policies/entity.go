package policies

import (
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/etag"
)

// This file is the policy model as pure functions over jsonv values: it
// validates command payloads the way Ditto's policy model parses them and
// renders them in Ditto's canonical form (the form Ditto's toJson writes),
// decides the lockout rule and computes entity tags. Nothing here does I/O.

// Field names of Ditto's policy JSON.
const (
	fieldPolicyID         = "policyId"
	fieldImports          = "imports"
	fieldEntries          = "entries"
	fieldSubjects         = "subjects"
	fieldResources        = "resources"
	fieldNamespaces       = "namespaces"
	fieldImportable       = "importable"
	fieldAllowedAdditions = "allowedAdditions"
	fieldReferences       = "references"
	fieldType             = "type"
	fieldExpiry           = "expiry"
	fieldAnnouncement     = "announcement"
	fieldGrant            = "grant"
	fieldRevoke           = "revoke"

	// schemaVersionKey is the member Ditto's JSON carries for its schema
	// version; Ditto skips it wherever it reads a map of entries, subjects or
	// resources, so a payload copied from Ditto's own output parses.
	schemaVersionKey = "__schemaVersion"
)

// Special fields of a policy, written only when a field selector asks.
const (
	fieldRevision  = "_revision"
	fieldModified  = "_modified"
	fieldCreated   = "_created"
	fieldNamespace = "_namespace"
)

// rootResourceKey is the resource the lockout rule is about.
const rootResourceKey = "policy:/"

// permWrite is the permission the lockout rule requires on rootResourceKey.
const permWrite = "WRITE"

// maxIDLength is Ditto's AbstractPatternValidator limit, in UTF-16 units.
const maxIDLength = 256

// Reasons Ditto's pattern validators give.
const (
	reasonTooLong          = "Not allowed to exceed length of 256."
	reasonNoControlChars   = "No control characters are allowed."
	reasonNoSlashesOrCtrls = "Neither slashes nor any control characters are allowed."
)

// normalizer turns command payloads into Ditto's canonical policy JSON. It
// rounds subject expiries up to the configured granularity, as Ditto's
// policy strategies do, and rejects expiries that are already past.
type normalizer struct {
	now         time.Time
	granularity time.Duration
	// announcementGranularity is what announcements' beforeExpiry is
	// rounded up to (POLICY_SUBJECT_DELETION_ANNOUNCEMENT_GRANULARITY).
	announcementGranularity time.Duration
	maxImports              int // LIMITS_POLICIES_MAX_IMPORTS; 0: none
}

// policy validates a whole policy for id and returns its canonical form:
// policyId, then entries. A policyId in v must equal id.
func (n normalizer) policy(v jsonv.Value, id string) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, errNotAnObject(v.String())
	}
	if pid, ok := v.Get(fieldPolicyID); ok {
		if s, isStr := pid.Str(); !isStr || s != id {
			return jsonv.Value{}, protocol.ErrPolicyIDNotSettable()
		}
	}
	imports := jsonv.Object()
	if imp, ok := v.Get(fieldImports); ok {
		var err error
		if imports, err = n.imports(imp, id); err != nil {
			return jsonv.Value{}, err
		}
	}
	entries := jsonv.Object()
	if e, ok := v.Get(fieldEntries); ok {
		if e.Kind() != jsonv.KindObject {
			return jsonv.Value{}, errWrongType(e.String(), "/"+fieldEntries, "JsonObject")
		}
		var err error
		if entries, err = n.entries(e, errNestedNotAnObject); err != nil {
			return jsonv.Value{}, err
		}
	}
	return jsonv.Object(
		jsonv.Member{Key: fieldPolicyID, Value: jsonv.String(id)},
		jsonv.Member{Key: fieldImports, Value: imports},
		jsonv.Member{Key: fieldEntries, Value: entries},
	), nil
}

// withImports returns policy with its imports, "{}" when it has none:
// Ditto's policy JSON always carries them (ImmutablePolicy.toJson), and
// clients rely on that (Ditto's explorer UI fails on a policy without
// them). Policies stored before this service wrote them lack the member;
// it goes after policyId, where Ditto writes it.
func withImports(policy jsonv.Value) jsonv.Value {
	if _, ok := policy.Get(fieldImports); ok || policy.Kind() != jsonv.KindObject {
		return policy
	}
	ms := policy.Members()
	at := len(ms) // after policyId, else before entries, else last
	for i, m := range ms {
		if m.Key == fieldPolicyID {
			at = i + 1
			break
		}
		if m.Key == fieldEntries && at == len(ms) {
			at = i
		}
	}
	members := make([]jsonv.Member, 0, len(ms)+1)
	members = append(members, ms[:at]...)
	members = append(members, jsonv.Member{Key: fieldImports, Value: jsonv.Object()})
	members = append(members, ms[at:]...)
	return jsonv.Object(members...)
}

// entries validates a map of label to entry. notObject builds the error for
// an entry that is not an object (Ditto words it differently for a policy
// body and for a PUT of /entries).
func (n normalizer) entries(v jsonv.Value, notObject func(string) *protocol.Error) (jsonv.Value, error) {
	return canonicalMap(v, func(label string, e jsonv.Value) (string, jsonv.Value, error) {
		if e.Kind() != jsonv.KindObject {
			return "", jsonv.Value{}, notObject(e.String())
		}
		e, err := n.entry(label, e)
		return label, e, err
	})
}

// canonicalMap validates a JSON object of named members (entries, subjects,
// resources): fn returns each member's canonical key and value; Ditto's
// schema version member is dropped.
func canonicalMap(v jsonv.Value, fn func(key string, v jsonv.Value) (string, jsonv.Value, error)) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, errNotAnObject(v.String())
	}
	out := make([]jsonv.Member, 0, v.Len())
	for _, m := range v.Members() {
		if m.Key == schemaVersionKey {
			continue
		}
		key, val, err := fn(m.Key, m.Value)
		if err != nil {
			return jsonv.Value{}, err
		}
		out = append(out, jsonv.Member{Key: key, Value: val})
	}
	return jsonv.Object(out...), nil
}

// entry validates the entry labelled label and returns its canonical form:
// subjects, resources, then the optional namespaces, importable and
// allowedAdditions as given.
func (n normalizer) entry(label string, v jsonv.Value) (jsonv.Value, error) {
	if err := validateLabel(label); err != nil {
		return jsonv.Value{}, err
	}
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, errNotAnObject(v.String())
	}
	subjects, resources := jsonv.Object(), jsonv.Object()
	if s, ok := v.Get(fieldSubjects); ok {
		if s.Kind() != jsonv.KindObject {
			return jsonv.Value{}, errWrongType(s.String(), "/"+fieldSubjects, "JsonObject")
		}
		var err error
		if subjects, err = n.subjects(s); err != nil {
			return jsonv.Value{}, err
		}
	}
	if r, ok := v.Get(fieldResources); ok {
		if r.Kind() != jsonv.KindObject {
			return jsonv.Value{}, errWrongType(r.String(), "/"+fieldResources, "JsonObject")
		}
		var err error
		if resources, err = canonicalResources(r); err != nil {
			return jsonv.Value{}, err
		}
	}
	out := []jsonv.Member{{Key: fieldSubjects, Value: subjects}, {Key: fieldResources, Value: resources}}
	if ns, ok := v.Get(fieldNamespaces); ok {
		patterns, err := namespacePatterns(ns)
		if err != nil {
			return jsonv.Value{}, err
		}
		out = append(out, jsonv.Member{Key: fieldNamespaces, Value: patterns})
	}
	if imp, ok := v.Get(fieldImportable); ok {
		s, isStr := imp.Str()
		if !isStr {
			return jsonv.Value{}, errWrongType(imp.String(), "/"+fieldImportable, "String")
		}
		if s != "implicit" && s != "explicit" && s != "never" {
			return jsonv.Value{}, protocol.ErrPolicyEntryInvalidMessage("The Policy Entry is invalid.",
				fmt.Sprintf("The value '%s' of field '/importable' is not valid. Valid values are: [implicit, explicit, never]", s))
		}
		out = append(out, jsonv.Member{Key: fieldImportable, Value: imp})
	}
	if add, ok := v.Get(fieldAllowedAdditions); ok {
		additions, err := allowedAdditions(add)
		if err != nil {
			return jsonv.Value{}, err
		}
		out = append(out, jsonv.Member{Key: fieldAllowedAdditions, Value: additions})
	}
	if refs, ok := v.Get(fieldReferences); ok {
		refs, err := references(refs)
		if err != nil {
			return jsonv.Value{}, err
		}
		if refs.Len() > 0 { // Ditto writes no empty references
			out = append(out, jsonv.Member{Key: fieldReferences, Value: refs})
		}
	}
	return jsonv.Object(out...), nil
}

// namespacePatterns validates an entry's namespaces (Ditto's
// PolicyEntryNamespaces) and drops repeated patterns, keeping the first.
func namespacePatterns(v jsonv.Value) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindArray {
		return jsonv.Value{}, errWrongType(v.String(), "/"+fieldNamespaces, "JsonArray")
	}
	var out []jsonv.Value
	var seen []string
	for _, e := range v.Elements() {
		s, ok := e.Str()
		if !ok {
			return jsonv.Value{}, protocol.ErrPolicyEntryInvalidMessage("The Policy Entry is invalid.",
				fmt.Sprintf("The 'namespaces' array must only contain string values, but contained: %s.", clip(e.String())))
		}
		if !validNamespacePattern(s) {
			return jsonv.Value{}, protocol.ErrPolicyEntryInvalidMessage("The Policy Entry is invalid.",
				fmt.Sprintf("The value '%s' is not a valid namespace pattern. Valid patterns are namespaces like 'com.acme' or wildcard patterns like 'com.acme.*'.", s))
		}
		if !slices.Contains(seen, s) {
			seen = append(seen, s)
			out = append(out, e)
		}
	}
	return jsonv.Array(out...), nil
}

// validNamespacePattern reports whether s is a namespace or a namespace
// followed by ".*".
func validNamespacePattern(s string) bool {
	if s == "" {
		return false
	}
	if prefix, ok := strings.CutSuffix(s, ".*"); ok {
		return prefix != "" && protocol.ValidateNamespace(prefix)
	}
	return protocol.ValidateNamespace(s)
}

// allowedAdditions validates an entry's allowedAdditions and drops repeats.
func allowedAdditions(v jsonv.Value) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindArray {
		return jsonv.Value{}, errWrongType(v.String(), "/"+fieldAllowedAdditions, "JsonArray")
	}
	const valid = "[subjects, resources, namespaces]"
	var out []jsonv.Value
	var seen []string
	for i, e := range v.Elements() {
		s, ok := e.Str()
		if !ok {
			return jsonv.Value{}, protocol.ErrPolicyEntryInvalidMessage("The Policy Entry is invalid.",
				fmt.Sprintf("The 'allowedAdditions' array contains a non-string element at index %d: %s. Every element must be a string from %s.", i, clip(e.String()), valid))
		}
		if s != fieldSubjects && s != fieldResources && s != fieldNamespaces {
			return jsonv.Value{}, protocol.ErrPolicyEntryInvalidMessage("The Policy Entry is invalid.",
				fmt.Sprintf("The value '%s' is not a valid allowedAddition. Valid values are: %s.", s, valid))
		}
		if !slices.Contains(seen, s) {
			seen = append(seen, s)
			out = append(out, e)
		}
	}
	return jsonv.Array(out...), nil
}

// subjects validates a map of subject id to subject.
func (n normalizer) subjects(v jsonv.Value) (jsonv.Value, error) {
	return canonicalMap(v, func(id string, s jsonv.Value) (string, jsonv.Value, error) {
		if s.Kind() != jsonv.KindObject {
			return "", jsonv.Value{}, errNestedNotAnObject(s.String())
		}
		s, err := n.subject(id, s)
		return id, s, err
	})
}

// subject validates the subject with the given id and returns its canonical
// form: type, then expiry (rounded up, ISO-8601 as Java prints an Instant)
// and announcement when given. Fields are checked in Ditto's order (type,
// expiry, then the id).
func (n normalizer) subject(id string, v jsonv.Value) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, errNotAnObject(v.String())
	}
	typ, ok := v.Get(fieldType)
	if !ok {
		return jsonv.Value{}, errSubjectTypeMissing()
	}
	if typ.Kind() != jsonv.KindString {
		return jsonv.Value{}, errWrongType(typ.String(), "/"+fieldType, "String")
	}
	out := []jsonv.Member{{Key: fieldType, Value: typ}}
	if x, ok := v.Get(fieldExpiry); ok {
		s, isStr := x.Str()
		if !isStr {
			return jsonv.Value{}, errWrongType(x.String(), "/"+fieldExpiry, "String")
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return jsonv.Value{}, protocol.ErrPolicySubjectExpiryInvalid(s)
		}
		t = roundExpiry(t.UTC(), n.granularity)
		if t.Before(n.now) {
			return jsonv.Value{}, protocol.ErrPolicySubjectExpiryInPast(protocol.FormatInstant(t))
		}
		out = append(out, jsonv.Member{Key: fieldExpiry, Value: jsonv.String(protocol.FormatInstant(t))})
	}
	if a, ok := v.Get(fieldAnnouncement); ok {
		if a.Kind() != jsonv.KindObject {
			return jsonv.Value{}, errWrongType(a.String(), "/"+fieldAnnouncement, "JsonObject")
		}
		a, err := normalizeAnnouncement(a, n.announcementGranularity)
		if err != nil {
			return jsonv.Value{}, err
		}
		out = append(out, jsonv.Member{Key: fieldAnnouncement, Value: a})
	}
	if err := validateSubjectID(id); err != nil {
		return jsonv.Value{}, err
	}
	return jsonv.Object(out...), nil
}

// canonicalResources validates a map of resource key to resource. Keys are
// normalised ("thing:a" becomes "thing:/a"); of two keys that normalise to
// the same, the later value wins at the earlier position, as in Ditto.
func canonicalResources(v jsonv.Value) (jsonv.Value, error) {
	return canonicalMap(v, func(key string, r jsonv.Value) (string, jsonv.Value, error) {
		key, err := normalizeResourceKey(key)
		if err != nil {
			return "", jsonv.Value{}, err
		}
		r, err = canonicalResource(key, r)
		return key, r, err
	})
}

// canonicalResource validates the permissions of the resource key: an
// object with a grant and a revoke array. Non-string permissions are dropped
// and repeated ones collapse, as Ditto's permission sets do; unknown
// permission names are kept (Ditto accepts any).
func canonicalResource(key string, v jsonv.Value) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, errResourceNotAnObject(key)
	}
	grant, err := permissionSet(v, fieldGrant)
	if err != nil {
		return jsonv.Value{}, err
	}
	revoke, err := permissionSet(v, fieldRevoke)
	if err != nil {
		return jsonv.Value{}, err
	}
	return jsonv.Object(
		jsonv.Member{Key: fieldGrant, Value: grant},
		jsonv.Member{Key: fieldRevoke, Value: revoke},
	), nil
}

func permissionSet(v jsonv.Value, field string) (jsonv.Value, error) {
	arr, ok := v.Get(field)
	if !ok {
		return jsonv.Value{}, protocol.ErrJSONFieldMissing("/" + field)
	}
	if arr.Kind() != jsonv.KindArray {
		return jsonv.Value{}, errWrongType(arr.String(), "/"+field, "JsonArray")
	}
	var out []jsonv.Value
	var seen []string
	for _, e := range arr.Elements() {
		if s, isStr := e.Str(); isStr && !slices.Contains(seen, s) {
			seen = append(seen, s)
			out = append(out, e)
		}
	}
	return jsonv.Array(out...), nil
}

// normalizeResourceKey validates a resource key "type:path" and returns it
// as Ditto prints it: the type, ':', and the path as an absolute JSON
// pointer ("thing:" becomes "thing:/").
func normalizeResourceKey(key string) (string, error) {
	if key == "" {
		return "", errResourceKeyFormat()
	}
	if reason := checkNoControlChars(key, false); reason != "" {
		return "", protocol.ErrPolicyResourceInvalid(key, reason)
	}
	typ, path, ok := strings.Cut(key, ":")
	if !ok || typ == "" {
		return "", errResourceKeyFormat()
	}
	p, err := jsonv.ParsePointer(path)
	if err != nil {
		return "", err
	}
	return typ + ":" + p.String(), nil
}

// validateLabelChars applies Ditto's Label rules to a label of another
// policy (an imported or referenced one): not empty, at most 256 UTF-16
// units, no slash, no control character.
func validateLabelChars(label string) error {
	if label == "" {
		return protocol.ErrPolicyLabelCharsInvalid(label, reasonNoSlashesOrCtrls)
	}
	if reason := checkNoControlChars(label, true); reason != "" {
		return protocol.ErrPolicyLabelCharsInvalid(label, reason)
	}
	return nil
}

// validateLabel applies Ditto's Label rules: not empty, no reserved import
// prefix, at most 256 UTF-16 units, no slash, no control character.
func validateLabel(label string) error {
	if label == "" {
		return protocol.ErrPolicyLabelCharsInvalid(label, reasonNoSlashesOrCtrls)
	}
	if strings.HasPrefix(label, "imported") || strings.HasPrefix(label, "nsimported") {
		return protocol.ErrPolicyLabelInvalid(label)
	}
	if reason := checkNoControlChars(label, true); reason != "" {
		return protocol.ErrPolicyLabelCharsInvalid(label, reason)
	}
	return nil
}

// validateSubjectID applies Ditto's SubjectId rules: "issuer:subject" with a
// non-empty subject, where a "://" in the issuer (a URL) is skipped when
// looking for the ':' that ends the issuer, at most 256 UTF-16 units and no
// control character. An id with a {{ placeholder }} is taken whole.
func validateSubjectID(id string) error {
	if id == "" {
		return errSubjectIDInvalid(id, "")
	}
	if !hasPlaceholder(id) {
		from := 0
		if i := strings.Index(id, "://"); i >= 0 {
			from = i + len("://")
		}
		j := strings.IndexByte(id[from:], ':')
		if j < 0 || from+j+1 == len(id) {
			return errSubjectIDInvalid(id, "")
		}
	}
	if reason := checkNoControlChars(id, false); reason != "" {
		return errSubjectIDInvalid(id, reason)
	}
	return nil
}

func hasPlaceholder(s string) bool {
	open := strings.Index(s, "{{")
	return open >= 0 && strings.Contains(s[open+2:], "}}")
}

// checkNoControlChars applies Ditto's AbstractPatternValidator: at most 256
// UTF-16 units, and no character in U+0000-U+001F or U+007F-U+00FF (nor '/'
// when noSlash). It returns Ditto's reason, or "" when s is valid.
func checkNoControlChars(s string, noSlash bool) string {
	units := 0
	bad := false
	for _, r := range s {
		switch {
		case r == utf8.RuneError:
			bad = true // invalid UTF-8 cannot be a Java string
		case r < 0x20 || (r >= 0x7F && r <= 0xFF):
			bad = true
		case noSlash && r == '/':
			bad = true
		}
		if r >= 0x10000 {
			units += 2
		} else {
			units++
		}
	}
	switch {
	case units > maxIDLength:
		return reasonTooLong
	case bad && noSlash:
		return reasonNoSlashesOrCtrls
	case bad:
		return reasonNoControlChars
	}
	return ""
}

// lockoutReason applies Ditto's PoliciesValidator to a policy: some subject
// without expiry must be granted WRITE on policy:/ by an entry, and no entry
// naming it may revoke WRITE on policy:/. It returns Ditto's reason when the
// policy fails.
//
// Ditto removes revoked subjects by comparing whole subjects (id, type,
// expiry), so a revoke naming the same id with another type does not count
// there; here the id alone decides, which is what the rule is for.
func lockoutReason(policy jsonv.Value) (string, bool) {
	entries, _ := policy.Get(fieldEntries)
	var granted, revoked []string
	for _, e := range entries.Members() {
		res, _ := e.Value.Get(fieldResources)
		root, ok := res.Get(rootResourceKey)
		if !ok {
			continue
		}
		grants := containsString(root, fieldGrant, permWrite)
		revokes := containsString(root, fieldRevoke, permWrite)
		if !grants && !revokes {
			continue
		}
		subjects, _ := e.Value.Get(fieldSubjects)
		for _, s := range subjects.Members() {
			if revokes {
				revoked = append(revoked, s.Key)
			}
			if _, expiring := s.Value.Get(fieldExpiry); grants && !expiring {
				granted = append(granted, s.Key)
			}
		}
	}
	for _, g := range granted {
		if !slices.Contains(revoked, g) {
			return "", true
		}
	}
	return "It must contain at least one permanent Subject with permission(s) <[WRITE]> on resource <policy:/>!", false
}

func containsString(obj jsonv.Value, field, want string) bool {
	arr, _ := obj.Get(field)
	for _, e := range arr.Elements() {
		if s, _ := e.Str(); s == want {
			return true
		}
	}
	return false
}

// checkPreconditions applies If-Match and If-None-Match as Ditto's
// ConditionalHeadersValidator does, against current, the entity tag of the
// addressed resource ("" when it does not exist). Queries and deletes of a
// resource that does not exist skip the check (they answer 404 instead). A
// failing If-None-Match of a query is 304 (not modified), otherwise 412.
func checkPreconditions(h protocol.Headers, current string, query, del bool) error {
	if current == "" && (query || del) {
		return nil
	}
	return etag.Check(h, current, query, preconditionErrors)
}

var preconditionErrors = etag.Errors{
	Failed:      protocol.ErrPolicyPreconditionFailed,
	NotModified: protocol.ErrPolicyPreconditionNotModified,
}

// roundExpiry rounds t up to the granularity g the way Ditto's
// AbstractPolicyCommandStrategy does: g is reduced to its largest whole unit
// (days, hours, minutes, seconds, milliseconds, else nanoseconds), and t is
// rounded up to the next multiple of that amount counted from the start of
// the enclosing larger unit (month, day, hour, minute, second, millisecond).
// Ditto counts months in the JVM's time zone; this counts them in UTC.
func roundExpiry(t time.Time, g time.Duration) time.Time {
	type level struct {
		unit   time.Duration
		parent func(time.Time) time.Time
	}
	day := 24 * time.Hour
	levels := []level{
		{day, func(t time.Time) time.Time { return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC) }},
		{time.Hour, func(t time.Time) time.Time { return t.Truncate(day) }},
		{time.Minute, func(t time.Time) time.Time { return t.Truncate(time.Hour) }},
		{time.Second, func(t time.Time) time.Time { return t.Truncate(time.Minute) }},
		{time.Millisecond, func(t time.Time) time.Time { return t.Truncate(time.Second) }},
		{time.Nanosecond, func(t time.Time) time.Time { return t.Truncate(time.Millisecond) }},
	}
	for _, l := range levels {
		amount := int64(g / l.unit)
		if amount == 0 && l.unit != time.Nanosecond {
			continue
		}
		if amount <= 0 {
			return t
		}
		// Truncate counts from the zero time, which starts a day, hour,
		// minute and second in UTC, so it truncates like Java's Instant.
		truncated := t.Truncate(l.unit)
		between := int64(truncated.Sub(l.parent(t)) / l.unit)
		delta := between % amount
		if truncated.Equal(t) && delta == 0 {
			return t
		}
		return truncated.Add(time.Duration(amount-delta) * l.unit)
	}
	return t
}
