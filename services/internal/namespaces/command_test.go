package namespaces

import (
	"encoding/json"
	"errors"
	"net/http"
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, typ, data string
		want            Command
		ok              bool
		code            string // of the error, "" for none
		message         string // of the error, when given
	}{
		{"block", TypeBlock, `{"type":"namespaces.commands:blockNamespace","namespace":"org.eclipse.ditto"}`,
			Command{Type: TypeBlock, Namespace: "org.eclipse.ditto"}, true, "", ""},
		{"unblock", TypeUnblock, `{"type":"namespaces.commands:unblockNamespace","namespace":"a-b_c.d1"}`,
			Command{Type: TypeUnblock, Namespace: "a-b_c.d1"}, true, "", ""},
		{"purge", TypePurge, `{"type":"namespaces.commands:purgeNamespace","namespace":"x"}`,
			Command{Type: TypePurge, Namespace: "x"}, true, "", ""},
		{"other type", "things.commands:retrieveThing", `{}`, Command{}, false, "", ""},
		{"missing namespace", TypeBlock, `{"type":"namespaces.commands:blockNamespace"}`, Command{}, true,
			protocol.CodeJSONFieldMissing, "JSON did not include required </namespace> field!"},
		{"namespace not a string", TypePurge, `{"namespace":42}`, Command{}, true,
			protocol.CodeJSONInvalid, "Value <42> for </namespace> is not of type <String>!"},
		{"namespace null", TypePurge, `{"namespace":null}`, Command{}, true,
			protocol.CodeJSONInvalid, "Value <null> for </namespace> is not of type <String>!"},
		{"empty namespace", TypeBlock, `{"namespace":""}`, Command{}, true,
			protocol.CodeNamespacedEntityIDInvalid, "The namespace '' is not valid!"},
		{"invalid namespace", TypeBlock, `{"namespace":"a b"}`, Command{}, true,
			protocol.CodeNamespacedEntityIDInvalid, "The namespace 'a b' is not valid!"},
		{"namespace with colon", TypePurge, `{"namespace":"a:b"}`, Command{}, true, protocol.CodeNamespacedEntityIDInvalid, ""},
		{"namespace with a digit first", TypePurge, `{"namespace":"1a"}`, Command{}, true, protocol.CodeNamespacedEntityIDInvalid, ""},
		{"not an object", TypeBlock, `[]`, Command{}, true, protocol.CodeJSONInvalid, "Failed to parse JSON string '[]'!"},
		{"not JSON", TypeBlock, `{`, Command{}, true, protocol.CodeJSONInvalid, ""},
		{"shutdown purge-namespace", TypeShutdown,
			`{"type":"common.commands:shutdown","reason":{"type":"purge-namespace","details":"org.acme"}}`,
			Command{Type: TypeShutdown, Reason: ReasonPurgeNamespace, Namespace: "org.acme"}, true, "", ""},
		{"shutdown without reason", TypeShutdown, `{"type":"common.commands:shutdown"}`,
			Command{Type: TypeShutdown}, true, "", ""},
		{"shutdown with another reason", TypeShutdown, `{"reason":{"type":"rolling-update","details":"x y"}}`,
			Command{Type: TypeShutdown, Reason: "rolling-update"}, true, "", ""},
		{"shutdown purge-entities", TypeShutdown, `{"reason":{"type":"purge-entities","details":["a:b"]}}`,
			Command{Type: TypeShutdown, Reason: "purge-entities"}, true, "", ""},
		{"shutdown reason without type", TypeShutdown, `{"reason":{}}`, Command{Type: TypeShutdown}, true, "", ""},
		{"shutdown reason not an object", TypeShutdown, `{"reason":"purge-namespace"}`, Command{}, true,
			protocol.CodeJSONInvalid, `Value <"purge-namespace"> for </reason> is not of type <JsonObject>!`},
		{"shutdown reason type not a string", TypeShutdown, `{"reason":{"type":1}}`, Command{}, true, protocol.CodeJSONInvalid, ""},
		{"shutdown purge-namespace without details", TypeShutdown, `{"reason":{"type":"purge-namespace"}}`, Command{}, true,
			protocol.CodeJSONFieldMissing, "JSON did not include required </details> field!"},
		{"shutdown purge-namespace details not a string", TypeShutdown, `{"reason":{"type":"purge-namespace","details":["x"]}}`,
			Command{}, true, protocol.CodeJSONInvalid, ""},
		{"shutdown purge-namespace invalid namespace", TypeShutdown, `{"reason":{"type":"purge-namespace","details":"x."}}`,
			Command{}, true, protocol.CodeNamespacedEntityIDInvalid, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok, perr := Parse(tt.typ, []byte(tt.data))
			if ok != tt.ok {
				t.Fatalf("ok = %t, want %t", ok, tt.ok)
			}
			if tt.code == "" {
				if perr != nil {
					t.Fatalf("got error %v, want none", perr)
				}
				if got != tt.want {
					t.Errorf("got %+v, want %+v", got, tt.want)
				}
				return
			}
			if !errors.Is(perr, &protocol.Error{Code: tt.code}) || perr.Status != http.StatusBadRequest {
				t.Fatalf("got error %v, want %s (400)", perr, tt.code)
			}
			if tt.message != "" && perr.Message != tt.message {
				t.Errorf("message %q, want %q", perr.Message, tt.message)
			}
		})
	}
}

func TestResponses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    Response
		want string
	}{
		{"block", blockResponse(TypeBlockResponse, "ns"),
			`{"type":"namespaces.responses:blockNamespace","status":200,"namespace":"ns","resourceType":"namespaces"}`},
		{"unblock", blockResponse(TypeUnblockResponse, "ns"),
			`{"type":"namespaces.responses:unblockNamespace","status":200,"namespace":"ns","resourceType":"namespaces"}`},
		{"purged", purgeResponse("ns", ResourceThing, true),
			`{"type":"namespaces.responses:purgeNamespace","status":200,"namespace":"ns","resourceType":"thing","successful":true}`},
		{"purge failed", purgeResponse("ns", ResourceThingSearch, false),
			`{"type":"namespaces.responses:purgeNamespace","status":500,"namespace":"ns","resourceType":"thing-search","successful":false}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.r)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got %s, want %s", b, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, typ := range []string{TypeBlock, TypeUnblock, TypePurge, TypeShutdown} {
		f.Add(typ, `{"namespace":"org.acme"}`)
		f.Add(typ, `{"reason":{"type":"purge-namespace","details":"org.acme"}}`)
		f.Add(typ, `{"namespace":"a b","reason":{"type":"purge-namespace","details":""}}`)
		f.Add(typ, `{"reason":null}`)
	}
	f.Add("x", `{}`)
	f.Fuzz(func(t *testing.T, typ, data string) {
		c, ok, perr := Parse(typ, []byte(data))
		switch {
		case !ok:
			if perr != nil || c != (Command{}) {
				t.Fatalf("an unhandled type gave %+v, %v", c, perr)
			}
		case perr != nil:
			if perr.Status != http.StatusBadRequest || c != (Command{}) {
				t.Fatalf("an error gave %+v with status %d", c, perr.Status)
			}
		default:
			if c.Type != typ {
				t.Fatalf("type %q, want %q", c.Type, typ)
			}
			// Whatever is executed has a namespace an entity can have.
			if (typ != TypeShutdown || c.Reason == ReasonPurgeNamespace) && (c.Namespace == "" || !protocol.ValidateNamespace(c.Namespace)) {
				t.Fatalf("parsed namespace %q is not valid", c.Namespace)
			}
			if typ == TypeShutdown && c.Reason != ReasonPurgeNamespace && c.Namespace != "" {
				t.Fatalf("a shutdown for %q names namespace %q", c.Reason, c.Namespace)
			}
		}
	})
}
