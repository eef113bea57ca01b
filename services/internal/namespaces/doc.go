// Package namespaces erases the data of a namespace during live operation,
// as Ditto's operating guide describes ("Erasing data within a
// namespace"): four piggyback commands an operator sends to the
// distributed pub/sub mediator (devops.ComponentPubSub), in order:
//
//  1. namespaces.commands:blockNamespace: every instance of the things
//     and policies services refuses commands to entities of the namespace
//     with Ditto's 409 namespace.blocked, so none of them is loaded or
//     written; a Blocklist holds the blocks of one service.
//  2. common.commands:shutdown with reason purge-namespace: every
//     instance drops the namespace's entities from memory, writing
//     nothing; there is no response.
//  3. namespaces.commands:purgeNamespace: each service deletes what it
//     stores of the namespace (the things service its things' journal and
//     snapshots, the policies service its policies', the search service
//     its index entries) and answers for its resource type.
//  4. namespaces.commands:unblockNamespace lifts the block.
//
// Parse reads the commands as Ditto's JSON deserializers do; Handler
// executes them with what a service gives it (Options).
//
// A Blocklist keeps its service's blocked namespaces in the JetStream KV
// bucket streams.Names.BlockedNamespacesBucket (written by block and
// unblock, watched by every instance), so a block survives restarts and
// reaches instances started later, and in memory, so checking a command
// costs one atomic load while nothing is blocked and one map lookup
// while something is.
package namespaces
