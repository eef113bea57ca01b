package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/e2e/internal/harness"
	"github.com/dittonats/dittonats/streams"
)

// allInOne starts bin/ditto on the embedded default in dataDir.
func allInOne(t *testing.T, dataDir string) (p *harness.Proc, base, natsURL string) {
	t.Helper()
	httpPort, natsPort := harness.FreePort(t), harness.FreePort(t)
	p = harness.Start(t, "ditto", harness.Bin(t, "ditto"), nil, map[string]string{
		"DITTO_DATA_DIR":    dataDir,
		"HTTP_PORT":         strconv.Itoa(httpPort),
		"BIND_HOSTNAME":     "127.0.0.1",
		"DITTO_NATS_LISTEN": "127.0.0.1:" + strconv.Itoa(natsPort),
	})
	base = "http://127.0.0.1:" + strconv.Itoa(httpPort)
	harness.WaitHealthy(t, base, 30*time.Second)
	return p, base, "nats://127.0.0.1:" + strconv.Itoa(natsPort)
}

// TestAllInOne follows Ditto's hello world against bin/ditto, stops it with
// SIGTERM under write load, restarts it on the same data directory and
// checks that nothing acknowledged is lost; then talks to it over its
// embedded NATS port as the nats CLI would.
func TestAllInOne(t *testing.T) {
	dataDir := t.TempDir()
	p, base, natsURL := allInOne(t, dataDir)
	ditto := harness.NewAPI(base, "ditto", "ditto", 30*time.Second)
	ditto2 := harness.NewAPI(base, "ditto2", "ditto2", 30*time.Second)

	const id = "org.eclipse.ditto:fancy-car-11"
	const thing = `{"attributes":{"manufacturer":"Well known sensors producer","serial number":"100","location":"Ground floor"},` +
		`"features":{"measurements":{"properties":{"temperature":0,"humidity":0}}}}`
	r := must(t)(ditto.Do(http.MethodPut, "/api/2/things/"+id, thing))
	if r.Status != http.StatusCreated {
		t.Fatalf("PUT thing: status %d: %s", r.Status, r.Body)
	}
	if loc := r.Header.Get("Location"); !strings.HasSuffix(loc, "/api/2/things/"+id) {
		t.Errorf("Location %q", loc)
	}
	if etag := r.Header.Get("ETag"); etag != `"rev:1"` {
		t.Errorf("ETag %q, want \"rev:1\"", etag)
	}
	var created map[string]any
	if err := r.JSON(&created); err != nil {
		t.Fatal(err)
	}
	if created["thingId"] != id || created["policyId"] != id {
		t.Errorf("created thing names thingId %v and policyId %v, want %s for both", created["thingId"], created["policyId"], id)
	}

	r = must(t)(ditto.Do(http.MethodPut, "/api/2/things/"+id+"/features/measurements/properties/temperature", "21.5"))
	if r.Status != http.StatusNoContent {
		t.Errorf("PUT temperature: status %d: %s", r.Status, r.Body)
	}
	r = must(t)(ditto.Do(http.MethodGet, "/api/2/things/"+id+"/features/measurements/properties/temperature", ""))
	if r.Status != http.StatusOK || string(r.Body) != "21.5" || r.Header.Get("ETag") == "" {
		t.Errorf("GET temperature: status %d, ETag %q, body %s; want 200, an ETag and 21.5", r.Status, r.Header.Get("ETag"), r.Body)
	}
	r = must(t)(ditto.Do(http.MethodGet, "/api/2/things/"+id+"?fields=attributes/location,_revision", ""))
	if want := `{"attributes":{"location":"Ground floor"},"_revision":2}`; r.Status != http.StatusOK || !jsonEqual(r.Body, want) {
		t.Errorf("GET with fields: status %d, body %s; want 200 and %s", r.Status, r.Body, want)
	}
	// The default policy grants the creator alone.
	r = must(t)(ditto2.Do(http.MethodGet, "/api/2/things/"+id, ""))
	if e, err := r.AsDittoError(); err != nil || r.Status != http.StatusNotFound || e.Error != "things:thing.notfound" {
		t.Errorf("ditto2 GET: status %d, body %s; want 404 things:thing.notfound", r.Status, r.Body)
	}
	r = must(t)(ditto.Do(http.MethodGet, "/api/2/whoami", ""))
	var who struct {
		DefaultSubject string `json:"defaultSubject"`
	}
	if err := r.JSON(&who); err != nil || r.Status != http.StatusOK || who.DefaultSubject != "nginx:ditto" {
		t.Errorf("whoami: status %d, body %s; want 200 with defaultSubject nginx:ditto", r.Status, r.Body)
	}
	r = must(t)(harness.NewAPI(base, "ditto", "wrong", 5*time.Second).Do(http.MethodGet, "/api/2/things/"+id, ""))
	if r.Status != http.StatusUnauthorized || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Basic") {
		t.Errorf("wrong password: status %d, WWW-Authenticate %q; want 401 with a Basic challenge", r.Status, r.Header.Get("WWW-Authenticate"))
	}

	// SIGTERM while writers are busy: every write acknowledged before the
	// process exits must be there after the restart.
	ids := make([]string, 4)
	for i := range ids {
		ids[i] = fmt.Sprintf("e2e.shutdown:t%d", i)
		r := must(t)(ditto.Do(http.MethodPut, "/api/2/things/"+ids[i], `{"features":{"f":{"properties":{}}}}`))
		if r.Status != http.StatusCreated {
			t.Fatalf("create %s: status %d: %s", ids[i], r.Status, r.Body)
		}
	}
	var (
		mu       sync.Mutex
		acked    = map[string][]string{}
		statuses = map[int]int{}
		bad      []string
		transErr int
		stop     atomic.Bool
		nAcked   atomic.Int64
		wg       sync.WaitGroup
	)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := 0; !stop.Load(); seq++ {
				id := ids[(w+seq)%len(ids)]
				prop := fmt.Sprintf("w%d_%d", w, seq)
				r, err := ditto.Do(http.MethodPut, "/api/2/things/"+id+"/features/f/properties/"+prop, "true")
				mu.Lock()
				switch {
				case err != nil:
					transErr++ // connection refused or reset: no answer, so no promise
				case r.Status == http.StatusCreated:
					acked[id] = append(acked[id], prop)
					nAcked.Add(1)
				default:
					statuses[r.Status]++
					if _, derr := r.AsDittoError(); derr != nil {
						bad = append(bad, derr.Error())
					}
				}
				mu.Unlock()
				if err != nil || r.Status != http.StatusCreated {
					time.Sleep(10 * time.Millisecond) // a back-off, not a wait: do not spin on an outage
				}
			}
		}()
	}
	harness.Eventually(t, 30*time.Second, "writes before the shutdown", func() error {
		if n := nAcked.Load(); n < 500 {
			return fmt.Errorf("%d writes acknowledged", n)
		}
		return nil
	})
	termAt := time.Now()
	p.Signal(syscall.SIGTERM)
	code := p.Wait(60 * time.Second)
	shutdown := time.Since(termAt)
	stop.Store(true)
	wg.Wait()
	if code != 0 {
		t.Errorf("ditto exited with %d after SIGTERM, want 0", code)
	}
	t.Logf("SIGTERM under load: %d writes acknowledged, %d refused %v, %d without an answer; exit %d after %s",
		nAcked.Load(), sum(statuses), statuses, transErr, code, shutdown.Round(time.Millisecond))
	for _, b := range bad {
		t.Errorf("a write during shutdown got no Ditto error: %s", b)
	}

	p.Restart()
	harness.WaitHealthy(t, base, 30*time.Second)
	for _, id := range ids {
		r := must(t)(ditto.Do(http.MethodGet, "/api/2/things/"+id+"?fields=_revision,features/f/properties", ""))
		var got struct {
			Revision int64 `json:"_revision"`
			Features struct {
				F struct {
					Properties map[string]bool `json:"properties"`
				} `json:"f"`
			} `json:"features"`
		}
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s after the restart: status %d: %s", id, r.Status, r.Body)
		}
		if err := r.JSON(&got); err != nil {
			t.Fatal(err)
		}
		var lost []string
		for _, p := range acked[id] {
			if !got.Features.F.Properties[p] {
				lost = append(lost, p)
			}
		}
		if len(lost) > 0 {
			t.Errorf("%s lost %d acknowledged writes over the restart, e.g. %v", id, len(lost), lost[:min(5, len(lost))])
		}
		if want := int64(len(got.Features.F.Properties)) + 1; got.Revision != want {
			t.Errorf("%s: _revision %d after the restart, want %d (creation and one per property)", id, got.Revision, want)
		}
	}
	r = must(t)(ditto.Do(http.MethodGet, "/api/2/things/"+id+"/features/measurements/properties/temperature", ""))
	if r.Status != http.StatusOK || string(r.Body) != "21.5" {
		t.Errorf("hello-world thing after the restart: status %d, body %s", r.Status, r.Body)
	}

	// The embedded NATS port, as the README's nats CLI example uses it:
	// with the operator's generated nkey, never anonymously.
	if anon, err := nats.Connect(natsURL); err == nil {
		anon.Close()
		t.Error("the embedded NATS admitted an anonymous client")
	}
	nc := harness.ConnectAs(t, natsURL, streams.RoleOperator, filepath.Join(dataDir, "secrets", "operator.nk"))
	subject := streams.New("").ThingCommands(streams.Shard(id, 30))
	retrieve := `{"topic":"org.eclipse.ditto/fancy-car-11/things/twin/commands/retrieve","headers":{"correlation-id":"e2e-1"},"path":"/"}`
	ask := func(auth string) map[string]any {
		t.Helper()
		msg := nats.NewMsg(subject)
		msg.Data = []byte(retrieve)
		if auth != "" {
			msg.Header.Set(streams.HeaderAuth, auth)
		}
		reply, err := nc.RequestMsg(msg, 10*time.Second)
		if err != nil {
			t.Fatalf("NATS request to %s: %v", subject, err)
		}
		var env map[string]any
		if err := json.Unmarshal(reply.Data, &env); err != nil {
			t.Fatalf("reply is no Ditto Protocol envelope: %q", reply.Data)
		}
		return env
	}
	env := ask(`["nginx:ditto"]`)
	value, _ := env["value"].(map[string]any)
	if env["status"] != 200.0 || value["thingId"] != id || env["topic"] != "org.eclipse.ditto/fancy-car-11/things/twin/commands/retrieve" {
		t.Errorf("retrieve over NATS as nginx:ditto: %v; want status 200 and the thing", env)
	}
	if h, _ := env["headers"].(map[string]any); h["correlation-id"] != "e2e-1" {
		t.Errorf("reply headers %v do not echo the correlation-id", env["headers"])
	}
	if env := ask(`["nginx:ditto2"]`); env["status"] != 404.0 {
		t.Errorf("retrieve over NATS as nginx:ditto2: %v; want status 404 as over HTTP", env)
	}
	env = ask("")
	value, _ = env["value"].(map[string]any)
	if env["status"] != 401.0 || value["error"] != "gateway:authentication.failed" {
		t.Errorf("retrieve over NATS without Ditto-Auth: %v; want status 401 gateway:authentication.failed", env)
	}

	p.Signal(syscall.SIGTERM)
	if code := p.Wait(60 * time.Second); code != 0 {
		t.Errorf("ditto exited with %d after SIGTERM, want 0", code)
	}
}

// TestServicesNeedNATS: the separate binaries have no embedded NATS, so
// without NATS_URL they refuse to start and say why.
func TestServicesNeedNATS(t *testing.T) {
	for _, name := range []string{"things", "policies", "gateway"} {
		p := harness.Start(t, name, harness.Bin(t, name), nil, map[string]string{"HTTP_PORT": "0"})
		if code := p.Wait(20 * time.Second); code == 0 {
			t.Errorf("%s without NATS_URL exited with 0", name)
		}
		if log := p.Log(); !strings.Contains(log, "NATS_URL must be set") {
			t.Errorf("%s without NATS_URL logged no reason:\n%s", name, log)
		}
	}
}

// TestHelpListsTheREADMEVariables: `ditto -help` names every variable of the
// README's configuration table, so the two cannot drift apart.
func TestHelpListsTheREADMEVariables(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]+)` \\|").FindAllSubmatch(readme, -1)
	if len(vars) < 20 {
		t.Fatalf("found only %d variables in the README's configuration table", len(vars))
	}
	p := harness.Start(t, "ditto-help", harness.Bin(t, "ditto"), []string{"-help"}, nil)
	if code := p.Wait(20 * time.Second); code != 0 {
		t.Errorf("ditto -help exited with %d", code)
	}
	help := p.Log()
	for _, v := range vars {
		if !regexp.MustCompile(`(?m)^` + string(v[1]) + `\s`).MatchString(help) {
			t.Errorf("ditto -help does not list %s", v[1])
		}
	}
}

func must(t *testing.T) func(*harness.Response, error) *harness.Response {
	return func(r *harness.Response, err error) *harness.Response {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
}

func jsonEqual(got []byte, want string) bool {
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal([]byte(want), &w) != nil {
		return false
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	return string(gb) == string(wb)
}

func sum(m map[int]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
