package sqlitestore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/dittonats/dittonats/services/internal/journal"
)

// Synchronous is SQLite's synchronous setting for the write connection.
type Synchronous string

const (
	// SyncFull syncs the WAL on every commit: an Append that returned nil
	// survives power loss. The default.
	SyncFull Synchronous = "FULL"
	// SyncNormal syncs only at checkpoints: a process crash loses nothing, a
	// power loss may lose the last commits but never corrupts the file.
	SyncNormal Synchronous = "NORMAL"
	// SyncOff never syncs; for tests and throw-away data only.
	SyncOff Synchronous = "OFF"
)

// Options tune a Store; the zero value gives the defaults.
type Options struct {
	// Synchronous defaults to SyncFull.
	Synchronous Synchronous
	// BusyTimeout is how long a statement waits for a lock another process
	// holds on the file. Default 5s.
	BusyTimeout time.Duration
	// MaxBatch bounds how many writes one transaction commits. Default 1000.
	MaxBatch int
	// ReadConns is the size of the read connection pool. Default
	// max(4, GOMAXPROCS).
	ReadConns int
}

func (o Options) withDefaults() (dbOptions, error) {
	d := dbOptions{
		synchronous: string(o.Synchronous),
		busyTimeout: o.BusyTimeout,
		maxBatch:    o.MaxBatch,
		readConns:   o.ReadConns,
	}
	var errs []error
	switch o.Synchronous {
	case "":
		d.synchronous = string(SyncFull)
	case SyncFull, SyncNormal, SyncOff:
	default:
		errs = append(errs, fmt.Errorf("synchronous %q: want FULL, NORMAL or OFF", o.Synchronous))
	}
	switch {
	case o.BusyTimeout == 0:
		d.busyTimeout = 5 * time.Second
	case o.BusyTimeout < time.Millisecond:
		errs = append(errs, fmt.Errorf("busy timeout %v: want at least 1ms", o.BusyTimeout))
	}
	switch {
	case o.MaxBatch == 0:
		d.maxBatch = 1000
	case o.MaxBatch < 0:
		errs = append(errs, fmt.Errorf("max batch %d: want at least 1", o.MaxBatch))
	}
	switch {
	case o.ReadConns == 0:
		d.readConns = max(4, runtime.GOMAXPROCS(0))
	case o.ReadConns < 0:
		errs = append(errs, fmt.Errorf("read connections %d: want at least 1", o.ReadConns))
	}
	return d, errors.Join(errs...)
}

// Store is the embedded journal store: one SQLite file holding every journal's
// tables. It implements journal.Store.
type Store struct {
	db *db

	// mu guards journals; it is held while a journal's tables are created so
	// that concurrent first calls create them once.
	mu       sync.Mutex
	journals map[string]*sqliteJournal
}

var _ journal.Store = (*Store)(nil)

// Open opens the SQLite file at path, creating it and its directory if needed.
// The Store must be closed to flush pending writes.
func Open(path string, opts Options) (*Store, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("sqlite store options: %w", err)
	}
	d, err := openDB(path, o)
	if err != nil {
		return nil, err
	}
	return &Store{db: d, journals: make(map[string]*sqliteJournal)}, nil
}

// Stats counts the store's committed write transactions and the writes
// (appends, snapshots, schema changes) they held: Writes/Batches is the mean
// group-commit batch size.
type Stats struct {
	Batches uint64
	Writes  uint64
}

// Stats returns the counters since Open.
func (s *Store) Stats() Stats {
	return Stats{Batches: s.db.batches.Load(), Writes: s.db.ops.Load()}
}

// Close flushes pending writes, then closes the file. It is idempotent.
func (s *Store) Close() error {
	return s.db.close()
}

// Journal returns the journal called name, creating its tables on first use.
func (s *Store) Journal(name string) (journal.Journal, error) {
	if err := journal.CheckName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if j, ok := s.journals[name]; ok {
		return j, nil
	}
	j, err := newJournal(s.db, name)
	if err != nil {
		return nil, err
	}
	s.journals[name] = j
	return j, nil
}

// schema creates a journal's tables: ordinary rowid tables with a unique
// (pid, sn) key. A WITHOUT ROWID table keyed (pid, sn) was measured at 60% of
// the append rate with ~600 B events: SQLite packs rows that large poorly into
// the key's B-tree, while a rowid table appends them at its end and only the
// small index takes the random inserts. Nothing else is indexed: every
// further random index costs each append a random page write. The ts index
// is the exception that pays: timestamps grow with the rowid, so its
// inserts land on its last page (measured: appends of 100k things' events
// at 64 writers, 31.5k/s without it, 28.8k/s with it), and it lets
// EventsSince read only recent events. (Databases of earlier versions had
// a (pid, ts) index, dropped here.)
const schema = `
CREATE TABLE IF NOT EXISTS %[1]s (
	pid     TEXT    NOT NULL,
	sn      INTEGER NOT NULL,
	ts      INTEGER NOT NULL, -- milliseconds since the Unix epoch
	event   BLOB    NOT NULL,
	headers TEXT,             -- JSON object, NULL when there are none
	UNIQUE (pid, sn)
);
DROP INDEX IF EXISTS %[1]s_pid_ts;
CREATE INDEX IF NOT EXISTS %[1]s_ts ON %[1]s (ts);
CREATE TABLE IF NOT EXISTS %[2]s (
	pid     TEXT    NOT NULL,
	sn      INTEGER NOT NULL,
	ts      INTEGER NOT NULL,
	payload BLOB    NOT NULL,
	deleted INTEGER NOT NULL DEFAULT 0,
	UNIQUE (pid, sn)
);
`

// sqliteJournal implements journal.Journal on two tables of the Store's file.
type sqliteJournal struct {
	db *db
	// Writes run on the writer's single connection, reads on the read pool.
	insertEvent, upsertSnap     *sql.Stmt
	events, highest, latestSnap *sql.Stmt
	since, pids                 *sql.Stmt
	snAt                        *sql.Stmt
	// purgeEvents and purgeSnaps delete one chunk of a pid range.
	purgeEvents, purgeSnaps *sql.Stmt
	// cleanup serves background cleanup (cleanup.go).
	cleanup cleanupStmts
}

func newJournal(d *db, name string) (*sqliteJournal, error) {
	jt, st := journal.JournalTable(name), journal.SnapshotTable(name)
	err := d.exec(context.Background(), func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, fmt.Sprintf(schema, jt, st))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("create tables of journal %s: %w", name, err)
	}
	j := &sqliteJournal{db: d}
	stmts := []struct {
		dst  **sql.Stmt
		pool *sql.DB
		sql  string
	}{
		// ON CONFLICT DO NOTHING, unlike INSERT OR IGNORE, still fails on a
		// NOT NULL violation instead of passing it off as a conflict.
		{&j.insertEvent, d.write, `INSERT INTO ` + jt + ` (pid, sn, ts, event, headers) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (pid, sn) DO NOTHING`},
		{&j.upsertSnap, d.write, `INSERT INTO ` + st + ` (pid, sn, ts, payload, deleted) VALUES (?, ?, ?, ?, ?)
			ON CONFLICT (pid, sn) DO UPDATE SET ts = excluded.ts, payload = excluded.payload, deleted = excluded.deleted`},
		{&j.events, d.read, `SELECT sn, ts, event, headers FROM ` + jt + ` WHERE pid = ? AND sn BETWEEN ? AND ? ORDER BY sn`},
		{&j.highest, d.read, `SELECT COALESCE(MAX(sn), 0) FROM (
			SELECT MAX(sn) AS sn FROM ` + jt + ` WHERE pid = ?1
			UNION ALL
			SELECT MAX(sn) FROM ` + st + ` WHERE pid = ?1)`},
		{&j.since, d.read, `SELECT pid, sn, ts FROM ` + jt + ` WHERE ts >= ?`},
		// Walks pid's (pid, sn) key down from its highest sn to the first
		// event at or before the time; +ts keeps the planner off the ts
		// index, which would visit every entity's events before the time.
		{&j.snAt, d.read, `SELECT sn FROM ` + jt + ` WHERE pid = ? AND +ts <= ? ORDER BY sn DESC LIMIT 1`},
		// Both halves walk their (pid, sn) index from after on.
		{&j.pids, d.read, `SELECT pid FROM (SELECT DISTINCT pid FROM ` + jt + ` WHERE pid > ?1 ORDER BY pid LIMIT ?2)
			UNION SELECT pid FROM (SELECT DISTINCT pid FROM ` + st + ` WHERE pid > ?1 ORDER BY pid LIMIT ?2)
			ORDER BY pid LIMIT ?2`},
		{&j.latestSnap, d.read, `SELECT sn, ts, payload, deleted FROM ` + st + ` WHERE pid = ? AND sn <= ? ORDER BY sn DESC LIMIT 1`},
		// The range walks the (pid, sn) index; LIMIT bounds one chunk.
		{&j.purgeEvents, d.write, `DELETE FROM ` + jt + ` WHERE rowid IN (SELECT rowid FROM ` + jt + ` WHERE pid >= ?1 AND pid < ?2 LIMIT ?3)`},
		{&j.purgeSnaps, d.write, `DELETE FROM ` + st + ` WHERE rowid IN (SELECT rowid FROM ` + st + ` WHERE pid >= ?1 AND pid < ?2 LIMIT ?3)`},
	}
	for _, s := range stmts {
		stmt, err := d.prepare(s.pool, s.sql)
		if err != nil {
			return nil, fmt.Errorf("prepare statement of journal %s: %w", name, err)
		}
		*s.dst = stmt
	}
	if err := j.cleanup.prepare(d, jt, st); err != nil {
		return nil, fmt.Errorf("prepare statement of journal %s: %w", name, err)
	}
	return j, nil
}

// Append implements journal.Journal.
func (j *sqliteJournal) Append(ctx context.Context, e journal.Event) error {
	if err := e.Check(); err != nil {
		return err
	}
	var headers sql.NullString
	if len(e.Headers) > 0 {
		b, err := json.Marshal(e.Headers)
		if err != nil {
			return fmt.Errorf("encode headers of %s/%d: %w", e.PID, e.SN, err)
		}
		headers = sql.NullString{String: string(b), Valid: true}
	}
	payload := nonNil(e.Payload)
	ts := e.Timestamp.UnixMilli()
	err := j.db.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, j.insertEvent).ExecContext(ctx, e.PID, e.SN, ts, payload, headers)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		if err != nil {
			return err
		}
		if n == 0 {
			return reject(journal.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("append %s/%d: %w", e.PID, e.SN, err)
	}
	return nil
}

// SaveSnapshot implements journal.Journal.
func (j *sqliteJournal) SaveSnapshot(ctx context.Context, s journal.Snapshot) error {
	if err := s.Check(); err != nil {
		return err
	}
	payload := nonNil(s.Payload)
	ts := s.Timestamp.UnixMilli()
	err := j.db.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.StmtContext(ctx, j.upsertSnap).ExecContext(ctx, s.PID, s.SN, ts, payload, s.Deleted)
		return err
	})
	if err != nil {
		return fmt.Errorf("save snapshot %s/%d: %w", s.PID, s.SN, err)
	}
	return nil
}

// Events implements journal.Journal.
func (j *sqliteJournal) Events(ctx context.Context, pid string, fromSN, toSN int64) ([]journal.Event, error) {
	if j.db.isClosed() {
		return nil, journal.ErrClosed
	}
	rows, err := j.events.QueryContext(ctx, pid, fromSN, toSN)
	if err != nil {
		return nil, j.readErr(err, "read events of %s", pid)
	}
	defer rows.Close()
	var out []journal.Event
	for rows.Next() {
		e := journal.Event{PID: pid}
		var ts int64
		var headers sql.NullString
		if err := rows.Scan(&e.SN, &ts, &e.Payload, &headers); err != nil {
			return nil, j.readErr(err, "read events of %s", pid)
		}
		e.Timestamp = time.UnixMilli(ts).UTC()
		if headers.Valid {
			if err := json.Unmarshal([]byte(headers.String), &e.Headers); err != nil {
				return nil, fmt.Errorf("decode headers of %s/%d: %w", pid, e.SN, err)
			}
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, j.readErr(err, "read events of %s", pid)
	}
	return out, nil
}

// PIDs implements journal.Journal.
func (j *sqliteJournal) PIDs(ctx context.Context, after string, limit int) ([]string, error) {
	if j.db.isClosed() {
		return nil, journal.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := j.pids.QueryContext(ctx, after, limit)
	if err != nil {
		return nil, j.readErr(err, "list pids after %q", after)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var pid string
		if err := rows.Scan(&pid); err != nil {
			return nil, j.readErr(err, "list pids after %q", after)
		}
		out = append(out, pid)
	}
	if err := rows.Err(); err != nil {
		return nil, j.readErr(err, "list pids after %q", after)
	}
	return out, nil
}

// EventsSince implements journal.Journal.
func (j *sqliteJournal) EventsSince(ctx context.Context, since time.Time, fn func(journal.EventRef) error) error {
	if j.db.isClosed() {
		return journal.ErrClosed
	}
	rows, err := j.since.QueryContext(ctx, since.UnixMilli())
	if err != nil {
		return j.readErr(err, "read events since %s", since)
	}
	defer rows.Close()
	for rows.Next() {
		var ref journal.EventRef
		var ts int64
		if err := rows.Scan(&ref.PID, &ref.SN, &ts); err != nil {
			return j.readErr(err, "read events since %s", since)
		}
		ref.Timestamp = time.UnixMilli(ts).UTC()
		if err := fn(ref); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return j.readErr(err, "read events since %s", since)
	}
	return nil
}

// HighestSN implements journal.Journal.
func (j *sqliteJournal) HighestSN(ctx context.Context, pid string) (int64, error) {
	if j.db.isClosed() {
		return 0, journal.ErrClosed
	}
	var sn int64
	if err := j.highest.QueryRowContext(ctx, pid).Scan(&sn); err != nil {
		return 0, j.readErr(err, "read highest sn of %s", pid)
	}
	return sn, nil
}

// SNAt implements journal.Journal.
func (j *sqliteJournal) SNAt(ctx context.Context, pid string, at time.Time) (int64, error) {
	if j.db.isClosed() {
		return 0, journal.ErrClosed
	}
	var sn int64
	err := j.snAt.QueryRowContext(ctx, pid, at.UnixMilli()).Scan(&sn)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, j.readErr(err, "read sn of %s at %s", pid, at)
	}
	return sn, nil
}

// LatestSnapshot implements journal.Journal.
func (j *sqliteJournal) LatestSnapshot(ctx context.Context, pid string, maxSN int64) (journal.Snapshot, bool, error) {
	if j.db.isClosed() {
		return journal.Snapshot{}, false, journal.ErrClosed
	}
	s := journal.Snapshot{PID: pid}
	var ts int64
	err := j.latestSnap.QueryRowContext(ctx, pid, maxSN).Scan(&s.SN, &ts, &s.Payload, &s.Deleted)
	if errors.Is(err, sql.ErrNoRows) {
		return journal.Snapshot{}, false, nil
	}
	if err != nil {
		return journal.Snapshot{}, false, j.readErr(err, "read snapshot of %s", pid)
	}
	s.Timestamp = time.UnixMilli(ts).UTC()
	return s, true, nil
}

// purgeChunk bounds the rows one write request of PurgeNamespace deletes:
// each chunk is one request in the writer's queue, so appends of other
// entities commit between chunks instead of waiting for the whole
// namespace.
const purgeChunk = 1000

// PurgeNamespace implements journal.Journal: it deletes the namespace's
// rows chunk by chunk, events first, then snapshots (so that no entity is
// left with events but without the snapshot they follow).
func (j *sqliteJournal) PurgeNamespace(ctx context.Context, kind, namespace string) error {
	if err := journal.CheckNamespace(kind, namespace); err != nil {
		return err
	}
	from := journal.NamespacePrefix(kind, namespace)
	to := journal.PrefixEnd(from)
	for _, stmt := range []*sql.Stmt{j.purgeEvents, j.purgeSnaps} {
		for {
			var n int64
			err := j.db.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
				res, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, from, to, purgeChunk)
				if err != nil {
					return err
				}
				n, err = res.RowsAffected()
				return err
			})
			if err != nil {
				return fmt.Errorf("purge namespace %q of %s: %w", namespace, kind, err)
			}
			if n < purgeChunk {
				break
			}
		}
	}
	return nil
}

// readErr wraps a read error, reporting journal.ErrClosed when the store was
// closed under the read.
func (j *sqliteJournal) readErr(err error, format string, args ...any) error {
	if j.db.isClosed() {
		err = errors.Join(journal.ErrClosed, err)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// nonNil keeps an empty payload an empty BLOB: a nil slice would bind as NULL.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
