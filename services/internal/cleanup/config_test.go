package cleanup

import (
	"strings"
	"testing"
	"time"
)

// Validate refuses what Ditto's CleanupConfig refuses and names the
// variable.
func TestConfigValidate(t *testing.T) {
	t.Parallel()
	if err := defaultConfig().Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	dur := func(d time.Duration) *time.Duration { return &d }
	for _, tt := range []struct {
		variable string
		change   func(c *Config)
	}{
		{"CLEANUP_HISTORY_RETENTION_DURATION", func(c *Config) { c.HistoryRetention = dur(-time.Second) }},
		{"CLEANUP_QUIET_PERIOD", func(c *Config) { c.QuietPeriod = 0 }},
		{"CLEANUP_INTERVAL", func(c *Config) { c.Interval = dur(0) }},
		{"CLEANUP_TIMER_THRESHOLD", func(c *Config) { c.TimerThreshold = 0 }},
		{"CLEANUP_CREDITS_PER_BATCH", func(c *Config) { c.CreditsPerBatch = -1 }},
		{"CLEANUP_READS_PER_QUERY", func(c *Config) { c.ReadsPerQuery = 0 }},
		{"CLEANUP_WRITES_PER_CREDIT", func(c *Config) { c.WritesPerCredit = 0 }},
	} {
		c := defaultConfig()
		tt.change(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tt.variable) {
			t.Errorf("%s: got %v, want an error naming it", tt.variable, err)
		}
	}
	// Zero retention and zero credits are allowed, as in Ditto.
	c := defaultConfig()
	c.HistoryRetention, c.CreditsPerBatch = dur(0), 0
	if err := c.Validate(); err != nil {
		t.Errorf("zero retention and credits: %v", err)
	}
}

// Unset, the retention and interval are the entity type's, as Ditto's
// things.conf, policies.conf and connectivity.conf set them; set, they
// apply to every type.
func TestSettingsByKind(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		kind                string
		retention, interval time.Duration
	}{
		{"thing", 3 * 24 * time.Hour, 3 * time.Second},
		{"policy", 30 * 24 * time.Hour, 10 * time.Second},
		{"connection", 30 * 24 * time.Hour, time.Minute},
	} {
		s := defaultConfig().Settings(tt.kind)
		if s.HistoryRetention != tt.retention || s.Interval != tt.interval {
			t.Errorf("%s: retention %v, interval %v; want %v, %v", tt.kind, s.HistoryRetention, s.Interval, tt.retention, tt.interval)
		}
		if err := s.validate(); err != nil {
			t.Errorf("%s: %v", tt.kind, err)
		}
	}
	c := defaultConfig()
	retention, interval := time.Duration(0), 20*time.Second
	c.HistoryRetention, c.Interval = &retention, &interval
	for _, kind := range []string{"thing", "policy"} {
		if s := c.Settings(kind); s.HistoryRetention != 0 || s.Interval != interval {
			t.Errorf("%s with the variables set: retention %v, interval %v", kind, s.HistoryRetention, s.Interval)
		}
	}
}
