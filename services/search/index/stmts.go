package index

import (
	"context"
	"database/sql"
	"fmt"
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

// query runs a read through the statement cache.
func (ix *Index) query(ctx context.Context, text string, args ...any) (*sql.Rows, error) {
	s, err := ix.stmt(ctx, text)
	if err != nil {
		return nil, err
	}
	if s == nil {
		return ix.read.QueryContext(ctx, text, args...)
	}
	return s.QueryContext(ctx, args...)
}

// queryRow runs a one-row read through the statement cache; errors come
// from Scan, as with sql.DB.QueryRowContext.
func (ix *Index) queryRow(ctx context.Context, text string, args ...any) rowScanner {
	s, err := ix.stmt(ctx, text)
	if err != nil {
		return errRow{err}
	}
	if s == nil {
		return ix.read.QueryRowContext(ctx, text, args...)
	}
	return s.QueryRowContext(ctx, args...)
}

type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// view is one Count's or Query's reading of the index. Its statements run
// in one read transaction, so they all see the state of one commit: a page
// is computed from candidates read by one statement and checked by the next
// (the sorted and thingId-ordered walks), and a writer committing between
// the two would otherwise make a candidate vanish or change under the check.
// In WAL mode the read transaction does not hold up the writer.
type view struct {
	*Index
	tx *sql.Tx
	// gen is Index.writes before the view began: its snapshot holds at
	// least the writes counted then. exact says it holds exactly those
	// (see pin), once pinned is set.
	gen           uint64
	pinned, exact bool
	// vis is the caller's readable sets (see callerView).
	vis string
}

// pin makes sure the view's snapshot is taken (SQLite takes it at the
// first read) and reports whether it holds exactly the writes of gen: gen
// is even (no commit was under way) and still counted after the snapshot
// was taken, so that no commit came in between.
func (v *view) pin(ctx context.Context) (bool, error) {
	if !v.pinned {
		var one int
		if err := v.queryRow(ctx, "SELECT count(*) FROM meta").Scan(&one); err != nil {
			return false, fmt.Errorf("search: %w", err)
		}
		v.pinned = true
		v.exact = v.gen%2 == 0 && v.writes.Load() == v.gen
	}
	return v.exact, nil
}

func (ix *Index) view(ctx context.Context) (*view, error) {
	gen := ix.writes.Load()
	tx, err := ix.read.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	return &view{Index: ix, tx: tx, gen: gen}, nil
}

// close ends the read transaction; it changed nothing, so rolling back is
// the cheap way out.
func (v *view) close() { _ = v.tx.Rollback() }

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
			go func() {
				defer v.stmts2.preparing.Delete(text)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_, _ = v.stmt(ctx, text) // an error leaves it uncached
			}()
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
