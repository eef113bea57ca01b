package index

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
)

// The index's read connections are used at the driver's level, below
// database/sql. A search is a few statements that each read a few rows,
// and database/sql's bookkeeping around them (its pool, the per-connection
// statement lookup, a transaction's and each result's locks, dependency
// maps and value conversion) was a fifth of BenchmarkQueryThingID's time;
// its transactions also parse BEGIN and ROLLBACK again each time.
//
// readPool holds up to max connections; a view holds one for its read
// transaction (see view), so each connection has one user at a time and
// needs no locking of its own.
//
// A connection given back keeps its read transaction open while that
// holds the index's latest state (no change counted in latest since the
// transaction began): the next view on it needs no BEGIN, no read of the
// commit number and no ROLLBACK, and SQLite neither takes its WAL locks
// again nor checks its page cache (BenchmarkQueryThingID 19-24 µs with a transaction per view,
// 15-17 with kept ones). A kept transaction holds the WAL's frames up to
// the latest commit, which the checkpointer may copy; after each commit
// the writer ends the idle connections' older ones (endStale), and before
// it starts the WAL over it ends them all and keeps none (keepNone).
type readPool struct {
	connector driver.Connector
	idle      chan *reader
	// slots holds a token per open connection.
	slots chan struct{}
	// latest counts the writer's commits (Index.changes); nil keeps no
	// transaction.
	latest *atomic.Uint64

	mu     sync.Mutex
	closed bool
	// noKeep: while the writer starts the WAL over, no transaction is
	// kept.
	noKeep bool
	// done is closed by close: a wait for a connection ends.
	done chan struct{}
}

func newReadPool(c driver.Connector, max int, latest *atomic.Uint64) *readPool {
	return &readPool{connector: c, idle: make(chan *reader, max), slots: make(chan struct{}, max), latest: latest, done: make(chan struct{})}
}

// get returns an idle connection, or opens one while fewer than max are
// open; otherwise it waits for one until ctx ends or the pool closes.
func (p *readPool) get(ctx context.Context) (*reader, error) {
	select {
	case r := <-p.idle:
		return r, nil
	default:
	}
	select {
	case r := <-p.idle:
		return r, nil
	case <-p.done:
		return nil, ErrClosed
	case p.slots <- struct{}{}:
		p.mu.Lock()
		closed := p.closed
		p.mu.Unlock()
		if closed {
			<-p.slots
			return nil, ErrClosed
		}
		dc, err := p.connector.Connect(ctx)
		if err != nil {
			<-p.slots
			return nil, fmt.Errorf("search: open index reader: %w", err)
		}
		return &reader{conn: dc, stmts: map[string]*readStmt{}}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// put gives r back; a connection that failed (broken) or whose statements
// are still open, or any after close, is closed instead. Its read
// transaction is ended unless it may be kept (see readPool); a connection
// whose transaction does not end is closed.
func (p *readPool) put(r *reader, broken bool) {
	if v, ok := r.conn.(driver.Validator); ok && !v.IsValid() {
		broken = true
	}
	p.mu.Lock()
	// Under mu: endStale and keepNone see r either before this (in use)
	// or after (idle), never a transaction kept behind their back.
	if !broken && r.open == 0 && r.tx && !p.keeps(r) {
		broken = r.endTx() != nil
	}
	if !broken && r.open == 0 && !p.closed {
		p.idle <- r // never blocks: at most cap(idle) connections exist
		p.mu.Unlock()
		return
	}
	p.mu.Unlock()
	_ = r.close()
	<-p.slots
}

// keeps reports whether r's read transaction may stay open; p.mu held.
func (p *readPool) keeps(r *reader) bool {
	return p.latest != nil && !p.noKeep && !p.closed && !r.failed && r.txSeen >= p.latest.Load()
}

// endStale ends the read transactions of idle connections that no longer
// hold the latest state: the writer calls it after each commit.
func (p *readPool) endStale() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endIdle()
}

// keepNone ends every idle connection's read transaction and keeps none
// until keepAgain, so that no reader holds the WAL while the writer starts
// it over.
func (p *readPool) keepNone() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.noKeep = true
	p.endIdle()
}

// keepAgain ends keepNone.
func (p *readPool) keepAgain() {
	p.mu.Lock()
	p.noKeep = false
	p.mu.Unlock()
}

// endIdle ends the transactions of the idle connections that may not keep
// them; p.mu held.
func (p *readPool) endIdle() {
	var idle []*reader
	for len(idle) < cap(p.idle) {
		select {
		case r := <-p.idle:
			idle = append(idle, r)
			continue
		default:
		}
		break
	}
	for _, r := range idle {
		if r.tx && !p.keeps(r) && r.endTx() != nil {
			_ = r.close()
			<-p.slots
			continue
		}
		p.idle <- r
	}
}

// close closes the idle connections; those in use are closed when given
// back.
func (p *readPool) close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.done)
	}
	p.mu.Unlock()
	var errs []error
	for {
		select {
		case r := <-p.idle:
			errs = append(errs, r.close())
			<-p.slots
		default:
			return errors.Join(errs...)
		}
	}
}

// reader is one read connection with the statements prepared on it.
type reader struct {
	conn driver.Conn
	// stmts holds the statements prepared on this connection by text,
	// up to maxCachedStmts: queries of one shape (the same filter
	// structure, sort and visibility sets) have the same text with
	// different arguments, and preparing is a third of a short query's
	// cost. Texts beyond the bound are prepared per use.
	stmts map[string]*readStmt
	// open counts the results not closed yet.
	open int
	// tx: a read transaction is open (see Index.view), holding the
	// state of commit txGen and of at least txSeen of the writer's
	// changes (see readPool.latest). failed: a statement failed in it,
	// which ends it when the connection is given back.
	tx     bool
	txGen  uint64
	txSeen uint64
	failed bool
}

// endTx ends r's read transaction.
func (r *reader) endTx() error {
	r.tx, r.failed = false, false
	return r.exec(context.Background(), "ROLLBACK")
}

// maxCachedStmts bounds each connection's statement cache. Statements are
// never evicted; texts beyond the bound are prepared per query.
const maxCachedStmts = 512

type readStmt struct {
	s      driver.Stmt
	cached bool
	// busy: its result is open. A statement runs once at a time; the same
	// text asked for meanwhile gets a statement of its own.
	busy bool
}

func (r *reader) close() error {
	var errs []error
	for _, s := range r.stmts {
		errs = append(errs, s.s.Close())
	}
	r.stmts = nil
	return errors.Join(append(errs, r.conn.Close())...)
}

// stmt returns a statement of text ready to run: the cached one, or a new
// one (cached while there is room).
func (r *reader) stmt(ctx context.Context, text string) (*readStmt, error) {
	if s, ok := r.stmts[text]; ok && !s.busy {
		return s, nil
	}
	ds, err := r.conn.(driver.ConnPrepareContext).PrepareContext(ctx, text)
	if err != nil {
		return nil, err
	}
	s := &readStmt{s: ds}
	if _, taken := r.stmts[text]; !taken && len(r.stmts) < maxCachedStmts {
		s.cached = true
		r.stmts[text] = s
	}
	return s, nil
}

// release ends a run of s: an uncached statement is closed.
func (r *reader) release(s *readStmt) {
	s.busy = false
	if !s.cached {
		_ = s.s.Close()
	}
}

// exec runs text, which returns no rows (BEGIN, ROLLBACK).
func (r *reader) exec(ctx context.Context, text string) error {
	s, err := r.stmt(ctx, text)
	if err != nil {
		r.failed = true
		return err
	}
	defer r.release(s)
	if _, err = s.s.(driver.StmtExecContext).ExecContext(ctx, nil); err != nil {
		r.failed = true
	}
	return err
}

// query runs text with args. The driver interrupts the statement when
// ctx ends while it computes its first row (where a sorted or counting
// statement does its work); the result ends at the next row after that.
func (r *reader) query(ctx context.Context, text string, args ...any) (*rows, error) {
	named := make([]driver.NamedValue, len(args))
	for i, a := range args {
		v, err := driver.DefaultParameterConverter.ConvertValue(a)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i+1, err)
		}
		named[i] = driver.NamedValue{Ordinal: i + 1, Value: v}
	}
	s, err := r.stmt(ctx, text)
	if err != nil {
		r.failed = true
		return nil, err
	}
	s.busy = true
	dr, err := s.s.(driver.StmtQueryContext).QueryContext(ctx, named)
	if err != nil {
		r.failed = true
		r.release(s)
		return nil, err
	}
	r.open++
	return &rows{r: r, s: s, dr: dr, ctx: ctx}, nil
}

// queryRow is query for one row; errors come from Scan.
func (r *reader) queryRow(ctx context.Context, text string, args ...any) oneRow {
	rs, err := r.query(ctx, text, args...)
	return oneRow{rs: rs, err: err}
}

// rows is a statement's result, read as database/sql's Rows are.
type rows struct {
	r    *reader
	s    *readStmt
	dr   driver.Rows
	vals []driver.Value
	ctx  context.Context
	err  error
	// closed: dr is closed and the statement released.
	closed bool
}

// Next reads the next row; false at the end, on an error (see Err) or
// once the query's context has ended.
func (rs *rows) Next() bool {
	if rs.closed {
		return false
	}
	select {
	case <-rs.ctx.Done():
		rs.err = rs.ctx.Err()
		rs.r.failed = true
		_ = rs.Close()
		return false
	default:
	}
	if rs.vals == nil {
		rs.vals = make([]driver.Value, len(rs.dr.Columns()))
	}
	if err := rs.dr.Next(rs.vals); err != nil {
		if err != io.EOF {
			rs.err = err
			rs.r.failed = true
		}
		_ = rs.Close()
		return false
	}
	return true
}

// Err is the error that ended Next, if any.
func (rs *rows) Err() error { return rs.err }

// Close ends the result; it may be called more than once.
func (rs *rows) Close() error {
	if rs.closed {
		return nil
	}
	rs.closed = true
	err := rs.dr.Close()
	rs.r.release(rs.s)
	rs.r.open--
	return err
}

// Scan copies the current row's columns into dest.
func (rs *rows) Scan(dest ...any) error {
	if rs.closed || rs.vals == nil {
		return errors.New("search: Scan without a row")
	}
	if len(dest) != len(rs.vals) {
		return fmt.Errorf("search: Scan of %d columns into %d values", len(rs.vals), len(dest))
	}
	for i, d := range dest {
		if err := assign(d, rs.vals[i]); err != nil {
			return fmt.Errorf("search: column %d: %w", i, err)
		}
	}
	return nil
}

// oneRow is query's result for one row; its Scan reports the query's error,
// and sql.ErrNoRows when there is no row.
type oneRow struct {
	rs  *rows
	err error
}

func (r oneRow) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rs.Close()
	if !r.rs.Next() {
		if err := r.rs.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	return r.rs.Scan(dest...)
}

// assign stores the driver's value v (int64, float64, string, []byte or
// nil; the driver copies text and blobs into fresh memory) into dest, as
// database/sql's Scan does for the destinations the index reads into.
func assign(dest any, v driver.Value) error {
	switch d := dest.(type) {
	case *any:
		*d = v
		return nil
	case *int64:
		if n, ok := v.(int64); ok {
			*d = n
			return nil
		}
	case *int:
		if n, ok := v.(int64); ok {
			*d = int(n)
			return nil
		}
	case *float64:
		switch n := v.(type) {
		case float64:
			*d = n
			return nil
		case int64:
			*d = float64(n)
			return nil
		}
	case *bool:
		if n, ok := v.(int64); ok && (n == 0 || n == 1) {
			*d = n == 1
			return nil
		}
	case *string:
		if s, ok := asString(v); ok {
			*d = s
			return nil
		}
	case **string:
		if v == nil {
			*d = nil
			return nil
		}
		if s, ok := asString(v); ok {
			*d = &s
			return nil
		}
	case *sql.NullString:
		if v == nil {
			*d = sql.NullString{}
			return nil
		}
		if s, ok := asString(v); ok {
			*d = sql.NullString{String: s, Valid: true}
			return nil
		}
	case *[]byte:
		switch b := v.(type) {
		case []byte:
			*d = b
			return nil
		case string:
			*d = []byte(b)
			return nil
		case nil:
			*d = nil
			return nil
		}
	default:
		return fmt.Errorf("unsupported destination %T", dest)
	}
	return fmt.Errorf("cannot store %T into %T", v, dest)
}

// asString is v as database/sql writes it into a string.
func asString(v driver.Value) (string, bool) {
	switch s := v.(type) {
	case string:
		return s, true
	case []byte:
		return string(s), true
	case int64:
		return strconv.FormatInt(s, 10), true
	case float64:
		return strconv.FormatFloat(s, 'g', -1, 64), true
	}
	return "", false
}
