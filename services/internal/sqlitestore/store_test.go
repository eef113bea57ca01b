package sqlitestore

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/journal/journaltest"
	"github.com/dittonats/dittonats/services/internal/sqlitewal"
	"github.com/dittonats/dittonats/streams/streamstest"
)

func TestConformance(t *testing.T) {
	dir := t.TempDir()
	// Each key is its own file, so reopening a key reopens its data.
	journaltest.Run(t, func(t *testing.T, key string) journal.Store {
		return open(t, filepath.Join(dir, key, "ditto.db"), Options{})
	})
}

func open(t testing.TB, path string, opts Options) *Store {
	t.Helper()
	s, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestOptions(t *testing.T) {
	tests := []struct {
		name    string
		opts    Options
		want    dbOptions
		wantErr string // a word the error must name; "" for none
	}{
		{"defaults", Options{}, dbOptions{synchronous: "FULL", busyTimeout: 5 * time.Second, maxBatch: 1000}, ""},
		{"explicit", Options{Synchronous: SyncNormal, BusyTimeout: time.Second, MaxBatch: 10, ReadConns: 2},
			dbOptions{synchronous: "NORMAL", busyTimeout: time.Second, maxBatch: 10, readConns: 2}, ""},
		{"bad synchronous", Options{Synchronous: "SOMETIMES"}, dbOptions{}, "synchronous"},
		{"tiny busy timeout", Options{BusyTimeout: time.Microsecond}, dbOptions{}, "busy"},
		{"negative batch", Options{MaxBatch: -1}, dbOptions{}, "batch"},
		{"negative read conns", Options{ReadConns: -1}, dbOptions{}, "read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.opts.withDefaults()
			if tt.wantErr != "" {
				// The message names the setting for the operator; this is the
				// one place its text is the behaviour under test.
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("got error %v, want one naming %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if tt.opts.ReadConns == 0 {
				if got.readConns < 4 {
					t.Errorf("got %d read connections, want at least 4", got.readConns)
				}
				got.readConns = 0
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestOpenBadPath(t *testing.T) {
	for _, path := range []string{"", filepath.Join(t.TempDir(), "a?b.db"), filepath.Join(t.TempDir(), "a#b.db")} {
		if s, err := Open(path, Options{}); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q): got nil error, want one", path)
		}
	}
}

// TestGroupCommit holds the writer inside one request while others queue up,
// so they must all be committed in the next single transaction; a request
// failing with a plain error there must fail alone.
func TestGroupCommit(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ditto.db"), Options{})
	j, err := s.Journal(journal.Things)
	if err != nil {
		t.Fatalf("Journal: %v", err)
	}
	before := s.Stats()

	release := make(chan struct{})
	entered := make(chan struct{})
	blockerDone := make(chan error, 1)
	go func() {
		blockerDone <- s.db.exec(t.Context(), func(context.Context, *sql.Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered

	const n = 50
	poison := errors.New("poison")
	results := make([]error, n+2)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			results[i] = j.Append(t.Context(), journal.Event{PID: fmt.Sprintf("thing:ns:%d", i), SN: 1, Payload: []byte(`{}`)})
		})
	}
	wg.Go(func() {
		results[n] = s.db.exec(t.Context(), func(context.Context, *sql.Tx) error { return poison })
	})
	wg.Go(func() {
		results[n+1] = j.Append(t.Context(), journal.Event{PID: "thing:ns:0", SN: 1, Payload: []byte(`{"dup":true}`)})
	})
	waitQueued(t, s, n+2)
	close(release)
	wg.Wait()
	if err := <-blockerDone; err != nil {
		t.Fatalf("blocker: %v", err)
	}

	if !errors.Is(results[n], poison) {
		t.Errorf("poison request: got %v, want poison", results[n])
	}
	conflicts := 0
	for i, err := range results {
		switch {
		case i == n:
		case errors.Is(err, journal.ErrConflict):
			conflicts++
		case err != nil:
			t.Errorf("append %d: got %v, want nil or ErrConflict", i, err)
		}
	}
	if conflicts != 1 {
		t.Errorf("got %d conflicts, want 1", conflicts)
	}
	for i := range n {
		if sn, err := j.HighestSN(t.Context(), fmt.Sprintf("thing:ns:%d", i)); err != nil || sn != 1 {
			t.Errorf("thing:ns:%d: got HighestSN %d, %v, want 1", i, sn, err)
		}
	}
	// One transaction for the blocker, one failed batch retried as one
	// transaction per committed request: n+1 writes in n+2 transactions.
	got := s.Stats()
	if w := got.Writes - before.Writes; w != n+2 {
		t.Errorf("got %d writes committed, want %d", w, n+2)
	}
	if b := got.Batches - before.Batches; b != n+2 {
		t.Errorf("got %d transactions, want %d", b, n+2)
	}
}

// waitQueued polls until n requests wait in the writer's queue.
func waitQueued(t *testing.T, s *Store, n int) {
	t.Helper()
	streamstest.Eventually(t, 10*time.Second, func() error {
		if k := len(s.db.reqs); k < n {
			return fmt.Errorf("got %d queued requests, want %d", k, n)
		}
		return nil
	})
}

// TestGroupCommitOneTransaction checks the plain path: requests queued
// behind a busy writer commit together.
func TestGroupCommitOneTransaction(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ditto.db"), Options{})
	j, err := s.Journal(journal.Things)
	if err != nil {
		t.Fatalf("Journal: %v", err)
	}
	release := make(chan struct{})
	entered := make(chan struct{})
	go func() {
		_ = s.db.exec(t.Context(), func(context.Context, *sql.Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered
	before := s.Stats()

	const n = 100
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			errs[i] = j.Append(t.Context(), journal.Event{PID: "thing:ns:x", SN: int64(i + 1), Payload: []byte(`{}`)})
		})
	}
	waitQueued(t, s, n)
	close(release)
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("Append: %v", err)
	}
	got := s.Stats()
	// The blocker's transaction plus one for the queued appends.
	if b := got.Batches - before.Batches; b != 2 {
		t.Errorf("got %d transactions, want 2", b)
	}
	if w := got.Writes - before.Writes; w != n+1 {
		t.Errorf("got %d writes, want %d", w, n+1)
	}
}

// TestTwoStoresOneFile stands in for two processes sharing the file: the
// primary key must still let only one of them take a (pid, sn).
func TestTwoStoresOneFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ditto.db")
	var journals [2]journal.Journal
	for i := range journals {
		j, err := open(t, path, Options{BusyTimeout: 10 * time.Second}).Journal(journal.Things)
		if err != nil {
			t.Fatalf("Journal: %v", err)
		}
		journals[i] = j
	}
	const sns = 100
	var results [2][sns]error
	var wg sync.WaitGroup
	for i, j := range journals {
		wg.Go(func() {
			for sn := range sns {
				results[i][sn] = j.Append(t.Context(), journal.Event{PID: "thing:ns:shared", SN: int64(sn + 1), Payload: fmt.Appendf(nil, `{"store":%d}`, i)})
			}
		})
	}
	wg.Wait()
	for sn := range sns {
		a, b := results[0][sn], results[1][sn]
		ok := (a == nil && errors.Is(b, journal.ErrConflict)) || (b == nil && errors.Is(a, journal.ErrConflict))
		if !ok {
			t.Errorf("sn %d: got %v and %v, want one nil and one ErrConflict", sn+1, a, b)
		}
	}
	for i, j := range journals {
		got, err := j.Events(t.Context(), "thing:ns:shared", 1, sns)
		if err != nil || len(got) != sns {
			t.Errorf("store %d: got %d events, %v, want %d", i, len(got), err, sns)
		}
	}
}

// BenchmarkAppend appends ~600 B events from 64 goroutines, each its own pid,
// with synchronous FULL, and reports appends/s and the mean batch size.
func BenchmarkAppend(b *testing.B) {
	for _, mode := range []Synchronous{SyncFull, SyncNormal} {
		b.Run(string(mode), func(b *testing.B) {
			s := open(b, filepath.Join(b.TempDir(), "ditto.db"), Options{Synchronous: mode})
			j, err := s.Journal(journal.Things)
			if err != nil {
				b.Fatalf("Journal: %v", err)
			}
			payload := []byte(`{"topic":"org.eclipse.ditto/bench/things/twin/events/modified","headers":{"correlation-id":"x"},"path":"/attributes/a","value":"` + strings.Repeat("x", 480) + `","revision":1}`)
			headers := map[string]string{"correlation-id": "3f2a6a0e-1b1c-4cde-9f0e-8ad7c1f4f1d2"}
			const workers = 64
			before := s.Stats()
			next := make(chan int64)
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for w := range workers {
				wg.Go(func() {
					pid := fmt.Sprintf("thing:bench:%d", w)
					sn := int64(0)
					for range next {
						sn++
						if err := j.Append(context.Background(), journal.Event{PID: pid, SN: sn, Timestamp: time.Now(), Payload: payload, Headers: headers}); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			for i := range b.N {
				next <- int64(i)
			}
			close(next)
			wg.Wait()
			elapsed := time.Since(start)
			b.StopTimer()
			st := s.Stats()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
			b.ReportMetric(float64(st.Writes-before.Writes)/float64(max(1, st.Batches-before.Batches)), "events/batch")
		})
	}
}

// TestCloseFlushesQueue queues appends behind a busy writer, then closes:
// Close must write every queued append, not refuse it.
func TestCloseFlushesQueue(t *testing.T) {
	s := open(t, filepath.Join(t.TempDir(), "ditto.db"), Options{MaxBatch: 7})
	j, err := s.Journal(journal.Things)
	if err != nil {
		t.Fatalf("Journal: %v", err)
	}
	release := make(chan struct{})
	entered := make(chan struct{})
	go func() {
		_ = s.db.exec(t.Context(), func(context.Context, *sql.Tx) error {
			close(entered)
			<-release
			return nil
		})
	}()
	<-entered

	const n = 25 // several batches of MaxBatch
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = j.Append(t.Context(), journal.Event{PID: "thing:ns:q", SN: int64(i + 1), Payload: []byte(`{}`)})
		})
	}
	waitQueued(t, s, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	streamstest.Eventually(t, 10*time.Second, func() error {
		if !s.db.isClosed() {
			return errors.New("Close has not begun")
		}
		return nil
	})
	if err := j.Append(t.Context(), journal.Event{PID: "thing:ns:q", SN: n + 1, Payload: []byte(`{}`)}); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Append after Close began: got %v, want ErrClosed", err)
	}
	close(release)
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("queued Append: got %v, want nil", err)
	}

	j2, err := open(t, s.db.path, Options{}).Journal(journal.Things)
	if err != nil {
		t.Fatalf("Journal: %v", err)
	}
	if sn, err := j2.HighestSN(t.Context(), "thing:ns:q"); err != nil || sn != n {
		t.Errorf("after reopen: got HighestSN %d, %v, want %d", sn, err, n)
	}
}

// TestPragmas checks that the DSN's settings reach the connections.
func TestPragmas(t *testing.T) {
	tests := []struct {
		name     string
		opts     Options
		wantSync int // SQLite's numbering: 0 OFF, 1 NORMAL, 2 FULL
	}{
		{"default", Options{}, 2},
		{"normal", Options{Synchronous: SyncNormal}, 1},
		{"off", Options{Synchronous: SyncOff}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := open(t, filepath.Join(t.TempDir(), "ditto.db"), tt.opts)
			var mode string
			var syncLevel, busy, autoCkpt int
			err := s.db.exec(t.Context(), func(ctx context.Context, tx *sql.Tx) error {
				if err := tx.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
					return err
				}
				if err := tx.QueryRowContext(ctx, "PRAGMA wal_autocheckpoint").Scan(&autoCkpt); err != nil {
					return err
				}
				if err := tx.QueryRowContext(ctx, "PRAGMA busy_timeout").Scan(&busy); err != nil {
					return err
				}
				return tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&syncLevel)
			})
			if err != nil {
				t.Fatalf("read pragmas: %v", err)
			}
			if mode != "wal" {
				t.Errorf("got journal_mode %q, want wal", mode)
			}
			if syncLevel != tt.wantSync {
				t.Errorf("got synchronous %d, want %d", syncLevel, tt.wantSync)
			}
			if busy != 5000 {
				t.Errorf("got busy_timeout %d, want 5000", busy)
			}
			if autoCkpt != 0 {
				t.Errorf("got wal_autocheckpoint %d on the writer, want 0 (the checkpointer does it)", autoCkpt)
			}
			var queryOnly int
			if err := s.db.read.QueryRowContext(t.Context(), "PRAGMA query_only").Scan(&queryOnly); err != nil {
				t.Fatalf("read query_only: %v", err)
			}
			if queryOnly != 1 {
				t.Errorf("got query_only %d on a read connection, want 1", queryOnly)
			}
		})
	}
}

// The background checkpointer keeps the WAL from growing without bound, and
// Close leaves it empty.
func TestCheckpointerKeepsWALSmall(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ditto.db")
	s, err := Open(path, Options{Synchronous: SyncNormal})
	if err != nil {
		t.Fatal(err)
	}
	j, err := s.Journal("things")
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("x"), 4000)
	const rounds, perRound = 6, 300
	for r := range rounds {
		for i := range perRound {
			e := journal.Event{PID: fmt.Sprintf("thing:ns:%d-%d", r, i), SN: 1, Timestamp: time.Now(), Payload: payload}
			if err := j.Append(t.Context(), e); err != nil {
				t.Fatal(err)
			}
		}
		// Let a checkpoint happen before the next round.
		before := s.db.ckptr.Runs()
		streamstest.Eventually(t, 5*time.Second, func() error {
			if n := s.db.ckptr.Runs() - before; n < 2 {
				return fmt.Errorf("%d checkpoints, want at least 2 (errors: %d)", n, s.db.ckptr.Errors())
			}
			return nil
		})
	}
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Each append commits at least two frames (its row's page and its index
	// page), so a WAL never reused would hold at least every round's; reused
	// from the start once checkpointed, it holds about one or two rounds.
	// (Checkpoints also run during a round, so the size of one round's WAL
	// is no fixed figure to compare with.)
	const walFrameSize = 4096 + 24 // a page and its frame header
	if never := int64(rounds * perRound * 2 * walFrameSize); st.Size() > never/2 {
		t.Errorf("WAL is %d bytes after %d rounds; never reused it would be at least %d: want it reused", st.Size(), rounds, never)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path + "-wal"); err == nil && st.Size() > 0 {
		t.Errorf("WAL holds %d bytes after Close, want 0", st.Size())
	}
}

// Under appends that never pause, the WAL still starts over once it is
// large instead of growing without end.
func TestWALRestartsUnderSteadyLoad(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "ditto.db")
	s, err := Open(path, Options{Synchronous: SyncOff})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j, err := s.Journal("things")
	if err != nil {
		t.Fatal(err)
	}
	payload := bytes.Repeat([]byte("y"), 3000)
	ctx := t.Context()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	// Stops the writers, also when the wait below fails the test.
	stopWriters := sync.OnceFunc(func() {
		close(stop)
		wg.Wait()
	})
	defer stopWriters()
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				e := journal.Event{PID: fmt.Sprintf("thing:ns:%d-%d", w, i), SN: 1, Timestamp: time.Now(), Payload: payload}
				if err := j.Append(ctx, e); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	streamstest.Eventually(t, 60*time.Second, func() error {
		if n := s.db.ckptr.Restarts(); n < 2 {
			return fmt.Errorf("WAL restarted %d times under steady load, want at least 2", n)
		}
		return nil
	})
	stopWriters()
	st, err := os.Stat(path + "-wal")
	if err != nil {
		t.Fatal(err)
	}
	// Bounded by the limit plus what arrives until the writer looks.
	if limit := int64(2 * sqlitewal.Limit); st.Size() > limit {
		t.Errorf("WAL is %d bytes, want at most %d", st.Size(), limit)
	}
}
