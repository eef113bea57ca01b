package enforcer

import (
	"slices"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// CheckPermissions answers Ditto's permission check (checkPermissions) of
// checks, a JSON object of named checks {"resource":"<type>:<path>",
// "hasPermissions":[...]}, for view: each name maps to whether view has
// every one of the permissions on the resource and everything below it
// (Ditto's hasUnrestrictedPermissions), in the checks' order. A check of
// a resource type not in types, or one that is malformed, is false. A nil
// view (a sudo caller) has every permission.
func CheckPermissions(view *View, checks jsonv.Value, types ...string) jsonv.Value {
	out := make([]jsonv.Member, 0, checks.Len())
	for _, m := range checks.Members() {
		out = append(out, jsonv.Member{Key: m.Key, Value: jsonv.Bool(checkOne(view, m.Value, types))})
	}
	return jsonv.Object(out...)
}

func checkOne(view *View, check jsonv.Value, types []string) bool {
	res, _ := check.Get("resource")
	key, ok := res.Str()
	if !ok {
		return false
	}
	typ, path, ok := ParseResourceKey(key)
	if !ok || !slices.Contains(types, typ) {
		return false
	}
	perms, _ := check.Get("hasPermissions")
	if perms.Kind() != jsonv.KindArray || perms.Len() == 0 {
		return false
	}
	for _, p := range perms.Elements() {
		perm, ok := p.Str()
		if !ok {
			return false
		}
		if view != nil && !view.HasUnrestricted(typ, path, perm) {
			return false
		}
	}
	return true
}

// NoPermissions is CheckPermissions when the entity does not exist: every
// check is false.
func NoPermissions(checks jsonv.Value) jsonv.Value {
	out := make([]jsonv.Member, 0, checks.Len())
	for _, m := range checks.Members() {
		out = append(out, jsonv.Member{Key: m.Key, Value: jsonv.Bool(false)})
	}
	return jsonv.Object(out...)
}
