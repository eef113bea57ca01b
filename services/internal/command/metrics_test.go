package command

import "testing"

func TestCommandType(t *testing.T) {
	tests := []struct{ topic, path, want string }{
		{"org.acme/t/things/twin/commands/create", "/", "things.commands:createThing"},
		{"org.acme/t/things/twin/commands/modify", "/attributes/a/b", "things.commands:modifyAttribute"},
		{"org.acme/t/things/twin/commands/retrieve", "/attributes", "things.commands:retrieveAttributes"},
		{"org.acme/t/things/twin/commands/delete", "/features/lamp", "things.commands:deleteFeature"},
		{"org.acme/t/things/twin/commands/modify", "/features/lamp/properties", "things.commands:modifyFeatureProperties"},
		{"org.acme/t/things/twin/commands/modify", "/features/lamp/properties/on/x", "things.commands:modifyFeatureProperty"},
		{"org.acme/t/things/twin/commands/retrieve", "/features/lamp/desiredProperties/on", "things.commands:retrieveFeatureDesiredProperty"},
		{"org.acme/t/things/twin/commands/modify", "/features/lamp/definition", "things.commands:modifyFeatureDefinition"},
		{"org.acme/t/things/twin/commands/modify", "/definition", "things.commands:modifyThingDefinition"},
		{"org.acme/t/things/twin/commands/modify", "/policyId", "things.commands:modifyPolicyId"},
		{"org.acme/t/things/twin/commands/merge", "/attributes/a", "things.commands:mergeThing"},
		{"org.acme/t/things/live/commands/modify", "/attributes/a", "things.commands:modifyAttribute"},
		{"org.acme/t/things/live/messages/hello", "/inbox/messages/hello", "messages.commands:sendMessage"},
		{"org.acme/t/things/twin/commands/modify", "/nonsense/x", "things.commands:modifyOther"},
		{"org.acme/p/policies/commands/create", "/", "policies.commands:createPolicy"},
		{"org.acme/p/policies/commands/modify", "/entries/owner/subjects/nginx:ditto", "policies.commands:modifySubject"},
		{"org.acme/p/policies/commands/retrieve", "/entries/owner/resources", "policies.commands:retrieveResources"},
		{"org.acme/p/policies/commands/delete", "/entries/owner", "policies.commands:deletePolicyEntry"},
		{"org.acme/p/policies/commands/retrieve", "/imports", "policies.commands:retrievePolicyImports"},
		{"org.acme/p/policies/commands/sudoRetrieve", "", "policies.commands:sudoRetrievePolicy"},
		{"", "", "other"},
		{"a/b/connections/commands/x", "", "other"},
	}
	for _, tt := range tests {
		if got := CommandType(tt.topic, tt.path); got != tt.want {
			t.Errorf("CommandType(%q, %q) = %q, want %q", tt.topic, tt.path, got, tt.want)
		}
	}
}

// TestCommandKeyAllocations: finding a request's histogram costs no
// allocation once its child exists.
func TestCommandKeyAllocations(t *testing.T) {
	topic, path := "org.acme/t/things/twin/commands/modify", "/features/lamp/properties/on"
	if n := testing.AllocsPerRun(100, func() {
		_ = metricKey{topic: topicTail(topic), resource: resourceOf(topic, path), outcome: OutcomeSuccess}
	}); n != 0 {
		t.Errorf("%v allocations, want 0", n)
	}
}
