package things

import (
	"cmp"
	"net/http"
	"slices"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
)

// Thing metadata (Ditto's basic-metadata.html). A thing's metadata is a JSON
// object that mirrors the thing; it is kept beside the document (the
// entity's State.Metadata), never in it, so that no read of the thing shows
// it unless a field selector names _metadata. Commands change it through
// headers, as in Ditto's AbstractThingCommandStrategy and
// MetadataFromCommand:
//
//   - put-metadata (a modifying command): a JSON array of {"key","value"},
//     keys relative to the command's path, with Ditto's wildcards
//     (MetadataWildcardValidator, MetadataFieldsWildcardResolver);
//   - delete-metadata (a modifying command): a field selector of metadata
//     to delete, relative to the command's path;
//   - get-metadata (a retrieve): a field selector of metadata to return in
//     the response header ditto-metadata.
//
// Each event carries the metadata it sets at its path in the Ditto
// Protocol payload field "metadata" (entity.Change.Metadata), so the
// journal rebuilds it; deleting a value deletes its metadata.
//
// Enforcement: Ditto filters _metadata like any other member of the thing
// (a policy would have to grant thing:/_metadata). Here metadata follows
// the value it describes: the caller sees the metadata at the paths of the
// thing it may read, and writes metadata only below the path of a command
// it may write.

// metaHeaders is what a command's metadata headers ask for; at most one of
// the fields is set (the headers conflict otherwise).
type metaHeaders struct {
	put []metaEntry
	get jsonv.FieldSelector
	del jsonv.FieldSelector
}

// metaEntry is one element of put-metadata.
type metaEntry struct {
	key   jsonv.Pointer
	value jsonv.Value
}

// parseMetaHeaders reads the metadata headers of a twin command. Ditto's
// MetadataHeaderChecker refuses more than one of them with
// things:metadata.headersconflict; a malformed one is header.invalid.
// Without any of them it returns nil.
func parseMetaHeaders(hs protocol.Headers, query bool) (*metaHeaders, error) {
	put, hasPut := hs[protocol.HeaderPutMetadata]
	get, hasGet := hs[protocol.HeaderGetMetadata]
	del, hasDel := hs[protocol.HeaderDeleteMetadata]
	if !hasPut && !hasGet && !hasDel {
		return nil, nil
	}
	n := 0
	for _, has := range []bool{hasPut, hasGet, hasDel} {
		if has {
			n++
		}
	}
	if n > 1 {
		return nil, errMetadataHeadersConflict(query)
	}
	m := &metaHeaders{}
	var err error
	switch {
	case hasPut:
		m.put, err = parsePutMetadata(put)
	case hasGet:
		m.get, err = parseMetaSelector(protocol.HeaderGetMetadata, get)
	case hasDel:
		m.del, err = parseMetaSelector(protocol.HeaderDeleteMetadata, del)
	}
	return m, err
}

// parsePutMetadata parses the put-metadata header as Ditto's
// DefaultMetadataHeaders does: a JSON array whose object elements each
// have a "key" (a non-empty JSON pointer) and a "value"; other elements are
// ignored; "" is no metadata. The entries are ordered as Ditto's TreeSet
// of MetadataHeader orders them (DefaultMetadataHeaderKey.compareTo):
// leaf wildcards ("*/...") first, then by key, so that a specific key
// overrides what a wildcard set; of two equal keys the first counts.
//
// Ditto answers a key that is not a string, or an element without key or
// value, with header.invalid; an empty key and a key with "//" throw other
// exceptions in Ditto (IllegalArgumentException, JsonPointerInvalid), which
// here are header.invalid too.
func parsePutMetadata(s string) ([]metaEntry, error) {
	invalid := func() error { return protocol.ErrHeaderInvalid(protocol.HeaderPutMetadata, s, "MetadataHeaders") }
	if s == "" {
		return []metaEntry{}, nil
	}
	arr, err := jsonv.ParseString(s)
	if err != nil || arr.Kind() != jsonv.KindArray {
		return nil, invalid()
	}
	out := make([]metaEntry, 0, arr.Len())
	for _, e := range arr.Elements() {
		if e.Kind() != jsonv.KindObject {
			continue
		}
		kv, ok := e.Get("key")
		if !ok {
			return nil, invalid()
		}
		ks, ok := kv.Str()
		if !ok {
			return nil, invalid()
		}
		val, ok := e.Get("value")
		if !ok {
			return nil, invalid()
		}
		key, err := jsonv.ParsePointer(ks)
		if err != nil || key.IsRoot() {
			return nil, invalid()
		}
		out = append(out, metaEntry{key: key, value: val})
	}
	slices.SortStableFunc(out, func(a, b metaEntry) int {
		if aw, bw := a.key[0] == jsonv.Wildcard, b.key[0] == jsonv.Wildcard; aw != bw {
			if aw {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.key.String(), b.key.String())
	})
	return slices.CompactFunc(out, func(a, b metaEntry) bool { return a.key.Equal(b.key) }), nil
}

// parseMetaSelector parses get-metadata or delete-metadata, a field
// selector (Ditto's JsonFieldSelectorValidator: header.invalid).
func parseMetaSelector(name, s string) (jsonv.FieldSelector, error) {
	fs, err := jsonv.ParseFieldSelector(s)
	if err != nil {
		return nil, protocol.ErrHeaderInvalid(name, s, "JsonFieldSelector")
	}
	return fs, nil
}

// hasWildcard is Ditto's test for a wildcard key: "/*/" in it, i.e. a "*"
// segment that is not the last ("attributes/*" names the key "*").
func hasWildcard(p jsonv.Pointer) bool {
	for _, s := range p[:max(len(p)-1, 0)] {
		if s == jsonv.Wildcard {
			return true
		}
	}
	return false
}

// wildcardPattern is one of Ditto's wildcard forms: the segments before
// the key the wildcard form sets (one "*" segment matches any member of
// the object at its level, "|" separates alternatives of a fixed segment),
// then at least one segment of the key, whose first segment must not start
// with "*".
type wildcardPattern []string

// The forms MetadataWildcardValidator accepts, by the level of the
// command's path.
var (
	// THING_FEATURES_AND_PROPERTIES, THING_FEATURES_WITH_ID_ONLY,
	// THING_FEATURES_WITH_PROPERTIES_ONLY, THING_FEATURES_DEFINITION,
	// ATTRIBUTES and LEAF.
	rootWildcards = []wildcardPattern{
		{"features", "*", "properties|desiredProperties", "*"},
		{"features", "*", "properties|desiredProperties", "?"},
		{"features", "?", "properties|desiredProperties", "*"},
		{"features", "*", "definition"},
		{"attributes", "*"},
		{"*"},
	}
	// FEATURES, FEATURES_WITH_ID_ONLY, FEATURES_WITH_PROPERTIES_ONLY,
	// FEATURES_DEFINITION.
	featuresWildcards = []wildcardPattern{
		{"*", "properties|desiredProperties", "*"},
		{"*", "properties|desiredProperties", "?"},
		{"?", "properties|desiredProperties", "*"},
		{"*", "definition"},
	}
	// FEATURE_PROPERTY. Ditto also lets the FEATURES_WITH_ID_ONLY and
	// FEATURES_WITH_PROPERTIES_ONLY forms through at this level but then
	// resolves every expression as "properties/*/<key>"; they are refused
	// here instead of resolved to something else.
	featureWildcards = []wildcardPattern{
		{"properties|desiredProperties", "*"},
	}
	// LEAF: any other level.
	leafWildcards = []wildcardPattern{{"*"}}
)

// "?" in a pattern: one fixed segment that does not start with "*".

func wildcardsAt(path jsonv.Pointer) []wildcardPattern {
	switch {
	case path.IsRoot():
		return rootWildcards
	case len(path) == 1 && path[0] == "features":
		return featuresWildcards
	case len(path) == 2 && path[0] == "features":
		return featureWildcards
	}
	return leafWildcards
}

// match reports whether key has the form of pat, and returns the key part
// the form sets.
func (pat wildcardPattern) match(key jsonv.Pointer) (rest jsonv.Pointer, ok bool) {
	if len(key) <= len(pat) {
		return nil, false
	}
	for i, seg := range pat {
		switch seg {
		case "*":
			if key[i] != "*" {
				return nil, false
			}
		case "?":
			if strings.HasPrefix(key[i], "*") {
				return nil, false
			}
		default:
			if !slices.Contains(strings.Split(seg, "|"), key[i]) {
				return nil, false
			}
		}
	}
	rest = key[len(pat):]
	if strings.HasPrefix(rest[0], "*") {
		return nil, false
	}
	return rest, true
}

// errWildcardInvalid is MetadataWildcardValidator's
// getDittoHeaderInvalidException.
func errWildcardInvalid(key jsonv.Pointer, header string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, protocol.CodeHeaderInvalid,
		"The wildcard expression '"+key.String()+"' in header '"+header+"' is not valid.",
		"Verify that the value of the '"+header+"' header is valid and try again.")
}

// expandMetadataKey resolves a metadata key with wildcards for a command at
// path whose value (the value written, or the current value for get and
// delete) is v: the keys relative to path it stands for. A key without
// wildcard stands for itself. A form Ditto does not accept at path's level
// is header.invalid.
//
// "*" matches each member of the object at its level of v. The leaf form
// "*/<key>" sets <key> below every leaf of v (a value that is not an object
// with members), as MetadataFieldsWildcardResolver's leaf resolution does
// for the thing's fields; Ditto keeps only the first segment of <key>
// there, here all of it is kept.
func expandMetadataKey(path jsonv.Pointer, v jsonv.Value, key jsonv.Pointer, header string) ([]jsonv.Pointer, error) {
	if !hasWildcard(key) {
		return []jsonv.Pointer{key}, nil
	}
	for _, pat := range wildcardsAt(path) {
		rest, ok := pat.match(key)
		if !ok {
			continue
		}
		var out []jsonv.Pointer
		if len(pat) == 1 && pat[0] == "*" {
			leaves(nil, v, func(p jsonv.Pointer) { out = append(out, p.Append(rest...)) })
			return out, nil
		}
		expand(nil, v, key[:len(pat)], func(p jsonv.Pointer) { out = append(out, p.Append(rest...)) })
		return out, nil
	}
	return nil, errWildcardInvalid(key, header)
}

// leaves calls f with the path of every leaf of v below p.
func leaves(p jsonv.Pointer, v jsonv.Value, f func(jsonv.Pointer)) {
	if v.Kind() != jsonv.KindObject {
		f(slices.Clip(p))
		return
	}
	for _, m := range v.Members() {
		leaves(p.Append(m.Key), m.Value, f)
	}
}

// expand calls f with every path of v that the segments pat name, "*"
// matching each member at its level.
func expand(p jsonv.Pointer, v jsonv.Value, pat jsonv.Pointer, f func(jsonv.Pointer)) {
	if len(pat) == 0 {
		f(slices.Clip(p))
		return
	}
	if pat[0] == jsonv.Wildcard {
		for _, m := range v.Members() {
			expand(p.Append(m.Key), m.Value, pat[1:], f)
		}
		return
	}
	child, _ := v.Get(pat[0])
	expand(p.Append(pat[0]), child, pat[1:], f)
}

// putMetadata returns the metadata a modifying command sets at its path:
// the current metadata there (JSON null for none) with the put-metadata
// entries set, keys expanded against val, the value the command writes
// there. ok is false when the command sets no metadata.
func (c *call) putMetadata(current, val jsonv.Value) (md jsonv.Value, ok bool, err error) {
	switch {
	case c.meta == nil:
	case c.meta.put != nil:
		if len(c.meta.put) == 0 {
			return jsonv.Value{}, false, nil
		}
		md = current
		if md.Kind() != jsonv.KindObject {
			md = jsonv.Object()
		}
		for _, e := range c.meta.put {
			keys, err := expandMetadataKey(c.res.path, val, e.key, protocol.HeaderPutMetadata)
			if err != nil {
				return jsonv.Value{}, false, err
			}
			for _, k := range keys {
				md = md.Set(k, e.value)
			}
		}
		return md, true, nil
	case c.meta.del != nil:
		if current.Kind() != jsonv.KindObject {
			return jsonv.Value{}, false, nil
		}
		doc, err := c.st.Doc()
		if err != nil {
			return jsonv.Value{}, false, err
		}
		at, _ := doc.At(c.res.path)
		for _, p := range c.meta.del {
			if len(p) == 1 && p[0] == jsonv.Wildcard {
				// "*": all metadata at the path.
				return jsonv.Object(), true, nil
			}
			keys, err := expandMetadataKey(c.res.path, at, p, protocol.HeaderDeleteMetadata)
			if err != nil {
				return jsonv.Value{}, false, err
			}
			for _, k := range keys {
				current, _ = current.Delete(k)
			}
		}
		return pruneEmpty(current), true, nil
	}
	return jsonv.Value{}, false, nil
}

// currentMetadata returns the thing's metadata at the command's path, JSON
// null for none.
func (c *call) currentMetadata() (jsonv.Value, error) {
	if !c.st.HasMetadata() {
		return jsonv.Null(), nil
	}
	meta, err := c.st.Metadata()
	if err != nil {
		return jsonv.Value{}, err
	}
	md, _ := meta.At(c.res.path)
	return md, nil
}

// withMetadata adds the metadata a modifying command sets to its change.
// val is what the command writes at its path.
func (c *call) withMetadata(ch *entity.Change, val jsonv.Value) error {
	if c.meta == nil || c.meta.put == nil && c.meta.del == nil {
		return nil
	}
	current, err := c.currentMetadata()
	if err != nil {
		return err
	}
	md, ok, err := c.putMetadata(current, val)
	if err != nil || !ok {
		return err
	}
	ch.Metadata = md
	return nil
}

// pruneEmpty removes the empty objects of v, whose leaves Ditto keeps
// after delete-metadata (filterOutEmptyObjects).
func pruneEmpty(v jsonv.Value) jsonv.Value {
	if v.Kind() != jsonv.KindObject {
		return v
	}
	out := make([]jsonv.Member, 0, v.Len())
	for _, m := range v.Members() {
		if m.Value.Kind() == jsonv.KindObject {
			if m.Value = pruneEmpty(m.Value); m.Value.Len() == 0 {
				continue
			}
		}
		out = append(out, m)
	}
	return jsonv.Object(out...)
}

// dittoMetadata answers get-metadata on a retrieve: the metadata the
// selector names, relative to the command's path and cut down to what the
// caller may read, as the JSON object of the ditto-metadata header ("{}"
// when there is none).
func (c *call) dittoMetadata() (string, error) {
	current, err := c.currentMetadata()
	if err != nil || current.Kind() != jsonv.KindObject {
		return "{}", err
	}
	doc, err := c.st.Doc()
	if err != nil {
		return "", err
	}
	at, _ := doc.At(c.res.path)
	var out jsonv.Value
	if len(c.meta.get) == 1 && len(c.meta.get[0]) == 1 && c.meta.get[0][0] == jsonv.Wildcard {
		out = current // "*": all metadata at the path
	} else {
		out = jsonv.Object()
		for _, p := range c.meta.get {
			keys, err := expandMetadataKey(c.res.path, at, p, protocol.HeaderGetMetadata)
			if err != nil {
				return "", err
			}
			for _, k := range keys {
				if v, ok := current.At(k); ok {
					out = out.Set(k, v)
				}
			}
		}
	}
	if out = c.readableMetadata(c.res.path, out); out.Kind() != jsonv.KindObject {
		return "{}", nil
	}
	return out.String(), nil
}

// readableMetadata cuts metadata md at path p down to what the caller may
// read of it. As in Ditto, _metadata is a field of the thing like any
// other: the metadata of p is readable where thing:/_metadata/p is (which
// a grant on thing:/ covers), whatever the caller may read of the value
// it describes.
func (c *call) readableMetadata(p jsonv.Pointer, md jsonv.Value) jsonv.Value {
	if c.view == nil || c.view.ReadsAll(enforcer.TypeThing) || md.Kind() != jsonv.KindObject {
		return md
	}
	cut, ok := c.view.View(enforcer.TypeThing, metadataPath(p), md, enforcer.Read)
	if !ok || cut.Kind() != jsonv.KindObject {
		return jsonv.Null()
	}
	if cut = pruneEmpty(cut); cut.Len() == 0 {
		return jsonv.Null()
	}
	return cut
}

// metadataPath is where the metadata of the thing's path p is in the
// thing's JSON, which its policy's resources address.
func metadataPath(p jsonv.Pointer) jsonv.Pointer {
	return append(jsonv.Pointer{"_metadata"}, p...)
}

// selectsMetadata reports whether a field selector names _metadata.
func selectsMetadata(fs jsonv.FieldSelector) bool {
	for _, p := range fs {
		if len(p) > 0 && p[0] == "_metadata" {
			return true
		}
	}
	return false
}

// metadataForCreate returns the metadata a thing is created with (JSON
// null for none): inline _metadata of the command's thing, or put-metadata
// expanded against the thing (Ditto refuses both at once with
// things:metadata.notmodifiable).
func (c *call) metadataForCreate(val, thing jsonv.Value) (jsonv.Value, error) {
	inline, hasInline := val.Get("_metadata")
	if hasInline && inline.Kind() == jsonv.KindNull {
		hasInline = false
	}
	if hasInline && c.meta != nil && len(c.meta.put) > 0 {
		return jsonv.Value{}, errMetadataNotModifiable()
	}
	if hasInline {
		if inline.Kind() != jsonv.KindObject {
			return jsonv.Value{}, fieldType("_metadata", "JsonObject", inline)
		}
		return inline, nil
	}
	md, ok, err := c.putMetadata(jsonv.Null(), thing)
	if err != nil || !ok {
		return jsonv.Null(), err
	}
	return md, nil
}
