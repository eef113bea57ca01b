package tracing

import (
	"math"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

func validConfig() Config {
	return Config{
		Enabled:            true,
		ReporterEnabled:    true,
		Sampler:            SamplerAlways,
		RandomProbability:  0.01,
		AdaptiveThroughput: 600,
		TickInterval:       10 * time.Second,
		QueueSize:          4096,
		Endpoint:           "http://localhost:4317",
	}
}

// The defaults are Ditto's (ditto-tracing.conf, ditto-kamon.conf,
// kamon-opentelemetry's reference.conf).
func TestConfigDefaults(t *testing.T) {
	for _, v := range []string{"DITTO_TRACING_ENABLED", "DITTO_TRACING_OTEL_TRACE_REPORTER_ENABLED", "DITTO_TRACING_SAMPLER",
		"DITTO_TRACING_RANDOM_SAMPLER_PROBABILITY", "DITTO_TRACING_ADAPTIVE_SAMPLER_THROUGHPUT", "DITTO_TRACING_TICK_INTERVAL",
		"DITTO_TRACING_REPORTER_QUEUE_SIZE", "OTEL_BSP_SCHEDULE_DELAY", "OTEL_BSP_MAX_QUEUE_SIZE", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
	var got Config
	if err := envconfig.Process("", &got); err != nil {
		t.Fatal(err)
	}
	want := Config{
		Enabled:            false,
		ReporterEnabled:    true,
		Sampler:            SamplerNever,
		RandomProbability:  0.01,
		AdaptiveThroughput: 600,
		TickInterval:       10 * time.Second,
		QueueSize:          4096,
		Endpoint:           "http://localhost:4317",
	}
	if got != want {
		t.Errorf("defaults:\n got %+v\nwant %+v", got, want)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		edit  func(*Config)
		wants []string // substrings of the error; none: valid
	}{
		{"valid", func(*Config) {}, nil},
		{"every sampler", func(c *Config) { c.Sampler = "Adaptive " }, nil},
		{"unknown sampler", func(c *Config) { c.Sampler = "sometimes" }, []string{`DITTO_TRACING_SAMPLER "sometimes"`}},
		{"probability above 1", func(c *Config) { c.RandomProbability = 1.5 }, []string{"DITTO_TRACING_RANDOM_SAMPLER_PROBABILITY 1.5"}},
		{"probability below 0", func(c *Config) { c.RandomProbability = -0.1 }, []string{"DITTO_TRACING_RANDOM_SAMPLER_PROBABILITY -0.1"}},
		{"probability NaN", func(c *Config) { c.RandomProbability = math.NaN() }, []string{"DITTO_TRACING_RANDOM_SAMPLER_PROBABILITY NaN"}},
		{"probability bounds", func(c *Config) { c.RandomProbability = 0 }, nil},
		{"throughput below 1", func(c *Config) { c.AdaptiveThroughput = 0.5 }, []string{"DITTO_TRACING_ADAPTIVE_SAMPLER_THROUGHPUT 0.5"}},
		{"tick interval", func(c *Config) { c.TickInterval = 0 }, []string{"DITTO_TRACING_TICK_INTERVAL 0s"}},
		{"queue size", func(c *Config) { c.QueueSize = 0 }, []string{"DITTO_TRACING_REPORTER_QUEUE_SIZE 0"}},
		{"otel schedule delay", func(c *Config) { c.ScheduleDelayMs = -1 }, []string{"OTEL_BSP_SCHEDULE_DELAY -1"}},
		{"otel queue size", func(c *Config) { c.MaxQueueSize = -1 }, []string{"OTEL_BSP_MAX_QUEUE_SIZE -1"}},
		{"endpoint scheme", func(c *Config) { c.Endpoint = "grpc://collector:4317" }, []string{`OTEL_EXPORTER_OTLP_ENDPOINT "grpc://collector:4317"`}},
		{"endpoint without scheme", func(c *Config) { c.Endpoint = "collector:4317" }, []string{"OTEL_EXPORTER_OTLP_ENDPOINT"}},
		{"endpoint unparsable", func(c *Config) { c.Endpoint = "http://[::1" }, []string{"OTEL_EXPORTER_OTLP_ENDPOINT"}},
		{"endpoint no host", func(c *Config) { c.Endpoint = "https://" }, []string{"OTEL_EXPORTER_OTLP_ENDPOINT"}},
		{"endpoint https", func(c *Config) { c.Endpoint = "https://otel.example.com:4317" }, nil},
		{"all at once", func(c *Config) {
			c.Sampler, c.RandomProbability, c.AdaptiveThroughput, c.Endpoint = "x", 2, 0, "ftp://x"
		}, []string{"DITTO_TRACING_SAMPLER", "DITTO_TRACING_RANDOM_SAMPLER_PROBABILITY", "DITTO_TRACING_ADAPTIVE_SAMPLER_THROUGHPUT", "OTEL_EXPORTER_OTLP_ENDPOINT"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			tt.edit(&c)
			err := c.Validate()
			if len(tt.wants) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error naming %v", tt.wants)
			}
			for _, w := range tt.wants {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

// OTEL_BSP_* win over their DITTO_TRACING_ names when set, as in
// ditto-kamon.conf.
func TestConfigOTELNamesWin(t *testing.T) {
	t.Parallel()
	c := validConfig()
	if got, want := c.tickInterval(), 10*time.Second; got != want {
		t.Errorf("tickInterval() = %s, want %s", got, want)
	}
	if got, want := c.queueSize(), 4096; got != want {
		t.Errorf("queueSize() = %d, want %d", got, want)
	}
	c.ScheduleDelayMs, c.MaxQueueSize = 2500, 100
	if got, want := c.tickInterval(), 2500*time.Millisecond; got != want {
		t.Errorf("tickInterval() = %s, want %s", got, want)
	}
	if got, want := c.queueSize(), 100; got != want {
		t.Errorf("queueSize() = %d, want %d", got, want)
	}
}

// New refuses an invalid configuration only when tracing is enabled, and
// returns a disabled Tracer otherwise.
func TestNewValidates(t *testing.T) {
	t.Parallel()
	c := validConfig()
	c.Sampler = "sometimes"
	if _, err := New(c, "things", "i1", nil); err == nil || !strings.Contains(err.Error(), "DITTO_TRACING_SAMPLER") {
		t.Errorf("New(invalid) error = %v, want one naming DITTO_TRACING_SAMPLER", err)
	}
	c.Enabled = false
	tr, err := New(c, "things", "i1", nil)
	if err != nil || tr.Enabled() {
		t.Errorf("New(disabled) = enabled %v, %v; want a disabled Tracer", tr.Enabled(), err)
	}
	if _, err := New(validConfig(), "", "i1", nil); err == nil {
		t.Error("New without a service name: no error")
	}
}
