// Package policyresolve computes the effective ("resolved") policy of Ditto
// 3.9's policy model: a policy's own entries with their entry references
// resolved, plus the entries it imports (directly and through
// transitiveImports) under their imported labels, plus the implicit entries
// of the namespace root policies configured for its namespace.
//
// It is the pure core of what Ditto does in PolicyImporter,
// Policy.withResolvedImports and PolicyEnforcer's namespace-root merge: it
// owns no subjects, streams, consumers or buckets and does no I/O of its
// own; the caller passes a Loader that reads stored policies (from a cache,
// typically) and learns from Result.DependsOn which policies to watch.
//
// The result has the same shape as a stored policy (policyId, imports,
// entries), so enforcer.Compile accepts it as it is.
package policyresolve
