package devops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/streams"
)

// Responder answers the DevOps commands of one service instance on NATS.
type Responder struct {
	subs []*nats.Subscription
}

// Options are what a service instance answers DevOps commands with
// besides its loggers.
type Options struct {
	// Checks are the parts of the instance's health besides its NATS
	// connection.
	Checks []Check
	// Handlers execute the piggyback commands addressed to the service's
	// components; a component without one is not answered.
	Handlers map[Component]Handler
}

// Serve subscribes to service's DevOps group subject and to instance's
// own subject on nc, answering with the loggers of reg and, for health,
// with nc's state and opts' checks; log is where changes are logged. It
// answers from the moment it returns; Run stops it. The subscriptions are
// plain ones, not a queue group: a group request reaches every instance. A
// message without a reply subject is ignored.
func Serve(nc *nats.Conn, names streams.Names, service, instance string, reg *Registry, log *slog.Logger, opts Options) (*Responder, error) {
	r := &Responder{}
	in := &instanceInfo{service: service, id: instance, reg: reg, log: log, handlers: opts.Handlers,
		health: func() StatusInfo { return InstanceHealth(nc, opts.Checks) }}
	handle := func(m *nats.Msg) {
		if m.Reply == "" {
			return
		}
		// The connection may be draining at shutdown; a lost answer
		// then times out at the asker, as any unanswered request does.
		if err := m.Respond(in.answer(m.Data)); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			log.Warn("devops answer", "subject", m.Subject, "err", err)
		}
	}
	for _, subj := range []string{names.DevOps(service), names.DevOpsInstance(service, instance)} {
		sub, err := nc.Subscribe(subj, handle)
		if err != nil {
			r.stop()
			return nil, fmt.Errorf("subscribe %s: %w", subj, err)
		}
		r.subs = append(r.subs, sub)
	}
	// Subscribed at the server before Serve returns, so a request sent
	// right after is answered.
	if err := nc.Flush(); err != nil {
		r.stop()
		return nil, fmt.Errorf("devops subscriptions of %s: %w", service, err)
	}
	return r, nil
}

// Run answers until ctx ends, then unsubscribes.
func (r *Responder) Run(ctx context.Context) error {
	<-ctx.Done()
	r.stop()
	return nil
}

func (r *Responder) stop() {
	for _, s := range r.subs {
		_ = s.Unsubscribe()
	}
}
