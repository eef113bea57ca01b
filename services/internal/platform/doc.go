// Package platform starts services in one process: the all-in-one ditto
// binary runs all of them, each service binary runs one. It owns what they
// share: the NATS connection settings (or an embedded nats-server), the
// journal store (embedded SQLite, or MongoDB when MONGO_DB_URI is set), the
// streams and lease buckets (streams.Ensure), and the order of shutdown:
// the gateway stops taking requests first, then the services hand back
// their shards (answering what they received), then the store flushes,
// NATS drains and an embedded server stops.
//
// Configuration (Load): every setting has an environment variable,
// declared by envconfig tags on the sections' structs, and one or more
// configuration keys, Ditto's where Ditto has the setting (keys.go). A
// setting is taken from its environment variable, else from a -D system
// property at one of its keys (DITTO_OPTS over JAVA_TOOL_OPTIONS), else
// from the HOCON file DITTO_CONFIG_FILE, else from its default. The
// effective configuration is one tree keyed by Ditto's paths
// (Config.Tree), which /devops/config returns masked and services read
// structured settings from.
package platform
