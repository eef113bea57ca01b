package dittoconf

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// envOf is an Options.Env over a map.
func envOf(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

// canonical re-encodes JSON text with sorted keys and no spaces.
func canonical(t *testing.T, s string) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("want is not JSON: %v\n%s", err, s)
	}
	b, err := marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func treeJSON(t *testing.T, tr *Tree) string {
	t.Helper()
	b, err := tr.MarshalJSON()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		env  map[string]string
		base string // JSON of Options.Base
		want string
	}{
		{name: "empty", src: "", want: `{}`},
		{name: "only comments", src: "# a\n// b\n", want: `{}`},
		{name: "root braces", src: "{ a = 1 }", want: `{"a":1}`},
		{name: "json", src: `{"a": {"b": [1, 2.5, "x", true, null]}, "c": "d"}`,
			want: `{"a":{"b":[1,2.5,"x",true,null]},"c":"d"}`},
		{name: "separators", src: "a = 1\nb : 2\nc { d = 3 }\ne = { f = 4 }", want: `{"a":1,"b":2,"c":{"d":3},"e":{"f":4}}`},
		{name: "commas between fields", src: "a = 1, b = 2,\nc = 3,", want: `{"a":1,"b":2,"c":3}`},
		{name: "dotted keys merge with objects", src: "a.b.c = 1\na { b { d = 2 } }\na.e = 3",
			want: `{"a":{"b":{"c":1,"d":2},"e":3}}`},
		{name: "later value wins", src: "a = 1\na = 2", want: `{"a":2}`},
		{name: "objects merge", src: "a { x = 1, y = 1 }\na { y = 2, z = 2 }", want: `{"a":{"x":1,"y":2,"z":2}}`},
		{name: "scalar replaces object", src: "a { x = 1 }\na = 5", want: `{"a":5}`},
		{name: "object replaces scalar", src: "a = 5\na { x = 1 }", want: `{"a":{"x":1}}`},
		{name: "scalar breaks the merge", src: "a { x = 1 }\na = 5\na { y = 1 }", want: `{"a":{"y":1}}`},
		{name: "value on the next line", src: "a =\n  1\nb {\n c:\n \"x\"\n}", want: `{"a":1,"b":{"c":"x"}}`},
		{name: "brace on the next line", src: "a\n{\n  b = 1\n}", want: `{"a":{"b":1}}`},
		{name: "quoted keys keep dots", src: `"org.eclipse.ditto.*" = ["a:b"]` + "\n" + `x."y.z".w = 1`,
			want: `{"org.eclipse.ditto.*":["a:b"],"x":{"y.z":{"w":1}}}`},
		{name: "empty quoted key", src: `"" = 1`, want: `{"":1}`},
		{name: "key with spaces", src: "a b = 1", want: `{"a b":1}`},
		{name: "typed scalars", src: "i = 42\nn = -1\nf = 1.5\ne = 1e3\nt = true\nfl = false\nz = null",
			want: `{"i":42,"n":-1,"f":1.5,"e":1e3,"t":true,"fl":false,"z":null}`},
		{name: "unquoted strings", src: "d = 10s\nip = 10.0.0.1\nv = 1.2.3\nc = org.eclipse.ditto.Foo\nyes = yes\nz = 007",
			want: `{"d":"10s","ip":"10.0.0.1","v":"1.2.3","c":"org.eclipse.ditto.Foo","yes":"yes","z":"007"}`},
		{name: "unquoted concatenation keeps inner spaces", src: "a = foo bar   baz  # comment", want: `{"a":"foo bar   baz"}`},
		{name: "quoted and unquoted concatenate", src: `a = "x" y "z"`, want: `{"a":"x y z"}`},
		{name: "quoted escapes", src: `a = "tab\tq\"\\u\u00e9/\/"`, want: `{"a":"tab\tq\"\\u\u00e9//"}`},
		{name: "comment markers in quoted strings", src: `a = "http://x # y"`, want: `{"a":"http://x # y"}`},
		{name: "unquoted // starts a comment", src: "a = x//y", want: `{"a":"x"}`},
		{name: "triple quoted", src: "a = \"\"\"line \"1\"\n\\n line 2\"\"\"", want: `{"a":"line \"1\"\n\\n line 2"}`},
		{name: "triple quoted ends with quotes", src: `a = """x"""""`, want: `{"a":"x\"\""}`},
		{name: "arrays", src: "a = [1, 2\n 3,\n]\nb = []\nc = [[1], {x = 1}]\nd = [\n  \"p\"\n  \"q\"\n]",
			want: `{"a":[1,2,3],"b":[],"c":[[1],{"x":1}],"d":["p","q"]}`},
		{name: "arrays replace", src: "a = [1]\na = [2]", want: `{"a":[2]}`},
		{name: "append", src: "a = [1]\na += 2\nb += x", want: `{"a":[1,2],"b":["x"]}`},
		{name: "optional env unset keeps the value", src: "p = foobar\np = ${?DEVOPS_PASSWORD}", want: `{"p":"foobar"}`},
		{name: "optional env set overrides", src: "p = foobar\np = ${?DEVOPS_PASSWORD}", env: map[string]string{"DEVOPS_PASSWORD": "s3"},
			want: `{"p":"s3"}`},
		{name: "env values are strings", src: "n = 1\nn = ${?N}", env: map[string]string{"N": "2"}, want: `{"n":"2"}`},
		{name: "required env", src: "h = ${HOME_DIR}", env: map[string]string{"HOME_DIR": "/root"}, want: `{"h":"/root"}`},
		{name: "earlier key", src: "a.b = 7\nc = ${a.b}\nd = ${a}", want: `{"a":{"b":7},"c":7,"d":{"b":7}}`},
		{name: "earlier key in the same object", src: "a { b = x, c = ${a.b}y }", want: `{"a":{"b":"x","c":"xy"}}`},
		{name: "config wins over env", src: "HOME = conf\nh = ${HOME}", env: map[string]string{"HOME": "env"}, want: `{"HOME":"conf","h":"conf"}`},
		{name: "self reference", src: `path = "/bin"` + "\n" + `path = ${path}":/usr/bin"`, want: `{"path":"/bin:/usr/bin"}`},
		{name: "string concatenation with substitution", src: `b = world` + "\n" + `a = "hello "${b}"!"`, want: `{"a":"hello world!","b":"world"}`},
		{name: "undefined optional in concatenation", src: `a = x ${?NOPE} y`, want: `{"a":"x  y"}`},
		{name: "undefined optional array element", src: `a = [1, ${?NOPE}, 2]`, want: `{"a":[1,2]}`},
		{name: "object concatenation", src: "base { x = 1, y = 1 }\nd = ${base} { y = 2 }", want: `{"base":{"x":1,"y":1},"d":{"x":1,"y":2}}`},
		{name: "array concatenation", src: "a = [1]\nb = ${a} [2]", want: `{"a":[1],"b":[1,2]}`},
		{name: "env list", src: "l = []\nl = ${?L[]}", env: map[string]string{"L.0": "a", "L.1": "b", "L.3": "d"}, want: `{"l":["a","b"]}`},
		{name: "env list unset", src: "l = [x]\nl = ${?L[]}", want: `{"l":["x"]}`},
		{name: "base tree", src: "p = ${ditto.x}-2\nq = ${?ditto.none}", base: `{"ditto":{"x":"1"}}`, want: `{"p":"1-2"}`},
		{name: "include is skipped", src: "include \"ditto-mongo.conf\"\ninclude required(file(\"x.conf\"))\na = 1", want: `{"a":1}`},
		{name: "include as a key", src: "include = 1", want: `{"include":1}`},
		{name: "bom and crlf", src: "\uFEFFa = 1\r\nb = 2\r\n", want: `{"a":1,"b":2}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			opts := Options{Env: envOf(tt.env)}
			if tt.base != "" {
				var m map[string]any
				if err := json.Unmarshal([]byte(tt.base), &m); err != nil {
					t.Fatal(err)
				}
				opts.Base = &Tree{root: m}
			}
			tr, err := Parse("test.conf", []byte(tt.src), opts)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got, want := treeJSON(t, tr), canonical(t, tt.want); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

func TestParseIncludeWarns(t *testing.T) {
	t.Parallel()
	var warnings []string
	_, err := Parse("my.conf", []byte("a = 1\ninclude \"other.conf\"\n"), Options{Warn: func(m string) { warnings = append(warnings, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "my.conf:2") || !strings.Contains(warnings[0], `"other.conf"`) {
		t.Errorf("warnings %q, want one naming my.conf:2 and \"other.conf\"", warnings)
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		src  string
		line int
		want string
	}{
		{"unterminated string", "a = 1\nb = \"x", 2, "unterminated quoted string"},
		{"unterminated triple quote", "a = \"\"\"x", 1, `no closing """`},
		{"missing brace", "a {\n  b = 1\n", 3, "missing '}'"},
		{"missing bracket", "a = [1,\n2", 1, "missing ']'"},
		{"extra brace", "a = 1\n}", 2, "unexpected '}'"},
		{"root array", "[1, 2]", 1, "must be an object"},
		{"empty element", "a = [1,,2]", 1, "an element is missing"},
		{"no separator", "a 1", 1, `expected ':', '=' or '{' after key "a 1"`},
		{"missing value", "a = \n\n", 3, `no value after '=' for key a`},
		{"missing value at the end", "a {\n  b :}", 2, `no value after ':' for key b`},
		{"unquoted colon", "a = http://x", 1, `unexpected ':' in a value`},
		{"double dot", "a..b = 1", 1, "empty key"},
		{"trailing dot", "a. = 1", 1, "ends with '.'"},
		{"forbidden character", "a = x*y", 1, `unexpected '*'`},
		{"lone dollar", "a = $x", 1, `unexpected '$'`},
		{"unresolved", "a = 1\nb = ${nope}", 2, "unresolved substitution ${nope}"},
		{"forward reference", "a = ${b}\nb = 1", 1, "unresolved substitution ${b}"},
		{"unterminated substitution", "a = ${b", 1, "unterminated substitution"},
		{"object and string", `a = {b = 1} "x"`, 1, "cannot concatenate an object with a string"},
		{"array and object", "a = [1] {b = 1}", 1, "cannot concatenate an array with an object"},
		{"append to a scalar", "a = 1\na += 2", 2, "not an array"},
		{"two values", "a = 1 = 2", 1, "unexpected '=' in a value"},
		{"bad escape", `a = "\q"`, 1, `invalid escape \q`},
		{"not utf8", "a = \xff", 1, "not UTF-8"},
		{"too deep", strings.Repeat("a {", 300), 1, "nested more than"},
		{"too deep arrays", "a = " + strings.Repeat("[", 300), 1, "nested more than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("my.conf", []byte(tt.src), Options{})
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("got %v, want an *Error", err)
			}
			if perr.File != "my.conf" || perr.Line != tt.line || !strings.Contains(perr.Msg, tt.want) {
				t.Errorf("got %v, want my.conf line %d: ...%s...", err, tt.line, tt.want)
			}
			if !strings.HasPrefix(err.Error(), "my.conf:") {
				t.Errorf("message %q does not start with the file name", err)
			}
		})
	}
}

// The HOCON blocks of Ditto's operating guide (testdata/guide-*.conf, as
// the guide writes them, without the site's raw tags) read into the
// trees of their golden files; run with -update to accept a change.
func TestGuideBlocks(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob(filepath.Join("testdata", "guide-*.conf"))
	if err != nil || len(files) < 10 {
		t.Fatalf("guide blocks: %v, %v", files, err)
	}
	env := map[string]string{"CLEANUP_QUIET_PERIOD": "10m"}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			t.Parallel()
			tr, err := ParseFile(f, Options{Env: envOf(env)})
			if err != nil {
				t.Fatal(err)
			}
			b, err := json.MarshalIndent(tr.Root(), "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			b = append(b, '\n')
			golden := strings.TrimSuffix(f, ".conf") + ".json"
			if *update {
				if err := os.WriteFile(golden, b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, want) {
				t.Errorf("%s changed (run with -update to accept):\ngot:\n%s\nwant:\n%s", f, b, want)
			}
		})
	}
}

// Values of the guide blocks, as the services will read them.
func TestGuideBlockValues(t *testing.T) {
	t.Parallel()
	read := func(name string) *Tree {
		t.Helper()
		tr, err := ParseFile(filepath.Join("testdata", name), Options{Env: envOf(map[string]string{"CLEANUP_ENABLED": "false"})})
		if err != nil {
			t.Fatal(err)
		}
		return tr
	}
	cleanup := read("guide-cleanup.conf")
	for path, want := range map[string]string{"cleanup.enabled": "false", "cleanup.quiet-period": "5m",
		"cleanup.timer-threshold": "150ms", "cleanup.credits-per-batch": "3", "cleanup.delete-final-deleted-snapshot": "false"} {
		if got, _ := cleanup.String(path); got != want {
			t.Errorf("cleanup %s = %q, want %q", path, got, want)
		}
	}
	policies := read("guide-namespace-policies.conf")
	var roots map[string][]string
	if ok, err := policies.Decode("ditto.namespace-policies", &roots); !ok || err != nil {
		t.Fatalf("namespace-policies: %v, %v", ok, err)
	}
	if want := map[string][]string{"org.eclipse.ditto.devices": {"org.eclipse.ditto.devices:devices-root"},
		"org.eclipse.ditto.*": {"org.eclipse.ditto:tenant-root"}}; !reflect.DeepEqual(roots, want) {
		t.Errorf("namespace-policies %v, want %v", roots, want)
	}
	creation := read("guide-entity-creation.conf")
	grant, _ := creation.Get("ditto.entity-creation.grant")
	if g, ok := grant.([]any); !ok || len(g) != 1 || !reflect.DeepEqual(g[0].(map[string]any)["namespaces"], []any{}) {
		t.Errorf("entity-creation grant %v, want one entry with empty lists", grant)
	}
	if revoke, _ := creation.Get("ditto.entity-creation.revoke"); !reflect.DeepEqual(revoke, []any{}) {
		t.Errorf("entity-creation revoke %v, want []", revoke)
	}
	if _, err := Parse("bad-guide-elision.conf", mustRead(t, "bad-guide-elision.conf"), Options{}); err == nil ||
		!strings.Contains(err.Error(), "bad-guide-elision.conf:7:") {
		t.Errorf("the guide's elided block: got %v, want an error at line 7 (the ... key)", err)
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FuzzParse checks that the reader never panics and that what it reads
// renders as JSON that reads back (JSON is HOCON) into the same tree.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.conf"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err == nil {
			f.Add(string(b))
		}
	}
	for _, s := range []string{"a = 1", "a.b { c = [1, {d = ${?X}}] }", `a = """x"""`, "a += 1", "a = ${a}", `"a.b" = c d e`,
		"include \"x\"", "{}", "a = [\n]", "x = ${?L[]}", "a = 1 // c\nb = 2 # d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tr, err := Parse("fuzz.conf", []byte(src), Options{Env: envOf(map[string]string{"X": "x", "L.0": "l"}), Warn: func(string) {}})
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) || perr.Line < 1 {
				t.Fatalf("error %v is not an *Error with a line", err)
			}
			return
		}
		b, err := tr.MarshalJSON()
		if err != nil {
			t.Fatalf("MarshalJSON: %v", err)
		}
		back, err := Parse("back.json", b, Options{})
		if err != nil {
			t.Fatalf("its JSON %s does not read back: %v", b, err)
		}
		if !reflect.DeepEqual(back.root, tr.root) {
			t.Fatalf("read back differently:\n%s\n%s", b, treeJSON(t, back))
		}
	})
}
