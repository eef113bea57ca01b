// Package things is the things service: it owns thing entities (event
// sourced, journal "things": things_journal and things_snaps) and enforces
// every thing command against the thing's policy.
//
// Subjects served: <p>.things.commands.<shard> for the shards this instance
// leases (request/reply, Ditto Protocol envelopes in both directions).
// Published: <p>.things.events.<ns> (stream <P>_THINGS_EVENTS), one event per
// revision, carrying the custom acknowledgement labels and address of its
// command; <p>.things.live.messages.<ns>, <p>.things.live.commands.<ns> and
// <p>.things.live.events.<ns> (core NATS, no stream), the live messages,
// commands and events sent to things of namespace ns once enforced, with
// the sender's reply subject so that the receiving session answers the
// sender directly (messages.go, live.go). Observed: <p>.policies.stored-events.> (each policy event
// as its stream republishes it once stored) to invalidate cached policies,
// ordered with the commands (see package entity); a reconnect or dropped
// events drop every cached policy before the next command is enforced, and
// each expires THINGS_POLICY_CACHE_TTL after its load (enforce.go).
// Requests sent: <p>.policies.commands.<shard> to load policies for
// enforcement (sudo) and to create, copy or delete a thing's policy on the
// creating user's behalf.
package things
