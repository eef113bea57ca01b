// Command things-search runs the things-search service alone, against the
// NATS of NATS_URL: its index lives in SEARCH_INDEX_PATH (one file per
// instance). `things-search -help` lists its environment variables.
package main

import (
	"os"

	"github.com/dittonats/dittonats/services/internal/platform"
)

func main() {
	os.Exit(platform.Main("things-search", []string{platform.Search}, os.Args[1:], os.Stdout, os.Stderr))
}
