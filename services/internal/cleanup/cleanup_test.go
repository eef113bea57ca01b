package cleanup

import (
	"context"
	"fmt"
	"math"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/journal/journaltest"
	"github.com/dittonats/dittonats/services/internal/sqlitestore"
	"github.com/dittonats/dittonats/streams"
)

const shards = 7

// openJournal is a things journal on a fresh embedded store.
func openJournal(t *testing.T) journal.Journal {
	t.Helper()
	s, err := sqlitestore.Open(filepath.Join(t.TempDir(), "journal.db"), sqlitestore.Options{Synchronous: sqlitestore.SyncOff})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	j, err := s.Journal(journal.Things)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// fakeHost serves the shards owned says (all when nil), with every event
// published before published (far in the future when zero); WithIdle
// refuses the ids in busy.
type fakeHost struct {
	mu        sync.Mutex
	owned     func(shard int) bool
	published time.Time
	busy      map[string]bool
	held      []string
}

func (h *fakeHost) Published(shard int) (time.Time, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	p := h.published
	if p.IsZero() {
		p = time.Now().Add(24 * time.Hour)
	}
	return p, h.owned == nil || h.owned(shard)
}

func (h *fakeHost) PublishedBefore(_ context.Context, shard int) (time.Time, error) {
	p, _ := h.Published(shard)
	return p, nil
}

func (h *fakeHost) WithIdle(id string, fn func()) bool {
	h.mu.Lock()
	busy := h.busy[id]
	if !busy {
		h.held = append(h.held, id)
	}
	h.mu.Unlock()
	if busy {
		return false
	}
	fn()
	return true
}

// testSettings clean everything at once: no retention, credits enough,
// two entities per query and three documents per delete, so that paging
// and batching are exercised.
func testSettings() Settings {
	return Settings{Enabled: true, QuietPeriod: time.Hour, Interval: time.Millisecond, TimerThreshold: time.Hour,
		CreditsPerBatch: 1000, ReadsPerQuery: 2, WritesPerCredit: 3}
}

func newCleaner(t *testing.T, s Settings, j journal.Journal, h Host, reg prometheus.Registerer) *Cleaner {
	t.Helper()
	c, err := New(s, Deps{Journal: j, Kind: "thing", Shards: shards, Host: h, Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	c.jitter = func() float64 { return 0 }
	return c
}

// runPass runs one pass from "" with a free budget.
func runPass(t *testing.T, c *Cleaner) *pass {
	t.Helper()
	c.mu.Lock()
	st := c.settings
	c.mu.Unlock()
	p := &pass{c: c, st: st, budget: free{}}
	if err := p.run(t.Context(), ""); err != nil {
		t.Fatalf("pass: %v", err)
	}
	return p
}

// history writes n events of pid, a snapshot every snapEvery, event sn
// at at(sn); the last is a deletion when deleted.
func history(t *testing.T, j journal.Journal, pid string, n, snapEvery int64, at func(sn int64) time.Time, deleted bool) {
	t.Helper()
	for sn := int64(1); sn <= n; sn++ {
		if err := j.Append(t.Context(), journal.Event{PID: pid, SN: sn, Timestamp: at(sn), Payload: []byte(fmt.Sprintf(`{"sn":%d}`, sn))}); err != nil {
			t.Fatal(err)
		}
		last := sn == n && deleted
		if sn%snapEvery == 0 || last {
			s := journal.Snapshot{PID: pid, SN: sn, Timestamp: at(sn), Payload: []byte(fmt.Sprintf(`{"state":%d}`, sn)), Deleted: last}
			if err := j.SaveSnapshot(t.Context(), s); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// longAgo times events an hour ago and more, a second apart.
func longAgo(sn int64) time.Time { return time.Now().Add(-2*time.Hour + time.Duration(sn)*time.Second) }

func expectStored(t *testing.T, j journal.Journal, pid string, events, snaps []int64) {
	t.Helper()
	gotEvents, gotSnaps := journaltest.StoredSNs(t, j, pid)
	if !slices.Equal(gotEvents, events) || !slices.Equal(gotSnaps, snaps) {
		t.Errorf("%s: events %v, snapshots %v; want %v, %v", pid, gotEvents, gotSnaps, events, snaps)
	}
}

func highestSN(t *testing.T, j journal.Journal, pid string) int64 {
	t.Helper()
	h, err := j.HighestSN(t.Context(), pid)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func sns(from, to int64) []int64 {
	var out []int64
	for sn := from; sn <= to; sn++ {
		out = append(out, sn)
	}
	return out
}

// counter reads a counter of reg by name.
func counter(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// An entity with 20 events and a snapshot every 5 loses, with no
// retention, everything before its latest snapshot; its state (the
// latest snapshot), HighestSN and next revision stay. Entities are
// walked page by page; one without a snapshot is left alone; the
// deletes are counted.
func TestPassKeepsCurrentState(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	reg := prometheus.NewRegistry()
	c := newCleaner(t, testSettings(), j, &fakeHost{}, reg)
	history(t, j, "thing:ns:a", 20, 5, longAgo, false)
	history(t, j, "thing:ns:b", 7, 5, longAgo, false)
	history(t, j, "thing:ns:c", 4, 5, longAgo, false) // no snapshot
	// More entities than one page holds.
	for i := range 3 {
		history(t, j, fmt.Sprintf("thing:ns:d%d", i), 6, 5, longAgo, false)
	}

	p := runPass(t, c)
	expectStored(t, j, "thing:ns:a", []int64{20}, []int64{20})
	expectStored(t, j, "thing:ns:b", []int64{5, 6, 7}, []int64{5})
	expectStored(t, j, "thing:ns:c", sns(1, 4), nil)
	for i := range 3 {
		expectStored(t, j, fmt.Sprintf("thing:ns:d%d", i), []int64{5, 6}, []int64{5})
	}
	if h := highestSN(t, j, "thing:ns:a"); h != 20 {
		t.Errorf("HighestSN %d, want 20", h)
	}
	snap, ok, err := j.LatestSnapshot(t.Context(), "thing:ns:a", math.MaxInt64)
	if err != nil || !ok || string(snap.Payload) != `{"state":20}` {
		t.Errorf("latest snapshot %+v %t %v, want the state at 20", snap, ok, err)
	}
	if err := j.Append(t.Context(), journal.Event{PID: "thing:ns:a", SN: 21, Timestamp: time.Now(), Payload: []byte(`{}`)}); err != nil {
		t.Errorf("the next revision after cleanup: %v", err)
	}
	// 19 + 4 + 3*4 events, 3 + 3*0 snapshots.
	if p.deletedEvents != 35 || p.deletedSnaps != 3 || p.entities != 5 {
		t.Errorf("pass deleted %d events, %d snapshots of %d entities; want 35, 3, 5", p.deletedEvents, p.deletedSnaps, p.entities)
	}
	if got := counter(t, reg, "cleanup_delete_events_total"); got != 35 {
		t.Errorf("cleanup_delete_events_total %v, want 35", got)
	}
	if got := counter(t, reg, "cleanup_delete_snapshots_total"); got != 3 {
		t.Errorf("cleanup_delete_snapshots_total %v, want 3", got)
	}
	// Nothing is left to do: a second pass deletes nothing.
	if p := runPass(t, c); p.deletedEvents+p.deletedSnaps != 0 {
		t.Errorf("second pass deleted %d events, %d snapshots", p.deletedEvents, p.deletedSnaps)
	}
}

// The retention keeps the history younger than it, and the snapshot
// that history starts from.
func TestPassRetentionKeepsYoungHistory(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	s := testSettings()
	s.HistoryRetention = time.Hour
	c := newCleaner(t, s, j, &fakeHost{}, nil)
	now := time.Now()
	// Events 1..10 three hours ago, 11..15 half an hour ago, 16..20 in
	// the last minute.
	at := func(sn int64) time.Time {
		switch {
		case sn <= 10:
			return now.Add(-3*time.Hour + time.Duration(sn)*time.Minute)
		case sn <= 15:
			return now.Add(-30*time.Minute + time.Duration(sn)*time.Second)
		}
		return now.Add(-time.Minute + time.Duration(sn)*time.Second)
	}
	history(t, j, "thing:ns:a", 20, 5, at, false)
	history(t, j, "thing:ns:young", 10, 5, func(sn int64) time.Time { return now.Add(time.Duration(sn-20) * time.Second) }, false)
	runPass(t, c)
	expectStored(t, j, "thing:ns:a", sns(10, 20), []int64{10, 15, 20})
	expectStored(t, j, "thing:ns:young", sns(1, 10), []int64{5, 10})
	// A shorter retention lets more go.
	c.settings.HistoryRetention = 5 * time.Minute
	runPass(t, c)
	expectStored(t, j, "thing:ns:a", sns(15, 20), []int64{15, 20})
}

// A deleted entity keeps its final snapshot (and event), so that it is
// created again at the next revision, unless
// CLEANUP_DELETE_FINAL_DELETED_SNAPSHOT: then nothing is left, and it
// starts again at 1. Not while it is busy, recreated, or deleted within
// the duplicate window.
func TestPassDeletedEntity(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name          string
		deleteFinal   bool
		busy          bool
		recreated     bool
		window        time.Duration
		events, snaps []int64
		highest       int64
	}{
		{name: "kept by default", events: []int64{12}, snaps: []int64{12}, highest: 12},
		{name: "deleted when configured", deleteFinal: true, highest: 0},
		{name: "kept while busy", deleteFinal: true, busy: true, events: []int64{12}, snaps: []int64{12}, highest: 12},
		{name: "kept when created again", deleteFinal: true, recreated: true, events: []int64{12, 13, 14}, snaps: []int64{12}, highest: 14},
		{name: "kept within the duplicate window", deleteFinal: true, window: 24 * time.Hour, events: []int64{12}, snaps: []int64{12}, highest: 12},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			j := openJournal(t)
			s := testSettings()
			s.DeleteFinalDeletedSnapshot = tt.deleteFinal
			const pid = "thing:ns:gone"
			host := &fakeHost{busy: map[string]bool{"ns:gone": tt.busy}}
			c, err := New(s, Deps{Journal: j, Kind: "thing", Shards: shards, Host: host, DuplicateWindow: tt.window})
			if err != nil {
				t.Fatal(err)
			}
			history(t, j, pid, 12, 5, longAgo, true)
			if tt.recreated {
				for sn := int64(13); sn <= 14; sn++ {
					if err := j.Append(t.Context(), journal.Event{PID: pid, SN: sn, Timestamp: longAgo(sn), Payload: []byte(`{}`)}); err != nil {
						t.Fatal(err)
					}
				}
			}
			runPass(t, c)
			expectStored(t, j, pid, tt.events, tt.snaps)
			if h := highestSN(t, j, pid); h != tt.highest {
				t.Errorf("HighestSN %d, want %d", h, tt.highest)
			}
			if tt.highest == 0 {
				if len(host.held) != 1 || host.held[0] != "ns:gone" {
					t.Errorf("held %v, want the entity held while its last snapshot went", host.held)
				}
				if err := j.Append(t.Context(), journal.Event{PID: pid, SN: 1, Timestamp: time.Now(), Payload: []byte(`{}`)}); err != nil {
					t.Errorf("created again at revision 1: %v", err)
				}
			}
		})
	}
}

// Only the entities of the shards this instance serves are cleaned, and
// of those only what is published.
func TestPassOwnedAndPublishedOnly(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	mine, theirs := "ns:mine", "ns:theirs-0"
	for i := 0; streams.Shard(theirs, shards) == streams.Shard(mine, shards); i++ {
		theirs = fmt.Sprintf("ns:theirs-%d", i)
	}
	myShard := streams.Shard(mine, shards)
	host := &fakeHost{owned: func(s int) bool { return s == myShard }}
	c := newCleaner(t, testSettings(), j, host, nil)
	for _, id := range []string{mine, theirs} {
		history(t, j, "thing:"+id, 10, 5, longAgo, false)
	}
	// The publisher is behind the latest snapshot: nothing goes yet.
	host.published = longAgo(9)
	runPass(t, c)
	expectStored(t, j, "thing:"+mine, sns(1, 10), []int64{5, 10})
	host.published = longAgo(11)
	runPass(t, c)
	expectStored(t, j, "thing:"+mine, []int64{10}, []int64{10})
	expectStored(t, j, "thing:"+theirs, sns(1, 10), []int64{5, 10})
}

// countingBudget grants every credit and counts them.
type countingBudget struct{ taken int }

func (b *countingBudget) take(ctx context.Context) error { b.taken++; return ctx.Err() }
func (b *countingBudget) observe(time.Duration)          {}

// One credit pays for one delete of at most CLEANUP_WRITES_PER_CREDIT
// documents, and an entity with nothing to delete costs none.
func TestWritesPerCredit(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	c := newCleaner(t, testSettings(), j, &fakeHost{}, nil)
	history(t, j, "thing:ns:a", 20, 5, longAgo, false)
	b := &countingBudget{}
	p := &pass{c: c, st: c.settings, budget: b}
	if err := p.run(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	// Events 1..19 by 3: seven deletes (the last of 1). Snapshots 5, 10,
	// 15: one delete.
	if b.taken != 8 {
		t.Errorf("took %d credits, want 8", b.taken)
	}
	b.taken = 0
	if err := p.run(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if b.taken != 0 {
		t.Errorf("a clean entity took %d credits, want 0", b.taken)
	}
}

// fakeClock is a clock whose sleeps advance it; it fails a sleep once
// maxSleeps were taken.
type fakeClock struct {
	now       time.Time
	sleeps    []time.Duration
	maxSleeps int
}

func (f *fakeClock) Now() time.Time { return f.now }

func (f *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if len(f.sleeps) >= f.maxSleeps {
		return context.DeadlineExceeded
	}
	f.sleeps = append(f.sleeps, d)
	f.now = f.now.Add(d)
	return ctx.Err()
}

// Credits come per tick, a batch at a time, none for a tick after a
// slow delete, none ever with a zero threshold or batch; ticks missed
// while busy do not pile up.
func TestCredits(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	settings := Settings{Interval: time.Second, TimerThreshold: 100 * time.Millisecond, CreditsPerBatch: 3}
	clock := &fakeClock{now: start, maxSleeps: 100}
	cr := newCredits(settings, nil, clock.Now, clock.Sleep)
	takeAt := func(want time.Duration) {
		t.Helper()
		if err := cr.take(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := clock.now.Sub(start); got != want {
			t.Fatalf("credit at %v, want %v", got, want)
		}
	}
	for range 3 {
		takeAt(0) // the first tick is at once
	}
	cr.observe(50 * time.Millisecond)
	for range 3 {
		takeAt(time.Second)
	}
	cr.observe(100 * time.Millisecond) // at the threshold: the tick at 2s grants none
	takeAt(3 * time.Second)
	takeAt(3 * time.Second)
	takeAt(3 * time.Second)
	// Busy for 10.5s: the ticks meanwhile are gone, the next is at 14s,
	// with one batch.
	clock.now = clock.now.Add(10500 * time.Millisecond)
	for range 3 {
		takeAt(14 * time.Second)
	}
	takeAt(15 * time.Second)

	for _, s := range []Settings{
		{Interval: time.Second, TimerThreshold: 0, CreditsPerBatch: 3},
		{Interval: time.Second, TimerThreshold: time.Second, CreditsPerBatch: 0},
	} {
		clock := &fakeClock{now: start, maxSleeps: 50}
		cr := newCredits(s, nil, clock.Now, clock.Sleep)
		if err := cr.take(t.Context()); err == nil {
			t.Errorf("threshold %v, %d per batch: got a credit, want none ever", s.TimerThreshold, s.CreditsPerBatch)
		}
		if len(clock.sleeps) != 50 {
			t.Errorf("threshold %v, %d per batch: waited %d ticks, want every tick", s.TimerThreshold, s.CreditsPerBatch, len(clock.sleeps))
		}
	}
}

// A slow write of anyone to the store (an entity's append) withholds the
// next tick's credits as a slow delete does; what was slow before the
// pass does not.
func TestCreditsFollowTheStoresWrites(t *testing.T) {
	t.Parallel()
	start := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	settings := Settings{Interval: time.Second, TimerThreshold: 100 * time.Millisecond, CreditsPerBatch: 1}
	clock := &fakeClock{now: start, maxSleeps: 100}
	var slowest time.Duration
	writes := func() time.Duration {
		d := slowest
		slowest = 0
		return d
	}
	slowest = time.Minute // before the pass
	cr := newCredits(settings, writes, clock.Now, clock.Sleep)
	takeAt := func(want time.Duration) {
		t.Helper()
		if err := cr.take(t.Context()); err != nil {
			t.Fatal(err)
		}
		if got := clock.now.Sub(start); got != want {
			t.Fatalf("credit at %v, want %v", got, want)
		}
	}
	takeAt(0)
	slowest = 99 * time.Millisecond
	takeAt(time.Second)
	slowest = 150 * time.Millisecond // an append took that long: no credit at 2s
	takeAt(3 * time.Second)
}

// The journal's watch keeps the slowest write until asked, then starts
// over; reads are not writes.
func TestWriteWatch(t *testing.T) {
	t.Parallel()
	w := journal.WatchWrites(openJournal(t))
	if got := w.TakeSlowest(); got != 0 {
		t.Fatalf("slowest before any write: %v", got)
	}
	if err := w.Append(t.Context(), journal.Event{PID: "thing:a:b", SN: 1, Timestamp: time.Now(), Payload: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Events(t.Context(), "thing:a:b", 1, 1); err != nil {
		t.Fatal(err)
	}
	if got := w.TakeSlowest(); got <= 0 {
		t.Fatalf("slowest after an append: %v, want its time", got)
	}
	if got := w.TakeSlowest(); got != 0 {
		t.Fatalf("slowest taken twice: %v, want 0", got)
	}
}

// slowJournal takes d of the fake clock for every delete.
type slowJournal struct {
	journal.Journal
	clock *fakeClock
	d     time.Duration
}

func (s slowJournal) DeleteEvents(ctx context.Context, pid string, toSN int64, limit int) (int64, error) {
	s.clock.now = s.clock.now.Add(s.d)
	return s.Journal.DeleteEvents(ctx, pid, toSN, limit)
}

// A pass is throttled while deletes are slower than the threshold: after
// each batch of slow deletes one tick grants nothing.
func TestPassThrottledBySlowDeletes(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		took  time.Duration
		ticks int // interval ticks waited for the deletes
	}{
		{"fast store", 10 * time.Millisecond, 2},
		{"slow store", 200 * time.Millisecond, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{now: time.Now(), maxSleeps: 100}
			j := openJournal(t)
			s := testSettings()
			s.Interval, s.TimerThreshold, s.CreditsPerBatch, s.WritesPerCredit = time.Second, 100*time.Millisecond, 2, 1
			c := newCleaner(t, s, slowJournal{Journal: j, clock: clock, d: tt.took}, &fakeHost{}, nil)
			c.now, c.sleep = clock.Now, clock.Sleep
			// Events 1..6 below the latest snapshot at 7, one per delete:
			// 6 deletes, 3 batches of 2; no snapshot below 7.
			history(t, j, "thing:ns:a", 7, 7, longAgo, false)
			p := &pass{c: c, st: s, budget: newCredits(s, nil, c.now, c.sleep)}
			if err := p.run(t.Context(), ""); err != nil {
				t.Fatal(err)
			}
			expectStored(t, j, "thing:ns:a", []int64{7}, []int64{7})
			if len(clock.sleeps) != tt.ticks {
				t.Errorf("waited for %d ticks (%v), want %d", len(clock.sleeps), clock.sleeps, tt.ticks)
			}
		})
	}
}
