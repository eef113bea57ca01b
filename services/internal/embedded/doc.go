// Package embedded runs nats-server with JetStream inside the all-in-one
// binary, so a new user needs no infrastructure: the server keeps its store
// under the data directory, opens its client port for the nats CLI, and
// services inside the process connect to it without TCP.
package embedded
