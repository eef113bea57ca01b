// Package enforcer evaluates Ditto policies: which authenticated subjects may
// READ or WRITE which JSON pointer of which resource type.
//
// The rules follow Ditto's tree-based policy enforcer. All entries naming any
// of the caller's subjects combine. For a permission at a resource path, the
// grants and revokes on that path and on every path above it count, each
// weighted by its depth; the permission holds when the deepest grant is
// deeper than the deepest revoke (so a revoke wins at equal depth).
//
//   - Has: the permission holds at the path.
//   - HasUnrestricted: it holds and no revoke lies anywhere below the path
//     (what a write of the whole subtree needs).
//   - HasPartial: some grant at, above or below the path is deeper than the
//     deepest revoke at or above it (the caller can see part of it).
//   - View: the part of a JSON value the caller may see, rebuilt from the
//     leaves whose own path the permission holds at.
//
// Readers looks at a policy from the other side, for events: every subject
// of it, each evaluated alone, and who may read an event (Ditto's
// ditto-read-subjects) and which paths of the entity a subject that may read
// only part of it sees (ditto-partial-access-paths).
package enforcer
