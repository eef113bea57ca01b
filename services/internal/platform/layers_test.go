package platform

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/dittonats/dittonats/services/internal/dittoconf"
	"github.com/dittonats/dittonats/services/internal/limits"
)

// writeConf writes a HOCON file into a temporary directory.
func writeConf(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ditto.conf")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// layersConf sets a gateway, a limits and a search setting with Ditto's
// keys, one structured setting no variable has, and takes the devops
// password from the environment the way Ditto's gateway.conf does.
const layersConf = `
ditto {
  gateway.authentication.devops {
    password = "from-file"
    password = ${?DITTO_TEST_DEVOPS_PASSWORD}
    secured = false
  }
  limits.things.max-size = 2m
  search {
    updater.background-sync {
      quiet-period = 3d
      throttle.period = 500
    }
    namespace-indexed-fields = [
      { namespace-pattern = "org.eclipse*", indexed-fields = ["attributes", "features/info"] }
    ]
    operator-metrics {
      enabled = true
      scrape-interval = 15m
    }
  }
}
`

// Each layer overrides the one below it: built-in defaults < HOCON file <
// JAVA_TOOL_OPTIONS -D < DITTO_OPTS -D < environment variables.
func TestLoadLayers(t *testing.T) {
	t.Parallel()
	file := writeConf(t, layersConf)
	tests := []struct {
		name       string
		env        []string
		password   string
		thingsSize limits.ByteSize
		quiet      time.Duration
	}{
		{name: "defaults", env: nil, password: "foobar", thingsSize: 100 << 10, quiet: 8 * time.Minute},
		{name: "file", env: []string{"DITTO_CONFIG_FILE=" + file}, password: "from-file", thingsSize: 2 << 20, quiet: 72 * time.Hour},
		{name: "file substitutes the environment", env: []string{"DITTO_CONFIG_FILE=" + file, "DITTO_TEST_DEVOPS_PASSWORD=subst"},
			password: "subst", thingsSize: 2 << 20, quiet: 72 * time.Hour},
		{name: "-Dconfig.file", env: []string{"JAVA_TOOL_OPTIONS=-Dconfig.file=" + file}, password: "from-file",
			thingsSize: 2 << 20, quiet: 72 * time.Hour},
		{name: "JAVA_TOOL_OPTIONS over the file", env: []string{"DITTO_CONFIG_FILE=" + file,
			"JAVA_TOOL_OPTIONS=-Xmx1g -Dditto.gateway.authentication.devops.password=from-jto -Dditto.limits.things.max-size=1k"},
			password: "from-jto", thingsSize: 1 << 10, quiet: 72 * time.Hour},
		{name: "DITTO_OPTS over JAVA_TOOL_OPTIONS", env: []string{"DITTO_CONFIG_FILE=" + file,
			"JAVA_TOOL_OPTIONS=-Dditto.gateway.authentication.devops.password=from-jto",
			`DITTO_OPTS=-Dditto.gateway.authentication.devops.password="from opts" -Dditto.search.updater.background-sync.quiet-period=1h`},
			password: "from opts", thingsSize: 2 << 20, quiet: time.Hour},
		{name: "environment over everything", env: []string{"DITTO_CONFIG_FILE=" + file,
			"JAVA_TOOL_OPTIONS=-Dditto.gateway.authentication.devops.password=from-jto", "DITTO_OPTS=-Dditto.limits.things.max-size=1k",
			"DEVOPS_PASSWORD=from-env", "LIMITS_THINGS_MAX_SIZE=0", "BACKGROUND_SYNC_QUIET_PERIOD=2m"},
			password: "from-env", thingsSize: 0, quiet: 2 * time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			cfg, err := LoadEnv(tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Gateway.DevOpsPassword != tt.password {
				t.Errorf("DEVOPS_PASSWORD %q, want %q", cfg.Gateway.DevOpsPassword, tt.password)
			}
			if cfg.Limits.ThingsMaxSize != tt.thingsSize || cfg.Things.Limits.ThingsMaxSize != tt.thingsSize ||
				cfg.Gateway.Limits.ThingsMaxSize != tt.thingsSize {
				t.Errorf("LIMITS_THINGS_MAX_SIZE %d (things %d, gateway %d), want %d", cfg.Limits.ThingsMaxSize,
					cfg.Things.Limits.ThingsMaxSize, cfg.Gateway.Limits.ThingsMaxSize, tt.thingsSize)
			}
			if cfg.Search.SyncQuietPeriod != tt.quiet {
				t.Errorf("BACKGROUND_SYNC_QUIET_PERIOD %s, want %s", cfg.Search.SyncQuietPeriod, tt.quiet)
			}
			// The tree holds the effective values at Ditto's keys.
			if got, _ := cfg.Tree.String("ditto.gateway.authentication.devops.password"); got != tt.password {
				t.Errorf("tree password %q, want %q", got, tt.password)
			}
			if got, _ := cfg.Tree.Get("ditto.search.updater.background-sync.quiet-period"); got != dittoconf.FormatDuration(tt.quiet) {
				t.Errorf("tree quiet-period %v, want %s", got, dittoconf.FormatDuration(tt.quiet))
			}
			if err := cfg.Search.Validate(); err != nil {
				t.Errorf("search config: %v", err)
			}
		})
	}
}

// Settings the file gives with Ditto's keys reach the services' sections
// with the file's types (a duration in milliseconds, an array for a JSON
// variable), and the whole file is in the tree for structured settings.
func TestLoadFileTree(t *testing.T) {
	t.Parallel()
	file := writeConf(t, layersConf)
	cfg, err := LoadEnv([]string{"DITTO_CONFIG_FILE=" + file, "HOME=/root", "NATS_PASSWORD=natsecret",
		"JAVA_TOOL_OPTIONS=-Dditto.gateway.authentication.devops.password=jto-secret -Dditto.custom.flag=on"})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Gateway.DevOpsSecured {
		t.Error("DEVOPS_SECURED: file says false")
	}
	if cfg.Search.SyncPeriod != 500*time.Millisecond {
		t.Errorf("throttle period %s, want 500ms (a HOCON duration without unit)", cfg.Search.SyncPeriod)
	}
	if !strings.Contains(cfg.Search.IndexedFields, `"namespace-pattern":"org.eclipse*"`) {
		t.Errorf("SEARCH_NAMESPACE_INDEXED_FIELDS %q, want the file's array as JSON", cfg.Search.IndexedFields)
	}
	tree := cfg.ConfigTree()
	var metrics struct {
		Enabled        bool
		ScrapeInterval time.Duration
	}
	if ok, err := tree.Decode("ditto.search.operator-metrics", &metrics); !ok || err != nil || !metrics.Enabled ||
		metrics.ScrapeInterval != 15*time.Minute {
		t.Errorf("operator-metrics %+v, %v, %v", metrics, ok, err)
	}
	if v, _ := tree.Get("ditto.search.namespace-indexed-fields"); reflect.TypeOf(v) != reflect.TypeFor[[]any]() {
		t.Errorf("namespace-indexed-fields in the tree is %T, want the array", v)
	}
	if v, _ := tree.String("ditto.custom.flag"); v != "on" {
		t.Errorf("unmapped -D key: %q", v)
	}
	for key, want := range map[string]any{"ditto.cluster.number-of-shards": json.Number("30"), "ditto.gateway.http.port": json.Number("8080"),
		"ditto.gateway.authentication.devops.secured": false, "ditto.limits.things.max-size": "2m", "ditto.nats.url": "",
		"ditto.gateway.http.request-timeout": "1m", "ditto.gateway.command.default-timeout": "1m"} {
		if got, ok := tree.Get(key); !ok || got != want {
			t.Errorf("tree %s = %#v, want %#v", key, got, want)
		}
	}
	// Printed, every secret is masked: the tree's, the environment's and
	// the -D options'.
	b, err := tree.Masked().MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"jto-secret", "natsecret", "foobar", "status\""} {
		if bytes.Contains(b, []byte(secret)) {
			t.Errorf("masked tree shows %s:\n%s", secret, b)
		}
	}
	info, _ := tree.Masked().Get("ditto.info")
	m := info.(map[string]any)
	if env := m["env"].(map[string]any); env["HOME"] != "/root" || env["NATS_PASSWORD"] != "***" ||
		!strings.Contains(env["JAVA_TOOL_OPTIONS"].(string), "devops.password=*** ") {
		t.Errorf("ditto.info.env %v", env)
	}
	if args := m["vm-args"].([]any); len(args) != 2 || args[0] != "-Dditto.gateway.authentication.devops.password=***" {
		t.Errorf("ditto.info.vm-args %v", args)
	}
	if m["config-file"] != file || m["go-version"] == "" || m["start-time"] == "" {
		t.Errorf("ditto.info %v", m)
	}
}

// Two spellings of one setting show at its key the one the search
// service uses: the correct one when set, else Ditto's misspelt one.
func TestLoadSpellings(t *testing.T) {
	t.Parallel()
	const key = "ditto.search.updater.background-sync.throttle.period"
	for _, tt := range []struct {
		env  []string
		want any
	}{
		{nil, nil},
		{[]string{"BACKGROUND_SYNC_THROTTLE_PERIOD=5s"}, "5s"},
		{[]string{"BACKGROUND_SYCN_THROTTLE_PERIOD=7s"}, "7s"},
		{[]string{"BACKGROUND_SYNC_THROTTLE_PERIOD=5s", "BACKGROUND_SYCN_THROTTLE_PERIOD=7s"}, "5s"},
		{[]string{"DITTO_OPTS=-D" + key + "=9s"}, "9s"},
	} {
		cfg, err := LoadEnv(tt.env)
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := cfg.Tree.Get(key); got != tt.want {
			t.Errorf("%v: %s = %v, want %v", tt.env, key, got, tt.want)
		}
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		conf string
		env  []string
		want []string
		not  string
	}{
		{name: "malformed file", conf: "ditto {\n  limits.things.max-size = 2m\n  gateway = [\n}\n",
			want: []string{"DITTO_CONFIG_FILE", "ditto.conf:4:", "unexpected '}'"}},
		{name: "unresolved substitution", conf: "ditto.x = 1\nditto.y = ${NOT_SET_ANYWHERE}\n",
			want: []string{"ditto.conf:2:", "unresolved substitution ${NOT_SET_ANYWHERE}"}},
		{name: "missing file", env: []string{"DITTO_CONFIG_FILE=/nonexistent/ditto.conf"},
			want: []string{"DITTO_CONFIG_FILE", "/nonexistent/ditto.conf"}},
		{name: "bad value in the file", conf: "ditto.cluster.number-of-shards = many\nditto.limits.things.max-size = -3\n",
			want: []string{"CLUSTER_NUMBER_OF_SHARDS", "ditto.cluster.number-of-shards", "ditto.conf"}},
		{name: "bad -D", env: []string{`JAVA_TOOL_OPTIONS=-Dditto.x="open`}, want: []string{"JAVA_TOOL_OPTIONS", "unterminated"}},
		{name: "bad value from -D", env: []string{"DITTO_OPTS=-Dditto.gateway.http.port=eighty"},
			want: []string{"HTTP_PORT", "-Dditto.gateway.http.port"}},
		{name: "a secret is not shown", env: []string{"DITTO_OPTS=-Dditto.nats.stream-replicas=x", "DEVOPS_PASSWORD=hunter2"},
			want: []string{"NATS_STREAM_REPLICAS"}, not: "hunter2"},
		{name: "limits checked", conf: "ditto.limits.things.max-size = -3\n", want: []string{"LIMITS_THINGS_MAX_SIZE"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			env := tt.env
			if tt.conf != "" {
				env = append(env, "DITTO_CONFIG_FILE="+writeConf(t, tt.conf))
			}
			_, err := LoadEnv(env)
			if err == nil {
				t.Fatal("got no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %q", err, w)
				}
			}
			if tt.not != "" && strings.Contains(err.Error(), tt.not) {
				t.Errorf("error %q shows %q", err, tt.not)
			}
		})
	}
}

// A malformed configuration file stops the binary before anything
// starts, naming the file and line. It sets variables, so it runs alone.
func TestMainRejectsMalformedFile(t *testing.T) {
	path := writeConf(t, "ditto {\n  gateway.http.port = 8080\n  limits {\n")
	t.Setenv("DITTO_CONFIG_FILE", path)
	var stdout, stderr bytes.Buffer
	if code := Main("ditto", All, nil, &stdout, &stderr); code != 2 {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", code, &stderr)
	}
	if !strings.Contains(stderr.String(), path+":4:") || !strings.Contains(stderr.String(), "missing '}'") {
		t.Errorf("stderr %q, want the file, line 4 and what is missing", &stderr)
	}
}

// Load without file or options reads what envconfig reads: the same
// variables into the same values.
func TestLoadEnvMatchesEnvconfig(t *testing.T) {
	for _, v := range []string{EnvConfigFile, EnvJavaToolOptions, EnvDittoOpts} {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	for k, v := range map[string]string{"NATS_URL": "nats://a:4222", "CLUSTER_NUMBER_OF_SHARDS": "12", "MONGO_DB_CONNECTION_POOL_SIZE": "7",
		"DITTO_EVENTS_MAX_BYTES": "-1", "DITTO_SHARD_LEASE_TTL": "1m30s", "ENABLE_CORS": "false", "LIMITS_MESSAGES_MAX_SIZE": "1 MiB",
		"THING_SNAPSHOT_THRESHOLD": "0x10", "BACKGROUND_SYNC_ENABLED": "0", "GATEWAY_USERS_FILE": ""} {
		t.Setenv(k, v)
	}
	got, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	var want Config
	for _, part := range want.parts() {
		if err := envconfig.Process("", part); err != nil {
			t.Fatal(err)
		}
	}
	want.setLimits(want.Limits)
	got.Tree, got.Warnings = nil, nil
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Load:\n%+v\nenvconfig:\n%+v", got, want)
	}
	// And the same variables, in the same order.
	vars, err := variables(want.parts())
	if err != nil {
		t.Fatal(err)
	}
	var names, fromEnvconfig []string
	for _, v := range vars {
		names = append(names, v.name)
	}
	for _, part := range want.parts() {
		var b strings.Builder
		if err := envconfig.Usagef("", part, &b, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
			t.Fatal(err)
		}
		fromEnvconfig = append(fromEnvconfig, strings.Fields(b.String())...)
	}
	if !reflect.DeepEqual(names, fromEnvconfig) {
		t.Errorf("variables %v,\nenvconfig %v", names, fromEnvconfig)
	}
}

// Every variable has a row in dittoKeys (so its key is chosen, not
// derived), every key is a path, and no two variables share a key unless
// they are spellings of one setting.
func TestDittoKeys(t *testing.T) {
	t.Parallel()
	var cfg Config
	vars, err := variables(cfg.parts())
	if err != nil {
		t.Fatal(err)
	}
	owner := map[string]string{}
	for _, v := range vars {
		if _, ok := dittoKeys[v.name]; !ok {
			t.Errorf("%s has no row in dittoKeys (keys.go): add Ditto's key (grep Ditto's *.conf for ${?%s}) or one under ditto.", v.name, v.name)
		}
	}
	aliases := map[string]string{"BACKGROUND_SYCN_THROTTLE_PERIOD": "BACKGROUND_SYNC_THROTTLE_PERIOD"}
	for name, keys := range dittoKeys {
		for _, k := range keys {
			if _, err := dittoconf.ParsePath(k); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			canonical := name
			if a, ok := aliases[name]; ok {
				canonical = a
			}
			if o, ok := owner[k]; ok && o != canonical {
				t.Errorf("%s and %s both have key %s", o, canonical, k)
			}
			owner[k] = canonical
		}
	}
	if got := dittoKeysOf("DITTO_SOME_NEW_THING"); !reflect.DeepEqual(got, []string{"ditto.some-new-thing"}) {
		t.Errorf("derived key %v", got)
	}
}

// -help lists every variable once with its Ditto key, and no secret's
// default.
func TestUsage(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	if err := Usage(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "VARIABLE") || !strings.Contains(lines[0], "DITTO KEY") {
		t.Errorf("header %q", lines[0])
	}
	rows := map[string][]string{}
	for _, l := range lines[1:] {
		f := strings.Fields(l)
		if _, dup := rows[f[0]]; dup {
			t.Errorf("%s listed twice", f[0])
		}
		rows[f[0]] = f
	}
	for name, want := range map[string][]string{
		"DEVOPS_PASSWORD":              {"ditto.gateway.authentication.devops.password", "***"},
		"STATUS_PASSWORD":              {"ditto.gateway.authentication.devops.statusPassword", "***"},
		"LIMITS_THINGS_MAX_SIZE":       {"ditto.limits.things.max-size", "100k"},
		"BACKGROUND_SYNC_QUIET_PERIOD": {"ditto.search.updater.background-sync.quiet-period", "8m"},
		"NATS_URL":                     {"ditto.nats.url"},
		"DITTO_CONFIG_FILE":            {"-"},
		"JAVA_TOOL_OPTIONS":            {"-"},
	} {
		if got := rows[name]; len(got) < len(want)+1 || !reflect.DeepEqual(got[1:len(want)+1], want) {
			t.Errorf("%s row %q, want %q after the name", name, got, want)
		}
	}
	if strings.Contains(out, "foobar") || strings.Contains(out, " status ") {
		t.Errorf("usage shows a secret default:\n%s", out)
	}
}
