package gateway

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/dittonats/dittonats/services/internal/limits"
)

var update = flag.Bool("update", false, "rewrite golden files")

// configVars lists every variable ConfigFromEnv reads.
func configVars(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, rt := range []reflect.Type{reflect.TypeFor[Config](), reflect.TypeFor[limits.Config]()} {
		for i := range rt.NumField() {
			if name := rt.Field(i).Tag.Get("envconfig"); name != "" {
				names = append(names, name)
			}
		}
	}
	return names
}

// TestConfigDefaults checks that the environment without any of the
// variables gives DefaultConfig. It cannot run in parallel: it sets
// variables.
func TestConfigDefaults(t *testing.T) {
	for _, name := range configVars(t) {
		if _, set := os.LookupEnv(name); set {
			t.Skipf("%s is set in the environment", name)
		}
	}
	got, err := ConfigFromEnv()
	if err != nil {
		t.Fatalf("ConfigFromEnv: %v", err)
	}
	if want := DefaultConfig(); got != want {
		t.Errorf("got %+v, want %+v", got, want)
	}
	// The process reads the limits for every service: envconfig on the
	// gateway's Config alone leaves them.
	var own Config
	t.Setenv("LIMITS_THINGS_MAX_SIZE", "1m")
	if err := envconfig.Process("", &own); err != nil {
		t.Fatalf("Process: %v", err)
	}
	if own.Limits != (limits.Config{}) {
		t.Errorf("envconfig on Config read the limits: %+v", own.Limits)
	}

	t.Setenv("LIMITS_THINGS_MAX_SIZE", "0") // no limit
	t.Setenv("HTTP_PORT", "9090")
	t.Setenv("ENABLE_PRE_AUTHENTICATION", "true")
	if got, err = ConfigFromEnv(); err != nil {
		t.Fatalf("ConfigFromEnv: %v", err)
	}
	if got.Limits.ThingsMaxSize != 0 || got.HTTPPort != 9090 || !got.PreAuthentication {
		t.Errorf("overrides: got size %d port %d pre-auth %t, want 0 9090 true",
			got.Limits.ThingsMaxSize, got.HTTPPort, got.PreAuthentication)
	}
	t.Setenv("LIMITS_POLICIES_MAX_SIZE", "lots")
	if _, err := ConfigFromEnv(); err == nil {
		t.Error("LIMITS_POLICIES_MAX_SIZE=lots: got no error")
	}
	t.Setenv("LIMITS_POLICIES_MAX_SIZE", "-1")
	if _, err := ConfigFromEnv(); err == nil || !strings.Contains(err.Error(), "LIMITS_POLICIES_MAX_SIZE") {
		t.Errorf("LIMITS_POLICIES_MAX_SIZE=-1: got %v, want an error naming it", err)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		mod  func(*Config)
		vars []string // named in the error
	}{
		{"port", func(c *Config) { c.HTTPPort = 70000 }, []string{"HTTP_PORT"}},
		{"request timeout above a minute", func(c *Config) { c.RequestTimeout = 2 * time.Minute }, []string{"REQUEST_TIMEOUT"}},
		{"write timeout shorter than commands", func(c *Config) { c.WriteTimeout = 30 * time.Second }, []string{"GATEWAY_HTTP_WRITE_TIMEOUT"}},
		{"several at once", func(c *Config) {
			c.Limits.ThingsMaxSize = -1
			c.DefaultNamespace = "1bad"
			c.IdleTimeout = 0
		}, []string{"LIMITS_THINGS_MAX_SIZE", "DITTO_DEFAULT_NAMESPACE", "IDLE_TIMEOUT"}},
		{"no media types", func(c *Config) { c.AdditionalAcceptedMediaTypes = " , " }, []string{"ADDITIONAL_ACCEPTED_MEDIA_TYPES"}},
		{"empty devops password", func(c *Config) { c.DevOpsPassword = "" }, []string{"DEVOPS_PASSWORD"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := DefaultConfig()
			tt.mod(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("got nil error")
			}
			for _, v := range tt.vars {
				if !strings.Contains(err.Error(), v) {
					t.Errorf("error %q does not name %s", err, v)
				}
			}
		})
	}
}

// TestConfigUsage pins the variable names, defaults and descriptions.
// Run with -update to accept a change.
func TestConfigUsage(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := envconfig.Usagef("", &Config{}, &buf, "{{range .}}{{usage_key .}}\t{{usage_type .}}\t{{usage_default .}}\t{{usage_description .}}\n{{end}}"); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "usage.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if buf.String() != string(want) {
		t.Errorf("usage changed (run with -update to accept):\ngot:\n%s\nwant:\n%s", buf.String(), want)
	}
}

func TestNewRejects(t *testing.T) {
	t.Parallel()
	if _, err := New(DefaultConfig(), Deps{}); err == nil {
		t.Error("New without NATS connection: got nil error")
	}
	c := DefaultConfig()
	c.HTTPPort = -1
	if _, err := New(c, Deps{}); err == nil || !strings.Contains(err.Error(), "HTTP_PORT") {
		t.Errorf("New with invalid config: got %v, want an error naming HTTP_PORT", err)
	}
	c = DefaultConfig()
	c.UsersFile = filepath.Join(t.TempDir(), "missing")
	h := newHarness(t, nil)
	if _, err := New(c, Deps{NC: h.client}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("New with missing users file: got %v, want os.ErrNotExist", err)
	}
}

func TestJavaHashSetOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in, want []string
	}{
		{[]string{"application/json", "application/octet-stream"}, []string{"application/octet-stream", "application/json"}},
		{[]string{"application/json"}, []string{"application/json"}},
	}
	for _, tt := range tests {
		if got := javaHashSetOrder(tt.in); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("javaHashSetOrder(%v): got %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestFormatTimeout(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		60 * time.Second:        "60s",
		0:                       "0s",
		1500 * time.Millisecond: "1500ms",
	} {
		if got := formatTimeout(d); got != want {
			t.Errorf("formatTimeout(%s): got %q, want %q", d, got, want)
		}
	}
}
