package things_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/limits"
	"github.com/dittonats/dittonats/services/internal/sqlitestore"
	"github.com/dittonats/dittonats/services/policies"
	"github.com/dittonats/dittonats/services/things"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// The fixture runs the real things service beside the real policies
// service: a secured embedded NATS server on which each service connects
// as its own role, one SQLite store with both journals, and commands sent
// as the gateway sends them (Ditto Protocol envelopes on the command
// subject of the entity's shard, with Ditto-Auth and Ditto-Entity), from a
// connection of the gateway's role.

const testShards = 3

// The authenticated subjects of the gateway's default users.
var (
	ditto  = []string{"nginx:ditto"}
	ditto2 = []string{"nginx:ditto2"}
)

// Command actions.
const (
	create   = protocol.ActionCreate
	retrieve = protocol.ActionRetrieve
	modify   = protocol.ActionModify
	merge    = protocol.ActionMerge
	del      = protocol.ActionDelete
)

type fixture struct {
	srv   *streamstest.Server
	names streams.Names
	// thingsJ and policiesJ are the services' journals in one store.
	thingsJ, policiesJ journal.Journal
	gw                 *nats.Conn
	seq                atomic.Int64
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{names: streams.New("")}
	f.srv = streamstest.StartSecured(t, f.names)
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "ditto.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Registered before any service starts, so it runs after they stop.
	t.Cleanup(func() { store.Close() })
	if f.thingsJ, err = store.Journal(journal.Things); err != nil {
		t.Fatal(err)
	}
	if f.policiesJ, err = store.Journal(journal.Policies); err != nil {
		t.Fatal(err)
	}
	f.gw = f.srv.ConnectAs(t, streams.RoleGateway)
	return f
}

// thingsConfig is the things service's configuration in these tests: small
// limits, so they are easy to reach.
func thingsConfig() things.Config {
	return things.Config{SnapshotThreshold: 5, MailboxSize: 100, MaxThingsInMemory: 1000, PolicyCacheSize: 1000,
		PolicyCacheTTL: time.Hour, DefaultTimeout: 10 * time.Second, Limits: testLimits}
}

func policiesConfig() policies.Config {
	return policies.Config{SnapshotThreshold: 5, MailboxSize: 100, MaxEntities: 1000, Limits: testLimits}
}

var testLimits = limits.Config{ThingsMaxSize: 4096, PoliciesMaxSize: 4096, MessagesMaxSize: 4096}

// service is a running service.
type service struct {
	// nc is the service's own connection.
	nc   *nats.Conn
	run  runner
	stop func()
}

type runner interface {
	Run(ctx context.Context) error
}

// startBoth starts the policies and the things service with the test
// configurations.
func (f *fixture) startBoth(t *testing.T) {
	t.Helper()
	f.startPolicies(t, policiesConfig())
	f.startThings(t, thingsConfig())
}

// startThings runs a things service with cfg on a connection made with
// opts as well as the role's credentials.
func (f *fixture) startThings(t *testing.T, cfg things.Config, opts ...nats.Option) *service {
	t.Helper()
	return f.start(t, streams.ServiceThings, f.thingsJ, func(d things.Deps) (runner, error) { return things.New(cfg, d) }, opts...)
}

func (f *fixture) startPolicies(t *testing.T, cfg policies.Config) *service {
	t.Helper()
	return f.start(t, streams.ServicePolicies, f.policiesJ, func(d policies.Deps) (runner, error) { return policies.New(cfg, d) })
}

// start connects as the service's role, ensures the service's streams and
// buckets as the process does, runs the service build returns (things.Deps
// and policies.Deps are both entity.Deps) until stop is called or the test
// ends, and returns once every shard is served.
func (f *fixture) start(t *testing.T, svc string, j journal.Journal, build func(things.Deps) (runner, error), opts ...nats.Option) *service {
	t.Helper()
	nc := f.srv.ConnectAs(t, streams.Role(svc), opts...)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	scfg := streams.DefaultConfig()
	if err := streams.Ensure(ctx, js, f.names, scfg, svc); err != nil {
		t.Fatalf("ensure streams of %s: %v", svc, err)
	}
	leases, err := js.KeyValue(ctx, f.names.ShardLeaseBucket(svc))
	if err != nil {
		t.Fatal(err)
	}
	published, err := js.KeyValue(ctx, f.names.PublishedBucket(svc))
	if err != nil {
		t.Fatal(err)
	}
	r, err := build(things.Deps{NC: nc, JS: js, Journal: j, Leases: leases, Published: published, Names: f.names,
		Shards: testShards, Instance: "test", LeaseTTL: scfg.LeaseTTL, EventsMaxAge: scfg.EventsMaxAge})
	if err != nil {
		t.Fatalf("new %s service: %v", svc, err)
	}
	runCtx, stopRun := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	var once sync.Once
	s := &service{nc: nc, run: r, stop: func() {
		once.Do(func() {
			stopRun()
			if err := <-done; err != nil {
				t.Errorf("%s service: %v", svc, err)
			}
		})
	}}
	t.Cleanup(s.stop)
	f.awaitShards(t, svc)
	return s
}

// awaitShards waits until every shard of svc answers a command (here: that
// a probe entity does not exist).
func (f *fixture) awaitShards(t *testing.T, svc string) {
	t.Helper()
	group := protocol.GroupThings
	if svc == streams.ServicePolicies {
		group = protocol.GroupPolicies
	}
	for s := range testShards {
		id := ""
		for n := 0; id == ""; n++ {
			if c := fmt.Sprintf("probe:%s-%d", svc, n); streams.Shard(c, testShards) == s {
				id = c
			}
		}
		streamstest.Eventually(t, 20*time.Second, func() error {
			_, err := f.request(command{group: group, id: id, action: retrieve, path: "/", auth: ditto, timeout: time.Second})
			return err
		})
	}
}

// command is a command as the gateway sends it.
type command struct {
	group   string // protocol.GroupThings when empty
	id      string
	action  string
	path    string
	value   string // JSON; none when empty
	fields  string
	headers protocol.Headers
	auth    []string // the Ditto-Auth header; none when nil
	timeout time.Duration
}

// request sends c and decodes the reply; an error means no reply.
func (f *fixture) request(c command) (protocol.Envelope, error) {
	if c.group == "" {
		c.group = protocol.GroupThings
	}
	h := protocol.Headers{protocol.HeaderCorrelationID: fmt.Sprintf("test-%d", f.seq.Add(1)), protocol.HeaderTimeout: "10s"}
	if c.action == merge {
		h[protocol.HeaderContentType] = protocol.MediaTypeMergePatchJSON
	}
	for k, v := range c.headers {
		h[k] = v
	}
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(c.id, c.group, protocol.ChannelTwin, protocol.CriterionCommands, c.action).String(),
		Headers: h, Path: c.path, Fields: c.fields,
	}
	if c.value != "" {
		env.Value = json.RawMessage(c.value)
	}
	data, err := env.Encode()
	if err != nil {
		return protocol.Envelope{}, fmt.Errorf("encode command: %w", err)
	}
	return f.requestData(c.group, c.id, data, c.auth, c.timeout)
}

// requestData sends data as a command to the entity id of group.
func (f *fixture) requestData(group, id string, data []byte, auth []string, timeout time.Duration) (protocol.Envelope, error) {
	svc := streams.ServiceThings
	if group == protocol.GroupPolicies {
		svc = streams.ServicePolicies
	}
	msg := nats.NewMsg(f.names.Commands(svc, streams.KindCommands, streams.Shard(id, testShards)))
	msg.Data = data
	if auth != nil {
		a, err := json.Marshal(auth)
		if err != nil {
			return protocol.Envelope{}, err
		}
		msg.Header.Set(streams.HeaderAuth, string(a))
	}
	msg.Header.Set(streams.HeaderEntity, streams.EncodeEntityHeader(id))
	if timeout == 0 {
		timeout = 15 * time.Second
	}
	m, err := f.gw.RequestMsg(msg, timeout)
	if err != nil {
		return protocol.Envelope{}, err
	}
	if m.Header.Get("Status") != "" {
		// NATS's own answer (503: nobody serves the subject right now).
		return protocol.Envelope{}, fmt.Errorf("%s: NATS status %s", msg.Subject, m.Header.Get("Status"))
	}
	// As the gateway reads replies: the services write them from parsed
	// values (and a thing may be nested deeper than the checked decoder
	// reads).
	return protocol.DecodeEnvelopeTrusted(m.Data)
}

// reply is a decoded reply with what HTTP would make of it.
type reply struct {
	env    protocol.Envelope
	status int
	code   string // the Ditto error code of an error reply
	err    *protocol.Error
}

func newReply(env protocol.Envelope) reply {
	r := reply{env: env, status: env.Status}
	if perr, ok := env.AsError(); ok {
		r.status, r.code, r.err = perr.Status, perr.Code, perr
	}
	if r.status == 0 {
		r.status = 200
		if env.Value == nil {
			r.status = 204
		}
	}
	return r
}

func (r reply) etag() string { return r.env.Headers[protocol.HeaderETag] }

func (r reply) value(t *testing.T) jsonv.Value {
	t.Helper()
	v, err := jsonv.Parse(r.env.Value)
	if err != nil {
		t.Fatalf("reply value %q: %v", r.env.Value, err)
	}
	return v
}

func (r reply) String() string {
	return fmt.Sprintf("%d %s %s", r.status, r.env.Topic, r.env.Value)
}

// send sends a command that must be answered.
func (f *fixture) send(t *testing.T, c command) reply {
	t.Helper()
	env, err := f.request(c)
	if err != nil {
		t.Fatalf("%s %s %s%s: %v", c.action, c.group, c.id, c.path, err)
	}
	return newReply(env)
}

// expect sends a command and checks the reply's status and, when given,
// its error code.
func (f *fixture) expect(t *testing.T, c command, status int, code string) reply {
	t.Helper()
	r := f.send(t, c)
	r.want(t, c, status, code)
	return r
}

// want fails t unless r, the reply to c, has status and (when not empty)
// the error code.
func (r reply) want(t *testing.T, c command, status int, code string) {
	t.Helper()
	if r.status != status || code != "" && r.code != code {
		t.Fatalf("%s %s%s as %v: %d %q, want %d %q; reply %s", c.action, c.id, c.path, c.auth, r.status, r.code, status, code, r.env.Value)
	}
}

// thing and policy address a path of an entity; a path ends in nothing, or
// in "/" for the entity itself.
func thing(auth []string, action, idAndPath string) command {
	return addressed(protocol.GroupThings, auth, action, idAndPath)
}

func policy(auth []string, action, idAndPath string) command {
	return addressed(protocol.GroupPolicies, auth, action, idAndPath)
}

// addressed splits "ns:name/path" at the first slash after the id.
func addressed(group string, auth []string, action, idAndPath string) command {
	id, path, _ := strings.Cut(idAndPath, "/")
	return command{group: group, id: id, action: action, path: "/" + path, auth: auth}
}

// with returns c with value v.
func (c command) with(v string) command { c.value = v; return c }

// header returns c with one more header.
func (c command) header(k, v string) command {
	h := protocol.Headers{}
	for hk, hv := range c.headers {
		h[hk] = hv
	}
	h[k] = v
	c.headers = h
	return c
}

// selecting returns c with a field selector.
func (c command) selecting(fields string) command { c.fields = fields; return c }

func jsonEq(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	g, err := jsonv.Parse(got)
	if err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if !g.Equal(jsonv.MustParse(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

func mustAt(t *testing.T, v jsonv.Value, p string) jsonv.Value {
	t.Helper()
	x, ok := v.At(jsonv.MustParsePointer(p))
	if !ok {
		t.Fatalf("%s not in %s", p, v)
	}
	return x
}
