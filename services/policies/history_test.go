package policies

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

// A policy and its entries read at revisions on both sides of a snapshot
// and at a time between changes, with the historical headers of each
// revision; enforced with the policy as it is now.
func TestPolicyAtHistoricalRevision(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := testConfig()
	cfg.SnapshotThreshold = 2
	cfg.HistoricalHeaders = []string{"ditto-originator", "correlation-id"}
	f.start(t, cfg)
	id := f.newID()
	withCID := func(cid string) protocol.Headers { return protocol.Headers{protocol.HeaderCorrelationID: cid} }
	send := func(action, path, value string, headers protocol.Headers, auth string) protocol.Envelope {
		t.Helper()
		return f.send(t, id, action, path, value, headers, auth)
	}
	wantOK := func(env protocol.Envelope) {
		t.Helper()
		if env.Status < 200 || env.Status > 299 {
			t.Fatalf("%s %s: status %d %s", env.Topic, env.Path, env.Status, env.Value)
		}
	}
	wantErr := func(what string, env protocol.Envelope, status int, code string) {
		t.Helper()
		perr, ok := env.AsError()
		if !ok || perr.Status != status || perr.Code != code {
			t.Errorf("%s: %d %s, want %d %s", what, env.Status, env.Value, status, code)
		}
	}
	const extra = `{"subjects":{"nginx:extra":{"type":"t"}},"resources":{"policy:/entries/extra":{"grant":["READ"],"revoke":[]}}}`
	wantOK(send("create", "/", basePolicy, withCID("p-1"), owner))                                                                   // 1
	wantOK(send("modify", "/entries/reader/resources/thing:/", `{"grant":["READ"],"revoke":[]}`, withCID("p-2"), owner))             // 2, snapshot
	wantOK(send("modify", "/entries/extra", extra, protocol.Headers{"correlation-id": "p-3", "ditto-originator": "nginx:x"}, owner)) // 3
	wantOK(send("delete", "/entries/extra", "", withCID("p-4"), owner))                                                              // 4, snapshot
	wantOK(send("delete", "/entries/reader", "", withCID("p-5"), owner))                                                             // 5

	at := func(rev int) protocol.Headers {
		return protocol.Headers{protocol.HeaderAtHistoricalRevision: strconv.Itoa(rev)}
	}
	r := send("retrieve", "/", "", at(1), owner)
	wantOK(r)
	jsonEqual(t, "policy at 1", r.Value, `{"policyId":"`+id+`","imports":{},"entries":`+string(mustAt(t, jsonv.MustParse(basePolicy), "/entries"))+`}`)
	if r.Headers[protocol.HeaderETag] != `"rev:1"` || r.Headers[protocol.HeaderEntityRevision] != "1" {
		t.Errorf("policy at 1: etag %s entity-revision %s", r.Headers[protocol.HeaderETag], r.Headers[protocol.HeaderEntityRevision])
	}
	for rev, want := range map[int]string{
		1: `{"subjects":{"nginx:reader":{"type":"t"}},"resources":{"policy:/":{"grant":["READ"],"revoke":[]}}}`,
		2: `{"subjects":{"nginx:reader":{"type":"t"}},"resources":{"policy:/":{"grant":["READ"],"revoke":[]},"thing:/":{"grant":["READ"],"revoke":[]}}}`,
		4: `{"subjects":{"nginx:reader":{"type":"t"}},"resources":{"policy:/":{"grant":["READ"],"revoke":[]},"thing:/":{"grant":["READ"],"revoke":[]}}}`,
	} {
		r := send("retrieve", "/entries/reader", "", at(rev), owner)
		wantOK(r)
		jsonEqual(t, fmt.Sprintf("entry reader at %d", rev), r.Value, want)
		var hh map[string]string
		if err := json.Unmarshal([]byte(r.Headers[protocol.HeaderHistoricalHeaders]), &hh); err != nil {
			t.Fatalf("historical-headers %q: %v", r.Headers[protocol.HeaderHistoricalHeaders], err)
		}
		if hh["correlation-id"] != fmt.Sprintf("p-%d", rev) || hh["ditto-originator"] != "nginx:ditto" || len(hh) != 2 {
			t.Errorf("entry reader at %d: historical-headers %v", rev, hh)
		}
	}
	r = send("retrieve", "/entries/extra", "", at(3), owner)
	wantOK(r)
	jsonEqual(t, "entry extra at 3", r.Value, extra)
	var hh map[string]string
	_ = json.Unmarshal([]byte(r.Headers[protocol.HeaderHistoricalHeaders]), &hh)
	if hh["ditto-originator"] != "nginx:ditto" {
		t.Errorf("a client's ditto-originator was journaled: %v", hh)
	}
	wantErr("entry extra at 2", send("retrieve", "/entries/extra", "", at(2), owner), 404, protocol.CodePolicyEntryNotFound)
	wantErr("entry reader now", send("retrieve", "/entries/reader", "", nil, owner), 404, protocol.CodePolicyEntryNotFound)

	// At the time of revision 3.
	events, err := f.j.Events(context.Background(), "policy:"+id, 1, math.MaxInt64)
	if err != nil || len(events) != 5 {
		t.Fatalf("journal: %d events, %v", len(events), err)
	}
	r = send("retrieve", "/entries/extra", "", protocol.Headers{protocol.HeaderAtHistoricalTimestamp: events[2].Timestamp.Format(time.RFC3339Nano)}, owner)
	if events[3].Timestamp.Equal(events[2].Timestamp) {
		// Revision 4 (the entry's deletion) was made in the same
		// millisecond: the time reads revision 4.
		wantErr("entry extra at 3's time", r, 404, protocol.CodePolicyEntryNotFound)
	} else {
		wantOK(r)
		jsonEqual(t, "entry extra at 3's time", r.Value, extra)
	}

	// nginx:reader could read the policy at revision 1, but the policy as
	// it is now has no entry for it.
	wantErr("reader at 1", send("retrieve", "/", "", at(1), reader), 404, protocol.CodePolicyNotFound)
	wantErr("reader's entry at 1", send("retrieve", "/entries/reader", "", at(1), reader), 404, protocol.CodePolicyEntryNotFound)
	// nginx:partial still reads the owner entry, not its subjects.
	r = send("retrieve", "/", "", at(1), partial)
	wantOK(r)
	jsonEqual(t, "partial's view at 1", r.Value, `{"policyId":"`+id+`","entries":{"owner":{"resources":{
		"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`)

	// Bad input.
	wantErr("beyond", send("retrieve", "/", "", at(6), owner), 404, protocol.CodePolicyHistoryNotFound)
	wantErr("malformed", send("retrieve", "/", "", protocol.Headers{protocol.HeaderAtHistoricalTimestamp: "2022-10-24"}, owner), 400, protocol.CodeHeaderInvalid)
	wantErr("before", send("retrieve", "/", "", protocol.Headers{protocol.HeaderAtHistoricalTimestamp: "2001-01-01T00:00:00Z"}, owner), 404, protocol.CodePolicyHistoryNotFound)
}

func mustAt(t *testing.T, v jsonv.Value, p string) []byte {
	t.Helper()
	x, ok := v.At(jsonv.MustParsePointer(p))
	if !ok {
		t.Fatalf("%s not in %s", p, v)
	}
	return x.AppendJSON(nil)
}
