package sqlitestore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/sqlitewal"
)

// db is one SQLite file opened for group commit: a single write connection
// owned by the writer goroutine, which commits every pending write request in
// one transaction, and a pool of read connections that WAL lets run beside it.
// It knows nothing about journals, so other tables in the same file (the
// search index) can share the writer.
type db struct {
	path string
	// write has exactly one connection; only the writer goroutine uses it.
	write *sql.DB
	// read is the pool of query_only connections.
	read *sql.DB
	// ckpt is the checkpointer's connection, ckptr the checkpointer
	// (sqlitewal): appends never wait for a checkpoint.
	ckpt     *sql.DB
	ckptr    *sqlitewal.Checkpointer
	maxBatch int

	// mu guards closed, stmts and every send on reqs, so that close can
	// close reqs without racing a sender. Senders hold it shared.
	mu     sync.RWMutex
	closed bool
	reqs   chan *request
	// stmts are the prepared statements to close once the writer is done.
	stmts []*sql.Stmt
	// writerDone is closed when the writer goroutine has drained reqs and exited.
	writerDone chan struct{}

	batches atomic.Uint64 // transactions committed
	ops     atomic.Uint64 // requests committed in them
}

// request is one unit of work for the writer: fn runs inside the batch's
// transaction. fn must leave the transaction untouched when it fails with a
// rejection (see reject); any other error rolls the batch back. fn may run
// twice (a failed batch is retried one request at a time), so it must have no
// effect outside tx.
type request struct {
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error // buffered: the writer never blocks on it
	// abandoned is set by a caller that stopped waiting before the writer
	// reached the request; the writer then skips it.
	abandoned atomic.Bool
}

// rejection is a request's own failure that leaves the batch's transaction
// intact, such as an INSERT ... ON CONFLICT DO NOTHING finding the key taken.
type rejection struct{ err error }

func (r rejection) Error() string { return r.err.Error() }
func (r rejection) Unwrap() error { return r.err }

// reject marks err as failing only its own request: the other requests of the
// batch still commit.
func reject(err error) error { return rejection{err} }

// dbOptions are the settings of a db; Options holds their public form.
type dbOptions struct {
	synchronous string
	busyTimeout time.Duration
	maxBatch    int
	readConns   int
}

// openDB opens (creating if needed) the SQLite file at path in WAL mode and
// starts its writer goroutine; close stops it.
func openDB(path string, o dbOptions) (*db, error) {
	if path == "" || strings.ContainsAny(path, "?#") {
		return nil, fmt.Errorf("sqlite path %q: must be non-empty without '?' or '#'", path)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create directory of %s: %w", path, err)
	}
	pragmas := func(extra ...string) string {
		return sqlitewal.DSN(path, append([]string{fmt.Sprintf("busy_timeout(%d)", o.busyTimeout.Milliseconds())}, extra...)...)
	}
	if err := sqlitewal.Register(); err != nil {
		return nil, err
	}

	// BEGIN IMMEDIATE takes the write lock up front, so a transaction never
	// fails half-way for want of it when another process writes the file.
	// Checkpoints run on their own connection (see sqlitewal): done by
	// the committing connection they would stall every append behind them.
	write, err := sql.Open("sqlite", pragmas("journal_mode(WAL)", "synchronous("+o.synchronous+")", "wal_autocheckpoint(0)")+"&_txlock=immediate")
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	write.SetMaxOpenConns(1)
	write.SetMaxIdleConns(1)
	write.SetConnMaxLifetime(0)
	write.SetConnMaxIdleTime(0)
	// Connect now: the first connection switches the file to WAL before any
	// reader opens it.
	if err := write.Ping(); err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("open %s: %w", path, err)
	}

	read, err := sql.Open("sqlite", pragmas("query_only(1)"))
	if err != nil {
		_ = write.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	read.SetMaxOpenConns(o.readConns)
	read.SetMaxIdleConns(o.readConns)
	read.SetConnMaxIdleTime(0)

	ckpt, err := sql.Open("sqlite", pragmas("synchronous("+o.synchronous+")"))
	if err != nil {
		_ = write.Close()
		_ = read.Close()
		return nil, fmt.Errorf("open %s for checkpoints: %w", path, err)
	}
	ckpt.SetMaxOpenConns(1)

	d := &db{
		path:       path,
		write:      write,
		read:       read,
		ckpt:       ckpt,
		maxBatch:   o.maxBatch,
		reqs:       make(chan *request, 4*o.maxBatch),
		writerDone: make(chan struct{}),
		// The store keeps SQLite's default page size.
		ckptr: sqlitewal.Start(ckpt, 4096, sqlitewal.Interval),
	}
	go d.runWriter()
	return d, nil
}

// exec runs fn in the writer's next batch and returns its result once the
// batch has committed (or failed). A rejection from fn comes back unwrapped.
func (d *db) exec(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &request{fn: fn, done: make(chan error, 1)}
	if err := d.enqueue(ctx, r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		return err
	case <-ctx.Done():
		r.abandoned.Store(true)
		return ctx.Err()
	}
}

func (d *db) enqueue(ctx context.Context, r *request) error {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return journal.ErrClosed
	}
	// A full queue blocks: that is the back pressure on writers. Close waits
	// for the lock meanwhile, and the writer keeps draining, so this ends.
	select {
	case d.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// prepare prepares query on pool (d.read or d.write) and closes the statement
// with d.
func (d *db) prepare(pool *sql.DB, query string) (*sql.Stmt, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, journal.ErrClosed
	}
	stmt, err := pool.Prepare(query)
	if err != nil {
		return nil, err
	}
	d.stmts = append(d.stmts, stmt)
	return stmt, nil
}

// isClosed lets readers fail fast with journal.ErrClosed rather than with
// database/sql's own error after close.
func (d *db) isClosed() bool {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.closed
}

// close refuses new requests, waits for the writer to commit everything
// already queued, then closes both pools. It is idempotent.
func (d *db) close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil
	}
	d.closed = true
	close(d.reqs)
	d.mu.Unlock()

	<-d.writerDone
	d.ckptr.Stop()
	var errs []error
	for _, s := range d.stmts {
		errs = append(errs, s.Close())
	}
	// Leave the database file complete and the WAL empty.
	if _, err := d.ckpt.Exec("PRAGMA wal_checkpoint(TRUNCATE)"); err != nil {
		errs = append(errs, fmt.Errorf("final checkpoint: %w", err))
	}
	errs = append(errs, d.read.Close(), d.ckpt.Close(), d.write.Close())
	return errors.Join(errs...)
}

// runWriter is the writer goroutine: it owns the write connection and exits
// when reqs is closed and drained.
func (d *db) runWriter() {
	defer close(d.writerDone)
	batch := make([]*request, 0, d.maxBatch)
	for r := range d.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < d.maxBatch {
			select {
			case r, ok := <-d.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		d.commit(batch)
		clear(batch)
		_ = d.ckptr.RestartIfDue(d.write) // a failed restart is tried again when due
	}
}

// commit runs batch in one transaction and answers every request. If the
// transaction fails as a whole, each request is retried in a transaction of
// its own, so one bad request cannot fail the others.
func (d *db) commit(batch []*request) {
	live := batch[:0:0]
	for _, r := range batch {
		if !r.abandoned.Load() {
			live = append(live, r)
		}
	}
	if len(live) == 0 {
		return
	}
	results := make([]error, len(live))
	if err := d.transact(live, results); err != nil {
		if len(live) == 1 {
			results[0] = err
		} else {
			for i, r := range live {
				if err := d.transact([]*request{r}, results[i:i+1]); err != nil {
					results[i] = err
				}
			}
		}
	}
	for i, r := range live {
		r.done <- results[i]
	}
}

// transact runs reqs in one transaction, storing each request's own result in
// results. It returns an error when the transaction did not commit; results
// are then meaningless.
func (d *db) transact(reqs []*request, results []error) error {
	// The writer's work is bounded by busy_timeout, not by any caller's ctx:
	// one caller giving up must not abort the others' batch.
	ctx := context.Background()
	tx, err := d.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	for i, r := range reqs {
		err := r.fn(ctx, tx)
		var rej rejection
		switch {
		case errors.As(err, &rej):
			results[i] = rej.err
		case err != nil:
			_ = tx.Rollback()
			return err
		default:
			results[i] = nil
		}
	}
	if err := tx.Commit(); err != nil {
		// A failed COMMIT can leave SQLite inside the transaction; end it so
		// the next BEGIN works. There is only one connection, so this is it.
		_, _ = d.write.ExecContext(ctx, "ROLLBACK")
		return fmt.Errorf("commit: %w", err)
	}
	d.batches.Add(1)
	d.ops.Add(uint64(len(reqs)))
	return nil
}
