package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/logging"
	"github.com/dittonats/dittonats/services/internal/searchapi"
)

// Streamed search: the search protocol of the Ditto Protocol on the
// WebSocket (Ditto's SubscriptionManager and SubscriptionActor) and search
// results as server-sent events (the search route of Ditto's
// ThingsSseRouteBuilder). Both page through the things-search service with
// its cursor paging (size(n), then cursor(...)) and fetch a page only when
// the consumer can take it: a WebSocket subscription when the client has
// demand for another page, an SSE stream when the previous page has been
// written, so that TCP flow control paces it.
//
// Ditto's search protocol in short (protocol-specification-things-search):
// the client sends subscribe, request(demand) and cancel on
// _/_/things/twin/search/<action>; the gateway answers created (always,
// first), next (one page each, at most as many as demanded), then complete
// or failed. Demand counts pages, not things, as in Ditto's
// RequestFromSubscription.

// Limits of a session's search subscriptions.
const (
	// maxSessionSearches caps the subscriptions running at once in one
	// WebSocket session (Ditto has no cap). Each costs a goroutine and at
	// most one search query in flight; a subscribe beyond the cap is
	// refused with 429 too.many.requests.
	maxSessionSearches = 32
	// searchZombieLifetime is how long the id of an ended subscription
	// still answers a request with a protocol error instead of "not
	// found" (Ditto's SubscriptionActor.ZOMBIE_LIFETIME).
	searchZombieLifetime = 10 * time.Second
	// maxSearchZombies bounds the ended ids a session remembers; the
	// oldest is forgotten first and then answers "not found".
	maxSearchZombies = 256
)

// ---- Errors ------------------------------------------------------------

// Ditto's subscription error codes (thing-search:subscription.*).
const (
	codeSubscriptionNotFound      = "thing-search:subscription.not.found"
	codeSubscriptionProtocolError = "thing-search:subscription.protocol.error"
	codeSubscriptionTimeout       = "thing-search:subscription.timeout"
)

// errSubscriptionNotFound is Ditto's SubscriptionNotFoundException: a
// request or cancel for an id the session never had, or forgot.
func errSubscriptionNotFound(id string) *protocol.Error {
	return protocol.NewError(http.StatusNotFound, codeSubscriptionNotFound,
		fmt.Sprintf("No subscription with ID '%s' exists.", id), "")
}

// errSubscriptionCancelled is the SubscriptionProtocolErrorException Ditto
// answers a request for a subscription that ended (its zombie state).
func errSubscriptionCancelled() *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, codeSubscriptionProtocolError,
		"This subscription is considered cancelled. No more messages are processed.", "")
}

// errNonPositiveDemand is the SubscriptionProtocolErrorException of a
// request with a demand that is not positive (reactive streams rule 3.9),
// worded as in Ditto's protocol example of a failed subscription.
func errNonPositiveDemand() *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, codeSubscriptionProtocolError,
		"Rule 3.9: While the Subscription is not cancelled, Subscription.request(long n) MUST signal onError "+
			"with a java.lang.IllegalArgumentException if the argument is <= 0. The cause message SHOULD explain "+
			"that non-positive request signals are illegal.",
		"The intent of this rule is to prevent faulty implementations to proceed operation without any "+
			"exceptions being raised. Requesting a negative or 0 number of elements, since requests are additive, "+
			"most likely to be the result of an erroneous calculation on the behalf of the Subscriber.")
}

// errSubscriptionTimeout is Ditto's SubscriptionTimeoutException.
func errSubscriptionTimeout(id string) *protocol.Error {
	return protocol.NewError(http.StatusRequestTimeout, codeSubscriptionTimeout,
		fmt.Sprintf("The subscription '%s' stopped due to a lack of interaction.", id), "")
}

// errTooManySearches refuses a subscribe beyond maxSessionSearches.
func errTooManySearches() *protocol.Error {
	e := protocol.ErrTooManyRequests()
	e.Message = fmt.Sprintf("This session already has %d search subscriptions running.", maxSessionSearches)
	e.Description = "Cancel a subscription, or request its remaining pages, before subscribing again."
	return e
}

// ---- Parsing -----------------------------------------------------------

// subscribeValue is the value of a subscribe command
// (protocol-search-subscribe-payload): all of it is optional.
type subscribeValue struct {
	filter, options string
	namespaces      []string // nil for all namespaces
}

// parseSubscribeValue reads the value of a subscribe command. A missing
// value or JSON null means all defaults, as in Ditto; fields of the wrong
// type are Ditto's json.invalid, unknown fields are ignored.
func parseSubscribeValue(raw json.RawMessage) (subscribeValue, *protocol.Error) {
	var out subscribeValue
	obj, perr := searchValueObject(raw)
	if perr != nil || obj.Kind() == jsonv.KindNull {
		return out, perr
	}
	if out.filter, perr = optionalStringField(obj, "filter"); perr != nil {
		return out, perr
	}
	if out.options, perr = optionalStringField(obj, "options"); perr != nil {
		return out, perr
	}
	ns, ok := obj.Get("namespaces")
	switch {
	case !ok || ns.Kind() == jsonv.KindNull:
	case ns.Kind() != jsonv.KindArray:
		return out, fieldTypeError(ns, "namespaces", "JsonArray")
	default:
		for _, e := range ns.Elements() {
			s, ok := e.Str()
			if !ok {
				return out, fieldTypeError(e, "namespaces", "String")
			}
			if !contains(out.namespaces, s) {
				out.namespaces = append(out.namespaces, s)
			}
		}
	}
	return out, nil
}

// parseSubscriptionValue reads the value of a request or cancel command:
// the subscriptionId (required) and, with withDemand, the demand (a
// missing demand is 0, which fails the subscription as Ditto does).
func parseSubscriptionValue(raw json.RawMessage, withDemand bool) (id string, demand int64, perr *protocol.Error) {
	obj, perr := searchValueObject(raw)
	if perr != nil {
		return "", 0, perr
	}
	v, ok := obj.Get("subscriptionId")
	if !ok || v.Kind() == jsonv.KindNull {
		return "", 0, protocol.ErrJSONFieldMissing("/subscriptionId")
	}
	if id, ok = v.Str(); !ok {
		return "", 0, fieldTypeError(v, "subscriptionId", "String")
	}
	if !withDemand {
		return id, 0, nil
	}
	d, ok := obj.Get("demand")
	if !ok || d.Kind() == jsonv.KindNull {
		return id, 0, nil
	}
	if demand, ok = d.Int64(); !ok {
		return "", 0, fieldTypeError(d, "demand", "long")
	}
	return id, demand, nil
}

// searchValueObject parses a search command's value, which must be a JSON
// object or absent (then JSON null is returned).
func searchValueObject(raw json.RawMessage) (jsonv.Value, *protocol.Error) {
	if len(raw) == 0 {
		return jsonv.Null(), nil
	}
	v, err := jsonv.Parse(raw)
	if err != nil {
		if perr := protocol.AsError(err); perr != nil {
			return v, perr
		}
		return v, protocol.ErrJSONInvalid(err.Error())
	}
	if k := v.Kind(); k != jsonv.KindObject && k != jsonv.KindNull {
		return v, protocol.ErrJSONInvalid(fmt.Sprintf("<%s> is not a valid JSON object!", clipJSON(v)))
	}
	return v, nil
}

func optionalStringField(obj jsonv.Value, key string) (string, *protocol.Error) {
	v, ok := obj.Get(key)
	if !ok || v.Kind() == jsonv.KindNull {
		return "", nil
	}
	s, ok := v.Str()
	if !ok {
		return "", fieldTypeError(v, key, "String")
	}
	return s, nil
}

// fieldTypeError is Ditto's json.invalid for a field of the wrong type.
func fieldTypeError(v jsonv.Value, key, javaType string) *protocol.Error {
	return protocol.ErrJSONNotOfType(clipJSON(v), "/"+key, javaType)
}

// clipJSON renders v for an error message, at most about 256 bytes.
func clipJSON(v jsonv.Value) string {
	b := v.AppendJSON(nil)
	if len(b) > 256 {
		return strings.ToValidUTF8(string(b[:256]), "") + "..."
	}
	return string(b)
}

// streamOptions checks the options of a streamed search as Ditto's
// SearchSourceBuilder does: they must parse, and only sort and size are
// supported (a stream pages by itself, so limit and cursor are refused).
func streamOptions(s string) (rql.Options, *protocol.Error) {
	if s == "" {
		return rql.Options{}, nil
	}
	opts, err := rql.ParseOptions(s)
	if err != nil {
		if perr := protocol.AsError(err); perr != nil {
			return opts, perr
		}
		return opts, protocol.ErrSearchOptionInvalid("Invalid options: " + s)
	}
	switch {
	case opts.Limit != nil:
		return opts, protocol.ErrSearchOptionInvalid("The option 'limit' is not supported at this endpoint.")
	case opts.Cursor != "":
		return opts, protocol.ErrSearchOptionInvalid("The option 'cursor' is not supported at this endpoint.")
	}
	return opts, nil
}

// pageSize returns the page size of a subscription's options, as Ditto's
// SubscriptionManager.getPageSize checks it: size(n) with n up to the
// maximum page size, or the default.
func pageSize(opts rql.Options, raw string, def, max int) (int, *protocol.Error) {
	if opts.Size == 0 {
		return def, nil
	}
	if opts.Size > max {
		e := protocol.ErrSearchOptionInvalid("Invalid option: '" + raw + "'")
		e.Description = "size(n) -- n must be between 1 and " + strconv.Itoa(max)
		return 0, e
	}
	return opts.Size, nil
}

// ---- Talking to the search service -------------------------------------

// searchTiming returns how long the gateway waits for one page of a
// streamed search and the timeout the search service is given (0 for its
// default), from the timeout header of h when it has one.
func (g *Gateway) searchTiming(h protocol.Headers) (wait time.Duration, millis int64, perr *protocol.Error) {
	wait = g.cfg.RequestTimeout
	if v, ok := h[protocol.HeaderTimeout]; ok {
		d, err := protocol.ParseTimeout(v)
		if err != nil {
			return 0, 0, protocol.AsError(err)
		}
		if err := protocol.CheckTimeout(d, protocol.MaxCommandTimeout); err != nil {
			return 0, 0, protocol.AsError(err)
		}
		if d > 0 {
			wait, millis = d, max(d.Milliseconds(), 1)
		}
	}
	return wait + searchGrace, millis, nil
}

// searchPage asks the search service for one page on behalf of the caller
// whose subjects auth holds. An answer other than 200 is returned as the
// *protocol.Error it carries.
func (g *Gateway) searchPage(ctx context.Context, auth string, req searchapi.Request, wait time.Duration) (searchapi.Result, error) {
	var res searchapi.Result
	reply, err := g.searchRequest(ctx, auth, req, wait)
	switch {
	case errors.Is(err, errSearchTimeout):
		return res, protocol.ErrSearchQueryTimeExceeded()
	case err != nil:
		return res, err
	}
	status, err := searchStatus(reply)
	if err != nil {
		return res, err
	}
	if status != http.StatusOK {
		var perr protocol.Error
		if err := json.Unmarshal(reply.Data, &perr); err != nil || perr.Code == "" {
			return res, fmt.Errorf("search reply: status %d without Ditto error", status)
		}
		perr.Status = status
		return res, &perr
	}
	if err := json.Unmarshal(reply.Data, &res); err != nil {
		return res, fmt.Errorf("search reply: %w", err)
	}
	return res, nil
}

// ---- WebSocket subscriptions -------------------------------------------

// searchFetcher gets one page of a subscription's query.
type searchFetcher func(ctx context.Context, req searchapi.Request, wait time.Duration) (searchapi.Result, error)

// wsSearches are the search subscriptions of one WebSocket session. The
// zero value is ready once configured; the session's reader goroutine
// calls command, each subscription has a goroutine of its own, and the
// session calls stop when it ends.
type wsSearches struct {
	setup sync.Once
	// Set by the setup, then only read.
	emit                 func(protocol.Envelope) // queue a message to the client, waiting for room
	fetch                searchFetcher
	timing               func(protocol.Headers) (time.Duration, int64, *protocol.Error)
	pageDefault, pageMax int
	idle                 time.Duration
	maxLive              int

	wg sync.WaitGroup // the subscriptions' goroutines

	mu      sync.Mutex // guards the fields below
	stopped bool
	counter uint64
	live    map[string]*wsSearch
	zombies endedIDs // its lifetime and bound are set by the setup
}

// wsSearch is one running subscription.
type wsSearch struct {
	id    string
	query searchapi.Request // filter, namespaces, fields and timeout; options per page
	sort  []rql.SortKey
	size  int
	// invalid is what was wrong with the subscribe's options; Ditto
	// reports it as failed at the first request, not at once.
	invalid *protocol.Error
	wait    time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{} // one token: a request arrived

	mu sync.Mutex // guards the fields below
	// demand is the pages requested and not yet sent, at most MaxInt64.
	demand int64
	// headers are those of the latest command for the subscription,
	// which Ditto's events carry.
	headers protocol.Headers
	// failure is a protocol error a request caused; it ends the
	// subscription.
	failure *protocol.Error
}

// searchCommand handles a message with a search topic.
func (s *wsSession) searchCommand(ctx context.Context, topic protocol.Topic, env protocol.Envelope) {
	ss := &s.searches
	ss.setup.Do(func() {
		ss.emit = s.reply
		ss.fetch = func(ctx context.Context, req searchapi.Request, wait time.Duration) (searchapi.Result, error) {
			return s.g.searchPage(ctx, s.caller.auth, req, wait)
		}
		ss.timing = s.g.searchTiming
		ss.pageDefault, ss.pageMax = s.g.cfg.Limits.SearchPageDefault(), s.g.cfg.Limits.SearchPageMax()
		// A subscription that neither gets a request nor sends a page for
		// GATEWAY_STREAMING_SEARCH_IDLE_TIMEOUT ends with
		// thing-search:subscription.timeout.
		ss.idle, ss.maxLive = s.g.cfg.SearchIdleTimeout, maxSessionSearches
		ss.zombies = endedIDs{lifetime: searchZombieLifetime, max: maxSearchZombies}
	})
	ss.command(ctx, topic, env)
}

// command acts on one search command; it is called by one goroutine at a
// time (the session's reader).
func (ss *wsSearches) command(ctx context.Context, topic protocol.Topic, env protocol.Envelope) {
	h := env.Headers
	if h == nil {
		h = protocol.Headers{}
	}
	if _, ok := h[protocol.HeaderCorrelationID]; !ok {
		h[protocol.HeaderCorrelationID] = newCorrelationID()
	}
	if err := h.Validate(); err != nil {
		ss.emit(protocol.ErrorEnvelope(topic, correlationOnly(h), env.Path, protocol.AsError(err)))
		return
	}
	if topic.Channel != protocol.ChannelTwin {
		ss.emit(protocol.ErrorEnvelope(topic, correlationOnly(h), env.Path, errUnsupportedSignal(topic)))
		return
	}
	switch topic.Action {
	case protocol.ActionSubscribe:
		ss.subscribe(ctx, topic, env, h)
	case protocol.ActionRequest:
		id, demand, perr := parseSubscriptionValue(env.Value, true)
		if perr != nil {
			ss.emit(protocol.ErrorEnvelope(topic, correlationOnly(h), env.Path, perr))
			return
		}
		ss.request(id, demand, searchEventHeaders(h))
	case protocol.ActionCancel:
		id, _, perr := parseSubscriptionValue(env.Value, false)
		if perr != nil {
			ss.emit(protocol.ErrorEnvelope(topic, correlationOnly(h), env.Path, perr))
			return
		}
		ss.cancel(id, searchEventHeaders(h))
	default:
		// created, next, complete, failed are Ditto's to send.
		ss.emit(protocol.ErrorEnvelope(topic, correlationOnly(h), env.Path, errUnsupportedSignal(topic)))
	}
}

// searchEventHeaders are the headers of a command as the subscription's events
// carry them: those Ditto writes to external clients.
func searchEventHeaders(h protocol.Headers) protocol.Headers {
	out := make(protocol.Headers, len(h))
	for k, v := range h {
		if def, ok := protocol.LookupHeader(k); ok && !def.ToExternal {
			continue
		}
		out[k] = v
	}
	return out
}

// subscribe starts a subscription and answers created. What the value or
// the fields get wrong is an error message, as Ditto's protocol adapter
// refuses such a message; options the search cannot run are reported as
// failed at the first request, as Ditto does; the filter is checked by the
// search service at the first page, with the same outcome.
func (ss *wsSearches) subscribe(ctx context.Context, topic protocol.Topic, env protocol.Envelope, h protocol.Headers) {
	fail := func(perr *protocol.Error) {
		ss.emit(protocol.ErrorEnvelope(topic, correlationOnly(h), env.Path, perr))
	}
	val, perr := parseSubscribeValue(env.Value)
	if perr != nil {
		fail(perr)
		return
	}
	if env.Fields != "" {
		if _, err := jsonv.ParseFieldSelector(env.Fields); err != nil {
			if perr = protocol.AsError(err); perr == nil {
				perr = protocol.ErrJSONFieldSelectorInvalid(env.Fields)
			}
			fail(perr)
			return
		}
	}
	wait, millis, perr := ss.timing(h)
	if perr != nil {
		fail(perr)
		return
	}
	sub := &wsSearch{
		query: searchapi.Request{Type: searchapi.TypeQuery, Filter: val.filter, Namespaces: val.namespaces,
			Fields: env.Fields, TimeoutMillis: millis},
		wait:    wait,
		wake:    make(chan struct{}, 1),
		headers: searchEventHeaders(h),
	}
	opts, perr := streamOptions(val.options)
	if perr == nil {
		sub.size, perr = pageSize(opts, val.options, ss.pageDefault, ss.pageMax)
	}
	sub.sort, sub.invalid = opts.Sort, perr

	ss.mu.Lock()
	switch {
	case ss.stopped:
		ss.mu.Unlock()
		return
	case len(ss.live) >= ss.maxLive:
		ss.mu.Unlock()
		fail(errTooManySearches())
		return
	}
	sub.id = strconv.FormatUint(ss.counter, 10) // Ditto counts from 0 per session
	ss.counter++
	sub.ctx, sub.cancel = context.WithCancel(ctx)
	if ss.live == nil {
		ss.live = map[string]*wsSearch{}
	}
	ss.live[sub.id] = sub
	ss.wg.Add(1)
	ss.mu.Unlock()

	// created goes out before the goroutine can send anything.
	ss.emit(searchEvent(protocol.ActionCreated, sub.headers, subscriptionIDValue(sub.id)))
	go ss.run(sub)
}

// request adds demand to a subscription; a request for an ended or
// unknown subscription is answered failed, as by Ditto's zombie
// SubscriptionActor or its SubscriptionManager.
func (ss *wsSearches) request(id string, demand int64, h protocol.Headers) {
	ss.mu.Lock()
	sub := ss.live[id]
	ended := sub == nil && ss.zombies.has(id)
	ss.mu.Unlock()
	switch {
	case sub != nil:
		sub.mu.Lock()
		sub.headers = h
		if demand <= 0 {
			sub.failure = errNonPositiveDemand()
		} else {
			sub.demand = satAdd(sub.demand, demand)
		}
		sub.mu.Unlock()
		select {
		case sub.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	case ended:
		ss.emit(searchFailed(id, h, errSubscriptionCancelled()))
	default:
		ss.emit(searchFailed(id, h, errSubscriptionNotFound(id)))
	}
}

// cancel ends a subscription without a message; pages on their way may
// still arrive. A cancel of an ended subscription is ignored, of an
// unknown one answered failed.
func (ss *wsSearches) cancel(id string, h protocol.Headers) {
	ss.mu.Lock()
	sub := ss.live[id]
	ended := sub == nil && ss.zombies.has(id)
	if sub != nil {
		ss.retireLocked(id)
	}
	ss.mu.Unlock()
	switch {
	case sub != nil:
		sub.cancel()
	case !ended:
		ss.emit(searchFailed(id, h, errSubscriptionNotFound(id)))
	}
}

// stop cancels every subscription and returns once their goroutines have
// ended; no subscription starts after it.
func (ss *wsSearches) stop() {
	ss.mu.Lock()
	ss.stopped = true
	for _, sub := range ss.live {
		sub.cancel()
	}
	ss.mu.Unlock()
	ss.wg.Wait()
}

// retire moves a live subscription to the zombies.
func (ss *wsSearches) retire(id string) {
	ss.mu.Lock()
	ss.retireLocked(id)
	ss.mu.Unlock()
}

func (ss *wsSearches) retireLocked(id string) {
	if _, ok := ss.live[id]; !ok {
		return
	}
	delete(ss.live, id)
	ss.zombies.add(id)
}

// endedIDs remembers the ids of subscriptions that ended recently (each
// for lifetime, at most max of them), so that a late request for one is
// answered as for an ended subscription rather than an unknown one. Its
// owner's mutex guards it.
type endedIDs struct {
	lifetime time.Duration
	max      int
	// expiry of each id; order holds them as they ended, so expiries
	// are ascending.
	expiry map[string]time.Time
	order  []string
}

// add remembers id, forgetting the oldest beyond max.
func (e *endedIDs) add(id string) {
	if e.expiry == nil {
		e.expiry = map[string]time.Time{}
	}
	e.expiry[id] = time.Now().Add(e.lifetime)
	e.order = append(e.order, id)
	for len(e.order) > e.max {
		delete(e.expiry, e.order[0])
		e.order = e.order[1:]
	}
}

// has reports whether id ended recently, forgetting expired ids.
func (e *endedIDs) has(id string) bool {
	now := time.Now()
	for len(e.order) > 0 && !now.Before(e.expiry[e.order[0]]) {
		delete(e.expiry, e.order[0])
		e.order = e.order[1:]
	}
	_, ok := e.expiry[id]
	return ok
}

// run is a subscription's goroutine: it waits for demand, fetches a page,
// sends it, and ends with complete or failed (or silently when cancelled).
func (ss *wsSearches) run(sub *wsSearch) {
	defer ss.wg.Done()
	defer sub.cancel()
	defer ss.retire(sub.id) // already done when it ended otherwise
	// end retires the subscription before its last message, so that a
	// request the client sends on seeing it finds a zombie.
	end := func(env protocol.Envelope) {
		ss.retire(sub.id)
		ss.emit(env)
	}
	idle := time.NewTimer(ss.idle)
	defer idle.Stop()
	cursor := ""
	for {
		var h protocol.Headers
		for {
			sub.mu.Lock()
			demand, failure := sub.demand, sub.failure
			h = sub.headers
			sub.mu.Unlock()
			if failure != nil {
				end(searchFailed(sub.id, h, failure))
				return
			}
			if demand > 0 {
				break
			}
			select {
			case <-sub.ctx.Done():
				return
			case <-sub.wake:
				idle.Reset(ss.idle)
			case <-idle.C:
				end(searchFailed(sub.id, h, errSubscriptionTimeout(sub.id)))
				return
			}
		}
		if sub.invalid != nil {
			end(searchFailed(sub.id, h, sub.invalid))
			return
		}
		req := sub.query
		if cursor == "" {
			req.Options = rql.Options{Sort: sub.sort, Size: sub.size}.String()
		} else {
			// The cursor holds the sort.
			req.Options = rql.Options{Size: sub.size, Cursor: cursor}.String()
		}
		res, err := ss.fetch(sub.ctx, req, sub.wait)
		if sub.ctx.Err() != nil {
			return // cancelled, or the session ended
		}
		sub.mu.Lock()
		h = sub.headers
		if err == nil && len(res.Items) > 0 {
			sub.demand--
		}
		sub.mu.Unlock()
		if err != nil {
			perr := protocol.AsError(err)
			if perr == nil {
				perr = protocol.ErrInternal()
			}
			end(searchFailed(sub.id, h, perr))
			return
		}
		if len(res.Items) > 0 {
			ss.emit(searchEvent(protocol.ActionNext, h, nextValue(sub.id, res.Items)))
		}
		if res.Cursor == "" {
			end(searchEvent(protocol.ActionComplete, h, subscriptionIDValue(sub.id)))
			return
		}
		cursor = res.Cursor
		idle.Reset(ss.idle)
	}
}

// satAdd adds two positive demands, saturating at MaxInt64 (which reactive
// streams read as "unbounded").
func satAdd(a, b int64) int64 {
	if a > math.MaxInt64-b {
		return math.MaxInt64
	}
	return a + b
}

// searchEvent is an event of the search protocol:
// _/_/things/twin/search/<action> at path "/".
func searchEvent(action string, h protocol.Headers, value []byte) protocol.Envelope {
	t := protocol.Topic{Namespace: protocol.IDPlaceholder, EntityName: protocol.IDPlaceholder,
		Group: protocol.GroupThings, Channel: protocol.ChannelTwin, Criterion: protocol.CriterionSearch, Action: action}
	return protocol.Envelope{Topic: t.String(), Headers: h, Path: "/", Value: value}
}

// searchFailed is the failed event of subscription id with err.
func searchFailed(id string, h protocol.Headers, err *protocol.Error) protocol.Envelope {
	v := append(subscriptionIDPrefix(id), `,"error":`...)
	v = append(v, errorJSON(err)...)
	return searchEvent(protocol.ActionFailed, h, append(v, '}'))
}

// subscriptionIDValue is {"subscriptionId":id}.
func subscriptionIDValue(id string) []byte { return append(subscriptionIDPrefix(id), '}') }

// nextValue is {"subscriptionId":id,"items":[...]}; the items are the
// search service's JSON, copied as they are.
func nextValue(id string, items []json.RawMessage) []byte {
	v := append(subscriptionIDPrefix(id), `,"items":[`...)
	for i, item := range items {
		if i > 0 {
			v = append(v, ',')
		}
		v = append(v, item...)
	}
	return append(v, "]}"...)
}

func subscriptionIDPrefix(id string) []byte {
	q, _ := json.Marshal(id) // a string always marshals
	return append([]byte(`{"subscriptionId":`), q...)
}

// ---- Server-sent events ------------------------------------------------

// headerLastEventID is the header an SSE client resumes with.
const headerLastEventID = "Last-Event-ID"

// serveSearchSSE streams the hits of a search as server-sent events, as
// Ditto's SSE search route does: one event per thing, its JSON as data and
// its id as event id, until the results end (no keep-alive). Last-Event-ID
// resumes after that thing. Bad parameters are answered as the JSON route
// answers them, before the stream starts; an error once it has started is
// one last event whose data is the error.
func (g *Gateway) serveSearchSSE(ar *apiRequest, params url.Values) {
	rawOpts := strings.Join(params["option"], ",")
	opts, perr := streamOptions(rawOpts)
	if perr != nil {
		writeError(ar.w, ar.headers, perr)
		return
	}
	wait, millis, perr := g.searchTiming(ar.headers)
	if perr != nil {
		writeError(ar.w, ar.headers, perr)
		return
	}
	st := &sseSearch{g: g, ar: ar, wait: wait}
	fields := strings.Join(params["fields"], ",")
	if fields != "" && !selectsThingID(fields) {
		// The event id is the thing's id: fetch it, and drop it from
		// the data.
		fields += ",thingId"
		st.dropID = true
	}
	filter := searchFilter(params["filter"])
	st.query = searchapi.Request{Type: searchapi.TypeQuery, Filter: filter,
		Namespaces: searchNamespaces(params["namespaces"]), Fields: fields, TimeoutMillis: millis}
	st.sort = opts.Sort
	if last := ar.r.Header.Get(headerLastEventID); last != "" {
		if perr := st.resume(last); perr != nil {
			writeError(ar.w, ar.headers, perr)
			return
		}
	}
	st.run()
}

// sseSearch is one SSE search stream.
type sseSearch struct {
	g    *Gateway
	ar   *apiRequest
	wait time.Duration

	query  searchapi.Request
	sort   []rql.SortKey
	dropID bool // the client did not select thingId
	// skipUntil, when set, is the id of the thing the stream resumes
	// after, in an order other than by thing id: hits up to and including
	// it are skipped.
	skipUntil string
	// resumeErr is what was wrong with Last-Event-ID; it is the stream's
	// only event.
	resumeErr *protocol.Error

	started bool // the response header was written
	buf     []byte
}

// resume positions the stream after the thing last. Sorted by thing id
// first (the default), the things after it are those with a greater (or,
// descending, smaller) id, which the filter then selects; in any other
// order the stream walks the hits from the start and skips those up to it.
// A last that is no thing id becomes the stream's only event (resumeErr);
// the error returned is a bad filter, to be answered before the stream.
func (st *sseSearch) resume(last string) *protocol.Error {
	if err := protocol.ValidateThingID(last); err != nil {
		st.resumeErr = protocol.AsError(err)
		return nil
	}
	if len(st.sort) > 0 && strings.TrimPrefix(st.sort[0].Property, "/") != "thingId" {
		st.skipUntil = last
		return nil
	}
	op := rql.Gt
	if len(st.sort) > 0 && st.sort[0].Descending {
		op = rql.Lt
	}
	after := (&rql.Comparison{Op: op, Property: "thingId", Values: []rql.Value{rql.StringValue(last)}}).String()
	if st.query.Filter == "" {
		st.query.Filter = after
		return nil
	}
	// Checked here so that a bad filter is reported as the client wrote
	// it, not as part of the conjunction.
	if _, err := rql.Parse(st.query.Filter); err != nil {
		if perr := protocol.AsError(err); perr != nil {
			return perr
		}
		return protocol.ErrRQLExpressionInvalid(err.Error())
	}
	st.query.Filter = "and(" + st.query.Filter + "," + after + ")"
	return nil
}

// run fetches and writes the pages.
func (st *sseSearch) run() {
	if st.resumeErr != nil {
		// Ditto reports a bad Last-Event-ID in the stream; the parameters
		// are checked first, with one page of the query as it stands.
		if _, err := st.page(""); err != nil {
			st.fail(err)
			return
		}
		st.start()
		st.fail(st.resumeErr)
		return
	}
	if st.skipUntil != "" {
		// Resuming in the middle of the order needs the thing among the
		// hits; Ditto answers it as not found otherwise.
		q := st.query
		q.Filter = (&rql.Comparison{Op: rql.Eq, Property: "thingId", Values: []rql.Value{rql.StringValue(st.skipUntil)}}).String()
		if st.query.Filter != "" {
			q.Filter = "and(" + st.query.Filter + "," + q.Filter + ")"
		}
		q.Fields, q.Options = "thingId", "size(1)"
		res, err := st.g.searchPage(st.ar.r.Context(), st.ar.caller.auth, q, st.wait)
		if err != nil {
			st.fail(err)
			return
		}
		if len(res.Items) == 0 {
			st.start()
			st.fail(protocol.ErrThingNotAccessible(st.skipUntil))
			return
		}
	}
	cursor := ""
	for {
		res, err := st.page(cursor)
		if err != nil {
			st.fail(err)
			return
		}
		if err := st.write(res.Items); err != nil {
			if perr := protocol.AsError(err); perr != nil {
				st.fail(perr)
			}
			return // the client went away, or is too slow
		}
		if res.Cursor == "" {
			if !st.started {
				st.start()
			}
			return
		}
		cursor = res.Cursor
	}
}

// page fetches the first page (cursor "") or the one at cursor.
func (st *sseSearch) page(cursor string) (searchapi.Result, error) {
	q := st.query
	size := st.g.cfg.Limits.SearchPageMax()
	if cursor == "" {
		q.Options = rql.Options{Sort: st.sort, Size: size}.String()
	} else {
		q.Options = rql.Options{Size: size, Cursor: cursor}.String()
	}
	return st.g.searchPage(st.ar.r.Context(), st.ar.caller.auth, q, st.wait)
}

// start writes the response header of the stream. Its writes get no
// overall deadline: each page gets one of its own (see write).
func (st *sseSearch) start() {
	st.started = true
	h := st.ar.w.Header()
	h["Content-Type"] = []string{"text/event-stream"}
	st.ar.w.WriteHeader(http.StatusOK)
	_ = http.NewResponseController(st.ar.w).SetWriteDeadline(time.Time{})
}

// write sends one page of hits as events ("data:<thing>\nid:<thingId>\n\n").
func (st *sseSearch) write(items []json.RawMessage) error {
	st.buf = st.buf[:0]
	for _, item := range items {
		v, err := jsonv.Parse(item)
		if err != nil {
			return fmt.Errorf("search hit: %w", err)
		}
		idv, _ := v.Get("thingId")
		id, ok := idv.Str()
		if !ok {
			return protocol.ErrInternal()
		}
		if st.skipUntil != "" {
			if id == st.skipUntil {
				st.skipUntil = ""
			}
			continue
		}
		if st.dropID {
			v, _ = v.Delete(jsonv.Pointer{"thingId"})
		}
		st.buf = append(st.buf, "data:"...)
		st.buf = v.AppendJSON(st.buf)
		st.buf = append(st.buf, "\nid:"...)
		st.buf = append(st.buf, id...)
		st.buf = append(st.buf, "\n\n"...)
	}
	if !st.started {
		st.start()
	}
	if len(st.buf) == 0 {
		return nil
	}
	return st.flush()
}

// flush writes the buffered events within the write timeout and sends
// them on.
func (st *sseSearch) flush() error {
	rc := http.NewResponseController(st.ar.w)
	_ = rc.SetWriteDeadline(time.Now().Add(st.g.cfg.WriteTimeout))
	if _, err := st.ar.w.Write(st.buf); err != nil {
		return err
	}
	if err := rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return err
	}
	return nil
}

// fail answers err: as the HTTP error before the stream started, as the
// stream's last event after.
func (st *sseSearch) fail(err error) {
	perr := protocol.AsError(err)
	if perr == nil {
		if st.ar.r.Context().Err() != nil {
			return // the client went away
		}
		st.g.log.Warn("search stream", logging.CorrelationID(st.ar.headers[protocol.HeaderCorrelationID]), "err", err)
		perr = protocol.ErrGatewayInternal()
	}
	if !st.started {
		writeError(st.ar.w, st.ar.headers, perr)
		return
	}
	st.buf = append(append(st.buf[:0], "data:"...), errorJSON(perr)...)
	st.buf = append(st.buf, "\n\n"...)
	_ = st.flush()
}

// selectsThingID reports whether the field selector fields selects the
// thing's id; a selector that does not parse counts as selecting it (the
// search service refuses it).
func selectsThingID(fields string) bool {
	fs, err := jsonv.ParseFieldSelector(fields)
	if err != nil {
		return true
	}
	for _, p := range fs {
		if len(p) == 1 && p[0] == "thingId" {
			return true
		}
	}
	return false
}
