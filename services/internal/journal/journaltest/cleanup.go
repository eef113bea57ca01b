package journaltest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/journal"
)

// The conformance tests of the methods background cleanup uses:
// NewestSnapshots, LowestSN, DeleteEvents and DeleteSnapshots.

func snapshot(pid string, sn int64, ts time.Time, deleted bool) journal.Snapshot {
	return journal.Snapshot{PID: pid, SN: sn, Timestamp: ts, Payload: []byte(fmt.Sprintf(`{"sn":%d}`, sn)), Deleted: deleted}
}

func saveAll(t *testing.T, j journal.Journal, snaps ...journal.Snapshot) {
	t.Helper()
	for _, s := range snaps {
		if err := j.SaveSnapshot(t.Context(), s); err != nil {
			t.Fatalf("SaveSnapshot(%s, %d): %v", s.PID, s.SN, err)
		}
	}
}

func newest(t *testing.T, j journal.Journal, after string, before time.Time, limit int) []journal.SnapshotRef {
	t.Helper()
	refs, err := j.NewestSnapshots(t.Context(), after, before, limit)
	if err != nil {
		t.Fatalf("NewestSnapshots(%q, %d): %v", after, limit, err)
	}
	return refs
}

func lowest(t *testing.T, j journal.Journal, pid string) (event, snap int64) {
	t.Helper()
	event, snap, err := j.LowestSN(t.Context(), pid)
	if err != nil {
		t.Fatalf("LowestSN(%s): %v", pid, err)
	}
	return event, snap
}

// StoredSNs lists the SNs of pid's events and of its snapshots, in
// ascending order: what a test of cleanup checks is left.
func StoredSNs(t *testing.T, j journal.Journal, pid string) (events, snaps []int64) {
	t.Helper()
	for _, e := range readAll(t, j, pid) {
		events = append(events, e.SN)
	}
	maxSN := int64(math.MaxInt64)
	for {
		s, ok := latest(t, j, pid, maxSN)
		if !ok {
			break
		}
		snaps = append([]int64{s.SN}, snaps...)
		maxSN = s.SN - 1
	}
	return events, snaps
}

func sns(from, to, step int64) []int64 {
	var out []int64
	for sn := from; sn <= to; sn += step {
		out = append(out, sn)
	}
	return out
}

// testNewestSnapshots lists, per pid, the newest snapshot older than a
// time, in pid order, page by page: pids without such a snapshot (only
// young snapshots, only events) are skipped and take no place in a page.
func testNewestSnapshots(t *testing.T, open OpenFunc) {
	s := open(t, "newest")
	j := journalOf(t, s, journal.Things)
	cut := base.Add(time.Hour)
	old := func(d time.Duration) time.Time { return cut.Add(-d) }
	// a: three old snapshots; b: old and young ones; c: only young; d:
	// only events; e: deleted; f..k: one old snapshot each, for paging.
	saveAll(t, j,
		snapshot("thing:ns:a", 5, old(3*time.Minute), false),
		snapshot("thing:ns:a", 10, old(2*time.Minute), false),
		snapshot("thing:ns:a", 15, old(time.Minute), false),
		snapshot("thing:ns:b", 5, old(time.Minute), false),
		snapshot("thing:ns:b", 10, cut, false), // not before cut
		snapshot("thing:ns:b", 15, cut.Add(time.Minute), false),
		snapshot("thing:ns:c", 5, cut.Add(time.Second), false),
		snapshot("thing:ns:e", 7, old(time.Second), true),
	)
	appendAll(t, j, event("thing:ns:d", 1, `{}`))
	var paged []string
	for _, p := range []string{"f", "g", "h", "i", "j", "k"} {
		paged = append(paged, "thing:ns:"+p)
		saveAll(t, j, snapshot("thing:ns:"+p, 3, old(time.Hour), false))
	}
	// A journal of another entity type is not listed.
	saveAll(t, journalOf(t, s, journal.Policies), snapshot("policy:ns:a", 1, old(time.Hour), false))

	got := newest(t, j, "", cut, 3)
	want := []journal.SnapshotRef{
		{PID: "thing:ns:a", SN: 15, Timestamp: ms(old(time.Minute))},
		{PID: "thing:ns:b", SN: 5, Timestamp: ms(old(time.Minute))},
		{PID: "thing:ns:e", SN: 7, Timestamp: ms(old(time.Second)), Deleted: true},
	}
	if len(got) != len(want) {
		t.Fatalf("first page: got %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.PID != w.PID || g.SN != w.SN || !g.Timestamp.Equal(w.Timestamp) || g.Timestamp.Location() != time.UTC || g.Deleted != w.Deleted {
			t.Errorf("first page [%d]: got %+v, want %+v", i, g, w)
		}
	}
	// The rest page by page, from the last pid of each page.
	var rest []string
	after := got[len(got)-1].PID
	for range 10 {
		page := newest(t, j, after, cut, 4)
		for _, r := range page {
			rest = append(rest, r.PID)
			if r.SN != 3 {
				t.Errorf("%s: got sn %d, want 3", r.PID, r.SN)
			}
		}
		if len(page) < 4 {
			break
		}
		after = page[len(page)-1].PID
	}
	if !slices.Equal(rest, paged) {
		t.Errorf("later pages: got %q, want %q", rest, paged)
	}
	// An earlier time leaves out what is younger; after skips.
	if got := newest(t, j, "thing:ns:a", old(90*time.Second), 100); len(got) != 6 || got[0].PID != "thing:ns:f" {
		t.Errorf("before cut-90s after thing:ns:a: got %+v, want f..k only", got)
	}
	if got := newest(t, j, "", old(90*time.Second), 1); len(got) != 1 || got[0].PID != "thing:ns:a" || got[0].SN != 10 {
		t.Errorf("before cut-90s: got %+v, want thing:ns:a at 10", got)
	}
	if got := newest(t, j, "", cut, 0); len(got) != 0 {
		t.Errorf("limit 0: got %+v, want none", got)
	}
	if got := newest(t, j, "thing:ns:k", cut, 10); len(got) != 0 {
		t.Errorf("after the last pid: got %+v, want none", got)
	}
}

// testLowestSN reads the lowest SN of a pid's events and snapshots.
func testLowestSN(t *testing.T, open OpenFunc) {
	j := journalOf(t, open(t, "lowest"), journal.Things)
	if e, s := lowest(t, j, pid); e != 0 || s != 0 {
		t.Errorf("empty: got %d, %d, want 0, 0", e, s)
	}
	for sn := int64(3); sn <= 9; sn++ {
		appendAll(t, j, event(pid, sn, `{}`))
	}
	if e, s := lowest(t, j, pid); e != 3 || s != 0 {
		t.Errorf("events 3..9: got %d, %d, want 3, 0", e, s)
	}
	saveAll(t, j, snapshot(pid, 8, base, false), snapshot(pid, 4, base, false))
	if e, s := lowest(t, j, pid); e != 3 || s != 4 {
		t.Errorf("with snapshots 4, 8: got %d, %d, want 3, 4", e, s)
	}
	if e, s := lowest(t, j, pid+"x"); e != 0 || s != 0 {
		t.Errorf("other pid: got %d, %d, want 0, 0", e, s)
	}
}

// testDeleteUpTo deletes an entity's history below its latest snapshot
// in batches, lowest first, as cleanup does: the entity keeps its
// current state, its HighestSN and its next SN; nothing else changes.
func testDeleteUpTo(t *testing.T, open OpenFunc) {
	s := open(t, "deleteupto")
	j := journalOf(t, s, journal.Things)
	other := journalOf(t, s, journal.Policies)
	neighbours := []string{pid + "x", "thing:org.eclipse.ditto:the-thin"}
	for _, p := range append([]string{pid}, neighbours...) {
		for sn := int64(1); sn <= 20; sn++ {
			appendAll(t, j, event(p, sn, `{}`))
			if sn%5 == 0 {
				saveAll(t, j, snapshot(p, sn, base.Add(time.Duration(sn)*time.Second), false))
			}
		}
	}
	appendAll(t, other, event(pid, 1, `{}`))
	saveAll(t, other, snapshot(pid, 1, base, false))

	// Events 1..19 in batches of 7: 7, 7, 5 (fewer than the limit: done).
	for i, want := range []int64{7, 7, 5, 0} {
		n, err := j.DeleteEvents(t.Context(), pid, 19, 7)
		if err != nil {
			t.Fatalf("DeleteEvents #%d: %v", i+1, err)
		}
		if n != want {
			t.Errorf("DeleteEvents #%d: deleted %d, want %d", i+1, n, want)
		}
	}
	if e, s := lowest(t, j, pid); e != 20 || s != 5 {
		t.Errorf("after deleting events: LowestSN %d, %d, want 20, 5", e, s)
	}
	// Snapshots 5, 10, 15 in batches of 2: 2, 1.
	for i, want := range []int64{2, 1} {
		n, err := j.DeleteSnapshots(t.Context(), pid, 19, 2)
		if err != nil {
			t.Fatalf("DeleteSnapshots #%d: %v", i+1, err)
		}
		if n != want {
			t.Errorf("DeleteSnapshots #%d: deleted %d, want %d", i+1, n, want)
		}
	}
	events, snaps := StoredSNs(t, j, pid)
	if !slices.Equal(events, []int64{20}) || !slices.Equal(snaps, []int64{20}) {
		t.Errorf("after cleanup: events %v, snapshots %v; want [20], [20]", events, snaps)
	}
	if h := highest(t, j, pid); h != 20 {
		t.Errorf("HighestSN after cleanup: %d, want 20", h)
	}
	if s, ok := latest(t, j, pid, math.MaxInt64); !ok || s.SN != 20 || string(s.Payload) != `{"sn":20}` {
		t.Errorf("latest snapshot after cleanup: %+v %t, want 20", s, ok)
	}
	// The entity goes on: the next SN is free, the current one taken.
	if err := j.Append(t.Context(), event(pid, 20, `{}`)); !errors.Is(err, journal.ErrConflict) {
		t.Errorf("Append(20) after cleanup: got %v, want ErrConflict", err)
	}
	appendAll(t, j, event(pid, 21, `{}`))
	for _, p := range neighbours {
		events, snaps := StoredSNs(t, j, p)
		if !slices.Equal(events, sns(1, 20, 1)) || !slices.Equal(snaps, sns(5, 20, 5)) {
			t.Errorf("%s: events %v, snapshots %v; want all", p, events, snaps)
		}
	}
	if evs := readAll(t, other, pid); len(evs) != 1 {
		t.Errorf("the policies journal lost its event")
	}

	// Nothing at or below toSN: nothing deleted.
	if n, err := j.DeleteEvents(t.Context(), pid, 0, 10); err != nil || n != 0 {
		t.Errorf("DeleteEvents up to 0: %d, %v; want 0, nil", n, err)
	}
	if n, err := j.DeleteSnapshots(t.Context(), "thing:ns:none", 10, 10); err != nil || n != 0 {
		t.Errorf("DeleteSnapshots of an unknown pid: %d, %v; want 0, nil", n, err)
	}

	// Everything of a deleted entity: HighestSN drops to 0 and the pid
	// starts again at 1 (delete-final-deleted-snapshot).
	gone := "thing:ns:gone"
	appendAll(t, j, event(gone, 1, `{}`), event(gone, 2, `{}`))
	saveAll(t, j, snapshot(gone, 2, base, true))
	if n, err := j.DeleteEvents(t.Context(), gone, 2, 100); err != nil || n != 2 {
		t.Errorf("DeleteEvents of a deleted entity: %d, %v; want 2, nil", n, err)
	}
	if h := highest(t, j, gone); h != 2 {
		t.Errorf("HighestSN with only the final snapshot: %d, want 2", h)
	}
	if n, err := j.DeleteSnapshots(t.Context(), gone, 2, 100); err != nil || n != 1 {
		t.Errorf("DeleteSnapshots of a deleted entity: %d, %v; want 1, nil", n, err)
	}
	if h := highest(t, j, gone); h != 0 {
		t.Errorf("HighestSN with nothing left: %d, want 0", h)
	}
	if refs := newest(t, j, "thing:ns:", base.Add(time.Hour), 1); len(refs) != 1 || refs[0].PID == gone {
		t.Errorf("NewestSnapshots after deleting everything: %+v, want %s gone", refs, gone)
	}
	appendAll(t, j, event(gone, 1, `{"again":true}`))
}

// testDeleteWhileAppending deletes an entity's history below a snapshot
// while its writer appends above it: every append succeeds and stays,
// only what is below goes.
func testDeleteWhileAppending(t *testing.T, open OpenFunc) {
	j := journalOf(t, open(t, "deleteappend"), journal.Things)
	for sn := int64(1); sn <= 50; sn++ {
		appendAll(t, j, event(pid, sn, `{}`))
	}
	saveAll(t, j, snapshot(pid, 25, base, false), snapshot(pid, 50, base, false))
	var wg sync.WaitGroup
	appendErr := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for sn := int64(51); sn <= 100; sn++ {
			if err := j.Append(t.Context(), event(pid, sn, `{}`)); err != nil {
				appendErr <- err
				return
			}
		}
	}()
	for {
		n, err := j.DeleteEvents(t.Context(), pid, 49, 3)
		if err != nil {
			t.Fatal(err)
		}
		if n < 3 {
			break
		}
	}
	if _, err := j.DeleteSnapshots(t.Context(), pid, 49, 1); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(appendErr)
	if err := <-appendErr; err != nil {
		t.Fatalf("an append beside the deletes failed: %v", err)
	}
	events, snaps := StoredSNs(t, j, pid)
	if !slices.Equal(events, sns(50, 100, 1)) || !slices.Equal(snaps, []int64{50}) {
		t.Errorf("got events %v, snapshots %v; want 50..100, [50]", events, snaps)
	}
	if h := highest(t, j, pid); h != 100 {
		t.Errorf("HighestSN: %d, want 100", h)
	}
}

// testCleanupInvalidAndClosed: deletes refuse what cannot name a range,
// a canceled context deletes nothing, and all four methods report
// ErrClosed after Close.
func testCleanupInvalidAndClosed(t *testing.T, open OpenFunc) {
	s := open(t, "cleanupclosed")
	j := journalOf(t, s, journal.Things)
	appendAll(t, j, event(pid, 1, `{}`), event(pid, 2, `{}`))
	saveAll(t, j, snapshot(pid, 1, base, false))
	for _, tt := range []struct {
		pid   string
		limit int
	}{{"", 1}, {pid, 0}, {pid, -1}} {
		if _, err := j.DeleteEvents(t.Context(), tt.pid, 1, tt.limit); !errors.Is(err, journal.ErrInvalid) {
			t.Errorf("DeleteEvents(%q, limit %d): got %v, want ErrInvalid", tt.pid, tt.limit, err)
		}
		if _, err := j.DeleteSnapshots(t.Context(), tt.pid, 1, tt.limit); !errors.Is(err, journal.ErrInvalid) {
			t.Errorf("DeleteSnapshots(%q, limit %d): got %v, want ErrInvalid", tt.pid, tt.limit, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := j.DeleteEvents(ctx, pid, 2, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteEvents with a canceled context: got %v, want context.Canceled", err)
	}
	if _, err := j.DeleteSnapshots(ctx, pid, 2, 10); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteSnapshots with a canceled context: got %v, want context.Canceled", err)
	}
	if events, snaps := StoredSNs(t, j, pid); len(events) != 2 || len(snaps) != 1 {
		t.Errorf("a canceled delete deleted: events %v, snapshots %v", events, snaps)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	_, newestErr := j.NewestSnapshots(t.Context(), "", base.Add(time.Hour), 10)
	_, _, lowestErr := j.LowestSN(t.Context(), pid)
	_, eventsErr := j.DeleteEvents(t.Context(), pid, 2, 10)
	_, snapsErr := j.DeleteSnapshots(t.Context(), pid, 2, 10)
	for name, err := range map[string]error{"NewestSnapshots": newestErr, "LowestSN": lowestErr,
		"DeleteEvents": eventsErr, "DeleteSnapshots": snapsErr} {
		if !errors.Is(err, journal.ErrClosed) {
			t.Errorf("%s after Close: got %v, want ErrClosed", name, err)
		}
	}
}
