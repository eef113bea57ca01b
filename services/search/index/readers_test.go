package index

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openReaders(t *testing.T, conns int) *Index {
	t.Helper()
	ix, err := Open(filepath.Join(t.TempDir(), "index.db"), Options{ReadConns: conns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Close() })
	return ix
}

// heldReader is the one connection of a new index's pool, given back at
// the end of the test.
func heldReader(t *testing.T) *reader {
	t.Helper()
	ix := openReaders(t, 1)
	r, err := ix.readers.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ix.readers.put(r, false) })
	return r
}

// TestReaderScan checks that a row's columns reach the destinations the
// index reads into as database/sql would store them, and that a column of
// another kind is an error, not a zero value.
func TestReaderScan(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := heldReader(t)

	var (
		i      int64
		n      int
		f, fi  float64
		s, si  string
		b      []byte
		null   *string
		text   *string
		yes    bool
		ns, nn sql.NullString
		a      any
	)
	err := r.queryRow(ctx, `SELECT 42, 7, 2.5, 3, 'text', 9, x'6869', NULL, 'x', 1, 'v', NULL, x'00'`).
		Scan(&i, &n, &f, &fi, &s, &si, &b, &null, &text, &yes, &ns, &nn, &a)
	if err != nil {
		t.Fatal(err)
	}
	if i != 42 || n != 7 || f != 2.5 || fi != 3 || s != "text" || si != "9" || string(b) != "hi" ||
		null != nil || text == nil || *text != "x" || !yes || ns != (sql.NullString{String: "v", Valid: true}) || nn.Valid {
		t.Fatalf("scanned %v %v %v %v %q %q %q %v %v %v %v %v", i, n, f, fi, s, si, b, null, text, yes, ns, nn)
	}
	if ab, ok := a.([]byte); !ok || len(ab) != 1 || ab[0] != 0 {
		t.Fatalf("blob into any: %#v", a)
	}

	for _, c := range []struct {
		sql  string
		dest any
		want string
	}{
		{`SELECT 'x'`, new(int64), "cannot store string into *int64"},
		{`SELECT 2`, new(bool), "cannot store int64 into *bool"},
		{`SELECT NULL`, new(string), "cannot store <nil> into *string"},
		{`SELECT 1`, new(time.Time), "unsupported destination *time.Time"},
	} {
		err := r.queryRow(ctx, c.sql).Scan(c.dest)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s into %T: %v, want %q", c.sql, c.dest, err, c.want)
		}
	}
	if err := r.queryRow(ctx, `SELECT 1 WHERE 0`).Scan(&i); !errors.Is(err, sql.ErrNoRows) {
		t.Fatalf("no row: %v", err)
	}
	if r.open != 0 {
		t.Fatalf("%d results left open", r.open)
	}
}

// TestReaderNestedText checks that a text asked for while its cached
// statement's result is open runs on a statement of its own, and neither
// result disturbs the other.
func TestReaderNestedText(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	r := heldReader(t)
	const text = `SELECT value FROM json_each(?)`
	outer, err := r.query(ctx, text, `[1,2,3]`)
	if err != nil {
		t.Fatal(err)
	}
	var got []int64
	for outer.Next() {
		var o int64
		if err := outer.Scan(&o); err != nil {
			t.Fatal(err)
		}
		inner, err := r.query(ctx, text, `[10,20]`)
		if err != nil {
			t.Fatal(err)
		}
		for inner.Next() {
			var v int64
			if err := inner.Scan(&v); err != nil {
				t.Fatal(err)
			}
			got = append(got, o*v)
		}
		if err := inner.Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	if want := []int64{10, 20, 20, 40, 30, 60}; !equalInts(got, want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	if r.open != 0 || len(r.stmts) != 1 {
		t.Fatalf("%d results open, %d statements cached; want 0 and 1", r.open, len(r.stmts))
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestReaderInterrupt checks that a statement still computing when its
// context ends is interrupted with the context's error, and that the
// connection and the cached statement serve the next query.
func TestReaderInterrupt(t *testing.T) {
	t.Parallel()
	r := heldReader(t)
	const endless = `WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c WHERE x > ?`
	for range 2 {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		start := time.Now()
		_, err := r.query(ctx, endless, 0)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("endless statement: %v, want the context's deadline", err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("interrupted after %v", d)
		}
		var n int64
		if err := r.queryRow(context.Background(), `SELECT count(*) FROM json_each('[1,2]')`).Scan(&n); err != nil || n != 2 {
			t.Fatalf("after the interrupt: %d, %v", n, err)
		}
	}
	// A context that ended before the statement runs it not at all.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := r.query(ctx, endless, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("ended context: %v", err)
	}
	// A result ends at the next row once its context ends.
	ctx, cancel = context.WithCancel(context.Background())
	rs, err := r.query(ctx, `SELECT value FROM json_each('[1,2,3]')`)
	if err != nil {
		t.Fatal(err)
	}
	if !rs.Next() {
		t.Fatal("no first row")
	}
	cancel()
	if rs.Next() || !errors.Is(rs.Err(), context.Canceled) {
		t.Fatalf("after cancel: more rows or error %v", rs.Err())
	}
	if r.open != 0 {
		t.Fatalf("%d results left open", r.open)
	}
}

// TestReadPool checks the pool's bound, that a connection comes back to
// the next user, that one given back with a result still open (or after
// the index closed) is closed, and that no connection is handed out after
// Close.
func TestReadPool(t *testing.T) {
	t.Parallel()
	ix := openReaders(t, 1)
	p := ix.readers
	r, err := p.get(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.get(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second connection of a pool of one: %v, want to wait until the deadline", err)
	}
	p.put(r, false)
	if r2, err := p.get(context.Background()); err != nil || r2 != r {
		t.Fatalf("after put: %p, %v; want the same connection %p", r2, err, r)
	}

	// A view that leaves a result open does not give its connection to
	// the next view.
	v := &view{Index: ix, r: r}
	if err := r.exec(context.Background(), "BEGIN"); err != nil {
		t.Fatal(err)
	}
	if _, err := v.query(context.Background(), `SELECT value FROM json_each('[1,2]')`); err != nil {
		t.Fatal(err)
	}
	v.close()
	if r.stmts != nil {
		t.Fatal("connection with an open result was kept")
	}
	v2, err := ix.view(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if v2.r == r {
		t.Fatal("closed connection handed out again")
	}

	// A wait for a connection ends when the pool closes.
	waiting := make(chan error, 1)
	go func() {
		_, err := p.get(context.Background())
		waiting <- err
	}()
	if err := p.close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waiting:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("wait during close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a wait for a connection outlived close")
	}
	if _, err := p.get(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("get after close: %v", err)
	}
	held := v2.r
	v2.close()
	if held.stmts != nil {
		t.Fatal("connection given back after close was kept")
	}
}

// TestKeptReads checks that a view's read transaction is kept for the next
// view while no commit follows, that a commit ends the kept ones before
// Write returns (the next count sees it, and no reader holds the WAL's
// older frames), that a failed statement ends it, and that no kept one
// stops the writer from starting the WAL over.
func TestKeptReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ix := openReaders(t, 2)
	enf := benchEnforcers(t)
	write := func(from, to int) {
		t.Helper()
		var b Batch
		for i := from; i < to; i++ {
			b.Put = append(b.Put, benchDoc(enf, i, 1))
		}
		if err := ix.Write(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	count := func(want int64) {
		t.Helper()
		n, err := ix.Count(ctx, Query{Subjects: []string{"nginx:owner"}})
		if err != nil || n != want {
			t.Fatalf("count: %d, %v; want %d", n, err, want)
		}
	}
	// idle takes the pool's idle connections and gives them back.
	idle := func() []*reader {
		t.Helper()
		var rs []*reader
		for len(rs) < cap(ix.readers.idle) {
			select {
			case r := <-ix.readers.idle:
				rs = append(rs, r)
				continue
			default:
			}
			break
		}
		for _, r := range rs {
			ix.readers.idle <- r
		}
		return rs
	}
	kept := func() int {
		n := 0
		for _, r := range idle() {
			if r.tx {
				if r.txGen != ix.commits.Load() {
					t.Fatalf("kept transaction of commit %d, the latest is %d", r.txGen, ix.commits.Load())
				}
				n++
			}
		}
		return n
	}

	write(0, 100)
	count(100)
	if kept() != 1 {
		t.Fatalf("%d kept transactions after one view, want 1", kept())
	}
	r := idle()[0]
	count(100)
	if idle()[0] != r || !r.tx {
		t.Fatal("the next view did not keep the connection's transaction")
	}

	write(100, 200)
	if n := kept(); n != 0 {
		t.Fatalf("%d transactions kept past a commit", n)
	}
	var busy, frames, copied int64
	if err := ix.write.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		t.Fatal(err)
	}
	if copied != frames {
		t.Fatalf("checkpoint copied %d of %d frames: a reader holds older ones", copied, frames)
	}
	count(200)

	// A statement that fails ends the transaction.
	v, err := ix.view(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v.query(ctx, "SELECT no_such_column FROM things"); err == nil {
		t.Fatal("a bad statement ran")
	}
	v.close()
	if n := kept(); n != 0 {
		t.Fatalf("%d transactions kept after a failed statement", n)
	}

	// The WAL starts over with a kept transaction idle: Write ends it
	// first (the restart would wait for it until the busy timeout, 5 s,
	// and fail).
	count(200)
	if kept() != 1 {
		t.Fatal("no kept transaction before the restart")
	}
	ix.ckptr.MarkDue()
	start := time.Now()
	write(200, 210)
	if ix.ckptr.Restarts() != 1 || time.Since(start) > 2*time.Second {
		t.Fatalf("restarts %d (errors %d) after %v", ix.ckptr.Restarts(), ix.ckptr.Errors(), time.Since(start))
	}
	count(210)
	if kept() != 1 {
		t.Fatal("no transaction kept after the restart")
	}

	// Count rows written in the background end kept transactions too:
	// they change no answer, but one kept would never read them.
	write(210, 400)
	on := Query{Subjects: []string{"nginx:owner"}, Filter: mustParse(`eq(features/lamp/properties/on,true)`)}
	if _, err := ix.Count(ctx, on); err != nil {
		t.Fatal(err)
	}
	ix.countJob.Wait()
	var rows int
	if err := ix.write.QueryRow(`SELECT count(*) FROM leaf_counts`).Scan(&rows); err != nil || rows == 0 {
		t.Fatalf("%d count rows, %v: the test checks nothing it means to", rows, err)
	}
	if n := kept(); n != 0 {
		t.Fatalf("%d transactions kept past the count rows' commit", n)
	}
}
