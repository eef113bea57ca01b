package dittoconf

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProperties(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want []Property
		err  string
	}{
		{name: "empty", in: "", want: nil},
		{name: "guide docker-compose", in: "-Dditto.gateway.authentication.devops.password=foobar",
			want: []Property{{"ditto.gateway.authentication.devops.password", "foobar"}}},
		{name: "other options ignored", in: "  -Xmx512m -XX:+UseG1GC -Da=1\t-javaagent:x.jar -Db=2 -jar starter.jar",
			want: []Property{{"a", "1"}, {"b", "2"}}},
		{name: "double quotes", in: `-Dfoo="a b" -Dbar=x"y z"w`, want: []Property{{"foo", "a b"}, {"bar", "xy zw"}}},
		{name: "single quotes as in the guide", in: `-Dx.auth-subjects.0='{{ jwt:sub }}/{{ jwt:scp }}'`,
			want: []Property{{"x.auth-subjects.0", "{{ jwt:sub }}/{{ jwt:scp }}"}}},
		{name: "quoted whole option", in: `"-Dk=v w"`, want: []Property{{"k", "v w"}}},
		{name: "value with equals", in: "-Dk=a=b", want: []Property{{"k", "a=b"}}},
		{name: "no value", in: "-Dflag", want: []Property{{"flag", ""}}},
		{name: "empty value", in: "-Dk=", want: []Property{{"k", ""}}},
		{name: "unterminated quote", in: `-Dk="abc`, err: "unterminated"},
		{name: "no name", in: "-D=1", err: "no property name"},
		{name: "empty key", in: "-Da..b=1", err: "empty key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseProperties(tt.in)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestPropertiesTree(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		props string
		want  string
	}{
		{name: "paths", props: "-Da.b=1 -Da.c=x", want: `{"a":{"b":"1","c":"x"}}`},
		{name: "later wins", props: "-Da=1 -Da=2", want: `{"a":"2"}`},
		{name: "object wins over value", props: "-Da.b=1 -Da=2", want: `{"a":{"b":"1"}}`},
		{name: "object replaces value", props: "-Da=2 -Da.b=1", want: `{"a":{"b":"1"}}`},
		{name: "guide entity-creation", props: "-Dditto.entity-creation.grant.0.auth-subjects.0=pre:admin " +
			"-Dditto.entity-creation.grant.0.auth-subjects.1=integration:some-connection",
			want: `{"ditto":{"entity-creation":{"grant":[{"auth-subjects":["pre:admin","integration:some-connection"]}]}}}`},
		{name: "indexes in order", props: "-Dl.10=c -Dl.2=b -Dl.0=a", want: `{"l":["a","b","c"]}`},
		{name: "not all indexes", props: "-Dm.0=a -Dm.x=b -Dn.01=c", want: `{"m":{"0":"a","x":"b"},"n":{"01":"c"}}`},
		{name: "root keys stay", props: "-D0=a", want: `{"0":"a"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			props, err := ParseProperties(tt.props)
			if err != nil {
				t.Fatal(err)
			}
			tr, err := PropertiesTree(props)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := treeJSON(t, tr), canonical(t, tt.want); got != want {
				t.Errorf("got  %s\nwant %s", got, want)
			}
		})
	}
}

// Properties over a file: an indexed -D list replaces the file's list, as
// Typesafe Config's system properties over application.conf do.
func TestPropertiesOverFile(t *testing.T) {
	t.Parallel()
	file, err := Parse("f.conf", mustRead(t, "guide-entity-creation-grant-all.conf"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	props, _ := ParseProperties("-Dditto.entity-creation.grant.0.auth-subjects.0=pre:admin")
	pt, err := PropertiesTree(props)
	if err != nil {
		t.Fatal(err)
	}
	file.Merge(pt)
	var grant []struct {
		AuthSubjects []string `json:"auth-subjects"`
		Namespaces   []string
	}
	if ok, err := file.Decode("ditto.entity-creation.grant", &grant); !ok || err != nil {
		t.Fatal(ok, err)
	}
	if len(grant) != 1 || !reflect.DeepEqual(grant[0].AuthSubjects, []string{"pre:admin"}) || grant[0].Namespaces != nil {
		t.Errorf("grant %+v, want one entry for pre:admin", grant)
	}
}

// FuzzParseProperties checks that the -D reader never panics, that every
// property it returns has a usable name, and that the tree of them builds.
func FuzzParseProperties(f *testing.F) {
	for _, s := range []string{"-Da=b", `-Dfoo="a b" -Xmx1g`, `-D'x'=y`, "-D", "-D.=", `"`, "-Da.0=x -Da.1=y -Da=z",
		"-Dditto.gateway.authentication.devops.password=foobar"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		props, err := ParseProperties(s)
		if err != nil {
			return
		}
		for _, p := range props {
			if p.Key == "" || strings.Contains(p.Key, "..") {
				t.Fatalf("property %q from %q", p, s)
			}
		}
		if _, err := PropertiesTree(props); err != nil {
			t.Fatalf("PropertiesTree(%q): %v", props, err)
		}
		_ = MaskOptions(s)
	})
}
