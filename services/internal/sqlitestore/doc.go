// Package sqlitestore is the embedded journal store: the journal.Store adapter
// used when no MongoDB is configured. It keeps every journal in one SQLite
// file (pure Go, modernc.org/sqlite) in WAL mode, with Ditto's table names
// (things_journal, things_snaps, policies_journal, ...).
//
// Writes go through a single writer goroutine that owns the only write
// connection and commits everything pending in one transaction (group
// commit); a taken (pid, sn) fails only its own Append. Reads use a separate
// pool of connections, which WAL lets run while the writer commits. The file
// may be shared with other processes: BEGIN IMMEDIATE and the busy timeout
// serialize their writers, and the primary key keeps (pid, sn) unique.
package sqlitestore
