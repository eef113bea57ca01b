package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/logging"
)

// History over SSE (Ditto's basic-history, "Streaming via SSE"): an SSE
// request of one thing (or a path below it) with from-historical-revision
// or from-historical-timestamp streams the thing's persisted events in the
// range, each rendered as the live stream renders an event (fields with
// _context, filter, the path), and then ends.
//
// The things service reads the journal; the gateway asks it for one page
// at a time (command.EventsRange) and fetches the next page while it
// writes the current one, so that a stream holds at most three pages
// whatever the range, and a client that reads slowly slows the reads of
// the journal. The service enforces every page with the thing's policy as
// it is now: the events come cut down to what the caller may read. An
// error of the first page (a bad range, a thing the caller may not read)
// is the HTTP answer; one of a later page is sent as the stream's last
// event.

const (
	paramFromHistoricalRevision  = "from-historical-revision"
	paramToHistoricalRevision    = "to-historical-revision"
	paramFromHistoricalTimestamp = "from-historical-timestamp"
	paramToHistoricalTimestamp   = "to-historical-timestamp"

	// historyPageSize is the events the gateway asks for per page.
	historyPageSize = 500
	// historyWriteBatch is how much of a page's events is written (and
	// flushed) at once.
	historyWriteBatch = 32 << 10
	// historyPageTimeout bounds the wait for one page.
	historyPageTimeout = 10 * time.Second
)

// historyRange returns the range an SSE request asks for, and false when it
// asks for none: as in Ditto's route, only a from-historical-revision or a
// from-historical-timestamp makes a history stream (each parameter's last
// value counting). The values go to the things service as given, which
// parses and resolves them.
func historyRange(query url.Values) (command.EventsRange, bool) {
	last := func(name string) string {
		if vs := query[name]; len(vs) > 0 {
			return vs[len(vs)-1]
		}
		return ""
	}
	_, rev := query[paramFromHistoricalRevision]
	_, ts := query[paramFromHistoricalTimestamp]
	if !rev && !ts {
		return command.EventsRange{}, false
	}
	r := command.EventsRange{
		From: last(paramFromHistoricalRevision), To: last(paramToHistoricalRevision),
		FromTime: last(paramFromHistoricalTimestamp), ToTime: last(paramToHistoricalTimestamp),
		Limit: historyPageSize,
	}
	if rev && r.From == "" {
		r.From = " " // given empty: malformed, as Long.parseLong("") is
	}
	if ts && r.FromTime == "" {
		r.FromTime = " "
	}
	return r, true
}

// historyPage is a page of events, or the error that ended the paging.
type historyPage struct {
	page command.EventsPage
	err  error
}

// serveHistorySSE streams the history rng of the one thing of spec.
func (g *Gateway) serveHistorySSE(ar *apiRequest, spec sseSpec, rng command.EventsRange) {
	if len(spec.ids) != 1 || spec.messages != "" {
		g.fail(ar, protocol.ErrJSONFormatInvalid("Historical events are streamed for one thing: GET /things/{thingId} with "+paramFromHistoricalRevision+" or "+paramFromHistoricalTimestamp+"."))
		return
	}
	g.running.Add(1)
	defer g.running.Done()
	ctx, cancel := context.WithCancel(ar.r.Context())
	defer cancel()
	go func() {
		select {
		case <-g.closing:
			cancel()
		case <-ctx.Done():
		}
	}()

	id := spec.ids[0]
	path := "/"
	if spec.pointer != nil {
		path = spec.pointer.String()
	}
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(id, protocol.GroupThings, protocol.ChannelTwin, protocol.CriterionCommands, protocol.ActionRetrieve).String(),
		Headers: ar.headers,
		Path:    path,
	}
	pages := make(chan historyPage, 1)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel() // before wg.Wait: the fetcher stops
	wg.Go(func() { g.fetchHistory(ctx, ar.caller, id, env, rng, pages) })

	first, ok := <-pages
	if !ok {
		return // the request ended
	}
	if first.err != nil {
		g.fail(ar, first.err)
		return
	}
	if len(spec.params.namespaces) > 0 && !slices.Contains(spec.params.namespaces, namespaceOf(id)) {
		first.page.Events, first.page.Next = nil, 0
	}
	if m := g.metrics; m != nil {
		m.sse.Add(1)
		defer m.sse.Add(-1)
	}
	sw := &sseWriter{w: ar.w, rc: http.NewResponseController(ar.w), timeout: g.cfg.WriteTimeout}
	stop := context.AfterFunc(ctx, sw.stop)
	defer func() {
		stop()
		sw.close()
	}()
	ar.w.Header()["Content-Type"] = []string{contentTypeEventStream}
	ar.w.WriteHeader(http.StatusOK)
	if !sw.write(nil) {
		return
	}
	hr := historyRenderer{spec: &spec, base: clientHeaders(ar.headers), now: time.Now()}
	buf := make([]byte, 0, historyWriteBatch+4096)
	p := first
	for {
		if p.err != nil {
			// A later page failed: the client learns why the stream ends.
			if perr := protocol.AsError(p.err); perr != nil {
				buf = appendSSEData(buf, errorJSON(perr))
			} else if ctx.Err() == nil {
				g.log.WarnContext(ctx, "history page", "thing_id", id, logging.CorrelationID(ar.headers[protocol.HeaderCorrelationID]), "err", p.err)
				buf = appendSSEData(buf, errorJSON(protocol.ErrGatewayInternal()))
			}
			sw.write(buf)
			return
		}
		for _, raw := range p.page.Events {
			buf = hr.appendFrame(buf, raw)
			if len(buf) >= historyWriteBatch {
				if !sw.write(buf) {
					return
				}
				buf = buf[:0]
			}
		}
		if p.page.Next == 0 {
			break
		}
		var ok bool
		if p, ok = <-pages; !ok {
			return // the request or the gateway ended
		}
	}
	if len(buf) > 0 {
		sw.write(buf)
	}
}

// fetchHistory requests the pages of rng, one after the other, into pages,
// which it closes when it is done, failed or ctx ended.
func (g *Gateway) fetchHistory(ctx context.Context, caller *principal, id string, env protocol.Envelope, rng command.EventsRange, pages chan<- historyPage) {
	defer close(pages)
	for {
		var p historyPage
		r := rng
		reply, err := g.request(ctx, command.Request{Group: protocol.GroupThings, EntityID: id, Auth: caller.auth, Envelope: env, History: &r, Timeout: historyPageTimeout})
		switch {
		case err != nil:
			p.err = err
		default:
			if perr, isErr := reply.AsError(); isErr {
				p.err = perr
			} else if err := json.Unmarshal(reply.Value, &p.page); err != nil {
				p.err = err
			}
		}
		select {
		case pages <- p:
		case <-ctx.Done():
			return
		}
		if p.err != nil || p.page.Next == 0 {
			return
		}
		rng = command.EventsRange{From: strconv.FormatInt(p.page.Next, 10), To: strconv.FormatInt(p.page.To, 10), Limit: rng.Limit}
	}
}

// namespaceOf returns the namespace of an entity id.
func namespaceOf(id string) string {
	ns, _ := protocol.SplitID(id)
	return ns
}

// historyRenderer renders the historical events of one stream.
type historyRenderer struct {
	spec *sseSpec
	// base are the headers of every event's _context: the request's, as
	// Ditto's are the SubscribeForPersistedEvents's, to which each event
	// adds its historical-headers.
	base protocol.Headers
	// now is when RQL time functions are evaluated: the stream's start.
	now time.Time
}

// appendFrame appends the SSE event of the persisted event raw (an event
// envelope as the things service sent it), nothing when the stream does
// not send it (the filter rejects it, its thing has nothing the stream
// selects).
func (hr *historyRenderer) appendFrame(dst []byte, raw json.RawMessage) []byte {
	env, err := protocol.DecodeEnvelopeTrusted(raw)
	if err != nil {
		return dst
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		return dst
	}
	if hr.spec.params.filter != nil && !rql.MatchesAt(hr.spec.params.filter, eventThing(topic, env, jsonv.Value{}), hr.now) {
		return dst
	}
	if hr.spec.context {
		h := make(protocol.Headers, len(hr.base)+1)
		for k, v := range hr.base {
			h[k] = v
		}
		if v, ok := env.Headers[protocol.HeaderHistoricalHeaders]; ok {
			h[protocol.HeaderHistoricalHeaders] = v
		}
		env.Headers = h
	}
	data, ok := hr.spec.render(topic, eventView{env: env})
	if !ok {
		return dst
	}
	return appendSSEData(dst, data)
}
