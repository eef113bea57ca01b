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
		s.raw, s.doc = nil, nil
		return nil
	}
	if (ch.Action == ActionCreated || ch.Action == ActionModified) && ch.Path.IsRoot() &&
		(ch.Action == ActionCreated || !s.Exists()) {
		s.created = toUnixNano(ts)
	}
	doc, _, err = ch.ApplyTo(doc)
	if err != nil {
		return err
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
}

// marshalSnapshot writes the times with encoding/json and appends the
// document as it is: encoding/json would re-validate it and refuse one
// nested deeper than its own limit (10000 levels).
func (s *State) marshalSnapshot() ([]byte, error) {
	head, err := json.Marshal(snapshot{Created: s.Created(), Modified: s.Modified()})
	if err != nil || s.Raw() == nil {
		return head, err
	}
	out := make([]byte, 0, len(head)+len(`,"entity":`)+len(s.raw))
	out = append(out, head[:len(head)-1]...) // without the closing brace
	out = append(out, `,"entity":`...)
	out = append(out, s.raw...)
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
	s.raw, s.doc = nil, nil
	if !deleted {
		s.raw = bytes.Clone(sn.Entity) // not the rest of the snapshot
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
	return sn, nil
}
