package tracing

import (
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"
)

// Samplers, the values of DITTO_TRACING_SAMPLER (Kamon's kamon.trace.sampler).
const (
	SamplerAlways   = "always"
	SamplerNever    = "never"
	SamplerRandom   = "random"
	SamplerAdaptive = "adaptive"
)

// Config is the tracing section of the configuration, with the variables
// of Ditto's ditto-tracing.conf and ditto-kamon.conf and the endpoint
// variable of kamon-opentelemetry.
//
// Ditto turns its OTLP reporter on with DITTO_TRACING_ENABLED unless
// DITTO_TRACING_OTEL_TRACE_REPORTER_ENABLED says otherwise; with tracing
// disabled there is nothing to report, so ReporterEnabled defaults to true
// and only matters when tracing is enabled. OTEL_BSP_SCHEDULE_DELAY and
// OTEL_BSP_MAX_QUEUE_SIZE, which ditto-kamon.conf also reads, win over
// their DITTO_TRACING_ names when set, as in Ditto.
type Config struct {
	Enabled            bool          `envconfig:"DITTO_TRACING_ENABLED" default:"false" desc:"create spans and carry W3C trace context (traceparent) from the HTTP request through NATS to every service"`
	ReporterEnabled    bool          `envconfig:"DITTO_TRACING_OTEL_TRACE_REPORTER_ENABLED" default:"true" desc:"export the sampled spans over OTLP/gRPC to OTEL_EXPORTER_OTLP_ENDPOINT when DITTO_TRACING_ENABLED; false keeps propagating trace context without exporting"`
	Sampler            string        `envconfig:"DITTO_TRACING_SAMPLER" default:"never" desc:"which new traces are recorded: always, never, random (DITTO_TRACING_RANDOM_SAMPLER_PROBABILITY) or adaptive (DITTO_TRACING_ADAPTIVE_SAMPLER_THROUGHPUT); a request whose traceparent is sampled is recorded whatever the sampler"`
	RandomProbability  float64       `envconfig:"DITTO_TRACING_RANDOM_SAMPLER_PROBABILITY" default:"0.01" desc:"share of new traces the random sampler records, 0 to 1"`
	AdaptiveThroughput float64       `envconfig:"DITTO_TRACING_ADAPTIVE_SAMPLER_THROUGHPUT" default:"600" desc:"traces per minute the adaptive sampler records per service instance, shared fairly among the operations (span names)"`
	TickInterval       time.Duration `envconfig:"DITTO_TRACING_TICK_INTERVAL" default:"10s" desc:"how often finished spans are exported"`
	QueueSize          int           `envconfig:"DITTO_TRACING_REPORTER_QUEUE_SIZE" default:"4096" desc:"finished spans waiting for export; more are dropped (and counted)"`
	ScheduleDelayMs    int           `envconfig:"OTEL_BSP_SCHEDULE_DELAY" desc:"OpenTelemetry's name of DITTO_TRACING_TICK_INTERVAL, in milliseconds; wins when set"`
	MaxQueueSize       int           `envconfig:"OTEL_BSP_MAX_QUEUE_SIZE" desc:"OpenTelemetry's name of DITTO_TRACING_REPORTER_QUEUE_SIZE; wins when set"`
	Endpoint           string        `envconfig:"OTEL_EXPORTER_OTLP_ENDPOINT" default:"http://localhost:4317" desc:"OTLP/gRPC collector the spans are exported to (e.g. Jaeger's port 4317); https:// connects with TLS"`
}

// Validate reports every problem of the tracing settings, naming the
// variable of each.
func (c Config) Validate() error {
	var errs []error
	switch c.sampler() {
	case SamplerAlways, SamplerNever, SamplerRandom, SamplerAdaptive:
	default:
		errs = append(errs, fmt.Errorf("DITTO_TRACING_SAMPLER %q: must be always, never, random or adaptive", c.Sampler))
	}
	if math.IsNaN(c.RandomProbability) || c.RandomProbability < 0 || c.RandomProbability > 1 {
		errs = append(errs, fmt.Errorf("DITTO_TRACING_RANDOM_SAMPLER_PROBABILITY %v: must be between 0 and 1", c.RandomProbability))
	}
	if math.IsNaN(c.AdaptiveThroughput) || math.IsInf(c.AdaptiveThroughput, 0) || c.AdaptiveThroughput < 1 {
		errs = append(errs, fmt.Errorf("DITTO_TRACING_ADAPTIVE_SAMPLER_THROUGHPUT %v: must be at least 1 (traces per minute)", c.AdaptiveThroughput))
	}
	if c.TickInterval <= 0 {
		errs = append(errs, fmt.Errorf("DITTO_TRACING_TICK_INTERVAL %s: must be positive", c.TickInterval))
	}
	if c.QueueSize < 1 {
		errs = append(errs, fmt.Errorf("DITTO_TRACING_REPORTER_QUEUE_SIZE %d: must be at least 1", c.QueueSize))
	}
	if c.ScheduleDelayMs < 0 {
		errs = append(errs, fmt.Errorf("OTEL_BSP_SCHEDULE_DELAY %d: must not be negative (milliseconds; 0 or unset: DITTO_TRACING_TICK_INTERVAL)", c.ScheduleDelayMs))
	}
	if c.MaxQueueSize < 0 {
		errs = append(errs, fmt.Errorf("OTEL_BSP_MAX_QUEUE_SIZE %d: must not be negative (0 or unset: DITTO_TRACING_REPORTER_QUEUE_SIZE)", c.MaxQueueSize))
	}
	if err := checkEndpoint(c.Endpoint); err != nil {
		errs = append(errs, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT %q: %w", c.Endpoint, err))
	}
	return errors.Join(errs...)
}

func checkEndpoint(s string) error {
	u, err := url.Parse(s)
	switch {
	case err != nil:
		return errors.New("not a URL")
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an http:// or https:// URL (OTLP over gRPC)")
	case u.Host == "" || u.Hostname() == "":
		return errors.New("names no host")
	case u.User != nil:
		return errors.New("must not carry credentials (use OTEL_EXPORTER_OTLP_HEADERS)")
	}
	return nil
}

func (c Config) sampler() string { return strings.ToLower(strings.TrimSpace(c.Sampler)) }

// tickInterval is the export interval in effect: OTEL_BSP_SCHEDULE_DELAY
// when set, else DITTO_TRACING_TICK_INTERVAL.
func (c Config) tickInterval() time.Duration {
	if c.ScheduleDelayMs > 0 {
		return time.Duration(c.ScheduleDelayMs) * time.Millisecond
	}
	return c.TickInterval
}

// queueSize is the export queue size in effect: OTEL_BSP_MAX_QUEUE_SIZE
// when set, else DITTO_TRACING_REPORTER_QUEUE_SIZE.
func (c Config) queueSize() int {
	if c.MaxQueueSize > 0 {
		return c.MaxQueueSize
	}
	return c.QueueSize
}
