package dittoconf

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestIsSecret(t *testing.T) {
	t.Parallel()
	for key, want := range map[string]bool{
		"password": true, "statusPassword": true, "DEVOPS_PASSWORD": true, "client-secret": true, "access-token": true,
		"credentials": true, "private-key": true, "symmetrical-key": true, "old-symmetrical-key": true, "apiKey": true,
		"AWS_ACCESS_KEY_ID": true, "keys": true, "key": true, "passwd": true,
		"keep": false, "keystore-type": false, "monkey": false, "keyspace": false, "secured": false, "user": false,
		"uri": false, "NATS_NKEY": false, "enabled": false, "": false,
	} {
		if got := IsSecret(key); got != want {
			t.Errorf("IsSecret(%q) = %v, want %v", key, got, want)
		}
	}
}

func TestMasked(t *testing.T) {
	t.Parallel()
	tr, err := Parse("t.conf", []byte(`
ditto.gateway.authentication.devops { password = foobar, secured = true, statusPassword = "" }
ditto.mongodb.uri = "mongodb://ditto:s3cret@mongo:27017/ditto?authSource=admin"
ditto.connectivity.connection.encryption { symmetrical-key = abc, keep = 1 }
creds.credentials { user = u, password = p }
list = [{ token = t }, "http://u:p@h"]
none.password = null
`), Options{})
	if err != nil {
		t.Fatal(err)
	}
	before := treeJSON(t, tr)
	got := treeJSON(t, tr.Masked())
	want := canonical(t, `{
"ditto":{"gateway":{"authentication":{"devops":{"password":"***","secured":true,"statusPassword":""}}},
"mongodb":{"uri":"mongodb://ditto:***@mongo:27017/ditto?authSource=admin"},
"connectivity":{"connection":{"encryption":{"symmetrical-key":"***","keep":1}}}},
"creds":{"credentials":"***"},
"list":[{"token":"***"},"http://u:***@h"],
"none":{"password":null}}`)
	if got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	if treeJSON(t, tr) != before {
		t.Error("Masked changed the tree")
	}
}

func TestMaskEnvAndOptions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ name, value, want string }{
		{"DEVOPS_PASSWORD", "foobar", "***"},
		{"NATS_PASSWORD", "", ""},
		{"MONGO_DB_URI", "mongodb://u:p@h/db", "mongodb://u:***@h/db"},
		{"MONGO_DB_URI", "mongodb://h1,h2/db", "mongodb://h1,h2/db"},
		{"PATH", "/usr/bin:/bin", "/usr/bin:/bin"},
		{"JAVA_TOOL_OPTIONS", "-Xmx1g -Dditto.gateway.authentication.devops.password=foobar -Dditto.x=y",
			"-Xmx1g -Dditto.gateway.authentication.devops.password=*** -Dditto.x=y"},
		{"DITTO_OPTS", `-Da.private-key="k e y" -Du=http://a:b@c`, "-Da.private-key=*** -Du=http://a:***@c"},
		{"DITTO_OPTS", `-Dx="unterminated`, "***"},
	} {
		if got := MaskEnv(tt.name, tt.value); got != tt.want {
			t.Errorf("MaskEnv(%s, %q) = %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}

func TestPaths(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		expr string
		want []string
	}{
		{"a", []string{"a"}},
		{"ditto.gateway.authentication", []string{"ditto", "gateway", "authentication"}},
		{`ditto.namespace-policies."org.eclipse.ditto.*"`, []string{"ditto", "namespace-policies", "org.eclipse.ditto.*"}},
		{`a."".b`, []string{"a", "", "b"}},
		{` a.b `, []string{"a", "b"}},
		{`a"b.c"d`, []string{"ab.cd"}},
	} {
		got, err := ParsePath(tt.expr)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ParsePath(%q) = %q, %v; want %q", tt.expr, got, err, tt.want)
		}
		if back, err := ParsePath(JoinPath(got...)); err != nil || !reflect.DeepEqual(back, got) {
			t.Errorf("JoinPath(%q) = %q reads back as %q, %v", got, JoinPath(got...), back, err)
		}
	}
	for _, bad := range []string{"", ".", "a.", ".a", "a..b", `a."b`, "a.$b", "a{b"} {
		if got, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) = %q, want an error", bad, got)
		}
	}
}

// FuzzParsePath checks that every path JoinPath writes reads back.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"a.b", `"a.b".c`, "", "a..b", `"`, "a b.c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		segs, err := ParsePath(s)
		if err != nil {
			return
		}
		back, err := ParsePath(JoinPath(segs...))
		if err != nil || !reflect.DeepEqual(back, segs) {
			t.Fatalf("%q: keys %q, written %q, read back %q (%v)", s, segs, JoinPath(segs...), back, err)
		}
	})
}

func TestTreeGetSetMerge(t *testing.T) {
	t.Parallel()
	tr := NewTree()
	if err := tr.Set("ditto.search.operator-metrics.enabled", true); err != nil {
		t.Fatal(err)
	}
	if err := tr.Set(`ditto.namespace-policies."org.acme.*"`, []string{"org.acme:root"}); err != nil {
		t.Fatal(err)
	}
	_ = tr.Set("ditto.limits.things.max-size", 102400)
	if s, ok := tr.String("ditto.limits.things.max-size"); !ok || s != "102400" {
		t.Errorf("String max-size = %q, %v", s, ok)
	}
	if s, ok := tr.String("ditto.namespace-policies"); !ok || s != `{"org.acme.*":["org.acme:root"]}` {
		t.Errorf("String of an object = %q, %v", s, ok)
	}
	v, _ := tr.Get("ditto.search")
	v.(map[string]any)["x"] = 1 // a copy
	if tr.Has("ditto.search.x") {
		t.Error("Get returned the tree's own object")
	}
	o := NewTree()
	_ = o.Set("ditto.search.operator-metrics.scrape-interval", "15m")
	_ = o.Set("ditto.limits", "gone")
	tr.Merge(o)
	want := canonical(t, `{"ditto":{"search":{"operator-metrics":{"enabled":true,"scrape-interval":"15m"}},
		"namespace-policies":{"org.acme.*":["org.acme:root"]},"limits":"gone"}}`)
	if got := treeJSON(t, tr); got != want {
		t.Errorf("merged %s\nwant   %s", got, want)
	}
	if got := tr.Paths(); !reflect.DeepEqual(got, []string{"ditto.limits", `ditto.namespace-policies."org.acme.*"`,
		"ditto.search.operator-metrics.enabled", "ditto.search.operator-metrics.scrape-interval"}) {
		t.Errorf("Paths = %q", got)
	}
	var nilTree *Tree
	if _, ok := nilTree.Get("a"); ok || !nilTree.Empty() || treeJSON(t, nilTree.Masked()) != "{}" {
		t.Error("the nil tree is not empty")
	}
}

func TestDuration(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]time.Duration{
		"10s": 10 * time.Second, "10 s": 10 * time.Second, "5m": 5 * time.Minute, "3d": 72 * time.Hour,
		"150ms": 150 * time.Millisecond, "100": 100 * time.Millisecond, "10 seconds": 10 * time.Second,
		"1 day": 24 * time.Hour, "1.5h": 90 * time.Minute, "1h30m": 90 * time.Minute, "8m0s": 8 * time.Minute,
		"2 minutes": 2 * time.Minute, "0": 0, "-1s": -time.Second,
	} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("ParseDuration(%q) = %s, %v; want %s", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "s", "10 parsecs", "99999999999999999d", "1.5.2s"} {
		if got, err := ParseDuration(bad); err == nil {
			t.Errorf("ParseDuration(%q) = %s, want an error", bad, got)
		}
	}
	for d, want := range map[time.Duration]string{0: "0s", 90 * time.Second: "90s", 8 * time.Minute: "8m",
		time.Hour: "1h", 72 * time.Hour: "3d", 150 * time.Millisecond: "150ms", 1500 * time.Microsecond: "1500us"} {
		if got := FormatDuration(d); got != want {
			t.Errorf("FormatDuration(%s) = %q, want %q", d, got, want)
		}
		if back, err := ParseDuration(FormatDuration(d)); err != nil || back != d {
			t.Errorf("%s reads back as %s, %v", FormatDuration(d), back, err)
		}
	}
}

// Decode reads the guide's operator-metrics block into a service's
// struct, durations, -D strings and all.
func TestDecode(t *testing.T) {
	t.Parallel()
	tr, err := ParseFile("testdata/guide-operator-metrics.conf", Options{})
	if err != nil {
		t.Fatal(err)
	}
	props, _ := ParseProperties("-Dditto.search.operator-metrics.custom-metrics.all_produced_and_not_installed_devices.enabled=false")
	pt, _ := PropertiesTree(props)
	tr.Merge(pt)
	type metric struct {
		Enabled        *bool
		ScrapeInterval time.Duration
		Namespaces     []string
		Filter         string
		Tags           map[string]string
	}
	var m struct {
		Enabled        bool
		ScrapeInterval time.Duration `json:"scrape-interval"`
		CustomMetrics  map[string]metric
		Ignored        string `json:"-"`
	}
	found, err := tr.Decode("ditto.search.operator-metrics", &m)
	if !found || err != nil {
		t.Fatal(found, err)
	}
	cm := m.CustomMetrics["all_produced_and_not_installed_devices"]
	if !m.Enabled || m.ScrapeInterval != 15*time.Minute || cm.ScrapeInterval != 5*time.Minute || cm.Enabled == nil || *cm.Enabled ||
		len(cm.Namespaces) != 2 || cm.Tags["company"] != "acme-corp" || !strings.HasPrefix(cm.Filter, "and(") {
		t.Errorf("decoded %+v, metric %+v", m, cm)
	}
	if found, err := tr.Decode("ditto.search.nothing", &m); found || err != nil {
		t.Errorf("missing path: %v, %v; want false, nil", found, err)
	}
	var n int
	_, err = tr.Decode("ditto.search.operator-metrics.scrape-interval", &n)
	if err == nil || !strings.Contains(err.Error(), "ditto.search.operator-metrics.scrape-interval") {
		t.Errorf("15m into an int: %v, want an error naming the path", err)
	}
	var raw json.RawMessage
	if _, err := tr.Decode("ditto.search.operator-metrics.enabled", &raw); err != nil || string(raw) != "true" {
		t.Errorf("into json.RawMessage: %s, %v", raw, err)
	}
	if got := kebab("HTTPPort") + " " + kebab("ScrapeInterval") + " " + kebab("ID"); got != "http-port scrape-interval id" {
		t.Errorf("kebab: %s", got)
	}
}
