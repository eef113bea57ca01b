// Package index is the things-search index: every thing the search service
// knows, flattened into (path, visibility, value) rows of one SQLite file, so
// that RQL filters, sorting and counting run as index range scans with the
// caller's read permissions folded into the key.
//
// Tables (see schema in index.go):
//   - things: one row per thing (thing id, namespace, policy id, revision,
//     the id of the set of subjects that see it at all, the thing JSON);
//   - leaves: one row per indexed value of a thing, keyed (path, vis, value,
//     thing), where vis is the id of the set of subjects that may read the
//     value; a second index (thing, path) serves rewrites and sorting;
//   - sets and set_members: each distinct visibility key once, with the
//     subjects that occur in it, so a caller's subjects map to set ids;
//   - meta: key/value pairs written with the rows (stream sequences);
//   - thing_counts and leaf_counts: things per (vis, namespace) and rows
//     per (path, vis, value) of values that many things hold, kept exact
//     by every write, so that counts of many things read a few rows
//     (counts.go).
//
// Queries follow Ditto's search semantics, which rql.SearchMatchesAt
// evaluates in memory; the conformance tests hold the two to one truth.
// SudoCount and SudoGroupCount (sudo.go) read the index whoever may read
// what, for the operator's metrics.
package index
