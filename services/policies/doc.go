// Package policies is the policies service: Ditto's policy entities
// (/api/2/policies/{policyId} and everything below it) as Ditto Protocol
// commands over NATS, event sourced on the entity host.
//
// It serves, for the shards this instance leases from the bucket
// streams.Names.ShardLeaseBucket(streams.ServicePolicies):
//
//   - request/reply on streams.Names.PolicyCommands(shard), queue group
//     "policies": create, modify, retrieve and delete of a policy, its
//     imports, an import and its entries and transitiveImports, its
//     entries, an entry, its subjects, a subject, its resources, a
//     resource, its references, allowedAdditions, namespaces and
//     importable, and checkPermissions (checkperms.go), answered with
//     Ditto's responses and errors;
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
// Imports (with transitiveImports), entry references and allowedAdditions,
// and the namespace root policies of ditto.namespace-policies are
// resolved by policyresolve into the effective policy every command is
// enforced with (resolve.go); the policies it is computed from are read
// from the journal (entity.Host.Stored), never asked of their owners.
// imports.go checks what a write declares, subresources.go serves the
// sub-resources of imports and of entries. Token integration actions
// need a JWT, which the gateway refuses before they get here.
package policies
