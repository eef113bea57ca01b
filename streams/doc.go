// Package streams owns the platform's NATS contract: every subject, stream,
// consumer and KV bucket name, the NATS header names services exchange, the
// shard function that routes an entity's commands to its one owner, and
// Ensure, which creates the streams and buckets.
//
// No other package spells a subject: services build them with Names.
//
// Subjects (prefix "ditto" by default):
//
//	<p>.things.commands.<shard>         thing commands of an authenticated caller, request/reply
//	<p>.things.sudo.<shard>             an operator's thing commands that bypass enforcement
//	<p>.things.internal.<shard>         service-to-service thing commands that bypass enforcement
//	<p>.policies.commands|sudo|internal.<shard>   the same for policies
//	<p>.things.events.<ns>              thing events (stream <P>_THINGS_EVENTS)
//	<p>.policies.events.<ns>            policy events (stream <P>_POLICIES_EVENTS)
//	<p>.devops.<service>                DevOps commands for every instance
//	<p>.devops.<service>.<instance>     DevOps commands for one instance
//
// <ns> is the entity's namespace with '.' written as '~' (and the empty
// namespace as '_'), so a subject filter selects one namespace while the
// namespace stays readable and reversible. Entity names may contain any
// character and therefore travel in payloads and headers, never in subjects.
package streams
