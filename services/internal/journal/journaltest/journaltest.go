package journaltest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/journal"
)

// OpenFunc opens the store called key. Calling it again with the same key,
// after the first store was closed, must give a store over the same data;
// different keys must give independent stores. Keys are short lowercase
// words, usable in file and database names. open is called from parallel
// subtests. It registers the store's Close with t.Cleanup; the suite may also
// close it earlier.
type OpenFunc func(t *testing.T, key string) journal.Store

// Config sizes the suite's concurrency test. The zero value is the full
// size: 200 pids x 20 sns, each sn raced by two appends, from 64 goroutines.
// Back ends whose every query is a collection scan (FerretDB) may shrink it.
// PurgeEntities is how many entities the large namespace purge erases
// (default 3000: more than one chunk of the SQLite adapter).
type Config struct {
	PIDs, SNs, Goroutines int
	PurgeEntities         int
}

func (c Config) withDefaults() Config {
	if c.PIDs <= 0 {
		c.PIDs = 200
	}
	if c.SNs <= 0 {
		c.SNs = 20
	}
	if c.Goroutines <= 0 {
		c.Goroutines = 64
	}
	if c.PurgeEntities <= 0 {
		c.PurgeEntities = 3000
	}
	if testing.Short() {
		c.PIDs = max(1, c.PIDs/10)
		c.SNs = max(1, c.SNs/2)
		c.PurgeEntities = max(1, c.PurgeEntities/10)
	}
	return c
}

// Run runs the conformance suite at full size against the adapter that open
// opens. The subtests run in parallel, each on its own key. With -short the
// concurrency test runs at a twentieth of its size.
func Run(t *testing.T, open OpenFunc) {
	RunWith(t, open, Config{})
}

// RunWith runs the conformance suite with the concurrency test sized by cfg.
func RunWith(t *testing.T, open OpenFunc, cfg Config) {
	cfg = cfg.withDefaults()
	tests := []struct {
		name string
		fn   func(t *testing.T, open OpenFunc)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"EventsRanges", testEventsRanges},
		{"EventsSince", testEventsSince},
		{"PIDs", testPIDs},
		{"HighestSN", testHighestSN},
		{"SNAt", testSNAt},
		{"Conflict", testConflict},
		{"Concurrent", func(t *testing.T, open OpenFunc) { testConcurrent(t, open, cfg) }},
		{"Snapshots", testSnapshots},
		{"SeparateJournals", testSeparateJournals},
		{"Invalid", testInvalid},
		{"CanceledContext", testCanceledContext},
		{"Closed", testClosed},
		{"ClosePendingAppends", testClosePendingAppends},
		{"Reopen", testReopen},
		{"PurgeNamespace", testPurgeNamespace},
		{"PurgeNamespaceLarge", func(t *testing.T, open OpenFunc) { testPurgeNamespaceLarge(t, open, cfg.PurgeEntities) }},
		{"NewestSnapshots", testNewestSnapshots},
		{"LowestSN", testLowestSN},
		{"DeleteUpTo", testDeleteUpTo},
		{"DeleteWhileAppending", testDeleteWhileAppending},
		{"CleanupInvalidAndClosed", testCleanupInvalidAndClosed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.fn(t, open)
		})
	}
}

// pid is shared by the subtests on purpose: their stores are distinct, so a
// store that ignored its key would show up as conflicts.
const pid = "thing:org.eclipse.ditto:the-thing"

// base has sub-millisecond digits and a non-UTC zone, both of which a store
// must drop.
var base = time.Date(2024, 5, 6, 7, 8, 9, 123456789, time.FixedZone("CEST", 2*3600))

func ms(t time.Time) time.Time { return t.Truncate(time.Millisecond).UTC() }

func journalOf(t *testing.T, s journal.Store, name string) journal.Journal {
	t.Helper()
	j, err := s.Journal(name)
	if err != nil {
		t.Fatalf("Journal(%q): %v", name, err)
	}
	return j
}

func event(pid string, sn int64, payload string) journal.Event {
	return journal.Event{
		PID:       pid,
		SN:        sn,
		Timestamp: base.Add(time.Duration(sn) * time.Second),
		Payload:   []byte(payload),
	}
}

func appendAll(t *testing.T, j journal.Journal, events ...journal.Event) {
	t.Helper()
	for _, e := range events {
		if err := j.Append(t.Context(), e); err != nil {
			t.Fatalf("Append(%s, %d): %v", e.PID, e.SN, err)
		}
	}
}

func readAll(t *testing.T, j journal.Journal, pid string) []journal.Event {
	t.Helper()
	got, err := j.Events(t.Context(), pid, 0, math.MaxInt64)
	if err != nil {
		t.Fatalf("Events(%s): %v", pid, err)
	}
	return got
}

// sameEvent reports how got differs from what storing want must give back.
func sameEvent(got, want journal.Event) error {
	if len(want.Headers) == 0 {
		want.Headers = nil
	}
	switch {
	case got.PID != want.PID || got.SN != want.SN:
		return fmt.Errorf("got event %s/%d, want %s/%d", got.PID, got.SN, want.PID, want.SN)
	case !got.Timestamp.Equal(ms(want.Timestamp)) || got.Timestamp.Location() != time.UTC:
		return fmt.Errorf("event %s/%d: got timestamp %v, want %v", got.PID, got.SN, got.Timestamp, ms(want.Timestamp))
	case !bytes.Equal(got.Payload, want.Payload):
		return fmt.Errorf("event %s/%d: got payload %q, want %q", got.PID, got.SN, got.Payload, want.Payload)
	case !maps.Equal(got.Headers, want.Headers) || (got.Headers == nil) != (want.Headers == nil):
		return fmt.Errorf("event %s/%d: got headers %v, want %v", got.PID, got.SN, got.Headers, want.Headers)
	}
	return nil
}

func sameEvents(t *testing.T, got, want []journal.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range got {
		if err := sameEvent(got[i], want[i]); err != nil {
			t.Error(err)
		}
	}
}

func sameSnapshot(t *testing.T, got journal.Snapshot, ok bool, want journal.Snapshot) {
	t.Helper()
	switch {
	case !ok:
		t.Fatalf("got no snapshot, want %s/%d", want.PID, want.SN)
	case got.PID != want.PID || got.SN != want.SN:
		t.Errorf("got snapshot %s/%d, want %s/%d", got.PID, got.SN, want.PID, want.SN)
	case !got.Timestamp.Equal(ms(want.Timestamp)) || got.Timestamp.Location() != time.UTC:
		t.Errorf("snapshot %d: got timestamp %v, want %v", got.SN, got.Timestamp, ms(want.Timestamp))
	case !bytes.Equal(got.Payload, want.Payload):
		t.Errorf("snapshot %d: got payload %q, want %q", got.SN, got.Payload, want.Payload)
	case got.Deleted != want.Deleted:
		t.Errorf("snapshot %d: got deleted %t, want %t", got.SN, got.Deleted, want.Deleted)
	}
}

func testAppendAndRead(t *testing.T, open OpenFunc) {
	j := journalOf(t, open(t, "append"), journal.Things)
	want := []journal.Event{
		{
			PID:       pid,
			SN:        1,
			Timestamp: base,
			Payload:   []byte(`{"topic":"org.eclipse.ditto/the-thing/things/twin/events/created","path":"/","value":{"attributes":{"a.b":1,"$c":"ü\u0000"}}}`),
			Headers:   map[string]string{"correlation-id": "c-1", "ditto-originator": "nginx:ditto"},
		},
		{
			PID:       pid,
			SN:        2,
			Timestamp: base.Add(1500 * time.Microsecond),
			Payload:   []byte("\x00\xff not JSON, still kept byte for byte"),
			Headers:   map[string]string{"a.b": "dotted", "$set": "dollar", "": "empty key", "ü": "\x00"},
		},
		{PID: pid, SN: 3, Timestamp: base.Add(time.Hour), Payload: []byte(`{}`), Headers: map[string]string{}},
		{PID: pid, SN: 4, Payload: []byte(`{"zero":"timestamp"}`)},
		{PID: pid, SN: 5, Timestamp: base, Payload: nil},
	}
	appendAll(t, j, want...)
	sameEvents(t, readAll(t, j, pid), want)
	if got := readAll(t, j, pid+"x"); len(got) != 0 {
		t.Errorf("got %d events of an unknown pid, want 0", len(got))
	}
}

func testEventsRanges(t *testing.T, open OpenFunc) {
	j := journalOf(t, open(t, "ranges"), journal.Things)
	var all []journal.Event
	for sn := int64(1); sn <= 5; sn++ {
		all = append(all, event(pid, sn, fmt.Sprintf(`{"sn":%d}`, sn)))
	}
	appendAll(t, j, all...)
	appendAll(t, j, event(pid+"-other", 1, `{}`), event("thing:org.eclipse.ditto:the", 1, `{}`))

	tests := []struct {
		name     string
		pid      string
		from, to int64
		want     []journal.Event
	}{
		{"all", pid, 0, math.MaxInt64, all},
		{"exact bounds", pid, 1, 5, all},
		{"inner", pid, 2, 4, all[1:4]},
		{"single", pid, 3, 3, all[2:3]},
		{"from only", pid, 4, math.MaxInt64, all[3:]},
		{"to only", pid, math.MinInt64, 2, all[:2]},
		{"beyond", pid, 6, 10, nil},
		{"reversed", pid, 4, 2, nil},
		{"negative", pid, -5, -1, nil},
		{"unknown pid", "thing:org.eclipse.ditto:none", 0, math.MaxInt64, nil},
		{"prefix of a pid", "thing:org.eclipse.ditto:the-", 0, math.MaxInt64, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := j.Events(t.Context(), tt.pid, tt.from, tt.to)
			if err != nil {
				t.Fatalf("Events(%d, %d): %v", tt.from, tt.to, err)
			}
			sameEvents(t, got, tt.want)
		})
	}
}

// testPIDs lists every entity once, in order, page by page, whether it has
// events, a snapshot or both, and no other journal's.
func testPIDs(t *testing.T, open OpenFunc) {
	s := open(t, "pids")
	j := journalOf(t, s, journal.Things)
	want := []string{"thing:a:1", "thing:a:2", "thing:a:3", "thing:b:1", "thing:b:10", "thing:b:2"}
	for i, p := range want {
		if i == 3 {
			// Only a snapshot: its events were cleaned up.
			if err := j.SaveSnapshot(t.Context(), journal.Snapshot{PID: p, SN: 4, Timestamp: base, Payload: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
			continue
		}
		for sn := int64(1); sn <= 3; sn++ {
			appendAll(t, j, event(p, sn, `{}`))
		}
		if i == 1 {
			if err := j.SaveSnapshot(t.Context(), journal.Snapshot{PID: p, SN: 3, Timestamp: base, Payload: []byte(`{}`)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	appendAll(t, journalOf(t, s, journal.Policies), event("policy:a:0", 1, `{}`))
	for _, limit := range []int{1, 2, 4, 100} {
		var got []string
		after := ""
		for range 20 {
			page, err := j.PIDs(t.Context(), after, limit)
			if err != nil {
				t.Fatalf("PIDs(%q, %d): %v", after, limit, err)
			}
			if len(page) > limit {
				t.Fatalf("PIDs(%q, %d) = %v: more than the limit", after, limit, page)
			}
			if len(page) == 0 {
				break
			}
			got = append(got, page...)
			after = page[len(page)-1]
		}
		if !slices.Equal(got, want) {
			t.Errorf("pages of %d: got %v, want %v", limit, got, want)
		}
	}
	if got, err := j.PIDs(t.Context(), "", 0); err != nil || len(got) != 0 {
		t.Errorf("PIDs with limit 0 = %v, %v; want none", got, err)
	}
}

// testEventsSince finds exactly the events at or after a time, of every
// pid, and stops at the first error of its callback.
func testEventsSince(t *testing.T, open OpenFunc) {
	j := journalOf(t, open(t, "since"), journal.Things)
	other := pid + "-other"
	for sn := int64(1); sn <= 5; sn++ {
		appendAll(t, j, event(pid, sn, `{}`)) // at base + sn seconds
	}
	appendAll(t, j, event(other, 3, `{}`), event(other, 4, `{}`))
	// Another journal's events are not this one's.
	appendAll(t, journalOf(t, open(t, "since"), journal.Policies), event(pid, 5, `{}`))

	collect := func(since time.Time) map[string]time.Time {
		t.Helper()
		got := map[string]time.Time{}
		err := j.EventsSince(t.Context(), since, func(r journal.EventRef) error {
			got[fmt.Sprintf("%s/%d", r.PID, r.SN)] = r.Timestamp
			return nil
		})
		if err != nil {
			t.Fatalf("EventsSince(%v): %v", since, err)
		}
		return got
	}
	tests := []struct {
		name  string
		since time.Time
		want  []string
	}{
		{"all", base.Add(-time.Hour), []string{pid + "/1", pid + "/2", pid + "/3", pid + "/4", pid + "/5", other + "/3", other + "/4"}},
		// Inclusive, to the millisecond the stores keep.
		{"at an event", ms(base.Add(4 * time.Second)), []string{pid + "/4", pid + "/5", other + "/4"}},
		{"between events", base.Add(4500 * time.Millisecond), []string{pid + "/5"}},
		{"after all", base.Add(time.Hour), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := collect(tt.since)
			if len(got) != len(tt.want) {
				t.Errorf("got %d events %v, want %v", len(got), got, tt.want)
			}
			for _, w := range tt.want {
				ts, ok := got[w]
				if !ok {
					t.Errorf("event %s missing from %v", w, got)
					continue
				}
				var sn int64
				fmt.Sscanf(w[len(w)-1:], "%d", &sn)
				if want := ms(base.Add(time.Duration(sn) * time.Second)); !ts.Equal(want) || ts.Location() != time.UTC {
					t.Errorf("event %s: timestamp %v, want %v in UTC", w, ts, want)
				}
			}
		})
	}

	stop := errors.New("stop")
	calls := 0
	err := j.EventsSince(t.Context(), base.Add(-time.Hour), func(journal.EventRef) error {
		calls++
		return stop
	})
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: got %v after %d calls, want it returned after 1", err, calls)
	}
}

func highest(t *testing.T, j journal.Journal, pid string) int64 {
	t.Helper()
	sn, err := j.HighestSN(t.Context(), pid)
	if err != nil {
		t.Fatalf("HighestSN(%s): %v", pid, err)
	}
	return sn
}

func testHighestSN(t *testing.T, open OpenFunc) {
	j := journalOf(t, open(t, "highest"), journal.Things)
	if got := highest(t, j, pid); got != 0 {
		t.Errorf("empty journal: got HighestSN %d, want 0", got)
	}
	for sn := int64(1); sn <= 12; sn++ {
		appendAll(t, j, event(pid, sn, `{}`))
	}
	if got := highest(t, j, pid); got != 12 {
		t.Errorf("after 12 events: got HighestSN %d, want 12", got)
	}
	if got := highest(t, j, pid+"x"); got != 0 {
		t.Errorf("other pid: got HighestSN %d, want 0", got)
	}

	// Snapshots count: after cleanup removed the events a snapshot covers,
	// the next revision must still follow the snapshot.
	snapOnly := "thing:org.eclipse.ditto:snapshot-only"
	if err := j.SaveSnapshot(t.Context(), journal.Snapshot{PID: snapOnly, SN: 7, Timestamp: base, Payload: []byte(`{}`)}); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	if got := highest(t, j, snapOnly); got != 7 {
		t.Errorf("snapshot only: got HighestSN %d, want 7", got)
	}
	appendAll(t, j, event(snapOnly, 8, `{}`))
	if got := highest(t, j, snapOnly); got != 8 {
		t.Errorf("snapshot then event: got HighestSN %d, want 8", got)
	}
	if err := j.SaveSnapshot(t.Context(), journal.Snapshot{PID: pid, SN: 5, Timestamp: base, Payload: []byte(`{}`)}); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	if got := highest(t, j, pid); got != 12 {
		t.Errorf("older snapshot: got HighestSN %d, want 12", got)
	}
}

func testConflict(t *testing.T, open OpenFunc) {
	j := journalOf(t, open(t, "conflict"), journal.Things)
	first := event(pid, 1, `{"winner":true}`)
	first.Headers = map[string]string{"correlation-id": "first"}
	appendAll(t, j, first)

	second := event(pid, 1, `{"winner":false}`)
	second.Timestamp = second.Timestamp.Add(time.Minute)
	second.Headers = map[string]string{"correlation-id": "second"}
	if err := j.Append(t.Context(), second); !errors.Is(err, journal.ErrConflict) {
		t.Fatalf("second Append of sn 1: got %v, want ErrConflict", err)
	}
	// Same bytes are still a conflict: the store cannot tell a retry from a
	// second writer.
	if err := j.Append(t.Context(), first); !errors.Is(err, journal.ErrConflict) {
		t.Fatalf("identical Append of sn 1: got %v, want ErrConflict", err)
	}
	next := event(pid, 2, `{"next":true}`)
	appendAll(t, j, next)
	sameEvents(t, readAll(t, j, pid), []journal.Event{first, next})
}

func testConcurrent(t *testing.T, open OpenFunc, cfg Config) {
	pids, sns, workers := cfg.PIDs, cfg.SNs, cfg.Goroutines
	j := journalOf(t, open(t, "concurrent"), journal.Things)

	type attempt struct {
		e      journal.Event
		racer  int
		result error
	}
	// Both racers for one (pid, sn) sit next to each other in the queue, so
	// two workers usually pick them up at the same moment.
	attempts := make([]attempt, 0, pids*sns*2)
	for sn := 1; sn <= sns; sn++ {
		for p := range pids {
			for racer := range 2 {
				e := event(fmt.Sprintf("thing:ns:%d", p), int64(sn), fmt.Sprintf(`{"p":%d,"sn":%d,"racer":%d,"pad":%q}`, p, sn, racer, bytes.Repeat([]byte{'x'}, 500)))
				e.Headers = map[string]string{"racer": fmt.Sprint(racer)}
				attempts = append(attempts, attempt{e: e, racer: racer})
			}
		}
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := range next {
				attempts[i].result = j.Append(t.Context(), attempts[i].e)
			}
		})
	}
	for i := range attempts {
		next <- i
	}
	close(next)
	wg.Wait()

	winners := make(map[string]journal.Event, pids*sns)
	for i := 0; i < len(attempts); i += 2 {
		a, b := attempts[i], attempts[i+1]
		key := fmt.Sprintf("%s/%d", a.e.PID, a.e.SN)
		switch {
		case a.result == nil && errors.Is(b.result, journal.ErrConflict):
			winners[key] = a.e
		case b.result == nil && errors.Is(a.result, journal.ErrConflict):
			winners[key] = b.e
		default:
			t.Fatalf("%s: got results %v and %v, want one nil and one ErrConflict", key, a.result, b.result)
		}
	}
	for p := range pids {
		pid := fmt.Sprintf("thing:ns:%d", p)
		got := readAll(t, j, pid)
		want := make([]journal.Event, sns)
		for sn := 1; sn <= sns; sn++ {
			want[sn-1] = winners[fmt.Sprintf("%s/%d", pid, sn)]
		}
		sameEvents(t, got, want)
		if h := highest(t, j, pid); h != int64(sns) {
			t.Errorf("%s: got HighestSN %d, want %d", pid, h, sns)
		}
	}
}

func latest(t *testing.T, j journal.Journal, pid string, maxSN int64) (journal.Snapshot, bool) {
	t.Helper()
	s, ok, err := j.LatestSnapshot(t.Context(), pid, maxSN)
	if err != nil {
		t.Fatalf("LatestSnapshot(%s, %d): %v", pid, maxSN, err)
	}
	return s, ok
}

func testSnapshots(t *testing.T, open OpenFunc) {
	j := journalOf(t, open(t, "snapshots"), journal.Things)
	if _, ok := latest(t, j, pid, math.MaxInt64); ok {
		t.Fatal("empty store: got a snapshot, want none")
	}
	snap := func(sn int64, payload string, deleted bool) journal.Snapshot {
		return journal.Snapshot{PID: pid, SN: sn, Timestamp: base.Add(time.Duration(sn) * time.Millisecond), Payload: []byte(payload), Deleted: deleted}
	}
	saved := map[int64]journal.Snapshot{
		5:  snap(5, `{"thingId":"org.eclipse.ditto:the-thing","attributes":{"a.b":{"$c":1}}}`, false),
		10: snap(10, "\x00\xff", false),
		15: snap(15, `{"thingId":"org.eclipse.ditto:the-thing"}`, true),
	}
	for _, sn := range []int64{10, 15, 5} {
		if err := j.SaveSnapshot(t.Context(), saved[sn]); err != nil {
			t.Fatalf("SaveSnapshot(%d): %v", sn, err)
		}
	}
	other := journal.Snapshot{PID: pid + "-other", SN: 12, Timestamp: base, Payload: []byte(`{}`)}
	if err := j.SaveSnapshot(t.Context(), other); err != nil {
		t.Fatalf("SaveSnapshot(other): %v", err)
	}

	tests := []struct {
		name  string
		maxSN int64
		want  int64 // 0: none
	}{
		{"below the first", 4, 0},
		{"zero", 0, 0},
		{"the first exactly", 5, 5},
		{"between", 12, 10},
		{"the last exactly", 15, 15},
		{"unbounded", math.MaxInt64, 15},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := latest(t, j, pid, tt.maxSN)
			if tt.want == 0 {
				if ok {
					t.Fatalf("got snapshot %d, want none", got.SN)
				}
				return
			}
			sameSnapshot(t, got, ok, saved[tt.want])
		})
	}

	// Saving a (pid, sn) again replaces it: the last one wins.
	replaced := snap(10, `{"replaced":true}`, true)
	replaced.Timestamp = base.Add(time.Hour)
	if err := j.SaveSnapshot(t.Context(), replaced); err != nil {
		t.Fatalf("SaveSnapshot(10 again): %v", err)
	}
	got, ok := latest(t, j, pid, 14)
	sameSnapshot(t, got, ok, replaced)
	got, ok = latest(t, j, other.PID, math.MaxInt64)
	sameSnapshot(t, got, ok, other)
}

func testSeparateJournals(t *testing.T, open OpenFunc) {
	s := open(t, "separate")
	names := []string{journal.Things, journal.Policies, journal.Connections}
	for i, name := range names {
		j := journalOf(t, s, name)
		appendAll(t, j, event(pid, 1, fmt.Sprintf(`{"journal":%q}`, name)))
		for sn := int64(2); sn <= int64(i+1); sn++ {
			appendAll(t, j, event(pid, sn, `{}`))
		}
		if err := j.SaveSnapshot(t.Context(), journal.Snapshot{PID: pid, SN: 1, Timestamp: base, Payload: []byte(name)}); err != nil {
			t.Fatalf("SaveSnapshot(%s): %v", name, err)
		}
	}
	for i, name := range names {
		// A second Journal call for the same name sees the same data.
		j := journalOf(t, s, name)
		got := readAll(t, j, pid)
		if len(got) != i+1 {
			t.Fatalf("%s: got %d events, want %d", name, len(got), i+1)
		}
		if want := fmt.Sprintf(`{"journal":%q}`, name); string(got[0].Payload) != want {
			t.Errorf("%s: got first event %s, want %s", name, got[0].Payload, want)
		}
		if h := highest(t, j, pid); h != int64(i+1) {
			t.Errorf("%s: got HighestSN %d, want %d", name, h, i+1)
		}
		snap, ok := latest(t, j, pid, math.MaxInt64)
		if !ok || string(snap.Payload) != name {
			t.Errorf("%s: got snapshot %q (found %t), want %q", name, snap.Payload, ok, name)
		}
	}
}

func testInvalid(t *testing.T, open OpenFunc) {
	s := open(t, "invalid")
	for _, name := range []string{"", "Things", "things; DROP TABLE x", "things.journal", "$cmd"} {
		if _, err := s.Journal(name); !errors.Is(err, journal.ErrInvalid) {
			t.Errorf("Journal(%q): got %v, want ErrInvalid", name, err)
		}
	}
	j := journalOf(t, s, journal.Things)
	tests := []struct {
		name string
		err  error
	}{
		{"append sn 0", j.Append(t.Context(), event(pid, 0, `{}`))},
		{"append negative sn", j.Append(t.Context(), event(pid, -1, `{}`))},
		{"append without pid", j.Append(t.Context(), event("", 1, `{}`))},
		{"snapshot sn 0", j.SaveSnapshot(t.Context(), journal.Snapshot{PID: pid, Payload: []byte(`{}`)})},
		{"snapshot without pid", j.SaveSnapshot(t.Context(), journal.Snapshot{SN: 1, Payload: []byte(`{}`)})},
	}
	for _, tt := range tests {
		if !errors.Is(tt.err, journal.ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", tt.name, tt.err)
		}
	}
	if h := highest(t, j, pid); h != 0 {
		t.Errorf("after invalid writes: got HighestSN %d, want 0", h)
	}
}

func testCanceledContext(t *testing.T, open OpenFunc) {
	j := journalOf(t, open(t, "canceled"), journal.Things)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := j.Append(ctx, event(pid, 1, `{}`)); !errors.Is(err, context.Canceled) {
		t.Errorf("Append: got %v, want context.Canceled", err)
	}
	if err := j.SaveSnapshot(ctx, journal.Snapshot{PID: pid, SN: 1, Payload: []byte(`{}`)}); !errors.Is(err, context.Canceled) {
		t.Errorf("SaveSnapshot: got %v, want context.Canceled", err)
	}
	if h := highest(t, j, pid); h != 0 {
		t.Errorf("got HighestSN %d, want 0: a canceled write must not be stored", h)
	}
}

func testClosed(t *testing.T, open OpenFunc) {
	s := open(t, "closed")
	j := journalOf(t, s, journal.Things)
	appendAll(t, j, event(pid, 1, `{}`))
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: got %v, want nil", err)
	}
	_, eventsErr := j.Events(t.Context(), pid, 0, math.MaxInt64)
	_, highestErr := j.HighestSN(t.Context(), pid)
	_, _, latestErr := j.LatestSnapshot(t.Context(), pid, math.MaxInt64)
	_, journalErr := s.Journal(journal.Policies)
	sinceErr := j.EventsSince(t.Context(), base, func(journal.EventRef) error { return nil })
	for name, err := range map[string]error{
		"EventsSince":    sinceErr,
		"Append":         j.Append(t.Context(), event(pid, 2, `{}`)),
		"SaveSnapshot":   j.SaveSnapshot(t.Context(), journal.Snapshot{PID: pid, SN: 1, Payload: []byte(`{}`)}),
		"Events":         eventsErr,
		"HighestSN":      highestErr,
		"LatestSnapshot": latestErr,
		"Journal":        journalErr,
	} {
		if !errors.Is(err, journal.ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", name, err)
		}
	}
}

func testClosePendingAppends(t *testing.T, open OpenFunc) {
	// Writers append in a loop until the store refuses; Close comes once
	// they are in full flight, so appends are queued when it starts.
	const workers, closeAfter = 32, 200
	s := open(t, "pending")
	j := journalOf(t, s, journal.Things)
	var (
		appended  atomic.Int64
		closing   atomic.Bool
		flushed   atomic.Int64 // appends that returned nil after Close began
		inFlight  = make(chan struct{})
		signal    sync.Once
		lastSN    [workers]int64 // the last sn whose Append returned nil
		lastErr   [workers]error // the error that stopped the writer
		writers   sync.WaitGroup
		allExited = make(chan struct{})
	)
	for w := range workers {
		writers.Go(func() {
			pid := fmt.Sprintf("thing:ns:%d", w)
			for sn := int64(1); ; sn++ {
				if err := j.Append(t.Context(), event(pid, sn, fmt.Sprintf(`{"w":%d,"sn":%d}`, w, sn))); err != nil {
					lastErr[w] = err
					return
				}
				lastSN[w] = sn
				if closing.Load() {
					flushed.Add(1)
				}
				if appended.Add(1) == closeAfter {
					signal.Do(func() { close(inFlight) })
				}
			}
		})
	}
	go func() {
		writers.Wait()
		close(allExited)
	}()
	select {
	case <-inFlight:
	case <-allExited:
		t.Fatalf("writers stopped after %d appends, before Close: %v", appended.Load(), errors.Join(lastErr[:]...))
	}
	closing.Store(true)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	<-allExited
	// With 32 writers always inside Append, some are queued when Close
	// begins; refusing them instead of writing them is not a flush.
	if flushed.Load() == 0 {
		t.Errorf("no Append pending when Close began returned nil, want Close to write pending appends")
	}

	j = journalOf(t, open(t, "pending"), journal.Things)
	for w := range workers {
		pid := fmt.Sprintf("thing:ns:%d", w)
		if !errors.Is(lastErr[w], journal.ErrClosed) {
			t.Errorf("%s: Append racing Close: got %v, want ErrClosed", pid, lastErr[w])
		}
		// Exactly the appends that returned nil are stored.
		got := readAll(t, j, pid)
		if int64(len(got)) != lastSN[w] {
			t.Errorf("%s: got %d events, want the %d whose Append returned nil", pid, len(got), lastSN[w])
		}
	}
	t.Logf("%d appends returned nil, %d of them after Close began", appended.Load(), flushed.Load())
}

func testReopen(t *testing.T, open OpenFunc) {
	s := open(t, "reopen")
	j := journalOf(t, s, journal.Policies)
	events := []journal.Event{event(pid, 1, `{"a":1}`), event(pid, 2, `{"a":2}`)}
	events[1].Headers = map[string]string{"correlation-id": "c"}
	appendAll(t, j, events...)
	snap := journal.Snapshot{PID: pid, SN: 2, Timestamp: base, Payload: []byte(`{"a":2}`), Deleted: true}
	if err := j.SaveSnapshot(t.Context(), snap); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s = open(t, "reopen")
	j = journalOf(t, s, journal.Policies)
	sameEvents(t, readAll(t, j, pid), events)
	got, ok := latest(t, j, pid, math.MaxInt64)
	sameSnapshot(t, got, ok, snap)
	if err := j.Append(t.Context(), event(pid, 2, `{}`)); !errors.Is(err, journal.ErrConflict) {
		t.Errorf("Append of a taken sn after reopen: got %v, want ErrConflict", err)
	}
	appendAll(t, j, event(pid, 3, `{}`))
	if h := highest(t, j, pid); h != 3 {
		t.Errorf("got HighestSN %d, want 3", h)
	}
}
