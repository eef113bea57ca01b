package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/services/gateway"
	"github.com/dittonats/dittonats/services/internal/embedded"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/mongostore"
	"github.com/dittonats/dittonats/services/internal/sqlitestore"
	"github.com/dittonats/dittonats/services/policies"
	"github.com/dittonats/dittonats/services/things"
	"github.com/dittonats/dittonats/streams"
)

// Service names a process can run.
const (
	Gateway  = streams.ServiceGateway
	Things   = streams.ServiceThings
	Policies = streams.ServicePolicies
)

// All lists every service, in start order.
var All = []string{Policies, Things, Gateway}

// Process is a running set of services. Create with Start; Wait returns
// when ctx ends and everything has shut down.
type Process struct {
	cfg      Config
	log      *slog.Logger
	instance string

	srv   *embedded.Server
	pprof *http.Server
	conns []*nats.Conn
	store journal.Store

	gw          *gateway.Gateway
	gwDone      chan error
	gwCancel    context.CancelFunc
	svcCancel   context.CancelFunc
	svcWG       sync.WaitGroup
	svcErrs     chan error
	natsURLUsed string
}

// Start starts the named services. With no NATS_URL it starts an embedded
// nats-server (only sensible for one process: the all-in-one ditto).
func Start(ctx context.Context, cfg Config, services []string, log *slog.Logger) (_ *Process, err error) {
	if err := cfg.Infra.Validate(); err != nil {
		return nil, err
	}
	// p is not the named result: a failing return sets that to nil before
	// the deferred teardown runs.
	p := &Process{cfg: cfg, log: log, instance: cfg.instanceID(), svcErrs: make(chan error, len(services))}
	defer func() {
		if err != nil {
			if p.svcCancel != nil {
				p.svcCancel()
				p.svcWG.Wait()
			}
			p.teardown()
		}
	}()
	log.Info("starting", "services", strings.Join(services, ","), "instance", p.instance)

	if cfg.PprofListen != "" {
		if err := p.servePprof(cfg.PprofListen); err != nil {
			return nil, err
		}
	}
	if err := p.startNATS(); err != nil {
		return nil, err
	}
	admin, err := p.connect("ditto-admin")
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(admin)
	if err != nil {
		return nil, err
	}
	names := streams.New(cfg.SubjectPrefix)
	scfg := streams.Config{Replicas: cfg.StreamReplicas, EventsMaxAge: cfg.EventsMaxAge, EventsMaxBytes: cfg.EventsMaxBytes,
		LeaseTTL: cfg.LeaseTTL, DuplicateWindow: cfg.EventsDupWindow}
	ensureCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	// Only the lease buckets of the services run here: the bucket's TTL is
	// this process's DITTO_SHARD_LEASE_TTL, and a gateway or another
	// service must not overwrite it with its own.
	var leased []string
	for _, s := range services {
		if s == Things || s == Policies {
			leased = append(leased, s)
		}
	}
	if err := streams.Ensure(ensureCtx, js, names, scfg, leased...); err != nil {
		return nil, err
	}

	needsStore := slices.Contains(services, Things) || slices.Contains(services, Policies)
	if needsStore {
		if err := p.openStore(ctx); err != nil {
			return nil, err
		}
	}

	svcCtx, svcCancel := context.WithCancel(context.WithoutCancel(ctx))
	p.svcCancel = svcCancel
	for _, name := range services {
		switch name {
		case Things, Policies:
			run, err := p.newEntityService(ctx, name, names)
			if err != nil {
				return nil, err
			}
			p.svcWG.Add(1)
			go func() {
				defer p.svcWG.Done()
				if err := run(svcCtx); err != nil {
					p.svcErrs <- fmt.Errorf("%s: %w", name, err)
				}
			}()
		case Gateway:
			nc, err := p.connect("ditto-gateway")
			if err != nil {
				return nil, err
			}
			gw, err := gateway.New(cfg.Gateway, gateway.Deps{NC: nc, Names: names, Shards: cfg.Shards, Log: log.With("service", Gateway)})
			if err != nil {
				return nil, err
			}
			p.gw = gw
		default:
			return nil, fmt.Errorf("unknown service %q (want one of %s)", name, strings.Join(All, ", "))
		}
	}
	if p.gw != nil {
		p.gwDone = make(chan error, 1)
		gwCtx, gwCancel := context.WithCancel(context.WithoutCancel(ctx))
		p.gwCancel = gwCancel
		go func() { p.gwDone <- p.gw.Run(gwCtx) }()
	}
	return p, nil
}

// servePprof serves Go's profiling endpoints for operators.
func (p *Process) servePprof(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("DITTO_PPROF_LISTEN: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	p.pprof = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := p.pprof.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			p.log.Warn("pprof server", "err", err)
		}
	}()
	p.log.Info("serving pprof", "addr", ln.Addr().String())
	return nil
}

func (p *Process) startNATS() error {
	if p.cfg.NATSURL != "" {
		p.natsURLUsed = p.cfg.NATSURL
		return nil
	}
	listen := p.cfg.NATSListen
	if strings.EqualFold(listen, "off") {
		listen = ""
	}
	srv, err := embedded.Start(embedded.Config{DataDir: p.cfg.DataDir, Listen: listen, MaxPayload: 8 << 20}, p.log)
	if err != nil {
		return err
	}
	p.srv = srv
	if url := srv.ClientURL(); url != "" {
		p.log.Info("embedded nats-server listening", "url", url)
	}
	return nil
}

// connect opens a NATS connection: in-process to the embedded server, or
// to NATS_URL, reconnecting forever.
func (p *Process) connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	var nc *nats.Conn
	var err error
	if p.srv != nil {
		nc, err = p.srv.Connect(name, opts...)
	} else {
		nc, err = nats.Connect(p.natsURLUsed, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to nats: %w", err)
	}
	p.conns = append(p.conns, nc)
	return nc, nil
}

func (p *Process) openStore(ctx context.Context) error {
	if p.cfg.MongoURI != "" {
		var wc = mongostore.Options{Database: p.cfg.MongoDatabase, MaxPoolSize: p.cfg.MongoPoolSize, Timeout: p.cfg.MongoQueryLimit}
		if p.cfg.MongoWriteConc != "" {
			c, err := mongostore.ParseWriteConcern(p.cfg.MongoWriteConc)
			if err != nil {
				return fmt.Errorf("MONGO_DB_WRITE_CONCERN: %w", err)
			}
			wc.WriteConcern = c
		}
		s, err := mongostore.Open(ctx, p.cfg.MongoURI, wc)
		if err != nil {
			return fmt.Errorf("open mongodb: %w", err)
		}
		p.store = s
		p.log.Info("journal store: mongodb", "database", s.Database())
		return nil
	}
	if err := os.MkdirAll(p.cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(p.cfg.DataDir, "ditto.db")
	s, err := sqlitestore.Open(path, sqlitestore.Options{Synchronous: sqlitestore.Synchronous(strings.ToUpper(p.cfg.SQLiteSync))})
	if err != nil {
		return fmt.Errorf("open embedded store: %w", err)
	}
	p.store = s
	p.log.Info("journal store: embedded", "path", path)
	return nil
}

// newEntityService builds the things or policies service.
func (p *Process) newEntityService(ctx context.Context, name string, names streams.Names) (func(context.Context) error, error) {
	nc, err := p.connect("ditto-" + name)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, err
	}
	leases, err := js.KeyValue(ctx, names.ShardLeaseBucket(name))
	if err != nil {
		return nil, fmt.Errorf("lease bucket of %s: %w", name, err)
	}
	published, err := js.KeyValue(ctx, names.PublishedBucket(name))
	if err != nil {
		return nil, fmt.Errorf("publication bucket of %s: %w", name, err)
	}
	log := p.log.With("service", name, "instance", p.instance)
	switch name {
	case Things:
		j, err := p.store.Journal(journal.Things)
		if err != nil {
			return nil, err
		}
		s, err := things.New(p.cfg.Things, things.Deps{NC: nc, JS: js, Journal: j, Leases: leases, Published: published, Names: names,
			Shards: p.cfg.Shards, Instance: p.instance, LeaseTTL: p.cfg.LeaseTTL, EventsMaxAge: p.cfg.EventsMaxAge, Log: log})
		if err != nil {
			return nil, err
		}
		return s.Run, nil
	default:
		j, err := p.store.Journal(journal.Policies)
		if err != nil {
			return nil, err
		}
		s, err := policies.New(p.cfg.Policies, policies.Deps{NC: nc, JS: js, Journal: j, Leases: leases, Published: published, Names: names,
			Shards: p.cfg.Shards, Instance: p.instance, LeaseTTL: p.cfg.LeaseTTL, EventsMaxAge: p.cfg.EventsMaxAge, Log: log})
		if err != nil {
			return nil, err
		}
		return s.Run, nil
	}
}

// Wait blocks until ctx ends (or a service fails), then shuts everything
// down in order and returns the first error.
func (p *Process) Wait(ctx context.Context) error {
	var first error
	gwStopped := false
	select {
	case <-ctx.Done():
	case first = <-p.svcErrs:
		p.log.Error("service failed", "err", first)
	case err := <-p.gwDone: // nil channel without a gateway
		gwStopped = true
		if err != nil {
			first = fmt.Errorf("gateway: %w", err)
		}
	}
	p.log.Info("shutting down")
	if p.gw != nil && !gwStopped {
		// The gateway first: requests in flight still reach the services.
		p.gwCancel()
		if err := <-p.gwDone; err != nil && first == nil {
			first = fmt.Errorf("gateway: %w", err)
		}
	}
	p.svcCancel()
	p.svcWG.Wait()
	close(p.svcErrs)
	for err := range p.svcErrs {
		if first == nil {
			first = err
		}
	}
	p.teardown()
	p.log.Info("stopped")
	return first
}

// teardown closes the store, drains the connections and stops an embedded
// server.
func (p *Process) teardown() {
	if p.store != nil {
		if err := p.store.Close(); err != nil {
			p.log.Error("close store", "err", err)
		}
	}
	for _, nc := range p.conns {
		if err := nc.Drain(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			nc.Close()
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, nc := range p.conns {
		for !nc.IsClosed() && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		nc.Close()
	}
	if p.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		p.srv.Shutdown(ctx)
	}
	if p.pprof != nil {
		p.pprof.Close()
	}
}
