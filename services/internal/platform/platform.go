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
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
	"github.com/dittonats/dittonats/services/internal/embedded"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/mongostore"
	"github.com/dittonats/dittonats/services/internal/sqlitestore"
	"github.com/dittonats/dittonats/services/internal/telemetry"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/streams"
)

// Process is a running set of services. Create with Start; Wait returns
// when ctx ends and everything has shut down.
type Process struct {
	cfg Config
	// log is the process's own lines, at LOG_LEVEL; base is the handler
	// the services' loggers filter into at their registries' levels.
	log      *slog.Logger
	base     slog.Handler
	instance string
	names    streams.Names

	srv   *embedded.Server
	seeds map[streams.Role][]byte // the embedded server's credentials
	pprof *http.Server
	// metrics is the process's registry, nil when PROMETHEUS_ENABLED is
	// false; metricsSrv serves it.
	metrics    *telemetry.Registry
	metricsSrv *telemetry.Server
	// tracers are the started services' tracers, flushed at shutdown.
	tracers []*tracing.Tracer
	conns   []*nats.Conn
	store   journal.Store

	// runners are the started services by name; front ones (the gateway)
	// run on frontCtx and stop first, the others on backCtx.
	runners map[string]runner
	// loggers are each started service's named loggers, which its DevOps
	// responder reads and changes.
	loggers     map[string]*devops.Registry
	front, back sync.WaitGroup
	stopFront   context.CancelFunc
	stopBack    context.CancelFunc
	errs        chan error
}

// Start starts the named services. With no NATS_URL it starts an embedded
// nats-server (only sensible for one process: the all-in-one ditto).
func Start(ctx context.Context, cfg Config, names []string, log *slog.Logger) (_ *Process, err error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	var svcs []service
	for _, name := range names {
		s, ok := lookup(name)
		if !ok {
			return nil, fmt.Errorf("unknown service %q (want one of %s)", name, strings.Join(All, ", "))
		}
		svcs = append(svcs, s)
	}
	// p is not the named result: a failing return sets that to nil before
	// the deferred teardown runs.
	root, _, _ := cfg.logLevels() // validated
	p := &Process{cfg: cfg, log: slog.New(devops.Filter(log.Handler(), root)), base: log.Handler(),
		instance: cfg.instanceID(), names: streams.New(cfg.SubjectPrefix),
		runners: map[string]runner{}, loggers: map[string]*devops.Registry{}, errs: make(chan error, len(svcs))}
	log = p.log
	frontCtx, stopFront := context.WithCancel(context.WithoutCancel(ctx))
	backCtx, stopBack := context.WithCancel(context.WithoutCancel(ctx))
	p.stopFront, p.stopBack = stopFront, stopBack
	defer func() {
		if err != nil {
			p.stopRunners()
			p.teardown()
		}
	}()
	log.Info("starting", "services", strings.Join(names, ","), "instance", p.instance)

	if cfg.PprofListen != "" {
		if err := p.servePprof(cfg.PprofListen); err != nil {
			return nil, err
		}
	}
	if cfg.Metrics.Enabled {
		if err := p.serveMetrics(ctx); err != nil {
			return nil, err
		}
	}
	if err := p.startNATS(); err != nil {
		return nil, err
	}
	for _, s := range svcs {
		if s.journal != "" {
			if err := p.openStore(ctx); err != nil {
				return nil, err
			}
			break
		}
	}
	for _, s := range svcs {
		e, err := p.env(ctx, s)
		if err != nil {
			return nil, err
		}
		r, err := s.start(e)
		if err != nil {
			return nil, err
		}
		p.runners[s.name] = r
		opts := devops.Options{Replicated: s.replicated}
		if s.checks != nil {
			opts.Checks = s.checks(r)
		}
		if s.piggyback != nil {
			opts.Handlers = s.piggyback(r, e)
		}
		if opts.Handlers == nil {
			opts.Handlers = map[devops.Component]devops.Handler{}
		}
		// Load built the tree once and nothing changes it: safe to read
		// from every handler.
		tree := p.cfg.ConfigTree()
		opts.Handlers[devops.ComponentDevOps] = devops.ConfigHandler(streams.DevOpsName(s.name), p.instance,
			func() *dittoconf.Tree { return tree })
		d, err := devops.Serve(e.nc, p.names, streams.DevOpsName(s.name), p.instance, p.loggers[s.name], e.log, opts)
		if err != nil {
			return nil, err
		}
		wg, runCtx := &p.back, backCtx
		if s.front {
			wg, runCtx = &p.front, frontCtx
		}
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := r.Run(runCtx); err != nil {
				p.errs <- fmt.Errorf("%s: %w", s.name, err)
			}
		}()
		go func() {
			defer wg.Done()
			_ = d.Run(runCtx) // returns nil when runCtx ends
		}()
	}
	return p, nil
}

// env gives s its named loggers, connects it to NATS as its role and, for
// a service with a journal, ensures its streams and buckets with that
// connection (each service has the permissions for its own only) and opens
// its journal.
func (p *Process) env(ctx context.Context, s service) (env, error) {
	root, app, _ := p.cfg.logLevels() // validated
	reg := devops.NewRegistry(root, app)
	p.loggers[s.name] = reg
	e := env{cfg: p.cfg, names: p.names, instance: p.instance,
		log:     reg.Logger(devops.Ditto, p.base).With("service", s.name, "instance", p.instance),
		metrics: p.serviceMetrics(s.name)}
	if p.metrics != nil {
		e.operatorMetrics = p.metrics.Root()
	}
	tr, err := tracing.New(p.cfg.Tracing, streams.DevOpsName(s.name), p.instance, e.log)
	if err != nil {
		return env{}, fmt.Errorf("%s: %w", s.name, err)
	}
	p.tracers = append(p.tracers, tr)
	e.tracer = tr
	nc, err := p.connect(s.role, reg.Logger(devops.NATSClient, p.base).With("service", s.name, "instance", p.instance))
	if err != nil {
		return env{}, err
	}
	e.nc = nc
	if e.js, err = jetstream.New(nc, jetstream.WithPublishAsyncTimeout(30*time.Second)); err != nil {
		return env{}, err
	}
	if s.journal == "" {
		return e, nil
	}
	ensureCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	scfg := streams.Config{Replicas: p.cfg.StreamReplicas, EventsMaxAge: p.cfg.EventsMaxAge, EventsMaxBytes: p.cfg.EventsMaxBytes,
		LeaseTTL: p.cfg.LeaseTTL, DuplicateWindow: p.cfg.EventsDupWindow}
	if err := streams.Ensure(ensureCtx, e.js, p.names, scfg, s.name); err != nil {
		return env{}, fmt.Errorf("%s: %w", s.name, err)
	}
	if e.leases, err = e.js.KeyValue(ensureCtx, p.names.ShardLeaseBucket(s.name)); err != nil {
		return env{}, fmt.Errorf("lease bucket of %s: %w", s.name, err)
	}
	if e.publish, err = e.js.KeyValue(ensureCtx, p.names.PublishedBucket(s.name)); err != nil {
		return env{}, fmt.Errorf("publication bucket of %s: %w", s.name, err)
	}
	j, err := p.store.Journal(s.journal)
	if err != nil {
		return env{}, err
	}
	watched := journal.WatchWrites(journal.Instrument(j, s.journal, e.metrics))
	e.journal, e.slowestWrite = watched, watched.TakeSlowest
	return e, nil
}

// serveMetrics opens the Prometheus port and serves the process's
// registry there.
func (p *Process) serveMetrics(ctx context.Context) error {
	p.metrics = telemetry.NewRegistry(p.cfg.Metrics)
	srv, err := telemetry.Listen(ctx, p.metrics)
	if err != nil {
		return err
	}
	p.metricsSrv = srv
	go srv.Serve(p.log) // returns when teardown closes it
	p.log.Info("serving prometheus metrics", "addr", srv.Addr(), "path", "/metrics")
	return nil
}

// serviceMetrics is the registerer of a service's metrics, labelled with
// its name as DevOps names it; nil when metrics are off.
func (p *Process) serviceMetrics(name string) prometheus.Registerer {
	if p.metrics == nil {
		return nil
	}
	return p.metrics.Service(streams.DevOpsName(name))
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
		return nil
	}
	listen := p.cfg.NATSListen
	if strings.EqualFold(listen, "off") {
		listen = ""
	}
	dir := p.cfg.credentialsDir()
	seeds, err := embedded.Credentials(dir)
	if err != nil {
		return err
	}
	srv, err := embedded.Start(embedded.Config{DataDir: p.cfg.DataDir, Listen: listen, MaxPayload: 8 << 20,
		Names: p.names, Seeds: seeds}, p.log)
	if err != nil {
		return err
	}
	p.srv, p.seeds = srv, seeds
	if url := srv.ClientURL(); url != "" {
		// The path, never the secret, goes to the log.
		p.log.Info("embedded nats-server listening; the nats CLI connects as operator with",
			"command", fmt.Sprintf("nats --server %s --nkey %s", url, embedded.SeedFile(dir, streams.RoleOperator)))
	}
	return nil
}

// connect opens a NATS connection as role: in-process to the embedded
// server with the role's generated nkey, or to NATS_URL with the
// credential of NATS_USER/NATS_PASSWORD, NATS_CREDS or NATS_NKEY;
// reconnecting forever. Replies come to the role's own inbox prefix, which
// no other role may read. The client's asynchronous errors go to log.
func (p *Process) connect(role streams.Role, log *slog.Logger) (*nats.Conn, error) {
	log = log.With("nats_role", string(role))
	opts := []nats.Option{
		nats.Name("ditto-" + string(role) + "-" + p.instance),
		nats.CustomInboxPrefix(streams.InboxPrefix(role)),
		nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) {
			subject := ""
			if sub != nil {
				subject = sub.Subject
			}
			log.Warn("nats", "subject", subject, "err", err)
		}),
	}
	var nc *nats.Conn
	var err error
	if p.srv != nil {
		pub, sign, kerr := embedded.NkeyOption(p.seeds[role])
		if kerr != nil {
			return nil, kerr
		}
		nc, err = p.srv.Connect(append(opts, nats.Nkey(pub, sign))...)
	} else {
		cred, cerr := p.cfg.natsCredential()
		if cerr != nil {
			return nil, cerr
		}
		if cred != nil {
			opts = append(opts, cred)
		}
		nc, err = nats.Connect(p.cfg.NATSURL, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("connect to nats as %s: %w", role, err)
	}
	p.conns = append(p.conns, nc)
	return nc, nil
}

func (p *Process) openStore(ctx context.Context) error {
	if p.cfg.MongoURI != "" {
		wc, err := p.cfg.mongoOptions()
		if err != nil {
			return err
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

// Wait blocks until ctx ends (or a service fails), then shuts down in
// order and returns the first error: front services first (requests in
// flight still reach the others), then the rest, then the store, NATS and
// an embedded server.
func (p *Process) Wait(ctx context.Context) error {
	var first error
	select {
	case <-ctx.Done():
	case first = <-p.errs:
		p.log.Error("service failed", "err", first)
	}
	p.log.Info("shutting down")
	p.stopRunners()
	close(p.errs)
	for err := range p.errs {
		if first == nil {
			first = err
		}
	}
	p.teardown()
	p.log.Info("stopped")
	return first
}

func (p *Process) stopRunners() {
	p.stopFront()
	p.front.Wait()
	p.stopBack()
	p.back.Wait()
}

// teardown closes the store, drains the connections and stops an embedded
// server.
func (p *Process) teardown() {
	for _, tr := range p.tracers {
		// The services have stopped: their last spans go out now.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := tr.Shutdown(ctx); err != nil {
			p.log.Warn("tracing: spans not exported at shutdown", "err", err)
		}
		cancel()
	}
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
	if p.metricsSrv != nil {
		p.metricsSrv.Close()
	}
}
