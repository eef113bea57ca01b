package things

import (
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"
)

func TestConfigValidateNamesTheVariable(t *testing.T) {
	t.Parallel()
	var def Config
	if err := envconfig.Process("", &def); err != nil {
		t.Fatal(err)
	}
	if err := def.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	if def.PolicyCacheTTL != time.Hour {
		t.Errorf("THINGS_POLICY_CACHE_TTL defaults to %s, want Ditto's 1h", def.PolicyCacheTTL)
	}
	tests := []struct {
		name     string
		change   func(*Config)
		variable string
	}{
		{"zero cache TTL", func(c *Config) { c.PolicyCacheTTL = 0 }, "THINGS_POLICY_CACHE_TTL"},
		{"negative cache TTL", func(c *Config) { c.PolicyCacheTTL = -time.Second }, "THINGS_POLICY_CACHE_TTL"},
		{"empty cache", func(c *Config) { c.PolicyCacheSize = 0 }, "THINGS_POLICY_CACHE_SIZE"},
	}
	for _, tc := range tests {
		c := def
		tc.change(&c)
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.variable) {
			t.Errorf("%s: Validate() = %v, want an error naming %s", tc.name, err, tc.variable)
		}
	}
}
