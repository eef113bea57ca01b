// Package telemetry serves the platform's Prometheus metrics: one registry
// per process, on PROMETHEUS_HOSTNAME:PROMETHEUS_PORT, where every service
// of the process registers its collectors with its own service label (the
// all-in-one ditto serves all its services on one port). It also turns
// request paths into the bounded path labels Ditto's metrics carry.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the metrics section of the configuration, with the variables
// of Ditto's ditto-metrics.conf.
type Config struct {
	Enabled       bool          `envconfig:"PROMETHEUS_ENABLED" default:"true" desc:"serve Prometheus metrics on PROMETHEUS_HOSTNAME:PROMETHEUS_PORT"`
	Hostname      string        `envconfig:"PROMETHEUS_HOSTNAME" default:"0.0.0.0" desc:"address the Prometheus metrics are served on"`
	Port          int           `envconfig:"PROMETHEUS_PORT" default:"9095" desc:"port the Prometheus metrics are served on (path /metrics); 0 takes a free one"`
	SystemMetrics bool          `envconfig:"SYSTEM_METRICS_ENABLED" default:"true" desc:"export the Go runtime's and the process's metrics (go_*, process_*)"`
	Prefix        string        `envconfig:"DITTO_METRICS_METRIC_PREFIX" desc:"prefix of every metric name the platform exports (not of go_* and process_*)"`
	LiveEntities  bool          `envconfig:"DITTO_METRICS_LIVE_ENTITIES_METRICS_ENABLED" default:"true" desc:"export live_entities, the entities in memory per type and namespace"`
	LiveRefresh   time.Duration `envconfig:"DITTO_METRICS_LIVE_ENTITIES_METRICS_REFRESH_INTERVAL" default:"30s" desc:"how long live_entities counts are reused before a scrape counts again"`
}

// Validate reports every problem of the metrics settings.
func (c Config) Validate() error {
	var errs []error
	if c.Port < 0 || c.Port > 65535 {
		errs = append(errs, fmt.Errorf("PROMETHEUS_PORT %d: must be 0..65535", c.Port))
	}
	if c.Prefix != "" && !validName(c.Prefix) {
		errs = append(errs, fmt.Errorf("DITTO_METRICS_METRIC_PREFIX %q: must be a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)", c.Prefix))
	}
	if c.LiveRefresh < 0 {
		errs = append(errs, fmt.Errorf("DITTO_METRICS_LIVE_ENTITIES_METRICS_REFRESH_INTERVAL %s: must not be negative", c.LiveRefresh))
	}
	return errors.Join(errs...)
}

func validName(s string) bool {
	for i, r := range s {
		if !(r == '_' || r == ':' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// Registry is a process's metrics. A nil *Registry is valid: its
// registerers discard what is registered, so code instruments itself the
// same way whether metrics are on or off.
type Registry struct {
	cfg  Config
	root *prometheus.Registry
	// reg is root with the configured name prefix.
	reg prometheus.Registerer
}

// NewRegistry returns the registry of a process, with the Go runtime and
// process collectors when cfg asks for them.
func NewRegistry(cfg Config) *Registry {
	root := prometheus.NewRegistry()
	if cfg.SystemMetrics {
		root.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	var reg prometheus.Registerer = root
	if cfg.Prefix != "" {
		reg = prometheus.WrapRegistererWithPrefix(cfg.Prefix, root)
	}
	return &Registry{cfg: cfg, root: root, reg: reg}
}

// Config returns the configuration r was built with.
func (r *Registry) Config() Config {
	if r == nil {
		return Config{}
	}
	return r.cfg
}

// Service returns the registerer of one service of the process: every
// metric registered on it carries the label service=name.
func (r *Registry) Service(name string) prometheus.Registerer {
	if r == nil {
		return discard{}
	}
	return prometheus.WrapRegistererWith(prometheus.Labels{"service": name}, r.reg)
}

// Root returns the registerer without a service label, for metrics whose
// labels the operator chooses (the search service's operator metrics).
func (r *Registry) Root() prometheus.Registerer {
	if r == nil {
		return discard{}
	}
	return r.reg
}

// Gatherer returns what a scrape reads.
func (r *Registry) Gatherer() prometheus.Gatherer { return r.root }

// Handler serves the registry in Prometheus's exposition formats.
func (r *Registry) Handler() http.Handler {
	return promhttp.HandlerFor(r.root, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}

// Server serves a registry on its own listener.
type Server struct {
	srv *http.Server
	ln  net.Listener
}

// Listen opens PROMETHEUS_HOSTNAME:PROMETHEUS_PORT for r, so that a port
// already taken is an error at start; Serve then answers scrapes of / and
// /metrics there.
func Listen(ctx context.Context, r *Registry) (*Server, error) {
	addr := net.JoinHostPort(r.cfg.Hostname, strconv.Itoa(r.cfg.Port))
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("PROMETHEUS_PORT: %w", err)
	}
	// Ditto's guide scrapes http://<host>:9095/; Prometheus's default
	// path is /metrics: both answer.
	h := r.Handler()
	mux := http.NewServeMux()
	mux.Handle("/metrics", h)
	mux.HandleFunc("/", func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/" {
			http.NotFound(w, req)
			return
		}
		h.ServeHTTP(w, req)
	})
	return &Server{ln: ln, srv: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}}, nil
}

// Addr is the address the server listens on.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Serve answers scrapes until Close; log receives a failure of the listener.
func (s *Server) Serve(log *slog.Logger) {
	if err := s.srv.Serve(s.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Warn("prometheus metrics server", "err", err)
	}
}

// Close stops the server.
func (s *Server) Close() error { return s.srv.Close() }

// discard is the registerer of a nil Registry.
type discard struct{}

func (discard) Register(prometheus.Collector) error  { return nil }
func (discard) MustRegister(...prometheus.Collector) {}
func (discard) Unregister(prometheus.Collector) bool { return true }

// Or returns reg, or a registerer that discards when reg is nil: what a
// component given an optional registerer registers on.
func Or(reg prometheus.Registerer) prometheus.Registerer {
	if reg == nil {
		return discard{}
	}
	return reg
}

// LatencyBuckets are the histogram buckets of request and operation
// latencies, in seconds: from half a millisecond to a minute.
var LatencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

// trimSlashes is strings.Trim(s, "/").
func trimSlashes(s string) string { return strings.Trim(s, "/") }
