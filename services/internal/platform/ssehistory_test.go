package platform

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

// all returns the data of the stream's events (heartbeats left out) until
// the stream ends, failing when it does not end within 10s or ends other
// than cleanly.
func (s *sseStream) all() []string {
	s.t.Helper()
	var out []string
	deadline := time.After(10 * time.Second)
	for {
		select {
		case d := <-s.events:
			if d != "" {
				out = append(out, d)
			}
		case <-s.done:
			for {
				select {
				case d := <-s.events:
					if d != "" {
						out = append(out, d)
					}
				default:
					if !errors.Is(s.err, io.EOF) {
						s.t.Fatalf("stream ended with %v", s.err)
					}
					return out
				}
			}
		case <-deadline:
			s.t.Fatalf("stream did not end within 10s; got %d events", len(out))
		}
	}
}

// Streaming a thing's history over SSE: ranges by revision (absolute and
// relative) and by time, across snapshots; fields with _context, filter,
// a path below the thing; what a caller with partial access sees; bad
// input answered before the stream; each stream ends with its range.
func TestSSEHistory(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Things.SnapshotThreshold = 3
	cfg.Things.HistoricalHeaders = []string{"correlation-id"}
	pl := startPlatform(t, cfg)
	const id = "org.eclipse.ditto:sse-history"
	const thing = "/api/2/things/" + id
	cid := func(n int) map[string]string { return map[string]string{"correlation-id": "h-" + strconv.Itoa(n)} }
	modified := map[int]time.Time{}
	mark := func(rev int) { modified[rev] = pl.modifiedAt(t, thing, rev) }
	pl.expect(t, "ditto", "PUT", thing, `{"attributes":{"n":1,"secret":"s1"}}`, cid(1), 201, "")
	mark(1)
	for n := 2; n <= 11; n++ {
		pl.expect(t, "ditto", "PUT", thing+"/attributes/n", strconv.Itoa(n), cid(n), 204, "")
		mark(n)
	}
	pl.expect(t, "ditto", "PUT", thing+"/attributes", `{"n":12,"secret":"s12"}`, cid(12), 204, "")
	mark(12)
	// ditto2 may read attributes/n only (a policy change: no revision of
	// the thing).
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+id+"/entries/GUEST",
		`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{"thing:/attributes/n":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")
	// Another thing, which ditto2 may not read.
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:sse-private", `{"attributes":{"x":1}}`, nil, 201, "")

	// stream opens target as user and returns its events once it ended.
	stream := func(user, target string) []string {
		t.Helper()
		return pl.openSSE(t, user, target).all()
	}
	// expectAll checks the events against want, one JSON each.
	expectAll := func(what string, got, want []string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %d events %v, want %d %v", what, len(got), got, len(want), want)
		}
		for i := range want {
			jsonEq(t, fmt.Sprintf("%s: event %d", what, i), got[i], want[i])
		}
	}
	attr := func(n int) string {
		if n == 1 || n == 12 {
			return fmt.Sprintf(`{"n":%d,"secret":"s%d"}`, n, n)
		}
		return fmt.Sprintf(`{"n":%d}`, n)
	}
	revs := func(from, to int, render func(int) string) []string {
		var out []string
		for n := from; n <= to; n++ {
			out = append(out, render(n))
		}
		return out
	}
	withRev := func(n int) string {
		return fmt.Sprintf(`{"thingId":"%s","attributes":%s,"_revision":%d}`, id, attr(n), n)
	}
	const fields = "&fields=thingId,attributes,_revision"

	t.Run("full range", func(t *testing.T) {
		expectAll("from 0", stream("ditto", thing+"?from-historical-revision=0"+fields), revs(1, 12, withRev))
		// The default rendering: the thing JSON of each change.
		got := stream("ditto", thing+"?from-historical-revision=11")
		expectAll("from 11 without fields", got, []string{
			`{"thingId":"` + id + `","attributes":{"n":11}}`,
			`{"thingId":"` + id + `","attributes":{"n":12,"secret":"s12"}}`,
		})
	})
	t.Run("revision ranges", func(t *testing.T) {
		expectAll("3 to 5", stream("ditto", thing+"?from-historical-revision=3&to-historical-revision=5"+fields), revs(3, 5, withRev))
		expectAll("last 2 back", stream("ditto", thing+"?from-historical-revision=-2"+fields), revs(10, 12, withRev))
		expectAll("-3 to -1", stream("ditto", thing+"?from-historical-revision=-3&to-historical-revision=-1"+fields), revs(9, 11, withRev))
		expectAll("to 0 is the latest", stream("ditto", thing+"?from-historical-revision=12&to-historical-revision=0"+fields), revs(12, 12, withRev))
	})
	t.Run("timestamps", func(t *testing.T) {
		from, to := modified[4], modified[8]
		var want []string
		for n := 1; n <= 12; n++ { // after from, before to (Ditto's bounds)
			if modified[n].After(from) && modified[n].Before(to) {
				want = append(want, withRev(n))
			}
		}
		got := stream("ditto", thing+"?from-historical-timestamp="+url.QueryEscape(from.Format(time.RFC3339Nano))+
			"&to-historical-timestamp="+url.QueryEscape(to.Format(time.RFC3339Nano))+fields)
		t.Logf("events between 4 and 8 by time: %d", len(want))
		expectAll("4's to 8's _modified", got, want)
		got = stream("ditto", thing+"?from-historical-timestamp=2020-01-01T00:00:00Z"+fields)
		expectAll("since before the creation", got, revs(1, 12, withRev))
	})
	t.Run("fields with _context", func(t *testing.T) {
		got := stream("ditto", thing+"?from-historical-revision=3&to-historical-revision=4&fields=_revision,_context/path,_context/headers/historical-headers")
		expectAll("_context", got, []string{
			`{"_revision":3,"_context":{"path":"/attributes/n","headers":{"historical-headers":"{\"correlation-id\":\"h-3\"}"}}}`,
			`{"_revision":4,"_context":{"path":"/attributes/n","headers":{"historical-headers":"{\"correlation-id\":\"h-4\"}"}}}`,
		})
	})
	t.Run("filter", func(t *testing.T) {
		got := stream("ditto", thing+"?from-historical-revision=0"+fields+"&filter="+url.QueryEscape("or(eq(attributes/n,2),gt(attributes/n,10))"))
		expectAll("filter", got, []string{withRev(2), withRev(11), withRev(12)})
	})
	t.Run("path below the thing", func(t *testing.T) {
		expectAll("attributes/n", stream("ditto", thing+"/attributes/n?from-historical-revision=10"), []string{"10", "11", "12"})
	})
	t.Run("partial access", func(t *testing.T) {
		got := stream("ditto2", thing+"?from-historical-revision=0"+fields)
		expectAll("ditto2", got, revs(1, 12, func(n int) string {
			return fmt.Sprintf(`{"thingId":"%s","attributes":{"n":%d},"_revision":%d}`, id, n, n)
		}))
	})
	t.Run("bad input", func(t *testing.T) {
		sse := map[string]string{"Accept": "text/event-stream"}
		for _, tt := range []struct {
			name, target string
			user         string
			status       int
			code         string
		}{
			{"no read access", "/api/2/things/org.eclipse.ditto:sse-private?from-historical-revision=0", "ditto2", 404, "things:thing.notfound"},
			{"no such thing", "/api/2/things/org.eclipse.ditto:nope?from-historical-revision=0", "ditto", 404, "things:thing.notfound"},
			{"from after to", thing + "?from-historical-revision=5&to-historical-revision=3", "ditto", 400, "json.format.invalid"},
			{"relative from after to", thing + "?from-historical-revision=-1&to-historical-revision=-3", "ditto", 400, "json.format.invalid"},
			{"from beyond", thing + "?from-historical-revision=13", "ditto", 404, "things:thing.history.notfound"},
			{"to beyond", thing + "?from-historical-revision=1&to-historical-revision=20", "ditto", 404, "things:thing.history.notfound"},
			{"malformed revision", thing + "?from-historical-revision=two", "ditto", 400, "json.format.invalid"},
			{"empty revision", thing + "?from-historical-revision=", "ditto", 400, "json.format.invalid"},
			{"malformed to", thing + "?from-historical-revision=1&to-historical-revision=1.5", "ditto", 400, "json.format.invalid"},
			{"malformed timestamp", thing + "?from-historical-timestamp=yesterday", "ditto", 400, "json.format.invalid"},
			{"timestamps reversed", thing + "?from-historical-timestamp=2024-01-02T00:00:00Z&to-historical-timestamp=2024-01-01T00:00:00Z", "ditto", 400, "json.format.invalid"},
			{"both forms", thing + "?from-historical-revision=1&from-historical-timestamp=2024-01-01T00:00:00Z", "ditto", 400, "json.format.invalid"},
			{"ends before the creation", thing + "?from-historical-timestamp=2019-01-01T00:00:00Z&to-historical-timestamp=2020-01-01T00:00:00Z", "ditto", 404, "things:thing.history.notfound"},
			{"starts in the future", thing + "?from-historical-timestamp=2999-01-01T00:00:00Z", "ditto", 404, "things:thing.history.notfound"},
			{"all things", "/api/2/things?from-historical-revision=0", "ditto", 400, "json.format.invalid"},
		} {
			t.Run(tt.name, func(t *testing.T) {
				r := pl.expect(t, tt.user, "GET", tt.target, "", sse, tt.status, tt.code)
				if strings.HasPrefix(r.header.Get("Content-Type"), "text/event-stream") {
					t.Errorf("error as %s", r.header.Get("Content-Type"))
				}
			})
		}
	})
}

// modifiedAt returns the _modified of the thing at path, which must be at
// revision rev.
func (pl *platform) modifiedAt(t *testing.T, path string, rev int) time.Time {
	t.Helper()
	r := pl.expect(t, "ditto", "GET", path+"?fields=_modified,_revision", "", nil, 200, "")
	var m struct {
		Modified time.Time `json:"_modified"`
		Revision int       `json:"_revision"`
	}
	if err := json.Unmarshal([]byte(r.body), &m); err != nil || m.Revision != rev {
		t.Fatalf("thing at %d: %s (%v)", rev, r.body, err)
	}
	return m.Modified
}
