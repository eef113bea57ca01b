package platform

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/gateway"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/creation"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/policyresolve"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/services/policies"
	"github.com/dittonats/dittonats/services/search"
	"github.com/dittonats/dittonats/services/things"
	"github.com/dittonats/dittonats/streams"
)

// Service names a process can run.
const (
	Gateway  = streams.ServiceGateway
	Things   = streams.ServiceThings
	Policies = streams.ServicePolicies
	Search   = streams.ServiceSearch
)

// service describes one of the platform's services to the process that
// runs it. A new service is one more entry in services.
type service struct {
	name string
	// role is the NATS role its connection authenticates as.
	role streams.Role
	// journal names its journal in the store; empty for none. A service
	// with a journal owns shards: its streams and buckets are ensured and
	// handed to it.
	journal string
	// front services take requests from outside the platform: they stop
	// first, while the others still answer what they sent.
	front bool
	// start builds the service; the process then runs it until shutdown.
	start func(env env) (runner, error)
	// checks are the parts of the started service's health its DevOps
	// responder reports besides its NATS connection; nil for none.
	checks func(r runner) []devops.Check
	// piggyback gives the handlers of the piggyback commands addressed to
	// the started service's components; nil for none.
	piggyback func(r runner, e env) map[devops.Component]devops.Handler
	// replicated: every instance holds a full copy of what the service
	// acts on (devops.Options.Replicated).
	replicated bool
}

// runner is a started service.
type runner interface {
	Run(ctx context.Context) error
}

// env is what a service is started with.
type env struct {
	cfg   Config
	nc    *nats.Conn
	js    jetstream.JetStream
	names streams.Names
	// journal, leases and publish (the shard lease and publication
	// watermark buckets) are set for services with a journal.
	journal journal.Journal
	// slowestWrite is the journal's slowest write since it was last
	// called, which throttles background cleanup.
	slowestWrite func() time.Duration
	leases       jetstream.KeyValue
	publish      jetstream.KeyValue
	instance     string
	log          *slog.Logger
	// metrics receives the service's metrics; nil when metrics are off.
	metrics prometheus.Registerer
	// operatorMetrics receives the gauges whose labels the operator
	// configures (no service label); nil when metrics are off.
	operatorMetrics prometheus.Registerer
	// tracer traces the service's work; disabled unless DITTO_TRACING_ENABLED.
	tracer *tracing.Tracer
}

// entityDeps are an entity service's dependencies from env.
func (e env) entityDeps() entity.Deps {
	return entity.Deps{NC: e.nc, JS: e.js, Journal: e.journal, Leases: e.leases, Published: e.publish, Names: e.names,
		Shards: e.cfg.Shards, Instance: e.instance, LeaseTTL: e.cfg.LeaseTTL, EventsMaxAge: e.cfg.EventsMaxAge, Log: e.log,
		Metrics: e.metrics, LiveEntities: e.cfg.Metrics.LiveEntities, LiveEntitiesRefresh: e.cfg.Metrics.LiveRefresh, Tracer: e.tracer}
}

// services lists every service in start order: the entity services before
// the gateway that sends them commands.
var services = []service{
	{name: Policies, role: streams.RolePolicies, journal: journal.Policies,
		start: func(e env) (runner, error) {
			cfg := e.cfg.Policies
			var err error
			if cfg.Creation, err = creation.FromTree(e.cfg.ConfigTree()); err != nil {
				return nil, err
			}
			if cfg.NamespaceRoots, err = policyresolve.RootsFromTree(e.cfg.ConfigTree()); err != nil {
				return nil, err
			}
			svc, err := policies.New(cfg, e.entityDeps())
			if err != nil {
				return nil, err
			}
			return withCleanup(svc, svc.Host(), "policy", e)
		},
		piggyback: func(r runner, e env) map[devops.Component]devops.Handler {
			return cleanupHandlers(r, devops.ComponentPolicies, map[devops.Component]devops.Handler{
				devops.ComponentPolicies: command.PiggybackHandler(command.New(e.nc, e.names, e.cfg.Shards), protocol.GroupPolicies, e.log),
				devops.ComponentPubSub:   serviceOf(r).(*policies.Service).NamespaceHandler(),
			})
		}},
	{name: Things, role: streams.RoleThings, journal: journal.Things,
		start: func(e env) (runner, error) {
			cfg := e.cfg.Things
			var err error
			if cfg.Creation, err = creation.FromTree(e.cfg.ConfigTree()); err != nil {
				return nil, err
			}
			if cfg.NamespaceRoots, err = policyresolve.RootsFromTree(e.cfg.ConfigTree()); err != nil {
				return nil, err
			}
			svc, err := things.New(cfg, e.entityDeps())
			if err != nil {
				return nil, err
			}
			return withCleanup(svc, svc.Host(), "thing", e)
		},
		piggyback: func(r runner, e env) map[devops.Component]devops.Handler {
			return cleanupHandlers(r, devops.ComponentThings, map[devops.Component]devops.Handler{
				devops.ComponentThings: command.PiggybackHandler(command.New(e.nc, e.names, e.cfg.Shards), protocol.GroupThings, e.log),
				devops.ComponentPubSub: serviceOf(r).(*things.Service).NamespaceHandler(),
			})
		}},
	{name: Search, role: streams.RoleSearch,
		start: func(e env) (runner, error) {
			cfg := e.cfg.Search
			var err error
			if cfg.NamespaceRoots, err = policyresolve.RootsFromTree(e.cfg.ConfigTree()); err != nil {
				return nil, err
			}
			cfg.DataDir = e.cfg.DataDir
			if cfg.OperatorMetrics, err = search.OperatorMetricsFromTree(e.cfg.ConfigTree()); err != nil {
				return nil, err
			}
			return search.New(cfg, search.Deps{NC: e.nc, JS: e.js, Names: e.names, Shards: e.cfg.Shards,
				Instance: e.instance, EventsMaxAge: e.cfg.EventsMaxAge, Log: e.log,
				Metrics: e.metrics, OperatorMetrics: e.operatorMetrics, Tracer: e.tracer})
		},
		checks: func(r runner) []devops.Check { return []devops.Check{searchIndexHealth(r.(*search.Service))} },
		// Each instance holds its own full index: a command for one
		// instance must reach each.
		replicated: true,
		piggyback: func(r runner, _ env) map[devops.Component]devops.Handler {
			s := r.(*search.Service)
			return map[devops.Component]devops.Handler{
				devops.ComponentBackgroundSync: s.BackgroundSyncHandler(),
				devops.ComponentThingsUpdater:  s.ThingsUpdaterHandler(),
				devops.ComponentPubSub:         s.NamespaceHandler(),
			}
		}},
	{name: Gateway, role: streams.RoleGateway, front: true,
		start: func(e env) (runner, error) {
			return gateway.New(e.cfg.Gateway, gateway.Deps{NC: e.nc, Names: e.names, Shards: e.cfg.Shards, Log: e.log, Instance: e.instance,
				Metrics: e.metrics, Tracer: e.tracer})
		}},
}

// searchIndexHealth is the health of a search instance's index, labelled
// "search-index": DOWN until it has been filled, since until then the
// instance answers no query.
func searchIndexHealth(s *search.Service) devops.Check {
	return func() devops.StatusInfo {
		if !s.Ready() {
			return devops.FromDetail("search-index", devops.LevelError, "no query is answered yet: the index is starting or being filled from the things service")
		}
		return devops.StatusInfo{Label: "search-index", Status: devops.StatusUp}
	}
}

// All lists every service, in start order.
var All = func() []string {
	out := make([]string, len(services))
	for i, s := range services {
		out[i] = s.name
	}
	return out
}()

func lookup(name string) (service, bool) {
	for _, s := range services {
		if s.name == name {
			return s, true
		}
	}
	return service{}, false
}
