package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/limits"
	"github.com/dittonats/dittonats/services/internal/telemetry"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/streams"
)

// Config is the gateway's configuration, read from the environment with
// Ditto's variable names where Ditto has one.
type Config struct {
	BindHostname string `envconfig:"BIND_HOSTNAME" desc:"address the HTTP API binds to; empty binds all interfaces"`
	HTTPPort     int    `envconfig:"HTTP_PORT" default:"8080" desc:"port of the HTTP API"`

	RequestTimeout time.Duration `envconfig:"REQUEST_TIMEOUT" default:"60s" desc:"timeout of a command without timeout header (at most 1m)"`
	// The HTTP server's own timeouts. The write timeout must outlast the
	// longest command timeout (one minute), or replies would be cut off.
	ReadHeaderTimeout time.Duration `envconfig:"GATEWAY_HTTP_READ_HEADER_TIMEOUT" default:"10s" desc:"time allowed to read a request's headers"`
	ReadTimeout       time.Duration `envconfig:"GATEWAY_HTTP_READ_TIMEOUT" default:"70s" desc:"time allowed to read a whole request"`
	WriteTimeout      time.Duration `envconfig:"GATEWAY_HTTP_WRITE_TIMEOUT" default:"75s" desc:"time allowed from the end of the request headers to the end of the response"`
	IdleTimeout       time.Duration `envconfig:"IDLE_TIMEOUT" default:"610s" desc:"time an idle keep-alive connection stays open"`
	ShutdownTimeout   time.Duration `envconfig:"COORDINATED_SHUTDOWN_REQUEST_TIMEOUT" default:"65s" desc:"time requests in flight get to finish at shutdown"`

	EnableCORS                   bool   `envconfig:"ENABLE_CORS" default:"true" desc:"answer CORS preflights and add CORS headers, as Ditto's stock nginx does"`
	AdditionalAcceptedMediaTypes string `envconfig:"ADDITIONAL_ACCEPTED_MEDIA_TYPES" default:"application/octet-stream" desc:"comma-separated media types PUT and POST accept besides application/json"`

	PreAuthentication bool   `envconfig:"ENABLE_PRE_AUTHENTICATION" default:"false" desc:"trust the x-ditto-pre-authenticated header (only behind a proxy that sets it)"`
	UsersFile         string `envconfig:"GATEWAY_USERS_FILE" desc:"htpasswd-style file of bcrypt users; empty means ditto:ditto and ditto2:ditto2"`
	// OpenID Connect (ditto.gateway.authentication.oauth, see jwt.go).
	// The issuers are a structured setting: Ditto's HOCON map, or its
	// JSON form in the variable.
	OAuthIssuers                 string        `envconfig:"OAUTH_OPENID_CONNECT_ISSUERS" default:"{\"google\":{\"issuer\":\"accounts.google.com\"}}" desc:"Ditto's openid-connect-issuers as JSON: {\"<subject issuer>\":{\"issuer\":\"<iss without protocol>\",\"auth-subjects\":[\"{{ jwt:sub }}\"]}}; a bearer token of such an issuer authenticates <subject issuer>:<auth-subject>"`
	OAuthProtocol                string        `envconfig:"OAUTH_PROTOCOL" default:"https" desc:"protocol of the OpenID Connect issuers' discovery endpoints"`
	OAuthAllowedClockSkew        time.Duration `envconfig:"OAUTH_ALLOWED_CLOCK_SKEW" default:"10s" desc:"clock skew tolerated when checking a JWT's exp and nbf"`
	OAuthTokenIntegrationSubject string        `envconfig:"OAUTH_TOKEN_INTEGRATION_SUBJECT" default:"integration:{{policy-entry:label}}:{{jwt:aud}}" desc:"subject id the policy action activateTokenIntegration adds, resolved with the caller's JWT"`
	// DevOpsSecured and DevOpsPassword guard /devops (and
	// /api/2/connections, not served yet); DevOpsPassword also opens
	// /status.
	DevOpsSecured  bool   `envconfig:"DEVOPS_SECURED" default:"true" desc:"require the devops user for /devops"`
	DevOpsPassword string `envconfig:"DEVOPS_PASSWORD" default:"foobar" desc:"password of the devops user"`
	StatusSecured  bool   `envconfig:"DEVOPS_STATUS_SECURED" default:"true" desc:"require the devops user for /status"`
	StatusPassword string `envconfig:"STATUS_PASSWORD" default:"status" desc:"second password of the devops user, for /status only"`
	// /overall/status gathers the answers of every service instance over
	// NATS for this long: NATS does not say how many instances a service
	// has, so it always waits the whole time (Ditto waits up to 10s for
	// the cluster members it knows of).
	HealthCheckTimeout      time.Duration `envconfig:"HEALTH_CHECK_SERVICE_TIMEOUT" default:"1s" desc:"time /overall/status waits for the service instances' answers"`
	HealthCheckRolesEnabled bool          `envconfig:"HEALTH_CHECK_ROLES_ENABLED" default:"true" desc:"/overall/status/health is DOWN when a service (gateway, things, policies, things-search) does not answer"`

	DefaultNamespace string `envconfig:"DITTO_DEFAULT_NAMESPACE" default:"org.eclipse.ditto" desc:"namespace of things and policies created by POST without one"`

	// WebSocket sessions (/ws/2), with Ditto's variables
	// (ditto.gateway.streaming.websocket).
	WSMaxInFlight        int           `envconfig:"WS_SUBSCRIBER_BACKPRESSURE" default:"100" desc:"commands a WebSocket session may have in flight; more are answered 429"`
	WSOutgoingBuffer     int           `envconfig:"WS_PUBLISHER_BACKPRESSURE" default:"200" desc:"messages queued for a WebSocket client; events beyond it are dropped"`
	WSThrottlingEnabled  bool          `envconfig:"GATEWAY_WEBSOCKET_THROTTLING_ENABLED" default:"false" desc:"limit the messages a WebSocket session may send per interval"`
	WSThrottlingInterval time.Duration `envconfig:"GATEWAY_WEBSOCKET_THROTTLING_INTERVAL" default:"1s" desc:"interval of the WebSocket throttling"`
	WSThrottlingLimit    int           `envconfig:"GATEWAY_WEBSOCKET_THROTTLING_LIMIT" default:"100" desc:"messages a WebSocket session may send per throttling interval; more wait"`
	WSPingInterval       time.Duration `envconfig:"GATEWAY_WEBSOCKET_PING_INTERVAL" default:"30s" desc:"interval of the pings a WebSocket session sends"`
	WSIdleTimeout        time.Duration `envconfig:"GATEWAY_WEBSOCKET_IDLE_TIMEOUT" default:"90s" desc:"time a WebSocket session may stay silent (no frame, no pong) before it is closed"`
	WSWriteTimeout       time.Duration `envconfig:"GATEWAY_WEBSOCKET_WRITE_TIMEOUT" default:"10s" desc:"time a write to a WebSocket client may take before the session is closed"`
	SSEOutgoingBuffer    int           `envconfig:"GATEWAY_SSE_PUBLISHER_BACKPRESSURE" default:"100" desc:"events queued for an SSE client; more are dropped"`
	SearchIdleTimeout    time.Duration `envconfig:"GATEWAY_STREAMING_SEARCH_IDLE_TIMEOUT" default:"60s" desc:"time a WebSocket search subscription may go without a request before it fails"`

	// Limits bound request bodies (0: no limit). The process reads them
	// once for the gateway and the services (ConfigFromEnv reads them for
	// a gateway of its own).
	Limits limits.Config `ignored:"true"`
}

// Validate reports every invalid setting, naming its variable.
func (c Config) Validate() error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
	}
	if c.HTTPPort < 0 || c.HTTPPort > 65535 {
		bad("HTTP_PORT", "%d is not a port", c.HTTPPort)
	}
	if c.RequestTimeout <= 0 || c.RequestTimeout > protocol.MaxCommandTimeout {
		bad("REQUEST_TIMEOUT", "%s is not in (0, %s]", c.RequestTimeout, protocol.MaxCommandTimeout)
	}
	for _, t := range []struct {
		name string
		d    time.Duration
	}{
		{"GATEWAY_HTTP_READ_HEADER_TIMEOUT", c.ReadHeaderTimeout},
		{"GATEWAY_HTTP_READ_TIMEOUT", c.ReadTimeout},
		{"GATEWAY_HTTP_WRITE_TIMEOUT", c.WriteTimeout},
		{"IDLE_TIMEOUT", c.IdleTimeout},
		{"COORDINATED_SHUTDOWN_REQUEST_TIMEOUT", c.ShutdownTimeout},
		{"GATEWAY_WEBSOCKET_THROTTLING_INTERVAL", c.WSThrottlingInterval},
		{"GATEWAY_WEBSOCKET_PING_INTERVAL", c.WSPingInterval},
		{"GATEWAY_WEBSOCKET_IDLE_TIMEOUT", c.WSIdleTimeout},
		{"GATEWAY_WEBSOCKET_WRITE_TIMEOUT", c.WSWriteTimeout},
		{"GATEWAY_STREAMING_SEARCH_IDLE_TIMEOUT", c.SearchIdleTimeout},
		{"HEALTH_CHECK_SERVICE_TIMEOUT", c.HealthCheckTimeout},
	} {
		if t.d <= 0 {
			bad(t.name, "%s is not positive", t.d)
		}
	}
	if c.WriteTimeout > 0 && c.WriteTimeout <= c.RequestTimeout {
		bad("GATEWAY_HTTP_WRITE_TIMEOUT", "%s must exceed REQUEST_TIMEOUT %s", c.WriteTimeout, c.RequestTimeout)
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.DefaultNamespace == "" || !protocol.ValidateNamespace(c.DefaultNamespace) {
		bad("DITTO_DEFAULT_NAMESPACE", "%q is not a namespace", c.DefaultNamespace)
	}
	if c.WSMaxInFlight < 1 {
		bad("WS_SUBSCRIBER_BACKPRESSURE", "%d is not positive", c.WSMaxInFlight)
	}
	if c.WSOutgoingBuffer < 1 {
		bad("WS_PUBLISHER_BACKPRESSURE", "%d is not positive", c.WSOutgoingBuffer)
	}
	if c.SSEOutgoingBuffer < 1 {
		bad("GATEWAY_SSE_PUBLISHER_BACKPRESSURE", "%d is not positive", c.SSEOutgoingBuffer)
	}
	if c.WSThrottlingLimit < 1 {
		bad("GATEWAY_WEBSOCKET_THROTTLING_LIMIT", "%d is not positive", c.WSThrottlingLimit)
	}
	if c.WSIdleTimeout > 0 && c.WSIdleTimeout <= c.WSPingInterval {
		bad("GATEWAY_WEBSOCKET_IDLE_TIMEOUT", "%s must exceed GATEWAY_WEBSOCKET_PING_INTERVAL %s", c.WSIdleTimeout, c.WSPingInterval)
	}
	if c.DevOpsPassword == "" {
		bad("DEVOPS_PASSWORD", "must not be empty")
	}
	if _, err := ParseOIDCIssuers(c.OAuthIssuers); err != nil {
		bad("OAUTH_OPENID_CONNECT_ISSUERS", "%v", err)
	}
	if c.OAuthProtocol != "https" && c.OAuthProtocol != "http" {
		bad("OAUTH_PROTOCOL", "%q is neither https nor http", c.OAuthProtocol)
	}
	if c.OAuthAllowedClockSkew < 0 {
		bad("OAUTH_ALLOWED_CLOCK_SKEW", "%s is negative", c.OAuthAllowedClockSkew)
	}
	if _, err := parseTemplate(c.OAuthTokenIntegrationSubject); err != nil || c.OAuthTokenIntegrationSubject == "" {
		bad("OAUTH_TOKEN_INTEGRATION_SUBJECT", "%q is not a subject template", c.OAuthTokenIntegrationSubject)
	}
	if len(acceptedMediaTypes(c.AdditionalAcceptedMediaTypes)) == 0 {
		bad("ADDITIONAL_ACCEPTED_MEDIA_TYPES", "%q names no media type", c.AdditionalAcceptedMediaTypes)
	}
	return errors.Join(errs...)
}

// ConfigFromEnv reads the configuration from the environment and validates
// it.
func ConfigFromEnv() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return Config{}, fmt.Errorf("gateway config: %w", err)
	}
	if err := envconfig.Process("", &c.Limits); err != nil {
		return Config{}, fmt.Errorf("gateway config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("gateway config: %w", err)
	}
	return c, nil
}

// DefaultConfig is the configuration with every default applied, as the
// environment without any of the variables gives it (to ConfigFromEnv).
func DefaultConfig() Config {
	return Config{
		HTTPPort:                     8080,
		RequestTimeout:               60 * time.Second,
		ReadHeaderTimeout:            10 * time.Second,
		ReadTimeout:                  70 * time.Second,
		WriteTimeout:                 75 * time.Second,
		IdleTimeout:                  610 * time.Second,
		ShutdownTimeout:              65 * time.Second,
		EnableCORS:                   true,
		AdditionalAcceptedMediaTypes: "application/octet-stream",
		OAuthIssuers:                 `{"google":{"issuer":"accounts.google.com"}}`,
		OAuthProtocol:                "https",
		OAuthAllowedClockSkew:        10 * time.Second,
		OAuthTokenIntegrationSubject: "integration:{{policy-entry:label}}:{{jwt:aud}}",
		DevOpsSecured:                true,
		DevOpsPassword:               "foobar",
		StatusSecured:                true,
		StatusPassword:               "status",
		HealthCheckTimeout:           time.Second,
		HealthCheckRolesEnabled:      true,
		DefaultNamespace:             "org.eclipse.ditto",
		WSMaxInFlight:                100,
		WSOutgoingBuffer:             200,
		WSThrottlingInterval:         time.Second,
		WSThrottlingLimit:            100,
		WSPingInterval:               30 * time.Second,
		WSIdleTimeout:                90 * time.Second,
		WSWriteTimeout:               10 * time.Second,
		SSEOutgoingBuffer:            100,
		SearchIdleTimeout:            time.Minute,
		Limits:                       limits.DefaultConfig(),
	}
}

// acceptedMediaTypes returns application/json and the additional media
// types, lower-case, without blanks and repeats, in the order given.
func acceptedMediaTypes(additional string) []string {
	out := []string{"application/json"}
	for mt := range strings.SplitSeq(additional, ",") {
		mt = strings.ToLower(strings.TrimSpace(mt))
		if mt != "" && !contains(out, mt) {
			out = append(out, mt)
		}
	}
	if len(out) == 1 && strings.TrimSpace(additional) != "" {
		return nil
	}
	return out
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// Deps are the gateway's collaborators, owned by the caller.
type Deps struct {
	// NC is the one NATS connection every request goes through.
	NC *nats.Conn
	// Names builds the command subjects; the zero value means the default
	// prefix.
	Names streams.Names
	// Shards must equal the services' shard count; 0 means
	// streams.DefaultShards.
	Shards int
	// Log receives the gateway's logs; nil discards them.
	Log *slog.Logger
	// Instance is the process's instance id (DITTO_INSTANCE_ID or the
	// one derived from the host), by which /status names this gateway;
	// empty means the host name and process id.
	Instance string
	// Metrics receives the gateway's metrics (roundtrip_http_seconds,
	// streaming_sessions_count, command_roundtrip_seconds); nil exports
	// none.
	Metrics prometheus.Registerer
	// Tracer traces requests (the W3C traceparent of a request continues
	// into the commands it sends); nil traces nothing.
	Tracer *tracing.Tracer
}

// Gateway serves Ditto's HTTP API by turning requests into Ditto Protocol
// commands for the things and policies services.
type Gateway struct {
	cfg  Config
	log  *slog.Logger
	nc   *nats.Conn
	cmds *command.Client
	auth *authenticator
	// names builds the search service's subject.
	names streams.Names

	mediaTypes      map[string]bool
	mediaTypesOrder []string // as Ditto lists them in its 415 error
	defaultTimeout  string   // the timeout header of commands without one
	instance        string

	hub      *eventHub    // fans events out to WebSocket sessions
	msgHub   *eventHub    // fans live messages, commands and events out to WebSocket sessions
	annHub   *eventHub    // fans policy announcements out to WebSocket sessions
	ackHub   *ackHub      // routes acknowledgements to the requests awaiting them
	sessions atomic.Int64 // open WebSocket sessions
	// running tracks the goroutines of open WebSocket sessions, which
	// Serve waits for: the HTTP server forgets upgraded connections.
	running sync.WaitGroup
	// closing is closed when the gateway shuts down: WebSocket sessions,
	// which the HTTP server's shutdown does not wait for, close then.
	closing     chan struct{}
	closingOnce sync.Once
	wsMu        sync.Mutex
	wsSessions  map[*wsSession]struct{} // open sessions, to close at shutdown
	// metrics is nil when the gateway exports none.
	metrics   *metrics
	tracer    *tracing.Tracer // nil or disabled: no spans
	wsClosing bool            // no session may start any more
}

// New returns a gateway for cfg, loading the users file.
func New(cfg Config, deps Deps) (*Gateway, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	if deps.NC == nil {
		return nil, errors.New("gateway: no NATS connection")
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if deps.Instance == "" {
		deps.Instance = defaultInstance()
	}
	users, err := loadUsers(cfg.UsersFile)
	if err != nil {
		return nil, err
	}
	issuers, err := ParseOIDCIssuers(cfg.OAuthIssuers)
	if err != nil {
		return nil, fmt.Errorf("gateway config: OAUTH_OPENID_CONNECT_ISSUERS: %w", err)
	}
	jwtAuth, err := newJWTAuthenticator(issuers, cfg.OAuthProtocol, cfg.OAuthAllowedClockSkew)
	if err != nil {
		return nil, fmt.Errorf("gateway config: OAUTH_OPENID_CONNECT_ISSUERS: %w", err)
	}
	if deps.Names.Prefix() == "" {
		deps.Names = streams.New("")
	}
	accepted := acceptedMediaTypes(cfg.AdditionalAcceptedMediaTypes)
	g := &Gateway{
		cfg:             cfg,
		log:             log,
		nc:              deps.NC,
		cmds:            command.New(deps.NC, deps.Names, deps.Shards).WithMetrics(deps.Metrics),
		auth:            newAuthenticator(users, cfg.PreAuthentication).withJWT(jwtAuth),
		names:           deps.Names,
		mediaTypes:      make(map[string]bool, len(accepted)),
		mediaTypesOrder: javaHashSetOrder(accepted),
		defaultTimeout:  formatTimeout(cfg.RequestTimeout),
		instance:        deps.Instance,
	}
	for _, mt := range accepted {
		g.mediaTypes[mt] = true
	}
	g.hub = newEventHub(deps.NC, deps.Names, log)
	g.msgHub = newLiveHub(deps.NC, deps.Names, log)
	g.annHub = newAnnouncementHub(deps.NC, deps.Names, log)
	g.ackHub = newAckHub(deps.NC, deps.Names)
	g.closing = make(chan struct{})
	g.wsSessions = map[*wsSession]struct{}{}
	if deps.Metrics != nil {
		g.metrics = newMetrics(deps.Metrics, g.openWebSockets)
	}
	g.tracer = deps.Tracer
	return g, nil
}

// loadUsers reads the users file, or returns the default users.
func loadUsers(path string) (map[string][]byte, error) {
	if path == "" {
		return ParseUsers(strings.NewReader(defaultUsers))
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("GATEWAY_USERS_FILE: %w", err)
	}
	defer f.Close()
	users, err := ParseUsers(f)
	if err != nil {
		return nil, fmt.Errorf("GATEWAY_USERS_FILE %s: %w", path, err)
	}
	return users, nil
}

// defaultInstance names a gateway whose process gave it no instance id:
// the host name and process id.
func defaultInstance() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	return host + "-" + strconv.Itoa(os.Getpid())
}

// Commands returns the gateway's command client, for other endpoints that
// send commands on behalf of the same clients.
func (g *Gateway) Commands() *command.Client { return g.cmds }

// Handler returns the HTTP handler of the whole API.
func (g *Gateway) Handler() http.Handler { return g }

// Run serves the HTTP API on BIND_HOSTNAME:HTTP_PORT until ctx ends, then
// shuts down gracefully: it stops accepting connections and lets requests in
// flight finish for up to COORDINATED_SHUTDOWN_REQUEST_TIMEOUT.
func (g *Gateway) Run(ctx context.Context) error {
	addr := net.JoinHostPort(g.cfg.BindHostname, strconv.Itoa(g.cfg.HTTPPort))
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("gateway listen: %w", err)
	}
	return g.Serve(ctx, ln)
}

// Serve is Run on a listener the caller opened; it closes ln.
func (g *Gateway) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{
		Handler:           g,
		ReadHeaderTimeout: g.cfg.ReadHeaderTimeout,
		ReadTimeout:       g.cfg.ReadTimeout,
		WriteTimeout:      g.cfg.WriteTimeout,
		IdleTimeout:       g.cfg.IdleTimeout,
		// Ditto accepts up to 8k of URI and 16k per header value.
		MaxHeaderBytes: 64 << 10,
		ErrorLog:       slog.NewLogLogger(g.log.Handler(), slog.LevelWarn),
		BaseContext:    func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	stopStreaming, err := g.serveNATSStreaming(ctx) // natsstreaming.go
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopStreaming()
	g.log.Info("gateway listening", "addr", ln.Addr().String())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return fmt.Errorf("gateway serve: %w", err)
	case <-ctx.Done():
	}
	g.closingOnce.Do(func() { close(g.closing) })
	g.closeSessions()
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), g.cfg.ShutdownTimeout)
	defer cancel()
	err = srv.Shutdown(shutdownCtx)
	if serveErr := <-done; !errors.Is(serveErr, http.ErrServerClosed) {
		err = errors.Join(err, serveErr)
	}
	sessionsDone := make(chan struct{})
	go func() { g.running.Wait(); close(sessionsDone) }()
	select {
	case <-sessionsDone:
	case <-shutdownCtx.Done():
		err = errors.Join(err, fmt.Errorf("%d WebSocket sessions still open", g.sessions.Load()))
	}
	if err != nil {
		return fmt.Errorf("gateway shutdown: %w", err)
	}
	return nil
}

// ServeHTTP implements http.Handler: the routes of Ditto's RootRoute that
// the gateway serves.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	traced := g.tracer.Enabled()
	if g.metrics == nil && !traced {
		g.serve(w, r)
		return
	}
	start := time.Now()
	var span tracing.Span
	if traced {
		var ctx context.Context
		ctx, span = g.tracer.StartHTTP(r, telemetry.RequestPath(r.URL.Path))
		span.SetCorrelationID(headerValue(r.Header, "Correlation-Id", protocol.HeaderCorrelationID))
		r = r.WithContext(ctx)
	}
	rec := recorders.Get().(*statusRecorder)
	rec.ResponseWriter, rec.status = w, 0
	g.serve(rec, r)
	status := rec.status
	if status == 0 {
		status = http.StatusOK
	}
	rec.ResponseWriter = nil
	recorders.Put(rec)
	if traced {
		span.SetStatusCode(status)
		span.End()
	}
	if g.metrics != nil {
		g.metrics.observe(r, status, time.Since(start))
	}
}

// serve routes a request.
func (g *Gateway) serve(w http.ResponseWriter, r *http.Request) {
	if g.cfg.EnableCORS && cors(w, r) {
		return
	}
	segs, ok := splitPath(r)
	if !ok || len(segs) == 0 {
		writeNotFound(w)
		return
	}
	switch segs[0] {
	case "api":
		g.serveAPI(w, r, segs[1:])
	case "ws":
		g.serveWebSocket(w, r, segs[1:])
	case "health":
		if len(segs) != 1 {
			writeNotFound(w)
			return
		}
		g.serveHealth(w, r)
	case "status":
		g.serveStatus(w, r, segs[1:], false)
	case "devops":
		g.serveDevOps(w, r, segs[1:])
	case "overall":
		if len(segs) < 2 || segs[1] != "status" {
			writeNotFound(w)
			return
		}
		g.serveStatus(w, r, segs[2:], true)
	default:
		writeNotFound(w)
	}
}

// splitPath returns the percent-decoded segments of the request path after
// its leading slash. A segment may contain '/' when the client encoded it
// as %2F.
func splitPath(r *http.Request) ([]string, bool) {
	if r.URL.RawPath == "" {
		p := r.URL.Path
		if p == "" || p[0] != '/' {
			return nil, false
		}
		return strings.Split(p[1:], "/"), true
	}
	p := r.URL.RawPath
	if p[0] != '/' {
		return nil, false
	}
	segs := strings.Split(p[1:], "/")
	for i, s := range segs {
		if strings.IndexByte(s, '%') < 0 {
			continue
		}
		d, err := url.PathUnescape(s)
		if err != nil {
			return nil, false
		}
		segs[i] = d
	}
	return segs, true
}

// serveAPI serves /api/{version}/...: the version is checked, then the
// command headers built and validated, then the caller authenticated, then
// the route resolved, in the order Ditto's RootRoute applies them.
func (g *Gateway) serveAPI(w http.ResponseWriter, r *http.Request, segs []string) {
	if len(segs) == 0 || !isDigits(segs[0]) {
		writeNotFound(w)
		return
	}
	version, err := strconv.Atoi(segs[0])
	if err != nil {
		writeNotFound(w)
		return
	}
	if version != 2 {
		writeError(w, nil, protocol.ErrUnsupportedSchemaVersion(version))
		return
	}
	var query url.Values
	if r.URL.RawQuery != "" {
		query = r.URL.Query()
	}
	headers, perr := commandHeaders(r, query)
	if perr != nil {
		writeError(w, headers, perr)
		return
	}
	caller, ok := g.authenticate(w, r, query, headers)
	if !ok {
		return
	}
	ar := &apiRequest{w: w, r: r, query: query, headers: headers, caller: caller}
	rest := segs[1:]
	if len(rest) == 0 {
		writeNotFound(w)
		return
	}
	var res resource
	switch rest[0] {
	case "things":
		// Server-Sent Events first, as in Ditto's RootRoute (sse.go).
		if g.serveThingsSSE(ar, rest[1:]) {
			return
		}
		res, err = thingResource(rest[1:])
	case "policies":
		res, err = policyResource(rest[1:])
		if act, ok := errors.AsType[*policyActionRequest](err); ok {
			g.servePolicyAction(ar, act) // routes_policies.go
			return
		}
	case "whoami":
		g.serveWhoami(ar, rest[1:])
		return
	case "checkPermissions":
		g.serveCheckPermissions(ar, rest[1:]) // checkperms.go
		return
	case "search":
		g.serveSearch(ar, rest[1:])
		return
	default:
		err = errNotFound
	}
	switch {
	case errors.Is(err, errNotFound):
		writeNotFound(w)
	case err != nil:
		g.fail(ar, err)
	default:
		g.serveResource(ar, res)
	}
}

// authenticate returns the caller of an API request, or answers 401 with
// a Basic challenge (carrying the external headers of hdrs) and returns
// false.
func (g *Gateway) authenticate(w http.ResponseWriter, r *http.Request, query url.Values, hdrs protocol.Headers) (*principal, bool) {
	caller, err := g.auth.authenticate(r, func(name string) (string, bool) {
		vs, ok := query[name]
		if !ok || len(vs) == 0 {
			return "", false
		}
		return vs[0], true
	})
	if err != nil {
		perr := protocol.AsError(err)
		if perr == nil {
			perr = protocol.ErrGatewayUnauthorized()
		}
		if !isBearer(r.Header.Get("Authorization")) {
			// A token's caller gets no Basic challenge: a browser would
			// answer it with a login dialog.
			w.Header()["Www-Authenticate"] = []string{`Basic realm="` + realmAPI + `"`}
		}
		writeError(w, hdrs, perr)
		return nil, false
	}
	return caller, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// javaHashSetOrder returns items in the order a java.util.HashSet of them
// iterates, which is the order Ditto lists the accepted media types in its
// 415 error ("Allowed Media-Types are: <[application/octet-stream,
// application/json]>").
func javaHashSetOrder(items []string) []string {
	size := 16
	for float64(len(items)) > 0.75*float64(size) {
		size *= 2
	}
	type entry struct {
		s      string
		bucket int
		seq    int
	}
	entries := make([]entry, len(items))
	for i, s := range items {
		var h int32
		for _, c := range utf16Units(s) {
			h = 31*h + int32(c)
		}
		u := uint32(h)
		entries[i] = entry{s: s, bucket: int((u ^ u>>16) & uint32(size-1)), seq: i}
	}
	out := make([]string, 0, len(items))
	for b := 0; b < size; b++ {
		for _, e := range entries {
			if e.bucket == b {
				out = append(out, e.s)
			}
		}
	}
	return out
}

// utf16Units returns s as Java's String.hashCode sees it: UTF-16 code units.
func utf16Units(s string) []uint16 {
	out := make([]uint16, 0, len(s))
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			out = append(out, uint16(0xD800+(r>>10)), uint16(0xDC00+(r&0x3FF)))
			continue
		}
		out = append(out, uint16(r))
	}
	return out
}
