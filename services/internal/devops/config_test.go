package devops

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

// configTree is a loaded configuration as the platform builds it.
func configTree(t *testing.T) *dittoconf.Tree {
	t.Helper()
	tr, err := dittoconf.Parse("t.conf", []byte(`
ditto {
  cluster.number-of-shards = 20
  gateway.authentication.devops { password = foobar, secured = false }
  mongodb.uri = "mongodb://u:pw@mongo:27017/ditto"
  info {
    env { PATH = "/usr/games:/usr/local/games", DEVOPS_PASSWORD = "***" }
    vm-args = ["-Dfile.encoding=UTF-8"]
  }
}
pekko.http.server.idle-timeout = 610s
`), dittoconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// retrieve runs a piggyback command JSON through the handler.
func retrieve(t *testing.T, h Handler, command string) (Answer, bool) {
	t.Helper()
	p, perr := ParsePiggyback([]byte(`{"targetActorSelection":"/user/devOpsCommandsActor","headers":{},"piggybackCommand":` + command + `}`))
	if perr != nil {
		t.Fatal(perr)
	}
	if p.Component != ComponentDevOps {
		t.Fatalf("component %s", p.Component)
	}
	return h(context.Background(), p)
}

func TestConfigHandler(t *testing.T) {
	t.Parallel()
	tree := configTree(t)
	h := ConfigHandler("gateway", "10.0.0.1", func() *dittoconf.Tree { return tree })
	tests := []struct {
		name    string
		command string
		want    string // the whole response JSON
	}{
		{name: "ditto.info as in the guide", command: `{"type":"common.commands:retrieveConfig","path":"ditto.info"}`,
			want: `{"type":"common.responses:retrieveConfig","status":200,"config":{
				"env":{"DEVOPS_PASSWORD":"***","PATH":"/usr/games:/usr/local/games"},
				"service":{"instance-id":"10.0.0.1","name":"gateway"},
				"vm-args":["-Dfile.encoding=UTF-8"]}}`},
		{name: "ditto of one instance, secrets masked", command: `{"type":"common.commands:retrieveConfig","path":"ditto"}`,
			want: `{"type":"common.responses:retrieveConfig","status":200,"config":{
				"cluster":{"number-of-shards":20},
				"gateway":{"authentication":{"devops":{"password":"***","secured":false}}},
				"mongodb":{"uri":"mongodb://u:***@mongo:27017/ditto"},
				"info":{"env":{"DEVOPS_PASSWORD":"***","PATH":"/usr/games:/usr/local/games"},
					"service":{"instance-id":"10.0.0.1","name":"gateway"},"vm-args":["-Dfile.encoding=UTF-8"]}}}`},
		{name: "a leaf", command: `{"type":"common.commands:retrieveConfig","path":"ditto.cluster.number-of-shards"}`,
			want: `{"type":"common.responses:retrieveConfig","status":200,"config":20}`},
		{name: "a secret leaf", command: `{"type":"common.commands:retrieveConfig","path":"ditto.gateway.authentication.devops.password"}`,
			want: `{"type":"common.responses:retrieveConfig","status":200,"config":"***"}`},
		{name: "path null is no path", command: `{"type":"common.commands:retrieveConfig","path":null}`},
		{name: "missing path", command: `{"type":"common.commands:retrieveConfig","path":"ditto.nothing"}`,
			want: `{"type":"common.responses:retrieveConfig","status":200,"config":{
				"error":"com.typesafe.config.ConfigException$Missing: No configuration setting found for key 'ditto.nothing'"}}`},
		{name: "invalid path", command: `{"type":"common.commands:retrieveConfig","path":"ditto..x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a, ok := retrieve(t, h, tt.command)
			if !ok || a.Status != http.StatusOK {
				t.Fatalf("ok %v, status %d: %s", ok, a.Status, a.Body)
			}
			var resp RetrieveConfigResponse
			if err := json.Unmarshal(a.Body, &resp); err != nil || resp.Type != TypeRetrieveConfigResponse || resp.Status != 200 {
				t.Fatalf("response %s: %v", a.Body, err)
			}
			if strings.Contains(string(a.Body), "foobar") || strings.Contains(string(a.Body), ":pw@") {
				t.Errorf("a secret in %s", a.Body)
			}
			if tt.want != "" {
				if got, want := compact(t, a.Body), compact(t, []byte(tt.want)); got != want {
					t.Errorf("got  %s\nwant %s", got, want)
				}
			}
		})
	}

	// Without a path, the whole tree.
	a, _ := retrieve(t, h, `{"type":"common.commands:retrieveConfig"}`)
	var whole struct {
		Config map[string]json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(a.Body, &whole); err != nil || whole.Config["pekko"] == nil || whole.Config["ditto"] == nil {
		t.Errorf("whole config %s: %v", a.Body, err)
	}
	a, _ = retrieve(t, h, `{"type":"common.commands:retrieveConfig","path":"ditto..x"}`)
	if !strings.Contains(string(a.Body), `ConfigException$BadPath`) {
		t.Errorf("invalid path answered %s", a.Body)
	}
	// The handler does not change the tree it is given.
	if v, _ := tree.String("ditto.gateway.authentication.devops.password"); v != "foobar" {
		t.Errorf("tree changed: password %q", v)
	}
	if tree.Has("ditto.info.service") {
		t.Error("tree changed: ditto.info.service added")
	}
}

func TestConfigHandlerRejects(t *testing.T) {
	t.Parallel()
	h := ConfigHandler("things", "i-1", func() *dittoconf.Tree { return nil })
	if _, ok := retrieve(t, h, `{"type":"common.commands:shutdown"}`); ok {
		t.Error("another command type: ok true, want false")
	}
	a, ok := retrieve(t, h, `{"type":"common.commands:retrieveConfig","path":1}`)
	if !ok || a.Status != http.StatusBadRequest || !strings.Contains(string(a.Body), "json.invalid") {
		t.Errorf("path 1: ok %v, %d %s; want Ditto's 400 json.invalid", ok, a.Status, a.Body)
	}
	// A nil tree is empty, with ditto.info.service all the same.
	a, _ = retrieve(t, h, `{"type":"common.commands:retrieveConfig","path":"ditto.info.service"}`)
	if got := compact(t, a.Body); got != `{"config":{"instance-id":"i-1","name":"things"},"status":200,"type":"common.responses:retrieveConfig"}` {
		t.Errorf("nil tree: %s", got)
	}
}

// compact re-encodes JSON with sorted keys.
func compact(t *testing.T, b []byte) string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", b, err)
	}
	out, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
