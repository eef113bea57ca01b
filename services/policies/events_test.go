package policies

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/entity"
)

// eventsPolicy has, besides basePolicy's owner, reader and partial reader,
// a subject with thing permissions only and one whose entry applies to
// another namespace: neither may read the policy.
const eventsPolicy = `{"entries":{
	"owner":{"subjects":{"nginx:ditto":{"type":"pre-authenticated"}},"resources":{
		"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}},
	"reader":{"subjects":{"nginx:reader":{"type":"t"}},"resources":{"policy:/":{"grant":["READ"],"revoke":[]}}},
	"partial":{"subjects":{"nginx:partial":{"type":"t"}},"resources":{
		"policy:/entries/owner":{"grant":["READ"],"revoke":[]},
		"policy:/entries/owner/subjects":{"grant":[],"revoke":["READ"]}}},
	"things":{"subjects":{"nginx:things":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}},
	"elsewhere":{"subjects":{"nginx:elsewhere":{"type":"t"}},"namespaces":["com.acme"],"resources":{
		"policy:/":{"grant":["READ"],"revoke":[]}}}}}`

const eventsPolicyID = "org.eclipse.ditto:events"

func eventsHandler() *handler {
	return &handler{granularity: time.Hour, now: func() time.Time { return testNow }}
}

func policyCommand(action, path, value string) *entity.Command {
	topic := protocol.NewTopic(eventsPolicyID, protocol.GroupPolicies, "", protocol.CriterionCommands, action)
	env := protocol.Envelope{Topic: topic.String(), Path: path, Headers: protocol.Headers{"correlation-id": "c1"}}
	if value != "" {
		env.Value = []byte(value)
	}
	return &entity.Command{Envelope: env, Topic: topic, EntityID: eventsPolicyID, Auth: []string{"nginx:ditto"}}
}

func checkEventHeaders(t *testing.T, name string, got protocol.Headers, wantReadSubjects string) {
	t.Helper()
	want := protocol.Headers{"correlation-id": "c1", "ditto-originator": "nginx:ditto", "ditto-read-subjects": wantReadSubjects}
	if !maps.Equal(got, want) {
		t.Errorf("%s: event headers\n got %v\nwant %v", name, got, want)
	}
}

// The event of a policy's creation, through the handler, says who may read
// it.
func TestCreatedEventReadSubjects(t *testing.T) {
	t.Parallel()
	out, err := eventsHandler().Handle(context.Background(), policyCommand(protocol.ActionCreate, "/", eventsPolicy), &entity.State{ID: eventsPolicyID})
	if err != nil {
		t.Fatal(err)
	}
	if out.Event == nil {
		t.Fatal("no event")
	}
	checkEventHeaders(t, "created", out.Event.Headers, `["nginx:ditto","nginx:partial","nginx:reader"]`)
	if err := out.Event.Headers.Validate(); err != nil {
		t.Errorf("event headers: %v", err)
	}
}

func TestEventReadSubjects(t *testing.T) {
	t.Parallel()
	const readers = `["nginx:ditto","nginx:partial","nginx:reader"]`
	policy := jsonv.MustParse(eventsPolicy)
	tests := []struct {
		name   string
		path   string
		policy jsonv.Value
		want   string
	}{
		{"whole policy", "/", policy, readers},
		// nginx:partial cannot read the subjects but reads part of the
		// policy: it gets the event, as a thing's partial readers do.
		{"path a partial reader cannot read", "/entries/owner/subjects", policy, readers},
		{"resource key with slashes", "/entries/things/resources/thing:/attributes", policy, readers},
		{"the policy after the change counts", "/entries/reader",
			policy.Set(jsonv.Pointer{"entries", "reader", "resources"}, jsonv.MustParse(`{"policy:/":{"grant":[],"revoke":["READ"]}}`)),
			`["nginx:ditto","nginx:partial"]`},
		{"a subject gaining READ", "/entries/things/resources/policy:/",
			policy.Set(jsonv.Pointer{"entries", "things", "resources", "policy:/"}, jsonv.MustParse(`{"grant":["READ"],"revoke":[]}`)),
			`["nginx:ditto","nginx:partial","nginx:reader","nginx:things"]`},
	}
	for _, tc := range tests {
		r, err := parseRoute(tc.path)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		c := &call{h: eventsHandler(), cmd: policyCommand(protocol.ActionModify, tc.path, ""), r: r, norm: normalizer{now: testNow, granularity: time.Hour}}
		got, err := c.eventHeaders(tc.policy)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		checkEventHeaders(t, tc.name, got, tc.want)
	}
}

// Published policy events carry their read subjects: computed from the
// policy after the change, and from the policy before it for a deletion.
func TestPublishedEventsCarryReadSubjects(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, testConfig())
	id := f.newID()
	cons, err := f.js.OrderedConsumer(context.Background(), f.names.PolicyEventsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{f.names.PolicyEvents("org.eclipse.ditto")},
	})
	if err != nil {
		t.Fatal(err)
	}
	const readers = `["nginx:ditto","nginx:partial","nginx:reader"]`
	steps := []struct {
		action, path, value string
		want                string
	}{
		{"create", "/", eventsPolicy, readers},
		{"modify", "/entries/reader/resources/policy:/", `{"grant":[],"revoke":["READ"]}`, `["nginx:ditto","nginx:partial"]`},
		{"delete", "/entries/partial", "", `["nginx:ditto"]`},
		{"delete", "/", "", `["nginx:ditto"]`},
	}
	for i, s := range steps {
		env := f.send(t, id, s.action, s.path, s.value, protocol.Headers{"correlation-id": "c1"}, owner)
		if env.Status >= 300 {
			t.Fatalf("step %d: status %d %s", i, env.Status, env.Value)
		}
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("step %d: no event: %v", i, err)
		}
		ev, err := protocol.DecodeEnvelope(m.Data())
		if err != nil {
			t.Fatal(err)
		}
		checkEventHeaders(t, s.action+" "+s.path, ev.Headers, s.want)
	}
}
