package sqlitewal

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "modernc.org/sqlite" // the "sqlite" database/sql driver
)

// dsn is DSN, or with vfs false the same through the unix VFS.
func dsn(path string, vfs bool, pragmas ...string) string {
	pragmas = append([]string{"busy_timeout(5000)"}, pragmas...)
	if vfs {
		return DSN(path, pragmas...)
	}
	q := url.Values{}
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	return path + "?" + q.Encode()
}

func openDB(t *testing.T, dsn string, conns int) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(conns)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

const rows = 400

// A database written through the VFS reads, at every moment, as written
// through SQLite's own: readers through both VFSs start each transaction
// after a commit has returned and find it, and always find the table's
// invariants (its values sum to zero; a row counts the commits). The
// writer's transactions are small, larger than what is gathered at once,
// spilled from a small cache (frames written again and their checksums
// rewritten), and rolled back; a checkpointer copies and restarts the log
// meanwhile. The file is intact afterwards.
func TestGatheredLogReadsAsWritten(t *testing.T) {
	if err := Register(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "w.db")
	// A 64-page cache: a transaction of a few hundred changed rows spills.
	w := openDB(t, dsn(path, true, "journal_mode(WAL)", "synchronous(NORMAL)", "wal_autocheckpoint(0)", "cache_size(64)")+"&_txlock=immediate", 1)
	if _, err := w.Exec(`CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad BLOB NOT NULL);
		CREATE TABLE n(k INTEGER NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	tx, err := w.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if _, err := tx.Exec(`INSERT INTO t VALUES(?, 0, randomblob(1500))`, i); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tx.Exec(`INSERT INTO n VALUES(0)`); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}

	ckdb := openDB(t, dsn(path, true, "synchronous(NORMAL)"), 1)
	ck := Start(ckdb, 4096, 20*time.Millisecond)
	defer ck.Stop()
	gathered := openDB(t, dsn(path, true, "query_only(1)"), 3)
	plain := openDB(t, dsn(path, false, "query_only(1)"), 2)

	var committed atomic.Int64 // the last commit number whose commit returned
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var wg sync.WaitGroup
	var reads atomic.Int64
	errs := make(chan error, 16)
	for i, db := range []*sql.DB{gathered, gathered, gathered, plain, plain} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				want := committed.Load()
				k, sum, n, err := readState(db)
				switch {
				case err != nil:
					errs <- fmt.Errorf("reader %d: %w", i, err)
					return
				case k < want:
					errs <- fmt.Errorf("reader %d: commit %d read after commit %d returned", i, k, want)
					return
				case sum != 0 || n != rows:
					errs <- fmt.Errorf("reader %d at commit %d: sum %d over %d rows, want 0 over %d", i, k, sum, n, rows)
					return
				}
				reads.Add(1)
			}
		}()
	}

	r := rand.New(rand.NewPCG(1, 2))
	deadline := time.Now().Add(3 * time.Second)
	var k int64
	for i := 0; time.Now().Before(deadline) || i < 60; i++ {
		select {
		case err := <-errs:
			t.Fatal(err)
		default:
		}
		// Mostly small transactions; every 7th changes every row (~600
		// KiB of pages: spilled, and gathered in several writes); every
		// 11th is rolled back.
		changes := 1 + r.IntN(4)
		if i%7 == 0 {
			changes = rows
		}
		rollback := i%11 == 5
		tx, err := w.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for range changes {
			a, b, d := r.IntN(rows), r.IntN(rows), int64(1+r.IntN(100))
			if _, err := tx.Exec(`UPDATE t SET v = v + ?, pad = randomblob(1500) WHERE id = ?`, d, a); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(`UPDATE t SET v = v - ? WHERE id = ?`, d, b); err != nil {
				t.Fatal(err)
			}
		}
		if rollback {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if _, err := tx.Exec(`UPDATE n SET k = ?`, k+1); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		k++
		committed.Store(k)
		if err := ck.RestartIfDue(w); err != nil {
			t.Fatal(err)
		}
	}
	stop()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if reads.Load() == 0 {
		t.Fatal("no reads")
	}
	t.Logf("%d commits, %d reads, %d checkpoints, %d restarts", k, reads.Load(), ck.Runs(), ck.Restarts())

	var check string
	if err := w.QueryRow(`PRAGMA integrity_check`).Scan(&check); err != nil || check != "ok" {
		t.Fatalf("integrity_check: %q, %v", check, err)
	}
	ck.Stop()
	for _, db := range []*sql.DB{gathered, plain, ckdb, w} {
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
	}
	// Reopened through the unix VFS alone: the last commit is there.
	again := openDB(t, dsn(path, false), 1)
	got, sum, n, err := readState(again)
	if err != nil || got != k || sum != 0 || n != rows {
		t.Fatalf("reopened: commit %d, sum %d over %d rows, %v; want commit %d, 0 over %d", got, sum, n, err, k, rows)
	}
}

func readState(db *sql.DB) (k, sum, n int64, err error) {
	tx, err := db.Begin()
	if err != nil {
		return 0, 0, 0, err
	}
	defer func() { _ = tx.Rollback() }()
	if err := tx.QueryRow(`SELECT k FROM n`).Scan(&k); err != nil {
		return 0, 0, 0, err
	}
	if err := tx.QueryRow(`SELECT sum(v), count(*) FROM t`).Scan(&sum, &n); err != nil {
		return 0, 0, 0, err
	}
	return k, sum, n, nil
}

// A transaction's frames reach the file in few writes: one for a small
// transaction, one per gathered 128 KiB of a large one, where SQLite
// makes two per page.
func TestLogWritesAreGathered(t *testing.T) {
	if err := Register(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "g.db")
	w := openDB(t, dsn(path, true, "journal_mode(WAL)", "synchronous(NORMAL)", "wal_autocheckpoint(0)", "page_size(4096)")+"&_txlock=immediate", 1)
	if _, err := w.Exec(`CREATE TABLE t(id INTEGER PRIMARY KEY, pad BLOB NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	var pages int64
	if err := w.QueryRow(`PRAGMA page_size`).Scan(&pages); err != nil || pages != 4096 {
		t.Fatalf("page size %d, %v", pages, err)
	}
	for _, tt := range []struct {
		rows      int
		maxWrites uint64
	}{
		{1, 1},     // 2 pages
		{100, 4},   // ~100 pages of 4 KiB: ~400 KiB, in parts of 128 KiB
		{1000, 35}, // ~1000 pages: ~4 MiB
	} {
		before := logWrites.Load()
		tx, err := w.Begin()
		if err != nil {
			t.Fatal(err)
		}
		for range tt.rows {
			if _, err := tx.Exec(`INSERT INTO t(pad) VALUES(randomblob(3000))`); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		if got := logWrites.Load() - before; got == 0 || got > tt.maxWrites {
			t.Errorf("%d rows of 3000 bytes committed in %d writes, want 1 to %d", tt.rows, got, tt.maxWrites)
		}
	}
}

// A process that dies right after a commit returned leaves the commit in
// the files: copies of the database and its log, taken after each commit
// as such a process would leave them, open through the unix VFS (which
// rebuilds the wal-index from the log, checking every frame's checksum)
// with that commit. Transactions larger than the writer's cache write
// pages again that they had spilled, and SQLite then rewrites the frame
// headers of the transaction: those reach the file before the commit is
// published as well.
func TestCommitSurvivesCrash(t *testing.T) {
	if err := Register(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "c.db")
	w := openDB(t, dsn(path, true, "journal_mode(WAL)", "synchronous(NORMAL)", "wal_autocheckpoint(0)", "cache_size(16)")+"&_txlock=immediate", 1)
	if _, err := w.Exec(`CREATE TABLE t(id INTEGER PRIMARY KEY, v INTEGER NOT NULL, pad BLOB NOT NULL);
		CREATE TABLE n(k INTEGER NOT NULL); INSERT INTO n VALUES(0)`); err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		if _, err := w.Exec(`INSERT INTO t VALUES(?, 0, randomblob(1500))`, i); err != nil {
			t.Fatal(err)
		}
	}
	r := rand.New(rand.NewPCG(3, 4))
	for k := int64(1); k <= 24; k++ {
		tx, err := w.Begin()
		if err != nil {
			t.Fatal(err)
		}
		changes := 1 + r.IntN(3)
		if k%3 == 0 {
			changes = rows / 2 // spilled, and parts written again
		}
		for range changes {
			a, b, d := r.IntN(rows), r.IntN(rows), int64(1+r.IntN(100))
			if _, err := tx.Exec(`UPDATE t SET v = v + ?, pad = randomblob(1500) WHERE id = ?`, d, a); err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec(`UPDATE t SET v = v - ?, pad = randomblob(1500) WHERE id = ?`, d, b); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := tx.Exec(`UPDATE n SET k = ?`, k); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}

		crashed := filepath.Join(t.TempDir(), "c.db")
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(path + suffix)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(crashed+suffix, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		db := openDB(t, dsn(crashed, false), 1)
		got, sum, n, err := readState(db)
		if err != nil || got != k || sum != 0 || n != rows {
			t.Fatalf("after commit %d (%d changes), the files left read commit %d, sum %d over %d rows, %v", k, changes, got, sum, n, err)
		}
		_ = db.Close()
	}
}
