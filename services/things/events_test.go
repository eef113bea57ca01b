package things

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
)

const (
	thingID      = "org.eclipse.ditto:t"
	defaultPID   = "org.eclipse.ditto:default"
	restrictPID  = "org.eclipse.ditto:restricted"
	goneLoadedID = "org.eclipse.ditto:gone"
)

// restrictedPolicy has an owner, a subject reading the attributes but their
// secret, a subject reading one feature, and one whose READ is revoked.
const restrictedPolicy = `{"policyId":"org.eclipse.ditto:restricted","entries":{
  "OWNER":{"subjects":{"nginx:owner":{"type":"t"}},"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}},
  "ATTRS":{"subjects":{"nginx:attrs":{"type":"t"}},"resources":{
    "thing:/attributes":{"grant":["READ"],"revoke":[]},"thing:/attributes/secret":{"grant":[],"revoke":["READ"]}}},
  "FEAT":{"subjects":{"nginx:feat":{"type":"t"}},"resources":{"thing:/features/A":{"grant":["READ"],"revoke":[]}}},
  "BLIND":{"subjects":{"nginx:blind":{"type":"t"}},"resources":{"thing:/":{"grant":["WRITE"],"revoke":["READ"]}}}}}`

func thingDoc(policyID string) jsonv.Value {
	return jsonv.MustParse(`{"thingId":"org.eclipse.ditto:t","policyId":"` + policyID + `",
	  "attributes":{"foo":1,"bar":{"x":1,"y":2},"secret":"s"},"features":{"A":{"properties":{"baz":1}},"B":{}}}`)
}

// eventHandler is a handler whose policy cache holds the test policies, as
// if the policies service had answered.
func eventHandler(t *testing.T) (*handler, map[string]*enforcer.Enforcer) {
	t.Helper()
	cache := newPolicyCache(nil, 10, time.Hour)
	enfs := map[string]*enforcer.Enforcer{}
	for id, doc := range map[string]jsonv.Value{
		defaultPID:  defaultPolicy(defaultPID, "nginx:ditto"),
		restrictPID: jsonv.MustParse(restrictedPolicy),
	} {
		enf, err := cache.compile(doc)
		if err != nil {
			t.Fatal(err)
		}
		enfs[id] = enf
		cache.entries[id] = &cachedPolicy{done: loaded, enf: enf, expires: time.Hour}
	}
	cache.entries[goneLoadedID] = &cachedPolicy{done: loaded, err: errPolicyGone, expires: time.Hour}
	return &handler{cache: cache}, enfs
}

func checkHeaders(t *testing.T, name string, got, want protocol.Headers) {
	t.Helper()
	if !maps.Equal(got, want) {
		t.Errorf("%s: headers\n got %v\nwant %v", name, got, want)
	}
}

func TestEventHeaders(t *testing.T) {
	t.Parallel()
	const (
		attrsAndFeat = `{"subjects":["nginx:attrs","nginx:feat"],"paths":{"attributes/foo":[0],"attributes/bar":[0],"features/A":[1]}}`
		restrictedRS = `["nginx:attrs","nginx:feat","nginx:owner"]`
	)
	tests := []struct {
		name string
		path string
		auth []string
		// before is the policy the command was enforced with; "" for a
		// sudo command, which loads none.
		before string
		memo   string // the thing's policy id as its State remembers it
		after  jsonv.Value
		want   protocol.Headers
	}{
		{
			name: "default policy", path: "/attributes/foo", auth: []string{"nginx:ditto"}, before: defaultPID,
			after: thingDoc(defaultPID),
			want:  protocol.Headers{"correlation-id": "c1", "ditto-originator": "nginx:ditto", "ditto-read-subjects": `["nginx:ditto"]`},
		},
		{
			name: "restricted subjects", path: "/attributes/bar", auth: []string{"nginx:owner"}, before: restrictPID,
			after: thingDoc(restrictPID),
			want: protocol.Headers{"correlation-id": "c1", "ditto-originator": "nginx:owner",
				"ditto-read-subjects": restrictedRS, "ditto-partial-access-paths": attrsAndFeat},
		},
		{
			name: "partial paths follow the thing after the change", path: "/attributes/secret", auth: []string{"nginx:owner"}, before: restrictPID,
			after: thingDoc(restrictPID).Set(jsonv.Pointer{"attributes"}, jsonv.MustParse(`{"bar":1}`)),
			want: protocol.Headers{"correlation-id": "c1", "ditto-originator": "nginx:owner",
				"ditto-read-subjects": restrictedRS, "ditto-partial-access-paths": `{"subjects":["nginx:attrs","nginx:feat"],"paths":{"attributes":[0],"features/A":[1]}}`},
		},
		{
			name: "new policy id: the new policy governs", path: "/policyId", auth: []string{"nginx:owner"}, before: restrictPID,
			after: thingDoc(defaultPID),
			want:  protocol.Headers{"correlation-id": "c1", "ditto-originator": "nginx:owner", "ditto-read-subjects": `["nginx:ditto"]`},
		},
		{
			name: "back to a restricted policy", path: "/", auth: []string{"nginx:ditto"}, before: defaultPID,
			after: thingDoc(restrictPID),
			want: protocol.Headers{"correlation-id": "c1", "ditto-originator": "nginx:ditto",
				"ditto-read-subjects": restrictedRS, "ditto-partial-access-paths": attrsAndFeat},
		},
		{
			name: "sudo command loads the policy", path: "/features/A", memo: restrictPID,
			after: thingDoc(restrictPID),
			want: protocol.Headers{"correlation-id": "c1",
				"ditto-read-subjects": restrictedRS, "ditto-partial-access-paths": attrsAndFeat},
		},
		{
			name: "thing deleted: the policy before, no partial paths", path: "/", auth: []string{"nginx:owner"}, before: restrictPID,
			after: jsonv.Null(),
			want:  protocol.Headers{"correlation-id": "c1", "ditto-originator": "nginx:owner", "ditto-read-subjects": restrictedRS},
		},
		{
			name: "thing deleted by sudo", path: "/", memo: restrictPID,
			after: jsonv.Null(),
			want:  protocol.Headers{"correlation-id": "c1", "ditto-read-subjects": restrictedRS},
		},
		{
			name: "policy that does not exist lets nobody read", path: "/policyId", auth: []string{"nginx:ditto"}, before: defaultPID,
			after: thingDoc(goneLoadedID),
			want:  protocol.Headers{"correlation-id": "c1", "ditto-originator": "nginx:ditto", "ditto-read-subjects": `[]`},
		},
	}
	for _, tc := range tests {
		h, enfs := eventHandler(t)
		res, err := parseResource(tc.path)
		if err != nil {
			t.Fatal(err)
		}
		c := &call{
			cmd: &entity.Command{
				Envelope: protocol.Envelope{Headers: protocol.Headers{"correlation-id": "c1", "response-required": "true"}},
				EntityID: thingID, Auth: tc.auth, Sudo: tc.before == "",
			},
			st:  &entity.State{ID: thingID, Memo: tc.memo},
			res: res,
		}
		if tc.before != "" {
			c.enf, c.pid = enfs[tc.before], tc.before // as authorize leaves them
		}
		got, err := h.eventHeaders(context.Background(), c, tc.after)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		checkHeaders(t, tc.name, got, tc.want)
	}
}

// An event carries the custom acknowledgements its command requested and
// their address, and nothing of them without an address (only the gateway
// sets one) or without a custom label.
func TestEventHeadersCarryAckRequests(t *testing.T) {
	t.Parallel()
	h, enfs := eventHandler(t)
	res, err := parseResource("/attributes/foo")
	if err != nil {
		t.Fatal(err)
	}
	base := protocol.Headers{"correlation-id": "c1", "ditto-originator": "nginx:ditto", "ditto-read-subjects": `["nginx:ditto"]`}
	with := func(kv ...string) protocol.Headers {
		out := maps.Clone(base)
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name string
		cmd  protocol.Headers
		want protocol.Headers
	}{
		{"custom labels and address", protocol.Headers{"requested-acks": `["twin-persisted","my-ack","search-persisted","other:ack"]`, "ditto-ackgregator-address": "ditto.acks.g.1"},
			with("requested-acks", `["my-ack","other:ack"]`, "ditto-ackgregator-address", "ditto.acks.g.1")},
		{"built-in labels only", protocol.Headers{"requested-acks": `["twin-persisted","live-response"]`, "ditto-ackgregator-address": "ditto.acks.g.2"}, base},
		{"no address", protocol.Headers{"requested-acks": `["my-ack"]`}, base},
	} {
		cmd := protocol.Headers{"correlation-id": "c1"}
		maps.Copy(cmd, tc.cmd)
		c := &call{
			cmd: &entity.Command{Envelope: protocol.Envelope{Headers: cmd}, EntityID: thingID, Auth: []string{"nginx:ditto"}},
			st:  &entity.State{ID: thingID}, res: res, enf: enfs[defaultPID], pid: defaultPID,
		}
		got, err := h.eventHeaders(context.Background(), c, thingDoc(defaultPID))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		checkHeaders(t, tc.name, got, tc.want)
	}
}

// Every header an event carries is one Ditto defines, with a value its
// definition accepts.
func TestEventHeadersAreValid(t *testing.T) {
	t.Parallel()
	h, enfs := eventHandler(t)
	res, _ := parseResource("/")
	c := &call{
		cmd: &entity.Command{Envelope: protocol.Envelope{Headers: protocol.Headers{"correlation-id": "c1"}}, EntityID: thingID, Auth: []string{"nginx:owner"}},
		st:  &entity.State{ID: thingID}, res: res, enf: enfs[restrictPID], pid: restrictPID,
	}
	got, err := h.eventHeaders(context.Background(), c, thingDoc(restrictPID))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := got[protocol.HeaderPartialAccessPaths]; !ok {
		t.Fatal("no partial access paths")
	}
	if err := got.Validate(); err != nil {
		t.Errorf("event headers %v: %v", got, err)
	}
}
