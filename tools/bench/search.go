package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// The search scenarios query the things-search service over
// /api/2/search/things and /api/2/search/things/count, and measure how far
// its index, which follows the event streams, trails the writes:
//
//	INDEX_CATCHUP        (a row, run before WARMUP when a search scenario is selected) time from
//	                     CREATE's last answer until the count of the namespace's things reaches N
//	SEARCH_LAG           MODIFY_THINGS' load (paced to -lag-rate modifies a second when set)
//	                     plus a sampler that, 20 times a second, writes a fresh
//	                     value to one thing's attribute and polls the count of things with it until
//	                     it is 1: the row's p50/p99 are the time from the write's answer to that count
//	MODIFY_THINGS_ACKED  MODIFY_THINGS with requested-acks twin-persisted,search-persisted: each PUT
//	                     is answered once the index holds the change
//	SEARCH_THINGS        Ditto's: eq(thingId,"<random thing>") with fields=thingId; one hit, that thing
//	SEARCH_ATTRIBUTE     eq(attributes/serialNumber,"<the random thing's>"), fields=thingId; one hit
//	SEARCH_SORTED        eq(attributes/parity,"even"|"odd") (half the things) sorted by
//	                     +attributes/location/latitude, size(25), all fields; 25 hits of that parity
//	COUNT                count of eq(attributes/parity,"even"|"odd"); the exact number of such things
//
// A query that answers 2xx with other things than it should have found
// counts as an error ("wrong result"), not as a success.

// scIndexCatchUp is the row of the wait for the search index to count
// every bench thing; it is not a scenario one selects.
const scIndexCatchUp = "INDEX_CATCHUP"

const (
	// sortedPage is SEARCH_SORTED's page size.
	sortedPage = 25
	// probeAttribute is the attribute the lag probes write; no other
	// scenario reads it.
	probeAttribute = "benchProbe"
	// probeRate is how many lag probes SEARCH_LAG writes per second, with
	// up to probeWriters writes in flight (each on its own connection)
	// and up to probePending values written and not yet seen; a tick
	// beyond either is skipped and counted.
	probeRate    = 20
	probeWriters = 4
	probePending = 100
	// probePoll is the pause between two searches for the pending probes
	// (and between two counts of the settle probe): with the query's own
	// time, the resolution of a lag sample.
	probePoll = 10 * time.Millisecond
	// probeTimeout is how long a probe's write may take to show.
	probeTimeout = 30 * time.Second
	// catchUpPoll is the pause between two counts while waiting for the
	// index to count every thing, and catchUpStall how long the count may
	// stay the same before the wait gives up.
	catchUpPoll  = 50 * time.Millisecond
	catchUpStall = time.Minute
	// headerSearchAcks makes a modify wait for the search index.
	headerSearchAcks = "requested-acks: twin-persisted,search-persisted\r\n"
)

// searching reports whether any search scenario is selected.
func (c config) searching() bool {
	return slices.ContainsFunc(searchScenarios(), c.selected)
}

// Query paths. Quotes are %22 and the sort's "+" is %2B (a raw "+" in a
// query string is a space); ids, namespaces and serial numbers need no
// escaping.
func (r *runner) searchPath(filter, rest string) string {
	return "/api/2/search/things?filter=" + filter + rest
}

func (r *runner) countPath(filter string) string {
	p := "/api/2/search/things/count?namespaces=" + r.cfg.namespace
	if filter != "" {
		p += "&filter=" + filter
	}
	return p
}

func eqFilter(pointer, value string) string {
	return "eq(" + pointer + ",%22" + value + "%22)"
}

// searchThingsOp is Ditto's SEARCH_THINGS: one random thing by its id.
func (r *runner) searchThingsOp() *op {
	return &op{
		method: "GET",
		path: func(i int) string {
			return r.searchPath(eqFilter("thingId", thingID(r.cfg.namespace, i)), "&fields=thingId")
		},
		check: r.checkOne,
	}
}

// searchAttributeOp finds one random thing by its unique serial number.
func (r *runner) searchAttributeOp() *op {
	return &op{
		method: "GET",
		path: func(i int) string {
			return r.searchPath(eqFilter("attributes/serialNumber", serialNumber(i)), "&fields=thingId")
		},
		check: r.checkOne,
	}
}

// searchSortedOp asks for the first page of the things with the parity of
// the random thing, sorted by latitude, with all their fields: what a
// listing shows.
func (r *runner) searchSortedOp() *op {
	return &op{
		method: "GET",
		path: func(i int) string {
			return r.searchPath(eqFilter("attributes/parity", parity(i)),
				"&namespaces="+r.cfg.namespace+"&option=sort(%2Battributes/location/latitude),size("+strconv.Itoa(sortedPage)+")")
		},
		check: r.checkSorted,
	}
}

// countOp counts the things with the parity of the random thing.
func (r *runner) countOp() *op {
	return &op{
		method: "GET",
		path:   func(i int) string { return r.countPath(eqFilter("attributes/parity", parity(i))) },
		check: func(i int, body []byte) error {
			return checkCount(body, withParity(r.cfg.n, parity(i)))
		},
	}
}

// modifyAckedOp is MODIFY_THINGS waiting for the search index.
func (r *runner) modifyAckedOp() *op {
	o := r.modifyOp()
	o.header = headerSearchAcks
	return o
}

// checkOne wants a page with exactly the i-th thing.
func (r *runner) checkOne(i int, body []byte) error {
	var page struct {
		Items []struct {
			ThingID string `json:"thingId"`
		} `json:"items"`
	}
	if err := json.Unmarshal(body, &page); err != nil {
		return resultError{"not a search result", oneLine(string(body), 200)}
	}
	if len(page.Items) != 1 {
		return resultError{fmt.Sprintf("%d items, want 1", len(page.Items)), oneLine(string(body), 200)}
	}
	if want := thingID(r.cfg.namespace, i); page.Items[0].ThingID != want {
		return resultError{"another thing", fmt.Sprintf("got %s, want %s", page.Items[0].ThingID, want)}
	}
	return nil
}

// checkSorted wants a full page of things with the i-th thing's parity.
// The page holds whole things (~15 KB); counting the keys instead of
// decoding them keeps the load generator's CPU for the server, and relies
// on the platform writing compact JSON (which it does: no space after a
// colon).
func (r *runner) checkSorted(i int, body []byte) error {
	p := parity(i)
	want := min(sortedPage, withParity(r.cfg.n, p))
	if got := bytes.Count(body, []byte(`"thingId":`)); got != want {
		return resultError{fmt.Sprintf("%d items, want %d", got, want), oneLine(string(body), 200)}
	}
	if got := bytes.Count(body, []byte(`"parity":"`+p+`"`)); got != want {
		return resultError{fmt.Sprintf("%d items of parity %s, want %d", got, p, want), oneLine(string(body), 200)}
	}
	return nil
}

// checkCount wants the bare number want.
func checkCount(body []byte, want int) error {
	got, err := strconv.Atoi(string(bytes.TrimSpace(body)))
	if err != nil {
		return resultError{"not a count", oneLine(string(body), 200)}
	}
	if got != want {
		return resultError{"wrong count", fmt.Sprintf("got %d, want %d", got, want)}
	}
	return nil
}

// count returns the search service's count for filter ("" for all the
// namespace's things).
func (r *runner) count(ctx context.Context, t *target, w *worker, filter string) (int, error) {
	body, err := w.exchange(ctx, t, "GET", r.countPath(filter), "", nil, true)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(string(bytes.TrimSpace(body)))
	if err != nil {
		return 0, resultError{"not a count", oneLine(string(body), 200)}
	}
	return n, nil
}

// catchUp waits until the search index counts N things in the bench's
// namespace (at least N, when -url names a platform holding more) and
// reports the time since created, when CREATE's last write was answered.
func (r *runner) catchUp(ctx context.Context, t *target, created time.Time) result {
	res := result{Scenario: scIndexCatchUp, ServerCPU: -1, LoadCPU: -1}
	errs := errorTally{}
	w := newWorkers(1)[0]
	defer w.closeConn()
	r.logf("%s: waiting for the search index to count %d things", scIndexCatchUp, r.cfg.n)
	last, lastChange, polls := -1, time.Now(), 0
	for ctx.Err() == nil {
		n, err := r.count(ctx, t, w, "")
		polls++
		now := time.Now()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			kind, ex := classify(err)
			errs.add(kind, ex, 1)
		} else if n != last {
			last, lastChange = n, now
		}
		if last >= r.cfg.n {
			res.Ops, res.Elapsed = int64(last), now.Sub(created)
			break
		}
		if now.Sub(lastChange) > catchUpStall {
			errs.add("index did not catch up", fmt.Sprintf("count stayed at %d of %d for %s", last, r.cfg.n, catchUpStall), 1)
			res.Ops, res.Elapsed = int64(max(last, 0)), now.Sub(created)
			break
		}
		if !sleep(ctx, catchUpPoll) {
			break
		}
	}
	res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
	res.Note = fmt.Sprintf("the search index counted %d things %s after CREATE's last answer (%d counts, one every %s)",
		res.Ops, fmtDur(res.Elapsed), polls, catchUpPoll)
	return res
}

// sleep waits for d or until ctx ends; it reports whether d passed.
func sleep(ctx context.Context, d time.Duration) bool {
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// prober writes fresh values to the probe attribute and waits until the
// search index shows them.
type prober struct {
	r   *runner
	t   *target
	run string // makes values unique across runs against one platform
}

func newProber(r *runner, t *target) *prober {
	return &prober{r: r, t: t, run: strconv.FormatInt(time.Now().UnixNano(), 36)}
}

// probe sets the i-th thing's probe attribute to a value no thing has yet
// and counts the things with that value until the count is 1. It returns
// the time from the write's answer to the answer of that count, and
// whether the write was answered 2xx (it may have been when err is not
// nil).
func (p *prober) probe(ctx context.Context, w *worker, i, seq int) (lag time.Duration, wrote bool, err error) {
	value := "lag-" + p.run + "-" + strconv.Itoa(seq)
	path := p.r.corpus.thing[i] + "/attributes/" + probeAttribute
	if _, err := w.exchange(ctx, p.t, "PUT", path, "", strconv.AppendQuote(nil, value), false); err != nil {
		return 0, false, err
	}
	written := time.Now()
	filter := eqFilter("attributes/"+probeAttribute, value)
	for {
		n, err := p.r.count(ctx, p.t, w, filter)
		if err != nil {
			return 0, true, err
		}
		seen := time.Now()
		switch {
		case n == 1:
			return seen.Sub(written), true, nil
		case n != 0:
			return 0, true, resultError{"probe counted more than once", fmt.Sprintf("%d things with %s", n, value)}
		case seen.Sub(written) > probeTimeout:
			return 0, true, resultError{"probe not visible in search", fmt.Sprintf("%s not counted %s after its write", value, probeTimeout)}
		}
		if !sleep(ctx, probePoll) {
			return 0, true, ctx.Err()
		}
	}
}

// lagSampler measures SEARCH_LAG. Writers set the probe attribute of a
// random thing to a fresh value probeRate times a second; one poller asks
// search, every probePoll, for the things holding any value still pending
// (in(attributes/benchProbe,...)) and takes the answer's arrival as the
// moment each value it holds became visible. One query per poll for all
// pending values keeps the sampler's own load small and independent of
// the lag it measures.
type lagSampler struct {
	r     *runner
	t     *target
	runID string // makes values unique across runs against one platform

	// mu guards everything below; writers and the poller share it.
	mu      sync.Mutex
	pending map[string]probeWrite // value -> its write
	busy    map[int]bool          // things with a write in flight or pending
	lags    []time.Duration
	errs    errorTally
	writes  int64 // probe writes answered 2xx
	skipped int   // ticks with no free writer or too many pending
	polls   int64
}

type probeWrite struct {
	thing   int
	written time.Time // when the write's answer arrived
}

func newLagSampler(r *runner, t *target) *lagSampler {
	return &lagSampler{r: r, t: t, runID: strconv.FormatInt(time.Now().UnixNano(), 36),
		pending: map[string]probeWrite{}, busy: map[int]bool{}, errs: errorTally{}}
}

// run writes probes until phase ends, then lets the poller see (or time
// out) the values still pending, on ctx (the run's): stopping with the
// load would drop exactly the slow samples.
func (s *lagSampler) run(ctx, phase context.Context) {
	writers := make(chan *worker, probeWriters)
	for _, w := range newWorkers(probeWriters) {
		writers <- w
	}
	defer func() {
		for range probeWriters {
			(<-writers).closeConn()
		}
	}()
	noMore := make(chan struct{})
	var poller sync.WaitGroup
	poller.Go(func() { s.poll(ctx, noMore) })
	defer poller.Wait()
	var writes sync.WaitGroup
	defer close(noMore) // runs before poller.Wait, after writes.Wait
	defer writes.Wait()
	tick := time.NewTicker(time.Second / probeRate)
	defer tick.Stop()
	for seq := 0; ; seq++ {
		select {
		case <-phase.Done():
			return
		case <-tick.C:
		}
		var w *worker
		select {
		case w = <-writers:
		default:
		}
		i, ok := s.claim(w)
		if !ok {
			if w != nil {
				writers <- w
			}
			continue
		}
		writes.Go(func() {
			defer func() { writers <- w }()
			s.write(ctx, w, i, "p"+s.runID+"-"+strconv.Itoa(seq))
		})
	}
}

// claim picks a random thing without a pending probe for writer w; false
// (a skipped tick) when w is nil, too many values are pending or no free
// thing was found.
func (s *lagSampler) claim(w *worker) (int, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if w == nil || len(s.busy) >= probePending {
		s.skipped++
		return 0, false
	}
	for range 8 {
		if i := w.rng.IntN(s.r.cfg.n); !s.busy[i] {
			s.busy[i] = true
			return i, true
		}
	}
	s.skipped++
	return 0, false
}

func (s *lagSampler) write(ctx context.Context, w *worker, i int, value string) {
	path := s.r.corpus.thing[i] + "/attributes/" + probeAttribute
	_, err := w.exchange(ctx, s.t, "PUT", path, "", strconv.AppendQuote(nil, value), false)
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		delete(s.busy, i)
		if ctx.Err() == nil {
			kind, ex := classify(err)
			s.errs.add("(probe write) "+kind, ex, 1)
		}
		return
	}
	s.writes++
	s.pending[value] = probeWrite{thing: i, written: now}
}

// poll queries the pending values every probePoll until noMore is closed
// and none is pending, or ctx ends.
func (s *lagSampler) poll(ctx context.Context, noMore <-chan struct{}) {
	w := newWorkers(1)[0]
	defer w.closeConn()
	filter := make([]byte, 0, 4096)
	for ctx.Err() == nil {
		s.mu.Lock()
		filter = append(filter[:0], "in(attributes/"+probeAttribute...)
		for v := range s.pending {
			filter = append(filter, ",%22"...)
			filter = append(filter, v...)
			filter = append(filter, "%22"...)
		}
		filter = append(filter, ')')
		n := len(s.pending)
		s.mu.Unlock()
		if n == 0 {
			select {
			case <-noMore:
				return
			default:
			}
			if !sleep(ctx, probePoll) {
				return
			}
			continue
		}
		body, err := w.exchange(ctx, s.t, "GET", s.r.searchPath(string(filter),
			"&namespaces="+s.r.cfg.namespace+"&fields=attributes/"+probeAttribute+"&option=size("+strconv.Itoa(probePending)+")"), "", nil, true)
		seen := time.Now()
		s.seen(ctx, body, err, seen)
		if !sleep(ctx, probePoll) {
			return
		}
	}
}

// seen records the values a poll's answer holds, and expires the ones
// pending for longer than probeTimeout.
func (s *lagSampler) seen(ctx context.Context, body []byte, err error, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.polls++
	if err == nil {
		var page struct {
			Items []struct {
				Attributes map[string]string `json:"attributes"`
			} `json:"items"`
		}
		if jerr := json.Unmarshal(body, &page); jerr != nil {
			err = resultError{"not a search result", oneLine(string(body), 200)}
		}
		for _, it := range page.Items {
			v := it.Attributes[probeAttribute]
			if pw, ok := s.pending[v]; ok {
				s.lags = append(s.lags, at.Sub(pw.written))
				delete(s.pending, v)
				delete(s.busy, pw.thing)
			}
		}
	}
	if err != nil && ctx.Err() == nil {
		kind, ex := classify(err)
		s.errs.add("(probe poll) "+kind, ex, 1)
	}
	for v, pw := range s.pending {
		if at.Sub(pw.written) > probeTimeout {
			s.errs.add("probe not visible in search", fmt.Sprintf("%s not found %s after its write", v, probeTimeout), 1)
			delete(s.pending, v)
			delete(s.busy, pw.thing)
		}
	}
}

// searchLag is SEARCH_LAG: MODIFY_THINGS' load with the lag sampler beside
// its measured phase. The row's ops and percentiles are the lag samples';
// the load's own figures are in the note.
func (r *runner) searchLag(ctx context.Context, t *target, ws []*worker, srv *proc) result {
	s := newLagSampler(r, t)
	res := r.loadBeside(ctx, scSearchLag, t, ws, srv, r.modifyOp(), func(phase context.Context) { s.run(ctx, phase) })
	r.acked += s.writes
	slices.Sort(s.lags)
	load := res
	res.Ops = int64(len(s.lags))
	res.P50, res.P99 = percentile(s.lags, 50), percentile(s.lags, 99)
	var worst time.Duration
	if len(s.lags) > 0 {
		worst = s.lags[len(s.lags)-1]
	}
	errs := tallyOf(res.ErrorKinds)
	errs.merge(s.errs)
	res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
	res.Note = fmt.Sprintf("modify answered → found by a search query (one in(...) query for all pending probes every %s; %d queries): p50 %s, p99 %s, max %s over %d probes (%d/s, %d ticks skipped), while %d connections modified at %s/s (p50 %s, p99 %s)",
		probePoll, s.polls, fmtDur(res.P50), fmtDur(res.P99), fmtDur(worst), res.Ops, probeRate, s.skipped,
		r.cfg.c, fmtRate(load.opsPerSec()), fmtDur(load.P50), fmtDur(load.P99))
	return res
}

// settle writes once more and waits until search shows it, so that the
// queries after it do not share the machine with an index still applying
// the writes before. It returns a sentence for the first query's note.
func (r *runner) settle(ctx context.Context, t *target) (string, error) {
	w := newWorkers(1)[0]
	defer w.closeConn()
	lag, wrote, err := newProber(r, t).probe(ctx, w, r.cfg.n/2, 0)
	if wrote {
		r.acked++
	}
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("before it, a write showed in search %s after its answer (the index had applied the writes before it)", fmtDur(lag)), nil
}

// search runs the selected search scenarios in their order; checked ends
// the run when it was interrupted or the server died. SEARCH_LAG and the
// first query start on a settled index.
func (r *runner) search(ctx context.Context, t *target, ws []*worker, srv *proc, checked func() error) error {
	if r.cfg.selected(scSearchLag) {
		r.logf("%s: waiting for the search index to show a fresh write", scSearchLag)
		settled, serr := r.settle(ctx, t)
		res := r.searchLag(ctx, t, ws, srv)
		if err := checked(); err != nil {
			return err
		}
		addSettle(&res, settled, serr)
		r.add(res)
	}
	if r.cfg.selected(scModifyAcked) {
		res := r.load(ctx, scModifyAcked, t, ws, srv, r.modifyAckedOp())
		if err := checked(); err != nil {
			return err
		}
		res.Note = "MODIFY_THINGS with requested-acks twin-persisted,search-persisted: each answer waits until the search index holds the change"
		if m, ok := r.rep.result(scModify); ok && m.opsPerSec() > 0 {
			res.Note += fmt.Sprintf("; %.1f%% of MODIFY_THINGS' rate, p50 %s vs %s", 100*res.opsPerSec()/m.opsPerSec(), fmtDur(res.P50), fmtDur(m.P50))
		}
		r.add(res)
	}
	queries := []struct {
		name string
		op   *op
	}{
		{scSearchThings, r.searchThingsOp()},
		{scSearchAttribute, r.searchAttributeOp()},
		{scSearchSorted, r.searchSortedOp()},
		{scCount, r.countOp()},
	}
	first := true
	for _, q := range queries {
		if !r.cfg.selected(q.name) {
			continue
		}
		var settled string
		var serr error
		if first {
			first = false
			r.logf("%s: waiting for the search index to show a fresh write", q.name)
			settled, serr = r.settle(ctx, t)
		}
		res := r.load(ctx, q.name, t, ws, srv, q.op)
		if err := checked(); err != nil {
			return err
		}
		res.Note = queryNote(q.name)
		addSettle(&res, settled, serr)
		r.add(res)
	}
	return nil
}

// addSettle adds what settle said, or its error, to the row it preceded.
func addSettle(res *result, settled string, err error) {
	if err != nil {
		kind, ex := classify(err)
		errs := tallyOf(res.ErrorKinds)
		errs.add("(settle) "+kind, ex, 1)
		res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
	}
	if settled != "" {
		if res.Note != "" {
			res.Note += "; "
		}
		res.Note += settled
	}
}

// queryNote says what a query scenario asked.
func queryNote(name string) string {
	switch name {
	case scSearchThings:
		return `eq(thingId,"<random thing>"), fields=thingId: that one thing`
	case scSearchAttribute:
		return `eq(attributes/serialNumber,"<random thing's>"), fields=thingId: that one thing`
	case scSearchSorted:
		return fmt.Sprintf(`eq(attributes/parity,"even"|"odd") (half the things), sort(+attributes/location/latitude),size(%d), all fields: %d things of that parity`, sortedPage, sortedPage)
	case scCount:
		return `count of eq(attributes/parity,"even"|"odd"): half the things, exactly`
	}
	return ""
}
