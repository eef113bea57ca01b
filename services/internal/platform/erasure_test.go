package platform

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/embedded"
	"github.com/dittonats/dittonats/services/internal/namespaces"
	"github.com/dittonats/dittonats/services/policies"
	"github.com/dittonats/dittonats/services/search"
	"github.com/dittonats/dittonats/services/things"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// operator connects to the platform's embedded NATS as the operator role,
// as the nats CLI does.
func (pl *platform) operator(t *testing.T) *nats.Conn {
	t.Helper()
	pub, sign, err := embedded.NkeyOption(pl.p.seeds[streams.RoleOperator])
	if err != nil {
		t.Fatal(err)
	}
	nc, err := pl.p.srv.Connect(nats.Nkey(pub, sign))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// pubsub sends a piggyback command to Ditto's pub/sub mediator over NATS,
// as an operator does with the nats CLI: to every instance of the things,
// policies and search services. It returns the answers that came within
// wait, or as soon as want of them came.
func pubsub(t *testing.T, nc *nats.Conn, names streams.Names, headers, cmd string, want int, wait time.Duration) []string {
	t.Helper()
	req := `{"type":"` + devops.TypeExecutePiggyback + `","targetActorSelection":"/system/distributedPubSubMediator",` +
		`"headers":` + headers + `,"piggybackCommand":` + cmd + `}`
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	for _, svc := range []string{Things, Policies, Search} {
		if err := nc.PublishRequest(names.DevOps(streams.DevOpsName(svc)), inbox, []byte(req)); err != nil {
			t.Fatal(err)
		}
	}
	var out []string
	deadline := time.Now().Add(wait)
	for want <= 0 || len(out) < want {
		m, err := sub.NextMsg(time.Until(deadline))
		if err != nil {
			break
		}
		out = append(out, string(m.Data))
	}
	return out
}

// erasureHandlers makes the things, policies and search services of pl
// answer namespace erasure's commands: with the handlers the process
// registers for the pub/sub mediator if it does, else with a DevOps
// responder per service that has them (another instance, as far as the
// DevOps subjects are concerned).
func (pl *platform) erasureHandlers(t *testing.T, op *nats.Conn) {
	t.Helper()
	// The platform answers a block of an invalid namespace if it has the
	// handlers.
	if got := pubsub(t, op, pl.p.names, `{}`, `{"type":"namespaces.commands:blockNamespace","namespace":"not valid"}`, 1, time.Second); len(got) > 0 {
		return
	}
	handlers := map[string]devops.Handler{
		Things:   serviceOf(pl.p.runners[Things]).(*things.Service).NamespaceHandler(),
		Policies: serviceOf(pl.p.runners[Policies]).(*policies.Service).NamespaceHandler(),
		Search:   pl.p.runners[Search].(*search.Service).NamespaceHandler(),
	}
	roles := map[string]streams.Role{Things: streams.RoleThings, Policies: streams.RolePolicies, Search: streams.RoleSearch}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	for svc, h := range handlers {
		nc, err := pl.p.connect(roles[svc], log)
		if err != nil {
			t.Fatal(err)
		}
		r, err := devops.Serve(nc, pl.p.names, streams.DevOpsName(svc), "erasure", pl.p.loggers[svc], log,
			devops.Options{Handlers: map[devops.Component]devops.Handler{devops.ComponentPubSub: h}})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = r.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
	}
}

// rows counts what the stores hold of namespace: journal events and
// snapshots of things and policies in the embedded store, and index rows
// (things and their flattened fields) in the search index.
func rows(t *testing.T, dataDir, namespace string) map[string]int {
	t.Helper()
	out := map[string]int{}
	count := func(db *sql.DB, what, query string, args ...any) {
		var n int
		if err := db.QueryRow(query, args...).Scan(&n); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		out[what] = n
	}
	open := func(file string) *sql.DB {
		db, err := sql.Open("sqlite", filepath.Join(dataDir, file)+"?_pragma=query_only(1)&_pragma=busy_timeout(5000)")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	store := open("ditto.db")
	for _, table := range []string{"things_journal", "things_snaps", "policies_journal", "policies_snaps"} {
		// Every pid of an entity of the namespace: "<kind>:<namespace>:<name>".
		count(store, table, `SELECT count(*) FROM `+table+` WHERE pid LIKE ?`, "%:"+namespace+":%")
	}
	ix := open("things-search.db")
	count(ix, "search things", `SELECT count(*) FROM things WHERE namespace = ? OR thing_id LIKE ?`, namespace, namespace+":%")
	count(ix, "search fields", `SELECT count(*) FROM leaves WHERE thing NOT IN (SELECT id FROM things)`)
	return out
}

// writer writes one thing of another namespace over and over through
// HTTP while the namespace is erased, and remembers what it wrote last.
type writer struct {
	id     string
	writes atomic.Int64
	fails  atomic.Int64
	last   atomic.Int64
	err    atomic.Value // string: the first failure
}

func (w *writer) run(ctx context.Context, pl *platform) {
	client := &http.Client{Timeout: 15 * time.Second}
	for n := int64(1); ctx.Err() == nil; n++ {
		req, _ := http.NewRequest("PUT", pl.url+"/api/2/things/"+w.id+"/attributes/counter", strings.NewReader(strconv.FormatInt(n, 10)))
		req.SetBasicAuth("ditto", "ditto")
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			if ctx.Err() == nil {
				w.fail(err.Error())
			}
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent && resp.StatusCode != http.StatusCreated {
			w.fail(fmt.Sprintf("PUT %s: %d %s", w.id, resp.StatusCode, b))
			continue
		}
		w.writes.Add(1)
		w.last.Store(n)
	}
}

func (w *writer) fail(msg string) {
	w.fails.Add(1)
	w.err.CompareAndSwap(nil, msg)
}

// Ditto's four steps of erasing a namespace, on the whole platform, with
// the commands of its operating guide sent over NATS (and the shutdown
// through the gateway's DevOps route, as the guide sends it), while
// another namespace is written without pause: afterwards no row of the
// erased namespace is left in the journal, the snapshots or the search
// index; the other namespace lost no write; the namespace refused
// commands while blocked, and is used again once unblocked.
func TestNamespaceErasure(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	// Unblocking a purged namespace waits for the event streams'
	// duplicate window.
	cfg.Infra.EventsDupWindow = 2 * time.Second
	pl := startPlatform(t, cfg)
	op := pl.operator(t)
	pl.erasureHandlers(t, op)
	names := pl.p.names
	const erased, kept = "org.erased", "org.kept"

	// The namespace to erase: things (some past the snapshot threshold of
	// 5), their policies, their search index entries.
	for i := range 20 {
		id := fmt.Sprintf("%s:t%d", erased, i)
		pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{"attributes":{"n":`+strconv.Itoa(i)+`}}`, nil, 201, "")
		for j := range i % 8 {
			if r := pl.do(t, "ditto", "PUT", "/api/2/things/"+id+"/attributes/m", strconv.Itoa(j), nil); r.status/100 != 2 {
				t.Fatalf("modify %s: %d %s", id, r.status, r.body)
			}
		}
	}
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+erased+":standalone", `{"entries":{"o":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`, nil, 201, "")
	streamstest.Eventually(t, 20*time.Second, func() error {
		if n := searchCount(t, pl, `eq(_namespace,"`+erased+`")`); n != 20 {
			return fmt.Errorf("search counts %d things of %s, want 20", n, erased)
		}
		return nil
	})
	before := rows(t, cfg.Infra.DataDir, erased)
	if before["things_journal"] == 0 || before["things_snaps"] == 0 || before["policies_journal"] == 0 || before["search things"] != 20 {
		t.Fatalf("the namespace to erase is not stored everywhere: %v", before)
	}

	// The write load on another namespace, through all four steps.
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	writers := make([]*writer, 4)
	for i := range writers {
		writers[i] = &writer{id: fmt.Sprintf("%s:w%d", kept, i)}
		pl.expect(t, "ditto", "PUT", "/api/2/things/"+writers[i].id, `{"attributes":{"counter":0}}`, nil, 201, "")
		wg.Go(func() { writers[i].run(ctx, pl) })
	}
	defer func() { stopLoad(); wg.Wait() }()

	// 1. Block: every things and policies instance answers once it
	// refuses the namespace.
	blocked := `{"type":"namespaces.responses:blockNamespace","status":200,"namespace":"org.erased","resourceType":"namespaces"}`
	got := pubsub(t, op, names, `{"aggregate":false}`, `{"type":"namespaces.commands:blockNamespace","namespace":"org.erased"}`, 2, 30*time.Second)
	if len(got) != 2 || got[0] != blocked || got[1] != blocked {
		t.Fatalf("block answered %q, want two of %s", got, blocked)
	}
	thing := "/api/2/things/" + erased + ":t1"
	pl.expect(t, "ditto", "GET", thing, "", nil, 409, protocol.CodeNamespaceBlocked)
	pl.expect(t, "ditto", "PUT", thing+"/attributes/x", `1`, nil, 409, protocol.CodeNamespaceBlocked)
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+erased+":new", `{}`, nil, 409, protocol.CodeNamespaceBlocked)
	pl.expect(t, "ditto", "GET", "/api/2/policies/"+erased+":t1", "", nil, 409, protocol.CodeNamespaceBlocked)
	pl.expect(t, "ditto", "POST", thing+"/inbox/messages/hello?timeout=5", `"hi"`, nil, 409, protocol.CodeNamespaceBlocked)
	r := pl.expect(t, "ditto", "GET", thing, "", nil, 409, protocol.CodeNamespaceBlocked)
	jsonEq(t, "blocked error", r.body, `{"status":409,"error":"namespace.blocked",
		"message":"Namespace 'org.erased' is not available due to an ongoing operation.","description":"Please try again later."}`)

	// 2. Shut down, as the guide sends it: through the gateway, timeout 0,
	// no response but 408.
	r = pl.doDevOps(t, "PUT", "/devops/piggyback?timeout=0", `{"targetActorSelection":"/system/distributedPubSubMediator",
		"piggybackCommand":{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"org.erased"}}}`)
	if r.status != http.StatusRequestTimeout {
		t.Errorf("shutdown answered %d %s, want 408", r.status, r.body)
	}

	// 3. Purge: one answer per resource type.
	got = pubsub(t, op, names, `{"aggregate":true,"is-group-topic":true}`, `{"type":"namespaces.commands:purgeNamespace","namespace":"org.erased"}`, 3, 30*time.Second)
	want := map[string]bool{}
	for _, rt := range []string{namespaces.ResourceThing, namespaces.ResourcePolicy, namespaces.ResourceThingSearch} {
		want[`{"type":"namespaces.responses:purgeNamespace","status":200,"namespace":"org.erased","resourceType":"`+rt+`","successful":true}`] = true
	}
	for _, a := range got {
		if !want[a] {
			t.Errorf("purge answered %s", a)
		}
		delete(want, a)
	}
	if len(want) > 0 {
		t.Fatalf("purge answered %q; missing %v", got, want)
	}
	// Still blocked after the purge.
	pl.expect(t, "ditto", "GET", thing, "", nil, 409, protocol.CodeNamespaceBlocked)
	// The erased events are gone from the event streams too.
	js, err := jetstream.New(op)
	if err != nil {
		t.Fatal(err)
	}
	for svc, subject := range map[string]string{streams.ServiceThings: names.ThingEvents("org.erased"), streams.ServicePolicies: names.PolicyEvents("org.erased")} {
		st, err := js.Stream(context.Background(), names.EventsStream(svc))
		if err != nil {
			t.Fatal(err)
		}
		info, err := st.Info(context.Background(), jetstream.WithSubjectFilter(subject))
		if err != nil {
			t.Fatal(err)
		}
		if n := info.State.Subjects[subject]; n != 0 {
			t.Errorf("%d events of the erased namespace left in %s", n, names.EventsStream(svc))
		}
	}

	// 4. Unblock.
	got = pubsub(t, op, names, `{"aggregate":false}`, `{"type":"namespaces.commands:unblockNamespace","namespace":"org.erased"}`, 2, 30*time.Second)
	unblocked := `{"type":"namespaces.responses:unblockNamespace","status":200,"namespace":"org.erased","resourceType":"namespaces"}`
	if len(got) != 2 || got[0] != unblocked || got[1] != unblocked {
		t.Fatalf("unblock answered %q, want two of %s", got, unblocked)
	}
	stopLoad()
	wg.Wait()

	// Nothing of the namespace is left anywhere, once search has applied
	// everything (the write load's last event is after the purge).
	last := writers[0]
	streamstest.Eventually(t, 20*time.Second, func() error {
		if n := searchCount(t, pl, `and(eq(thingId,"`+last.id+`"),eq(attributes/counter,`+strconv.FormatInt(last.last.Load(), 10)+`))`); n != 1 {
			return fmt.Errorf("search has not caught up with %s", last.id)
		}
		return nil
	})
	for what, n := range rows(t, cfg.Infra.DataDir, erased) {
		if n != 0 {
			t.Errorf("%s: %d rows of %s left", what, n, erased)
		}
	}
	pl.expect(t, "ditto", "GET", thing, "", nil, 404, "things:thing.notfound")
	pl.expect(t, "ditto", "GET", "/api/2/policies/"+erased+":standalone", "", nil, 404, "policies:policy.notfound")

	// The other namespace lost nothing: every write succeeded and the
	// last one is what is read.
	for _, w := range writers {
		if w.fails.Load() != 0 || w.writes.Load() == 0 {
			t.Errorf("%s: %d writes, %d failed (first: %v)", w.id, w.writes.Load(), w.fails.Load(), w.err.Load())
			continue
		}
		r := pl.expect(t, "ditto", "GET", "/api/2/things/"+w.id+"/attributes/counter", "", nil, 200, "")
		if r.body != strconv.FormatInt(w.last.Load(), 10) {
			t.Errorf("%s: counter %s, want the last written %d", w.id, r.body, w.last.Load())
		}
	}
	t.Logf("writes during the erasure: %d", writers[0].writes.Load()+writers[1].writes.Load()+writers[2].writes.Load()+writers[3].writes.Load())

	// The namespace is used again: a new thing, its policy, its entry.
	created := pl.expect(t, "ditto", "PUT", thing, `{"attributes":{"again":true}}`, nil, 201, "")
	if created.header.Get("ETag") != `"rev:1"` {
		t.Errorf("recreated thing has ETag %s, want rev 1", created.header.Get("ETag"))
	}
	pl.expect(t, "ditto", "GET", "/api/2/policies/"+erased+":t1", "", nil, 200, "")
	streamstest.Eventually(t, 20*time.Second, func() error {
		if n := searchCount(t, pl, `eq(_namespace,"`+erased+`")`); n != 1 {
			return fmt.Errorf("search counts %d things of %s, want the new one", n, erased)
		}
		return nil
	})
}

// Bad input is answered with Ditto's error by every service that handles
// the command, and executes nothing; a shutdown for another reason is not
// answered and shuts nothing down.
func TestNamespaceErasureBadInput(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	op := pl.operator(t)
	pl.erasureHandlers(t, op)
	names := pl.p.names
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.x:a", `{}`, nil, 201, "")

	for _, tt := range []struct {
		name, cmd, code string
		answers         int // services that handle the command
	}{
		{"block without namespace", `{"type":"namespaces.commands:blockNamespace"}`, protocol.CodeJSONFieldMissing, 2},
		{"block of an invalid namespace", `{"type":"namespaces.commands:blockNamespace","namespace":"org x"}`, protocol.CodeNamespacedEntityIDInvalid, 2},
		{"purge without namespace", `{"type":"namespaces.commands:purgeNamespace","namespace":null}`, protocol.CodeJSONInvalid, 3},
		{"purge of an invalid namespace", `{"type":"namespaces.commands:purgeNamespace","namespace":"org.x:a"}`, protocol.CodeNamespacedEntityIDInvalid, 3},
		{"unblock of the empty namespace", `{"type":"namespaces.commands:unblockNamespace","namespace":""}`, protocol.CodeNamespacedEntityIDInvalid, 2},
		{"shutdown without details", `{"type":"common.commands:shutdown","reason":{"type":"purge-namespace"}}`, protocol.CodeJSONFieldMissing, 2},
	} {
		got := pubsub(t, op, names, `{}`, tt.cmd, tt.answers, 10*time.Second)
		if len(got) != tt.answers {
			t.Errorf("%s: %d answers %q, want %d", tt.name, len(got), got, tt.answers)
		}
		for _, a := range got {
			var e protocol.Error
			if err := json.Unmarshal([]byte(a), &e); err != nil || e.Code != tt.code || e.Status != 400 {
				t.Errorf("%s: answered %s, want %s", tt.name, a, tt.code)
			}
		}
	}
	// A shutdown for a reason Ditto's entities ignore: no answer.
	if got := pubsub(t, op, names, `{}`, `{"type":"common.commands:shutdown","reason":{"type":"unknown-reason","details":"org.x"}}`, 0, time.Second); len(got) != 0 {
		t.Errorf("a shutdown for another reason answered %q", got)
	}
	// Nothing was blocked or purged.
	pl.expect(t, "ditto", "GET", "/api/2/things/org.x:a", "", nil, 200, "")
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.x:b", `{}`, nil, 201, "")
}

// searchCount counts the things matching filter as ditto.
func searchCount(t *testing.T, pl *platform, filter string) int {
	t.Helper()
	r := pl.do(t, "ditto", "GET", "/api/2/search/things/count?filter="+url.QueryEscape(filter), "", nil)
	if r.status != 200 {
		return -1
	}
	n, _ := strconv.Atoi(r.body)
	return n
}

// TestNamespacePurgeFigure measures purgeNamespace of a namespace of
// DITTO_ERASURE_THINGS things (10000 for the README's figure), each with
// its own policy and search index entry, on the embedded store: the time
// from sending the command until the things, policies and search services
// all answered. It reports the figure rather than asserting on it (set
// the variable to run it; it takes a while to fill).
func TestNamespacePurgeFigure(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("DITTO_ERASURE_THINGS"))
	if n <= 0 {
		t.Skip("DITTO_ERASURE_THINGS is not set")
	}
	cfg := testConfig(t)
	cfg.Things.MaxThingsInMemory = 2 * n
	cfg.Policies.MaxEntities = 2 * n
	pl := startPlatform(t, cfg)
	op := pl.operator(t)
	pl.erasureHandlers(t, op)
	const ns = "org.big"
	start := time.Now()
	ids := make(chan int)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for range 16 {
		wg.Go(func() {
			client := &http.Client{Timeout: 30 * time.Second}
			for i := range ids {
				body := `{"attributes":{"i":` + strconv.Itoa(i) + `,"name":"thing number ` + strconv.Itoa(i) + `"},"features":{"f":{"properties":{"on":true}}}}`
				req, _ := http.NewRequest("PUT", fmt.Sprintf("%s/api/2/things/%s:t%05d", pl.url, ns, i), strings.NewReader(body))
				req.SetBasicAuth("ditto", "ditto")
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil || resp.StatusCode != http.StatusCreated {
					failed.Add(1)
				}
				if resp != nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			}
		})
	}
	for i := range n {
		ids <- i
	}
	close(ids)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d creations failed", failed.Load(), n)
	}
	t.Logf("created %d things and their policies in %s", n, time.Since(start).Round(time.Millisecond))
	streamstest.Eventually(t, 5*time.Minute, func() error {
		if c := searchCount(t, pl, `eq(_namespace,"`+ns+`")`); c != n {
			return fmt.Errorf("search counts %d of %d", c, n)
		}
		return nil
	})
	before := rows(t, cfg.Infra.DataDir, ns)
	t.Logf("stored before the purge: %v", before)

	got := pubsub(t, op, pl.p.names, `{}`, `{"type":"namespaces.commands:blockNamespace","namespace":"`+ns+`"}`, 2, 30*time.Second)
	if len(got) != 2 {
		t.Fatalf("block answered %q", got)
	}
	pubsub(t, op, pl.p.names, `{}`, `{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"`+ns+`"}}`, 0, 100*time.Millisecond)
	began := time.Now()
	got = pubsub(t, op, pl.p.names, `{"timeout":"60s"}`, `{"type":"namespaces.commands:purgeNamespace","namespace":"`+ns+`"}`, 3, 2*time.Minute)
	took := time.Since(began)
	for _, a := range got {
		if !strings.Contains(a, `"successful":true`) {
			t.Errorf("purge answered %s", a)
		}
	}
	if len(got) != 3 {
		t.Fatalf("purge answered %q", got)
	}
	t.Logf("purgeNamespace of %d things and their policies: %s", n, took.Round(time.Millisecond))
	for what, c := range rows(t, cfg.Infra.DataDir, ns) {
		if c != 0 {
			t.Errorf("%s: %d rows left", what, c)
		}
	}
}

// The guide's block and unblock, sent over HTTP as it sends them.
func TestNamespaceBlockOverHTTP(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	thing := "/api/2/things/org.blocked:t"
	pl.expect(t, "ditto", "PUT", thing, `{"attributes":{"a":1}}`, nil, 201, "")
	r := pl.doDevOps(t, "PUT", "/devops/piggyback?timeout=10s", `{"targetActorSelection":"/system/distributedPubSubMediator",`+
		`"headers":{"aggregate":false},"piggybackCommand":{"type":"namespaces.commands:blockNamespace","namespace":"org.blocked"}}`)
	jsonEq(t, "block", r.body, `{"type":"namespaces.responses:blockNamespace","status":200,"namespace":"org.blocked","resourceType":"namespaces"}`)
	// Every things and policies instance refuses it once the first
	// answered: wait for both to have applied it.
	streamstest.Eventually(t, 5*time.Second, func() error {
		if r := pl.do(t, "ditto", "GET", thing, "", nil); r.status != 409 || !strings.Contains(r.body, protocol.CodeNamespaceBlocked) {
			return fmt.Errorf("GET while blocked: %d %s", r.status, r.body)
		}
		if r := pl.do(t, "ditto", "GET", "/api/2/policies/org.blocked:t", "", nil); r.status != 409 {
			return fmt.Errorf("GET policy while blocked: %d %s", r.status, r.body)
		}
		return nil
	})
	if r := pl.doDevOps(t, "PUT", "/devops/piggyback?timeout=0", `{"targetActorSelection":"/system/distributedPubSubMediator",`+
		`"piggybackCommand":{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"org.blocked"}}}`); r.status != 408 {
		t.Errorf("shutdown: %d %s, want 408", r.status, r.body)
	}
	r = pl.doDevOps(t, "PUT", "/devops/piggyback?timeout=10s", `{"targetActorSelection":"/system/distributedPubSubMediator",`+
		`"headers":{"aggregate":false},"piggybackCommand":{"type":"namespaces.commands:unblockNamespace","namespace":"org.blocked"}}`)
	jsonEq(t, "unblock", r.body, `{"type":"namespaces.responses:unblockNamespace","status":200,"namespace":"org.blocked","resourceType":"namespaces"}`)
	streamstest.Eventually(t, 5*time.Second, func() error {
		if r := pl.do(t, "ditto", "GET", thing+"/attributes/a", "", nil); r.status != 200 || r.body != "1" {
			return fmt.Errorf("GET after unblock: %d %s", r.status, r.body)
		}
		return nil
	})
}
