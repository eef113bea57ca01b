package gateway

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
)

// request sends a command to the owning service and returns its reply
// envelope (which may be an error envelope: see protocol.Envelope.AsError),
// or the Ditto error the client gets instead:
//
//   - command.timeout (408) when no reply came within the timeout;
//   - gateway:service.unavailable (503) when no instance served the shard
//     until the timeout, or NATS is disconnected;
//   - another error for a reply that is no envelope.
func (g *Gateway) request(ctx context.Context, req command.Request) (protocol.Envelope, error) {
	if req.Timeout <= 0 {
		req.Timeout = protocol.MaxCommandTimeout
	}
	reply, err := g.cmds.Request(ctx, req)
	if err == nil {
		return reply, nil
	}
	return protocol.Envelope{}, dittoError(err, req.Timeout)
}

// publish sends a command without waiting for any answer
// (response-required=false).
func (g *Gateway) publish(req command.Request) error {
	if err := g.cmds.Publish(req); err != nil {
		return dittoError(err, req.Timeout)
	}
	return nil
}

// dittoError maps an error of the command client to what the HTTP client
// is told.
func dittoError(err error, timeout time.Duration) error {
	switch {
	case errors.Is(err, command.ErrUnavailable):
		// Nobody served the shard (its owner was moving) until the
		// command's deadline.
		return protocol.ErrGatewayServiceUnavailable()
	case errors.Is(err, command.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return protocol.ErrCommandTimeout(timeout)
	case errors.Is(err, context.Canceled):
		return err
	case errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionDraining), errors.Is(err, nats.ErrConnectionReconnecting):
		return protocol.ErrGatewayServiceUnavailable()
	case protocol.AsError(err) != nil:
		return err
	default:
		return fmt.Errorf("request command: %w", err)
	}
}
