package things_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/logging"
)

// startHistory starts both services, the things service journaling who
// made each change and its correlation id (snapshots every 5 events).
func (f *fixture) startHistory(t *testing.T) {
	t.Helper()
	f.startPolicies(t, policiesConfig())
	cfg := thingsConfig()
	cfg.HistoricalHeaders = logging.HeaderNames{"ditto-originator", "correlation-id"}
	f.startThings(t, cfg)
}

// atRevision and atTime return c reading the past.
func atRevision(c command, rev int) command {
	return c.header(protocol.HeaderAtHistoricalRevision, strconv.Itoa(rev))
}

func atTime(c command, when time.Time) command {
	return c.header(protocol.HeaderAtHistoricalTimestamp, when.UTC().Format(time.RFC3339Nano))
}

func historicalHeaders(t *testing.T, r reply) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(r.env.Headers[protocol.HeaderHistoricalHeaders]), &m); err != nil {
		t.Fatalf("historical-headers %q: %v", r.env.Headers[protocol.HeaderHistoricalHeaders], err)
	}
	return m
}

// eventTimes are the journal's timestamps of thing id's revisions (index
// 0 unused).
func (f *fixture) eventTimes(t *testing.T, id string) []time.Time {
	t.Helper()
	events, err := f.thingsJ.Events(context.Background(), "thing:"+id, 1, math.MaxInt64)
	if err != nil {
		t.Fatal(err)
	}
	ts := make([]time.Time, len(events)+1)
	for _, e := range events {
		ts[e.SN] = e.Timestamp
	}
	return ts
}

// A thing and its attribute read at revisions on both sides of snapshots
// and at times between changes, with the historical headers of each
// revision: who made it (never what a client claims) and its correlation id.
func TestThingAtHistoricalRevision(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startHistory(t)
	const n = 12 // snapshots at 5 and 10
	f.expect(t, thing(ditto, modify, lamp).with(`{"attributes":{"n":1,"kept":"yes"}}`).header("correlation-id", "c-1"), 201, "")
	for k := 2; k <= n; k++ {
		c := thing(ditto, modify, lamp+"/attributes/n").with(strconv.Itoa(k)).header("correlation-id", fmt.Sprintf("c-%d", k))
		// A client's ditto-originator claims another author: it is not
		// what the journal keeps.
		c = c.header(protocol.HeaderOriginator, "nginx:mallory")
		f.expect(t, c, 204, "")
	}
	for _, rev := range []int{1, 2, 3, 4, 5, 6, 9, 10, 11, 12} {
		r := f.expect(t, atRevision(thing(ditto, retrieve, lamp), rev), 200, "")
		jsonEq(t, fmt.Sprintf("thing at %d", rev), r.env.Value,
			fmt.Sprintf(`{"thingId":%q,"policyId":%q,"attributes":{"n":%d,"kept":"yes"}}`, lamp, lamp, rev))
		if got, want := r.etag(), fmt.Sprintf(`"rev:%d"`, rev); got != want {
			t.Errorf("thing at %d: etag %s, want %s", rev, got, want)
		}
		if got := r.env.Headers[protocol.HeaderEntityRevision]; got != strconv.Itoa(rev) {
			t.Errorf("thing at %d: entity-revision %s", rev, got)
		}
		want := map[string]string{"ditto-originator": "nginx:ditto", "correlation-id": fmt.Sprintf("c-%d", rev)}
		if got := historicalHeaders(t, r); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("thing at %d: historical-headers %v, want %v", rev, got, want)
		}
		a := f.expect(t, atRevision(thing(ditto, retrieve, lamp+"/attributes/n"), rev), 200, "")
		if string(a.env.Value) != strconv.Itoa(rev) {
			t.Errorf("attribute at %d = %s", rev, a.env.Value)
		}
	}
	ts := f.eventTimes(t, lamp)
	r := f.expect(t, atRevision(thing(ditto, retrieve, lamp), 3).selecting("_revision,_modified,attributes/n"), 200, "")
	jsonEq(t, "selected fields at 3", r.env.Value, fmt.Sprintf(`{"_revision":3,"_modified":%q,"attributes":{"n":3}}`, ts[3].Format("2006-01-02T15:04:05.000Z")))

	// A time reads the last revision made at or before it.
	for k := 1; k <= n; k++ {
		want := 0
		for j := 1; j <= n; j++ {
			if !ts[j].After(ts[k]) {
				want = j
			}
		}
		a := f.expect(t, atTime(thing(ditto, retrieve, lamp+"/attributes/n"), ts[k]), 200, "")
		if string(a.env.Value) != strconv.Itoa(want) {
			t.Errorf("attribute at event %d's time = %s, want %d", k, a.env.Value, want)
		}
	}

	// Bad input, with Ditto's errors, and the thing is unchanged.
	for _, tt := range []struct {
		name   string
		cmd    command
		status int
		code   string
	}{
		{"revision beyond the current", atRevision(thing(ditto, retrieve, lamp), n+1), 404, protocol.CodeThingHistoryNotFound},
		{"revision 0", atRevision(thing(ditto, retrieve, lamp), 0), 404, protocol.CodeThingHistoryNotFound},
		{"malformed revision", thing(ditto, retrieve, lamp).header(protocol.HeaderAtHistoricalRevision, "1.5"), 400, protocol.CodeHeaderInvalid},
		{"malformed timestamp", thing(ditto, retrieve, lamp).header(protocol.HeaderAtHistoricalTimestamp, "24.10.2022"), 400, protocol.CodeHeaderInvalid},
		{"before the creation", atTime(thing(ditto, retrieve, lamp), ts[1].Add(-time.Second)), 404, protocol.CodeThingHistoryNotFound},
		{"in the future", atTime(thing(ditto, retrieve, lamp), time.Now().Add(time.Hour)), 404, protocol.CodeThingHistoryNotFound},
		{"attribute not there then", atRevision(thing(ditto, retrieve, lamp+"/attributes/later"), 2), 404, "things:attribute.notfound"},
	} {
		f.expect(t, tt.cmd, tt.status, tt.code)
	}
	r = f.expect(t, thing(ditto, retrieve, lamp), 200, "")
	if r.etag() != fmt.Sprintf(`"rev:%d"`, n) {
		t.Errorf("after the reads: etag %s, want rev %d", r.etag(), n)
	}
}

// A historical revision is enforced with the thing's policy as it is now:
// who may read the thing now reads its past (filtered as the current
// policy filters), who may not cannot, whatever the policy was then.
func TestHistoryEnforcedWithCurrentPolicy(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.startHistory(t)
	guest := func(resources string) command {
		return policy(ditto, modify, lamp+"/entries/GUEST").with(`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{` + resources + `}}`)
	}
	f.expect(t, thing(ditto, modify, lamp).with(`{"attributes":{"a":1,"b":2}}`), 201, "")
	f.expect(t, guest(`"thing:/":{"grant":["READ"],"revoke":[]}`), 201, "")
	f.expect(t, thing(ditto, modify, lamp+"/attributes/a").with(`10`), 204, "") // revision 2

	// ditto2 could read revision 1 then and can now.
	f.expect(t, atRevision(thing(ditto2, retrieve, lamp), 1), 200, "")
	// Now only attributes/a: revision 1 is filtered by the current policy.
	f.expect(t, guest(`"thing:/attributes/a":{"grant":["READ"],"revoke":[]}`), 204, "")
	r := f.expect(t, atRevision(thing(ditto2, retrieve, lamp), 1), 200, "")
	jsonEq(t, "ditto2's view of revision 1", r.env.Value, fmt.Sprintf(`{"thingId":%q,"attributes":{"a":1}}`, lamp))
	f.expect(t, atRevision(thing(ditto2, retrieve, lamp+"/attributes/b"), 1), 404, "things:attribute.notfound")
	// Not at all any more: revision 1 is as hidden as the thing.
	f.expect(t, policy(ditto, del, lamp+"/entries/GUEST"), 204, "")
	f.expect(t, atRevision(thing(ditto2, retrieve, lamp), 1), 404, "things:thing.notfound")
	// As a read of the attribute now answers.
	f.expect(t, thing(ditto2, retrieve, lamp+"/attributes/a"), 404, "things:attribute.notfound")
	f.expect(t, atRevision(thing(ditto2, retrieve, lamp+"/attributes/a"), 1), 404, "things:attribute.notfound")

	// The thing moves to a policy that lets ditto2 read, and back: its
	// past is enforced with the policy it names now, not the one it named
	// then.
	other := "org.eclipse.ditto:other"
	f.expect(t, policy(ditto, modify, other).with(`{"entries":{
		"E":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}},
		"G":{"subjects":{"nginx:ditto2":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`), 201, "")
	f.expect(t, thing(ditto, modify, lamp+"/policyId").with(strconv.Quote(other)), 204, "") // revision 3
	r = f.expect(t, atRevision(thing(ditto2, retrieve, lamp), 2), 200, "")
	jsonEq(t, "revision 2 under the new policy", r.env.Value, fmt.Sprintf(`{"thingId":%q,"policyId":%q,"attributes":{"a":10,"b":2}}`, lamp, lamp))
	f.expect(t, thing(ditto, modify, lamp+"/policyId").with(strconv.Quote(lamp)), 204, "") // revision 4
	f.expect(t, atRevision(thing(ditto2, retrieve, lamp), 3), 404, "things:thing.notfound")

	// A deleted thing has no readable past.
	f.expect(t, thing(ditto, del, lamp), 204, "")
	f.expect(t, atRevision(thing(ditto, retrieve, lamp), 1), 404, "things:thing.notfound")
}
