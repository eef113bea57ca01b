package gateway

import (
	"slices"
	"testing"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

// FuzzParsePermissionChecks: any body is refused with a Ditto error or
// read into checks that each name a supported resource type, a valid id
// of its entity and at least one string permission, names unique.
func FuzzParsePermissionChecks(f *testing.F) {
	for _, s := range []string{
		`{"a":{"resource":"thing:/x","entityId":"a:b","hasPermissions":["READ"]}}`,
		`{"permissionChecks":{"a":{"resource":"policy:/","entityId":"a:b","hasPermissions":["READ","WRITE"]}}}`,
		`{"a":{"resource":"message:/inbox","entityId":"a:b","hasPermissions":[]}}`,
		`{"a":1,"b":{"resource":"x","entityId":"","hasPermissions":[1]}}`,
		`[]`, `{"a":{"resource":"thing:","entityId":"a:b","hasPermissions":["READ"]},"a":{}}`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, err := jsonv.Parse([]byte(body))
		if err != nil {
			return
		}
		checks, perr := parsePermissionChecks(v)
		if perr != nil {
			if perr.Status != 400 {
				t.Fatalf("%s: status %d", body, perr.Status)
			}
			return
		}
		var names []string
		for _, c := range checks {
			if slices.Contains(names, c.name) {
				t.Fatalf("%s: name %q twice", body, c.name)
			}
			names = append(names, c.name)
			if !slices.Contains(checkResourceTypes, c.typ) {
				t.Fatalf("%s: type %q accepted", body, c.typ)
			}
			validate := protocol.ValidateThingID
			if c.typ == "policy" {
				validate = protocol.ValidatePolicyID
			}
			if err := validate(c.entityID); err != nil {
				t.Fatalf("%s: id %q accepted: %v", body, c.entityID, err)
			}
			perms, _ := c.check.Get("hasPermissions")
			if perms.Len() == 0 {
				t.Fatalf("%s: no permissions accepted", body)
			}
		}
	})
}
