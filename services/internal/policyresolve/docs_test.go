package policyresolve

import (
	"slices"
	"testing"

	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// The examples of basic-policy.md (Ditto 3.9): sections "Policy imports",
// "Entry references", "Transitive import resolution" and "Namespace root
// policies". Elided parts ("...") of the docs are filled in minimally.

// importableExample is the docs' policy with the four importable types,
// subjects and resources filled in.
const importableExample = `{
  "policyId": "ditto:imported-policy",
  "entries": {
    "DEFAULT": {
      "subjects": { "test:default": { "type": "t" } },
      "resources": { "thing:/attributes/default": { "grant": ["READ"], "revoke": [] } }
    },
    "IMPLICIT": {
      "subjects": { "test:implicit": { "type": "t" } },
      "resources": { "thing:/attributes/implicit": { "grant": ["READ"], "revoke": [] } },
      "namespaces": [ "com.acme", "com.acme.*" ],
      "importable": "implicit",
      "allowedAdditions": [ "subjects" ]
    },
    "EXPLICIT": {
      "subjects": { "test:explicit": { "type": "t" } },
      "resources": { "thing:/attributes/explicit": { "grant": ["READ"], "revoke": [] } },
      "importable": "explicit",
      "allowedAdditions": [ "subjects", "resources", "namespaces" ]
    },
    "NEVER": {
      "subjects": { "test:never": { "type": "t" } },
      "resources": { "thing:/attributes/never": { "grant": ["READ"], "revoke": [] } },
      "importable": "never"
    }
  }
}`

// anotherImported holds the docs' tenant-scoped reader entry, plus an
// explicit entry the importing policy does not list.
const anotherImported = `{
  "policyId": "ditto:another-imported-policy",
  "entries": {
    "TENANT_READER": {
      "subjects": { "test:bob": { "type": "pre-authenticated" } },
      "resources": { "thing:/": { "grant": [ "READ" ], "revoke": [] } },
      "namespaces": [ "com.acme", "com.acme.*" ]
    },
    "EXPLICIT": {
      "subjects": { "test:another-explicit": { "type": "t" } },
      "resources": { "thing:/": { "grant": [ "READ" ], "revoke": [] } },
      "importable": "explicit"
    }
  }
}`

const importingExample = `{
  "policyId": "ditto:importing-policy",
  "entries": {
    "owner": {
      "subjects": { "test:owner": { "type": "t" } },
      "resources": { "policy:/": { "grant": ["READ", "WRITE"], "revoke": [] } }
    }
  },
  "imports": {
    "ditto:imported-policy": { "entries": [ "EXPLICIT" ] },
    "ditto:another-imported-policy": { }
  }
}`

// plant43 is the docs' entry referencing an imported and a local entry,
// in a policy around it.
const plant43 = `{
  "policyId": "energy-corp:plant-43-policy",
  "imports": { "energy-corp:power-plant-roles": {} },
  "entries": {
    "shared-subjects": {
      "subjects": { "integration:shift-leads": { "type": "group" } },
      "resources": {}
    },
    "operator": {
      "references": [
        { "import": "energy-corp:power-plant-roles", "entry": "operator" },
        { "entry": "shared-subjects" }
      ],
      "subjects": {
        "integration:plant42-operators": { "type": "operator-group" }
      }
    }
  }
}`

// The "Deeper nesting" chain A -> B -> C -> D.
const (
	chainD = `{"policyId": "ex:d", "entries": {"role": {
	  "subjects": {},
	  "resources": {"thing:/attributes": {"grant": ["READ"], "revoke": []}},
	  "allowedAdditions": ["subjects"]}}}`
	chainC = `{"policyId": "ex:c", "imports": {"ex:d": {}}, "entries": {"role": {
	  "references": [{"import": "ex:d", "entry": "role"}],
	  "subjects": {"test:c-user": {"type": "t"}}}}}`
	chainB = `{"policyId": "ex:b", "imports": {"ex:c": {"transitiveImports": ["ex:d"]}}, "entries": {}}`
	chainA = `{"policyId": "ex:a", "imports": {"ex:b": {"transitiveImports": ["ex:c"]}}, "entries": {"role": {
	  "references": [{"import": "ex:b", "entry": "imported-ex:c-role"}],
	  "subjects": {"test:a-user": {"type": "t"}}}}}`
	chainANoTransitive = `{"policyId": "ex:a", "imports": {"ex:b": {}}, "entries": {"role": {
	  "references": [{"import": "ex:b", "entry": "imported-ex:c-role"}],
	  "subjects": {"test:a-user": {"type": "t"}}}}}`
)

const (
	tenantRootID = "org.eclipse.ditto:tenant-root"
	sensorPolicy = `{
  "policyId": "org.eclipse.ditto.sensors:sensor-1",
  "entries": {
    "TENANT_READER": {
      "subjects": { "pre:local-reader": { "type": "local" } },
      "resources": { "thing:/attributes": { "grant": ["READ"], "revoke": [] } }
    }
  }
}`
	basePolicy = `{
  "policyId": "org.eclipse.ditto:base",
  "entries": {
    "owner": {
      "subjects": { "pre:owner": { "type": "t" } },
      "resources": { "thing:/": { "grant": ["READ", "WRITE"], "revoke": [] } }
    }
  }
}`
)

func TestDocumentationExamples(t *testing.T) {
	t.Parallel()
	powerPlantRoles := readFile(t, "power-plant-roles.json")
	fleetRoles, fleetWest := readFile(t, "fleet-roles.json"), readFile(t, "fleet-west.json")
	tenantRoot := readFile(t, "tenant-root.json")
	tenantRoots := map[string][]string{"org.eclipse.ditto.*": {tenantRootID}}

	tests := []struct {
		name    string
		policy  string
		stored  []string
		roots   map[string][]string
		entries string // the resolved entries; "" to skip
		labels  []string
		deps    []string
		checks  []check
	}{
		{
			name:   "importable types and imports",
			policy: importingExample,
			stored: []string{importableExample, anotherImported},
			entries: `{
			  "owner": {"subjects": {"test:owner": {"type": "t"}}, "resources": {"policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
			  "imported-ditto:imported-policy-DEFAULT": {
			    "subjects": {"test:default": {"type": "t"}},
			    "resources": {"thing:/attributes/default": {"grant": ["READ"], "revoke": []}}},
			  "imported-ditto:imported-policy-IMPLICIT": {
			    "subjects": {"test:implicit": {"type": "t"}},
			    "resources": {"thing:/attributes/implicit": {"grant": ["READ"], "revoke": []}},
			    "namespaces": ["com.acme", "com.acme.*"], "importable": "implicit", "allowedAdditions": ["subjects"]},
			  "imported-ditto:imported-policy-EXPLICIT": {
			    "subjects": {"test:explicit": {"type": "t"}},
			    "resources": {"thing:/attributes/explicit": {"grant": ["READ"], "revoke": []}},
			    "importable": "explicit", "allowedAdditions": ["subjects", "resources", "namespaces"]},
			  "imported-ditto:another-imported-policy-TENANT_READER": {
			    "subjects": {"test:bob": {"type": "pre-authenticated"}},
			    "resources": {"thing:/": {"grant": ["READ"], "revoke": []}},
			    "namespaces": ["com.acme", "com.acme.*"]}
			}`,
			deps: []string{"ditto:another-imported-policy", "ditto:imported-policy"},
			checks: []check{
				{"test:default", "ditto", "thing:/attributes/default", enforcer.Read, true},
				{"test:explicit", "ditto", "thing:/attributes/explicit", enforcer.Read, true},
				{"test:never", "ditto", "thing:/attributes/never", enforcer.Read, false},
				{"test:another-explicit", "ditto", "thing:/", enforcer.Read, false},
				{"test:implicit", "com.acme", "thing:/attributes/implicit", enforcer.Read, true},
				{"test:implicit", "ditto", "thing:/attributes/implicit", enforcer.Read, false},
				{"test:bob", "com.acme.vehicles", "thing:/features", enforcer.Read, true},
				{"test:bob", "com.acme", "thing:/", enforcer.Read, true},
				{"test:bob", "com.acmex", "thing:/", enforcer.Read, false},
				{"test:bob", "com.acme", "thing:/", enforcer.Write, false},
			},
		},
		{
			name:   "power plant template",
			policy: readFile(t, "plant-42-policy.json"),
			stored: []string{powerPlantRoles},
			entries: `{
			  "operator": {
			    "subjects": {"integration:plant42-operators": {"type": "operator-group"}},
			    "resources": {
			      "thing:/features/reactor": {"grant": ["READ", "WRITE"], "revoke": []},
			      "thing:/features/turbine": {"grant": ["READ", "WRITE"], "revoke": []},
			      "thing:/features/cooling": {"grant": ["READ", "WRITE"], "revoke": []}},
			    "allowedAdditions": ["subjects"],
			    "references": [{"import": "energy-corp:power-plant-roles", "entry": "operator"}]},
			  "safetyInspector": {
			    "subjects": {"oauth2:frank.grimes@energy-corp.com": {"type": "employee"}},
			    "resources": {
			      "thing:/features/reactor": {"grant": ["READ"], "revoke": []},
			      "thing:/features/cooling": {"grant": ["READ"], "revoke": []},
			      "thing:/features/safetyLogs": {"grant": ["READ"], "revoke": []}},
			    "allowedAdditions": ["subjects"],
			    "references": [{"import": "energy-corp:power-plant-roles", "entry": "safetyInspector"}]},
			  "admin": {
			    "subjects": {"oauth2:plant-42-admin@energy-corp.com": {"type": "employee"}},
			    "resources": {"policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
			  "imported-energy-corp:power-plant-roles-operator": {
			    "subjects": {},
			    "resources": {
			      "thing:/features/reactor": {"grant": ["READ", "WRITE"], "revoke": []},
			      "thing:/features/turbine": {"grant": ["READ", "WRITE"], "revoke": []},
			      "thing:/features/cooling": {"grant": ["READ", "WRITE"], "revoke": []}},
			    "importable": "implicit", "allowedAdditions": ["subjects"]},
			  "imported-energy-corp:power-plant-roles-safetyInspector": {
			    "subjects": {},
			    "resources": {
			      "thing:/features/reactor": {"grant": ["READ"], "revoke": []},
			      "thing:/features/cooling": {"grant": ["READ"], "revoke": []},
			      "thing:/features/safetyLogs": {"grant": ["READ"], "revoke": []}},
			    "importable": "implicit", "allowedAdditions": ["subjects"]}
			}`,
			deps: []string{"energy-corp:power-plant-roles"},
			checks: []check{
				{"integration:plant42-operators", "energy-corp", "thing:/features/reactor", enforcer.Write, true},
				{"integration:plant42-operators", "energy-corp", "thing:/features/turbine/properties", enforcer.Read, true},
				{"integration:plant42-operators", "energy-corp", "thing:/features/safetyLogs", enforcer.Read, false},
				{"oauth2:frank.grimes@energy-corp.com", "energy-corp", "thing:/features/safetyLogs", enforcer.Read, true},
				{"oauth2:frank.grimes@energy-corp.com", "energy-corp", "thing:/features/reactor", enforcer.Read, true},
				{"oauth2:frank.grimes@energy-corp.com", "energy-corp", "thing:/features/reactor", enforcer.Write, false},
				{"oauth2:frank.grimes@energy-corp.com", "energy-corp", "thing:/features/turbine", enforcer.Read, false},
				{"oauth2:plant-42-admin@energy-corp.com", "energy-corp", "policy:/", enforcer.Write, true},
				{"oauth2:plant-42-admin@energy-corp.com", "energy-corp", "thing:/features/reactor", enforcer.Read, false},
			},
		},
		{
			name:   "reference to an imported and a local entry",
			policy: plant43,
			stored: []string{powerPlantRoles},
			labels: []string{"shared-subjects", "operator",
				"imported-energy-corp:power-plant-roles-operator", "imported-energy-corp:power-plant-roles-safetyInspector"},
			deps: []string{"energy-corp:power-plant-roles"},
			checks: []check{
				{"integration:shift-leads", "energy-corp", "thing:/features/turbine", enforcer.Write, true},
				{"integration:plant42-operators", "energy-corp", "thing:/features/cooling", enforcer.Write, true},
				{"integration:shift-leads", "energy-corp", "thing:/features/safetyLogs", enforcer.Read, false},
			},
		},
		{
			name:   "fleet roles through fleet-west to truck-42",
			policy: readFile(t, "truck-42.json"),
			stored: []string{fleetRoles, fleetWest},
			entries: `{
			  "driver": {
			    "subjects": {
			      "oauth2:alice@acme.com": {"type": "employee"},
			      "oauth2:bob@acme.com": {"type": "employee"},
			      "oauth2:charlie@acme.com": {"type": "temp-driver"}},
			    "resources": {
			      "thing:/features/location": {"grant": ["READ"], "revoke": []},
			      "thing:/features/fuel": {"grant": ["READ"], "revoke": []},
			      "message:/features/fuel/inbox": {"grant": ["WRITE"], "revoke": []}},
			    "namespaces": ["acme.vehicle"],
			    "allowedAdditions": ["subjects"],
			    "references": [{"import": "acme:fleet-west", "entry": "driver"}]},
			  "owner": {
			    "subjects": {"oauth2:fleet-admin@acme.com": {"type": "admin"}},
			    "resources": {"policy:/": {"grant": ["READ", "WRITE"], "revoke": []}}},
			  "imported-acme:fleet-west-driver": {
			    "subjects": {
			      "oauth2:alice@acme.com": {"type": "employee"},
			      "oauth2:bob@acme.com": {"type": "employee"}},
			    "resources": {
			      "thing:/features/location": {"grant": ["READ"], "revoke": []},
			      "thing:/features/fuel": {"grant": ["READ"], "revoke": []},
			      "message:/features/fuel/inbox": {"grant": ["WRITE"], "revoke": []}},
			    "namespaces": ["acme.vehicle"],
			    "allowedAdditions": ["subjects"]},
			  "imported-acme:fleet-west-imported-acme:fleet-roles-driver": {
			    "subjects": {},
			    "resources": {
			      "thing:/features/location": {"grant": ["READ"], "revoke": []},
			      "thing:/features/fuel": {"grant": ["READ"], "revoke": []},
			      "message:/features/fuel/inbox": {"grant": ["WRITE"], "revoke": []}},
			    "namespaces": ["acme.vehicle"],
			    "allowedAdditions": ["subjects"],
			    "importable": "implicit"}
			}`,
			deps: []string{"acme:fleet-roles", "acme:fleet-west"},
			checks: []check{
				{"oauth2:charlie@acme.com", "acme.vehicle", "thing:/features/location", enforcer.Read, true},
				{"oauth2:charlie@acme.com", "acme.vehicle", "message:/features/fuel/inbox", enforcer.Write, true},
				{"oauth2:charlie@acme.com", "acme.vehicle", "thing:/features/location", enforcer.Write, false},
				{"oauth2:alice@acme.com", "acme.vehicle", "thing:/features/fuel", enforcer.Read, true},
				{"oauth2:charlie@acme.com", "acme.trailer", "thing:/features/location", enforcer.Read, false},
				{"oauth2:fleet-admin@acme.com", "acme.vehicle", "policy:/", enforcer.Write, true},
			},
		},
		{
			name: "truck-42 without transitiveImports gets no template resources",
			policy: `{"policyId": "acme.vehicle:truck-42",
			  "imports": {"acme:fleet-west": {}},
			  "entries": {"driver": {
			    "references": [{"import": "acme:fleet-west", "entry": "driver"}],
			    "subjects": {"oauth2:charlie@acme.com": {"type": "temp-driver"}}}}}`,
			stored: []string{fleetRoles, fleetWest},
			labels: []string{"driver", "imported-acme:fleet-west-driver"},
			deps:   []string{"acme:fleet-west"},
			checks: []check{
				{"oauth2:charlie@acme.com", "acme.vehicle", "thing:/features/location", enforcer.Read, false},
				{"oauth2:alice@acme.com", "acme.vehicle", "thing:/features/location", enforcer.Read, false},
			},
		},
		{
			name:   "deeper nesting A to D",
			policy: chainA,
			stored: []string{chainB, chainC, chainD},
			labels: []string{"role", "imported-ex:b-imported-ex:c-role", "imported-ex:b-imported-ex:c-imported-ex:d-role"},
			deps:   []string{"ex:b", "ex:c", "ex:d"},
			checks: []check{
				{"test:c-user", "ex", "thing:/attributes/x", enforcer.Read, true},
				{"test:a-user", "ex", "thing:/attributes/x", enforcer.Read, true},
				{"test:a-user", "ex", "thing:/attributes/x", enforcer.Write, false},
			},
		},
		{
			name:   "deeper nesting without transitiveImports at A",
			policy: chainANoTransitive,
			stored: []string{chainB, chainC, chainD},
			labels: []string{"role"},
			deps:   []string{"ex:b"},
			checks: []check{
				{"test:c-user", "ex", "thing:/attributes/x", enforcer.Read, false},
				{"test:a-user", "ex", "thing:/attributes/x", enforcer.Read, false},
			},
		},
		{
			name:   "namespace root in a sub-namespace",
			policy: sensorPolicy,
			stored: []string{tenantRoot},
			roots:  tenantRoots,
			entries: `{
			  "TENANT_READER": {
			    "subjects": {"pre:local-reader": {"type": "local"}},
			    "resources": {"thing:/attributes": {"grant": ["READ"], "revoke": []}}},
			  "nsimported-org.eclipse.ditto:tenant-root-TENANT_READER": {
			    "subjects": {"pre:tenant-reader": {"type": "tenant read access"}},
			    "resources": {
			      "thing:/": {"grant": ["READ"], "revoke": []},
			      "policy:/": {"grant": ["READ"], "revoke": []},
			      "message:/": {"grant": ["READ"], "revoke": []}},
			    "importable": "implicit"}
			}`,
			deps: []string{tenantRootID},
			checks: []check{
				{"pre:tenant-reader", "org.eclipse.ditto.sensors", "thing:/", enforcer.Read, true},
				{"pre:tenant-reader", "org.eclipse.ditto.sensors", "policy:/", enforcer.Read, true},
				{"pre:tenant-reader", "org.eclipse.ditto.sensors", "thing:/", enforcer.Write, false},
				{"pre:local-reader", "org.eclipse.ditto.sensors", "thing:/attributes", enforcer.Read, true},
				{"pre:local-reader", "org.eclipse.ditto.sensors", "thing:/features", enforcer.Read, false},
			},
		},
		{
			name:   "namespace root pattern does not match the base namespace",
			policy: basePolicy,
			stored: []string{tenantRoot},
			roots:  tenantRoots,
			labels: []string{"owner"},
			checks: []check{
				{"pre:tenant-reader", "org.eclipse.ditto", "thing:/", enforcer.Read, false},
				{"pre:owner", "org.eclipse.ditto", "thing:/", enforcer.Write, true},
			},
		},
		{
			name:   "namespace root is not merged into itself",
			policy: tenantRoot,
			stored: []string{tenantRoot},
			roots:  map[string][]string{"org.eclipse.ditto": {tenantRootID}, "org.eclipse.ditto.*": {tenantRootID}},
			labels: []string{"TENANT_READER"},
			checks: []check{
				{"pre:tenant-reader", "org.eclipse.ditto", "thing:/", enforcer.Read, true},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var opt Options
			if tt.roots != nil {
				roots, err := NamespaceRootsFromConfig(tt.roots)
				if err != nil {
					t.Fatal(err)
				}
				opt.NamespaceRoots = roots
			}
			res := resolve(t, tt.policy, newStore(t, tt.stored...), opt)
			if tt.entries != "" {
				wantEntries(t, res.Policy, tt.entries)
			}
			if tt.labels != nil {
				if got := labels(res.Policy); !slices.Equal(got, tt.labels) {
					t.Errorf("labels = %q, want %q", got, tt.labels)
				}
			}
			if !slices.Equal(res.DependsOn, tt.deps) {
				t.Errorf("DependsOn = %q, want %q", res.DependsOn, tt.deps)
			}
			checkPermissions(t, res.Policy, tt.checks)
		})
	}
}
