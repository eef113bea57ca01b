package entity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/logging"
)

// History: a retrieve with Ditto's at-historical-revision or
// at-historical-timestamp header reads the entity as it was then
// (Ditto's AbstractPersistenceActor.handleHistoricalRetrieveCommand). The
// host rebuilds that state apart from the live one, from the nearest
// snapshot at or before the revision and the events after it, and hands
// it to the Handler as Command.History; the Handler enforces with the
// entity as it is now (the current policy) and answers from the past
// state. The answer carries the revision it shows (entity-revision) and
// the historical headers journaled with that revision's event
// (historical-headers: the configured HistoricalHeaders, e.g. who made
// the change).

// At is the point in an entity's past a retrieve asks for.
type At struct {
	// Revision is at-historical-revision, when HasRevision.
	Revision    int64
	HasRevision bool
	// Time is at-historical-timestamp, zero when not given.
	Time time.Time
}

// ParseAt reads the at-historical-revision and at-historical-timestamp
// headers of h; ok is false when neither is set. With both, the entity is
// read at the last revision that is at most Revision and was made at or
// before Time, as Ditto reads both. A malformed value is Ditto's 400
// header.invalid.
func ParseAt(h protocol.Headers) (at At, ok bool, err error) {
	if v, set := h[protocol.HeaderAtHistoricalRevision]; set {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return At{}, true, protocol.ErrHeaderInvalid(protocol.HeaderAtHistoricalRevision, v, "long")
		}
		at.Revision, at.HasRevision, ok = n, true, true
	}
	if v, set := h[protocol.HeaderAtHistoricalTimestamp]; set {
		t, err := ParseTimestamp(v)
		if err != nil {
			return At{}, true, protocol.ErrHeaderInvalid(protocol.HeaderAtHistoricalTimestamp, v, "ISO-8601 timestamp")
		}
		at.Time, ok = t, true
	}
	return at, ok, nil
}

// timestampLayouts are the forms ParseTimestamp reads (after upper-casing):
// RFC 3339 with an optional fraction of up to nine digits, and the same
// without seconds.
var timestampLayouts = [...]string{"2006-01-02T15:04:05.999999999Z07:00", "2006-01-02T15:04Z07:00"}

// ParseTimestamp reads an at-historical-timestamp as Java's Instant.parse
// reads an ISO-8601 instant (2022-10-24T03:11:15Z, a fraction of up to nine
// digits, T and Z in any case, an offset such as +02:00 instead of Z), and
// also without seconds (2022-10-24T07:11Z, as Ditto's documentation writes
// one). The result is in UTC.
func ParseTimestamp(s string) (time.Time, error) {
	u := strings.ToUpper(s)
	if len(u) != len(s) || len(u) > 40 {
		return time.Time{}, fmt.Errorf("timestamp %q: not ISO-8601", s)
	}
	if i := strings.IndexByte(u, '.'); i >= 0 {
		// Go reads any number of digits; Java at most nine.
		j := i + 1
		for j < len(u) && u[j] >= '0' && u[j] <= '9' {
			j++
		}
		if j-i-1 > 9 {
			return time.Time{}, fmt.Errorf("timestamp %q: more than nine digits of fraction", s)
		}
	}
	for _, layout := range timestampLayouts {
		if t, err := time.Parse(layout, u); err == nil {
			if t = t.UTC(); t.Year() < 0 || t.Year() > 9999 {
				break // an offset took it out of four-digit years
			}
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("timestamp %q: not ISO-8601 (e.g. 2022-10-24T03:11:15Z)", s)
}

// isHistorical reports whether cmd reads persisted state at a point of
// its past: a retrieve of the entity (not of the live channel, which asks
// the device) with either history header.
func isHistorical(cmd *Command) bool {
	t := cmd.Topic
	if t.Criterion != protocol.CriterionCommands || t.Action != protocol.ActionRetrieve || t.Channel == protocol.ChannelLive {
		return false
	}
	h := cmd.Envelope.Headers
	_, rev := h[protocol.HeaderAtHistoricalRevision]
	_, ts := h[protocol.HeaderAtHistoricalTimestamp]
	return rev || ts
}

// past is the entity a historical retrieve reads.
type past struct {
	// state is the entity at rev; nil when rev is the current revision,
	// which the handler reads from memory as any retrieve.
	state *State
	rev   int64
	// headers are the historical headers journaled with revision rev.
	headers map[string]string
}

// errHistoryGone reports that the journal no longer holds what rebuilding
// a revision needs (cleaned up, or never written).
var errHistoryGone = errors.New("history not in the journal")

// maxPastAside bounds the historical retrieves run beside the mailboxes
// at once; beyond it they run in their entity's turn.
const maxPastAside = 16

// pastAside runs the historical retrieve cmd beside its entity's mailbox,
// on a copy of cur (the entity as it is now, which enforces it), and
// reports whether it did: rebuilding a past state reads the journal,
// which must not hold up the entity's other commands, and reads of the
// past of one entity then run in parallel. The answer may overtake those
// of commands sent after it. When maxPastAside are running it returns
// false and the caller runs it in turn.
func (h *Host) pastAside(ctx context.Context, req *request, cmd *Command, cur *State) bool {
	return h.aside(ctx, req, cmd, cur, h.retrievePast)
}

// aside runs read, a read of the past of cur, as pastAside describes.
func (h *Host) aside(ctx context.Context, req *request, cmd *Command, cur *State, read func(context.Context, *request, *Command, *State)) bool {
	select {
	case h.pastSlots <- struct{}{}:
	default:
		return false
	}
	// A copy, as passLive's: the worker goes on with its own. It shares
	// the document bytes, which nobody changes in place.
	now := *cur
	now.forget()
	// Running in a worker, which Run waits for: the count is above zero.
	h.workers.Add(1)
	go func() {
		defer h.workers.Done()
		defer func() { <-h.pastSlots }()
		// The caller's ctx ends when its turn does; this one keeps its
		// trace and the command's deadline.
		actx, cancel := context.WithDeadline(context.WithoutCancel(ctx), cmd.Deadline)
		defer cancel()
		read(actx, req, cmd, &now)
	}()
	return true
}

// retrievePast answers the historical retrieve cmd of the existing
// entity cur: the past state goes to the handler as Command.History,
// which enforces with cur, and the answer gets the revision and the
// historical headers it shows.
func (h *Host) retrievePast(ctx context.Context, req *request, cmd *Command, cur *State) {
	env := &cmd.Envelope
	p, err := h.history(ctx, cmd, cur)
	if err != nil {
		h.replyError(req.msg, cmd.Topic, *env, err)
		return
	}
	cmd.History = p.state
	out, err := h.h.Handle(ctx, cmd, cur)
	switch {
	case err != nil:
		h.replyError(req.msg, cmd.Topic, *env, err)
		return
	case out.Event != nil:
		// The past is read-only: a handler must not change it.
		h.log.ErrorContext(ctx, "historical retrieve produced an event; dropped", "entity_id", cmd.EntityID,
			logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]))
		h.replyError(req.msg, cmd.Topic, *env, errInternal)
		return
	}
	resp := out.Response
	if out.After != nil {
		out.After(cur, &resp)
	}
	p.answer(&resp)
	if !out.Forwarded {
		h.reply(req.msg, env, resp)
	}
}

// history finds the entity the historical retrieve cmd reads, given cur,
// the existing entity as it is. An entity that does not exist now has no
// history to read: the handler answers that it does not exist, as Ditto's
// deleted entities do, and the caller does not come here.
func (h *Host) history(ctx context.Context, cmd *Command, cur *State) (*past, error) {
	at, _, err := ParseAt(cmd.Envelope.Headers)
	if err != nil {
		return nil, err
	}
	notAccessible := func() error {
		if !at.Time.IsZero() {
			return h.cfg.Errors.historyNotAccessibleAt(cur.ID, protocol.FormatInstant(at.Time))
		}
		return h.cfg.Errors.historyNotAccessible(cur.ID, at.Revision)
	}
	pid := h.pid(cur.ID)
	rev := cur.Revision
	if at.HasRevision {
		if at.Revision < 1 || at.Revision > cur.Revision {
			return nil, notAccessible()
		}
		rev = at.Revision
	}
	if !at.Time.IsZero() {
		if at.Time.After(time.Now()) {
			return nil, notAccessible() // Ditto: no history of the future
		}
		sn, err := h.j.SNAt(ctx, pid, at.Time)
		if err != nil {
			return nil, h.historyUnavailable(ctx, cmd, err)
		}
		if sn < 1 {
			return nil, notAccessible() // before the entity's first event
		}
		rev = min(rev, sn)
	}
	p := &past{rev: rev}
	if rev == cur.Revision {
		// The handler reads the entity from memory; only the event's
		// headers are read.
		evs, err := h.j.Events(ctx, pid, rev, rev)
		if err != nil {
			return nil, h.historyUnavailable(ctx, cmd, err)
		}
		if len(evs) == 1 {
			p.headers = evs[0].Headers
		}
		return p, nil
	}
	st, headers, err := h.rebuild(ctx, cur.ID, rev)
	if errors.Is(err, errHistoryGone) {
		return nil, notAccessible()
	}
	if err != nil {
		return nil, h.historyUnavailable(ctx, cmd, err)
	}
	p.state, p.headers = &st, headers
	return p, nil
}

// historyUnavailable logs a failed read of the journal and returns the
// answer to it.
func (h *Host) historyUnavailable(ctx context.Context, cmd *Command, err error) error {
	if ctx.Err() == nil {
		h.log.ErrorContext(ctx, "read history", "entity_id", cmd.EntityID,
			logging.CorrelationID(cmd.Envelope.Headers[protocol.HeaderCorrelationID]), "err", err)
	}
	return h.cfg.Errors.Unavailable(cmd.EntityID)
}

// rebuild returns entity id as of revision rev, which must be at least 1,
// and the historical headers of its event: the latest snapshot at or
// before rev, then the events after it up to rev. It reads the journal
// only; nothing in memory changes. An error that errors.Is errHistoryGone
// reports a revision whose snapshot or events are no longer stored.
func (h *Host) rebuild(ctx context.Context, id string, rev int64) (State, map[string]string, error) {
	pid := h.pid(id)
	if st, headers, ok, err := h.rebuildFromCheckpoint(ctx, pid, id, rev); ok || err != nil {
		return st, headers, err
	}
	st := State{ID: id}
	snap, ok, err := h.j.LatestSnapshot(ctx, pid, rev)
	if err != nil {
		return State{}, nil, fmt.Errorf("snapshot of %s at %d: %w", pid, rev, err)
	}
	if ok {
		if err := st.unmarshalSnapshot(snap.SN, snap.Deleted, snap.Payload); err != nil {
			return State{}, nil, err
		}
	}
	if st.Revision == rev {
		// The snapshot is the answer; its event has the headers, if it is
		// still stored.
		evs, err := h.j.Events(ctx, pid, rev, rev)
		if err != nil {
			return State{}, nil, fmt.Errorf("event %d of %s: %w", rev, pid, err)
		}
		var headers map[string]string
		if len(evs) == 1 {
			headers = evs[0].Headers
		}
		return st, headers, nil
	}
	events, err := h.j.Events(ctx, pid, st.Revision+1, rev)
	if err != nil {
		return State{}, nil, fmt.Errorf("events of %s up to %d: %w", pid, rev, err)
	}
	if len(events) == 0 || events[0].SN != st.Revision+1 || events[len(events)-1].SN != rev {
		return State{}, nil, fmt.Errorf("%w: %s at %d", errHistoryGone, pid, rev)
	}
	for _, e := range events {
		if e.SN != st.Revision+1 {
			return State{}, nil, fmt.Errorf("%w: %s has no event %d", errHistoryGone, pid, st.Revision+1)
		}
		ch, err := ChangeOf(e.Payload, h.cfg.ParseEventPath)
		if err != nil {
			return State{}, nil, fmt.Errorf("event %d of %s: %w", e.SN, pid, err)
		}
		if err := st.change(ch, e.SN, e.Timestamp.UTC()); err != nil {
			return State{}, nil, fmt.Errorf("event %d of %s: %w", e.SN, pid, err)
		}
		if e.SN%checkpointStep == 0 && h.past != nil {
			st.encode()
			h.past.put(pid, &st)
		}
	}
	if rev%checkpointStep != 0 || h.past == nil {
		st.encode()
	}
	st.Memo = nil
	return st, events[len(events)-1].Headers, nil
}

// rebuildFromCheckpoint is rebuild from the cached checkpoint at or
// before rev (pastcache.go), when there is one and the journal still
// holds its event, with the timestamp it was rebuilt with, and the events
// after it up to rev; ok is false when it could not.
func (h *Host) rebuildFromCheckpoint(ctx context.Context, pid, id string, rev int64) (st State, headers map[string]string, ok bool, err error) {
	from := rev - rev%checkpointStep
	cp, ok := h.past.get(pid, from)
	if from < 1 || !ok {
		return State{}, nil, false, nil
	}
	events, err := h.j.Events(ctx, pid, from, rev)
	if err != nil {
		return State{}, nil, false, fmt.Errorf("events of %s from %d to %d: %w", pid, from, rev, err)
	}
	if int64(len(events)) != rev-from+1 || events[0].SN != from || toUnixNano(events[0].Timestamp) != cp.modified {
		h.past.drop(pid, from) // not what the journal says (any more)
		return State{}, nil, false, nil
	}
	st = cp.state(id)
	for _, e := range events[1:] {
		if e.SN != st.Revision+1 {
			return State{}, nil, false, nil
		}
		ch, err := ChangeOf(e.Payload, h.cfg.ParseEventPath)
		if err != nil {
			return State{}, nil, false, fmt.Errorf("event %d of %s: %w", e.SN, pid, err)
		}
		if err := st.change(ch, e.SN, e.Timestamp.UTC()); err != nil {
			return State{}, nil, false, fmt.Errorf("event %d of %s: %w", e.SN, pid, err)
		}
	}
	if len(events) > 1 {
		st.encode()
	}
	st.Memo = nil
	return st, events[len(events)-1].Headers, true, nil
}

// answer puts what the historical retrieve read into its response: the
// revision (entity-revision) and the historical headers of its event (an
// empty object when none were journaled).
func (p *past) answer(resp *protocol.Envelope) {
	if resp.Headers == nil {
		resp.Headers = protocol.Headers{}
	}
	resp.Headers[protocol.HeaderEntityRevision] = strconv.FormatInt(p.rev, 10)
	headers := p.headers
	if headers == nil {
		headers = map[string]string{}
	}
	b, err := json.Marshal(headers) // a map of strings always marshals, keys sorted
	if err == nil {
		resp.Headers[protocol.HeaderHistoricalHeaders] = string(b)
	}
}

// historicalHeaders are the headers journaled with the event a command
// makes: each of the configured HistoricalHeaders the event or else the
// command carries. ditto-originator is always the caller's first
// authenticated subject, never what a message says.
func (h *Host) historicalHeaders(cmd *Command, ev *Event) map[string]string {
	if len(h.cfg.HistoricalHeaders) == 0 {
		return nil
	}
	out := make(map[string]string, len(h.cfg.HistoricalHeaders))
	for _, k := range h.cfg.HistoricalHeaders {
		if k == protocol.HeaderOriginator {
			if len(cmd.Auth) > 0 {
				out[k] = cmd.Auth[0]
			}
			continue
		}
		if v, ok := ev.Headers[k]; ok {
			out[k] = v
		} else if v, ok := cmd.Envelope.Headers[k]; ok {
			out[k] = v
		}
	}
	return out
}

// historyNotAccessible and historyNotAccessibleAt build the entity's
// history.notfound errors, generic ones when the service gave none.
func (e Errors) historyNotAccessible(id string, rev int64) *protocol.Error {
	if e.HistoryNotAccessible != nil {
		return e.HistoryNotAccessible(id, rev)
	}
	return protocol.NewError(404, "history.notfound",
		fmt.Sprintf("The entity with ID '%s' at revision '%d' could not be found or requester had insufficient permissions to access it.", id, rev), "")
}

func (e Errors) historyNotAccessibleAt(id, ts string) *protocol.Error {
	if e.HistoryNotAccessibleAt != nil {
		return e.HistoryNotAccessibleAt(id, ts)
	}
	return protocol.NewError(404, "history.notfound",
		fmt.Sprintf("The entity with ID '%s' at timestamp '%s' could not be found or requester had insufficient permissions to access it.", id, ts), "")
}

// Stored returns entity id as its journal holds it now: the state its
// last committed event left, read from the store, not from its owner. A
// handler that computes one entity from others (a policy from the
// policies it imports) reads them so: asking their owners would wait on
// their mailboxes, where a command of theirs may be waiting for this
// entity in turn. An entity that never existed is returned with
// revision 0.
func (h *Host) Stored(ctx context.Context, id string) (State, error) {
	rev, err := h.j.HighestSN(ctx, h.pid(id))
	if err != nil {
		return State{}, fmt.Errorf("highest revision of %s: %w", id, err)
	}
	if rev == 0 {
		return State{ID: id}, nil
	}
	st, _, err := h.rebuild(ctx, id, rev)
	return st, err
}
