package search_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/limits"
	"github.com/dittonats/dittonats/services/internal/searchapi"
	"github.com/dittonats/dittonats/services/internal/sqlitestore"
	"github.com/dittonats/dittonats/services/policies"
	"github.com/dittonats/dittonats/services/search"
	"github.com/dittonats/dittonats/services/things"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// The fixture runs the real policies, things and things-search services on
// a secured embedded NATS server, each connected as its own role, and
// talks to them as the gateway does: commands through command.Client and
// search requests on the search subject, from a gateway-role connection.

const testShards = 3

var (
	ditto  = []string{"nginx:ditto"}
	ditto2 = []string{"nginx:ditto2"}
)

type fixture struct {
	srv     *streamstest.Server
	names   streams.Names
	store   journal.Store
	gw      *nats.Conn
	cmd     *command.Client
	dataDir string
	things  *running
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{names: streams.New(""), dataDir: t.TempDir()}
	f.srv = streamstest.StartSecured(t, f.names)
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "ditto.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	f.store = store
	f.gw = f.srv.ConnectAs(t, streams.RoleGateway)
	f.cmd = command.New(f.gw, f.names, testShards)
	f.startEntity(t, streams.ServicePolicies, journal.Policies, func(d entity.Deps) (runner, error) {
		return policies.New(policies.Config{SnapshotThreshold: 5, MailboxSize: 100, MaxEntities: 1000, Limits: testLimits}, d)
	})
	f.things = f.startThings(t)
	return f
}

func (f *fixture) startThings(t *testing.T) *running {
	return f.startEntity(t, streams.ServiceThings, journal.Things, func(d entity.Deps) (runner, error) {
		return things.New(things.Config{SnapshotThreshold: 5, MailboxSize: 100, MaxThingsInMemory: 1000, PolicyCacheSize: 1000,
			PolicyCacheTTL: time.Hour, DefaultTimeout: 10 * time.Second, Limits: testLimits}, d)
	})
}

var testLimits = limits.Config{ThingsMaxSize: 100 << 10, PoliciesMaxSize: 100 << 10, MessagesMaxSize: 4096, SearchDefaultPageSize: 25, SearchMaxPageSize: 200}

type runner interface {
	Run(ctx context.Context) error
}

// running is a started service; stop stops it and waits for it.
type running struct {
	svc  runner
	stop func()
}

func (f *fixture) run(t *testing.T, name string, r runner) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	var once sync.Once
	s := &running{svc: r, stop: func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
	}}
	t.Cleanup(s.stop)
	return s
}

func (f *fixture) startEntity(t *testing.T, svc, jname string, build func(entity.Deps) (runner, error)) *running {
	t.Helper()
	nc := f.srv.ConnectAs(t, streams.Role(svc))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	scfg := streams.DefaultConfig()
	if err := streams.Ensure(ctx, js, f.names, scfg, svc); err != nil {
		t.Fatal(err)
	}
	leases, err := js.KeyValue(ctx, f.names.ShardLeaseBucket(svc))
	if err != nil {
		t.Fatal(err)
	}
	published, err := js.KeyValue(ctx, f.names.PublishedBucket(svc))
	if err != nil {
		t.Fatal(err)
	}
	j, err := f.store.Journal(jname)
	if err != nil {
		t.Fatal(err)
	}
	r, err := build(entity.Deps{NC: nc, JS: js, Journal: j, Leases: leases, Published: published, Names: f.names,
		Shards: testShards, Instance: "test", LeaseTTL: scfg.LeaseTTL, EventsMaxAge: scfg.EventsMaxAge})
	if err != nil {
		t.Fatal(err)
	}
	return f.run(t, svc, r)
}

// searchConfig is the search service's configuration in these tests:
// background sync on demand only (a long quiet period), no tolerance.
func (f *fixture) searchConfig(index string) search.Config {
	return search.Config{IndexPath: filepath.Join(f.dataDir, index), QueryTimeout: 10 * time.Second, Queries: 4, Fetches: 8, EventProcessing: true,
		SyncEnabled: true, SyncQuietPeriod: time.Hour, SyncThroughput: 1000, SyncPeriod: 10 * time.Millisecond,
		PolicyCacheTTL: time.Hour, PolicyCacheEntries: 1000, Limits: testLimits}
}

// startSearch starts a search service and waits for its index; with
// deps set, they change its Deps (metrics registries).
func (f *fixture) startSearch(t *testing.T, cfg search.Config, deps ...func(*search.Deps)) (*search.Service, *running) {
	t.Helper()
	s, r := f.launchSearch(t, cfg, deps...)
	streamstest.Eventually(t, 30*time.Second, func() error {
		if !s.Ready() {
			return fmt.Errorf("index not filled yet")
		}
		return nil
	})
	return s, r
}

// launchSearch starts a search service without waiting for its index.
func (f *fixture) launchSearch(t *testing.T, cfg search.Config, deps ...func(*search.Deps)) (*search.Service, *running) {
	t.Helper()
	nc := f.srv.ConnectAs(t, streams.RoleSearch)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	d := search.Deps{NC: nc, JS: js, Names: f.names, Shards: testShards, Instance: "test", EventsMaxAge: time.Hour, Log: testLog()}
	for _, set := range deps {
		set(&d)
	}
	s, err := search.New(cfg, d)
	if err != nil {
		t.Fatal(err)
	}
	return s, f.run(t, "things-search", s)
}

// send sends a thing or policy command as the caller and returns the reply.
func (f *fixture) send(t *testing.T, auth []string, group, action, id, path, value string, headers protocol.Headers) protocol.Envelope {
	t.Helper()
	h := protocol.Headers{protocol.HeaderTimeout: "10s"}
	for k, v := range headers {
		h[k] = v
	}
	if action == protocol.ActionMerge {
		h[protocol.HeaderContentType] = protocol.MediaTypeMergePatchJSON
	}
	env := protocol.Envelope{Topic: protocol.NewTopic(id, group, protocol.ChannelTwin, protocol.CriterionCommands, action).String(), Headers: h, Path: path}
	if value != "" {
		env.Value = json.RawMessage(value)
	}
	reply, err := f.cmd.Request(context.Background(), command.Request{Envelope: env, EntityID: id, Group: group, Auth: command.EncodeAuth(auth), Timeout: 15 * time.Second})
	if err != nil {
		t.Fatalf("%s %s%s: %v", action, id, path, err)
	}
	if perr, ok := reply.AsError(); ok {
		t.Fatalf("%s %s%s: %v", action, id, path, perr)
	}
	return reply
}

// put creates or replaces a whole thing as ditto and returns its revision.
func (f *fixture) put(t *testing.T, id, thing string) int64 {
	t.Helper()
	r := f.send(t, ditto, protocol.GroupThings, protocol.ActionModify, id, "/", thing, nil)
	return revisionOf(t, r)
}

func revisionOf(t *testing.T, r protocol.Envelope) int64 {
	t.Helper()
	n, err := strconv.ParseInt(r.Headers["entity-revision"], 10, 64)
	if err != nil {
		t.Fatalf("reply %s carries no entity-revision: %v", r.Topic, r.Headers)
	}
	return n
}

// ask sends a search request as the caller and returns status and body.
func (f *fixture) ask(t *testing.T, auth []string, req searchapi.Request) (int, []byte) {
	t.Helper()
	b, _ := json.Marshal(req)
	msg := nats.NewMsg(f.names.SearchQueries())
	msg.Data = b
	if auth != nil {
		msg.Header.Set(streams.HeaderAuth, command.EncodeAuth(auth))
	}
	m, err := command.RequestWithin(f.gw, msg, 15*time.Second)
	if err != nil {
		t.Fatalf("search %+v: %v", req, err)
	}
	status, err := strconv.Atoi(m.Header.Get(searchapi.HeaderStatus))
	if err != nil {
		t.Fatalf("search reply without status: %q", m.Data)
	}
	return status, m.Data
}

// ids queries and returns the thing ids of one page, failing on an error.
func (f *fixture) ids(t *testing.T, auth []string, filter, options string) []string {
	t.Helper()
	res := f.query(t, auth, searchapi.Request{Type: searchapi.TypeQuery, Filter: filter, Options: options})
	return idsOf(t, res)
}

func (f *fixture) query(t *testing.T, auth []string, req searchapi.Request) searchapi.Result {
	t.Helper()
	status, body := f.ask(t, auth, req)
	if status != 200 {
		t.Fatalf("search %+v: %d %s", req, status, body)
	}
	var res searchapi.Result
	if err := json.Unmarshal(body, &res); err != nil {
		t.Fatalf("search result %s: %v", body, err)
	}
	return res
}

func idsOf(t *testing.T, res searchapi.Result) []string {
	t.Helper()
	out := []string{}
	for _, it := range res.Items {
		v := jsonv.MustParse(string(it))
		id, _ := v.Get("thingId")
		s, _ := id.Str()
		out = append(out, s)
	}
	return out
}

func (f *fixture) count(t *testing.T, auth []string, filter string) int64 {
	t.Helper()
	status, body := f.ask(t, auth, searchapi.Request{Type: searchapi.TypeCount, Filter: filter})
	if status != 200 {
		t.Fatalf("count %q: %d %s", filter, status, body)
	}
	n, err := strconv.ParseInt(string(body), 10, 64)
	if err != nil {
		t.Fatalf("count body %q", body)
	}
	return n
}

// eventuallyIDs waits until a query returns want.
func (f *fixture) eventuallyIDs(t *testing.T, auth []string, filter string, want ...string) {
	t.Helper()
	if want == nil {
		want = []string{}
	}
	streamstest.Eventually(t, 20*time.Second, func() error {
		got := f.ids(t, auth, filter, "")
		if !slices.Equal(got, want) {
			return fmt.Errorf("%q as %v: got %v, want %v", filter, auth, got, want)
		}
		return nil
	})
}
