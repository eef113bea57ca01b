package gateway

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

func TestSplitPath(t *testing.T) {
	t.Parallel()
	tests := []struct {
		target string
		want   []string
		ok     bool
	}{
		{"/api/2/things/a:b", []string{"api", "2", "things", "a:b"}, true},
		{"/api/2/things/a:b/", []string{"api", "2", "things", "a:b", ""}, true},
		{"/x/a%20b/c", []string{"x", "a b", "c"}, true},
		{"/x/a%2Fb/c", []string{"x", "a/b", "c"}, true},
		{"/x/%E2%82%AC%2f", []string{"x", "€/"}, true},
		{"/", []string{""}, true},
	}
	for _, tt := range tests {
		u, err := url.ParseRequestURI(tt.target)
		if err != nil {
			t.Fatal(err)
		}
		got, ok := splitPath(&http.Request{URL: u})
		if ok != tt.ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("splitPath(%q): got %q %t, want %q %t", tt.target, got, ok, tt.want, tt.ok)
		}
	}
}

func TestResources(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		things  bool // thingResource, else policyResource
		path    string
		want    resource
		errCode string // Ditto error code, or "404"
	}{
		{name: "things collection", things: true, path: "",
			want: resource{group: "things", kind: resThings, allowed: methodGet | methodPost}},
		{name: "thing", things: true, path: "a:b",
			want: resource{group: "things", id: "a:b", path: "/", allowed: methodsAll, fields: true, kind: resThingRoot}},
		{name: "empty namespace thing", things: true, path: ":b",
			want: resource{group: "things", id: ":b", path: "/", allowed: methodsAll, fields: true, kind: resThingRoot}},
		{name: "attribute pointer", things: true, path: "a:b/attributes/x/y/",
			want: resource{group: "things", id: "a:b", path: "/attributes/x/y", allowed: methodsAll}},
		{name: "feature property", things: true, path: "a:b/features/f/properties/p",
			want: resource{group: "things", id: "a:b", path: "/features/f/properties/p", allowed: methodsAll}},
		{name: "empty feature id", things: true, path: "a:b/features//properties", errCode: "404"},
		{name: "feature inbox", things: true, path: "a:b/features/f/inbox/messages/s/t",
			want: resource{group: "things", id: "a:b", path: "/features/f/inbox/messages/s/t", allowed: methodPost, kind: resMessage}},
		{name: "thing outbox", things: true, path: "a:b/outbox/messages/s",
			want: resource{group: "things", id: "a:b", path: "/outbox/messages/s", allowed: methodPost, kind: resMessage}},
		{name: "claim", things: true, path: "a:b/inbox/claim",
			want: resource{group: "things", id: "a:b", path: "/inbox/messages/claim", allowed: methodPost, kind: resMessage}},
		{name: "outbox claim", things: true, path: "a:b/outbox/claim", errCode: "404"},
		{name: "double slash in property", things: true, path: "a:b/features/f/properties/a//b", errCode: protocol.CodeJSONPointerInvalid},
		{name: "invalid thing id", things: true, path: "a/b", errCode: protocol.CodeThingIDInvalid},
		{name: "empty thing id", things: true, path: "/attributes", errCode: "404"},
		{name: "migrateDefinition not served", things: true, path: "a:b/migrateDefinition", errCode: "404"},

		{name: "policies collection", path: "",
			want: resource{group: "policies", kind: resPolicies, allowed: methodPost}},
		{name: "policy", path: "a:p/",
			want: resource{group: "policies", id: "a:p", path: "/", allowed: methodsNoPatch, fields: true, kind: resPolicyRoot}},
		{name: "resource key", path: "a:p/entries/L/resources/thing:/features/f",
			want: resource{group: "policies", id: "a:p", path: "/entries/L/resources/thing:/features/f", allowed: methodsNoPatch}},
		{name: "subjects", path: "a:p/entries/L/subjects/",
			want: resource{group: "policies", id: "a:p", path: "/entries/L/subjects", allowed: methodsGetPut}},
		{name: "allowed additions", path: "a:p/entries/L/allowedAdditions",
			want: resource{group: "policies", id: "a:p", path: "/entries/L/allowedAdditions", allowed: methodsNoPatch}},
		{name: "import", path: "a:p/imports/a:q",
			want: resource{group: "policies", id: "a:p", path: "/imports/a:q", allowed: methodsNoPatch}},
		{name: "transitive imports", path: "a:p/imports/a:q/transitiveImports",
			want: resource{group: "policies", id: "a:p", path: "/imports/a:q/transitiveImports", allowed: methodsGetPut}},
		{name: "policy actions", path: "a:p/actions/activateTokenIntegration", errCode: "action"},
		{name: "entry actions", path: "a:p/entries/l/actions/deactivateTokenIntegration", errCode: "action"},
		{name: "unknown action", path: "a:p/actions/other", errCode: "404"},
		{name: "action with more", path: "a:p/actions/activateTokenIntegration/x", errCode: "404"},
		{name: "empty label", path: "a:p/entries//subjects", errCode: "404"},
		{name: "invalid policy id", path: "nope", errCode: protocol.CodePolicyIDInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var segs []string
			if tt.path != "" {
				segs = strings.Split(tt.path, "/")
			}
			resolve := policyResource
			if tt.things {
				resolve = thingResource
			}
			got, err := resolve(segs)
			switch {
			case tt.errCode == "404":
				if !errors.Is(err, errNotFound) {
					t.Errorf("got %+v, %v, want errNotFound", got, err)
				}
			case tt.errCode == "action": // servePolicyAction's (jwt_test.go)
				if _, ok := errors.AsType[*policyActionRequest](err); !ok {
					t.Errorf("got %+v, %v, want a policy action", got, err)
				}
			case tt.errCode != "":
				if !protocol.HasCode(err, tt.errCode) {
					t.Errorf("got %+v, %v, want %s", got, err, tt.errCode)
				}
			case err != nil:
				t.Errorf("got error %v, want %+v", err, tt.want)
			case got != tt.want:
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzRoutes checks the URL path to (entity, command path) mapping: no
// input crashes it, every failure is a 404 or a Ditto error, and every
// resource names a valid entity and a command path that is an absolute
// path whose pointer part Ditto can read.
func FuzzRoutes(f *testing.F) {
	for _, s := range []string{
		"/api/2/things/a:b/attributes/x/y", "/api/2/things/a:b/features/f/desiredProperties/%2F",
		"/api/2/policies/a:p/entries/L/resources/thing:/", "/api/2/things/", "/api/2/things//x",
		"/api/2/policies/a:p/imports/a:q/entries", "/api/2/things/%zz", "/api/2/things/a:b/policyId",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, target string) {
		u, err := url.ParseRequestURI(target)
		if err != nil {
			return
		}
		segs, ok := splitPath(&http.Request{URL: u})
		if !ok || len(segs) < 3 || segs[0] != "api" || segs[1] != "2" {
			return
		}
		var res resource
		switch segs[2] {
		case "things":
			res, err = thingResource(segs[3:])
		case "policies":
			res, err = policyResource(segs[3:])
		default:
			return
		}
		if err != nil {
			if !errors.Is(err, errNotFound) && protocol.AsError(err) == nil {
				t.Fatalf("%q: error %v is neither errNotFound nor a Ditto error", target, err)
			}
			return
		}
		if res.allowed == 0 {
			t.Fatalf("%q: resource allows no method", target)
		}
		if res.kind == resThings || res.kind == resPolicies {
			return
		}
		validate := protocol.ValidatePolicyID
		if res.group == protocol.GroupThings {
			validate = protocol.ValidateThingID
		}
		if err := validate(res.id); err != nil {
			t.Fatalf("%q: resource of invalid id %q", target, res.id)
		}
		if !strings.HasPrefix(res.path, "/") {
			t.Fatalf("%q: path %q is not absolute", target, res.path)
		}
		if res.group == protocol.GroupThings {
			if _, err := jsonv.ParsePointer(res.path); err != nil {
				t.Fatalf("%q: thing path %q is no pointer: %v", target, res.path, err)
			}
		}
		env := protocol.Envelope{Topic: protocol.NewTopic(res.id, res.group, protocol.ChannelTwin,
			protocol.CriterionCommands, protocol.ActionRetrieve).String(), Path: res.path}
		data, err := env.Encode()
		if err != nil {
			t.Fatalf("%q: encode: %v", target, err)
		}
		if _, err := protocol.DecodeEnvelope(data); err != nil {
			t.Fatalf("%q: the services cannot decode the command: %v", target, err)
		}
	})
}
