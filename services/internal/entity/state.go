package entity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// Event actions: the last token of an event topic.
const (
	ActionCreated  = "created"
	ActionModified = "modified"
	ActionMerged   = "merged"
	ActionDeleted  = "deleted"
)

// State is an entity as the journal has it. Handlers read it; only the host
// changes it, after the event that changes it is persisted.
//
// The document is held as compact JSON and parsed on demand: a hundred
// thousand entities stay small, and a read that may return the whole
// document returns these bytes without re-encoding them.
type State struct {
	// ID is the entity id ("namespace:name").
	ID string
	// Revision is the SN of the last event; 0 if the entity never existed.
	Revision int64
	// created and modified (Unix nanoseconds): see Created and Modified.
	// Fields are laid out, and times held as integers, so that a slot with
	// its State takes 128 bytes: a hundred thousand things and their
	// policies are two hundred thousand of them.
	created, modified int64
	// Memo is the handler's to keep something derived from the document
	// (e.g. a thing's policy id) across commands. It is cleared whenever
	// the document changes, unless the change says it keeps the memo.
	Memo any

	raw []byte
	doc *jsonv.Value // parsed raw, for the current command only
	// meta is the entity's metadata (Ditto's _metadata of a thing), a
	// compact JSON object beside the document, nil when it has none. A
	// pointer, so that a slot stays in its size class.
	meta *[]byte
	// Deleted is set once the entity was deleted (Revision stays).
	Deleted bool
}

// Created is when the entity was last created (zero if never).
func (s *State) Created() time.Time { return fromUnixNano(s.created) }

// Modified is when the entity last changed (zero if never).
func (s *State) Modified() time.Time { return fromUnixNano(s.modified) }

func fromUnixNano(ns int64) time.Time {
	if ns == 0 {
		return time.Time{}
	}
	return time.Unix(0, ns).UTC()
}

func toUnixNano(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

// Exists reports whether the entity exists now.
func (s *State) Exists() bool { return s.Revision > 0 && !s.Deleted }

// Raw returns the entity document as compact JSON, nil if it does not exist.
// The caller must not modify it.
func (s *State) Raw() []byte {
	if !s.Exists() {
		return nil
	}
	return s.raw
}

// Doc returns the parsed entity document (JSON null if it does not exist).
// The result is cached for the current command.
func (s *State) Doc() (jsonv.Value, error) {
	if !s.Exists() {
		return jsonv.Null(), nil
	}
	if s.doc == nil {
		// Stored documents were validated when written; one written before
		// writes were held to jsonv.MaxDepth must still load, to be repaired
		// or deleted.
		v, err := jsonv.ParseStored(s.raw)
		if err != nil {
			return jsonv.Value{}, fmt.Errorf("stored document of %s: %w", s.ID, err)
		}
		s.doc = &v
	}
	return *s.doc, nil
}

// Metadata returns the entity's metadata object, JSON null when it has
// none. It is parsed on every call: only metadata requests read it.
func (s *State) Metadata() (jsonv.Value, error) {
	if !s.Exists() || s.meta == nil {
		return jsonv.Null(), nil
	}
	v, err := jsonv.ParseStored(*s.meta)
	if err != nil {
		return jsonv.Value{}, fmt.Errorf("stored metadata of %s: %w", s.ID, err)
	}
	return v, nil
}

// HasMetadata reports whether the entity has metadata.
func (s *State) HasMetadata() bool { return s.Exists() && s.meta != nil }

// forget drops the parsed document so that idle entities hold bytes only.
func (s *State) forget() { s.doc = nil }

// Change is what one event does to an entity's document.
type Change struct {
	// Action is one of ActionCreated, ActionModified, ActionMerged,
	// ActionDeleted.
	Action string
	// Path is where in the document the change applies; root for the whole
	// entity.
	Path jsonv.Pointer
	// Value is the new value at Path (created, modified), the merge patch
	// (merged), or unused (deleted).
	Value jsonv.Value
	// Metadata, when an object, is the metadata the event sets at Path
	// (Ditto's event payload field "metadata", relative to Path); JSON
	// null when the event sets none. See MetadataTo.
	Metadata jsonv.Value
	// KeepMemo, set by a handler that knows the change leaves alone what
	// its State.Memo derives from, keeps the memo. Changes replayed from the
	// journal never keep it.
	KeepMemo bool
}

// apply returns s after ch, persisted as revision rev at ts.
func (s *State) apply(ch Change, rev int64, ts time.Time) error {
	if err := s.change(ch, rev, ts); err != nil {
		return err
	}
	s.encode()
	return nil
}

// change is apply without encoding the document: s.raw is stale until
// encode. Replaying many events (a historical revision) encodes once.
func (s *State) change(ch Change, rev int64, ts time.Time) error {
	if !ch.KeepMemo {
		s.Memo = nil
	}
	doc, err := s.Doc()
	if err != nil {
		return err
	}
	if ch.Action == ActionDeleted && ch.Path.IsRoot() {
		s.Revision, s.modified, s.Deleted = rev, toUnixNano(ts), true
		s.raw, s.doc, s.meta = nil, nil, nil
		return nil
	}
	fresh := (ch.Action == ActionCreated || ch.Action == ActionModified) && ch.Path.IsRoot() &&
		(ch.Action == ActionCreated || !s.Exists())
	if fresh {
		s.created = toUnixNano(ts)
	}
	doc, _, err = ch.ApplyTo(doc)
	if err != nil {
		return err
	}
	if fresh || s.meta != nil || ch.Metadata.Kind() == jsonv.KindObject {
		// Only entities with metadata, or events that bring some, pay
		// for it.
		var meta jsonv.Value
		if !fresh {
			if meta, err = s.Metadata(); err != nil {
				return err
			}
		}
		s.meta = nil
		if meta = ch.MetadataTo(meta); meta.Kind() == jsonv.KindObject {
			b := meta.AppendJSON(nil)
			s.meta = &b
		}
	}
	s.Revision, s.modified, s.Deleted = rev, toUnixNano(ts), false
	s.doc = &doc
	return nil
}

// encode sets s.raw from the document change left in s.doc.
func (s *State) encode() {
	if s.doc == nil || !s.Exists() {
		return
	}
	// Exactly sized: a hundred thousand documents must not each keep the
	// slack of the appends that built them.
	s.raw = bytes.Clone(s.doc.AppendJSON(make([]byte, 0, len(s.raw)+64)))
}

// ApplyTo returns doc after the change; deleted reports that the change
// deletes the entity (doc is then returned unchanged). Consumers of events
// (the search index) follow an entity's document with it exactly as its
// owner does.
func (ch Change) ApplyTo(doc jsonv.Value) (out jsonv.Value, deleted bool, err error) {
	switch ch.Action {
	case ActionCreated, ActionModified:
		if ch.Path.IsRoot() {
			return ch.Value, false, nil
		}
		return doc.Set(ch.Path, ch.Value), false, nil
	case ActionMerged:
		// A patch at a path is the patch {"a":{"b":patch}} at the root:
		// null there removes the member, anything else merges into it and
		// creates missing (or replaces non-object) parents.
		if ch.Value.Kind() == jsonv.KindNull && !ch.Path.IsRoot() {
			out, _ = doc.Delete(ch.Path)
			return out, false, nil
		}
		return doc.Set(ch.Path, jsonv.MergePatch(valueAt(doc, ch.Path), ch.Value)), false, nil
	case ActionDeleted:
		if ch.Path.IsRoot() {
			return doc, true, nil
		}
		out, _ = doc.Delete(ch.Path)
		return out, false, nil
	}
	return doc, false, fmt.Errorf("event action %q: unknown", ch.Action)
}

// MetadataTo returns an entity's metadata object after the change (JSON
// null for none), given meta before it (JSON null for none; for an entity
// the change creates anew, pass JSON null). As Ditto's thing event
// strategies do: an event's metadata replaces the metadata at its path,
// an event without metadata keeps what there is, and deleting a value
// (a deletion, or null in a merge patch) deletes the metadata below it.
// Metadata left empty is none.
func (ch Change) MetadataTo(meta jsonv.Value) jsonv.Value {
	switch ch.Action {
	case ActionDeleted:
		if ch.Path.IsRoot() {
			return jsonv.Null()
		}
		meta = deleteMetadata(meta, ch.Path)
	case ActionMerged:
		meta = deleteMergedNulls(meta, ch.Path, ch.Value)
	}
	switch {
	case ch.Metadata.Kind() != jsonv.KindObject:
	case ch.Metadata.Len() == 0 && !ch.Path.IsRoot():
		meta = deleteMetadata(meta, ch.Path)
	default:
		if meta.Kind() != jsonv.KindObject {
			meta = jsonv.Object()
		}
		meta = meta.Set(ch.Path, ch.Metadata)
	}
	if meta.Kind() != jsonv.KindObject || meta.Len() == 0 {
		return jsonv.Null()
	}
	return meta
}

// deleteMetadata deletes the metadata at p and the objects along p it
// leaves empty.
func deleteMetadata(meta jsonv.Value, p jsonv.Pointer) jsonv.Value {
	meta, ok := meta.Delete(p)
	for i := len(p) - 1; ok && i > 0; i-- {
		if v, _ := meta.At(p[:i]); v.Kind() != jsonv.KindObject || v.Len() > 0 {
			break
		}
		meta, ok = meta.Delete(p[:i])
	}
	return meta
}

// deleteMergedNulls deletes the metadata of what a merge patch at p
// removes: the members it sets to null.
func deleteMergedNulls(meta jsonv.Value, p jsonv.Pointer, patch jsonv.Value) jsonv.Value {
	switch patch.Kind() {
	case jsonv.KindNull:
		if !p.IsRoot() {
			meta = deleteMetadata(meta, p)
		}
	case jsonv.KindObject:
		for _, m := range patch.Members() {
			if m.Value.Kind() == jsonv.KindNull || m.Value.Kind() == jsonv.KindObject {
				meta = deleteMergedNulls(meta, p.Append(m.Key), m.Value)
			}
		}
	}
	return meta
}

func valueAt(doc jsonv.Value, p jsonv.Pointer) jsonv.Value {
	v, ok := doc.At(p)
	if !ok {
		return jsonv.Null()
	}
	return v
}

// snapshot is the stored form of a State: the document plus the timestamps
// the document itself does not carry.
type snapshot struct {
	Created  time.Time       `json:"created"`
	Modified time.Time       `json:"modified"`
	Entity   json.RawMessage `json:"entity,omitempty"`
	Metadata json.RawMessage `json:"metadata,omitempty"`
}

// marshalSnapshot writes the times with encoding/json and appends the
// document as it is: encoding/json would re-validate it and refuse one
// nested deeper than its own limit (10000 levels).
func (s *State) marshalSnapshot() ([]byte, error) {
	head, err := json.Marshal(snapshot{Created: s.Created(), Modified: s.Modified()})
	if err != nil || s.Raw() == nil {
		return head, err
	}
	out := make([]byte, 0, len(head)+len(`,"entity":`)+len(s.raw)+1)
	out = append(out, head[:len(head)-1]...) // without the closing brace
	out = append(out, `,"entity":`...)
	out = append(out, s.raw...)
	if s.meta != nil {
		out = append(out, `,"metadata":`...)
		out = append(out, *s.meta...)
	}
	return append(out, '}'), nil
}

func (s *State) unmarshalSnapshot(rev int64, deleted bool, data []byte) error {
	var sn snapshot
	if err := json.Unmarshal(data, &sn); err != nil {
		// encoding/json refuses nesting deeper than 10000 levels, which
		// an entity stored before writes were depth-checked may have.
		var deepErr error
		if sn, deepErr = unmarshalDeepSnapshot(data); deepErr != nil {
			return fmt.Errorf("snapshot of %s at %d: %w", s.ID, rev, err)
		}
	}
	s.Revision, s.Deleted = rev, deleted
	s.created, s.modified = toUnixNano(sn.Created), toUnixNano(sn.Modified)
	s.raw, s.doc, s.meta = nil, nil, nil
	if !deleted {
		s.raw = bytes.Clone(sn.Entity) // not the rest of the snapshot
		if len(sn.Metadata) > 0 && !bytes.Equal(sn.Metadata, []byte("null")) {
			m := bytes.Clone(sn.Metadata)
			s.meta = &m
		}
	}
	return nil
}

// unmarshalDeepSnapshot reads a snapshot with jsonv.ParseStored.
func unmarshalDeepSnapshot(data []byte) (snapshot, error) {
	v, err := jsonv.ParseStored(data)
	if err != nil {
		return snapshot{}, err
	}
	var sn snapshot
	for _, f := range []struct {
		key string
		t   *time.Time
	}{{"created", &sn.Created}, {"modified", &sn.Modified}} {
		if tv, ok := v.Get(f.key); ok {
			str, _ := tv.Str()
			if err := f.t.UnmarshalText([]byte(str)); err != nil {
				return snapshot{}, err
			}
		}
	}
	if e, ok := v.Get("entity"); ok && e.Kind() != jsonv.KindNull {
		sn.Entity = e.AppendJSON(nil)
	}
	if m, ok := v.Get("metadata"); ok && m.Kind() == jsonv.KindObject {
		sn.Metadata = m.AppendJSON(nil)
	}
	return sn, nil
}
