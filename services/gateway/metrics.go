package gateway

import (
	"bufio"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/services/internal/telemetry"
)

// metrics are the gateway's Prometheus metrics: Ditto's roundtrip_http
// timer and its streaming_sessions_count gauge.
type metrics struct {
	roundtrip *prometheus.HistogramVec
	sse       atomic.Int64

	// observers caches roundtrip's children by label values, so that a
	// request looks its histogram up without building a label slice.
	mu        sync.RWMutex
	observers map[roundtripKey]prometheus.Observer
}

// recorders are the status recorders of requests in flight.
var recorders = sync.Pool{New: func() any { return &statusRecorder{} }}

type roundtripKey struct {
	path, method, channel string
	status                int
}

// newMetrics registers the gateway's metrics on reg; wsSessions counts the
// open WebSocket sessions at scrape time.
func newMetrics(reg prometheus.Registerer, wsSessions func() int) *metrics {
	m := &metrics{
		roundtrip: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "roundtrip_http_seconds",
			Help:    "Time from an HTTP request's arrival to the end of its response, by Ditto's path label (ids replaced by x), method, status and channel.",
			Buckets: telemetry.LatencyBuckets,
		}, []string{"ditto_request_path", "ditto_request_method", "ditto_statusCode", "ditto_channel", "segment"}),
		observers: map[roundtripKey]prometheus.Observer{},
	}
	sessions := prometheus.NewDesc("streaming_sessions_count", "Open streaming sessions by type (ws: WebSocket, sse: Server-Sent Events).",
		[]string{"type"}, nil)
	reg.MustRegister(m.roundtrip, &sessionCollector{desc: sessions, ws: wsSessions, sse: &m.sse})
	return m
}

// observe records one request's round trip.
func (m *metrics) observe(r *http.Request, status int, took time.Duration) {
	k := roundtripKey{path: telemetry.RequestPath(r.URL.Path), method: r.Method, status: status,
		channel: telemetry.Channel(r.URL.Path, headerValue(r.Header, "Channel", "channel"), queryChannel(r))}
	m.mu.RLock()
	o, ok := m.observers[k]
	m.mu.RUnlock()
	if !ok {
		// A method the gateway does not know stays one label value.
		if !knownMethod(k.method) {
			k.method = "OTHER"
		}
		o = m.roundtrip.WithLabelValues(k.path, k.method, strconv.Itoa(status), k.channel, "overall")
		m.mu.Lock()
		if len(m.observers) < maxObservers {
			m.observers[roundtripKey{path: k.path, method: r.Method, status: status, channel: k.channel}] = o
		}
		m.mu.Unlock()
	}
	o.Observe(took.Seconds())
}

// maxObservers bounds the cache of histogram children (the labels are
// bounded already; this bounds the map against odd methods).
const maxObservers = 4096

func knownMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
		return true
	}
	return false
}

// headerValue is h's first value of the key in its canonical form, as the
// server stores received headers, or as given (Ditto spells its headers in
// lower case); it does not canonicalise key (that allocates).
func headerValue(h http.Header, canonical, key string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	if v := h[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// queryChannel is the channel query parameter, read only when the query
// mentions it (parsing a query allocates).
func queryChannel(r *http.Request) string {
	if r.URL.RawQuery == "" || !containsChannel(r.URL.RawQuery) {
		return ""
	}
	return r.URL.Query().Get("channel")
}

func containsChannel(q string) bool {
	for i := 0; i+8 <= len(q); i++ {
		if q[i:i+8] == "channel=" && (i == 0 || q[i-1] == '&') {
			return true
		}
	}
	return false
}

// statusRecorder remembers the status a handler answers with. It passes
// http.ResponseController's calls (flush, deadlines) and a WebSocket
// upgrade's hijack through to the server's writer.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Flush() {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	_ = http.NewResponseController(s.ResponseWriter).Flush()
}

func (s *statusRecorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	s.status = http.StatusSwitchingProtocols
	return http.NewResponseController(s.ResponseWriter).Hijack()
}

// Unwrap gives http.ResponseController the server's writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// sessionCollector reports streaming_sessions_count at scrape time.
type sessionCollector struct {
	desc *prometheus.Desc
	ws   func() int
	sse  *atomic.Int64
}

func (c *sessionCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *sessionCollector) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(c.ws()), "ws")
	ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(c.sse.Load()), "sse")
}
