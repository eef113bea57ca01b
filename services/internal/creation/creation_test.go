package creation

import (
	"testing"

	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

func ptr(s string) *string { return &s }

func TestRules(t *testing.T) {
	t.Parallel()
	// The guide's HOCON block, with its commented entries filled in.
	src := `
ditto.entity-creation {
  grant = [
    {
      resource-types = ["thing"]
      namespaces = ["org.eclipse.ditto*"]
      auth-subjects = ["pre:ditto-*"]
      thing-definitions = [
        null
        "https://eclipse-ditto.github.io/ditto-examples/wot/models/*"
      ]
    }
    { resource-types = ["policy"] }
  ]
  revoke = [
    { namespaces = ["org.eclipse.ditto.secret"] }
  ]
}`
	tree, err := dittoconf.Parse("entity-creation.conf", []byte(src), dittoconf.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r, err := FromTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	model := "https://eclipse-ditto.github.io/ditto-examples/wot/models/floor-lamp-1.0.0.tm.jsonld"
	for _, c := range []struct {
		name string
		q    Request
		ok   bool
	}{
		{"a thing without definition", Request{Thing, "org.eclipse.ditto:a", "org.eclipse.ditto", []string{"pre:ditto-1"}, nil}, true},
		{"a thing with an allowed definition", Request{Thing, "org.eclipse.ditto.x:a", "org.eclipse.ditto.x", []string{"x", "pre:ditto-2"}, &model}, true},
		{"another definition", Request{Thing, "org.eclipse.ditto:a", "org.eclipse.ditto", []string{"pre:ditto-1"}, ptr("https://example.com/m.json")}, false},
		{"another namespace", Request{Thing, "com.acme:a", "com.acme", []string{"pre:ditto-1"}, nil}, false},
		{"another subject", Request{Thing, "org.eclipse.ditto:a", "org.eclipse.ditto", []string{"nginx:ditto"}, nil}, false},
		{"a policy anywhere by anyone", Request{Policy, "com.acme:p", "com.acme", []string{"nginx:ditto"}, nil}, true},
		{"revoked", Request{Policy, "org.eclipse.ditto.secret:p", "org.eclipse.ditto.secret", []string{"pre:ditto-1"}, nil}, false},
	} {
		err := r.Check(c.q)
		if (err == nil) != c.ok {
			t.Errorf("%s: %v, want allowed %t", c.name, err, c.ok)
		}
		if err != nil && (err.Status != 403 || err.Code != "entity.notcreatable" ||
			err.Message != "The Entity with ID '"+c.q.EntityID+"' could not be created as the creation was configured not to be allowed.") {
			t.Errorf("%s: %+v", c.name, err)
		}
	}
}

// The guide's -D example: only pre:admin and integration:some-connection
// may create anything.
func TestSystemProperties(t *testing.T) {
	t.Parallel()
	props, err := dittoconf.ParseProperties("-Dditto.entity-creation.grant.0.auth-subjects.0=pre:admin " +
		"-Dditto.entity-creation.grant.0.auth-subjects.1=integration:some-connection")
	if err != nil {
		t.Fatal(err)
	}
	tree, err := dittoconf.PropertiesTree(props)
	if err != nil {
		t.Fatal(err)
	}
	r, err := FromTree(tree)
	if err != nil {
		t.Fatal(err)
	}
	for subject, ok := range map[string]bool{"pre:admin": true, "integration:some-connection": true, "nginx:ditto": false, "pre:admin2": false} {
		if got := r.Check(Request{Policy, "a:b", "a", []string{subject}, nil}) == nil; got != ok {
			t.Errorf("%s: allowed %t, want %t", subject, got, ok)
		}
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	r, err := FromTree(dittoconf.NewTree())
	if err != nil || r.Restricted() || r.Check(Request{Thing, "a:b", "a", nil, nil}) != nil {
		t.Errorf("no configuration: %v %+v", err, r)
	}
	// grant = [{}] allows everything; an empty grant nothing.
	for src, ok := range map[string]bool{"ditto.entity-creation { grant = [{}] }": true, "ditto.entity-creation { grant = [] }": false} {
		tree, err := dittoconf.Parse("x", []byte(src), dittoconf.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r, err := FromTree(tree)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.Check(Request{Thing, "a:b", "a", []string{"s"}, nil}) == nil; got != ok {
			t.Errorf("%s: allowed %t", src, got)
		}
	}
	tree, _ := dittoconf.Parse("x", []byte(`ditto.entity-creation.grant = [{resource-types = ["connection"]}]`), dittoconf.Options{})
	if _, err := FromTree(tree); err == nil {
		t.Error("an unknown resource type was accepted")
	}
}
