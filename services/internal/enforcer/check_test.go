package enforcer

import (
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// Checks are unrestricted permissions (a revoke below the path makes the
// path's READ false), every listed permission must hold, other resource
// types and malformed checks are false, a nil view (sudo) has all.
func TestCheckPermissions(t *testing.T) {
	t.Parallel()
	policy, err := jsonv.Parse([]byte(`{"entries":{"e":{"subjects":{"s:a":{"type":"t"}},"resources":{
		"thing:/f":{"grant":["READ","WRITE"],"revoke":[]},
		"thing:/f/secret":{"grant":[],"revoke":["WRITE"]},
		"message:/inbox":{"grant":["WRITE"],"revoke":[]}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	enf, err := Compile(policy)
	if err != nil {
		t.Fatal(err)
	}
	checks, err := jsonv.Parse([]byte(`{
		"read":{"resource":"thing:/f","hasPermissions":["READ"]},
		"write":{"resource":"thing:/f","hasPermissions":["WRITE"]},
		"writeOther":{"resource":"thing:/f/other","hasPermissions":["READ","WRITE"]},
		"msg":{"resource":"message:/inbox/messages/x","hasPermissions":["WRITE"]},
		"policyType":{"resource":"policy:/","hasPermissions":["READ"]},
		"none":{"resource":"thing:/f","hasPermissions":[]},
		"bad":{"resource":"nocolon","hasPermissions":["READ"]},
		"root":{"resource":"thing:/","hasPermissions":["READ"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	got := string(CheckPermissions(enf.For("ns", []string{"s:a"}), checks, TypeThing, TypeMessage).AppendJSON(nil))
	want := `{"read":true,"write":false,"writeOther":true,"msg":true,"policyType":false,"none":false,"bad":false,"root":false}`
	if got != want {
		t.Errorf("got %s, want %s", got, want)
	}
	if got := string(CheckPermissions(nil, checks, TypeThing).AppendJSON(nil)); got != `{"read":true,"write":true,"writeOther":true,"msg":false,"policyType":false,"none":false,"bad":false,"root":true}` {
		t.Errorf("sudo: %s", got)
	}
	if got := string(NoPermissions(checks).AppendJSON(nil)); got != `{"read":false,"write":false,"writeOther":false,"msg":false,"policyType":false,"none":false,"bad":false,"root":false}` {
		t.Errorf("no entity: %s", got)
	}
}
