// Package embedded runs nats-server with JetStream inside the all-in-one
// binary, so a new user needs no infrastructure: the server keeps its store
// under the data directory, opens its client port for the nats CLI, and
// services inside the process connect to it without TCP. It admits only the
// platform's roles, each with its own nkey (generated into the data
// directory on first start, see Credentials) and permissions.
package embedded
