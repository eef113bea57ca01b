package platform

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/embedded"
	"github.com/dittonats/dittonats/streams"
)

// syncBuffer is a log sink safe for the services' concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// keys returns the sorted keys of a JSON object.
func keys(t *testing.T, body string) []string {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &m); err != nil {
		t.Fatalf("%s: %v", body, err)
	}
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

const devopsUser = "devops"

// doDevOps sends a request with the devops user's default password.
func (pl *platform) doDevOps(t *testing.T, method, path, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, pl.url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(devopsUser, "foobar")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: b.String()}
}

// The all-in-one process answers /devops/logging for each of its services
// under the service's name and the process's instance id, over NATS; a
// changed level changes what that service logs, and only that service.
func TestDevOpsLogging(t *testing.T) {
	t.Parallel()
	var out syncBuffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: devops.LevelAll}))
	pl := startPlatformLog(t, testConfig(t), log)
	loggers := `[{"level":"info","logger":"ROOT"},{"level":"info","logger":"org.eclipse.ditto"}]`

	r := pl.doDevOps(t, "GET", "/devops/logging?timeout=1s", "")
	if r.status != 200 {
		t.Fatalf("GET /devops/logging: %d %s", r.status, r.body)
	}
	if got, want := strings.Join(keys(t, r.body), ","), "gateway,policies,search,things"; got != want {
		t.Fatalf("services %s, want %s: %s", got, want, r.body)
	}
	var all map[string]map[string]json.RawMessage
	if err := json.Unmarshal([]byte(r.body), &all); err != nil {
		t.Fatal(err)
	}
	for _, name := range All {
		svc := streams.DevOpsName(name)
		jsonEq(t, "GET /devops/logging "+svc, string(all[svc]["test"]),
			`{"type":"devops.responses:retrieveLoggerConfig","status":200,"serviceName":"`+svc+`","instance":"test","loggerConfigs":`+loggers+`}`)
	}

	r = pl.doDevOps(t, "GET", "/devops/logging/things?timeout=500ms", "")
	if r.status != 200 {
		t.Fatalf("GET /devops/logging/things: %d %s", r.status, r.body)
	}
	jsonEq(t, "one service", r.body, `{"test":{"type":"devops.responses:retrieveLoggerConfig","status":200,"serviceName":"things","instance":"test","loggerConfigs":`+loggers+`}}`)

	start := time.Now()
	r = pl.doDevOps(t, "GET", "/devops/logging/search/test?includeDisabledLoggers=true", "")
	jsonEq(t, "one instance", r.body, `{"type":"devops.responses:retrieveLoggerConfig","status":200,"serviceName":"search","instance":"test",`+
		`"loggerConfigs":[{"level":"info","logger":"ROOT"},{"level":"off","logger":"io.nats.client"},{"level":"info","logger":"org.eclipse.ditto"}]}`)
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("one instance answered after %s: the first answer should end the wait", d)
	}

	// The things service's own lines follow its org.eclipse.ditto level:
	// its "log level changed" line is written only while that admits info.
	changed := func(logger, level string) string {
		return `msg="log level changed" service=things instance=test logger=` + logger + ` level=` + level
	}
	r = pl.doDevOps(t, "PUT", "/devops/logging/things/test", `{"logger":"org.eclipse.ditto","level":"error"}`)
	jsonEq(t, "PUT one instance", r.body, `{"type":"devops.responses:changeLogLevel","status":200,"serviceName":"things","instance":"test","successful":true}`)
	pl.doDevOps(t, "PUT", "/devops/logging/things/test", `{"logger":"ROOT","level":"warn"}`)
	if strings.Contains(out.String(), changed("ROOT", "warn")) {
		t.Errorf("things logged at info with org.eclipse.ditto at error:\n%s", out.String())
	}
	r = pl.doDevOps(t, "PUT", "/devops/logging/things?timeout=500ms", `{"logger":"org.eclipse.ditto","level":"debug"}`)
	jsonEq(t, "PUT one service", r.body, `{"test":{"type":"devops.responses:changeLogLevel","status":200,"serviceName":"things","instance":"test","successful":true}}`)
	if !strings.Contains(out.String(), changed("org.eclipse.ditto", "debug")) {
		t.Errorf("things did not log its change to debug:\n%s", out.String())
	}
	r = pl.doDevOps(t, "GET", "/devops/logging/things/test", "")
	jsonEq(t, "after the changes", r.body, `{"type":"devops.responses:retrieveLoggerConfig","status":200,"serviceName":"things","instance":"test",`+
		`"loggerConfigs":[{"level":"warn","logger":"ROOT"},{"level":"debug","logger":"org.eclipse.ditto"}]}`)
	// Only the things service changed.
	r = pl.doDevOps(t, "GET", "/devops/logging/policies/test", "")
	jsonEq(t, "policies unchanged", r.body, `{"type":"devops.responses:retrieveLoggerConfig","status":200,"serviceName":"policies","instance":"test","loggerConfigs":`+loggers+`}`)

	// PUT to every service.
	r = pl.doDevOps(t, "PUT", "/devops/logging?timeout=1s", `{"logger":"org.eclipse.ditto","level":"trace"}`)
	if got, want := strings.Join(keys(t, r.body), ","), "gateway,policies,search,things"; r.status != 200 || got != want {
		t.Fatalf("PUT /devops/logging: %d %s", r.status, r.body)
	}
	for _, svc := range All {
		if got := devops.LevelName(pl.p.loggers[svc].Level(devops.Ditto)); got != "trace" {
			t.Errorf("%s's org.eclipse.ditto at %s, want trace", svc, got)
		}
	}

	// Bad input changes nothing.
	for _, c := range []struct{ name, method, path, body, code string }{
		{"unknown level", "PUT", "/devops/logging", `{"logger":"org.eclipse.ditto","level":"loud"}`, "json.invalid"},
		{"malformed JSON", "PUT", "/devops/logging/things", `{"logger":`, "json.invalid"},
		{"no level", "PUT", "/devops/logging/things/test", `{"logger":"ROOT"}`, "json.field.missing"},
		{"zero timeout", "GET", "/devops/logging?timeout=0", "", "header.invalid"},
	} {
		r := pl.doDevOps(t, c.method, c.path, c.body)
		if r.status != 400 || r.code(t) != c.code {
			t.Errorf("%s: %d %s, want 400 %s", c.name, r.status, r.body, c.code)
		}
	}
	if got := devops.LevelName(pl.p.loggers[Things].Level(devops.Ditto)); got != "trace" {
		t.Errorf("bad input changed things' level to %s", got)
	}
	// Nobody serves an unknown service or instance: Ditto's 408 with what
	// its route reads from an empty aggregate.
	for _, path := range []string{"/devops/logging/connectivity?timeout=300ms", "/devops/logging/things/nope?timeout=300ms", "/devops/logging/things.*?timeout=300ms"} {
		if r := pl.doDevOps(t, "GET", path, ""); r.status != 408 || r.body != "null" {
			t.Errorf("GET %s: %d %s, want 408 null", path, r.status, r.body)
		}
	}

	// Without the devops user: 401 with Ditto's DevOps realm.
	for _, user := range []string{"", "ditto"} {
		r := pl.do(t, user, "GET", "/devops/logging", "", nil)
		if r.status != 401 || r.header.Get("WWW-Authenticate") != `Basic realm="DITTO-DEVOPS",charset=UTF-8` {
			t.Errorf("as %q: %d %q", user, r.status, r.header.Get("WWW-Authenticate"))
		}
	}
}

// The nats CLI's way: the gateway role requests a service's DevOps
// subjects directly.
func TestDevOpsOverNATS(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	pub, sign, err := embedded.NkeyOption(pl.p.seeds[streams.RoleGateway])
	if err != nil {
		t.Fatal(err)
	}
	nc, err := pl.p.srv.Connect(nats.Nkey(pub, sign), nats.CustomInboxPrefix(streams.InboxPrefix(streams.RoleGateway)))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m, err := nc.Request(pl.p.names.DevOpsInstance(streams.ServicePolicies, "test"),
		[]byte(`{"type":"devops.commands:changeLogLevel","serviceName":"policies","instance":"test","loggerConfig":{"level":"debug","logger":"org.eclipse.ditto"}}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "changeLogLevel", string(m.Data), `{"type":"devops.responses:changeLogLevel","status":200,"serviceName":"policies","instance":"test","successful":true}`)
	m, err = nc.Request(pl.p.names.DevOps(streams.ServicePolicies),
		[]byte(`{"type":"devops.commands:retrieveLoggerConfig","allKnownLoggers":true,"includeDisabledLoggers":false}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	jsonEq(t, "retrieveLoggerConfig", string(m.Data), `{"type":"devops.responses:retrieveLoggerConfig","status":200,"serviceName":"policies","instance":"test",`+
		`"loggerConfigs":[{"level":"info","logger":"ROOT"},{"level":"debug","logger":"org.eclipse.ditto"}]}`)
}

// The search service's background sync answers piggyback commands over
// HTTP and NATS; every search instance gets the command for "one".
func TestSearchPiggyback(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	r := pl.doDevOps(t, "POST", "/devops/piggyback/search?timeout=5s",
		`{"targetActorSelection":"/user/thingsWildcardSearchRoot/searchUpdaterRoot/backgroundSync/singleton",`+
			`"headers":{"aggregate":false,"is-group-topic":true},"piggybackCommand":{"type":"common.commands:retrieveConfig","path":"throttle"}}`)
	jsonEq(t, "retrieveConfig", r.body, `{"type":"common.responses:retrieveConfig","status":200,"config":{"period":"10s","throughput":100}}`)
	r = pl.doDevOps(t, "POST", "/devops/piggyback/search?timeout=5s",
		`{"targetActorSelection":"/user/thingsWildcardSearchRoot/searchUpdaterRoot/backgroundSync/singleton",`+
			`"piggybackCommand":{"type":"common.commands:modifyConfig","config":{"keep":{"events":7}}}}`)
	var byInstance map[string]map[string]struct {
		Type   string         `json:"type"`
		Status int            `json:"status"`
		Config map[string]any `json:"config"`
	}
	if err := json.Unmarshal([]byte(r.body), &byInstance); err != nil || r.status != 200 {
		t.Fatalf("modifyConfig: %d %s", r.status, r.body)
	}
	if got := byInstance["search"]["test"]; got.Type != "common.responses:modifyConfig" || got.Status != 200 ||
		got.Config["keep"].(map[string]any)["events"] != float64(7) {
		t.Errorf("modifyConfig: %s", r.body)
	}
	pub, sign, err := embedded.NkeyOption(pl.p.seeds[streams.RoleOperator])
	if err != nil {
		t.Fatal(err)
	}
	nc, err := pl.p.srv.Connect(nats.Nkey(pub, sign))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	m, err := nc.Request(pl.p.names.DevOpsAny("search"), []byte(`{"type":"devops.commands:executePiggybackCommand",`+
		`"targetActorSelection":"/user/thingsWildcardSearchRoot/searchUpdaterRoot/backgroundSync/singleton","headers":{},`+
		`"piggybackCommand":{"type":"status.commands:retrieveHealth"}}`), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var health struct {
		Type, ServiceName, Instance string
		Status                      int
		Response                    struct {
			Type       string
			StatusInfo devops.StatusInfo
		}
	}
	if err := json.Unmarshal(m.Data, &health); err != nil || health.Type != devops.TypeExecutePiggybackResponse ||
		health.ServiceName != "search" || health.Instance != "test" || health.Response.Type != devops.TypeRetrieveHealthResponse ||
		health.Response.StatusInfo.Status != devops.StatusUp {
		t.Errorf("retrieveHealth over NATS: %s", m.Data)
	}
}

// GET /devops/config returns each instance's configuration tree, secrets
// masked, with ditto.info naming the instance; one instance's alone.
func TestDevOpsConfig(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	r := pl.doDevOps(t, "GET", "/devops/config/things/test?path=ditto.info.service", "")
	jsonEq(t, "one instance", r.body, `{"type":"common.responses:retrieveConfig","status":200,"config":{"name":"things","instance-id":"test"}}`)
	r = pl.doDevOps(t, "GET", "/devops/config/gateway/test?path=ditto.gateway.authentication.devops.password", "")
	jsonEq(t, "a secret", r.body, `{"type":"common.responses:retrieveConfig","status":200,"config":"***"}`)
	r = pl.doDevOps(t, "GET", "/devops/config?path=ditto.info.service.name", "")
	if got, want := strings.Join(keys(t, r.body), ","), "gateway,policies,search,things"; r.status != 200 || got != want {
		t.Fatalf("every service: %d %s", r.status, r.body)
	}
	var all map[string]map[string]struct {
		Config string `json:"config"`
	}
	if err := json.Unmarshal([]byte(r.body), &all); err != nil {
		t.Fatal(err)
	}
	for svc, byInstance := range all {
		if byInstance["test"].Config != svc {
			t.Errorf("%s answered as %q: %s", svc, byInstance["test"].Config, r.body)
		}
	}
	if r := pl.doDevOps(t, "GET", "/devops/config/things/test?path=no.such.key", ""); !strings.Contains(r.body, "No configuration setting found for key 'no.such.key'") {
		t.Errorf("a missing path: %d %s", r.status, r.body)
	}
}
