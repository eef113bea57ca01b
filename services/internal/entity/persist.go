package entity

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/tracing"
)

// persist appends ev as the next revision, with the historical headers
// hh, applies it and hands it to the publisher. The event's timestamp
// comes from the publisher, which tracks it from before the append until
// JetStream acknowledged the event: that is what lets a later owner of
// the shard find every event that may not have reached the stream
// (publish.go).
//
// ctx carries the command's trace (it does not bound the append): the
// event carries its traceparent, and the append and the publication are
// spans of it.
func (h *Host) persist(ctx context.Context, sl *slot, ev *Event, hh map[string]string) error {
	rev := sl.state.Revision + 1
	id := sl.state.ID
	shard := h.shardOf(id)
	tsMs := h.pub.begin(shard)
	ts := time.UnixMilli(tsMs).UTC()
	ns, name := protocol.SplitID(id)
	evEnv := protocol.Envelope{
		Topic: protocol.Topic{
			Namespace: ns, EntityName: name,
			Group: h.cfg.Group, Channel: h.cfg.Channel,
			Criterion: protocol.CriterionEvents, Action: ev.Action,
		}.String(),
		Headers:   ev.Headers,
		Path:      ev.Path.String(),
		Revision:  rev,
		Timestamp: FormatTime(ts),
	}
	if evEnv.Headers == nil {
		evEnv.Headers = protocol.Headers{}
	}
	if tp := tracing.Traceparent(ctx); tp != "" {
		// Consumers of the event continue the trace of its command.
		evEnv.Headers[tracing.HeaderTraceparent] = tp
	}
	if ev.Action != ActionDeleted {
		evEnv.Value = ev.Value.AppendJSON(nil)
	}
	if ev.Metadata.Kind() == jsonv.KindObject {
		evEnv.Metadata = ev.Metadata.AppendJSON(nil)
	}
	payload, err := evEnv.AppendJSONTrusted(nil)
	if err != nil {
		h.pub.abort(shard, tsMs)
		return fmt.Errorf("encode event: %w", err)
	}
	// The append must not be cut short by the caller's deadline: an
	// append whose outcome is unknown forces a reload.
	_, span := tracing.Start(ctx, tracing.SpanPersist)
	actx, cancel := context.WithTimeout(context.WithoutCancel(h.base), 30*time.Second)
	defer cancel()
	err = h.j.Append(actx, journal.Event{PID: h.pid(id), SN: rev, Timestamp: ts, Payload: payload, Headers: hh})
	span.Fail(err)
	span.End()
	if err != nil {
		if errors.Is(err, journal.ErrConflict) || errors.Is(err, journal.ErrInvalid) {
			h.pub.abort(shard, tsMs) // nothing of ours was stored
		} else {
			// Stored or not: the publisher looks it up in the journal.
			h.pub.unsure(shard, tsMs, id, rev)
		}
		return err
	}
	// Whatever happens next, the event is in the journal and goes out.
	_, span = tracing.Start(ctx, tracing.SpanPublish)
	h.pub.deliver(shard, tsMs, id, rev, payload)
	span.End()
	if err := sl.state.apply(ev.Change, rev, ts); err != nil {
		return fmt.Errorf("apply persisted event %d: %w", rev, err)
	}
	return nil
}

func (h *Host) pid(id string) string { return pidOf(h.cfg.Kind, id) }

// pidOf is the persistence id of entity id of kind: "thing:<id>".
func pidOf(kind, id string) string { return kind + ":" + id }

// idOfPID reverses pidOf; ok is false for a pid of another kind.
func idOfPID(kind, pid string) (id string, ok bool) { return strings.CutPrefix(pid, kind+":") }

func (h *Host) snapshot(sl *slot) {
	data, err := sl.state.marshalSnapshot()
	if err == nil {
		ctx, cancel := context.WithTimeout(h.base, 30*time.Second)
		defer cancel()
		err = h.j.SaveSnapshot(ctx, journal.Snapshot{
			PID: h.pid(sl.state.ID), SN: sl.state.Revision,
			Timestamp: sl.state.Modified(), Payload: data, Deleted: sl.state.Deleted,
		})
	}
	if err != nil {
		h.log.Warn("save snapshot", "entity_id", sl.state.ID, "revision", sl.state.Revision, "err", err)
	}
}

// load recovers the entity: the latest snapshot, then every later event.
// After an append of unknown outcome or another writer's revision
// (sl.unsure), the revisions beyond the state it had go to the publisher:
// nothing else would publish them.
func (h *Host) load(ctx context.Context, sl *slot) error {
	pid := h.pid(sl.state.ID)
	prev, unsure := sl.state.Revision, sl.unsure
	st := State{ID: sl.state.ID}
	snap, ok, err := h.j.LatestSnapshot(ctx, pid, math.MaxInt64)
	if err != nil {
		return fmt.Errorf("latest snapshot: %w", err)
	}
	if ok {
		if err := st.unmarshalSnapshot(snap.SN, snap.Deleted, snap.Payload); err != nil {
			return err
		}
	}
	events, err := h.j.Events(ctx, pid, st.Revision+1, math.MaxInt64)
	if err != nil {
		return fmt.Errorf("events: %w", err)
	}
	var firstNew time.Time // timestamp of revision prev+1, if read here
	for _, e := range events {
		if e.SN != st.Revision+1 {
			return fmt.Errorf("journal of %s has a gap: revision %d follows %d", pid, e.SN, st.Revision)
		}
		ch, err := ChangeOf(e.Payload, h.cfg.ParseEventPath)
		if err != nil {
			return fmt.Errorf("event %d: %w", e.SN, err)
		}
		if err := st.apply(ch, e.SN, e.Timestamp.UTC()); err != nil {
			return err
		}
		if e.SN == prev+1 {
			firstNew = e.Timestamp
		}
	}
	if unsure && st.Revision > prev {
		if firstNew.IsZero() {
			// Covered by the snapshot: read the event's own time.
			evs, err := h.j.Events(ctx, pid, prev+1, prev+1)
			if err != nil {
				return fmt.Errorf("events: %w", err)
			}
			if len(evs) > 0 {
				firstNew = evs[0].Timestamp
			}
		}
		h.pub.adopt(h.shardOf(st.ID), st.ID, prev+1, st.Revision, firstNew.UnixMilli())
	}
	st.forget()
	sl.state, sl.loaded, sl.unsure = st, true, false
	return nil
}

// ChangeOf reads the change an event envelope describes, with parsePath
// reading its path.
func ChangeOf(payload []byte, parsePath func(string) (jsonv.Pointer, error)) (Change, error) {
	env, err := protocol.DecodeEnvelopeUnchecked(payload)
	if err != nil {
		return Change{}, err
	}
	t, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		return Change{}, err
	}
	p, err := parsePath(env.Path)
	if err != nil {
		return Change{}, err
	}
	ch := Change{Action: t.Action, Path: p}
	if len(env.Value) > 0 {
		if ch.Value, err = jsonv.ParseStored(env.Value); err != nil {
			return Change{}, err
		}
	}
	if len(env.Metadata) > 0 {
		if ch.Metadata, err = jsonv.ParseStored(env.Metadata); err != nil {
			return Change{}, err
		}
	}
	return ch, nil
}
