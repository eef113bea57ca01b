package index

import (
	"context"
	"database/sql"
	"sync"
	"sync/atomic"
)

// Prepared read statements by their SQL text. Queries of one shape (the
// same filter structure, sort and visibility sets) have the same text with
// different arguments, and preparing is a third of a short query's cost.
type stmtCache struct {
	m sync.Map // string -> *sql.Stmt
	n atomic.Int64
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
