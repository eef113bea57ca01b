// Package journal defines the event journal and snapshot store that the
// event-sourced services (things, policies, connectivity) persist their
// entities to, and the errors its adapters return.
//
// A [Store] holds one [Journal] per entity type; each journal is a pair of
// tables or collections named after Ditto's: <name>_journal (one row per event,
// unique on pid and sn) and <name>_snaps (one row per snapshot, unique on pid
// and sn). The adapters are internal/sqlitestore (the embedded default) and
// internal/mongostore (production); both pass the conformance suite in
// [github.com/dittonats/dittonats/services/internal/journal/journaltest].
//
// The unique (pid, sn) index is the last guard of "one writer per entity": an
// owner that lost a race learns it from [ErrConflict] and reloads.
package journal
