package protocol

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol/internal/jsonsyntax"
)

// Partial access: what of a thing event each receiver may see.
//
// A thing event names who may receive it (ditto-read-subjects) and, when
// some of them may read part but not all of the thing, which paths of the
// thing each of those may read (ditto-partial-access-paths). Ditto's
// WebSocket route cuts every event down to what the session's subjects may
// read (AdaptablePartialAccessFilter in internal/utils/protocol, applied in
// gateway WebSocketRoute); EventAccess does the same, parsed once per event
// and evaluated per receiver.

// PartialAccess is a parsed ditto-partial-access-paths header, in the
// indexed form the things service writes:
//
//	{"subjects":["a","b"],"paths":{"attributes/foo":[0,1],"features/A":[0]}}
//
// Subjects are the restricted subjects: those that may read part but not
// all of the thing. A subject that may read nothing of it is listed
// without paths, and reads nothing; a read subject not listed reads
// everything. (Ditto's reader, JsonPartialAccessFilter.expandIndexed, keeps
// only subjects that have paths, so a listed subject without paths passes
// there for one that reads everything.)
type PartialAccess struct {
	// Subjects are the restricted subjects, in header order.
	Subjects []string
	// Paths are the readable paths, in header order.
	Paths []PartialAccessPath
}

// PartialAccessPath is one readable path of a PartialAccess.
type PartialAccessPath struct {
	// Path is the path inside the thing, one decoded key per level; empty
	// is the whole thing. The header writes it without the leading slash
	// and with '~' in keys as "~0", as jsonv.Pointer does.
	Path []string
	// Readers are indexes into Subjects: the subjects that may read all of
	// Path, in header order.
	Readers []int
}

// ParsePartialAccess parses a ditto-partial-access-paths header. The empty
// string (no header) is the zero PartialAccess: nobody is restricted.
//
// Unlike Ditto, which skips what it cannot read, the parse is strict, so
// that a broken header is noticed instead of widening or narrowing access:
// the value must be a UTF-8 JSON object with exactly the members
// "subjects" (distinct non-empty strings) and "paths" (an object whose
// members are written once, each a path mapped to a non-empty array of
// distinct indexes into subjects). A path has no leading or trailing slash
// and no empty key, and '~' in it is only "~0"; "" is the whole thing. The
// error is header.invalid (Error with CodeHeaderInvalid) saying what is
// wrong.
func ParsePartialAccess(header string) (PartialAccess, error) {
	if header == "" {
		return PartialAccess{}, nil
	}
	if !utf8.ValidString(header) {
		return PartialAccess{}, partialAccessError("it is not valid UTF-8")
	}
	dec := json.NewDecoder(strings.NewReader(header))
	dec.UseNumber()
	if !nextDelim(dec, '{') {
		return PartialAccess{}, partialAccessError("it is not a JSON object")
	}
	var (
		pa                      PartialAccess
		indexes                 [][]json.Number // raw indexes of pa.Paths, checked once subjects are known
		haveSubjects, havePaths bool
	)
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return PartialAccess{}, partialAccessError("it is not valid JSON")
		}
		switch key {
		case "subjects":
			if haveSubjects {
				return PartialAccess{}, partialAccessError(`it has "subjects" twice`)
			}
			haveSubjects = true
			if pa.Subjects, err = parseAccessSubjects(dec); err != nil {
				return PartialAccess{}, err
			}
		case "paths":
			if havePaths {
				return PartialAccess{}, partialAccessError(`it has "paths" twice`)
			}
			havePaths = true
			if pa.Paths, indexes, err = parseAccessPaths(dec); err != nil {
				return PartialAccess{}, err
			}
		default:
			return PartialAccess{}, partialAccessError(fmt.Sprintf("unknown member %q", key))
		}
	}
	if !nextDelim(dec, '}') {
		return PartialAccess{}, partialAccessError("it is not valid JSON")
	}
	if _, err := dec.Token(); err != io.EOF {
		return PartialAccess{}, partialAccessError("there is more after the JSON object")
	}
	if !haveSubjects || !havePaths {
		return PartialAccess{}, partialAccessError(`it needs both "subjects" and "paths"`)
	}
	seen := make([]bool, len(pa.Subjects))
	for k, raw := range indexes {
		readers, err := parseAccessIndexes(raw, seen, pa.Paths[k].Path)
		if err != nil {
			return PartialAccess{}, err
		}
		pa.Paths[k].Readers = readers
	}
	return pa, nil
}

// parseAccessSubjects reads the "subjects" array.
func parseAccessSubjects(dec *json.Decoder) ([]string, error) {
	if !nextDelim(dec, '[') {
		return nil, partialAccessError(`"subjects" is not an array`)
	}
	subjects := []string{}
	seen := map[string]bool{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, partialAccessError("it is not valid JSON")
		}
		s, ok := tok.(string)
		switch {
		case !ok:
			return nil, partialAccessError(fmt.Sprintf("subject %d is not a string", len(subjects)))
		case s == "":
			return nil, partialAccessError(fmt.Sprintf("subject %d is empty", len(subjects)))
		case seen[s]:
			return nil, partialAccessError(fmt.Sprintf("subject %q is listed twice", s))
		}
		seen[s] = true
		subjects = append(subjects, s)
	}
	if !nextDelim(dec, ']') {
		return nil, partialAccessError(`"subjects" is not an array of strings`)
	}
	return subjects, nil
}

// parseAccessPaths reads the "paths" object; the indexes are returned raw,
// since "subjects" may come after it.
func parseAccessPaths(dec *json.Decoder) ([]PartialAccessPath, [][]json.Number, error) {
	if !nextDelim(dec, '{') {
		return nil, nil, partialAccessError(`"paths" is not an object`)
	}
	var (
		paths   []PartialAccessPath
		indexes [][]json.Number
		seen    = map[string]bool{}
	)
	for dec.More() {
		tok, err := dec.Token()
		key, ok := tok.(string)
		if err != nil || !ok {
			return nil, nil, partialAccessError("it is not valid JSON")
		}
		if seen[key] {
			return nil, nil, partialAccessError(fmt.Sprintf("path %q is listed twice", key))
		}
		seen[key] = true
		path, err := parseAccessPath(key)
		if err != nil {
			return nil, nil, err
		}
		if !nextDelim(dec, '[') {
			return nil, nil, partialAccessError(fmt.Sprintf("the subjects of path %q are not an array", key))
		}
		var raw []json.Number
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, nil, partialAccessError("it is not valid JSON")
			}
			n, ok := tok.(json.Number)
			if !ok {
				return nil, nil, partialAccessError(fmt.Sprintf("path %q lists a subject index that is not a number", key))
			}
			raw = append(raw, n)
		}
		if !nextDelim(dec, ']') {
			return nil, nil, partialAccessError(fmt.Sprintf("the subjects of path %q are not an array of numbers", key))
		}
		paths = append(paths, PartialAccessPath{Path: path})
		indexes = append(indexes, raw)
	}
	if !nextDelim(dec, '}') {
		return nil, nil, partialAccessError(`"paths" is not valid JSON`)
	}
	return paths, indexes, nil
}

// parseAccessIndexes checks the subject indexes of path: non-empty,
// distinct, plain integers below len(seen). seen is scratch space, all
// false on entry and on return.
func parseAccessIndexes(raw []json.Number, seen []bool, path []string) (_ []int, err error) {
	if len(raw) == 0 {
		return nil, partialAccessError(fmt.Sprintf("path %q lists no subject", accessPathKey(path)))
	}
	out := make([]int, 0, len(raw))
	defer func() {
		for _, i := range out {
			seen[i] = false
		}
	}()
	for _, num := range raw {
		i, ok := subjectIndex(string(num))
		if !ok || i >= len(seen) {
			return nil, partialAccessError(fmt.Sprintf("path %q lists subject index %s, not one of the %d subjects",
				accessPathKey(path), num, len(seen)))
		}
		if seen[i] {
			return nil, partialAccessError(fmt.Sprintf("path %q lists subject index %d twice", accessPathKey(path), i))
		}
		seen[i] = true
		out = append(out, i)
	}
	return out, nil
}

// subjectIndex parses a non-negative integer written without sign,
// fraction, exponent or leading zeros.
func subjectIndex(s string) (int, bool) {
	if s == "" || len(s) > 9 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	i, err := strconv.Atoi(s)
	return i, err == nil
}

// parseAccessPath decodes a path key of the header: "" is the whole thing,
// otherwise keys separated by single slashes, '~' written as "~0".
func parseAccessPath(key string) ([]string, error) {
	if key == "" {
		return []string{}, nil
	}
	path := strings.Split(key, "/")
	for k, seg := range path {
		if seg == "" {
			return nil, partialAccessError(fmt.Sprintf("path %q has an empty key (a leading, trailing or double slash)", key))
		}
		if !strings.Contains(seg, "~") {
			continue
		}
		if strings.Count(seg, "~") != strings.Count(seg, "~0") {
			return nil, partialAccessError(fmt.Sprintf(`path %q has a '~' not written as "~0"`, key))
		}
		path[k] = strings.ReplaceAll(seg, "~0", "~")
	}
	return path, nil
}

// accessPathKey writes path as the header does.
func accessPathKey(path []string) string {
	var b strings.Builder
	for k, seg := range path {
		if k > 0 {
			b.WriteByte('/')
		}
		b.WriteString(strings.ReplaceAll(seg, "~", "~0"))
	}
	return b.String()
}

// nextDelim consumes the next token and reports whether it is d.
func nextDelim(dec *json.Decoder, d json.Delim) bool {
	tok, err := dec.Token()
	return err == nil && tok == d
}

func partialAccessError(detail string) *Error {
	return ErrHeaderInvalidMessage(fmt.Sprintf("The value of the header '%s' is invalid: %s.", HeaderPartialAccessPaths, detail))
}

// parseReadSubjects parses a ditto-read-subjects header: a JSON array of
// strings. The empty string (no header) is nobody, as in Ditto, whose
// headers then have no read-granted subjects.
func parseReadSubjects(header string) ([]string, error) {
	if header == "" {
		return nil, nil
	}
	b := []byte(header)
	if i := skipSpace(b, 0); i >= len(b) || b[i] != '[' || !jsonsyntax.Valid(b) {
		return nil, ErrHeaderInvalid(HeaderReadSubjects, header, "JSON array")
	}
	var items []json.RawMessage
	_ = json.Unmarshal(b, &items) // valid JSON: cannot fail
	subjects := make([]string, len(items))
	for k, item := range items {
		// Unmarshal would take null for "".
		if item[0] != '"' || json.Unmarshal(item, &subjects[k]) != nil {
			return nil, ErrHeaderInvalidMessage(fmt.Sprintf("JSON array for <%s> contained non-string values!", HeaderReadSubjects))
		}
	}
	return subjects, nil
}

// EventAccess is what the headers of one thing event say about who may see
// what of it. Build it once per event with ParseEventAccess and ask it about
// each receiver: Readable and For cost one map lookup per receiver subject,
// and For for a receiver that reads everything returns the value as it is,
// without allocating. An EventAccess is immutable and safe for concurrent
// use.
//
// It is for thing events only (Ditto filters nothing else); other signals
// go to their read subjects unchanged.
type EventAccess struct {
	// readers maps each read subject to its index in the restricted
	// subjects, or to -1 when it reads everything. Restricted subjects
	// that are not read subjects are not here: they get nothing.
	readers map[string]int
	// root holds the readable paths of the restricted subjects.
	root *accessNode
}

// accessNode is one level of the readable paths, for all restricted
// subjects at once: a receiver's restricted subjects (their indexes) are
// tested against the sets, so no per-receiver structure is built.
type accessNode struct {
	children map[string]*accessNode
	grant    subjectSet // may read all of the node
	within   subjectSet // may read all of the node or of something below it
}

// child returns the node below n for key, nil when there is none (also
// when n is nil).
func (n *accessNode) child(key string) *accessNode {
	if n == nil {
		return nil
	}
	return n.children[key]
}

// subjectSet is a bit set of restricted subject indexes; nil is empty.
type subjectSet []uint64

func (s subjectSet) add(i int, words int) subjectSet {
	if s == nil {
		s = make(subjectSet, words)
	}
	s[i/64] |= 1 << (i % 64)
	return s
}

// anyOf reports whether one of the indexes is in s.
func (s subjectSet) anyOf(idx []int) bool {
	if s == nil {
		return false
	}
	for _, i := range idx {
		if s[i/64]&(1<<(i%64)) != 0 {
			return true
		}
	}
	return false
}

// alwaysReadable are the thing's identity and audit fields, which Ditto
// leaves in a thing a restricted subject gets whatever its paths
// (AdaptablePartialAccessFilter.ALWAYS_INCLUDED_THING_FIELDS). Ditto keeps
// them for the top-level members of any object value; here only for the
// thing itself (an event at the root), where they are these fields.
func alwaysReadable(key string) bool {
	switch key {
	case "thingId", "_namespace", "_revision", "_modified", "_created":
		return true
	}
	return false
}

// ParseEventAccess parses the ditto-read-subjects and
// ditto-partial-access-paths headers of a thing event ("" for a missing
// header: no read subjects means nobody may receive the event, no partial
// access paths means every read subject reads everything). The error is
// header.invalid when either is malformed (see ParsePartialAccess); the
// event should then go to nobody.
func ParseEventAccess(readSubjects, partialAccessPaths string) (*EventAccess, error) {
	subjects, err := parseReadSubjects(readSubjects)
	if err != nil {
		return nil, err
	}
	pa, err := ParsePartialAccess(partialAccessPaths)
	if err != nil {
		return nil, err
	}
	restricted := make(map[string]int, len(pa.Subjects))
	for i, s := range pa.Subjects {
		restricted[s] = i
	}
	a := &EventAccess{readers: make(map[string]int, len(subjects)), root: &accessNode{}}
	for _, s := range subjects {
		if i, ok := restricted[s]; ok {
			a.readers[s] = i
		} else {
			a.readers[s] = -1
		}
	}
	words := (len(pa.Subjects) + 63) / 64
	for _, p := range pa.Paths {
		n := a.root
		for _, i := range p.Readers {
			n.within = n.within.add(i, words)
		}
		for _, seg := range p.Path {
			c := n.children[seg]
			if c == nil {
				c = &accessNode{}
				if n.children == nil {
					n.children = map[string]*accessNode{}
				}
				n.children[seg] = c
			}
			n = c
			for _, i := range p.Readers {
				n.within = n.within.add(i, words)
			}
		}
		for _, i := range p.Readers {
			n.grant = n.grant.add(i, words)
		}
	}
	return a, nil
}

// Readable reports whether a receiver with the given authenticated
// subjects may receive the event at all: whether one of them is a read
// subject (Ditto's StreamingSessionActor.isSessionAllowedToReceiveSignal).
// For may still withhold the event when the receiver may read none of
// what it changes.
func (a *EventAccess) Readable(receiver []string) bool {
	for _, s := range receiver {
		if _, ok := a.readers[s]; ok {
			return true
		}
	}
	return false
}

// For returns what a receiver with the given authenticated subjects gets
// of the event whose envelope has path (e.g. "/", "/attributes/foo") and
// value (nil when absent, as for a deletion), and whether it gets the
// event at all. As in Ditto (AdaptablePartialAccessFilter with
// WebSocketRoute):
//
//   - no receiver subject is a read subject: not delivered;
//   - one of them is a read subject that is not restricted: the value as
//     it is;
//   - otherwise the receiver may read the union of the paths of its
//     restricted read subjects. A readable path at or above path makes
//     the whole value readable (as it is, JSON null and absent included).
//     Otherwise an object value keeps only the members that readable
//     paths below path reach, in their order, with objects emptied by the
//     cut dropped; at the root it also keeps the thing's identity and
//     audit fields (thingId, _namespace, _revision, _modified, _created)
//     when the receiver may read anything at all. Any other value (scalar,
//     array, null, absent) is not delivered.
//   - a value cut down to nothing is not delivered, nor is an empty
//     object below what the receiver may read. Ditto's WebSocketRoute
//     drops only what the cut emptied, and so tells a receiver of a
//     change to a part it may not read that it became empty.
//
// Two departures from Ditto. Paths are matched against the value relative
// to path, where Ditto matches the thing-relative paths against the value
// as if it were the whole thing, so that it drops an object event below
// the root that the receiver may partly read. And a member that is not an
// object, with a readable path below it, is left out (as a value at path
// is), where Ditto keeps it; the header, computed from the thing after the
// change, does not name paths below non-objects anyway.
//
// The returned value shares value's memory when nothing was cut. value
// must be valid JSON (as DecodeEnvelope leaves it); a restricted receiver
// gets nothing of a value that is not, nor of an event whose path has a
// double slash.
func (a *EventAccess) For(receiver []string, path string, value json.RawMessage) (json.RawMessage, bool) {
	var buf [4]int
	idx := buf[:0] // the receiver's restricted read subjects
	for _, s := range receiver {
		i, ok := a.readers[s]
		if !ok {
			continue
		}
		if i < 0 {
			return value, true
		}
		idx = append(idx, i)
	}
	if len(idx) == 0 {
		return nil, false
	}
	return a.filter(idx, path, value)
}

// filter is For for a receiver whose read subjects are the restricted
// subjects idx.
func (a *EventAccess) filter(idx []int, path string, value json.RawMessage) (json.RawMessage, bool) {
	if len(value) > 0 && !jsonsyntax.Valid(value) {
		return nil, false
	}
	object := isObjectValue(value)
	if !a.root.within.anyOf(idx) {
		return nil, false // nothing of the thing is readable
	}
	// Walk down to path (Ditto's pointer syntax: leading and trailing
	// slash optional, no empty key, "~0" is '~'); a readable path on the
	// way covers the whole value.
	if strings.Contains(path, "//") {
		return nil, false
	}
	rest := strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/")
	root := rest == ""
	n := a.root
	for {
		if n.grant.anyOf(idx) {
			return value, true
		}
		if rest == "" {
			break
		}
		var seg string
		seg, rest, _ = strings.Cut(rest, "/")
		if n = n.child(strings.ReplaceAll(seg, "~0", "~")); n == nil {
			break // nothing at or below path is readable
		}
	}
	if !object {
		return nil, false
	}
	out, members, cut := filterObject(make([]byte, 0, len(value)), value, n, idx, root)
	switch {
	case members == 0:
		// Nothing readable remains, or there was nothing to begin with:
		// even an empty object would tell of a change the receiver may
		// not read.
		return nil, false
	case !cut:
		return value, true
	}
	return out, true
}

// filterObject appends to dst the members of the object value that the
// subjects idx may read, given n, the node of value's path (nil: nothing
// below is readable), and reports how many it kept and whether it left
// anything out or cut anything down.
func filterObject(dst []byte, value []byte, n *accessNode, idx []int, root bool) (_ []byte, members int, cut bool) {
	dst = append(dst, '{')
	_ = eachMember(value, skipSpace(value, 0), func(key, val []byte) error {
		c, always := memberAccess(n, key, root)
		mark := len(dst)
		if members > 0 {
			dst = append(dst, ',')
		}
		dst = append(append(dst, key...), ':')
		switch {
		case c != nil && c.grant.anyOf(idx), always:
			dst = append(dst, val...)
			members++
		case c != nil && c.within.anyOf(idx) && isObjectValue(val):
			var m int
			var sub bool
			dst, m, sub = filterObject(dst, val, c, idx, false)
			if m == 0 {
				dst = dst[:mark]
				cut = true
				break
			}
			members++
			cut = cut || sub
		default:
			dst = dst[:mark]
			cut = true
		}
		return nil
	})
	return append(dst, '}'), members, cut
}

// memberAccess returns the node below n for the member with the raw key
// (quotes included) of a valid object, and whether the member is an
// identity or audit field of the thing (at the root). Keys without escapes,
// nearly all, are looked up without allocating.
func memberAccess(n *accessNode, key []byte, root bool) (_ *accessNode, always bool) {
	raw := key[1 : len(key)-1]
	if bytes.IndexByte(raw, '\\') >= 0 {
		var name string
		_ = json.Unmarshal(key, &name)
		return n.child(name), root && alwaysReadable(name)
	}
	always = root && alwaysReadable(string(raw))
	if n == nil {
		return nil, always
	}
	return n.children[string(raw)], always
}

// isObjectValue reports whether the valid JSON value is an object.
func isObjectValue(v []byte) bool {
	i := skipSpace(v, 0)
	return i < len(v) && v[i] == '{'
}

// isEmptyObject reports whether the valid JSON object v has no members.
func isEmptyObject(v []byte) bool {
	i := skipSpace(v, skipSpace(v, 0)+1)
	return i < len(v) && v[i] == '}'
}

// FilterEvent is ParseEventAccess and For in one call, for a single
// receiver: what a receiver with the given subjects gets of a thing event
// with these headers, path and value, and whether it gets it. Prefer
// ParseEventAccess when one event goes to many receivers.
func FilterEvent(readSubjects, partialAccessPaths string, receiver []string, path string, value json.RawMessage) (json.RawMessage, bool, error) {
	a, err := ParseEventAccess(readSubjects, partialAccessPaths)
	if err != nil {
		return nil, false, err
	}
	out, ok := a.For(receiver, path, value)
	return out, ok, nil
}
