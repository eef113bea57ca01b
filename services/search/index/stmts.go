package index

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Prepared read statements by their SQL text. Queries of one shape (the
// same filter structure, sort and visibility sets) have the same text with
// different arguments, and preparing is a third of a short query's cost.
type stmtCache struct {
	m sync.Map // string -> *sql.Stmt
	n atomic.Int64
	// preparing holds the texts being prepared in the background (see
	// view.cached).
	preparing sync.Map
	// background counts those preparations, which Close waits for: one
	// still opening a connection after the files were closed would make
	// them again. closed (under mu) lets none start after Close.
	mu         sync.Mutex
	closed     bool
	background sync.WaitGroup
}

// goPrepare runs prepare in the background unless the index is closed.
func (c *stmtCache) goPrepare(prepare func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.background.Add(1)
	go func() {
		defer c.background.Done()
		prepare()
	}()
	return true
}

// close lets no preparation start and waits for those running.
func (c *stmtCache) close() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.background.Wait()
}

// maxCachedStmts bounds the cache. Statements are never evicted (one in
// use must not be closed); texts beyond the bound are prepared per query.
const maxCachedStmts = 512

// stmt returns the cached statement of text, or nil when the cache is full.
func (ix *Index) stmt(ctx context.Context, text string) (*sql.Stmt, error) {
	if s, ok := ix.stmts2.m.Load(text); ok {
		return s.(*sql.Stmt), nil
	}
	if ix.stmts2.n.Load() >= maxCachedStmts {
		return nil, nil
	}
	s, err := ix.read.PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	if prev, loaded := ix.stmts2.m.LoadOrStore(text, s); loaded {
		_ = s.Close()
		return prev.(*sql.Stmt), nil
	}
	ix.stmts2.n.Add(1)
	return s, nil
}

type rowScanner interface{ Scan(dest ...any) error }

// view is one reading of the index: a Count's or Query's, or one of the
// Index's lookups. Its statements run in one read transaction, so they all
// see the state of one commit: a page is computed from candidates read by
// one statement and checked by the next (the sorted and thingId-ordered
// walks), and a writer committing between the two would otherwise make a
// candidate vanish or change under the check. In WAL mode the read
// transaction does not hold up the writer.
type view struct {
	*Index
	conn *sql.Conn
	tx   *sql.Tx
	// gen is the number of the last commit the view's state holds (see
	// Index.commits): answers remembered for a generation (untilWrite,
	// setsAt) are valid for every view of the same gen.
	gen uint64
	// vis is the caller's readable sets (see callerView).
	vis string
}

// commitKey is the meta row holding the number of the index's last
// commit.
const commitKey = "index.commit"

// commitQuery reads the number of the index's last commit: NULL on an
// index never written.
const commitQuery = "SELECT (SELECT value FROM meta WHERE key = '" + commitKey + "')"

// scanCommit reads commitQuery's answer; 0 for an index never written.
func scanCommit(r rowScanner) (uint64, error) {
	var commit sql.NullString
	if err := r.Scan(&commit); err != nil || !commit.Valid {
		return 0, err
	}
	return strconv.ParseUint(commit.String, 10, 64)
}

// maxViewTries bounds how often view begins again on a stale snapshot.
const maxViewTries = 5

// view begins a reading of the index whose state holds at least every
// commit that ended before the call: it reads the commit number the
// state holds (SQLite takes the snapshot at the first read) and begins
// again when that is older. A brand-new pool connection's first snapshot
// was seen to be older (the state before a commit that had ended, while a
// second transaction on the same connection saw it; SQLite 3.54.1 through
// modernc, not reproduced outside the index), which hid a caller's things
// and broke search-persisted's promise that an acknowledged change is
// found.
func (ix *Index) view(ctx context.Context) (*view, error) {
	want := ix.commits.Load()
	for try := 1; ; try++ {
		// The wait for a connection ends with ctx; the transaction lives
		// until close, and neither its BEGIN nor the read of the commit
		// number (one row) watch ctx: with a ctx that can end, the driver
		// starts a goroutine per statement to interrupt it. The view's
		// queries watch theirs.
		conn, err := ix.read.Conn(ctx)
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		tx, err := conn.BeginTx(context.Background(), nil)
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("search: %w", err)
		}
		v := &view{Index: ix, conn: conn, tx: tx}
		if v.gen, err = scanCommit(v.queryRow(context.Background(), commitQuery)); err != nil {
			v.close()
			return nil, fmt.Errorf("search: read index commit number: %w", err)
		}
		if v.gen >= want {
			return v, nil
		}
		v.close()
		ix.staleViews.Add(1)
		if try == maxViewTries {
			return nil, fmt.Errorf("search: index state %d older than commit %d after %d tries", v.gen, want, try)
		}
	}
}

// StaleViews returns how often a reading of the index found its snapshot
// older than a commit that had ended before it, and began again.
func (ix *Index) StaleViews() int64 { return ix.staleViews.Load() }

// inView runs fn in a view: the Index's lookups outside queries see every
// commit that ended before them, as queries do.
func (ix *Index) inView(ctx context.Context, fn func(v *view) error) error {
	v, err := ix.view(ctx)
	if err != nil {
		return err
	}
	defer v.close()
	return fn(v)
}

// close ends the read transaction; it changed nothing, so rolling back is
// the cheap way out.
func (v *view) close() {
	_ = v.tx.Rollback()
	_ = v.conn.Close()
}

// cached returns the cached statement of text, or nil; a text not cached
// yet is prepared for the cache in the background. Not here: preparing
// on the pool needs a connection of its own, and with every connection
// held by a view waiting to prepare, none would ever come.
func (v *view) cached(text string) *sql.Stmt {
	if s, ok := v.stmts2.m.Load(text); ok {
		return s.(*sql.Stmt)
	}
	if v.stmts2.n.Load() < maxCachedStmts {
		if _, busy := v.stmts2.preparing.LoadOrStore(text, true); !busy {
			started := v.stmts2.goPrepare(func() {
				defer v.stmts2.preparing.Delete(text)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _ = v.stmt(ctx, text) // an error leaves it uncached
			})
			if !started {
				v.stmts2.preparing.Delete(text)
			}
		}
	}
	return nil
}

// query runs a read of the view, through the statement cache.
func (v *view) query(ctx context.Context, text string, args ...any) (*sql.Rows, error) {
	if s := v.cached(text); s != nil {
		// The statement prepared on this connection before is reused.
		return v.tx.StmtContext(ctx, s).QueryContext(ctx, args...)
	}
	return v.tx.QueryContext(ctx, text, args...)
}

// queryRow is query for one row; errors come from Scan.
func (v *view) queryRow(ctx context.Context, text string, args ...any) rowScanner {
	if s := v.cached(text); s != nil {
		return v.tx.StmtContext(ctx, s).QueryRowContext(ctx, args...)
	}
	return v.tx.QueryRowContext(ctx, text, args...)
}
