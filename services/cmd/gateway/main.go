// Command gateway runs the gateway service alone, against the NATS of NATS_URL (and,
// for services with state, the MongoDB of MONGO_DB_URI or the embedded store).
// `gateway -help` lists its environment variables.
package main

import (
	"os"

	"github.com/dittonats/dittonats/services/internal/platform"
)

func main() {
	os.Exit(platform.Main("gateway", []string{platform.Gateway}, os.Args[1:], os.Stdout, os.Stderr))
}
