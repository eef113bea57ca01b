// Package platform starts services in one process: the all-in-one ditto
// binary runs all of them, each service binary runs one. It owns what they
// share: the NATS connection settings (or an embedded nats-server), the
// journal store (embedded SQLite, or MongoDB when MONGO_DB_URI is set), the
// streams and lease buckets (streams.Ensure), and the order of shutdown:
// the gateway stops taking requests first, then the services hand back
// their shards (answering what they received), then the store flushes,
// NATS drains and an embedded server stops.
package platform
