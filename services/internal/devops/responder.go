package devops

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"

	"github.com/dittonats/dittonats/streams"
)

// Responder answers the DevOps commands of one service instance on NATS.
type Responder struct {
	svc micro.Service
	// running counts piggyback commands still executing; Run waits for
	// them before it returns.
	running sync.WaitGroup
	ctx     context.Context
	cancel  context.CancelFunc
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
	// Replicated says that every instance holds a full copy of what the
	// service's commands act on (the search service: each instance its
	// own index), so a command for one instance of the service must reach
	// each: the any subject is then served without a queue group, and
	// service discovery says so (metadata replicated=true) for the
	// gateway to await every instance's answer.
	Replicated bool
}

// Endpoint names under which a responder registers its subjects with
// NATS service discovery (nats micro info).
const (
	EndpointGroup    = "devops"
	EndpointInstance = "devops-instance"
	EndpointAny      = "devops-any"
)

// Serve registers the instance with NATS service discovery (nats.go
// micro: nats micro list, info, stats and ping show it) and answers the
// DevOps commands sent to service's group subject (every instance: a plain
// subscription, no queue group), to instance's own subject, and to the
// service's any subject (one instance of the service: a queue group, what
// Ditto's is-group-topic means). It answers with the loggers of reg and,
// for health, with nc's state and opts' checks; log is where changes are
// logged. It answers from the moment it returns; Run stops it. A message
// without a reply subject is ignored, unless it is a piggyback command:
// that runs, unanswered.
func Serve(nc *nats.Conn, names streams.Names, service, instance string, reg *Registry, log *slog.Logger, opts Options) (*Responder, error) {
	r := &Responder{}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	in := &instanceInfo{service: service, id: instance, reg: reg, log: log, handlers: opts.Handlers,
		health: func() StatusInfo { return InstanceHealth(nc, opts.Checks) }}
	handle := func(req micro.Request) {
		out, p := in.answer(req.Data())
		if p == nil {
			if req.Reply() != "" {
				r.respond(req, out, log)
			}
			return
		}
		// A piggyback command may run long (a purge); it must not hold up
		// the DevOps commands behind it.
		r.running.Add(1)
		go func() {
			defer r.running.Done()
			// A piggyback command without a reply subject runs all the
			// same: its sender does not wait (timeout=0).
			if out := in.piggyback(r.ctx, *p); out != nil && req.Reply() != "" {
				r.respond(req, out, log)
			}
		}()
	}
	svc, err := micro.AddService(nc, micro.Config{
		Name:        names.MicroName(service),
		Version:     microVersion(),
		Description: "Ditto " + service + " service: DevOps commands",
		Metadata:    map[string]string{"service": service, "instance": instance, "replicated": strconv.FormatBool(opts.Replicated)},
		// Endpoints below choose their own queue groups.
		QueueGroupDisabled: true,
	})
	if err != nil {
		r.cancel()
		return nil, fmt.Errorf("register %s with NATS service discovery: %w", service, err)
	}
	r.svc = svc
	anyOpts := []micro.EndpointOpt{micro.WithEndpointQueueGroup(names.DevOpsAny(service))}
	if opts.Replicated {
		anyOpts = nil
	}
	for _, e := range []struct {
		name, subject string
		opts          []micro.EndpointOpt
	}{
		{EndpointGroup, names.DevOps(service), nil},
		{EndpointInstance, names.DevOpsInstance(service, instance), nil},
		{EndpointAny, names.DevOpsAny(service), anyOpts},
	} {
		opts := append([]micro.EndpointOpt{micro.WithEndpointSubject(e.subject)}, e.opts...)
		if err := svc.AddEndpoint(e.name, micro.HandlerFunc(handle), opts...); err != nil {
			r.stop()
			return nil, fmt.Errorf("devops endpoint %s: %w", e.subject, err)
		}
	}
	// Subscribed at the server before Serve returns, so a request sent
	// right after is answered.
	if err := nc.Flush(); err != nil {
		r.stop()
		return nil, fmt.Errorf("devops subscriptions of %s: %w", service, err)
	}
	return r, nil
}

func (r *Responder) respond(req micro.Request, out []byte, log *slog.Logger) {
	// The connection may be draining at shutdown; a lost answer then
	// times out at the asker, as any unanswered request does.
	if err := req.Respond(out); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
		log.Warn("devops answer", "subject", req.Subject(), "err", err)
	}
}

// Run answers until ctx ends, then unregisters and waits for the
// piggyback commands still running (their contexts end with it).
func (r *Responder) Run(ctx context.Context) error {
	<-ctx.Done()
	r.stop()
	return nil
}

func (r *Responder) stop() {
	if r.svc != nil {
		_ = r.svc.Stop()
	}
	r.cancel()
	r.running.Wait()
}

// microVersion is the module version when the binary was built from one,
// else 0.0.0-devel: micro wants semantic versions.
func microVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok && strings.HasPrefix(bi.Main.Version, "v") && bi.Main.Version != "v0.0.0" {
		return strings.TrimPrefix(bi.Main.Version, "v")
	}
	return "0.0.0-devel"
}
