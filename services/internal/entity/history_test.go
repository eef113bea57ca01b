package entity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/journal"
)

func TestParseTimestamp(t *testing.T) {
	t.Parallel()
	utc := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return v.UTC()
	}
	tests := []struct {
		in   string
		want time.Time // zero: an error
	}{
		{"2022-10-24T03:11:15Z", utc("2022-10-24T03:11:15Z")},
		{"2022-10-24T03:11:15.5Z", utc("2022-10-24T03:11:15.5Z")},
		{"2022-10-24T03:11:15.123456789Z", utc("2022-10-24T03:11:15.123456789Z")},
		{"2022-10-24t03:11:15z", utc("2022-10-24T03:11:15Z")},
		{"2022-10-24T05:11:15+02:00", utc("2022-10-24T03:11:15Z")},
		{"2022-10-24T07:11Z", utc("2022-10-24T07:11:00Z")},
		{"", time.Time{}},
		{"yesterday", time.Time{}},
		{"2022-10-24", time.Time{}},
		{"2022-10-24 03:11:15Z", time.Time{}},
		{"2022-10-24T03:11:15", time.Time{}}, // no zone
		{"2022-10-24T25:11:15Z", time.Time{}},
		{"2022-13-24T03:11:15Z", time.Time{}},
		{"2022-10-24T03:11:15.1234567891Z", time.Time{}},
		{"1666581075", time.Time{}},
	}
	for _, tt := range tests {
		got, err := ParseTimestamp(tt.in)
		switch {
		case tt.want.IsZero() && err == nil:
			t.Errorf("ParseTimestamp(%q) = %s, want an error", tt.in, got)
		case !tt.want.IsZero() && err != nil:
			t.Errorf("ParseTimestamp(%q): %v", tt.in, err)
		case !got.Equal(tt.want) || !tt.want.IsZero() && got.Location() != time.UTC:
			t.Errorf("ParseTimestamp(%q) = %s, want %s (UTC)", tt.in, got, tt.want)
		}
	}
}

// FuzzParseTimestamp checks that any header value either fails or gives a
// UTC time that reads back the same once written as RFC 3339.
func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"2022-10-24T03:11:15Z", "2022-10-24T07:11Z", "2022-10-24t05:11:15.999+02:00", "", "x", "9999-12-31T23:59:59.999999999-23:59"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTimestamp(s)
		if err != nil {
			return
		}
		if got.Location() != time.UTC {
			t.Fatalf("ParseTimestamp(%q) = %s, not UTC", s, got)
		}
		again, err := ParseTimestamp(got.Format(time.RFC3339Nano))
		if err != nil || !again.Equal(got) {
			t.Fatalf("ParseTimestamp(%q) = %s, which reads back as %s, %v", s, got, again, err)
		}
	})
}

// FuzzParseAt checks that any pair of history headers is read or refused
// with Ditto's header.invalid, never anything else.
func FuzzParseAt(f *testing.F) {
	f.Add("3", "", true, false)
	f.Add("x", "2022-10-24T03:11:15Z", true, true)
	f.Add("", "bad", false, true)
	f.Fuzz(func(t *testing.T, rev, ts string, hasRev, hasTS bool) {
		h := protocol.Headers{}
		if hasRev {
			h[protocol.HeaderAtHistoricalRevision] = rev
		}
		if hasTS {
			h[protocol.HeaderAtHistoricalTimestamp] = ts
		}
		at, ok, err := ParseAt(h)
		if ok != (hasRev || hasTS) {
			t.Fatalf("ParseAt(%v): ok %t", h, ok)
		}
		var perr *protocol.Error
		if err != nil && (!errors.As(err, &perr) || perr.Code != protocol.CodeHeaderInvalid || perr.Status != 400) {
			t.Fatalf("ParseAt(%v): %v, want header.invalid", h, err)
		}
		if err == nil && at.HasRevision != hasRev {
			t.Fatalf("ParseAt(%v) = %+v", h, at)
		}
	})
}

// historyHost runs the docHandler on a host that snapshots every third
// event and journals three historical headers (named in mixed case: the
// host holds them lower case), with room for many commands per entity.
func historyHost(t *testing.T, f *fixture, j journal.Journal) *runningHost {
	t.Helper()
	return f.hostOn(t, j, &docHandler{}, func(c *Config) {
		c.HistoricalHeaders = []string{"Ditto-Originator", "correlation-id", " user-agent", "correlation-id"}
		c.MailboxSize = 100
	})
}

// writeHistory makes revisions 1..n of id: {"n":1}, then n set to each
// revision, with correlation ids c-<revision>, a user agent on even
// revisions, and a forged ditto-originator on every one. It returns the
// journal's timestamp of each revision (index 0 unused).
func writeHistory(t *testing.T, f *fixture, j journal.Journal, id string, n int) []time.Time {
	t.Helper()
	for rev := 1; rev <= n; rev++ {
		h := protocol.Headers{"correlation-id": fmt.Sprintf("c-%d", rev), protocol.HeaderOriginator: "nginx:forged"}
		if rev%2 == 0 {
			h["user-agent"] = fmt.Sprintf("ua-%d", rev)
		}
		path, value := "/n", strconv.Itoa(rev)
		if rev == 1 {
			path, value = "/", `{"n":1}`
		}
		wantStatus(t, f.send(t, id, "modify", path, value, h), 204)
	}
	events, err := j.Events(context.Background(), "thing:"+id, 1, math.MaxInt64)
	if err != nil || len(events) != n {
		t.Fatalf("journal: %d events, %v; want %d", len(events), err, n)
	}
	ts := make([]time.Time, n+1)
	for _, e := range events {
		ts[e.SN] = e.Timestamp
	}
	return ts
}

// historicalHeadersOf decodes a reply's historical-headers header.
func historicalHeadersOf(t *testing.T, env protocol.Envelope) map[string]string {
	t.Helper()
	raw, ok := env.Headers[protocol.HeaderHistoricalHeaders]
	if !ok {
		t.Fatalf("reply %s %s has no historical-headers: %v", env.Topic, env.Value, env.Headers)
	}
	var m map[string]string
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		t.Fatalf("historical-headers %q: %v", raw, err)
	}
	return m
}

func TestHistoricalRetrieve(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	historyHost(t, f, f.j)
	id := "org.eclipse.ditto:history"
	const n = 8 // snapshots at 3 and 6 (SnapshotEvery 3)
	ts := writeHistory(t, f, f.j, id, n)

	at := func(headers protocol.Headers) protocol.Envelope {
		t.Helper()
		return f.send(t, id, "retrieve", "/", "", headers)
	}
	for rev := 1; rev <= n; rev++ {
		t.Run(fmt.Sprintf("revision %d", rev), func(t *testing.T) {
			r := at(protocol.Headers{protocol.HeaderAtHistoricalRevision: strconv.Itoa(rev), "correlation-id": "read"})
			wantStatus(t, r, 200)
			if want := fmt.Sprintf(`{"n":%d}`, rev); string(r.Value) != want {
				t.Errorf("value %s, want %s", r.Value, want)
			}
			if got, want := r.Headers["etag"], fmt.Sprintf(`"rev:%d"`, rev); got != want {
				t.Errorf("etag %s, want %s", got, want)
			}
			if got := r.Headers[protocol.HeaderEntityRevision]; got != strconv.Itoa(rev) {
				t.Errorf("entity-revision %s, want %d", got, rev)
			}
			want := map[string]string{"ditto-originator": "nginx:ditto", "correlation-id": fmt.Sprintf("c-%d", rev)}
			if rev%2 == 0 {
				want["user-agent"] = fmt.Sprintf("ua-%d", rev)
			}
			if got := historicalHeadersOf(t, r); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Errorf("historical-headers %v, want %v (the originator is the caller's, never a header's)", got, want)
			}
			if r.Headers["correlation-id"] != "read" {
				t.Errorf("correlation-id %q, want the request's", r.Headers["correlation-id"])
			}
		})
	}

	// A time reads the last revision made at or before it.
	revAt := func(when time.Time) int {
		rev := 0
		for k := 1; k <= n; k++ {
			if !ts[k].After(when) {
				rev = k
			}
		}
		return rev
	}
	for k := 1; k <= n; k++ {
		for _, when := range []time.Time{ts[k], ts[k].Add(500 * time.Microsecond)} {
			r := at(protocol.Headers{protocol.HeaderAtHistoricalTimestamp: when.Format(time.RFC3339Nano)})
			wantStatus(t, r, 200)
			want := revAt(when)
			if got := fmt.Sprintf(`{"n":%d}`, want); string(r.Value) != got {
				t.Errorf("at %s (event %d's time): value %s, want %s", when.Format(time.RFC3339Nano), k, r.Value, got)
			}
			if got := r.Headers[protocol.HeaderEntityRevision]; got != strconv.Itoa(want) {
				t.Errorf("at %s: entity-revision %s, want %d", when.Format(time.RFC3339Nano), got, want)
			}
		}
	}
	// With both, the earlier bound wins.
	r := at(protocol.Headers{protocol.HeaderAtHistoricalRevision: "6", protocol.HeaderAtHistoricalTimestamp: ts[3].Format(time.RFC3339Nano)})
	wantStatus(t, r, 200)
	if want := revAt(ts[3]); string(r.Value) != fmt.Sprintf(`{"n":%d}`, want) {
		t.Errorf("revision 6 and event 3's time: value %s, want revision %d", r.Value, want)
	}
	r = at(protocol.Headers{protocol.HeaderAtHistoricalRevision: "2", protocol.HeaderAtHistoricalTimestamp: ts[n].Format(time.RFC3339Nano)})
	wantStatus(t, r, 200)
	if string(r.Value) != `{"n":2}` {
		t.Errorf("revision 2 and the last event's time: value %s, want revision 2", r.Value)
	}
	// A path of the past entity.
	r = f.send(t, id, "retrieve", "/n", "", protocol.Headers{protocol.HeaderAtHistoricalRevision: "4"})
	wantStatus(t, r, 200)
	if string(r.Value) != "4" {
		t.Errorf("/n at revision 4 = %s, want 4", r.Value)
	}

	// Bad input: Ditto's errors, nothing stored changes, no hang.
	future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	before := ts[1].Add(-time.Second).Format(time.RFC3339Nano)
	for _, tt := range []struct {
		name    string
		headers protocol.Headers
		status  int
		code    string
	}{
		{"revision beyond the current", protocol.Headers{protocol.HeaderAtHistoricalRevision: "9"}, 404, "history.notfound"},
		{"revision 0", protocol.Headers{protocol.HeaderAtHistoricalRevision: "0"}, 404, "history.notfound"},
		{"negative revision", protocol.Headers{protocol.HeaderAtHistoricalRevision: "-1"}, 404, "history.notfound"},
		{"malformed revision", protocol.Headers{protocol.HeaderAtHistoricalRevision: "three"}, 400, protocol.CodeHeaderInvalid},
		{"malformed timestamp", protocol.Headers{protocol.HeaderAtHistoricalTimestamp: "yesterday"}, 400, protocol.CodeHeaderInvalid},
		{"timestamp in the future", protocol.Headers{protocol.HeaderAtHistoricalTimestamp: future}, 404, "history.notfound"},
		{"timestamp before the creation", protocol.Headers{protocol.HeaderAtHistoricalTimestamp: before}, 404, "history.notfound"},
		{"both, one bad", protocol.Headers{protocol.HeaderAtHistoricalRevision: "2", protocol.HeaderAtHistoricalTimestamp: "x"}, 400, protocol.CodeHeaderInvalid},
		{"both, time before the creation", protocol.Headers{protocol.HeaderAtHistoricalRevision: "2", protocol.HeaderAtHistoricalTimestamp: before}, 404, "history.notfound"},
	} {
		r := at(tt.headers)
		perr, ok := r.AsError()
		if !ok || perr.Status != tt.status || perr.Code != tt.code {
			t.Errorf("%s: reply %d %s, want %d %s", tt.name, r.Status, r.Value, tt.status, tt.code)
		}
		if _, ok := r.Headers[protocol.HeaderHistoricalHeaders]; ok {
			t.Errorf("%s: an error carries historical-headers", tt.name)
		}
	}
	if h, err := f.j.HighestSN(context.Background(), "thing:"+id); err != nil || h != n {
		t.Errorf("after the reads: HighestSN %d, %v; want %d", h, err, n)
	}

	// The live entity was never touched: it reads as it is, and the next
	// change is revision n+1.
	r = at(nil)
	if string(r.Value) != fmt.Sprintf(`{"n":%d}`, n) || r.Headers["etag"] != fmt.Sprintf(`"rev:%d"`, n) {
		t.Errorf("current = %s %s, want revision %d", r.Value, r.Headers["etag"], n)
	}
	if _, ok := r.Headers[protocol.HeaderHistoricalHeaders]; ok {
		t.Error("a plain retrieve carries historical-headers")
	}
	r = f.send(t, id, "modify", "/n", "9", nil)
	if r.Headers["etag"] != fmt.Sprintf(`"rev:%d"`, n+1) {
		t.Errorf("next change: etag %s, want rev %d", r.Headers["etag"], n+1)
	}
	// The current revision is read from memory, with its headers.
	r = at(protocol.Headers{protocol.HeaderAtHistoricalRevision: strconv.Itoa(n + 1)})
	wantStatus(t, r, 200)
	if string(r.Value) != `{"n":9}` || historicalHeadersOf(t, r)["ditto-originator"] != "nginx:ditto" {
		t.Errorf("current revision: %s %v", r.Value, r.Headers)
	}
}

// An entity deleted and created again reads as absent at the deletion; an
// entity that does not exist now has no history to read (as in Ditto,
// where a deleted entity answers as not found).
func TestHistoryAcrossDeletion(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	historyHost(t, f, f.j)
	id := "org.eclipse.ditto:reborn"
	wantStatus(t, f.send(t, id, "modify", "/", `{"life":1}`, nil), 204)
	wantStatus(t, f.send(t, id, "modify", "/life", `2`, nil), 204)
	wantStatus(t, f.send(t, id, "delete", "/", "", nil), 204) // revision 3, a snapshot
	rev := func(n int) protocol.Envelope {
		return f.send(t, id, "retrieve", "/", "", protocol.Headers{protocol.HeaderAtHistoricalRevision: strconv.Itoa(n)})
	}
	if r := rev(2); r.Status != 404 {
		t.Errorf("deleted now, revision 2: %d %s, want not found", r.Status, r.Value)
	}
	wantStatus(t, f.send(t, id, "modify", "/", `{"life":3}`, nil), 204) // revision 4
	for n, want := range map[int]string{1: `{"life":1}`, 2: `{"life":2}`, 4: `{"life":3}`} {
		if r := rev(n); r.Status != 200 || string(r.Value) != want {
			t.Errorf("revision %d: %d %s, want %s", n, r.Status, r.Value, want)
		}
	}
	if r := rev(3); r.Status != 404 || errorCodeOf(r) != "test:notfound" {
		t.Errorf("revision 3 (deleted): %d %s, want the handler's not found", r.Status, r.Value)
	}
	if r := f.send(t, "org.eclipse.ditto:never", "retrieve", "/", "", protocol.Headers{protocol.HeaderAtHistoricalRevision: "1"}); r.Status != 404 || errorCodeOf(r) != "test:notfound" {
		t.Errorf("never existed: %d %s, want the handler's not found", r.Status, r.Value)
	}
}

func errorCodeOf(env protocol.Envelope) string {
	if perr, ok := env.AsError(); ok {
		return perr.Code
	}
	return ""
}

// cleanedJournal is the journal as background cleanup leaves it: events
// and snapshots below keep are gone.
type cleanedJournal struct {
	journal.Journal
	keep int64
}

func (c cleanedJournal) Events(ctx context.Context, pid string, from, to int64) ([]journal.Event, error) {
	return c.Journal.Events(ctx, pid, max(from, c.keep), to)
}

func (c cleanedJournal) LatestSnapshot(ctx context.Context, pid string, maxSN int64) (journal.Snapshot, bool, error) {
	s, ok, err := c.Journal.LatestSnapshot(ctx, pid, maxSN)
	if ok && s.SN < c.keep {
		return journal.Snapshot{}, false, err
	}
	return s, ok, err
}

// A revision whose snapshot and events were cleaned up is Ditto's
// history.notfound, at once; what is still stored reads as before.
func TestHistoryCleanedUp(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	id := "org.eclipse.ditto:cleaned"
	ts := func() []time.Time {
		h := historyHost(t, f, f.j)
		defer h.stop()
		return writeHistory(t, f, f.j, id, 8) // snapshots at 3 and 6
	}()
	// From here on, revisions below 6 are gone (snapshot 6 is kept).
	historyHost(t, f, cleanedJournal{Journal: f.j, keep: 6})
	for rev, status := range map[int]int{1: 404, 3: 404, 5: 404, 6: 200, 7: 200, 8: 200} {
		start := time.Now()
		r := f.send(t, id, "retrieve", "/", "", protocol.Headers{protocol.HeaderAtHistoricalRevision: strconv.Itoa(rev)})
		if r.Status != status {
			t.Errorf("revision %d: %d %s, want %d", rev, r.Status, r.Value, status)
		}
		if status == 404 && errorCodeOf(r) != "history.notfound" {
			t.Errorf("revision %d: %s, want history.notfound", rev, r.Value)
		}
		if status == 200 && string(r.Value) != fmt.Sprintf(`{"n":%d}`, rev) {
			t.Errorf("revision %d: %s", rev, r.Value)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("revision %d answered after %s", rev, d)
		}
	}
	r := f.send(t, id, "retrieve", "/", "", protocol.Headers{protocol.HeaderAtHistoricalTimestamp: ts[2].Format(time.RFC3339Nano)})
	if errorCodeOf(r) != "history.notfound" {
		t.Errorf("at revision 2's time: %d %s, want history.notfound", r.Status, r.Value)
	}
	if perr, _ := r.AsError(); perr == nil || !strings.Contains(perr.Message, "at timestamp") {
		t.Errorf("at revision 2's time: %s, want the timestamp's message", r.Value)
	}
}

// rebuild and the live load agree at every revision, across snapshots
// and a deletion.
func TestRebuildMatchesLoad(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	h := historyHost(t, f, f.j)
	id := "org.eclipse.ditto:agree"
	steps := []struct{ action, path, value string }{
		{"modify", "/", `{"a":{"b":1}}`}, {"modify", "/a/c", `[1,2]`}, {"modify", "/a/b", `2`},
		{"delete", "/a/c", ""}, {"delete", "/", ""}, {"modify", "/", `{"x":true}`}, {"modify", "/y", `"z"`},
	}
	var want []string // "" where the entity does not exist
	for _, s := range steps {
		f.send(t, id, s.action, s.path, s.value, nil)
		cur := f.send(t, id, "retrieve", "/", "", nil)
		if cur.Status == 200 {
			want = append(want, string(cur.Value))
		} else {
			want = append(want, "")
		}
	}
	for i := range steps {
		rev := int64(i + 1)
		st, _, err := h.rebuild(context.Background(), id, rev)
		if err != nil {
			t.Fatalf("rebuild %d: %v", rev, err)
		}
		if st.Revision != rev {
			t.Errorf("rebuild %d: revision %d", rev, st.Revision)
		}
		if got := string(st.Raw()); got != want[i] {
			t.Errorf("rebuild %d = %q, want %q", rev, got, want[i])
		}
	}
}

// gatedJournal holds up the snapshot reads of historical retrieves (the
// live load reads the latest snapshot of all) until gate is closed.
type gatedJournal struct {
	journal.Journal
	entered chan struct{}
	gate    chan struct{}
}

func (g gatedJournal) LatestSnapshot(ctx context.Context, pid string, maxSN int64) (journal.Snapshot, bool, error) {
	if maxSN != math.MaxInt64 {
		g.entered <- struct{}{}
		select {
		case <-g.gate:
		case <-ctx.Done():
			return journal.Snapshot{}, false, ctx.Err()
		}
	}
	return g.Journal.LatestSnapshot(ctx, pid, maxSN)
}

// A historical retrieve waiting on the journal holds up neither the
// entity's changes nor its other reads.
func TestHistoryBesideTheMailbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	g := gatedJournal{Journal: f.j, entered: make(chan struct{}, 1), gate: make(chan struct{})}
	historyHost(t, f, g)
	id := "org.eclipse.ditto:aside"
	writeHistory(t, f, f.j, id, 4)

	type result struct {
		env protocol.Envelope
		err error
	}
	done := make(chan result, 1)
	go func() {
		env, err := f.request(id, "retrieve", "/", "", protocol.Headers{protocol.HeaderAtHistoricalRevision: "2"}, auth)
		done <- result{env, err}
	}()
	select {
	case <-g.entered:
	case <-time.After(10 * time.Second):
		t.Fatal("the historical retrieve never read the journal")
	}
	// Meanwhile the entity changes and reads as usual.
	if r := f.send(t, id, "modify", "/n", "5", nil); r.Headers["etag"] != `"rev:5"` {
		t.Fatalf("modify beside a historical read: %d %s %v", r.Status, r.Value, r.Headers)
	}
	if r := f.send(t, id, "retrieve", "/", "", nil); string(r.Value) != `{"n":5}` {
		t.Fatalf("retrieve beside a historical read: %s", r.Value)
	}
	select {
	case r := <-done:
		t.Fatalf("the historical read answered before the journal did: %v %s", r.err, r.env.Value)
	default:
	}
	close(g.gate)
	r := <-done
	if r.err != nil || string(r.env.Value) != `{"n":2}` || r.env.Headers[protocol.HeaderEntityRevision] != "2" {
		t.Fatalf("historical read: %v %s %v", r.err, r.env.Value, r.env.Headers)
	}
}

// Reads of many revisions at once, while the entity changes, each get
// their own revision.
func TestHistoryConcurrentReads(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	historyHost(t, f, f.j)
	id := "org.eclipse.ditto:busy"
	const n = 20
	writeHistory(t, f, f.j, id, n)
	errs := make(chan error, 8)
	for w := range 8 {
		go func() {
			for i := range 20 {
				rev := 1 + (w*7+i*3)%n
				env, err := f.request(id, "retrieve", "/n", "", protocol.Headers{protocol.HeaderAtHistoricalRevision: strconv.Itoa(rev)}, auth)
				if err == nil && string(env.Value) != strconv.Itoa(rev) {
					err = fmt.Errorf("revision %d read %d %s", rev, env.Status, env.Value)
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for k := n + 1; k <= n+20; k++ {
		wantStatus(t, f.send(t, id, "modify", "/n", strconv.Itoa(k), nil), 204)
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
