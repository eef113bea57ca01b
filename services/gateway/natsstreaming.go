package gateway

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/logging"
	"github.com/dittonats/dittonats/streams"
)

// Streaming subscriptions over NATS: the Ditto Protocol's
// subscribeForPersistedEvents, request and cancel (wsstreaming.go) for a
// NATS client, which the operator's nats CLI is. A message goes to
// streams.Names.GatewayStreaming, which the gateways serve in one queue
// group, with the caller's subjects in streams.HeaderAuth as for a command
// (only the operator may send there), and a reply subject: every message
// of the protocol that answers it goes there. So
//
//	nats req ditto.gateway.streaming -H 'Ditto-Auth:["nginx:ditto"]' --replies 0 '<subscribeForPersistedEvents>'
//
// answers created, and a request with demand n answers n next (at most
// streams.MaxStreamingDemand: NATS lets a gateway send no more to one reply
// subject) and then complete once the range is done, or failed. Later
// messages of a subscription go to the reply subject of the request that
// asked for them.
//
// A subscription lives in the gateway instance that created it; its id
// starts with that instance's id, and another instance that gets its
// request or cancel forwards it to streams.Names.GatewayStreamingInstance.
// Subscriptions are kept per caller: a request from other subjects finds
// none (streaming.subscription.not.found). A subscription nobody asks
// anything of ends after the WebSocket search's idle timeout, as on the
// WebSocket.

// natsStreaming serves streaming subscriptions over NATS.
type natsStreaming struct {
	g   *Gateway
	ctx context.Context // the subscriptions' parent: ends when the gateway shuts down

	mu      sync.Mutex // guards the fields below
	stopped bool
	callers map[string]*natsCaller // by the sorted subjects' JSON
}

// natsCaller is the streaming subscriptions of one caller.
type natsCaller struct {
	hs       wsHistories
	lastUsed time.Time // guarded by natsStreaming.mu
}

// natsCallerIdle is how long the (empty) subscriptions of a caller who
// asks nothing are kept.
const natsCallerIdle = 10 * time.Minute

// serveNATSStreaming subscribes the gateway to its streaming subjects and
// returns what stops it: it unsubscribes and ends every subscription.
func (g *Gateway) serveNATSStreaming(ctx context.Context) (stop func(), err error) {
	ctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	ns := &natsStreaming{g: g, ctx: ctx, callers: map[string]*natsCaller{}}
	group, err := g.nc.QueueSubscribe(g.names.GatewayStreaming(), streams.ServiceGateway, ns.handle)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("gateway: streaming over NATS: %w", err)
	}
	own, err := g.nc.Subscribe(g.names.GatewayStreamingInstance(g.instance), ns.handle)
	if err != nil {
		_ = group.Unsubscribe()
		cancel()
		return nil, fmt.Errorf("gateway: streaming over NATS: %w", err)
	}
	// The server knows both subscriptions before the gateway says it
	// listens.
	if err := g.nc.Flush(); err != nil {
		_ = group.Unsubscribe()
		_ = own.Unsubscribe()
		cancel()
		return nil, fmt.Errorf("gateway: streaming over NATS: %w", err)
	}
	sweep := time.NewTicker(natsCallerIdle / 2)
	swept := make(chan struct{})
	go func() {
		defer close(swept)
		for {
			select {
			case <-ctx.Done():
				return
			case <-sweep.C:
				ns.sweep()
			}
		}
	}()
	return func() {
		_ = group.Unsubscribe()
		_ = own.Unsubscribe()
		sweep.Stop()
		cancel()
		<-swept
		ns.mu.Lock()
		ns.stopped = true
		callers := ns.callers
		ns.callers = nil
		ns.mu.Unlock()
		for _, c := range callers {
			c.hs.stop()
		}
	}, nil
}

// handle acts on one message of a NATS client.
func (ns *natsStreaming) handle(m *nats.Msg) {
	if m.Reply == "" {
		return // nobody to answer
	}
	answer := func(env protocol.Envelope) { ns.emit(m.Reply, env) }
	env, err := protocol.DecodeEnvelope(m.Data)
	if err != nil {
		perr := protocol.AsError(err)
		if perr == nil {
			perr = protocol.ErrInternal()
		}
		answer(protocol.ErrorEnvelope(protocol.FallbackErrorTopic(), frameCorrelation(m.Data), "/", perr))
		return
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		answer(protocol.ErrorEnvelope(protocol.FallbackErrorTopic(), correlationOnly(env.Headers), env.Path, protocol.AsError(err)))
		return
	}
	env.Headers = externalHeaders(env.Headers)
	subjects, ok := natsCallerSubjects(m.Header.Get(streams.HeaderAuth))
	if !ok {
		answer(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, errNATSUnauthenticated()))
		return
	}
	if topic.Criterion != protocol.CriterionStreaming {
		answer(protocol.ErrorEnvelope(topic, correlationOnly(env.Headers), env.Path, errUnsupportedSignal(topic)))
		return
	}
	if ns.forward(m, topic, env) {
		return
	}
	c := ns.caller(subjects)
	if c == nil {
		return // shutting down
	}
	ns.g.log.Debug("streaming command over NATS", "topic", env.Topic, "auth", subjects,
		logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]))
	c.hs.command(ns.ctx, topic, env, m.Reply)
}

// forward passes a request or cancel of a subscription another gateway
// instance holds on to it, with its reply subject; false when the message
// is this instance's to handle (or came from another instance already).
func (ns *natsStreaming) forward(m *nats.Msg, topic protocol.Topic, env protocol.Envelope) bool {
	if m.Subject != ns.g.names.GatewayStreaming() || (topic.Action != protocol.ActionRequest && topic.Action != protocol.ActionCancel) {
		return false
	}
	id, _, perr := parseSubscriptionValue(env.Value, false)
	if perr != nil {
		return false
	}
	i := strings.LastIndexByte(id, ':')
	if i <= 0 || id[:i] == ns.g.instance || !natsToken(id[:i]) {
		return false
	}
	fwd := &nats.Msg{Subject: ns.g.names.GatewayStreamingInstance(id[:i]), Reply: m.Reply, Header: m.Header, Data: m.Data}
	if err := ns.g.nc.PublishMsg(fwd); err != nil {
		ns.g.log.Warn("streaming request not forwarded", "subject", fwd.Subject, "err", err)
	}
	return true
}

// caller returns the subscriptions of subjects, set up on first use; nil
// once stopped.
func (ns *natsStreaming) caller(subjects []string) *natsCaller {
	p := newPrincipal(subjects...)
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if ns.stopped {
		return nil
	}
	c := ns.callers[p.auth]
	if c == nil {
		c = &natsCaller{}
		c.hs = wsHistories{
			emit: ns.emit,
			fetch: func(ctx context.Context, group, id string, h protocol.Headers, rng command.EventsRange) (command.EventsPage, error) {
				return ns.g.historyPage(ctx, p, group, id, h, rng)
			},
			pageMax:   historyPageSize,
			idle:      ns.g.cfg.SearchIdleTimeout,
			maxLive:   maxSessionSearches,
			zombies:   endedIDs{lifetime: searchZombieLifetime, max: maxSearchZombies},
			idPrefix:  ns.g.instance + ":",
			maxDemand: streams.MaxStreamingDemand,
		}
		ns.callers[p.auth] = c
	}
	c.lastUsed = time.Now()
	return c
}

// sweep forgets the callers without running subscriptions who asked
// nothing for natsCallerIdle.
func (ns *natsStreaming) sweep() {
	cutoff := time.Now().Add(-natsCallerIdle)
	ns.mu.Lock()
	var idle []*natsCaller
	for key, c := range ns.callers {
		if c.lastUsed.Before(cutoff) && c.hs.running() == 0 {
			delete(ns.callers, key)
			idle = append(idle, c)
		}
	}
	ns.mu.Unlock()
	for _, c := range idle {
		c.hs.stop()
	}
}

// emit sends env to the NATS subject to.
func (ns *natsStreaming) emit(to string, env protocol.Envelope) {
	data, err := env.AppendJSON(nil)
	if err == nil {
		err = ns.g.nc.Publish(to, data)
	}
	if err != nil {
		ns.g.log.Warn("streaming message over NATS not sent", "topic", env.Topic,
			logging.CorrelationID(env.Headers[protocol.HeaderCorrelationID]), "err", err)
	}
}

// natsCallerSubjects reads the caller's subjects from the auth header, a
// JSON array of subject ids; sorted, so that a caller is one whatever
// their order.
func natsCallerSubjects(header string) ([]string, bool) {
	subjects, ok := command.DecodeAuth(header)
	if !ok {
		return nil, false
	}
	slices.Sort(subjects)
	return slices.Compact(subjects), true
}

// errNATSUnauthenticated answers a NATS message without the caller's
// subjects.
func errNATSUnauthenticated() *protocol.Error {
	return protocol.NewError(http.StatusUnauthorized, "gateway:authentication.failed",
		"The message carries no authenticated subjects in the "+streams.HeaderAuth+" header.",
		"Name the subjects to act for as a JSON array in the "+streams.HeaderAuth+" NATS header.")
}
