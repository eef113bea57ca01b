// Command ditto runs the whole platform in one process: every service, with
// an embedded nats-server and the embedded store unless NATS_URL and
// MONGO_DB_URI say otherwise. `ditto -help` lists its environment variables.
package main

import (
	"os"

	"github.com/dittonats/dittonats/services/internal/platform"
)

func main() {
	os.Exit(platform.Main("ditto", platform.All, os.Args[1:], os.Stdout, os.Stderr))
}
