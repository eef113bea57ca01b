package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/gateway"
	"github.com/dittonats/dittonats/services/internal/limits"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// testConfig is the embedded default in a temporary directory, without a
// NATS port.
func testConfig(t *testing.T) Config {
	t.Helper()
	cfg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	cfg.Infra.DataDir = t.TempDir()
	cfg.Infra.NATSListen = "off"
	cfg.Infra.NATSURL = ""
	cfg.Infra.MongoURI = ""
	cfg.Infra.Shards = 7
	cfg.Infra.Instance = "test"
	cfg.Gateway.HTTPPort = 0
	cfg.Metrics.Hostname, cfg.Metrics.Port = "127.0.0.1", 0 // tests run side by side
	cfg.Things.SnapshotThreshold, cfg.Things.MaxThingsInMemory, cfg.Things.PolicyCacheSize = 5, 1000, 1000
	cfg.Things.DefaultTimeout = 10 * time.Second
	cfg.Policies.SnapshotThreshold, cfg.Policies.MaxEntities = 5, 1000
	cfg.setLimits(limits.Config{ThingsMaxSize: 4096, PoliciesMaxSize: 4096, MessagesMaxSize: 4096})
	return cfg
}

// platform is a running all-in-one process with an HTTP test server on its
// gateway.
type platform struct {
	p      *Process
	url    string
	cancel context.CancelFunc
	done   chan error
}

func startPlatform(t *testing.T, cfg Config) *platform {
	t.Helper()
	return startPlatformLog(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// startPlatformLog starts the platform logging to log.
func startPlatformLog(t *testing.T, cfg Config, log *slog.Logger) *platform {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, cfg, All, log)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.runners[Gateway].(*gateway.Gateway).Handler())
	pl := &platform{p: p, url: srv.URL, cancel: cancel, done: make(chan error, 1)}
	go func() { pl.done <- p.Wait(ctx) }()
	t.Cleanup(func() {
		srv.Close()
		pl.stop(t)
	})
	// Ready once the shards are leased: a request is answered (404 here).
	streamstest.Eventually(t, 10*time.Second, func() error {
		if r := pl.do(t, "ditto", "GET", "/api/2/things/org.eclipse.ditto:readiness-probe", "", nil); r.status != http.StatusNotFound {
			return fmt.Errorf("platform not ready: %d %s", r.status, r.body)
		}
		return nil
	})
	return pl
}

func (pl *platform) stop(t *testing.T) {
	if pl.cancel == nil {
		return
	}
	pl.cancel()
	pl.cancel = nil
	select {
	case err := <-pl.done:
		if err != nil {
			t.Errorf("platform stopped with %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Error("platform did not stop within 60s")
	}
}

type reply struct {
	status int
	header http.Header
	body   string
}

func (r reply) code(t *testing.T) string {
	t.Helper()
	var e struct {
		Error string `json:"error"`
	}
	json.Unmarshal([]byte(r.body), &e)
	return e.Error
}

// do sends a request as user (password = user name, the defaults).
func (pl *platform) do(t *testing.T, user, method, path, body string, headers map[string]string) reply {
	t.Helper()
	req, err := http.NewRequest(method, pl.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, user)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b)}
}

// expect sends a request and checks its status (and error code, if given).
func (pl *platform) expect(t *testing.T, user, method, path, body string, headers map[string]string, status int, code string) reply {
	t.Helper()
	r := pl.do(t, user, method, path, body, headers)
	if r.status != status {
		t.Fatalf("%s %s as %s: status %d, want %d; body %s", method, path, user, r.status, status, r.body)
	}
	if code != "" && r.code(t) != code {
		t.Fatalf("%s %s as %s: error %q, want %q; body %s", method, path, user, r.code(t), code, r.body)
	}
	return r
}

func jsonEq(t *testing.T, what, got, want string) {
	t.Helper()
	g, err := jsonv.Parse([]byte(got))
	if err != nil {
		t.Fatalf("%s: %q is not JSON: %v", what, got, err)
	}
	if !g.Equal(jsonv.MustParse(want)) {
		t.Errorf("%s = %s, want %s", what, got, want)
	}
}

const thingURL = "/api/2/things/org.eclipse.ditto:lamp"

// The process wires HTTP through the gateway and NATS to the things and
// policies services and back, a policy change reaches the things service,
// and the gateway's own answers come through. What each service does is
// tested in its package (services/things runs both entity services).
func TestHTTPWiring(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	mergePatch := map[string]string{"Content-Type": "application/merge-patch+json"}

	r := pl.expect(t, "ditto", "PUT", thingURL, `{"attributes":{"on":false}}`, nil, 201, "")
	jsonEq(t, "created thing", r.body, `{"thingId":"org.eclipse.ditto:lamp","policyId":"org.eclipse.ditto:lamp","attributes":{"on":false}}`)
	if r.header.Get("ETag") != `"rev:1"` {
		t.Errorf("ETag %q, want \"rev:1\"", r.header.Get("ETag"))
	}
	if loc := r.header.Get("Location"); !strings.HasSuffix(loc, thingURL) {
		t.Errorf("Location %q", loc)
	}
	pl.expect(t, "ditto", "PATCH", thingURL, `{"attributes":{"on":true}}`, mergePatch, 204, "")
	pl.expect(t, "ditto", "PATCH", thingURL, `{"attributes":{"on":true}}`, nil, 415, "")
	got := pl.expect(t, "ditto", "GET", thingURL+"?fields=attributes,_revision", "", nil, 200, "")
	jsonEq(t, "selected fields", got.body, `{"attributes":{"on":true},"_revision":2}`)
	pl.expect(t, "ditto", "GET", "/api/2/policies/org.eclipse.ditto:lamp", "", nil, 200, "")

	// The owner's policy change reaches the things service's enforcement.
	pl.expect(t, "ditto2", "GET", thingURL, "", nil, 404, "things:thing.notfound")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/org.eclipse.ditto:lamp/entries/GUEST",
		`{"subjects":{"nginx:ditto2":{"type":"guest"}},"resources":{"thing:/attributes":{"grant":["READ"],"revoke":[]}}}`, nil, 201, "")
	got = pl.expect(t, "ditto2", "GET", thingURL, "", nil, 200, "")
	jsonEq(t, "ditto2's view", got.body, `{"thingId":"org.eclipse.ditto:lamp","attributes":{"on":true}}`)

	// POST generates the id; ?ids= gathers what the caller may see.
	created := pl.expect(t, "ditto", "POST", "/api/2/things", `{"attributes":{"x":1}}`, nil, 201, "")
	var body struct {
		ThingID string `json:"thingId"`
	}
	if err := json.Unmarshal([]byte(created.body), &body); err != nil || !strings.HasPrefix(body.ThingID, "org.eclipse.ditto:") {
		t.Fatalf("POST answered %s (%v)", created.body, err)
	}
	pl.expect(t, "ditto", "GET", "/api/2/things/"+body.ThingID, "", nil, 200, "")
	got = pl.expect(t, "ditto", "GET", "/api/2/things?ids=org.eclipse.ditto:lamp,org.eclipse.ditto:nope,"+body.ThingID+"&fields=thingId", "", nil, 200, "")
	jsonEq(t, "batch", got.body, `[{"thingId":"org.eclipse.ditto:lamp"},{"thingId":"`+body.ThingID+`"}]`)

	pl.expect(t, "", "GET", thingURL, "", nil, 401, "")
	pl.expect(t, "nobody", "GET", thingURL, "", nil, 401, "")

	// Names ending in a blank are valid: routed to the shard of the whole
	// id by the gateway and the service alike, and no answer names a shard.
	for _, name := range []string{"trailing%20", "%20leading", "two%20%20"} {
		u := "/api/2/things/org.eclipse.ditto:" + name
		r := pl.expect(t, "ditto", "PUT", u, `{"attributes":{"n":1}}`, nil, 201, "")
		if strings.Contains(r.body, "shard") {
			t.Errorf("PUT %s answered %s", u, r.body)
		}
		got := pl.expect(t, "ditto", "GET", u+"/attributes/n", "", nil, 200, "")
		if got.body != "1" {
			t.Errorf("GET %s/attributes/n = %s", u, got.body)
		}
		pl.expect(t, "ditto", "DELETE", u, "", nil, 204, "")
		pl.expect(t, "ditto", "GET", u, "", nil, 404, "things:thing.notfound")
	}
}

// Data survives a restart of the whole process, and the restart serves at
// once from the journal.
func TestRestartKeepsEverything(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	pl := startPlatform(t, cfg)
	pl.expect(t, "ditto", "PUT", "/api/2/things/org.eclipse.ditto:r", `{}`, nil, 201, "")
	for i := range 12 { // past the snapshot threshold of 5
		pl.expect(t, "ditto", "PUT", fmt.Sprintf("/api/2/things/org.eclipse.ditto:r/attributes/a%d", i), `1`, nil, 201, "")
	}
	before := pl.expect(t, "ditto", "GET", "/api/2/things/org.eclipse.ditto:r", "", nil, 200, "")
	pl.stop(t)

	pl2 := startPlatform(t, cfg)
	after := pl2.expect(t, "ditto", "GET", "/api/2/things/org.eclipse.ditto:r", "", nil, 200, "")
	if after.body != before.body || after.header.Get("ETag") != before.header.Get("ETag") {
		t.Errorf("after restart %s %s, before %s %s", after.body, after.header.Get("ETag"), before.body, before.header.Get("ETag"))
	}
	pl2.expect(t, "ditto2", "GET", "/api/2/things/org.eclipse.ditto:r", "", nil, 404, "")
}

// A start that fails half-way tears down what it started and returns the
// error (it once panicked in its own cleanup instead).
func TestStartFailureReturnsError(t *testing.T) {
	cfg := testConfig(t)
	cfg.Gateway.HTTPPort = -1 // rejected once NATS and the store are up
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	p, err := Start(context.Background(), cfg, All, log)
	if err == nil {
		stopProcess(t, p)
		t.Fatal("Start accepted HTTP port -1")
	}
	if !strings.Contains(err.Error(), "HTTP_PORT") {
		t.Errorf("error %q does not name HTTP_PORT", err)
	}
	// The data directory is released: a second process can open it.
	cfg.Gateway.HTTPPort = 0
	q, err := Start(context.Background(), cfg, All, log)
	if err != nil {
		t.Fatalf("start after a failed start: %v", err)
	}
	stopProcess(t, q)
}

func stopProcess(t *testing.T, p *Process) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := p.Wait(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}
