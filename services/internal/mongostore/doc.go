// Package mongostore is the production journal store: the journal.Store
// adapter for MongoDB (go.mongodb.org/mongo-driver/v2), used when
// MONGO_DB_URI is set.
//
// It writes Ditto's collections <name>_journal and <name>_snaps (things,
// policies, connection) in the database named by the URI's path. A journal
// document is {pid, sn, ts, event, headers}: the event envelope as binary,
// the historical headers as a sub-document, or as a JSON string when a key
// could not be a field name. A snapshot document is {pid, sn, ts, payload,
// deleted}. Both collections get a unique (pid, sn) index, the journal also
// (pid, ts).
//
// Each journal has a writer goroutine that sends all pending appends as one
// unordered insert (group commit); a duplicate key (another writer's event)
// fails only its own Append, with journal.ErrConflict.
//
// Only plain CRUD, simple filters, compound unique indexes and bulk inserts
// are used, so FerretDB runs it too: the tests run the conformance suite on
// an embedded FerretDB (see ferrettest), and on a real MongoDB when
// MONGO_DB_URI is set.
package mongostore
