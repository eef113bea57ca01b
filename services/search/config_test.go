package search

import (
	"os"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

// SEARCH_INDEX_READERS defaults to 4 and must not be negative (0 leaves
// the choice to the index).
func TestIndexReadersConfig(t *testing.T) {
	t.Setenv("SEARCH_INDEX_READERS", "") // restored after the test
	if err := os.Unsetenv("SEARCH_INDEX_READERS"); err != nil {
		t.Fatal(err)
	}
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		t.Fatal(err)
	}
	if c.IndexReaders != 4 {
		t.Fatalf("default SEARCH_INDEX_READERS %d, want 4", c.IndexReaders)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("defaults: %v", err)
	}
	c.IndexReaders = -1
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "SEARCH_INDEX_READERS -1") {
		t.Fatalf("SEARCH_INDEX_READERS -1: %v", err)
	}
}
