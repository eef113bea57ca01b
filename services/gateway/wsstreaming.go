package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/command"
)

// History over the WebSocket: Ditto's streaming subscription protocol
// (protocol-specification-streaming-subscription, Ditto's
// StreamingSubscriptionManager and StreamingSubscriptionActor). The client
// sends <ns>/<name>/things/twin/streaming/subscribeForPersistedEvents
// (or <ns>/<name>/policies/streaming/... for a policy),
// request(demand) and cancel; the gateway answers created (always,
// first), next (one persisted event each, at most as many as demanded),
// then complete or failed, never before the first request.
//
// The events are paged from the things (policies) service as for the SSE history
// (ssehistory.go: command.EventsRange, enforced and cut per caller by the
// service), but a page is fetched only when the client has demand for an
// event and the previous page is used up, and it is no larger than the
// outstanding demand: a subscription holds at most one page, of at most
// its demand (capped at historyPageSize). Errors of the first page (a bad
// range, a thing the caller may not read) are the subscription's failed,
// at the first request, as Ditto's lazily started source reports them.

// Ditto's streaming subscription error codes (StreamingSubscription*Exception).
const (
	codeStreamingNotFound      = "streaming.subscription.not.found"
	codeStreamingProtocolError = "streaming.subscription.protocol.error"
	codeStreamingTimeout       = "streaming.subscription.timeout"
)

// errStreamingNotFound is Ditto's StreamingSubscriptionNotFoundException.
func errStreamingNotFound(id string) *protocol.Error {
	return protocol.NewError(http.StatusNotFound, codeStreamingNotFound,
		fmt.Sprintf("No subscription with ID '%s' exists.", id), "")
}

// errStreamingCancelled is what Ditto's zombie StreamingSubscriptionActor
// answers a request with.
func errStreamingCancelled() *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, codeStreamingProtocolError,
		"This subscription is considered cancelled. No more messages are processed.", "")
}

// errStreamingNonPositiveDemand is the StreamingSubscriptionProtocolErrorException
// of a request with a demand that is not positive (reactive streams rule
// 3.9), with the search protocol's wording of it.
func errStreamingNonPositiveDemand() *protocol.Error {
	e := errNonPositiveDemand()
	e.Code = codeStreamingProtocolError
	return e
}

// errStreamingTimeout is Ditto's StreamingSubscriptionTimeoutException.
func errStreamingTimeout(id string) *protocol.Error {
	return protocol.NewError(http.StatusRequestTimeout, codeStreamingTimeout,
		fmt.Sprintf("The subscription '%s' stopped due to a lack of interaction.", id), "")
}

// errTooManyStreams refuses a subscribe beyond maxSessionSearches running
// streaming subscriptions.
func errTooManyStreams() *protocol.Error {
	e := protocol.ErrTooManyRequests()
	e.Message = fmt.Sprintf("This session already has %d streaming subscriptions running.", maxSessionSearches)
	e.Description = "Cancel a subscription, or request its remaining events, before subscribing again."
	return e
}

// persistedEventsValue is the value of subscribeForPersistedEvents
// (protocol-streaming-subscription-subscribe-for-persisted-events-payload).
type persistedEventsValue struct {
	rng    command.EventsRange
	filter string
}

// parsePersistedEventsValue reads the value of subscribeForPersistedEvents.
// Revisions must be integers, timestamps and the filter strings (else
// Ditto's json.invalid); the service checks the range itself. Without a
// from, the whole history is streamed.
func parsePersistedEventsValue(raw json.RawMessage) (persistedEventsValue, *protocol.Error) {
	var out persistedEventsValue
	obj, perr := searchValueObject(raw)
	if perr != nil || obj.Kind() == jsonv.KindNull {
		out.rng.From = "0"
		return out, perr
	}
	revision := func(key string) (string, *protocol.Error) {
		v, ok := obj.Get(key)
		if !ok || v.Kind() == jsonv.KindNull {
			return "", nil
		}
		n, ok := v.Int64()
		if !ok {
			return "", fieldTypeError(v, key, "long")
		}
		return strconv.FormatInt(n, 10), nil
	}
	if out.rng.From, perr = revision("fromHistoricalRevision"); perr != nil {
		return out, perr
	}
	if out.rng.To, perr = revision("toHistoricalRevision"); perr != nil {
		return out, perr
	}
	if out.rng.FromTime, perr = optionalStringField(obj, "fromHistoricalTimestamp"); perr != nil {
		return out, perr
	}
	if out.rng.ToTime, perr = optionalStringField(obj, "toHistoricalTimestamp"); perr != nil {
		return out, perr
	}
	if out.filter, perr = optionalStringField(obj, "filter"); perr != nil {
		return out, perr
	}
	if out.rng.From == "" && out.rng.FromTime == "" {
		out.rng.From = "0" // the complete available history
	}
	return out, nil
}

// historyFetcher gets one page of the persisted events of the entity of
// group (things or policies).
type historyFetcher func(ctx context.Context, group, entityID string, h protocol.Headers, rng command.EventsRange) (command.EventsPage, error)

// wsHistories are the streaming subscriptions of one WebSocket session;
// the session's reader calls command, each subscription has a goroutine
// of its own, and the session calls stop when it ends.
type wsHistories struct {
	setup sync.Once
	// Set by the setup, then only read. emit sends a message to the
	// client at to (the reply subject of the NATS message it answers; ""
	// on a WebSocket).
	emit    func(to string, env protocol.Envelope)
	fetch   historyFetcher
	pageMax int
	idle    time.Duration
	maxLive int
	// idPrefix starts every subscription id (the NATS endpoint's
	// instance); maxDemand, when positive, caps a subscription's
	// outstanding demand (NATS: what one reply subject may receive).
	idPrefix  string
	maxDemand int64

	wg sync.WaitGroup // the subscriptions' goroutines

	mu      sync.Mutex // guards the fields below
	stopped bool
	counter uint64
	live    map[string]*wsHistory
	zombies endedIDs // its lifetime and bound are set by the setup
}

// wsHistory is one running streaming subscription.
type wsHistory struct {
	id     string
	topic  protocol.Topic // of the entity, criterion streaming
	rng    command.EventsRange
	filter rql.Node
	// invalid is what was wrong with the filter; reported as failed at
	// the first request, as Ditto's source fails then.
	invalid *protocol.Error
	start   time.Time // RQL time functions are evaluated at the subscribe

	ctx    context.Context
	cancel context.CancelFunc
	wake   chan struct{} // one token: a request arrived

	mu      sync.Mutex // guards the fields below
	demand  int64      // events requested and not yet sent, at most MaxInt64
	headers protocol.Headers
	to      string // where the messages go: the latest request's reply subject
	failure *protocol.Error
}

// streamingCommand handles a message with a streaming topic.
func (s *wsSession) streamingCommand(ctx context.Context, topic protocol.Topic, env protocol.Envelope) {
	hs := &s.histories
	hs.setup.Do(func() {
		hs.emit = func(_ string, env protocol.Envelope) { s.reply(env) }
		hs.fetch = func(ctx context.Context, group, id string, h protocol.Headers, rng command.EventsRange) (command.EventsPage, error) {
			return s.g.historyPage(ctx, s.caller, group, id, h, rng)
		}
		hs.pageMax = historyPageSize
		hs.idle, hs.maxLive = s.g.cfg.SearchIdleTimeout, maxSessionSearches
		hs.zombies = endedIDs{lifetime: searchZombieLifetime, max: maxSearchZombies}
	})
	hs.command(ctx, topic, env, "")
}

// historyPage asks the things or policies service (group) for one page of
// entity id's persisted events on behalf of caller: a retrieve of the
// entity with the range.
func (g *Gateway) historyPage(ctx context.Context, caller *principal, group, id string, h protocol.Headers, rng command.EventsRange) (command.EventsPage, error) {
	var page command.EventsPage
	channel := protocol.ChannelTwin
	if group == protocol.GroupPolicies {
		channel = ""
	}
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(id, group, channel, protocol.CriterionCommands, protocol.ActionRetrieve).String(),
		Headers: h,
		Path:    "/",
	}
	reply, err := g.request(ctx, command.Request{Group: group, EntityID: id, Auth: caller.auth, Envelope: env, History: &rng, Timeout: historyPageTimeout})
	if err != nil {
		return page, err
	}
	if perr, isErr := reply.AsError(); isErr {
		return page, perr
	}
	if err := json.Unmarshal(reply.Value, &page); err != nil {
		return page, fmt.Errorf("history page of %q: %w", id, err)
	}
	return page, nil
}

// command acts on one streaming command, whose answers go to to; called
// by the session's reader.
func (hs *wsHistories) command(ctx context.Context, topic protocol.Topic, env protocol.Envelope, to string) {
	h := env.Headers
	if h == nil {
		h = protocol.Headers{}
	}
	if _, ok := h[protocol.HeaderCorrelationID]; !ok {
		h[protocol.HeaderCorrelationID] = newCorrelationID()
	}
	fail := func(perr *protocol.Error) {
		hs.emit(to, protocol.ErrorEnvelope(topic, correlationOnly(h), env.Path, perr))
	}
	if err := h.Validate(); err != nil {
		fail(protocol.AsError(err))
		return
	}
	if (topic.Group != protocol.GroupThings || topic.Channel != protocol.ChannelTwin) && topic.Group != protocol.GroupPolicies {
		fail(errUnsupportedSignal(topic))
		return
	}
	switch topic.Action {
	case protocol.ActionSubscribeForPersistedEvents:
		val, perr := parsePersistedEventsValue(env.Value)
		if perr != nil {
			fail(perr)
			return
		}
		hs.subscribe(ctx, topic, val, searchEventHeaders(h), to)
	case protocol.ActionRequest:
		id, demand, perr := parseSubscriptionValue(env.Value, true)
		if perr != nil {
			fail(perr)
			return
		}
		hs.request(topic, id, demand, searchEventHeaders(h), to)
	case protocol.ActionCancel:
		id, _, perr := parseSubscriptionValue(env.Value, false)
		if perr != nil {
			fail(perr)
			return
		}
		hs.cancel(topic, id, searchEventHeaders(h), to)
	default:
		// created, next, complete, failed are Ditto's to send.
		fail(errUnsupportedSignal(topic))
	}
}

// subscribe starts a subscription and answers created.
func (hs *wsHistories) subscribe(ctx context.Context, topic protocol.Topic, val persistedEventsValue, h protocol.Headers, to string) {
	sub := &wsHistory{topic: topic, rng: val.rng, start: time.Now(), wake: make(chan struct{}, 1), headers: h, to: to}
	if val.filter != "" {
		n, err := rql.Parse(val.filter)
		if err != nil {
			if sub.invalid = protocol.AsError(err); sub.invalid == nil {
				sub.invalid = protocol.ErrRQLExpressionInvalid(err.Error())
			}
		}
		sub.filter = n
	}
	hs.mu.Lock()
	switch {
	case hs.stopped:
		hs.mu.Unlock()
		return
	case len(hs.live) >= hs.maxLive:
		hs.mu.Unlock()
		hs.emit(to, protocol.ErrorEnvelope(topic, correlationOnly(h), "/", errTooManyStreams()))
		return
	}
	sub.id = hs.idPrefix + strconv.FormatUint(hs.counter, 10)
	hs.counter++
	sub.ctx, sub.cancel = context.WithCancel(ctx)
	if hs.live == nil {
		hs.live = map[string]*wsHistory{}
	}
	hs.live[sub.id] = sub
	hs.wg.Add(1)
	hs.mu.Unlock()

	// created goes out before the goroutine can send anything.
	hs.emit(to, streamingEvent(topic, protocol.ActionCreated, h, subscriptionIDValue(sub.id)))
	go hs.run(sub)
}

// request adds demand to a subscription; a request for an ended or
// unknown one is answered failed, as by Ditto's zombie actor or its
// StreamingSubscriptionManager.
func (hs *wsHistories) request(topic protocol.Topic, id string, demand int64, h protocol.Headers, to string) {
	hs.mu.Lock()
	sub := hs.live[id]
	ended := sub == nil && hs.zombies.has(id)
	hs.mu.Unlock()
	switch {
	case sub != nil:
		sub.mu.Lock()
		sub.headers, sub.to = h, to
		if demand <= 0 {
			sub.failure = errStreamingNonPositiveDemand()
		} else {
			sub.demand = satAdd(sub.demand, demand)
			if hs.maxDemand > 0 {
				sub.demand = min(sub.demand, hs.maxDemand)
			}
		}
		sub.mu.Unlock()
		select {
		case sub.wake <- struct{}{}:
		default: // a wake-up is pending already
		}
	case ended:
		hs.emit(to, streamingFailed(topic, id, h, errStreamingCancelled()))
	default:
		hs.emit(to, streamingFailed(topic, id, h, errStreamingNotFound(id)))
	}
}

// cancel ends a subscription without a message; a cancel of an ended
// subscription is ignored, of an unknown one answered failed.
func (hs *wsHistories) cancel(topic protocol.Topic, id string, h protocol.Headers, to string) {
	hs.mu.Lock()
	sub := hs.live[id]
	ended := sub == nil && hs.zombies.has(id)
	if sub != nil {
		hs.retireLocked(id)
	}
	hs.mu.Unlock()
	switch {
	case sub != nil:
		sub.cancel()
	case !ended:
		hs.emit(to, streamingFailed(topic, id, h, errStreamingNotFound(id)))
	}
}

// stop cancels every subscription and returns once their goroutines have
// ended; no subscription starts after it.
func (hs *wsHistories) stop() {
	hs.mu.Lock()
	hs.stopped = true
	for _, sub := range hs.live {
		sub.cancel()
	}
	hs.mu.Unlock()
	hs.wg.Wait()
}

// running counts the running subscriptions.
func (hs *wsHistories) running() int {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	return len(hs.live)
}

func (hs *wsHistories) retire(id string) {
	hs.mu.Lock()
	hs.retireLocked(id)
	hs.mu.Unlock()
}

// retireLocked moves a live subscription to the zombies; hs.mu is held.
func (hs *wsHistories) retireLocked(id string) {
	if _, ok := hs.live[id]; !ok {
		return
	}
	delete(hs.live, id)
	hs.zombies.add(id)
}

// run is a subscription's goroutine: it waits for demand, fetches a page
// when the previous one is used up, sends its events one next each while
// there is demand, and ends with complete or failed (or silently when
// cancelled).
func (hs *wsHistories) run(sub *wsHistory) {
	defer hs.wg.Done()
	defer sub.cancel()
	defer hs.retire(sub.id)
	// end retires the subscription before its last message, so that a
	// request the client sends on seeing it finds a zombie.
	end := func(env protocol.Envelope) {
		hs.retire(sub.id)
		sub.mu.Lock()
		to := sub.to
		sub.mu.Unlock()
		hs.emit(to, env)
	}
	idle := time.NewTimer(hs.idle)
	defer idle.Stop()
	entityID := sub.topic.Namespace + ":" + sub.topic.EntityName
	var (
		events  []json.RawMessage // of the current page, not yet sent
		fetched bool              // a page was fetched
		next    int64             // the current page's Next
		rng     = sub.rng
	)
	for {
		// Wait for demand.
		var h protocol.Headers
		var demand int64
		for {
			var failure *protocol.Error
			sub.mu.Lock()
			demand, failure, h = sub.demand, sub.failure, sub.headers
			sub.mu.Unlock()
			if failure != nil {
				end(streamingFailed(sub.topic, sub.id, h, failure))
				return
			}
			if demand > 0 {
				break
			}
			select {
			case <-sub.ctx.Done():
				return
			case <-sub.wake:
				idle.Reset(hs.idle)
			case <-idle.C:
				end(streamingFailed(sub.topic, sub.id, h, errStreamingTimeout(sub.id)))
				return
			}
		}
		if sub.invalid != nil {
			end(streamingFailed(sub.topic, sub.id, h, sub.invalid))
			return
		}
		if len(events) == 0 {
			if fetched && next == 0 {
				end(streamingEvent(sub.topic, protocol.ActionComplete, h, subscriptionIDValue(sub.id)))
				return
			}
			if fetched {
				rng = command.EventsRange{From: strconv.FormatInt(next, 10), To: rng.To}
			}
			rng.Limit = int(min(demand, int64(hs.pageMax)))
			page, err := hs.fetch(sub.ctx, sub.topic.Group, entityID, h, rng)
			if sub.ctx.Err() != nil {
				return // cancelled, or the session ended
			}
			if err != nil {
				perr := protocol.AsError(err)
				if perr == nil {
					perr = protocol.ErrInternal()
				}
				end(streamingFailed(sub.topic, sub.id, h, perr))
				return
			}
			if !fetched {
				// The following pages go by the revisions the first resolved.
				rng.To, rng.FromTime, rng.ToTime = strconv.FormatInt(page.To, 10), "", ""
			}
			fetched, next, events = true, page.Next, page.Events
			idle.Reset(hs.idle)
			continue
		}
		raw := events[0]
		events[0] = nil
		events = events[1:]
		if !sub.passes(raw) {
			continue
		}
		sub.mu.Lock()
		sub.demand--
		h, to := sub.headers, sub.to
		sub.mu.Unlock()
		hs.emit(to, streamingEvent(sub.topic, protocol.ActionNext, h, streamingNextValue(sub.id, raw)))
		idle.Reset(hs.idle)
	}
}

// passes reports whether the subscription's filter (if any) selects the
// persisted event raw. Ditto filters thing events only; a policy
// subscription's filter is ignored.
func (sub *wsHistory) passes(raw json.RawMessage) bool {
	if sub.filter == nil || sub.topic.Group != protocol.GroupThings {
		return true
	}
	env, err := protocol.DecodeEnvelopeTrusted(raw)
	if err != nil {
		return false
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		return false
	}
	return rql.MatchesAt(sub.filter, eventThing(topic, env, jsonv.Value{}), sub.start)
}

// streamingEvent is an event of the streaming protocol:
// <ns>/<name>/<group>/<channel>/streaming/<action> at path "/".
func streamingEvent(topic protocol.Topic, action string, h protocol.Headers, value []byte) protocol.Envelope {
	topic.Criterion, topic.Action = protocol.CriterionStreaming, action
	return protocol.Envelope{Topic: topic.String(), Headers: h, Path: "/", Value: value}
}

// streamingFailed is the failed event of subscription id with err.
func streamingFailed(topic protocol.Topic, id string, h protocol.Headers, err *protocol.Error) protocol.Envelope {
	v := append(subscriptionIDPrefix(id), `,"error":`...)
	v = append(v, errorJSON(err)...)
	return streamingEvent(topic, protocol.ActionFailed, h, append(v, '}'))
}

// streamingNextValue is {"subscriptionId":id,"item":<event>}: the item is
// the persisted event as a Ditto Protocol message, as Ditto's
// StreamingSubscriptionManager adapts each one.
func streamingNextValue(id string, item json.RawMessage) []byte {
	v := append(subscriptionIDPrefix(id), `,"item":`...)
	v = append(v, item...)
	return append(v, '}')
}
