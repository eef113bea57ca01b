package index

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"modernc.org/sqlite"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/sqlitewal"
)

// Options configure an Index.
type Options struct {
	// IndexedFields returns, for a namespace, the JSON pointers (as
	// "attributes/x" strings, no leading slash) whose subtrees are indexed;
	// nil means everything. thingId, policyId, _namespace, _revision,
	// _created and _modified are always indexed (Ditto's
	// namespace-indexed-fields).
	IndexedFields func(namespace string) []string
	// ReadConns is the size of the reader pool; 0 means 4.
	ReadConns int
	// NoFastPaths makes every query take the general statement (for
	// tests that compare both).
	NoFastPaths bool
	// walkBatch and walkBudget replace idWalkBatch and idWalkBudget when
	// set (tests walk a small index in many small steps).
	walkBatch, walkBudget int
	// askSets has setsAt ask which sets have rows for every caller, not
	// only for those with more than fewSets (tests).
	askSets bool
	// sharesFile: another Index writes this file (tests' twins reading
	// what one index wrote). Reads then keep no transaction for the next
	// (see readPool), as this Index learns of no commit.
	sharesFile bool
}

// Doc is a thing to index.
type Doc struct {
	ThingID, PolicyID string
	Revision          int64
	// Thing is the thing JSON as the things service stores it.
	Thing jsonv.Value
	// Access is who may read what; nil is nobody (policy missing or
	// deleted).
	Access *enforcer.Readers
	// Prev is the indexed entry this put replaces, as GetMany returned it
	// to the index's writer; with it, put neither reads nor parses the
	// stored thing again. Its zero value (or an entry read before another
	// write) makes put read the stored thing itself.
	Prev Entry
}

// Batch is one write: everything in it commits in one transaction.
type Batch struct {
	// DeleteNamespaces removes every thing of these namespaces (namespace
	// erasure), before Delete and Put; a Put in the same batch must not
	// be of one of them.
	DeleteNamespaces []string
	Put              []Doc
	Delete           []string // thing ids
	// Meta is written in the same transaction (the projector keeps its
	// stream sequences here).
	Meta map[string]string
	// PolicyDeps replaces, for each policy id, the other policies its
	// effective policy was computed from (its imports): a change to one
	// of them changes who may read the policy's things (see
	// DependentPolicies). An empty list removes the policy's rows.
	PolicyDeps map[string][]string
}

// Entry is an indexed thing.
type Entry struct {
	ThingID, PolicyID string
	Revision          int64
	Thing             jsonv.Value
	// stored is how GetMany found the thing's row; nil elsewhere.
	stored *storedRow
}

// storedRow is a thing's row as read by GetMany, valid while the index has
// not been written since (gen).
type storedRow struct {
	gen          uint64 // Index.commits when read
	id, vis, tok int64
}

// ErrClosed is returned by every method after Close.
var ErrClosed = errors.New("search index closed")

// Index is a things-search index in one SQLite file. It is safe for
// concurrent use; writes are serialized on one connection, queries run on a
// pool of read-only connections beside them (WAL).
type Index struct {
	opt   Options
	write *sql.DB // one connection; used only under wmu
	// readers are the read connections (see readPool).
	readers *readPool
	// ckpt is the checkpointer's connection, ckptr the checkpointer
	// (sqlitewal): no commit runs a checkpoint.
	ckpt  *sql.DB
	ckptr *sqlitewal.Checkpointer

	// wmu serializes Write and guards sets.
	wmu sync.Mutex
	// sets interns visibility keys: key -> set id, mirror of the sets
	// table; guarded by wmu.
	sets map[string]int64
	// setsGen counts commits that added sets; a caller's readable set ids
	// are cached until it changes.
	setsGen atomic.Uint64
	// commits counts committed writes; each write stores its number in
	// the meta row commitKey, so that a view reads which state it holds
	// (see view). Results derived from the whole index (see noneMissing)
	// are remembered for that number.
	commits atomic.Uint64
	// changes counts every transaction the writer committed: the
	// writes (commits) and the count rows (createCounts), which leave
	// queries' answers alone but which a kept read transaction (see
	// readPool) would not see.
	changes atomic.Uint64
	// staleViews counts views whose snapshot was older than a commit that
	// had ended before they began (see view).
	staleViews atomic.Int64
	// complete caches noneMissing per path and readable sets.
	complete stateCache[bool]
	// multi caches multiValued per path and readable sets, as complete
	// does.
	multi stateCache[bool]
	// armSets caches setsAt per path and readable sets, as complete does.
	armSets stateCache[[]string]
	// rowReads counts puts that read a thing's stored rows (its access
	// or indexed fields changed), for tests.
	rowReads atomic.Int64
	// maxOvh bounds the key overhead (thingOverhead) of every thing
	// indexed, so queries know which strings may have been cut. It only
	// grows.
	maxOvh atomic.Int64
	// callers caches readable set ids per subject list (see readable).
	// Its generation is setsGen.
	callers stateCache[readableSets]
	// countWant holds the leaf count rows counts asked for, until the
	// background job that creates them (see requestCount) has run;
	// countJob is that job while it runs.
	countWant sync.Map // string -> countKey
	countBusy atomic.Bool
	countJob  sync.WaitGroup
	// counted holds the keys (countKey.String) of the leaf count rows,
	// mirror of leaf_counts; guarded by wmu.
	counted map[string]bool

	likes likeCache
	stmts statements
}

// statements are the prepared statements of the write path.
type statements struct {
	thingByID, insertThing, updateThing, deleteThing *sql.Stmt
	updateThingDoc, thingForPut                      *sql.Stmt
	leavesOf, insertLeaf, deleteLeaf, deleteLeaves   *sql.Stmt
	insertSet, insertMember, putMeta                 *sql.Stmt
}

const schema = `
CREATE TABLE IF NOT EXISTS things(
  id        INTEGER PRIMARY KEY,
  thing_id  TEXT NOT NULL UNIQUE,
  namespace TEXT NOT NULL,
  policy_id TEXT NOT NULL,
  revision  INTEGER NOT NULL,
  modified  BLOB,             -- _modified (TEXT, no affinity); NULL when missing
  vis       INTEGER NOT NULL,
  acc       INTEGER NOT NULL DEFAULT 0, -- token of the access its rows were written with (see accessToken)
  ovh       INTEGER NOT NULL,
  doc       TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS things_vis ON things(vis, thing_id);
CREATE INDEX IF NOT EXISTS things_policy ON things(policy_id);
CREATE INDEX IF NOT EXISTS things_ns ON things(namespace, vis);
CREATE TABLE IF NOT EXISTS leaves(
  path  TEXT NOT NULL,
  vis   INTEGER NOT NULL,
  value BLOB NOT NULL, -- BLOB: no affinity, values keep their type
  thing INTEGER NOT NULL,
  flags INTEGER NOT NULL,
  PRIMARY KEY(path, vis, value, thing)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS leaves_thing ON leaves(thing, path);
CREATE TABLE IF NOT EXISTS sets(
  id  INTEGER PRIMARY KEY,
  key TEXT NOT NULL UNIQUE
);
CREATE TABLE IF NOT EXISTS set_members(
  subject TEXT NOT NULL,
  set_id  INTEGER NOT NULL,
  PRIMARY KEY(subject, set_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta(
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS policy_deps(
  dep       TEXT NOT NULL, -- a policy another one's effective policy is computed from
  policy_id TEXT NOT NULL,
  PRIMARY KEY(dep, policy_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS policy_deps_policy ON policy_deps(policy_id);
` + countsSchema

// countsSchema keeps counts that every write keeps exact (see countDeltas),
// so that a count of many things reads a few rows instead of an index
// entry per thing (see countThings and countEqual):
//   - thing_counts: the things per visibility set and namespace;
//   - leaf_counts: the rows per (path, vis, value), for the values that a
//     count found to hold at least countedRows rows (see requestCount);
//     the others are counted from their rows, which costs no more.
//
// The writer knows which values have a count row (Index.counted): a write
// of any other value costs nothing more. SQL triggers kept the counts
// exact as well, but made building 100k things 40-55% slower.
const countsSchema = `
CREATE TABLE IF NOT EXISTS thing_counts(
  vis       INTEGER NOT NULL,
  namespace TEXT NOT NULL,
  n         INTEGER NOT NULL,
  PRIMARY KEY(vis, namespace)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS leaf_counts(
  path  TEXT NOT NULL,
  vis   INTEGER NOT NULL,
  value BLOB NOT NULL,
  n     INTEGER NOT NULL,
  PRIMARY KEY(path, vis, value)
) WITHOUT ROWID;
`

// schemaVersion names the layout; an index file of another layout is
// emptied and built again (from the things service: an index holds nothing
// that cannot be rebuilt). 8: count tables, which only a writer that keeps
// them may write (a file an older writer wrote to would have them wrong).
const schemaVersion = "8"

// pageSize is the page size of new index files.
var pageSize = 2048

// isOutdated reports whether the file holds an index of another layout
// than schemaVersion (a new, empty file is not outdated).
func isOutdated(db *sql.DB) (bool, error) {
	var tables int
	if err := db.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table'`).Scan(&tables); err != nil {
		return false, fmt.Errorf("read schema: %w", err)
	}
	if tables == 0 {
		return false, nil
	}
	var version string
	err := db.QueryRow(`SELECT value FROM meta WHERE key = 'index.schema'`).Scan(&version)
	if err != nil || version != schemaVersion {
		return true, nil
	}
	var size int
	if err := db.QueryRow(`PRAGMA page_size`).Scan(&size); err != nil {
		return false, fmt.Errorf("read page size: %w", err)
	}
	return size != pageSize, nil
}

// initSchema creates the tables of an empty file and records the version.
func initSchema(db *sql.DB) error {
	if _, err := db.Exec(schema); err != nil {
		return fmt.Errorf("create index schema: %w", err)
	}
	_, err := db.Exec(`INSERT OR IGNORE INTO meta(key, value) VALUES('index.schema', ?)`, schemaVersion)
	return err
}

// connector opens connections of a private driver, so the index's SQL
// functions reach only its own connections.
type connector struct {
	drv *sqlite.Driver
	dsn string
}

func (c connector) Connect(context.Context) (driver.Conn, error) { return c.drv.Open(c.dsn) }
func (c connector) Driver() driver.Driver                        { return c.drv }

// Open opens the index at path, creating the file and schema if missing.
func Open(path string, opt Options) (*Index, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("index path %q: must be non-empty without '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create directory of %s: %w", path, err)
	}
	if opt.ReadConns <= 0 {
		// SQLite as modernc builds it has one page cache for all
		// connections, under one mutex. On two cores, two readers made
		// SEARCH_SORTED faster (alternated on one data set: 1,801 and
		// 2,127/s with four, 2,395 and 2,893/s with two), but in full
		// runs the short searches' p99 was worse (SEARCH_THINGS 30.1 and
		// 35.7 ms with two, 26.3-28.7 with four): four stay the default,
		// SEARCH_INDEX_READERS chooses.
		opt.ReadConns = 4
	}
	if err := sqlitewal.Register(); err != nil {
		return nil, err
	}
	ix := &Index{opt: opt, sets: map[string]int64{}, counted: map[string]bool{}}
	drv := &sqlite.Driver{}
	if err := ix.registerFunctions(drv); err != nil {
		return nil, err
	}
	dsn := func(extra ...string) string {
		// No mmap: every connection would map the file on its own, and
		// the process's resident size would count each mapping.
		return sqlitewal.DSN(path, append([]string{"busy_timeout(5000)", "mmap_size(0)"}, extra...)...)
	}
	// 2 KiB pages: a change rewrites a few rows in random places, and
	// every page it touches is written to the WAL and again to the file.
	// BenchmarkWriteProperty (batches of 16 and 64) wrote 7,069 and 8,693
	// things/s with 4 KiB pages, 9,337 and 10,056 with 1 KiB and 11,503 and
	// 11,293 with 2 KiB; building 100k things took 22.7, 28-33 and 25.4 s;
	// queries were within 10%. The writer's cache holds the upper levels
	// of the trees: 64 MiB instead of 16 measured up to 10% faster
	// modifies, within this machine's noise, for ~90 MiB more RSS.
	// The driver runs DSN pragmas sorted by name, journal_mode before
	// page_size, and a file in WAL mode keeps its page size: both are set
	// here, in order (the file keeps both).
	openWriter := func() (*sql.DB, error) {
		// No automatic checkpoints: one ran inside the commit that
		// crossed the threshold and held the writer up to 290 ms (index
		// lag p99 of ~400 ms at 1,000 modifies/s); sqlitewal copies the
		// WAL in the background instead.
		db := sql.OpenDB(connector{drv, dsn("synchronous(NORMAL)", "cache_size(-16000)",
			"wal_autocheckpoint(0)", "journal_size_limit(67108864)") + "&_txlock=immediate"})
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxIdleTime(0)
		if _, err := db.Exec(fmt.Sprintf(`PRAGMA page_size = %d`, pageSize)); err != nil {
			_ = db.Close()
			return nil, err
		}
		if _, err := db.Exec(`PRAGMA journal_mode = WAL`); err != nil {
			_ = db.Close()
			return nil, err
		}
		return db, nil
	}
	var err error
	if ix.write, err = openWriter(); err != nil {
		return nil, fmt.Errorf("open index %s: %w", path, err)
	}
	switch outdated, err := isOutdated(ix.write); {
	case err != nil:
		_ = ix.write.Close()
		return nil, fmt.Errorf("index %s: %w", path, err)
	case outdated:
		// Another layout (or page size, which a file in WAL mode cannot
		// change): start a new file; the index is filled again.
		_ = ix.write.Close()
		for _, f := range []string{path, path + "-wal", path + "-shm"} {
			if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("remove outdated index: %w", err)
			}
		}
		if ix.write, err = openWriter(); err != nil {
			return nil, fmt.Errorf("open index %s: %w", path, err)
		}
	}
	if err := initSchema(ix.write); err != nil {
		_ = ix.write.Close()
		return nil, fmt.Errorf("index %s: %w", path, err)
	}
	ix.ckpt = sql.OpenDB(connector{drv, dsn("synchronous(NORMAL)")})
	ix.ckpt.SetMaxOpenConns(1)
	ix.ckptr = sqlitewal.Start(ix.ckpt, pageSize, sqlitewal.Interval)
	latest := &ix.changes
	if opt.sharesFile {
		latest = nil
	}
	ix.readers = newReadPool(connector{drv, dsn("query_only(1)", "cache_size(-2000)")}, opt.ReadConns, latest)
	if err := ix.prepare(); err != nil {
		_ = ix.Close()
		return nil, err
	}
	var ovh int64
	if err := ix.write.QueryRow(`SELECT coalesce(max(ovh), 0) FROM things`).Scan(&ovh); err != nil {
		_ = ix.Close()
		return nil, fmt.Errorf("read index overhead: %w", err)
	}
	ix.maxOvh.Store(ovh)
	commit, err := scanCommit(ix.write.QueryRow(commitQuery))
	if err != nil {
		_ = ix.Close()
		return nil, fmt.Errorf("read index commit number: %w", err)
	}
	ix.commits.Store(commit)
	if err := ix.loadSets(); err != nil {
		_ = ix.Close()
		return nil, err
	}
	if err := ix.loadCounted(); err != nil {
		_ = ix.Close()
		return nil, err
	}
	return ix, nil
}

func (ix *Index) prepare() error {
	s := &ix.stmts
	for _, p := range []struct {
		dst **sql.Stmt
		sql string
	}{
		{&s.thingByID, `SELECT id, vis, namespace FROM things WHERE thing_id = ?`},
		{&s.thingForPut, `SELECT id, policy_id, vis, acc, doc FROM things WHERE thing_id = ?`},
		{&s.insertThing, `INSERT INTO things(thing_id, namespace, policy_id, revision, modified, vis, acc, ovh, doc) VALUES(?,?,?,?,?,?,?,?,?)`},
		{&s.updateThing, `UPDATE things SET policy_id = ?, revision = ?, modified = ?, vis = ?, acc = ?, doc = ? WHERE id = ?`},
		// The common update leaves the indexed columns alone, so that
		// SQLite does not rewrite their index entries.
		{&s.updateThingDoc, `UPDATE things SET revision = ?, modified = ?, acc = ?, doc = ? WHERE id = ?`},
		{&s.deleteThing, `DELETE FROM things WHERE id = ?`},
		{&s.leavesOf, `SELECT path, vis, value, flags FROM leaves WHERE thing = ?`},
		{&s.insertLeaf, `INSERT OR IGNORE INTO leaves(path, vis, value, thing, flags) VALUES(?,?,?,?,?)`},
		{&s.deleteLeaf, `DELETE FROM leaves WHERE path = ? AND vis = ? AND value = ? AND thing = ?`},
		{&s.deleteLeaves, `DELETE FROM leaves WHERE thing = ?`},
		{&s.insertSet, `INSERT INTO sets(key) VALUES(?)`},
		{&s.insertMember, `INSERT OR IGNORE INTO set_members(subject, set_id) VALUES(?,?)`},
		{&s.putMeta, `INSERT INTO meta(key, value) VALUES(?,?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`},
	} {
		st, err := ix.write.Prepare(p.sql)
		if err != nil {
			return fmt.Errorf("prepare %q: %w", p.sql, err)
		}
		*p.dst = st
	}
	return nil
}

func (ix *Index) loadSets() error {
	rows, err := ix.write.Query(`SELECT id, key FROM sets`)
	if err != nil {
		return fmt.Errorf("load visibility sets: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var key string
		if err := rows.Scan(&id, &key); err != nil {
			return fmt.Errorf("load visibility sets: %w", err)
		}
		ix.sets[key] = id
	}
	return rows.Err()
}

// Close closes the index. Calls in flight may fail.
func (ix *Index) Close() error {
	if ix.ckptr != nil {
		ix.ckptr.Stop()
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	var errs []error
	if ix.ckpt != nil {
		errs = append(errs, ix.ckpt.Close())
	}
	s := ix.stmts
	for _, st := range []*sql.Stmt{s.thingByID, s.thingForPut, s.insertThing, s.updateThing, s.updateThingDoc, s.deleteThing, s.leavesOf,
		s.insertLeaf, s.deleteLeaf, s.deleteLeaves, s.insertSet, s.insertMember, s.putMeta} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if ix.readers != nil {
		errs = append(errs, ix.readers.close())
	}
	errs = append(errs, ix.write.Close())
	return errors.Join(errs...)
}

// Write applies b in one transaction. A put thing's rows that did not
// change stay untouched; only added and removed rows are written.
func (ix *Index) Write(ctx context.Context, b Batch) (err error) {
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	tx, err := ix.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin index write: %w", err)
	}
	added := map[string]int64{}
	commit := ix.commits.Load() + 1
	defer func() {
		if err != nil {
			_ = tx.Rollback()
			return
		}
		if err = tx.Commit(); err != nil {
			err = fmt.Errorf("commit index write: %w", err)
			return
		}
		ix.commits.Store(commit)
		ix.changes.Add(1)
		if ix.ckptr.Due() {
			// No reader may hold the WAL while it starts over.
			ix.readers.keepNone()
			_ = ix.ckptr.RestartIfDue(ix.write) // a failed restart is tried again when due
			ix.readers.keepAgain()
		} else {
			ix.readers.endStale()
		}
		if len(added) > 0 {
			for k, id := range added {
				ix.sets[k] = id
			}
			ix.setsGen.Add(1)
		}
	}()
	if _, err := tx.StmtContext(ctx, ix.stmts.putMeta).Exec(commitKey, strconv.FormatUint(commit, 10)); err != nil {
		return fmt.Errorf("write commit number: %w", err)
	}
	w := &writer{ix: ix, tx: tx, ctx: ctx, added: added, gen: commit - 1, done: map[string]bool{}}
	for _, ns := range b.DeleteNamespaces {
		if err := w.deleteNamespace(ns); err != nil {
			return err
		}
	}
	for _, id := range b.Delete {
		if err := w.delete(id); err != nil {
			return err
		}
	}
	for _, d := range b.Put {
		if err := w.put(d); err != nil {
			return err
		}
	}
	for k, v := range b.Meta {
		if _, err := tx.StmtContext(ctx, ix.stmts.putMeta).Exec(k, v); err != nil {
			return fmt.Errorf("write meta %q: %w", k, err)
		}
	}
	if err := w.counts.flush(w); err != nil {
		return err
	}
	for pid, deps := range b.PolicyDeps {
		if _, err := tx.ExecContext(ctx, `DELETE FROM policy_deps WHERE policy_id = ?`, pid); err != nil {
			return fmt.Errorf("write dependencies of policy %q: %w", pid, err)
		}
		for _, d := range deps {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO policy_deps(dep, policy_id) VALUES(?,?)`, d, pid); err != nil {
				return fmt.Errorf("write dependencies of policy %q: %w", pid, err)
			}
		}
	}
	return nil
}

// DependentPolicies returns the ids of the policies whose effective policy
// was last computed from policyID (Batch.PolicyDeps), sorted.
func (ix *Index) DependentPolicies(ctx context.Context, policyID string) ([]string, error) {
	out, err := ix.strings(ctx, `SELECT policy_id FROM policy_deps WHERE dep = ? ORDER BY policy_id`, policyID)
	if err != nil {
		return nil, fmt.Errorf("dependents of policy %q: %w", policyID, err)
	}
	return out, nil
}

// strings returns the first column of a read's rows, in a view.
func (ix *Index) strings(ctx context.Context, text string, args ...any) ([]string, error) {
	var out []string
	err := ix.inView(ctx, func(v *view) error {
		rows, err := v.query(ctx, text, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	return out, err
}

// writer is the state of one Write.
type writer struct {
	ix    *Index
	tx    *sql.Tx
	ctx   context.Context
	added map[string]int64 // sets created in this transaction
	gen   uint64           // Index.commits before this transaction
	done  map[string]bool  // things already written in this transaction
	// counts are the changes of the count tables this transaction makes.
	counts countDeltas
	// stmts are the write path's statements bound to tx (see stmt).
	stmts map[*sql.Stmt]*sql.Stmt
}

// stmt returns s bound to the write's transaction. Each binding is made
// once per write: Tx.StmtContext allocates and locks the connection every
// time, several times per changed thing.
func (w *writer) stmt(s *sql.Stmt) *sql.Stmt {
	if t, ok := w.stmts[s]; ok {
		return t
	}
	t := w.tx.StmtContext(w.ctx, s)
	if w.stmts == nil {
		w.stmts = map[*sql.Stmt]*sql.Stmt{}
	}
	w.stmts[s] = t
	return t
}

// setID interns a visibility key.
func (w *writer) setID(key string) (int64, error) {
	if id, ok := w.ix.sets[key]; ok {
		return id, nil
	}
	if id, ok := w.added[key]; ok {
		return id, nil
	}
	res, err := w.stmt(w.ix.stmts.insertSet).Exec(key)
	if err != nil {
		return 0, fmt.Errorf("insert visibility set: %w", err)
	}
	id, err := res.LastInsertId()
	if err != nil {
		return 0, err
	}
	members, err := setMembers(key)
	if err != nil {
		return 0, err
	}
	for _, s := range members {
		if _, err := w.stmt(w.ix.stmts.insertMember).Exec(s, id); err != nil {
			return 0, fmt.Errorf("insert visibility set member: %w", err)
		}
	}
	w.added[key] = id
	return id, nil
}

// setMembers returns the subjects a visibility key names.
func setMembers(key string) ([]string, error) {
	if rest, ok := strings.CutPrefix(key, leafKeyPrefix); ok {
		grants, err := enforcer.DecodeLeafKey(rest)
		if err != nil {
			return nil, err
		}
		out := make([]string, len(grants))
		for i, g := range grants {
			out[i] = g.Subject
		}
		return out, nil
	}
	v, err := jsonv.ParseString(strings.TrimPrefix(key, thingKeyPrefix))
	if err != nil {
		return nil, fmt.Errorf("visibility key %q: %w", key, err)
	}
	var out []string
	for _, el := range v.Elements() {
		s, _ := el.Str()
		out = append(out, s)
	}
	return out, nil
}

func (w *writer) delete(thingID string) error {
	w.done[thingID] = true
	var id, vis int64
	var ns string
	switch err := w.stmt(w.ix.stmts.thingByID).QueryRow(thingID).Scan(&id, &vis, &ns); {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return fmt.Errorf("look up thing %q: %w", thingID, err)
	}
	w.counts.thing(vis, ns, -1)
	if err := w.countThingLeaves(thingID, id); err != nil {
		return err
	}
	if _, err := w.stmt(w.ix.stmts.deleteLeaves).Exec(id); err != nil {
		return fmt.Errorf("delete leaves of %q: %w", thingID, err)
	}
	if _, err := w.stmt(w.ix.stmts.deleteThing).Exec(id); err != nil {
		return fmt.Errorf("delete thing %q: %w", thingID, err)
	}
	return nil
}

// deleteNamespace removes the things of namespace and their rows, through
// the things_ns and leaves_thing indexes.
func (w *writer) deleteNamespace(namespace string) error {
	if err := w.countNamespaceLeaves(namespace); err != nil {
		return err
	}
	if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM thing_counts WHERE namespace = ?`, namespace); err != nil {
		return fmt.Errorf("delete counts of namespace %q: %w", namespace, err)
	}
	if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM leaves WHERE thing IN (SELECT id FROM things WHERE namespace = ?)`, namespace); err != nil {
		return fmt.Errorf("delete leaves of namespace %q: %w", namespace, err)
	}
	if _, err := w.tx.ExecContext(w.ctx, `DELETE FROM things WHERE namespace = ?`, namespace); err != nil {
		return fmt.Errorf("delete things of namespace %q: %w", namespace, err)
	}
	return nil
}

// stored is a thing's row before a put: from d.Prev when that is still
// what the index holds, else read.
type stored struct {
	id, vis, tok int64
	policy       string
	doc          jsonv.Value
	docOK        bool // doc is the stored thing
}

func (w *writer) stored(d Doc) (stored, bool, error) {
	if p := d.Prev.stored; p != nil && p.gen == w.gen && d.Prev.ThingID == d.ThingID && !w.done[d.ThingID] {
		return stored{id: p.id, vis: p.vis, tok: p.tok, policy: d.Prev.PolicyID, doc: d.Prev.Thing, docOK: true}, true, nil
	}
	var st stored
	var doc string
	err := w.stmt(w.ix.stmts.thingForPut).QueryRow(d.ThingID).Scan(&st.id, &st.policy, &st.vis, &st.tok, &doc)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return stored{}, false, nil
	case err != nil:
		return stored{}, false, fmt.Errorf("look up thing %q: %w", d.ThingID, err)
	}
	st.doc, err = jsonv.ParseStoredString(doc)
	st.docOK = err == nil
	return st, true, nil
}

func (w *writer) put(d Doc) error {
	var prefixes []string
	ns := namespaceOf(d.ThingID)
	if w.ix.opt.IndexedFields != nil {
		prefixes = w.ix.opt.IndexedFields(ns)
	}
	if ovh := int64(thingOverhead(d.ThingID)); ovh > w.ix.maxOvh.Load() {
		w.ix.maxOvh.Store(ovh) // before commit: a larger bound is only slower
	}
	old, found, err := w.stored(d)
	if err != nil {
		return err
	}
	w.done[d.ThingID] = true
	doc := d.Thing.String()
	var modified any
	if v, ok := d.Thing.Get("_modified"); ok {
		if m, ok := jsonValue(v); ok {
			modified = m
		}
	}
	tok := accessToken(d, prefixes)
	if found && old.tok == tok && old.docOK {
		// The same access: the stored rows, and the thing's visibility
		// set, are what the stored thing gives with it; only the parts of
		// the thing that changed are flattened.
		if err := w.updateThing(d, old, old.vis, modified, tok, doc); err != nil {
			return err
		}
		return w.rewrite(d, old.id, old.doc, prefixes)
	}
	rows, thingVis := flatten(d, prefixes)
	visID, err := w.setID(thingVis)
	if err != nil {
		return err
	}
	// Intern the row keys and compute the new row set.
	want := make(map[string]newRow, len(rows))
	for _, r := range rows {
		id, err := w.setID(r.vis)
		if err != nil {
			return err
		}
		want[rowKey(r.path, id, r.value, r.flags)] = newRow{r, id}
	}
	thing := old.id
	if !found {
		res, err := w.stmt(w.ix.stmts.insertThing).Exec(d.ThingID, ns, d.PolicyID, d.Revision, modified, visID, tok, thingOverhead(d.ThingID), doc)
		if err != nil {
			return fmt.Errorf("insert thing %q: %w", d.ThingID, err)
		}
		if thing, err = res.LastInsertId(); err != nil {
			return err
		}
		w.counts.thing(visID, ns, 1)
		return w.insertRows(d.ThingID, thing, want)
	}
	if err := w.updateThing(d, old, visID, modified, tok, doc); err != nil {
		return err
	}
	// Other access: the stored rows are read and compared.
	w.ix.rowReads.Add(1)
	rs, err := w.stmt(w.ix.stmts.leavesOf).Query(thing)
	if err != nil {
		return fmt.Errorf("read leaves of %q: %w", d.ThingID, err)
	}
	type oldRow struct {
		path  string
		vis   int64
		value any
	}
	var gone []oldRow
	for rs.Next() {
		var r oldRow
		var flags int64
		if err := rs.Scan(&r.path, &r.vis, &r.value, &flags); err != nil {
			_ = rs.Close()
			return fmt.Errorf("read leaves of %q: %w", d.ThingID, err)
		}
		if b, ok := r.value.([]byte); ok && b == nil {
			// The driver reads the empty blob (JSON null) back as a nil
			// slice, which it would bind as SQL NULL: the row's delete
			// would match nothing.
			r.value = blobNull
		}
		k := rowKey(r.path, r.vis, r.value, flags)
		if _, ok := want[k]; ok {
			delete(want, k) // unchanged
			continue
		}
		gone = append(gone, r)
	}
	if err := rs.Err(); err != nil {
		return fmt.Errorf("read leaves of %q: %w", d.ThingID, err)
	}
	for _, r := range gone {
		res, err := w.stmt(w.ix.stmts.deleteLeaf).Exec(r.path, r.vis, r.value, thing)
		if err == nil {
			err = w.countLeaf(res, r.path, r.vis, r.value, -1)
		}
		if err != nil {
			return fmt.Errorf("delete leaf of %q: %w", d.ThingID, err)
		}
	}
	return w.insertRows(d.ThingID, thing, want)
}

// updateThing rewrites a thing's row; its indexed columns only when they
// changed.
func (w *writer) updateThing(d Doc, old stored, visID int64, modified any, tok int64, doc string) error {
	var err error
	if old.policy == d.PolicyID && old.vis == visID {
		_, err = w.stmt(w.ix.stmts.updateThingDoc).Exec(d.Revision, modified, tok, doc, old.id)
	} else {
		_, err = w.stmt(w.ix.stmts.updateThing).Exec(d.PolicyID, d.Revision, modified, visID, tok, doc, old.id)
		if old.vis != visID {
			ns := namespaceOf(d.ThingID)
			w.counts.thing(old.vis, ns, -1)
			w.counts.thing(visID, ns, 1)
		}
	}
	if err != nil {
		return fmt.Errorf("update thing %q: %w", d.ThingID, err)
	}
	return nil
}

// insertRows inserts the rows of a thing that it did not have.
func (w *writer) insertRows(thingID string, thing int64, rows map[string]newRow) error {
	ins := w.stmt(w.ix.stmts.insertLeaf)
	for _, r := range rows {
		res, err := ins.Exec(r.path, r.vis, r.value, thing, r.flags)
		if err == nil {
			err = w.countLeaf(res, r.path, r.vis, r.value, 1)
		}
		if err != nil {
			return fmt.Errorf("insert leaf of %q: %w", thingID, err)
		}
	}
	return nil
}

// newRow is a row of a thing's new state with its interned visibility.
type newRow struct {
	row
	vis int64
}

// rewrite writes the difference between the rows of prev and of d, both
// under d's access (so the rows of a part that did not change are the
// same, and only changed parts are flattened).
func (w *writer) rewrite(d Doc, thing int64, prev jsonv.Value, prefixes []string) error {
	gone, added := diffRows(Doc{ThingID: d.ThingID, Thing: prev, Access: d.Access}, d, prefixes)
	for _, r := range gone {
		id, err := w.setID(r.vis)
		if err != nil {
			return err
		}
		res, err := w.stmt(w.ix.stmts.deleteLeaf).Exec(r.path, id, r.value, thing)
		if err == nil {
			err = w.countLeaf(res, r.path, id, r.value, -1)
		}
		if err != nil {
			return fmt.Errorf("delete leaf of %q: %w", d.ThingID, err)
		}
	}
	ins := w.stmt(w.ix.stmts.insertLeaf)
	for _, r := range added {
		id, err := w.setID(r.vis)
		if err != nil {
			return err
		}
		res, err := ins.Exec(r.path, id, r.value, thing, r.flags)
		if err == nil {
			err = w.countLeaf(res, r.path, id, r.value, 1)
		}
		if err != nil {
			return fmt.Errorf("insert leaf of %q: %w", d.ThingID, err)
		}
	}
	return nil
}

// accessToken names what a thing's rows were computed with besides the
// thing: who may read what (the Readers' fingerprint, the same in every
// process) and which fields of its namespace are indexed. A later write with
// the same token computes the stored rows from the stored thing instead of
// reading them, also after a restart; any other token reads them.
func accessToken(d Doc, prefixes []string) int64 {
	h := fnv.New64a()
	if d.Access == nil {
		_, _ = h.Write([]byte("nobody"))
	} else {
		_, _ = fmt.Fprintf(h, "%016x", d.Access.Fingerprint())
	}
	if prefixes == nil {
		_, _ = h.Write([]byte("\x00*"))
	}
	for _, p := range prefixes {
		_, _ = h.Write([]byte("\x00/" + p))
	}
	return int64(h.Sum64() >> 1)
}

// Get returns the indexed thing with id thingID.
func (ix *Index) Get(ctx context.Context, thingID string) (Entry, bool, error) {
	var e Entry
	var doc string
	err := ix.inView(ctx, func(v *view) error {
		return v.queryRow(ctx, `SELECT thing_id, policy_id, revision, doc FROM things WHERE thing_id = ?`, thingID).
			Scan(&e.ThingID, &e.PolicyID, &e.Revision, &doc)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Entry{}, false, nil
	case err != nil:
		return Entry{}, false, fmt.Errorf("get thing %q: %w", thingID, err)
	}
	if e.Thing, err = jsonv.ParseStoredString(doc); err != nil {
		return Entry{}, false, fmt.Errorf("get thing %q: %w", thingID, err)
	}
	return e, true, nil
}

// GetMany returns the indexed things among ids, by id. It reads through the
// writer's connection: it is meant for the index's writer, whose page cache
// stays valid while it writes (a reader's is reloaded after every commit).
func (ix *Index) GetMany(ctx context.Context, ids []string) (map[string]Entry, error) {
	out := make(map[string]Entry, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	ix.wmu.Lock()
	defer ix.wmu.Unlock()
	gen := ix.commits.Load()
	for chunk := range slices.Chunk(ids, 500) {
		var sb strings.Builder
		sb.WriteString(`SELECT id, vis, acc, thing_id, policy_id, revision, doc FROM things WHERE thing_id IN (`)
		args := make([]any, len(chunk))
		for i, id := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteByte('?')
			args[i] = id
		}
		sb.WriteByte(')')
		rows, err := ix.write.QueryContext(ctx, sb.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("get things: %w", err)
		}
		for rows.Next() {
			e := Entry{stored: &storedRow{gen: gen}}
			var doc string // a TEXT column: the driver's string, shared by the parse
			if err := rows.Scan(&e.stored.id, &e.stored.vis, &e.stored.tok, &e.ThingID, &e.PolicyID, &e.Revision, &doc); err != nil {
				rows.Close()
				return nil, fmt.Errorf("get things: %w", err)
			}
			if e.Thing, err = jsonv.ParseStoredString(doc); err != nil {
				rows.Close()
				return nil, fmt.Errorf("get thing %q: %w", e.ThingID, err)
			}
			out[e.ThingID] = e
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("get things: %w", err)
		}
	}
	return out, nil
}

// Meta returns the value stored under key.
func (ix *Index) Meta(ctx context.Context, key string) (string, bool, error) {
	var v string
	err := ix.inView(ctx, func(vw *view) error {
		return vw.queryRow(ctx, `SELECT value FROM meta WHERE key = ?`, key).Scan(&v)
	})
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return "", false, nil
	case err != nil:
		return "", false, fmt.Errorf("read meta %q: %w", key, err)
	}
	return v, true, nil
}

// ThingsOfPolicy returns the ids of the things governed by policyID, sorted.
func (ix *Index) ThingsOfPolicy(ctx context.Context, policyID string) ([]string, error) {
	out, err := ix.strings(ctx, `SELECT thing_id FROM things WHERE policy_id = ? ORDER BY thing_id`, policyID)
	if err != nil {
		return nil, fmt.Errorf("things of policy %q: %w", policyID, err)
	}
	return out, nil
}

// Walk returns up to limit things with ids after after, ascending, with
// their revision and policy but without the thing JSON: what a background
// sync compares with the things service.
func (ix *Index) Walk(ctx context.Context, after string, limit int) ([]Entry, error) {
	var out []Entry
	err := ix.inView(ctx, func(v *view) error {
		rows, err := v.query(ctx, `SELECT thing_id, policy_id, revision FROM things WHERE thing_id > ? ORDER BY thing_id LIMIT ?`, after, limit)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e Entry
			if err := rows.Scan(&e.ThingID, &e.PolicyID, &e.Revision); err != nil {
				return err
			}
			out = append(out, e)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("walk index: %w", err)
	}
	return out, nil
}

// Len returns the number of things indexed.
func (ix *Index) Len(ctx context.Context) (int64, error) {
	var n int64
	if err := ix.inView(ctx, func(v *view) error {
		return v.queryRow(ctx, `SELECT count(*) FROM things`).Scan(&n)
	}); err != nil {
		return 0, fmt.Errorf("count index: %w", err)
	}
	return n, nil
}
