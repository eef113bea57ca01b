package search_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/searchapi"
	"github.com/dittonats/dittonats/services/search"
	"github.com/dittonats/dittonats/services/search/index"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// A policy letting ditto read and write everything, and ditto2 read only
// the attribute "public" and the feature "shared" without its property
// "secret".
const sharedPolicy = `{"entries":{
 "owner":{"subjects":{"nginx:ditto":{"type":"basic"}},
   "resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]},"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}},
 "guest":{"subjects":{"nginx:ditto2":{"type":"basic"}},
   "resources":{"thing:/attributes/public":{"grant":["READ"],"revoke":[]},
     "thing:/features/shared":{"grant":["READ"],"revoke":[]},
     "thing:/features/shared/properties/secret":{"grant":[],"revoke":["READ"]}}}}}`

func TestSearchFollowsChanges(t *testing.T) {
	f := newFixture(t)
	f.startSearch(t, f.searchConfig("a.db"))

	rev := f.put(t, "org.acme:one", `{"attributes":{"color":"red","size":3}}`)
	f.put(t, "org.acme:two", `{"attributes":{"color":"blue","size":5}}`)
	f.eventuallyIDs(t, ditto, `eq(attributes/color,"red")`, "org.acme:one")
	f.eventuallyIDs(t, ditto, `gt(attributes/size,2)`, "org.acme:one", "org.acme:two")

	// search-persisted: once the await answers, the query sees the change.
	r := f.send(t, ditto, protocol.GroupThings, protocol.ActionModify, "org.acme:one", "/attributes/color", `"green"`, nil)
	rev2 := revisionOf(t, r)
	if rev2 != rev+1 {
		t.Fatalf("revision %d after %d", rev2, rev)
	}
	status, body := f.ask(t, ditto, searchapi.Request{Type: searchapi.TypeAwait, ThingID: "org.acme:one", Revision: rev2, TimeoutMillis: 10000})
	if status != 204 {
		t.Fatalf("await: %d %s", status, body)
	}
	if got := f.ids(t, ditto, `eq(attributes/color,"green")`, ""); !slices.Equal(got, []string{"org.acme:one"}) {
		t.Fatalf("after the await: %v", got)
	}
	// A revision that never comes times out with Ditto's ack timeout.
	status, body = f.ask(t, ditto, searchapi.Request{Type: searchapi.TypeAwait, ThingID: "org.acme:one", Revision: rev2 + 10, TimeoutMillis: 200})
	if status != 408 {
		t.Fatalf("await of a future revision: %d %s", status, body)
	}

	f.send(t, ditto, protocol.GroupThings, protocol.ActionMerge, "org.acme:two", "/", `{"attributes":{"size":null,"tags":["x","y"]}}`, nil)
	f.eventuallyIDs(t, ditto, `eq(attributes/tags,"y")`, "org.acme:two")
	f.eventuallyIDs(t, ditto, `exists(attributes/size)`, "org.acme:one")

	f.send(t, ditto, protocol.GroupThings, protocol.ActionDelete, "org.acme:one", "/", "", nil)
	status, _ = f.ask(t, ditto, searchapi.Request{Type: searchapi.TypeAwait, ThingID: "org.acme:one", Deleted: true, TimeoutMillis: 10000})
	if status != 204 {
		t.Fatalf("await deletion: %d", status)
	}
	if n := f.count(t, ditto, ""); n != 1 {
		t.Fatalf("count after delete = %d, want 1", n)
	}
}

func TestSearchIsPolicyAware(t *testing.T) {
	f := newFixture(t)
	f.startSearch(t, f.searchConfig("a.db"))
	f.send(t, ditto, protocol.GroupPolicies, protocol.ActionCreate, "org.acme:shared", "/", sharedPolicy, nil)
	f.put(t, "org.acme:a", `{"policyId":"org.acme:shared","attributes":{"public":"p1","private":"x"},
		"features":{"shared":{"properties":{"temp":21,"secret":"s"}},"hidden":{"properties":{"temp":99}}}}`)
	f.put(t, "org.acme:b", `{"attributes":{"public":"p1","private":"x"}}`) // its own policy: ditto only
	f.eventuallyIDs(t, ditto, `eq(attributes/private,"x")`, "org.acme:a", "org.acme:b")

	// ditto2 sees only a, matches only on what it may read.
	f.eventuallyIDs(t, ditto2, `eq(attributes/public,"p1")`, "org.acme:a")
	for _, filter := range []string{`eq(attributes/private,"x")`, `eq(features/shared/properties/secret,"s")`,
		`eq(features/hidden/properties/temp,99)`, `exists(features/hidden)`} {
		if got := f.ids(t, ditto2, filter, ""); len(got) != 0 {
			t.Errorf("%s as ditto2: %v, want nothing (not readable)", filter, got)
		}
	}
	if got := f.ids(t, ditto2, `eq(features/shared/properties/temp,21)`, ""); !slices.Equal(got, []string{"org.acme:a"}) {
		t.Errorf("readable feature property as ditto2: %v", got)
	}
	if n := f.count(t, ditto2, ""); n != 1 {
		t.Errorf("count as ditto2 = %d, want 1 (b is invisible)", n)
	}
	// Several subjects: the union of what each may read.
	if n := f.count(t, []string{"nginx:ditto2", "nginx:ditto"}, ""); n != 2 {
		t.Errorf("count as both = %d, want 2", n)
	}
	// Hits carry only what the caller may read.
	res := f.query(t, ditto2, searchapi.Request{Type: searchapi.TypeQuery})
	if len(res.Items) != 1 {
		t.Fatalf("ditto2 items: %s", res.Items)
	}
	want := `{"thingId":"org.acme:a","attributes":{"public":"p1"},"features":{"shared":{"properties":{"temp":21}}}}`
	if !jsonv.MustParse(string(res.Items[0])).Equal(jsonv.MustParse(want)) {
		t.Errorf("ditto2 sees %s, want %s", res.Items[0], want)
	}
	// Fields of the thing's own (thingId, _revision, _namespace) are
	// written without its policy or document, as the general way writes
	// them (which a field that selects nothing more takes).
	for _, fields := range []string{"thingId", "_revision", "_namespace,thingId", "_revision,_namespace,thingId"} {
		for _, caller := range [][]string{ditto2, ditto} {
			short := f.query(t, caller, searchapi.Request{Type: searchapi.TypeQuery, Fields: fields})
			general := f.query(t, caller, searchapi.Request{Type: searchapi.TypeQuery, Fields: fields + ",attributes/none"})
			if len(short.Items) == 0 || len(short.Items) != len(general.Items) {
				t.Fatalf("fields %s for %v: %d items, the general way %d", fields, caller, len(short.Items), len(general.Items))
			}
			for i := range short.Items {
				if string(short.Items[i]) != string(general.Items[i]) {
					t.Errorf("fields %s for %v: %s, the general way %s", fields, caller, short.Items[i], general.Items[i])
				}
			}
		}
	}

	// A policy change takes effect: revoke ditto2's attribute.
	f.send(t, ditto, protocol.GroupPolicies, protocol.ActionModify, "org.acme:shared", "/entries/guest/resources/thing:/attributes/public",
		`{"grant":[],"revoke":["READ"]}`, nil)
	f.eventuallyIDs(t, ditto2, `eq(attributes/public,"p1")`)
	f.eventuallyIDs(t, ditto2, `eq(features/shared/properties/temp,21)`, "org.acme:a")
	// Deleting the policy hides the thing from everyone.
	f.send(t, ditto, protocol.GroupPolicies, protocol.ActionDelete, "org.acme:shared", "/", "", nil)
	f.eventuallyIDs(t, ditto, `eq(attributes/private,"x")`, "org.acme:b")
}

func TestSearchQueryOptions(t *testing.T) {
	f := newFixture(t)
	f.startSearch(t, f.searchConfig("a.db"))
	var want []string
	for i := range 7 {
		id := "org.acme:t" + string(rune('a'+i))
		f.put(t, id, `{"attributes":{"n":`+string(rune('0'+(7-i)))+`,"even":`+map[bool]string{true: "true", false: "false"}[i%2 == 0]+`}}`)
		want = append(want, id)
	}
	f.eventuallyIDs(t, ditto, `exists(attributes/n)`, want...)

	// Cursor walk with size(3), sorted by n ascending (so ids descending).
	var walked []string
	req := searchapi.Request{Type: searchapi.TypeQuery, Options: "sort(+attributes/n),size(3)"}
	for range 5 {
		res := f.query(t, ditto, req)
		walked = append(walked, idsOf(t, res)...)
		if res.NextPageOffset != nil {
			t.Errorf("size(...) page carries nextPageOffset %d", *res.NextPageOffset)
		}
		if res.Cursor == "" {
			break
		}
		req.Options = "size(3),cursor(" + res.Cursor + ")"
	}
	rev := slices.Clone(want)
	slices.Reverse(rev)
	if !slices.Equal(walked, rev) {
		t.Errorf("cursor walk = %v, want %v", walked, rev)
	}
	// limit(offset,count) pages with nextPageOffset.
	res := f.query(t, ditto, searchapi.Request{Type: searchapi.TypeQuery, Options: "limit(2,3)"})
	if got := idsOf(t, res); !slices.Equal(got, want[2:5]) || res.NextPageOffset == nil || *res.NextPageOffset != 5 || res.Cursor != "" {
		t.Errorf("limit(2,3): %v next %v cursor %q", got, res.NextPageOffset, res.Cursor)
	}
	res = f.query(t, ditto, searchapi.Request{Type: searchapi.TypeQuery, Options: "limit(5,3)"})
	if got := idsOf(t, res); !slices.Equal(got, want[5:]) || res.NextPageOffset == nil || *res.NextPageOffset != -1 {
		t.Errorf("last limit page: %v next %v", got, res.NextPageOffset)
	}
	// fields
	res = f.query(t, ditto, searchapi.Request{Type: searchapi.TypeQuery, Filter: `eq(thingId,"org.acme:ta")`, Fields: "thingId,attributes/n,_revision"})
	if len(res.Items) != 1 || !jsonv.MustParse(string(res.Items[0])).Equal(jsonv.MustParse(`{"thingId":"org.acme:ta","attributes":{"n":7},"_revision":1}`)) {
		t.Errorf("fields: %s", res.Items)
	}
	// Bad input gets Ditto's errors.
	for _, tc := range []struct {
		req  searchapi.Request
		code string
	}{
		{searchapi.Request{Type: searchapi.TypeQuery, Filter: `eq(attributes/n,`}, "rql.expression.invalid"},
		{searchapi.Request{Type: searchapi.TypeQuery, Filter: `foo(attributes/n,1)`}, "rql.expression.invalid"},
		{searchapi.Request{Type: searchapi.TypeQuery, Options: "size(201)"}, "thing-search:search.option.invalid"},
		{searchapi.Request{Type: searchapi.TypeQuery, Options: "sort(thingId)"}, "thing-search:search.option.invalid"},
		{searchapi.Request{Type: searchapi.TypeQuery, Options: "cursor(Zm9v)"}, "thing-search:search.option.invalid"},
		{searchapi.Request{Type: searchapi.TypeQuery, Options: "size(2),cursor(" + f.query(t, ditto, searchapi.Request{Type: searchapi.TypeQuery, Options: "size(2)"}).Cursor + ")", Filter: `eq(attributes/n,1)`}, "thing-search:search.option.invalid"},
	} {
		status, body := f.ask(t, ditto, tc.req)
		var e protocol.Error
		_ = json.Unmarshal(body, &e)
		if status != 400 || e.Code != tc.code {
			t.Errorf("%+v: %d %s, want 400 %s", tc.req, status, body, tc.code)
		}
	}
	// No subjects: refused.
	if status, _ := f.ask(t, nil, searchapi.Request{Type: searchapi.TypeQuery}); status != 401 {
		t.Errorf("without subjects: %d, want 401", status)
	}
}

// A new index is filled from the things service; a removed index file is
// rebuilt; rows deleted behind the service's back and events it never
// applied are repaired by background sync.
func TestSearchFillsAndRepairs(t *testing.T) {
	f := newFixture(t)
	for i := range 30 {
		f.put(t, "org.acme:pre-"+string(rune('a'+i/10))+string(rune('0'+i%10)), `{"attributes":{"k":"v"}}`)
	}
	cfg := f.searchConfig("fill.db")
	_, r := f.startSearch(t, cfg)
	if n := f.count(t, ditto, `eq(attributes/k,"v")`); n != 30 {
		t.Fatalf("filled index counts %d, want 30", n)
	}
	r.stop()

	// Behind its back: rows deleted, a stale revision.
	ix, err := index.Open(cfg.IndexPath, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Write(t.Context(), index.Batch{Delete: []string{"org.acme:pre-a0", "org.acme:pre-a1"}}); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	f.put(t, "org.acme:pre-b0", `{"attributes":{"k":"w"}}`) // applied from the events on restart
	s, _ := f.startSearch(t, cfg)
	f.eventuallyIDs(t, ditto, `eq(attributes/k,"w")`, "org.acme:pre-b0")
	if n := f.count(t, ditto, `eq(attributes/k,"v")`); n != 27 {
		t.Fatalf("before sync: %d, want 27", n)
	}
	s.TriggerSync()
	streamstest.Eventually(t, 30*time.Second, func() error {
		if n := f.count(t, ditto, `eq(attributes/k,"v")`); n != 29 {
			return errorf("after sync: %d, want 29", n)
		}
		return nil
	})

	// The index file removed: a new index is filled again.
	cfg2 := cfg
	cfg2.IndexPath = cfg.IndexPath + ".new"
	_ = os.Remove(cfg2.IndexPath)
	f.startSearch(t, cfg2)
	if n := f.count(t, ditto, ""); n != 30 {
		t.Fatalf("rebuilt index counts %d, want 30", n)
	}
}

// A search instance answers only from a filled index: while its fill
// cannot finish (the things service is down), a search finds nobody to
// answer instead of getting some of the matches; once the things service is
// back, the fill completes and every thing is found.
func TestSearchAnswersOnlyFromAFilledIndex(t *testing.T) {
	f := newFixture(t)
	for i := range 12 {
		f.put(t, fmt.Sprintf("org.acme:w-%02d", i), `{"attributes":{"k":"v"}}`)
	}
	f.things.stop()
	s, _ := f.launchSearch(t, f.searchConfig("partial.db"))
	b, _ := json.Marshal(searchapi.Request{Type: searchapi.TypeCount})
	msg := nats.NewMsg(f.names.SearchQueries())
	msg.Data = b
	msg.Header.Set(streams.HeaderAuth, command.EncodeAuth(ditto))
	if m, err := command.RequestWithin(f.gw, msg, 2*time.Second); !errors.Is(err, command.ErrUnavailable) {
		var data []byte
		if m != nil {
			data = m.Data
		}
		t.Fatalf("search during the fill: %q %v, want unavailable", data, err)
	}
	if s.Ready() {
		t.Fatal("ready without the things service")
	}
	f.things = f.startThings(t)
	streamstest.Eventually(t, 30*time.Second, func() error {
		if !s.Ready() {
			return errorf("index not filled yet")
		}
		return nil
	})
	if n := f.count(t, ditto, ""); n != 12 {
		t.Fatalf("filled index counts %d, want 12", n)
	}
}

// Hostile filters get Ditto's errors or an answer, never a stuck service;
// namespaces and time placeholders restrict as documented.
func TestSearchBadInputAndRestrictions(t *testing.T) {
	f := newFixture(t)
	f.startSearch(t, f.searchConfig("a.db"))
	f.put(t, "org.acme:one", `{"attributes":{"k":1}}`)
	f.put(t, "com.other:two", `{"attributes":{"k":2}}`)
	f.eventuallyIDs(t, ditto, `exists(attributes/k)`, "com.other:two", "org.acme:one")

	deep := strings.Repeat("not(", 2000) + `eq(attributes/k,1)` + strings.Repeat(")", 2000)
	status, body := f.ask(t, ditto, searchapi.Request{Type: searchapi.TypeQuery, Filter: deep})
	if status != 400 || !strings.Contains(string(body), "rql.expression.invalid") {
		t.Errorf("2000 levels deep: %d %.200s", status, body)
	}
	var vals []string
	for i := range 5000 {
		vals = append(vals, strconv.Itoa(i+10))
	}
	long := `in(attributes/k,` + strings.Join(vals, ",") + `,2)`
	res := f.query(t, ditto, searchapi.Request{Type: searchapi.TypeQuery, Filter: long})
	if got := idsOf(t, res); !slices.Equal(got, []string{"com.other:two"}) {
		t.Errorf("in() with 5001 values: %v", got)
	}
	// The service still answers at once.
	if n := f.count(t, ditto, ""); n != 2 {
		t.Errorf("count after hostile queries: %d", n)
	}
	res = f.query(t, ditto, searchapi.Request{Type: searchapi.TypeQuery, Namespaces: []string{"org.acme"}})
	if got := idsOf(t, res); !slices.Equal(got, []string{"org.acme:one"}) {
		t.Errorf("namespaces org.acme: %v", got)
	}
	if got := f.ids(t, ditto, `lt(_modified,time:now)`, ""); len(got) != 2 {
		t.Errorf("lt(_modified,time:now): %v", got)
	}
	if got := f.ids(t, ditto, `gt(_created,time:now)`, ""); len(got) != 0 {
		t.Errorf("gt(_created,time:now): %v", got)
	}
	status, body = f.ask(t, ditto, searchapi.Request{Type: searchapi.TypeQuery, Fields: "attributes(("})
	if status != 400 || !strings.Contains(string(body), "json.fieldselector.invalid") {
		t.Errorf("bad fields: %d %s", status, body)
	}
}

// ditto.search.namespace-indexed-fields: in a matching namespace only the
// listed fields (and the thing's own) are found; elsewhere everything.
func TestSearchNamespaceIndexedFields(t *testing.T) {
	f := newFixture(t)
	cfg := f.searchConfig("a.db")
	cfg.IndexedFields = `[{"namespace-pattern":"org.acme*","indexed-fields":["attributes/indexed","features/f/properties"]},
		{"namespace-pattern":"org.acme.all","indexed-fields":["attributes"]}]`
	f.startSearch(t, cfg)
	for _, id := range []string{"org.acme:a", "org.acme.all:b", "com.other:c"} {
		f.put(t, id, `{"attributes":{"indexed":1,"other":1},"features":{"f":{"properties":{"p":1},"desiredProperties":{"p":1}}}}`)
	}
	f.eventuallyIDs(t, ditto, `eq(attributes/indexed,1)`, "com.other:c", "org.acme.all:b", "org.acme:a")
	// First match wins: org.acme.all matches org.acme* before its own entry.
	for filter, want := range map[string][]string{
		`eq(attributes/other,1)`:                {"com.other:c"},
		`eq(features/f/properties/p,1)`:         {"com.other:c", "org.acme.all:b", "org.acme:a"},
		`eq(features/f/desiredProperties/p,1)`:  {"com.other:c"},
		`like(thingId,"org.acme*")`:             {"org.acme.all:b", "org.acme:a"},
		`and(exists(policyId),lt(_revision,5))`: {"com.other:c", "org.acme.all:b", "org.acme:a"},
	} {
		if got := f.ids(t, ditto, filter, ""); !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", filter, got, want)
		}
	}
	// Hits still show the whole thing.
	res := f.query(t, ditto, searchapi.Request{Type: searchapi.TypeQuery, Filter: `eq(thingId,"org.acme:a")`, Fields: "attributes/other"})
	if len(res.Items) != 1 || !strings.Contains(string(res.Items[0]), `"other":1`) {
		t.Errorf("hit: %s", res.Items)
	}
}

// Events the index never gets (here: skipped by moving its position past
// them while it is stopped) leave it stale until background sync compares
// it with the things and repairs it.
func TestSearchRepairsWithheldEvents(t *testing.T) {
	f := newFixture(t)
	cfg := f.searchConfig("withheld.db")
	cfg.SyncTolerance = 0
	_, r := f.startSearch(t, cfg)
	f.put(t, "org.acme:w1", `{"attributes":{"v":1}}`)
	f.put(t, "org.acme:w2", `{"attributes":{"v":1}}`)
	f.eventuallyIDs(t, ditto, `eq(attributes/v,1)`, "org.acme:w1", "org.acme:w2")
	r.stop()

	// Changes whose events the index will never see.
	f.put(t, "org.acme:w1", `{"attributes":{"v":2}}`)
	f.send(t, ditto, protocol.GroupThings, protocol.ActionDelete, "org.acme:w2", "/", "", nil)
	f.put(t, "org.acme:w3", `{"attributes":{"v":2}}`)
	nc := f.srv.ConnectAs(t, streams.RoleSearch)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ix, err := index.Open(cfg.IndexPath, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	id, _, _ := ix.Meta(t.Context(), "index.id")
	st, err := js.Stream(t.Context(), f.names.EventsStream(streams.ServiceThings))
	if err != nil {
		t.Fatal(err)
	}
	last := st.CachedInfo().State.LastSeq
	if err := ix.Write(t.Context(), index.Batch{Meta: map[string]string{"seq.things": strconv.FormatUint(last, 10)}}); err != nil {
		t.Fatal(err)
	}
	ix.Close()
	if err := st.DeleteConsumer(t.Context(), "search-"+id+"-things"); err != nil {
		t.Fatal(err)
	}

	s, _ := f.startSearch(t, cfg)
	if got := f.ids(t, ditto, `exists(attributes/v)`, ""); !slices.Equal(got, []string{"org.acme:w1", "org.acme:w2"}) {
		t.Fatalf("before sync the index should still be stale: %v", got)
	}
	s.TriggerSync()
	f.eventuallyIDs(t, ditto, `eq(attributes/v,2)`, "org.acme:w1", "org.acme:w3")
	f.eventuallyIDs(t, ditto, `exists(attributes/v)`, "org.acme:w1", "org.acme:w3")
}

// indexRedAndStop starts a search service with cfg, writes the thing id
// with the attribute color "red", waits until search finds it and stops the
// service: an index with a durable consumer that has applied every event.
func (f *fixture) indexRedAndStop(t *testing.T, cfg search.Config, id string) {
	t.Helper()
	_, r := f.startSearch(t, cfg)
	f.put(t, id, `{"attributes":{"color":"red"}}`)
	f.eventuallyIDs(t, ditto, `eq(attributes/color,"red")`, id)
	r.stop()
}

// With event processing off (EVENT_PROCESSING_ACTIVE=false) the index
// follows no events: it answers from what it holds, a wait for a change
// times out, and once processing is on again the durable consumers resume
// where they stopped and every change made meanwhile is applied.
func TestSearchEventProcessingOff(t *testing.T) {
	f := newFixture(t)
	cfg := f.searchConfig("paused.db")
	f.indexRedAndStop(t, cfg, "org.acme:kept")

	off := cfg
	off.EventProcessing = false
	_, r := f.startSearch(t, off)
	rev := f.put(t, "org.acme:kept", `{"attributes":{"color":"blue"}}`)
	added := f.put(t, "org.acme:added", `{"attributes":{"color":"blue"}}`)
	status, body := f.ask(t, ditto, searchapi.Request{Type: searchapi.TypeAwait, ThingID: "org.acme:added", Revision: added, TimeoutMillis: 500})
	if status != 408 {
		t.Fatalf("await with event processing off: %d %s, want 408", status, body)
	}
	if got := f.ids(t, ditto, `eq(attributes/color,"red")`, ""); !slices.Equal(got, []string{"org.acme:kept"}) {
		t.Fatalf("with event processing off the index changed: red %v", got)
	}
	if n := f.count(t, ditto, ""); n != 1 {
		t.Fatalf("with event processing off the index counts %d, want 1", n)
	}
	r.stop()

	f.startSearch(t, cfg)
	for id, want := range map[string]int64{"org.acme:kept": rev, "org.acme:added": added} {
		status, body := f.ask(t, ditto, searchapi.Request{Type: searchapi.TypeAwait, ThingID: id, Revision: want, TimeoutMillis: 10000})
		if status != 204 {
			t.Fatalf("await %s revision %d after processing resumed: %d %s", id, want, status, body)
		}
	}
	f.eventuallyIDs(t, ditto, `eq(attributes/color,"blue")`, "org.acme:added", "org.acme:kept")
}

// Events delivered to an instance that stopped before applying them (in
// flight, or buffered by its consumer) are applied after its restart at
// once: JetStream would deliver them again only after AckWait (a minute),
// and an acknowledgement of a later event acknowledges every earlier one.
func TestSearchAppliesEventsDeliveredBeforeAStop(t *testing.T) {
	f := newFixture(t)
	cfg := f.searchConfig("inflight.db")
	f.indexRedAndStop(t, cfg, "org.acme:moved")

	f.put(t, "org.acme:moved", `{"attributes":{"color":"blue"}}`)
	f.put(t, "org.acme:added", `{"attributes":{"color":"blue"}}`)
	// The stopped instance's consumer delivers both, and nobody applies
	// or acknowledges them (the operator may read consumers).
	js, err := jetstream.New(f.srv.ConnectAs(t, streams.RoleOperator))
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.Stream(t.Context(), f.names.EventsStream(streams.ServiceThings))
	if err != nil {
		t.Fatal(err)
	}
	var name string
	for n := range stream.ConsumerNames(t.Context()).Name() {
		if strings.HasPrefix(n, "search-") && strings.HasSuffix(n, "-"+streams.ServiceThings) {
			name = n
		}
	}
	cons, err := stream.Consumer(t.Context(), name)
	if err != nil {
		t.Fatalf("the index's consumer %q: %v", name, err)
	}
	batch, err := cons.Fetch(10, jetstream.FetchMaxWait(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	delivered := 0
	for range batch.Messages() {
		delivered++
	}
	if delivered != 2 {
		t.Fatalf("the consumer delivered %d events, want the 2 made while the index was stopped", delivered)
	}

	f.startSearch(t, cfg)
	f.eventuallyIDs(t, ditto, `eq(attributes/color,"blue")`, "org.acme:added", "org.acme:moved")
}
