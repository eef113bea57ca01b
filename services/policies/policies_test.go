package policies

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestConfigDefaults(t *testing.T) {
	for _, v := range []string{"POLICY_SNAPSHOT_THRESHOLD", "POLICY_SUBJECT_EXPIRY_GRANULARITY", "POLICIES_MAILBOX_SIZE", "POLICIES_MAX_ENTITIES_IN_MEMORY",
		"POLICY_SUBJECT_DELETION_ANNOUNCEMENT_GRANULARITY", "POLICY_ANNOUNCEMENT_GRACE_PERIOD", "POLICY_ANNOUNCEMENT_MAX_TIMEOUT",
		"POLICY_ENABLE_ANNOUNCEMENTS_WHEN_DELETED", "POLICY_ANNOUNCEMENT_DEFAULT_RANDOMIZATION_INTERVAL", "POLICY_ANNOUNCEMENT_BACKOFF_MIN",
		"POLICY_ANNOUNCEMENT_BACKOFF_MAX", "POLICY_ANNOUNCEMENT_BACKOFF_RANDOM_FACTOR"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		t.Fatal(err)
	}
	want := Config{SnapshotThreshold: 500, SubjectExpiryGranularity: time.Hour, MailboxSize: 100, MaxEntities: 20000,
		// Ditto's policies.conf announcement defaults.
		AnnouncementGranularity: time.Minute,
		GracePeriod:             4 * time.Hour, MaxTimeout: time.Minute, WhenDeleted: true,
		DefaultRandomization: 5 * time.Minute, BackoffMin: time.Second, BackoffMax: time.Hour, BackoffRandomFactor: 1}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("got %+v, want %+v", cfg, want)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults invalid: %v", err)
	}
}

// The limits are the process's to read once (limits.Config): the service's
// own configuration leaves them alone.
func TestConfigFromEnvironment(t *testing.T) {
	t.Setenv("LIMITS_POLICIES_MAX_SIZE", "2 MiB")
	t.Setenv("POLICY_SNAPSHOT_THRESHOLD", "3")
	var cfg Config
	if err := envconfig.Process("", &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Limits.PoliciesMaxSize != 0 || cfg.SnapshotThreshold != 3 {
		t.Errorf("got max size %d threshold %d, want 0 (not read here) and 3", cfg.Limits.PoliciesMaxSize, cfg.SnapshotThreshold)
	}
}

func TestConfigValidate(t *testing.T) {
	t.Parallel()
	valid := Config{SnapshotThreshold: 1, MailboxSize: 1}
	tests := []struct {
		name    string
		mutate  func(*Config)
		wantVar string
	}{
		{"valid", func(*Config) {}, ""},
		{"snapshot threshold", func(c *Config) { c.SnapshotThreshold = 0 }, "POLICY_SNAPSHOT_THRESHOLD"},
		{"max size", func(c *Config) { c.Limits.PoliciesMaxSize = -1 }, "LIMITS_POLICIES_MAX_SIZE"},
		{"granularity", func(c *Config) { c.SubjectExpiryGranularity = -time.Second }, "POLICY_SUBJECT_EXPIRY_GRANULARITY"},
		{"mailbox", func(c *Config) { c.MailboxSize = 0 }, "POLICIES_MAILBOX_SIZE"},
		{"max entities", func(c *Config) { c.MaxEntities = -1 }, "POLICIES_MAX_ENTITIES_IN_MEMORY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := valid
			tt.mutate(&c)
			err := c.Validate()
			if tt.wantVar == "" {
				if err != nil {
					t.Fatalf("got %v, want no error", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantVar) {
				t.Errorf("got %v, want an error naming %s", err, tt.wantVar)
			}
		})
	}
}

// The usage text lists every variable: a renamed or dropped one shows up
// here (run with -update after an intended change).
func TestConfigUsageGolden(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	if err := envconfig.Usagef("", &Config{}, &buf, envconfig.DefaultListFormat); err != nil {
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
	if got := buf.String(); got != string(want) {
		t.Errorf("usage text changed:\ngot:\n%s\nwant:\n%s", got, want)
	}
}
