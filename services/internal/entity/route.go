package entity

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

// route says what a subscription's messages are.
type route struct {
	shard   int                 // -1 for observers
	kind    streams.CommandKind // of a shard subscription
	observe func(m *nats.Msg)   // set for observers
}

// inboxSize bounds messages waiting for the dispatcher. NATS drops messages
// for a full channel subscription, so this is generous; the dispatcher
// spends a few microseconds per message.
const inboxSize = 1 << 16

// Observe delivers messages of subject to fn on the dispatcher goroutine, in
// order with the commands: fn must be quick and must not block. It returns
// the subscription, whose Dropped count tells an observer that it missed
// messages.
func (h *Host) Observe(subject string, fn func(m *nats.Msg)) (*nats.Subscription, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	sub, err := h.nc.ChanSubscribe(subject, h.in)
	if err != nil {
		return nil, fmt.Errorf("observe %s: %w", subject, err)
	}
	h.routes[sub] = route{shard: -1, observe: fn}
	return sub, nil
}

func (h *Host) stopObserving() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for sub, r := range h.routes {
		if r.shard < 0 {
			_ = sub.Unsubscribe()
		}
	}
}

// OpenShard starts serving the commands of shard (see OpenShards).
func (h *Host) OpenShard(ctx context.Context, shard int) error {
	return h.OpenShards(ctx, []int{shard})[shard]
}

// OpenShards starts serving the commands of shards: it first recovers the
// shards' events that may not have reached JetStream (publish.go), so they
// are published before any new event of the same entity, then subscribes
// each shard's command subjects. A shard with an error is not served.
func (h *Host) OpenShards(ctx context.Context, shards []int) map[int]error {
	errs := h.pub.open(ctx, shards)
	for s, err := range errs {
		errs[s] = fmt.Errorf("recover events of shard %d: %w", s, err)
	}
	for _, s := range shards {
		if errs[s] != nil {
			continue
		}
		if err := h.subscribeShard(s); err != nil {
			errs[s] = err
		}
	}
	return errs
}

func (h *Host) subscribeShard(shard int) error {
	sh := h.shards[shard]
	sh.mu.Lock()
	sh.open = true
	sh.mu.Unlock()
	h.mu.Lock()
	defer h.mu.Unlock()
	var subs []*nats.Subscription
	for _, kind := range streams.CommandKinds {
		sub, err := h.nc.ChanQueueSubscribe(h.d.Names.Commands(h.cfg.Service, kind, shard), h.cfg.Service, h.in)
		if err != nil {
			for _, s := range subs {
				_ = s.Unsubscribe()
				delete(h.routes, s)
			}
			sh.mu.Lock()
			sh.open = false
			sh.mu.Unlock()
			return fmt.Errorf("subscribe shard %d: %w", shard, err)
		}
		h.routes[sub] = route{shard: shard, kind: kind}
		subs = append(subs, sub)
	}
	h.shardSubs[shard] = subs
	return nil
}

// CloseShard stops serving shard: no new commands arrive, every command
// already received is answered, its entities leave memory, and its events
// are handed to JetStream (or, if that is down, left for the next owner's
// recovery).
func (h *Host) CloseShard(ctx context.Context, shard int) {
	h.mu.Lock()
	subs := h.shardSubs[shard]
	delete(h.shardSubs, shard)
	h.mu.Unlock()
	if len(subs) > 0 {
		// Drain rather than unsubscribe: messages the server routed to us
		// before it processed the unsubscribe still reach the inbox
		// instead of being dropped (their requesters would time out).
		for _, sub := range subs {
			closed := sub.StatusChanged(nats.SubscriptionClosed)
			if err := sub.Drain(); err != nil {
				if !errors.Is(err, nats.ErrConnectionClosed) {
					h.log.Warn("drain shard subscription", "shard", shard, "err", err)
				}
				continue
			}
			select {
			case <-closed:
			case <-ctx.Done():
			}
		}
		// Everything the subscriptions delivered is in the inbox ahead of
		// this barrier.
		h.barrier(ctx)
		h.mu.Lock()
		for _, sub := range subs {
			delete(h.routes, sub)
		}
		h.mu.Unlock()
	}
	sh := h.shards[shard]
	sh.mu.Lock()
	sh.open = false
	sh.mu.Unlock()
	done := make(chan struct{})
	go func() { sh.workers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		h.log.Warn("shard closed before its commands finished", "shard", shard)
	}
	sh.mu.Lock()
	h.loaded.Add(-int64(len(sh.slots)))
	sh.slots = map[string]*slot{}
	sh.mu.Unlock()
	h.pub.close(ctx, shard)
}

func (h *Host) barrier(ctx context.Context) {
	m := &nats.Msg{}
	done := make(chan struct{})
	h.mu.Lock()
	h.barriers[m] = done
	h.mu.Unlock()
	select {
	case h.in <- m:
	case <-ctx.Done():
		return
	}
	select {
	case <-done:
	case <-ctx.Done():
	}
}

// dispatch routes one inbox message. It runs on the dispatcher goroutine and
// never blocks on I/O.
func (h *Host) dispatch(m *nats.Msg) {
	h.mu.Lock()
	if done, ok := h.barriers[m]; ok {
		delete(h.barriers, m)
		h.mu.Unlock()
		close(done)
		return
	}
	r, ok := h.routes[m.Sub]
	h.mu.Unlock()
	if !ok {
		h.notServing(m)
		return
	}
	if r.observe != nil {
		r.observe(m)
		return
	}
	req := &request{msg: m, kind: r.kind, received: time.Now(), entityID: streams.DecodeEntityHeader(m.Header.Get(streams.HeaderEntity)),
		live: m.Header.Get(streams.HeaderLive) == "true"}
	if req.entityID == "" {
		// Not from a platform client (e.g. the nats CLI): read the topic.
		env, err := protocol.DecodeEnvelopeUnchecked(m.Data)
		if err != nil {
			h.replyError(m, protocol.Topic{}, protocol.Envelope{}, err)
			return
		}
		t, err := protocol.ParseTopic(env.Topic)
		if err != nil {
			h.replyError(m, protocol.Topic{}, env, err)
			return
		}
		req.env, req.entityID = &env, t.EntityID()
	}
	if h.shardOf(req.entityID) != r.shard {
		// Only a hand-written command gets here (platform clients compute
		// the shard as the services do). The answer says what to do
		// without naming shard numbers: routing stays internal.
		h.replyError(m, protocol.Topic{}, protocol.Envelope{}, errWrongShard(req.entityID, h.d.Names.Commands(h.cfg.Service, r.kind, r.shard)))
		return
	}
	if h.blocked.Blocked(namespaceOf(req.entityID)) {
		h.refuseBlocked(req)
		return
	}
	h.enqueue(r.shard, req)
}

// notServing answers a command this instance does not serve (any more) the
// way NATS answers a request nobody listens to, so the requester retries.
func (h *Host) notServing(m *nats.Msg) {
	if m.Reply == "" {
		return
	}
	reply := nats.NewMsg(m.Reply)
	reply.Header.Set("Status", "503")
	if err := h.nc.PublishMsg(reply); err != nil {
		h.log.Debug("answer unserved command", "err", err)
	}
}

func errWrongShard(id, subject string) *protocol.Error {
	return protocol.NewError(400, "entity.id.invalid",
		fmt.Sprintf("The command for the entity '%s' was sent to %s, which does not serve that entity.", id, subject),
		"Send a command to the subject of its entity's shard: FNV-1a (32 bit) of the entity ID modulo CLUSTER_NUMBER_OF_SHARDS.")
}
