// Package command sends Ditto Protocol commands to the service instance that
// owns the addressed entity, over NATS request/reply, and returns its reply.
// The gateway and the services use the same Client.
//
// Requests go to the entity's shard subject of the command's kind
// (streams.Names.Commands) with the entity id in streams.HeaderEntity and the
// caller's authenticated subjects in streams.HeaderAuth. While a shard
// changes hands nobody answers its subject for a moment; the client retries
// such requests with a short backoff until the command's timeout.
package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/streams"
)

// Client sends commands. It is safe for concurrent use.
type Client struct {
	nc     *nats.Conn
	names  streams.Names
	shards int

	bufs sync.Pool // *[]byte for encoded envelopes
	// metrics is nil unless WithMetrics gave a registry.
	metrics *metrics
}

// New returns a client publishing on nc with subjects from names (the zero
// value means the default prefix), spreading entities over shards shards
// (streams.DefaultShards when shards <= 0).
func New(nc *nats.Conn, names streams.Names, shards int) *Client {
	if shards <= 0 {
		shards = streams.DefaultShards
	}
	if names.Prefix() == "" {
		names = streams.New("")
	}
	return &Client{
		nc: nc, names: names, shards: shards,
		bufs: sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }},
	}
}

// Request is one command to send.
type Request struct {
	Envelope protocol.Envelope
	// EntityID is the addressed entity; Group (protocol.GroupThings or
	// protocol.GroupPolicies) picks the service.
	EntityID string
	Group    string
	// Kind is the subject kind: streams.KindCommands unless set.
	Kind streams.CommandKind
	// Auth is the JSON array of the caller's authenticated subjects (see
	// EncodeAuth), sent as streams.HeaderAuth. Only an internal command may
	// go without.
	Auth string
	// Timeout bounds the whole exchange, retries included (60 seconds
	// when not set).
	Timeout time.Duration
	// History, when set on a retrieve, asks for a page of the entity's
	// persisted events instead (see EventsRange), sent as
	// streams.HeaderHistory.
	History *EventsRange
}

// Errors of Request besides NATS's own (a closed or reconnecting
// connection).
var (
	// ErrUnavailable: no instance served the shard before the timeout.
	ErrUnavailable = errors.New("command: no service instance available")
	// ErrTimeout: an instance took the command but did not answer in time.
	ErrTimeout = errors.New("command: no reply in time")
)

// defaultTimeout bounds a request without a timeout.
const defaultTimeout = 60 * time.Second

// EncodeAuth renders authenticated subjects as the value of
// streams.HeaderAuth.
func EncodeAuth(subjects []string) string {
	if len(subjects) == 0 {
		return ""
	}
	b, _ := json.Marshal(subjects) // a []string always marshals
	return string(b)
}

// DecodeAuth reads the subjects of a streams.HeaderAuth value, the JSON
// array EncodeAuth writes; false unless it is a non-empty array of
// non-empty strings.
func DecodeAuth(header string) ([]string, bool) {
	var subjects []string
	if header == "" || json.Unmarshal([]byte(header), &subjects) != nil || len(subjects) == 0 {
		return nil, false
	}
	for _, s := range subjects {
		if s == "" {
			return nil, false
		}
	}
	return subjects, true
}

// Subject returns the subject of req: the kind's subject of the shard
// that owns the entity in its group's service.
func (c *Client) Subject(req Request) (string, error) {
	var service string
	switch req.Group {
	case protocol.GroupThings:
		service = streams.ServiceThings
	case protocol.GroupPolicies:
		service = streams.ServicePolicies
	default:
		return "", fmt.Errorf("command for group %q: no such service", req.Group)
	}
	kind := req.Kind
	if kind == "" {
		kind = streams.KindCommands
	}
	return c.names.Commands(service, kind, streams.Shard(req.EntityID, c.shards)), nil
}

// message builds the NATS message of req; release returns its buffer to
// the pool once NATS has copied the payload.
func (c *Client) message(req Request) (msg *nats.Msg, release func(), err error) {
	subject, err := c.Subject(req)
	if err != nil {
		return nil, nil, err
	}
	if req.Auth == "" && req.Kind != streams.KindInternal {
		return nil, nil, errors.New("command without authenticated subjects")
	}
	bp := c.bufs.Get().(*[]byte)
	data, err := req.Envelope.AppendJSONTrusted((*bp)[:0])
	if err != nil {
		c.bufs.Put(bp)
		return nil, nil, fmt.Errorf("encode command: %w", err)
	}
	// NATS headers are case-sensitive: the keys are set as streams spells
	// them, never canonicalised.
	h := nats.Header{streams.HeaderEntity: []string{streams.EncodeEntityHeader(req.EntityID)}}
	if req.Auth != "" {
		h[streams.HeaderAuth] = []string{req.Auth}
	}
	if req.Kind == streams.KindSudo {
		// A sudo subject takes only commands that say so.
		h[streams.HeaderSudo] = []string{"true"}
	}
	if req.History != nil {
		b, err := json.Marshal(req.History)
		if err != nil {
			c.bufs.Put(bp)
			return nil, nil, fmt.Errorf("encode history range: %w", err)
		}
		h[streams.HeaderHistory] = []string{string(b)}
	}
	if strings.Contains(req.Envelope.Topic, "/things/live/") {
		h[streams.HeaderLive] = []string{"true"}
	}
	msg = &nats.Msg{Subject: subject, Header: h, Data: data}
	release = func() {
		if cap(data) > maxPooledBuffer {
			return // let a rare large command's buffer go
		}
		*bp = data[:0]
		c.bufs.Put(bp)
	}
	return msg, release, nil
}

// maxPooledBuffer bounds the encode buffers kept for reuse.
const maxPooledBuffer = 64 << 10

// Publish sends req without a reply subject (response-required=false): the
// service applies it and answers nobody. A command published while no
// instance serves the shard is lost, as fire-and-forget allows.
func (c *Client) Publish(req Request) error {
	msg, release, err := c.message(req)
	if err != nil {
		return err
	}
	defer release()
	if err := c.nc.PublishMsg(msg); err != nil {
		return fmt.Errorf("publish command: %w", err)
	}
	return nil
}

// Request sends req and returns the reply envelope (which may be an error
// envelope: see protocol.Envelope.AsError). It waits until req.Timeout, or
// ctx's deadline if that comes first; an ended ctx sends nothing. While
// no instance serves the entity's shard it retries with backoff;
// ErrUnavailable when none did in time, ErrTimeout when one took the
// command but did not answer in time.
func (c *Client) Request(ctx context.Context, req Request) (protocol.Envelope, error) {
	if err := ctx.Err(); err != nil {
		return protocol.Envelope{}, err
	}
	timeout := req.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	if d, ok := ctx.Deadline(); ok {
		timeout = min(timeout, time.Until(d))
	}
	msg, release, err := c.message(req)
	if err != nil {
		return protocol.Envelope{}, err
	}
	defer release()
	// The service continues the caller's trace (nothing without one).
	msg.Header = tracing.Inject(ctx, msg.Header)
	if c.metrics == nil {
		return c.request(msg, timeout)
	}
	start := time.Now()
	env, err := c.request(msg, timeout)
	c.metrics.observe(req.Envelope, env, err, time.Since(start))
	return env, err
}

// request sends msg and decodes the reply.
func (c *Client) request(msg *nats.Msg, timeout time.Duration) (protocol.Envelope, error) {
	// Bounded by the timeout rather than by ctx: a context per request
	// was the largest allocation of the gateway's read path.
	reply, err := RequestWithin(c.nc, msg, timeout)
	switch {
	case err == nil:
		return decodeReply(reply)
	case errors.Is(err, nats.ErrTimeout):
		return protocol.Envelope{}, ErrTimeout
	default:
		return protocol.Envelope{}, err
	}
}

// decodeReply reads a service's reply. A reply without body that carries
// the micro framework's error headers (a service failing outside the Ditto
// error path) becomes Ditto's internal error.
func decodeReply(m *nats.Msg) (protocol.Envelope, error) {
	if len(m.Data) == 0 {
		if m.Header.Get("Nats-Service-Error-Code") != "" {
			return protocol.Envelope{}, protocol.ErrGatewayInternal()
		}
		return protocol.Envelope{}, errors.New("decode reply: empty reply")
	}
	// Replies come from the services, which write them from parsed values:
	// neither their JSON syntax nor their headers need re-validation.
	env, err := protocol.DecodeEnvelopeTrusted(m.Data)
	if err != nil {
		return protocol.Envelope{}, fmt.Errorf("decode reply: %w", err)
	}
	return env, nil
}

// Backoff between attempts while nobody serves a shard: it doubles from
// minBackoff up to maxBackoff.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = 250 * time.Millisecond
	// lastChance is too little time for a request to learn even that
	// nobody serves its subject.
	lastChance = 10 * time.Millisecond
)

// RequestWithin sends msg as a request and returns the reply. While nobody
// answers its subject (the shard's owner is moving) it retries with backoff
// until timeout, and then returns ErrUnavailable; no reply within timeout
// is nats.ErrTimeout. It allocates no context and no timer per request
// (nats.go pools the timers of RequestMsg), which is most of the cost of a
// request on the gateway's hot path.
func RequestWithin(nc *nats.Conn, msg *nats.Msg, timeout time.Duration) (*nats.Msg, error) {
	deadline := time.Now().Add(timeout)
	backoff := minBackoff
	for attempt := 0; ; attempt++ {
		left := time.Until(deadline)
		if left <= 0 {
			if attempt > 0 {
				// Every attempt so far found nobody serving.
				return nil, ErrUnavailable
			}
			return nil, nats.ErrTimeout
		}
		reply, err := nc.RequestMsg(msg, left)
		if attempt > 0 && left < lastChance && errors.Is(err, nats.ErrTimeout) {
			// Every earlier attempt found nobody serving; this one, sent
			// with too little time left for even that answer, says no
			// more than they did.
			return nil, ErrUnavailable
		}
		if !errors.Is(err, nats.ErrNoResponders) {
			return reply, err
		}
		left = time.Until(deadline)
		if left <= backoff {
			time.Sleep(max(left, 0))
			return nil, ErrUnavailable
		}
		time.Sleep(backoff)
		backoff = min(backoff*2, maxBackoff)
	}
}
