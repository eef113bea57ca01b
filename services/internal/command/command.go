// Package command sends Ditto Protocol commands to the service instance that
// owns the addressed entity, over NATS request/reply, and returns its reply.
//
// Requests go to the entity's shard subject (streams.Names) with the caller's
// authenticated subjects in streams.HeaderAuth. While a shard changes hands
// nobody answers its subject for a moment; the client retries such requests
// with a short backoff until the command's deadline.
package command

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

// Client sends commands. It is safe for concurrent use.
type Client struct {
	NC     *nats.Conn
	Names  streams.Names
	Shards int
}

// Request is one command to send.
type Request struct {
	Envelope protocol.Envelope
	// EntityID is the addressed entity; Group (protocol.GroupThings or
	// protocol.GroupPolicies) picks the service.
	EntityID string
	Group    string
	// Auth are the caller's authenticated subjects; Sudo marks a
	// service-to-service command that skips enforcement.
	Auth []string
	Sudo bool
	// NoReply sends the command without waiting for any reply
	// (response-required=false).
	NoReply bool
}

// ErrUnavailable is returned when no instance answered the shard's subject
// before the deadline.
var ErrUnavailable = errors.New("command: no service instance available")

// Send delivers req and returns the reply envelope. A reply that is a Ditto
// error comes back as the envelope (check Envelope.AsError). ctx's deadline
// bounds the whole exchange; a missing deadline means 60 seconds.
func (c *Client) Send(ctx context.Context, req Request) (protocol.Envelope, error) {
	msg, err := c.message(req)
	if err != nil {
		return protocol.Envelope{}, err
	}
	if req.NoReply {
		return protocol.Envelope{}, c.NC.PublishMsg(msg)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
	}
	reply, err := RequestRetrying(ctx, c.NC, msg)
	if err != nil {
		return protocol.Envelope{}, err
	}
	// Replies come from the services, which write valid JSON.
	env, err := protocol.DecodeEnvelopeTrusted(reply.Data)
	if err != nil {
		return protocol.Envelope{}, fmt.Errorf("decode reply from %s: %w", msg.Subject, err)
	}
	return env, nil
}

// Backoff between attempts while nobody serves a shard: it doubles from
// minBackoff up to maxBackoff.
const (
	minBackoff = 5 * time.Millisecond
	maxBackoff = 250 * time.Millisecond
)

// RequestRetrying sends msg as a request and returns the reply. While
// nobody answers its subject (the shard's owner is moving) it retries with
// backoff until ctx ends, and then returns ErrUnavailable. Any other error
// of the request comes back as NATS returned it.
func RequestRetrying(ctx context.Context, nc *nats.Conn, msg *nats.Msg) (*nats.Msg, error) {
	return retryUnserved(
		func() (*nats.Msg, error) { return nc.RequestMsgWithContext(ctx, msg) },
		func(d time.Duration) bool {
			t := time.NewTimer(d)
			defer t.Stop()
			select {
			case <-ctx.Done():
				return false
			case <-t.C:
				return true
			}
		})
}

// RequestWithin is RequestRetrying bounded by a timeout instead of a
// context. It allocates no context and no timer per request (nats.go pools
// the timers of RequestMsg), which is most of the cost of a request on the
// gateway's hot path. No reply within timeout is nats.ErrTimeout; nobody
// serving the subject until then is ErrUnavailable.
func RequestWithin(nc *nats.Conn, msg *nats.Msg, timeout time.Duration) (*nats.Msg, error) {
	deadline := time.Now().Add(timeout)
	return retryUnserved(
		func() (*nats.Msg, error) {
			left := time.Until(deadline)
			if left <= 0 {
				return nil, nats.ErrTimeout
			}
			return nc.RequestMsg(msg, left)
		},
		func(d time.Duration) bool {
			left := time.Until(deadline)
			if left <= d {
				time.Sleep(max(left, 0))
				return false
			}
			time.Sleep(d)
			return true
		})
}

// retryUnserved calls request until it returns anything but
// nats.ErrNoResponders, pausing with backoff in between; pause reports false
// when the time is up, which ends the attempts with ErrUnavailable.
func retryUnserved(request func() (*nats.Msg, error), pause func(time.Duration) bool) (*nats.Msg, error) {
	backoff := minBackoff
	for {
		reply, err := request()
		if !errors.Is(err, nats.ErrNoResponders) {
			return reply, err
		}
		if !pause(backoff) {
			return nil, ErrUnavailable
		}
		backoff = min(backoff*2, maxBackoff)
	}
}

// Subject returns the command subject of the shard that owns id in group
// (protocol.GroupThings or protocol.GroupPolicies).
func Subject(names streams.Names, shards int, group, id string) (string, error) {
	shard := streams.Shard(id, shards)
	switch group {
	case protocol.GroupThings:
		return names.ThingCommands(shard), nil
	case protocol.GroupPolicies:
		return names.PolicyCommands(shard), nil
	}
	return "", fmt.Errorf("command for group %q: no such service", group)
}

func (c *Client) message(req Request) (*nats.Msg, error) {
	subject, err := Subject(c.Names, c.Shards, req.Group, req.EntityID)
	if err != nil {
		return nil, err
	}
	data, err := req.Envelope.Encode()
	if err != nil {
		return nil, fmt.Errorf("encode command: %w", err)
	}
	msg := nats.NewMsg(subject)
	msg.Data = data
	msg.Header.Set(streams.HeaderEntity, req.EntityID)
	if req.Sudo {
		msg.Header.Set(streams.HeaderSudo, "true")
	}
	if len(req.Auth) > 0 {
		auth, err := json.Marshal(req.Auth)
		if err != nil {
			return nil, err
		}
		msg.Header.Set(streams.HeaderAuth, string(auth))
	}
	return msg, nil
}
