// Package policies is the policies service: Ditto's policy entities
// (/api/2/policies/{policyId} and everything below it) as Ditto Protocol
// commands over NATS, event sourced on the entity host.
//
// It serves, for the shards this instance leases from the bucket
// streams.Names.ShardLeaseBucket(streams.ServicePolicies):
//
//   - request/reply on streams.Names.PolicyCommands(shard), queue group
//     "policies": create, modify, retrieve and delete of a policy, its
//     entries, an entry, its subjects, a subject, its resources and a
//     resource, answered with Ditto's responses and errors;
//   - sudo retrieve (NATS header streams.HeaderSudo "true") for other
//     services, which answers the stored policy unfiltered;
//   - a retrieve with streams.HeaderHistory, answered with a page of the
//     policy's persisted events enforced with the policy as it is now
//     (historyview.go; the gateway's WebSocket streaming subscriptions).
//
// It writes the policies journal (journal.Policies: policies_journal and
// policies_snaps, persistence ids "policy:<id>") and publishes every event
// to streams.Names.PolicyEvents(namespace) with Nats-Msg-Id
// "<policy id>:<revision>".
//
// Policy imports, entry references, token integration actions and the
// endpoints of an entry's namespaces, importable and allowedAdditions are
// not implemented: commands on them are answered with Ditto's 400
// unknown.topicpath, and a policy or entry declaring imports or references
// is refused. An entry's namespaces are stored and honoured when deciding
// who may change the policy itself.
package policies
