package search

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/searchapi"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/services/search/index"
	"github.com/dittonats/dittonats/streams"
)

// maxFilterLength bounds a filter's text, so that a huge filter is refused
// before it is parsed (Ditto's gateway bounds the URI at 8 KiB; a POST body
// can carry more).
const maxFilterLength = 256 << 10

// serveQueries answers searchapi requests until ctx ends: cfg.Queries
// workers run them, and the rest wait their turn. The workers live as long
// as the service. A query runs deep in SQLite, and a goroutine started per
// query grew its stack anew every time: copying stacks took 4% of the CPU
// of a SEARCH_ATTRIBUTE run.
func (s *Service) serveQueries(ctx context.Context) (*nats.Subscription, error) {
	work := make(chan queued, queryBacklog)
	for range s.cfg.Queries {
		go func() {
			for {
				select {
				case q := <-work:
					s.serveQuery(ctx, q.m, q.at)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	return s.nc.QueueSubscribe(s.names.SearchQueries(), streams.ServiceSearch, func(m *nats.Msg) {
		select {
		case work <- queued{m, time.Now()}:
		case <-ctx.Done():
		}
	})
}

// queued is a request waiting for a worker since at.
type queued struct {
	m  *nats.Msg
	at time.Time
}

// queryBacklog is how many requests wait for a worker before the
// subscription's own queue holds the rest.
const queryBacklog = 1024

// serveQuery answers one request on a worker; its time is measured from
// start, when it arrived.
func (s *Service) serveQuery(ctx context.Context, m *nats.Msg, start time.Time) {
	var req searchapi.Request
	if err := json.Unmarshal(m.Data, &req); err != nil {
		s.answerError(m, protocol.ErrJSONInvalid("The search request is not valid JSON: "+err.Error()))
		return
	}
	if req.Type == searchapi.TypeAwait {
		go s.await(ctx, m, req) // waits, but does no work: no worker
		return
	}
	actx := ctx
	if s.tracer.Enabled() {
		var sp tracing.Span
		actx, sp = s.tracer.StartConsumer(ctx, tracing.SpanSearch, req.Type, m.Header)
		sp.SetCorrelationID(m.Header.Get("correlation-id"))
		defer sp.End()
	}
	s.answer(actx, m, req)
	switch req.Type {
	case searchapi.TypeQuery:
		s.metrics.queryKind.Observe(time.Since(start).Seconds())
	case searchapi.TypeCount:
		s.metrics.countKind.Observe(time.Since(start).Seconds())
	}
}

func (s *Service) answerError(m *nats.Msg, err error) {
	perr := protocol.AsError(err)
	if perr == nil {
		s.log.Error("search request failed", "err", err)
		perr = protocol.ErrGatewayInternal()
	}
	b, _ := json.Marshal(perr)
	s.respond(m, perr.Status, b)
}

func (s *Service) respond(m *nats.Msg, status int, body []byte) {
	reply := nats.NewMsg(m.Reply)
	reply.Header.Set(searchapi.HeaderStatus, strconv.Itoa(status))
	reply.Data = body
	if err := m.RespondMsg(reply); err != nil {
		s.log.Warn("search reply not sent", "err", err)
	}
}

// authOf reads the caller's subjects; a request without them is refused.
func authOf(m *nats.Msg) ([]string, error) {
	var subjects []string
	v := m.Header.Get(streams.HeaderAuth)
	if v == "" || json.Unmarshal([]byte(v), &subjects) != nil || len(subjects) == 0 {
		return nil, protocol.NewError(http.StatusUnauthorized, "gateway:authentication.failed",
			"The search request carries no authenticated subjects.", "")
	}
	return subjects, nil
}

// query is a parsed search request.
type query struct {
	ix       index.Query
	page     int
	opts     rql.Options
	fields   jsonv.FieldSelector
	filter   *string
	cursored bool
}

func (s *Service) answer(ctx context.Context, m *nats.Msg, req searchapi.Request) {
	subjects, err := authOf(m)
	if err != nil {
		s.answerError(m, err)
		return
	}
	q, err := s.parse(req, subjects)
	if err != nil {
		s.answerError(m, err)
		return
	}
	timeout := s.cfg.QueryTimeout
	if req.TimeoutMillis > 0 {
		timeout = time.Duration(req.TimeoutMillis) * time.Millisecond
	}
	qctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	switch req.Type {
	case searchapi.TypeCount:
		n, err := s.ix.Count(qctx, q.ix)
		if err != nil {
			s.answerError(m, s.queryError(qctx, err))
			return
		}
		s.respond(m, http.StatusOK, strconv.AppendInt(nil, n, 10))
	case searchapi.TypeQuery:
		body, err := s.search(qctx, q, m.Header.Get("correlation-id"))
		if err != nil {
			s.answerError(m, s.queryError(qctx, err))
			return
		}
		s.respond(m, http.StatusOK, body)
	default:
		s.answerError(m, protocol.NewError(http.StatusBadRequest, "thing-search:command.unknown",
			"The search request type <"+req.Type+"> is unknown.", ""))
		return
	}
}

func (s *Service) queryError(ctx context.Context, err error) error {
	if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
		return protocol.ErrSearchQueryTimeExceeded()
	}
	return err
}

// parse checks a request and turns it into an index query.
func (s *Service) parse(req searchapi.Request, subjects []string) (query, error) {
	q := query{ix: index.Query{Subjects: subjects, Namespaces: req.Namespaces, Now: time.Now()}}
	if len(req.Filter) > maxFilterLength {
		return q, protocol.ErrRQLExpressionInvalid("The filter is longer than " + strconv.Itoa(maxFilterLength) + " characters.")
	}
	if req.Filter != "" {
		f := req.Filter
		q.filter = &f
	}
	if req.Options != "" {
		opts, err := rql.ParseOptions(req.Options)
		if err != nil {
			return q, err
		}
		q.opts = opts
	}
	if req.Type == searchapi.TypeCount {
		// Ditto's count takes a filter and namespaces, nothing else.
		q.opts = rql.Options{}
	}
	if req.Fields != "" {
		fs, err := jsonv.ParseFieldSelector(req.Fields)
		if err != nil {
			return q, err
		}
		q.fields = fs
		q.ix.NoDocuments = systemOnly(fs) // see item
	}
	max := s.cfg.Limits.SearchPageMax()
	q.page = s.cfg.Limits.SearchPageDefault()
	switch {
	case q.opts.Size > 0:
		if q.opts.Size > max {
			return q, protocol.ErrSearchOptionInvalid("The option 'size' must be at most " + strconv.Itoa(max) + ".")
		}
		q.page = q.opts.Size
	case q.opts.Limit != nil:
		if q.opts.Limit.Count > max {
			return q, protocol.ErrSearchOptionInvalid("The option 'limit' must not have a count larger than " + strconv.Itoa(max) + ".")
		}
		q.page = q.opts.Limit.Count
		q.ix.Offset = q.opts.Limit.Offset
	}
	sortKeys := q.opts.Sort
	if q.opts.Cursor != "" {
		c, keys, vals, err := decodeCursor(q.opts.Cursor)
		if err != nil {
			return q, err
		}
		switch {
		case q.filter != nil && (c.Filter == nil || *c.Filter != *q.filter):
			return q, errInvalidCursor("The parameter 'filter' must not differ from the original query of the cursor.")
		case !sortCompatible(q.opts.Sort, keys):
			return q, errInvalidCursor("The option 'sort' must not differ from the original query of the cursor.")
		}
		q.filter, q.ix.Namespaces, sortKeys = c.Filter, c.Namespaces, keys
		q.ix.After = vals
		q.cursored = true
	}
	if q.filter != nil {
		n, err := rql.Parse(*q.filter)
		if err != nil {
			return q, err
		}
		q.ix.Filter = n
	}
	q.ix.Sort = index.EffectiveSort(sortKeys)
	q.ix.Limit = q.page
	return q, nil
}

// search runs a query and renders Ditto's SearchResult: the page's items,
// each cut down to what the caller may read and to the selected fields,
// and where the next page starts (Ditto's rules: with limit(...) only
// nextPageOffset, with size(...) or a cursor only a cursor, otherwise
// both; nextPageOffset is -1 on the last page unless size(...) or a cursor
// is used).
func (s *Service) search(ctx context.Context, q query, correlationID string) ([]byte, error) {
	hits, err := s.ix.Query(ctx, q.ix)
	if err != nil {
		return nil, err
	}
	more := len(hits) > q.page
	if more {
		hits = hits[:q.page]
	}
	// The body is written by hand: encoding/json would re-validate and
	// compact every rendered item, which costs as much as rendering it.
	size := 64 + len(hits)*256
	if q.fields == nil {
		// Whole things: about their stored documents (a few appends of a
		// growing body cost more than rendering them).
		size = 256
		for _, h := range hits {
			size += len(h.Raw) + 1
		}
	}
	body := make([]byte, 0, size)
	body = append(body, `{"items":[`...)
	views := map[string]*enforcer.View{}
	for i, h := range hits {
		if i > 0 {
			body = append(body, ',')
		}
		if body, err = s.item(ctx, body, h, q, views); err != nil {
			return nil, err
		}
	}
	body = append(body, ']')
	limited := q.opts.Limit != nil
	if !q.cursored && q.opts.Size == 0 {
		next := int64(-1)
		if more {
			next = int64(q.ix.Offset + q.page)
		}
		body = append(body, `,"nextPageOffset":`...)
		body = strconv.AppendInt(body, next, 10)
	}
	if more && !limited && len(hits) > 0 {
		vals, _ := json.Marshal(hits[len(hits)-1].SortValues)
		c := cursor{Filter: q.filter, Namespaces: q.ix.Namespaces, CorrelationID: correlationID,
			Sort: (rql.Options{Sort: q.ix.Sort}).String(), Values: vals}.encode()
		body = append(body, `,"cursor":`...)
		body = jsonv.String(c).AppendJSON(body)
	}
	return append(body, '}'), nil
}

// item appends one hit to dst as the caller may see it.
func (s *Service) item(ctx context.Context, dst []byte, h index.Hit, q query, views map[string]*enforcer.View) ([]byte, error) {
	ns, _ := protocol.SplitID(h.ThingID)
	if q.ix.NoDocuments {
		// Only fields every caller who finds the thing may read (see
		// parse), written as the general way below writes them: neither
		// the policy nor the document (which the index left out) needed.
		return jsonv.Object(
			jsonv.Member{Key: "thingId", Value: jsonv.String(h.ThingID)},
			jsonv.Member{Key: "_revision", Value: jsonv.Int(h.Revision)},
			jsonv.Member{Key: "_namespace", Value: jsonv.String(ns)},
		).Select(q.fields).AppendJSON(dst), nil
	}
	view, ok := views[h.PolicyID+"\x00"+ns]
	if !ok {
		enf, err := s.policies.get(ctx, h.PolicyID)
		if err != nil {
			return dst, err
		}
		if enf != nil {
			view = enf.For(ns, q.ix.Subjects)
		}
		views[h.PolicyID+"\x00"+ns] = view
	}
	if q.fields == nil && view != nil && view.ReadsAll(enforcer.TypeThing) {
		// The common case: the stored bytes, not parsed and rendered again.
		if out, ok := appendWhole(dst, h.Raw); ok {
			return out, nil
		}
	}
	doc, err := h.Document()
	if err != nil {
		return dst, err
	}
	var visible jsonv.Value
	if view != nil {
		visible, _ = view.View(enforcer.TypeThing, nil, doc, enforcer.Read)
	}
	out := visibleMembers(h.ThingID, visible, q.fields != nil)
	if q.fields != nil {
		if v, ok := doc.Get("_created"); ok {
			out = append(out, jsonv.Member{Key: "_created", Value: v})
		}
		if v, ok := doc.Get("_modified"); ok {
			out = append(out, jsonv.Member{Key: "_modified", Value: v})
		}
		out = append(out,
			jsonv.Member{Key: "_revision", Value: jsonv.Int(h.Revision)},
			jsonv.Member{Key: "_namespace", Value: jsonv.String(ns)})
		return jsonv.Object(out...).Select(q.fields).AppendJSON(dst), nil
	}
	return jsonv.Object(out...).AppendJSON(dst), nil
}

// systemOnly reports whether fields (not nil) select only thingId,
// _revision and _namespace, which a hit shows whatever its policy grants.
func systemOnly(fields jsonv.FieldSelector) bool {
	if fields == nil {
		return false
	}
	for _, p := range fields {
		if len(p) != 1 || p[0] != "thingId" && p[0] != "_revision" && p[0] != "_namespace" {
			return false
		}
	}
	return true
}

// visibleMembers returns what a hit shows of the visible part of its
// thing: thingId first (everyone who sees the thing may read it, Ditto's
// allowlist), then the visible members but the system fields, _metadata
// only when a field selector may ask for it (as a retrieve).
func visibleMembers(thingID string, visible jsonv.Value, selected bool) []jsonv.Member {
	if visible.Kind() != jsonv.KindObject {
		visible = jsonv.Object()
	}
	out := make([]jsonv.Member, 0, visible.Len()+4)
	out = append(out, jsonv.Member{Key: "thingId", Value: jsonv.String(thingID)})
	for _, m := range visible.Members() {
		switch m.Key {
		case "thingId", "_created", "_modified":
			continue
		case "_metadata":
			if !selected {
				continue
			}
		}
		out = append(out, m)
	}
	return out
}

// await answers a search-persisted request: 204 once this instance's index
// holds the thing at the revision (or no longer holds it, for a deletion),
// 408 when the timeout passes first.
func (s *Service) await(ctx context.Context, m *nats.Msg, req searchapi.Request) {
	if _, err := authOf(m); err != nil {
		s.answerError(m, err)
		return
	}
	timeout := time.Duration(req.TimeoutMillis) * time.Millisecond
	if timeout <= 0 {
		timeout = s.cfg.QueryTimeout
	}
	w := s.waiters.add(req.ThingID, req.Revision, req.Deleted)
	defer s.waiters.remove(req.ThingID, w)
	e, ok, err := s.ix.Get(ctx, req.ThingID)
	if err != nil {
		s.answerError(m, err)
		return
	}
	if (req.Deleted && !ok) || (!req.Deleted && ok && e.Revision >= req.Revision) {
		s.respond(m, http.StatusNoContent, nil)
		return
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.done:
		s.respond(m, http.StatusNoContent, nil)
	case <-t.C:
		s.answerError(m, protocol.ErrAckRequestTimeout(timeout))
	case <-ctx.Done():
	}
}

// waiters are the pending search-persisted requests, by thing.
type waiters struct {
	// added gets a signal (when it has room) for each new waiter: the
	// apply loop stops gathering a batch for longer than batchLinger.
	added chan struct{}

	mu sync.Mutex
	m  map[string][]*waiter
}

type waiter struct {
	revision int64
	deleted  bool
	done     chan struct{}
}

func (ws *waiters) add(id string, rev int64, deleted bool) *waiter {
	w := &waiter{revision: rev, deleted: deleted, done: make(chan struct{})}
	ws.mu.Lock()
	if ws.m == nil {
		ws.m = map[string][]*waiter{}
	}
	ws.m[id] = append(ws.m[id], w)
	ws.mu.Unlock()
	select {
	case ws.added <- struct{}{}:
	default:
	}
	return w
}

// pending reports whether any request waits.
func (ws *waiters) pending() bool {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	return len(ws.m) > 0
}

func (ws *waiters) remove(id string, w *waiter) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	list := ws.m[id]
	for i, x := range list {
		if x == w {
			list = append(list[:i], list[i+1:]...)
			break
		}
	}
	if len(list) == 0 {
		delete(ws.m, id)
	} else {
		ws.m[id] = list
	}
}

// notify releases the waiters a write of the thing satisfies.
func (ws *waiters) notify(id string, rev int64, deleted bool) {
	ws.mu.Lock()
	defer ws.mu.Unlock()
	list := ws.m[id]
	if len(list) == 0 {
		return
	}
	kept := list[:0]
	for _, w := range list {
		if (w.deleted && deleted) || (!w.deleted && rev >= w.revision) {
			close(w.done)
			continue
		}
		kept = append(kept, w)
	}
	if len(kept) == 0 {
		delete(ws.m, id)
	} else {
		ws.m[id] = kept
	}
}
