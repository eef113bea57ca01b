package entity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/streams"
)

// Streaming history: a retrieve with streams.HeaderHistory asks for a page
// of the entity's persisted events (Ditto's SubscribeForPersistedEvents,
// which its SSE route sends for from-historical-revision and
// from-historical-timestamp). The gateway pages through the range, one
// request per page, while it writes the pages to its client, so that
// neither side holds more than a page of a long history.
//
// Each page is enforced anew with the entity as it is now: the Handler,
// as a HistoryViewer, checks that the caller may read the retrieve's path
// and cuts each event down to what the caller may read, as Ditto filters
// persisted events with the current policy.

// HistoryViewer is implemented by a Handler whose entities stream their
// history.
type HistoryViewer interface {
	// HistoryView enforces cmd, a retrieve of cur (which may not exist),
	// as a read of its path now. It returns what cuts a persisted event
	// down to what the caller may read, in place, reporting false for an
	// event the caller may read nothing of; or the error the caller gets
	// instead (the entity's not-found when it may not read it).
	HistoryView(ctx context.Context, cmd *Command, cur *State) (func(ev *protocol.Envelope) bool, error)
}

const (
	// maxHistoryPage bounds the events of one page, whatever the gateway
	// asks; maxHistoryPageBytes its size, under NATS's default max payload
	// (a page has at least one event).
	maxHistoryPage      = 1000
	maxHistoryPageBytes = 512 << 10
)

// historyRange is an EventsRange resolved against the current revision.
type historyRange struct {
	from, to int64
}

// parsedRange is an EventsRange as read, before it is resolved: the
// revisions as given (relative ones negative) or the instants.
type parsedRange struct {
	from, to         int64
	hasTo            bool
	fromTime, toTime time.Time
	byTime           bool
}

// parseEventsRange reads r, or returns the client's error for a malformed
// value, as Ditto's SSE route answers it: 400 json.format.invalid with
// Java's parse message. Revisions and instants do not mix; the instants
// must be in order.
func parseEventsRange(r command.EventsRange) (parsedRange, error) {
	var p parsedRange
	if (r.From != "" || r.To != "") && (r.FromTime != "" || r.ToTime != "") {
		return p, protocol.ErrJSONFormatInvalid("The revision range (from-historical-revision, to-historical-revision) and the timestamp range (from-historical-timestamp, to-historical-timestamp) must not be combined.")
	}
	long := func(s string) (int64, error) {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, protocol.ErrJSONFormatInvalid(fmt.Sprintf("For input string: \"%s\"", s))
		}
		return n, nil
	}
	instant := func(s string) (time.Time, error) {
		t, err := ParseTimestamp(s)
		if err != nil {
			return time.Time{}, protocol.ErrJSONFormatInvalid(fmt.Sprintf("Text '%s' could not be parsed", s))
		}
		return t, nil
	}
	var err error
	if r.FromTime != "" || r.ToTime != "" {
		p.byTime = true
		if r.FromTime == "" {
			return p, protocol.ErrJSONFormatInvalid("from-historical-timestamp is missing.")
		}
		if p.fromTime, err = instant(r.FromTime); err != nil {
			return p, err
		}
		if r.ToTime != "" {
			if p.toTime, err = instant(r.ToTime); err != nil {
				return p, err
			}
			if p.toTime.Before(p.fromTime) {
				return p, protocol.ErrJSONFormatInvalid(fmt.Sprintf("The from-historical-timestamp '%s' is after the to-historical-timestamp '%s'.", r.FromTime, r.ToTime))
			}
		}
		return p, nil
	}
	if r.From == "" {
		return p, protocol.ErrJSONFormatInvalid("from-historical-revision is missing.")
	}
	if p.from, err = long(r.From); err != nil {
		return p, err
	}
	if r.To != "" {
		if p.to, err = long(r.To); err != nil {
			return p, err
		}
		p.hasTo = p.to != 0
	}
	return p, nil
}

// resolve returns the revisions p covers for entity id at revision cur:
// relative revisions count back from cur, instants select the events made
// after fromTime and before toTime (as Ditto's filter on the events'
// timestamps). A revision beyond cur, or a range that ends before the
// entity's first event, is its history.notfound; a range whose end comes
// before its start the client's 400.
func (h *Host) resolve(ctx context.Context, id string, cur int64, p parsedRange) (historyRange, error) {
	if p.byTime {
		now := time.Now()
		if p.fromTime.After(now) {
			return historyRange{}, h.cfg.Errors.historyNotAccessibleAt(id, protocol.FormatInstant(p.fromTime))
		}
		pid := h.pid(id)
		sn, err := h.j.SNAt(ctx, pid, p.fromTime)
		if err != nil {
			return historyRange{}, fmt.Errorf("revision of %s at %s: %w", pid, p.fromTime, err)
		}
		r := historyRange{from: sn + 1, to: cur}
		if !p.toTime.IsZero() {
			// Before toTime: at or before the millisecond before it.
			if r.to, err = h.j.SNAt(ctx, pid, p.toTime.Add(-time.Millisecond)); err != nil {
				return historyRange{}, fmt.Errorf("revision of %s at %s: %w", pid, p.toTime, err)
			}
			if r.to < 1 {
				return historyRange{}, h.cfg.Errors.historyNotAccessibleAt(id, protocol.FormatInstant(p.toTime))
			}
		}
		return r, nil // possibly empty: no event in the window
	}
	abs := func(rev int64) int64 {
		if rev < 0 {
			return cur + rev
		}
		return rev
	}
	r := historyRange{from: max(abs(p.from), 1), to: cur}
	if p.hasTo {
		r.to = abs(p.to)
	}
	for _, rev := range []int64{p.from, p.to} {
		if rev > cur {
			return historyRange{}, h.cfg.Errors.historyNotAccessible(id, rev)
		}
	}
	if r.to < 1 {
		return historyRange{}, h.cfg.Errors.historyNotAccessible(id, r.to)
	}
	if r.from > r.to {
		return historyRange{}, protocol.ErrJSONFormatInvalid(fmt.Sprintf(
			"The historical revision range from %d to %d (as of revision %d) is empty: its start is after its end.", r.from, r.to, cur))
	}
	return r, nil
}

// historyRequest returns the range a command asks for with
// streams.HeaderHistory, or nil.
func historyRequest(req *request, cmd *Command) (*command.EventsRange, error) {
	v := req.msg.Header.Get(streams.HeaderHistory)
	if v == "" {
		return nil, nil
	}
	t := cmd.Topic
	if t.Criterion != protocol.CriterionCommands || t.Action != protocol.ActionRetrieve || t.Channel == protocol.ChannelLive {
		return nil, protocol.ErrJSONFormatInvalid("Only a retrieve of the twin streams history.")
	}
	var r command.EventsRange
	if err := json.Unmarshal([]byte(v), &r); err != nil {
		return nil, protocol.ErrJSONFormatInvalid("The history range is no JSON object.")
	}
	return &r, nil
}

// historyEvents answers the request for a page of events r of cur, the
// entity as it is now.
func (h *Host) historyEvents(ctx context.Context, req *request, cmd *Command, cur *State, r *command.EventsRange) {
	env := &cmd.Envelope
	page, err := h.eventsPage(ctx, cmd, cur, r)
	if err != nil {
		if protocol.AsError(err) == nil {
			err = h.historyUnavailable(ctx, cmd, err)
		}
		h.replyError(req.msg, cmd.Topic, *env, err)
		return
	}
	resp := protocol.Envelope{
		Topic:   env.Topic,
		Headers: protocol.Headers{protocol.HeaderEntityRevision: strconv.FormatInt(cur.Revision, 10)},
		Path:    env.Path,
		Value:   page,
		Status:  http.StatusOK,
	}
	h.reply(req.msg, env, resp)
}

// eventsPage returns the EventsPage r asks for, encoded.
func (h *Host) eventsPage(ctx context.Context, cmd *Command, cur *State, r *command.EventsRange) ([]byte, error) {
	p, err := parseEventsRange(*r)
	if err != nil {
		return nil, err
	}
	hv, ok := h.h.(HistoryViewer)
	if !ok {
		return nil, protocol.ErrJSONFormatInvalid("This entity type has no streamable history.")
	}
	cut, err := hv.HistoryView(ctx, cmd, cur)
	if err != nil {
		return nil, err
	}
	rng, err := h.resolve(ctx, cmd.EntityID, cur.Revision, p)
	if err != nil {
		return nil, err
	}
	limit := r.Limit
	if limit <= 0 || limit > maxHistoryPage {
		limit = maxHistoryPage
	}
	last := min(rng.to, rng.from+int64(limit)-1)
	var evs []eventRecord
	if rng.from <= last {
		if evs, err = h.readEvents(ctx, cmd.EntityID, rng.from, last); err != nil {
			return nil, err
		}
	}
	out := append(make([]byte, 0, 4096), `{"to":`...)
	out = strconv.AppendInt(out, rng.to, 10)
	out = append(out, `,"events":[`...)
	// next is where the following page starts: after this one, or at the
	// event that did not fit.
	next, first := last+1, true
	for _, e := range evs {
		if len(out) > maxHistoryPageBytes && !first {
			next = e.sn
			break
		}
		if !cut(&e.env) {
			continue
		}
		if !first {
			out = append(out, ',')
		}
		first = false
		if out, err = e.env.AppendJSONTrusted(out); err != nil {
			return nil, fmt.Errorf("encode event %d of %s: %w", e.sn, cmd.EntityID, err)
		}
	}
	if next > rng.to {
		next = 0 // done
	}
	out = append(out, `],"next":`...)
	out = strconv.AppendInt(out, next, 10)
	return append(out, '}'), nil
}

// eventRecord is one persisted event as a page sends it.
type eventRecord struct {
	sn  int64
	env protocol.Envelope
}

// readEvents reads the events from..to of entity id as envelopes with the
// revision, the timestamp and the historical headers journaled with them
// (and none of the headers the event was published with, which were for
// its receivers then).
func (h *Host) readEvents(ctx context.Context, id string, from, to int64) ([]eventRecord, error) {
	pid := h.pid(id)
	evs, err := h.j.Events(ctx, pid, from, to)
	if err != nil {
		return nil, fmt.Errorf("events %d to %d of %s: %w", from, to, pid, err)
	}
	out := make([]eventRecord, 0, len(evs))
	for _, e := range evs {
		env, err := protocol.DecodeEnvelopeTrusted(e.Payload)
		if err != nil {
			return nil, fmt.Errorf("event %d of %s: %w", e.SN, pid, err)
		}
		env.Headers = protocol.Headers{}
		if e.Headers != nil {
			b, _ := json.Marshal(e.Headers) // a map of strings always marshals
			env.Headers[protocol.HeaderHistoricalHeaders] = string(b)
		}
		env.Revision = e.SN
		if env.Timestamp == "" {
			env.Timestamp = protocol.FormatInstant(e.Timestamp.UTC())
		}
		out = append(out, eventRecord{sn: e.SN, env: env})
	}
	return out, nil
}
