package policies

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
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
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

const testShards = 4

// Authenticated subjects of the test callers.
const (
	owner    = `["nginx:ditto"]`
	reader   = `["nginx:reader"]`
	partial  = `["nginx:partial"]`
	stranger = `["nginx:stranger"]`
)

// basePolicy is the policy most cases start from: nginx:ditto owns it,
// nginx:reader reads all of it, nginx:partial reads the owner entry only and
// not its subjects.
const basePolicy = `{"entries":{
	"owner":{"subjects":{"nginx:ditto":{"type":"pre-authenticated"}},"resources":{
		"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}},
	"reader":{"subjects":{"nginx:reader":{"type":"t"}},"resources":{"policy:/":{"grant":["READ"],"revoke":[]}}},
	"partial":{"subjects":{"nginx:partial":{"type":"t"}},"resources":{
		"policy:/entries/owner":{"grant":["READ"],"revoke":[]},
		"policy:/entries/owner/subjects":{"grant":[],"revoke":["READ"]}}}}}`

type fixture struct {
	srv   *streamstest.Server
	names streams.Names
	nc    *nats.Conn
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	pub   jetstream.KeyValue // the publication bucket
	j     journal.Journal
	seq   atomic.Int64
	// svc is the service start started last.
	svc *Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{srv: streamstest.Start(t), names: streams.New("")}
	f.nc, f.js = f.srv.JetStream(t)
	cfg := streams.DefaultConfig()
	cfg.LeaseTTL = time.Second
	ctx := context.Background()
	if err := streams.Ensure(ctx, f.js, f.names, cfg, streams.ServicePolicies); err != nil {
		t.Fatal(err)
	}
	var err error
	if f.kv, err = f.js.KeyValue(ctx, f.names.ShardLeaseBucket(streams.ServicePolicies)); err != nil {
		t.Fatal(err)
	}
	if f.pub, err = f.js.KeyValue(ctx, f.names.PublishedBucket(streams.ServicePolicies)); err != nil {
		t.Fatal(err)
	}
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "ditto.db"), sqlitestore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	if f.j, err = store.Journal(journal.Policies); err != nil {
		t.Fatal(err)
	}
	return f
}

// testConfig is the configuration of the tests' services: a small size
// limit so that it is easy to exceed.
func testConfig() Config {
	return Config{SnapshotThreshold: 500, SubjectExpiryGranularity: time.Hour, MailboxSize: 100, MaxEntities: 1000,
		Limits: limits.Config{PoliciesMaxSize: 8 << 10}}
}

// start runs a service until the returned stop is called (or the test ends)
// and waits until it answers.
func (f *fixture) start(t *testing.T, cfg Config) (stop func()) {
	t.Helper()
	nc := f.srv.Connect(t)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := New(cfg, Deps{
		NC: nc, JS: js, Journal: f.j, Leases: f.kv, Published: f.pub, Names: f.names,
		Shards: testShards, Instance: "test", LeaseTTL: time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	var once atomic.Bool
	stop = func() {
		if once.Swap(true) {
			return
		}
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(stop)
	// Every shard must be served before the test starts; only "no
	// responders" is worth waiting out.
	s := 0 // the shard to probe next; those below it answered
	streamstest.Eventually(t, 10*time.Second, func() error {
		for s < testShards {
			id := fmt.Sprintf("probe.ns:p%d", f.seq.Add(1))
			if streams.Shard(id, testShards) != s {
				continue
			}
			_, err := f.request(id, "retrieve", "/", "", nil, owner, false)
			switch {
			case err == nil:
				s++
			case errors.Is(err, nats.ErrNoResponders):
				return fmt.Errorf("shard %d not served: %w", s, err)
			default:
				t.Fatalf("shard %d not served: %v", s, err)
			}
		}
		return nil
	})
	return stop
}

// newID returns a fresh policy id.
func (f *fixture) newID() string {
	return fmt.Sprintf("org.eclipse.ditto:p%d", f.seq.Add(1))
}

// request sends a command as the gateway would and decodes the reply.
func (f *fixture) request(id, action, path, value string, headers protocol.Headers, auth string, sudo bool) (protocol.Envelope, error) {
	ns, name := protocol.SplitID(id)
	env := protocol.Envelope{
		Topic:   protocol.Topic{Namespace: ns, EntityName: name, Group: "policies", Criterion: "commands", Action: action}.String(),
		Headers: headers, Path: path,
	}
	if fields, ok := headers["x-fields"]; ok {
		env.Fields = fields
		delete(headers, "x-fields")
	}
	if value != "" {
		env.Value = json.RawMessage(value)
	}
	data, err := env.Encode()
	if err != nil {
		return protocol.Envelope{}, err
	}
	kind := streams.KindCommands
	if sudo {
		kind = streams.KindInternal // as the things service loads policies
	}
	msg := nats.NewMsg(f.names.Commands(streams.ServicePolicies, kind, streams.Shard(id, testShards)))
	msg.Data = data
	if auth != "" {
		msg.Header.Set(streams.HeaderAuth, auth)
	}
	msg.Header.Set(streams.HeaderEntity, streams.EncodeEntityHeader(id))
	reply, err := f.nc.RequestMsg(msg, 10*time.Second)
	if err != nil {
		return protocol.Envelope{}, err
	}
	return protocol.DecodeEnvelope(reply.Data)
}

func (f *fixture) send(t *testing.T, id, action, path, value string, headers protocol.Headers, auth string) protocol.Envelope {
	t.Helper()
	env, err := f.request(id, action, path, value, headers, auth, false)
	if err != nil {
		t.Fatalf("%s %s%s: %v", action, id, path, err)
	}
	return env
}

// must sends a command that has to succeed.
func (f *fixture) must(t *testing.T, id, action, path, value string) protocol.Envelope {
	t.Helper()
	env := f.send(t, id, action, path, value, nil, owner)
	if env.Status < 200 || env.Status > 299 {
		t.Fatalf("%s %s%s: status %d %s", action, id, path, env.Status, env.Value)
	}
	return env
}

// retrieve returns the whole policy as its owner sees it.
func (f *fixture) retrieve(t *testing.T, id string) jsonv.Value {
	t.Helper()
	env := f.must(t, id, "retrieve", "/", "")
	return jsonv.MustParse(string(env.Value))
}

func jsonEqual(t *testing.T, what string, got []byte, want string) {
	t.Helper()
	g, err := jsonv.Parse(got)
	if err != nil {
		t.Fatalf("%s: %v (%s)", what, err, got)
	}
	if !g.Equal(jsonv.MustParse(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

// nested is n objects nested in each other.
func nested(n int) string {
	return strings.Repeat(`{"a":`, n-1) + "{}" + strings.Repeat("}", n-1)
}

// step is one command of a case.
type step struct {
	action, path, value string
	headers             protocol.Headers
	auth                string // owner when empty
}

func TestCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, testConfig())
	const ownerEntry = `{"subjects":{"nginx:ditto":{"type":"pre-authenticated"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}}`
	readOnlyOwner := `{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["READ"],"revoke":[]}}}`
	big := `{"entries":{"owner":{"subjects":{"nginx:ditto":{"type":"` + strings.Repeat("x", 9000) + `"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}}}}}`
	tests := []struct {
		name    string
		noBase  bool   // the policy does not exist before cmd
		pre     []step // must succeed before cmd
		cmd     step
		status  int
		code    string // error code when status >= 400 (or 304)
		value   string // expected value (JSON) when set
		etag    string // "rev:N" or "hash" when set
		after   string // entries after cmd: each field given must be equal
		labels  string // comma-separated labels of all entries after cmd, when set
		missing bool   // the policy must not exist after cmd
	}{
		// Create.
		{name: "create", noBase: true, cmd: step{action: "create", path: "/", value: basePolicy}, status: 201, etag: "rev:1"},
		{name: "create with matching policyId", noBase: true, cmd: step{action: "create", path: "/", value: `{"policyId":"ID","imports":{},"entries":{"owner":` + ownerEntry + `}}`}, status: 201,
			value: `{"policyId":"ID","imports":{},"entries":{"owner":` + ownerEntry + `}}`},
		{name: "modify creates", noBase: true, cmd: step{action: "modify", path: "/", value: basePolicy}, status: 201, etag: "rev:1"},
		{name: "create existing", cmd: step{action: "create", path: "/", value: basePolicy}, status: 409, code: protocol.CodePolicyConflict},
		{name: "create without own write", noBase: true, cmd: step{action: "create", path: "/", value: basePolicy, auth: reader}, status: 403, code: protocol.CodePolicyNotCreatable, missing: true},
		{name: "create without own write allowing lockout", noBase: true, cmd: step{action: "create", path: "/", value: basePolicy, auth: reader, headers: protocol.Headers{"allow-policy-lockout": "true"}}, status: 201},
		{name: "create without any write allowing lockout", noBase: true, cmd: step{action: "create", path: "/", value: `{"entries":{"owner":` + readOnlyOwner + `}}`, headers: protocol.Headers{"allow-policy-lockout": "true"}}, status: 403, code: protocol.CodePolicyModificationInvalid, missing: true},
		{name: "create with other policyId", noBase: true, cmd: step{action: "create", path: "/", value: `{"policyId":"org.eclipse.ditto:other"}`}, status: 400, code: protocol.CodePolicyIDNotSettable, missing: true},
		{name: "create importing a missing policy", noBase: true, cmd: step{action: "create", path: "/", value: `{"imports":{"a:b":{}},"entries":{"owner":` + ownerEntry + `}}`}, status: 404, code: protocol.CodePolicyNotFound, missing: true},
		{name: "create importing itself", noBase: true, cmd: step{action: "create", path: "/", value: `{"imports":{"ID":{}},"entries":{"owner":` + ownerEntry + `}}`}, status: 400, code: protocol.CodePolicyImportInvalid, missing: true},
		{name: "create with a reference to a missing entry", noBase: true, cmd: step{action: "create", path: "/", value: `{"entries":{"owner":` + ownerEntry + `,"x":{"references":[{"entry":"nope"}]}}}`}, status: 400, code: protocol.CodePolicyEntryInvalid, missing: true},
		{name: "create with an import reference to an undeclared import", noBase: true, cmd: step{action: "create", path: "/", value: `{"entries":{"owner":` + ownerEntry + `,"x":{"references":[{"import":"a:b","entry":"y"}]}}}`}, status: 400, code: protocol.CodePolicyEntryInvalid, missing: true},
		{name: "create with invalid label", noBase: true, cmd: step{action: "create", path: "/", value: `{"entries":{"imported":` + ownerEntry + `}}`}, status: 400, code: protocol.CodePolicyLabelInvalid},
		{name: "create too large", noBase: true, cmd: step{action: "create", path: "/", value: big}, status: 413, code: protocol.CodePolicyTooLarge, missing: true},
		{name: "create not an object", noBase: true, cmd: step{action: "create", path: "/", value: `[1]`}, status: 400, code: protocol.CodeJSONInvalid},
		{name: "create without value", noBase: true, cmd: step{action: "create", path: "/"}, status: 400, code: protocol.CodeJSONFieldMissing},
		{name: "create below root", cmd: step{action: "create", path: "/entries/x", value: ownerEntry}, status: 400, code: codeUnknownTopicPath},
		{name: "create if-match on missing", noBase: true, cmd: step{action: "modify", path: "/", value: basePolicy, headers: protocol.Headers{"if-match": "*"}}, status: 412, code: protocol.CodePolicyPreconditionFailed, missing: true},
		{name: "create if-none-match on missing", noBase: true, cmd: step{action: "modify", path: "/", value: basePolicy, headers: protocol.Headers{"if-none-match": "*"}}, status: 201},

		// Retrieve.
		{name: "retrieve policy", cmd: step{action: "retrieve", path: "/"}, status: 200, etag: "rev:1"},
		{name: "retrieve fields", cmd: step{action: "retrieve", path: "/", headers: protocol.Headers{"x-fields": "policyId,_revision,entries/reader/subjects"}}, status: 200, etag: "rev:1",
			value: `{"policyId":"ID","_revision":1,"entries":{"reader":{"subjects":{"nginx:reader":{"type":"t"}}}}}`},
		{name: "retrieve invalid fields", cmd: step{action: "retrieve", path: "/", headers: protocol.Headers{"x-fields": "entries("}}, status: 400, code: protocol.CodeJSONFieldSelectorInvalid},
		{name: "retrieve entries", cmd: step{action: "retrieve", path: "/entries"}, status: 200, etag: "hash"},
		{name: "retrieve entry", cmd: step{action: "retrieve", path: "/entries/owner"}, status: 200, etag: "hash", value: ownerEntry},
		{name: "retrieve subjects", cmd: step{action: "retrieve", path: "/entries/reader/subjects"}, status: 200, etag: "hash", value: `{"nginx:reader":{"type":"t"}}`},
		{name: "retrieve subject", cmd: step{action: "retrieve", path: "/entries/reader/subjects/nginx:reader"}, status: 200, etag: "hash", value: `{"type":"t"}`},
		{name: "retrieve resources", cmd: step{action: "retrieve", path: "/entries/reader/resources"}, status: 200, etag: "hash", value: `{"policy:/":{"grant":["READ"],"revoke":[]}}`},
		{name: "retrieve resource", cmd: step{action: "retrieve", path: "/entries/reader/resources/policy:/"}, status: 200, etag: "hash", value: `{"grant":["READ"],"revoke":[]}`},
		{name: "retrieve nested resource", cmd: step{action: "retrieve", path: "/entries/partial/resources/policy:/entries/owner"}, status: 200, value: `{"grant":["READ"],"revoke":[]}`},
		{name: "retrieve missing entry", cmd: step{action: "retrieve", path: "/entries/nope"}, status: 404, code: protocol.CodePolicyEntryNotFound},
		{name: "retrieve subject of missing entry", cmd: step{action: "retrieve", path: "/entries/nope/subjects/a:b"}, status: 404, code: protocol.CodePolicyEntryNotFound},
		{name: "retrieve missing subject", cmd: step{action: "retrieve", path: "/entries/owner/subjects/a:b"}, status: 404, code: protocol.CodePolicySubjectNotFound},
		{name: "retrieve missing resource", cmd: step{action: "retrieve", path: "/entries/owner/resources/thing:/x"}, status: 404, code: protocol.CodePolicyResourceNotFound},
		{name: "retrieve missing policy", noBase: true, cmd: step{action: "retrieve", path: "/"}, status: 404, code: protocol.CodePolicyNotFound},
		{name: "retrieve by stranger", cmd: step{action: "retrieve", path: "/", auth: stranger}, status: 404, code: protocol.CodePolicyNotFound},
		{name: "retrieve entry by stranger", cmd: step{action: "retrieve", path: "/entries/owner", auth: stranger}, status: 404, code: protocol.CodePolicyEntryNotFound},
		{name: "retrieve subjects by stranger", cmd: step{action: "retrieve", path: "/entries/owner/subjects", auth: stranger}, status: 404, code: protocol.CodePolicySubjectsNotFound},
		{name: "retrieve resource by stranger", cmd: step{action: "retrieve", path: "/entries/owner/resources/thing:/", auth: stranger}, status: 404, code: protocol.CodePolicyResourceNotFound},
		{name: "retrieve partially readable policy", cmd: step{action: "retrieve", path: "/", auth: partial}, status: 200,
			value: `{"policyId":"ID","entries":{"owner":{"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`},
		{name: "retrieve partially readable entry", cmd: step{action: "retrieve", path: "/entries/owner", auth: partial}, status: 200,
			value: `{"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}}`},
		{name: "retrieve unreadable part", cmd: step{action: "retrieve", path: "/entries/owner/subjects", auth: partial}, status: 404, code: protocol.CodePolicySubjectsNotFound},
		{name: "retrieve fields of a partial view", cmd: step{action: "retrieve", path: "/", auth: partial, headers: protocol.Headers{"x-fields": "_revision,entries/reader"}}, status: 200, value: `{}`},
		{name: "retrieve if-none-match", cmd: step{action: "retrieve", path: "/", headers: protocol.Headers{"if-none-match": `"rev:1"`}}, status: 304, code: protocol.CodePolicyPreconditionNotModified},
		{name: "retrieve if-match other", cmd: step{action: "retrieve", path: "/", headers: protocol.Headers{"if-match": `"rev:7"`}}, status: 412, code: protocol.CodePolicyPreconditionFailed},
		{name: "retrieve entry if-none-match star", cmd: step{action: "retrieve", path: "/entries/owner", headers: protocol.Headers{"if-none-match": "*"}}, status: 304, code: protocol.CodePolicyPreconditionNotModified},
		{name: "retrieve missing entry if-match", cmd: step{action: "retrieve", path: "/entries/nope", headers: protocol.Headers{"if-match": "*"}}, status: 404, code: protocol.CodePolicyEntryNotFound},
		{name: "retrieve unknown path", cmd: step{action: "retrieve", path: "/policyId"}, status: 400, code: codeUnknownPath},
		{name: "retrieve imports", cmd: step{action: "retrieve", path: "/imports"}, status: 200, value: `{}`},
		{name: "retrieve missing import", cmd: step{action: "retrieve", path: "/imports/a:b"}, status: 404, code: "policies:import.notfound"},
		{name: "retrieve entry namespaces when none", cmd: step{action: "retrieve", path: "/entries/owner/namespaces"}, status: 404, code: protocol.CodePolicyEntryNotFound},
		{name: "retrieve entry importable", cmd: step{action: "retrieve", path: "/entries/owner/importable"}, status: 200, value: `"implicit"`},
		{name: "retrieve entry references", cmd: step{action: "retrieve", path: "/entries/owner/references"}, status: 200, value: `[]`},
		{name: "retrieve invalid label", cmd: step{action: "retrieve", path: "/entries/importedX"}, status: 400, code: protocol.CodePolicyLabelInvalid},
		{name: "retrieve invalid subject id", cmd: step{action: "retrieve", path: "/entries/owner/subjects/nocolon"}, status: 400, code: protocol.CodePolicySubjectIDInvalid},
		{name: "retrieve invalid resource key", cmd: step{action: "retrieve", path: "/entries/owner/resources/nocolon"}, status: 400, code: protocol.CodeJSONInvalid},

		// Modify.
		{name: "modify policy", cmd: step{action: "modify", path: "/", value: `{"entries":{"owner":` + ownerEntry + `}}`}, status: 204, etag: "rev:2",
			after: `{"owner":` + ownerEntry + `}`, labels: "owner"},
		{name: "modify policy by reader", cmd: step{action: "modify", path: "/", value: basePolicy, auth: reader}, status: 403, code: protocol.CodePolicyNotModifiable},
		{name: "modify policy by stranger", cmd: step{action: "modify", path: "/", value: basePolicy, auth: stranger}, status: 403, code: protocol.CodePolicyNotModifiable},
		{name: "modify policy locking out", cmd: step{action: "modify", path: "/", value: `{"entries":{"owner":` + readOnlyOwner + `}}`}, status: 403, code: protocol.CodePolicyModificationInvalid},
		{name: "modify policy locking out allowing lockout", cmd: step{action: "modify", path: "/", value: `{"entries":{"owner":` + readOnlyOwner + `}}`, headers: protocol.Headers{"allow-policy-lockout": "true"}}, status: 403, code: protocol.CodePolicyModificationInvalid},
		{name: "modify policy handing it over", cmd: step{action: "modify", path: "/", value: `{"entries":{"new":{"subjects":{"nginx:other":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}}}}}`}, status: 204},
		{name: "modify policy other id", cmd: step{action: "modify", path: "/", value: `{"policyId":"a:b"}`}, status: 400, code: protocol.CodePolicyIDNotSettable},
		{name: "modify policy too large", cmd: step{action: "modify", path: "/", value: big}, status: 413, code: protocol.CodePolicyTooLarge},
		{name: "modify policy if-match", cmd: step{action: "modify", path: "/", value: basePolicy, headers: protocol.Headers{"if-match": `"rev:1"`}}, status: 204, etag: "rev:2"},
		{name: "modify policy if-match other", cmd: step{action: "modify", path: "/", value: basePolicy, headers: protocol.Headers{"if-match": `"rev:2"`}}, status: 412, code: protocol.CodePolicyPreconditionFailed},
		{name: "modify policy if-none-match star", cmd: step{action: "modify", path: "/", value: basePolicy, headers: protocol.Headers{"if-none-match": "*"}}, status: 412, code: protocol.CodePolicyPreconditionFailed},
		{name: "modify entries", cmd: step{action: "modify", path: "/entries", value: `{"owner":` + ownerEntry + `,"x":{}}`}, status: 204, etag: "hash",
			after: `{"owner":` + ownerEntry + `,"x":{"subjects":{},"resources":{}}}`, labels: "owner,x"},
		{name: "modify entries locking out", cmd: step{action: "modify", path: "/entries", value: `{"x":{}}`}, status: 403, code: protocol.CodePolicyModificationInvalid},
		{name: "modify entries by partial", cmd: step{action: "modify", path: "/entries", value: `{"owner":` + ownerEntry + `}`, auth: partial}, status: 403, code: protocol.CodePolicyNotModifiable},
		{name: "modify entries entry not an object", cmd: step{action: "modify", path: "/entries", value: `{"x":1}`}, status: 400, code: protocol.CodeJSONInvalid},
		{name: "create entry", cmd: step{action: "modify", path: "/entries/new", value: `{"subjects":{"a:b":{"type":"t"}},"resources":{}}`}, status: 201, etag: "hash",
			value: `{"subjects":{"a:b":{"type":"t"}},"resources":{}}`},
		{name: "modify entry", cmd: step{action: "modify", path: "/entries/reader", value: `{"subjects":{},"resources":{}}`}, status: 204, etag: "hash"},
		{name: "modify entry locking out", cmd: step{action: "modify", path: "/entries/owner", value: readOnlyOwner}, status: 403, code: protocol.CodePolicyEntryModificationInvalid},
		{name: "modify entry by reader", cmd: step{action: "modify", path: "/entries/reader", value: `{}`, auth: reader}, status: 403, code: protocol.CodePolicyEntryNotModifiable},
		{name: "modify entry invalid label", cmd: step{action: "modify", path: "/entries/nsimported-x", value: `{}`}, status: 400, code: protocol.CodePolicyLabelInvalid},
		{name: "modify entry bad JSON value", cmd: step{action: "modify", path: "/entries/x", value: `"text"`}, status: 400, code: protocol.CodeJSONInvalid},
		{name: "modify entry with references", cmd: step{action: "modify", path: "/entries/x", value: `{"references":[{"entry":"owner"}]}`}, status: 201},
		{name: "modify entry referencing itself", cmd: step{action: "modify", path: "/entries/x", value: `{"references":[{"entry":"x"}]}`}, status: 400, code: protocol.CodePolicyEntryInvalid},
		{name: "modify entry referencing one twice", cmd: step{action: "modify", path: "/entries/x", value: `{"references":[{"entry":"owner"},{"entry":"owner"}]}`}, status: 400, code: protocol.CodePolicyEntryInvalid},
		{name: "delete a referenced entry", pre: []step{{action: "modify", path: "/entries/x", value: `{"references":[{"entry":"reader"}]}`}},
			cmd: step{action: "delete", path: "/entries/reader"}, status: 409, code: "policies:entry.referenceconflict"},
		{name: "modify entry of missing policy", noBase: true, cmd: step{action: "modify", path: "/entries/x", value: `{}`}, status: 404, code: protocol.CodePolicyNotFound},
		{name: "modify subjects", cmd: step{action: "modify", path: "/entries/reader/subjects", value: `{"nginx:r2":{"type":"t"}}`}, status: 204, etag: "hash"},
		{name: "modify subjects locking out", cmd: step{action: "modify", path: "/entries/owner/subjects", value: `{}`}, status: 403, code: protocol.CodePolicyEntryModificationInvalid},
		{name: "modify subjects of missing entry", cmd: step{action: "modify", path: "/entries/nope/subjects", value: `{}`}, status: 404, code: protocol.CodePolicyEntryNotFound},
		{name: "modify subjects by reader", cmd: step{action: "modify", path: "/entries/reader/subjects", value: `{}`, auth: reader}, status: 403, code: protocol.CodePolicySubjectsNotModifiable},
		{name: "create subject", cmd: step{action: "modify", path: "/entries/reader/subjects/google:user@x", value: `{"type":"t","expiry":"2099-01-01T00:30:00Z"}`}, status: 201, etag: "hash",
			value: `{"type":"t","expiry":"2099-01-01T01:00:00Z"}`},
		{name: "modify subject", cmd: step{action: "modify", path: "/entries/reader/subjects/nginx:reader", value: `{"type":"u"}`}, status: 204, etag: "hash"},
		{name: "create subject with slash in id", cmd: step{action: "modify", path: "/entries/reader/subjects/https://iss.example:user", value: `{"type":"t"}`}, status: 201,
			after: `{"reader":{"subjects":{"nginx:reader":{"type":"t"},"https://iss.example:user":{"type":"t"}}}}`},
		{name: "modify subject expired", cmd: step{action: "modify", path: "/entries/reader/subjects/a:b", value: `{"type":"t","expiry":"2001-01-01T00:00:00Z"}`}, status: 400, code: protocol.CodePolicySubjectExpiryInvalid},
		{name: "modify subject without type", cmd: step{action: "modify", path: "/entries/reader/subjects/a:b", value: `{}`}, status: 400, code: protocol.CodeJSONFieldMissing},
		{name: "modify subject by reader", cmd: step{action: "modify", path: "/entries/reader/subjects/a:b", value: `{"type":"t"}`, auth: reader}, status: 403, code: protocol.CodePolicySubjectNotModifiable},
		// A subject's announcement is read as Ditto reads it: what Ditto
		// does not know (here 300 levels of it) is dropped, so no subject
		// reaches the depth limit.
		{name: "modify subject with unknown announcement fields", cmd: step{action: "modify", path: "/entries/reader/subjects/a:b", value: `{"type":"t","announcement":` + nested(300) + `}`}, status: 201,
			value: `{"type":"t","announcement":{"whenDeleted":false}}`},
		{name: "modify subject of missing entry", cmd: step{action: "modify", path: "/entries/nope/subjects/a:b", value: `{"type":"t"}`}, status: 404, code: protocol.CodePolicyEntryNotFound},
		{name: "modify resources", cmd: step{action: "modify", path: "/entries/reader/resources", value: `{"thing:x":{"grant":["READ"],"revoke":[]}}`}, status: 204, etag: "hash",
			after: `{"reader":{"resources":{"thing:/x":{"grant":["READ"],"revoke":[]}}}}`},
		{name: "modify resources locking out", cmd: step{action: "modify", path: "/entries/owner/resources", value: `{}`}, status: 403, code: protocol.CodePolicyEntryModificationInvalid},
		{name: "modify resources by reader", cmd: step{action: "modify", path: "/entries/reader/resources", value: `{}`, auth: reader}, status: 403, code: protocol.CodePolicyResourcesNotModifiable},
		{name: "create resource", cmd: step{action: "modify", path: "/entries/reader/resources/thing:/features/x", value: `{"grant":["READ"],"revoke":[]}`}, status: 201, etag: "hash",
			value: `{"grant":["READ"],"revoke":[]}`,
			after: `{"reader":{"resources":{"policy:/":{"grant":["READ"],"revoke":[]},"thing:/features/x":{"grant":["READ"],"revoke":[]}}}}`},
		{name: "modify resource", cmd: step{action: "modify", path: "/entries/reader/resources/policy:/", value: `{"grant":[],"revoke":["WRITE"]}`}, status: 204, etag: "hash"},
		{name: "modify resource locking out", cmd: step{action: "modify", path: "/entries/owner/resources/policy:/", value: `{"grant":["READ"],"revoke":[]}`}, status: 403, code: protocol.CodePolicyEntryModificationInvalid},
		{name: "modify resource revoking the owner", cmd: step{action: "modify", path: "/entries/reader/resources/policy:/", value: `{"grant":[],"revoke":["WRITE"]}`}, pre: []step{{action: "modify", path: "/entries/reader/subjects/nginx:ditto", value: `{"type":"t"}`}}, status: 403, code: protocol.CodePolicyEntryModificationInvalid},
		{name: "modify resource by reader", cmd: step{action: "modify", path: "/entries/reader/resources/thing:/", value: `{"grant":[],"revoke":[]}`, auth: reader}, status: 403, code: protocol.CodePolicyResourceNotModifiable},
		{name: "modify resource without grant", cmd: step{action: "modify", path: "/entries/reader/resources/thing:/", value: `{"revoke":[]}`}, status: 400, code: protocol.CodeJSONFieldMissing},
		{name: "modify resource without value", cmd: step{action: "modify", path: "/entries/reader/resources/thing:/"}, status: 400, code: protocol.CodeJSONFieldMissing},
		{name: "modify entry if-match its tag", pre: []step{{action: "retrieve", path: "/entries/reader"}}, cmd: step{action: "modify", path: "/entries/reader", value: `{}`, headers: protocol.Headers{"if-match": "$etag"}}, status: 204},
		{name: "modify entry if-match another tag", cmd: step{action: "modify", path: "/entries/reader", value: `{}`, headers: protocol.Headers{"if-match": `"hash:0"`}}, status: 412, code: protocol.CodePolicyPreconditionFailed},
		{name: "modify missing entry if-match", cmd: step{action: "modify", path: "/entries/new", value: `{}`, headers: protocol.Headers{"if-match": "*"}}, status: 412, code: protocol.CodePolicyPreconditionFailed},
		{name: "modify import of a missing policy", cmd: step{action: "modify", path: "/imports/a:b", value: `{}`}, status: 404, code: protocol.CodePolicyNotFound},
		{name: "modify entry importable", cmd: step{action: "modify", path: "/entries/reader/importable", value: `"explicit"`}, status: 201},
		{name: "modify entry importable wrongly", cmd: step{action: "modify", path: "/entries/reader/importable", value: `"sometimes"`}, status: 400, code: protocol.CodePolicyEntryInvalid},
		{name: "modify entry references", cmd: step{action: "modify", path: "/entries/reader/references", value: `[{"entry":"owner"}]`}, status: 201},
		{name: "modify entry references to a missing entry", cmd: step{action: "modify", path: "/entries/reader/references", value: `[{"entry":"nope"}]`}, status: 400, code: protocol.CodePolicyEntryInvalid},
		{name: "modify references of a missing entry", cmd: step{action: "modify", path: "/entries/nope/references", value: `[]`}, status: 404, code: protocol.CodePolicyEntryNotFound},
		{name: "modify entry namespaces", cmd: step{action: "modify", path: "/entries/reader/namespaces", value: `["org.acme.*"]`}, status: 201},
		{name: "delete entry references", pre: []step{{action: "modify", path: "/entries/reader/references", value: `[{"entry":"owner"}]`}},
			cmd: step{action: "delete", path: "/entries/reader/references"}, status: 204},
		{name: "delete entry importable", cmd: step{action: "delete", path: "/entries/reader/importable"}, status: 400, code: codeUnknownTopicPath},
		{name: "merge policy", cmd: step{action: "merge", path: "/", value: `{}`}, status: 400, code: codeUnknownTopicPath},

		// Delete.
		{name: "delete policy", cmd: step{action: "delete", path: "/"}, status: 204, missing: true},
		{name: "delete policy by reader", cmd: step{action: "delete", path: "/", auth: reader}, status: 403, code: protocol.CodePolicyNotModifiable},
		{name: "delete policy if-match other", cmd: step{action: "delete", path: "/", headers: protocol.Headers{"if-match": `"rev:3"`}}, status: 412, code: protocol.CodePolicyPreconditionFailed},
		{name: "delete missing policy", noBase: true, cmd: step{action: "delete", path: "/"}, status: 404, code: protocol.CodePolicyNotFound},
		{name: "delete entry", cmd: step{action: "delete", path: "/entries/reader"}, status: 204, labels: "owner,partial"},
		{name: "delete entry locking out", cmd: step{action: "delete", path: "/entries/owner"}, status: 403, code: protocol.CodePolicyEntryModificationInvalid},
		{name: "delete missing entry", cmd: step{action: "delete", path: "/entries/nope", headers: protocol.Headers{"if-match": "*"}}, status: 404, code: protocol.CodePolicyEntryNotFound},
		{name: "delete entry by reader", cmd: step{action: "delete", path: "/entries/reader", auth: reader}, status: 403, code: protocol.CodePolicyEntryNotModifiable},
		{name: "delete subject", cmd: step{action: "delete", path: "/entries/reader/subjects/nginx:reader"}, status: 204,
			after: `{"reader":{"subjects":{}}}`},
		{name: "delete subject locking out", cmd: step{action: "delete", path: "/entries/owner/subjects/nginx:ditto"}, status: 403, code: protocol.CodePolicyEntryModificationInvalid},
		{name: "delete missing subject", cmd: step{action: "delete", path: "/entries/reader/subjects/a:b"}, status: 404, code: protocol.CodePolicySubjectNotFound},
		{name: "delete subject of missing entry", cmd: step{action: "delete", path: "/entries/nope/subjects/a:b"}, status: 404, code: protocol.CodePolicyEntryNotFound},
		{name: "delete subject by reader", cmd: step{action: "delete", path: "/entries/reader/subjects/nginx:reader", auth: reader}, status: 403, code: protocol.CodePolicySubjectNotModifiable},
		{name: "delete resource", cmd: step{action: "delete", path: "/entries/owner/resources/thing:/"}, status: 204,
			after: `{"owner":{"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}}}}`},
		{name: "delete resource locking out", cmd: step{action: "delete", path: "/entries/owner/resources/policy:/"}, status: 403, code: protocol.CodePolicyEntryModificationInvalid},
		{name: "delete missing resource", cmd: step{action: "delete", path: "/entries/owner/resources/thing:/nope"}, status: 404, code: protocol.CodePolicyResourceNotFound},
		{name: "delete resource by reader", cmd: step{action: "delete", path: "/entries/owner/resources/thing:/", auth: reader}, status: 403, code: protocol.CodePolicyResourceNotModifiable},
		{name: "delete entries", cmd: step{action: "delete", path: "/entries"}, status: 400, code: codeUnknownTopicPath},
		{name: "delete subjects", cmd: step{action: "delete", path: "/entries/owner/subjects"}, status: 400, code: codeUnknownTopicPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			id := f.newID()
			if !tt.noBase {
				f.must(t, id, "create", "/", basePolicy)
			}
			etag := ""
			for _, s := range tt.pre {
				etag = f.must(t, id, s.action, s.path, s.value).Headers["etag"]
			}
			headers := protocol.Headers{"correlation-id": "c-" + tt.name}
			for k, v := range tt.cmd.headers {
				headers[k] = strings.ReplaceAll(v, "$etag", etag)
			}
			auth := tt.cmd.auth
			if auth == "" {
				auth = owner
			}
			value := strings.ReplaceAll(tt.cmd.value, `"ID"`, `"`+id+`"`)
			got := f.send(t, id, tt.cmd.action, tt.cmd.path, value, headers, auth)

			if got.Status != tt.status {
				t.Fatalf("status %d, want %d (%s)", got.Status, tt.status, got.Value)
			}
			if got.Headers["correlation-id"] != "c-"+tt.name {
				t.Errorf("correlation-id %q, want it echoed", got.Headers["correlation-id"])
			}
			if tt.code != "" {
				e, ok := got.AsError()
				if !ok || !errors.Is(e, code(tt.code)) {
					t.Fatalf("reply %s, want error %s", got.Value, tt.code)
				}
				if wantTopic := protocol.NewTopic(id, "policies", "", "errors", "").String(); got.Topic != wantTopic {
					t.Errorf("error topic %s, want %s", got.Topic, wantTopic)
				}
			} else {
				wantTopic := protocol.NewTopic(id, "policies", "", "commands", tt.cmd.action).String()
				if got.Topic != wantTopic || got.Path != normalizedPath(tt.cmd.path) {
					t.Errorf("reply topic %s path %s, want %s %s", got.Topic, got.Path, wantTopic, tt.cmd.path)
				}
				if got.Status == 204 && got.Value != nil {
					t.Errorf("204 with value %s", got.Value)
				}
			}
			if tt.value != "" {
				jsonEqual(t, "value", got.Value, strings.ReplaceAll(tt.value, `"ID"`, `"`+id+`"`))
			}
			switch {
			case tt.etag == "hash":
				if !strings.HasPrefix(got.Headers["etag"], `"hash:`) {
					t.Errorf("etag %q, want a hash tag", got.Headers["etag"])
				}
			case tt.etag != "":
				if want := `"` + tt.etag + `"`; got.Headers["etag"] != want {
					t.Errorf("etag %q, want %s", got.Headers["etag"], want)
				}
			}
			if tt.missing {
				env := f.send(t, id, "retrieve", "/", "", nil, owner)
				if env.Status != 404 {
					t.Errorf("policy exists after the command: %d %s", env.Status, env.Value)
				}
			}
			if tt.after != "" {
				entries, _ := f.retrieve(t, id).Get("entries")
				want := jsonv.MustParse(tt.after)
				for _, m := range want.Members() {
					gotEntry, _ := entries.Get(m.Key)
					for _, field := range m.Value.Members() {
						g, _ := gotEntry.Get(field.Key)
						if !g.Equal(field.Value) {
							t.Errorf("after: entry %s %s = %s, want %s", m.Key, field.Key, g, field.Value)
						}
					}
				}
			}
			if tt.labels != "" {
				entries, _ := f.retrieve(t, id).Get("entries")
				var labels []string
				for _, m := range entries.Members() {
					labels = append(labels, m.Key)
				}
				if got := strings.Join(labels, ","); got != tt.labels {
					t.Errorf("after: labels %s, want %s", got, tt.labels)
				}
			}
		})
	}
}

// normalizedPath is the path as DecodeEnvelope hands it to the service.
func normalizedPath(p string) string {
	if len(p) > 1 {
		return strings.TrimSuffix(p, "/")
	}
	return p
}

func TestSudoRetrieve(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, testConfig())
	id := f.newID()
	// Nobody may read this policy.
	policy := `{"entries":{"admin":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":["READ"]}}}}}`
	f.must(t, id, "create", "/", policy)
	if env := f.send(t, id, "retrieve", "/", "", nil, owner); env.Status != 404 {
		t.Fatalf("unreadable policy answered %d %s, want 404", env.Status, env.Value)
	}
	tests := []struct {
		name, path string
		status     int
		value      string
	}{
		{"whole policy", "/", 200, `{"policyId":"ID","imports":{},"entries":{"admin":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":["READ"]}}}}}`},
		{"entry", "/entries/admin/subjects", 200, `{"nginx:ditto":{"type":"t"}}`},
		{"missing entry", "/entries/nope", 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			env, err := f.request(id, "retrieve", tt.path, "", nil, "", true)
			if err != nil {
				t.Fatal(err)
			}
			if env.Status != tt.status {
				t.Fatalf("status %d, want %d (%s)", env.Status, tt.status, env.Value)
			}
			if tt.value != "" {
				jsonEqual(t, "value", env.Value, strings.ReplaceAll(tt.value, `"ID"`, `"`+id+`"`))
			}
			if tt.path == "/" && env.Headers["etag"] != `"rev:1"` {
				t.Errorf("etag %q, want \"rev:1\"", env.Headers["etag"])
			}
		})
	}
	// A sudo create is not enforced either (Ditto's persistence
	// supervisor hands ditto-sudo commands to the entity, past its
	// enforcer): its caller need not keep WRITE on the new policy.
	env, err := f.request(f.newID(), "create", "/", basePolicy, nil, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if env.Status != 201 {
		t.Errorf("sudo create answered %d %s, want 201", env.Status, env.Value)
	}
	// A deleted policy is gone for sudo too.
	f.must(t, id, "delete", "/", "")
	env, err = f.request(id, "retrieve", "/", "", nil, "", true)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := env.AsError(); !ok || !errors.Is(e, code(protocol.CodePolicyNotFound)) {
		t.Errorf("sudo retrieve of deleted policy: %d %s, want 404", env.Status, env.Value)
	}
}

// Every change is published once, in order, with Ditto's topic, path and
// the revision, on the namespace's subject.
func TestEventsPublished(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, testConfig())
	id := f.newID()
	cons, err := f.js.OrderedConsumer(context.Background(), f.names.PolicyEventsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.names.PolicyEvents("org.eclipse.ditto")},
	})
	if err != nil {
		t.Fatal(err)
	}
	type want struct {
		action, path, value string
	}
	steps := []struct {
		cmd  step
		want want
	}{
		{step{action: "create", path: "/", value: basePolicy}, want{"created", "/", ""}},
		{step{action: "modify", path: "/entries/new", value: `{}`}, want{"created", "/entries/new", `{"subjects":{},"resources":{}}`}},
		{step{action: "modify", path: "/entries/new", value: `{"subjects":{"a:b":{"type":"t"}}}`}, want{"modified", "/entries/new", `{"subjects":{"a:b":{"type":"t"}},"resources":{}}`}},
		{step{action: "modify", path: "/entries/new/subjects/c:d", value: `{"type":"u"}`}, want{"created", "/entries/new/subjects/c:d", `{"type":"u"}`}},
		{step{action: "modify", path: "/entries/new/subjects", value: `{"c:d":{"type":"v"}}`}, want{"modified", "/entries/new/subjects", `{"c:d":{"type":"v"}}`}},
		{step{action: "delete", path: "/entries/new/subjects/c:d"}, want{"deleted", "/entries/new/subjects/c:d", ""}},
		// Resource keys contain '/': their changes are published as
		// changes of the entry's resources (see changeAt).
		{step{action: "modify", path: "/entries/new/resources/thing:/a", value: `{"grant":["READ"],"revoke":[]}`}, want{"created", "/entries/new/resources/thing:/a", `{"grant":["READ"],"revoke":[]}`}},
		{step{action: "delete", path: "/entries/new/resources/thing:/a"}, want{"deleted", "/entries/new/resources/thing:/a", ``}},
		{step{action: "modify", path: "/entries", value: `{"owner":{"subjects":{"nginx:ditto":{"type":"t"}},"resources":{"policy:/":{"grant":["WRITE"],"revoke":[]}}}}`}, want{"modified", "/entries", ""}},
		{step{action: "delete", path: "/entries/owner"}, want{}}, // refused: no event
		{step{action: "modify", path: "/", value: basePolicy}, want{"modified", "/", ""}},
		{step{action: "delete", path: "/"}, want{"deleted", "/", ""}},
		{step{action: "modify", path: "/", value: basePolicy}, want{"created", "/", ""}},
	}
	rev := int64(0)
	for i, s := range steps {
		env := f.send(t, id, s.cmd.action, s.cmd.path, s.cmd.value, protocol.Headers{"correlation-id": fmt.Sprint("e-", i)}, owner)
		if s.want.action == "" {
			if env.Status < 400 {
				t.Fatalf("step %d: status %d, want an error", i, env.Status)
			}
			continue
		}
		if env.Status >= 300 {
			t.Fatalf("step %d: status %d %s", i, env.Status, env.Value)
		}
		rev++
		if got := env.Headers["entity-revision"]; got != fmt.Sprint(rev) {
			t.Errorf("step %d: entity-revision %q, want %d", i, got, rev)
		}
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("step %d: no event: %v", i, err)
		}
		ev, err := protocol.DecodeEnvelope(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		wantTopic := protocol.NewTopic(id, "policies", "", "events", s.want.action).String()
		if ev.Topic != wantTopic || ev.Path != s.want.path || ev.Revision != rev {
			t.Errorf("step %d: event %s %s rev %d, want %s %s rev %d", i, ev.Topic, ev.Path, ev.Revision, wantTopic, s.want.path, rev)
		}
		if s.want.value != "" {
			jsonEqual(t, fmt.Sprintf("step %d event value", i), ev.Value, s.want.value)
		}
		if ev.Headers["correlation-id"] != fmt.Sprint("e-", i) {
			t.Errorf("step %d: event correlation-id %q", i, ev.Headers["correlation-id"])
		}
		if got, want := m.Headers().Get(jetstream.MsgIDHeader), streams.EventMsgID(id, rev); got != want {
			t.Errorf("step %d: msg id %q, want %q", i, got, want)
		}
	}
	if m, err := cons.Next(jetstream.FetchMaxWait(200 * time.Millisecond)); err == nil {
		t.Errorf("unexpected extra event %s", m.Data())
	}
}

// A new instance on the same journal recovers every policy as it was, from
// events alone and from a snapshot plus events.
func TestStateSurvivesRestart(t *testing.T) {
	t.Parallel()
	for _, threshold := range []int64{500, 3} {
		t.Run(fmt.Sprint("snapshot every ", threshold), func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			cfg := testConfig()
			cfg.SnapshotThreshold = threshold
			stop := f.start(t, cfg)
			id, gone := f.newID(), f.newID()
			f.must(t, id, "create", "/", basePolicy)
			f.must(t, id, "modify", "/entries/reader/resources/thing:/features/a/properties", `{"grant":["READ"],"revoke":["WRITE"]}`)
			f.must(t, id, "modify", "/entries/reader/resources/thing:", `{"grant":["READ"],"revoke":[]}`)
			f.must(t, id, "modify", "/entries/reader/subjects/https://issuer.example:u", `{"type":"t"}`)
			f.must(t, id, "modify", "/entries/reader/subjects/google:x", `{"type":"t"}`)
			f.must(t, id, "delete", "/entries/reader/resources/policy:/", "")
			f.must(t, id, "delete", "/entries/partial", "")
			f.must(t, gone, "create", "/", basePolicy)
			f.must(t, gone, "delete", "/", "")
			before := f.must(t, id, "retrieve", "/", "")

			stop()
			f.start(t, cfg)
			after := f.must(t, id, "retrieve", "/", "")
			jsonEqual(t, "recovered policy", after.Value, string(before.Value))
			if after.Headers["etag"] != before.Headers["etag"] || before.Headers["etag"] != `"rev:7"` {
				t.Errorf("etag %s after restart, %s before, want \"rev:7\"", after.Headers["etag"], before.Headers["etag"])
			}
			want := `{"subjects":{"nginx:reader":{"type":"t"},"https://issuer.example:u":{"type":"t"},"google:x":{"type":"t"}},` +
				`"resources":{"thing:/features/a/properties":{"grant":["READ"],"revoke":["WRITE"]},"thing:/":{"grant":["READ"],"revoke":[]}}}`
			reader := f.must(t, id, "retrieve", "/entries/reader", "")
			jsonEqual(t, "recovered entry", reader.Value, want)
			if env := f.send(t, gone, "retrieve", "/", "", nil, owner); env.Status != 404 {
				t.Errorf("deleted policy after restart: %d %s", env.Status, env.Value)
			}
			// The recovered policy takes further changes at the next revision.
			env := f.must(t, id, "modify", "/entries/x", `{}`)
			if env.Headers["entity-revision"] != "8" {
				t.Errorf("entity-revision %q after restart, want 8", env.Headers["entity-revision"])
			}
		})
	}
}

// Commands without the gateway's auth header are refused by the host; a
// wrong group on a policy subject is refused by the service.
func TestRejectsForeignCommands(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, testConfig())
	id := f.newID()
	env, err := f.request(id, "retrieve", "/", "", nil, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := env.AsError(); !ok || e.Status != 401 {
		t.Errorf("unauthenticated: %d %s, want 401", env.Status, env.Value)
	}
	msg := nats.NewMsg(f.names.PolicyCommands(streams.Shard(id, testShards)))
	ns, name := protocol.SplitID(id)
	msg.Data = []byte(`{"topic":"` + ns + `/` + name + `/things/twin/commands/retrieve","headers":{},"path":"/"}`)
	msg.Header.Set(streams.HeaderAuth, owner)
	reply, err := f.nc.RequestMsg(msg, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	env, err = protocol.DecodeEnvelope(reply.Data)
	if err != nil {
		t.Fatal(err)
	}
	if e, ok := env.AsError(); !ok || !errors.Is(e, code(protocol.CodeUnknownTopicPath)) {
		t.Errorf("things topic on the policies subject: %s, want %s", env.Value, protocol.CodeUnknownTopicPath)
	}
}
