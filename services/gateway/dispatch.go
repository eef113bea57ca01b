package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/streams"
)

// Command is one Ditto Protocol command on its way to the service that owns
// the addressed entity.
type Command struct {
	// Group is protocol.GroupThings or protocol.GroupPolicies; it selects
	// the owning service.
	Group string
	// EntityID is the namespaced id of the thing or policy; its shard picks
	// the subject.
	EntityID string
	// Auth is the JSON array of the caller's authenticated subjects, sent as
	// streams.HeaderAuth. It must never be empty: services reject such
	// commands.
	Auth string
	// Envelope is the command itself.
	Envelope protocol.Envelope
	// Timeout bounds the whole exchange, retries included.
	Timeout time.Duration
}

// maxPooledBuffer bounds the encode buffers kept for reuse.
const maxPooledBuffer = 64 << 10

// Dispatcher sends commands to the owning service over NATS request/reply
// and returns the service's reply envelope. It is safe for concurrent use
// and shared by the HTTP routes and (later) the WebSocket endpoint.
type Dispatcher struct {
	nc     *nats.Conn
	names  streams.Names
	shards int

	bufs sync.Pool // *[]byte for encoded envelopes
}

// NewDispatcher returns a dispatcher publishing on nc with subjects from
// names, spreading entities over shards shards (streams.DefaultShards when
// shards <= 0).
func NewDispatcher(nc *nats.Conn, names streams.Names, shards int) *Dispatcher {
	if shards <= 0 {
		shards = streams.DefaultShards
	}
	if names.Prefix() == "" {
		names = streams.New("")
	}
	return &Dispatcher{
		nc: nc, names: names, shards: shards,
		bufs: sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }},
	}
}

// Subject returns the request subject of the shard owning id in group.
func (d *Dispatcher) Subject(group, id string) (string, error) {
	return command.Subject(d.names, d.shards, group, id)
}

// message builds the NATS message of c; release returns its buffer to the
// pool once NATS has copied the payload.
func (d *Dispatcher) message(c Command) (msg *nats.Msg, release func(), err error) {
	subject, err := d.Subject(c.Group, c.EntityID)
	if err != nil {
		return nil, nil, err
	}
	if c.Auth == "" {
		return nil, nil, errors.New("dispatch: command without authenticated subjects")
	}
	bp := d.bufs.Get().(*[]byte)
	data, err := c.Envelope.AppendJSONTrusted((*bp)[:0])
	if err != nil {
		d.bufs.Put(bp)
		return nil, nil, fmt.Errorf("encode command: %w", err)
	}
	msg = &nats.Msg{
		Subject: subject,
		// NATS headers are case-sensitive: the keys are set as streams
		// spells them, never canonicalised.
		Header: nats.Header{
			streams.HeaderAuth:   []string{c.Auth},
			streams.HeaderEntity: []string{c.EntityID},
		},
		Data: data,
	}
	release = func() {
		if cap(data) > maxPooledBuffer {
			return // let a rare large command's buffer go
		}
		*bp = data[:0]
		d.bufs.Put(bp)
	}
	return msg, release, nil
}

// Publish sends c without a reply subject, for response-required=false:
// the service applies it and answers nobody. A command published while no
// instance serves the shard is lost, as fire-and-forget allows.
func (d *Dispatcher) Publish(c Command) error {
	msg, release, err := d.message(c)
	if err != nil {
		return err
	}
	defer release()
	if err := d.nc.PublishMsg(msg); err != nil {
		return fmt.Errorf("publish command: %w", err)
	}
	return nil
}

// Request sends c unless ctx has ended and waits for the reply until
// c.Timeout has passed. While no instance serves the entity's shard (its
// owner is moving) it retries with backoff. It returns the reply envelope
// (which may be an error envelope: see protocol.Envelope.AsError), or:
//
//   - Ditto's command.timeout (408) when no reply came in time;
//   - Ditto's gateway:service.unavailable (503) when no instance served the
//     shard until the timeout, or NATS is disconnected;
//   - another error for a reply that is no envelope.
func (d *Dispatcher) Request(ctx context.Context, c Command) (protocol.Envelope, error) {
	msg, release, err := d.message(c)
	if err != nil {
		return protocol.Envelope{}, err
	}
	defer release()
	if c.Timeout <= 0 {
		c.Timeout = protocol.MaxCommandTimeout
	}
	if err := ctx.Err(); err != nil {
		return protocol.Envelope{}, err
	}
	// Bounded by the command's timeout rather than by ctx: a context per
	// request was the largest allocation of the read path. A client that
	// goes away meanwhile costs at most that timeout of waiting.
	reply, err := command.RequestWithin(d.nc, msg, c.Timeout)
	switch {
	case err == nil:
		return decodeReply(reply)
	case errors.Is(err, command.ErrUnavailable):
		// Nobody served the shard (its owner was moving) until the
		// command's deadline.
		return protocol.Envelope{}, protocol.ErrGatewayServiceUnavailable()
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout):
		return protocol.Envelope{}, protocol.ErrCommandTimeout(c.Timeout)
	case errors.Is(err, context.Canceled):
		return protocol.Envelope{}, err
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrConnectionReconnecting):
		return protocol.Envelope{}, protocol.ErrGatewayServiceUnavailable()
	default:
		return protocol.Envelope{}, fmt.Errorf("request command: %w", err)
	}
}

// decodeReply reads a service's reply. A reply without body that carries
// the micro framework's error headers (a service failing outside the Ditto
// error path) becomes Ditto's gateway internal error.
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
