package devops

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// The things service's responder, connected as the things role, answers
// the gateway role's DevOps commands on its group and instance subjects;
// a change takes effect in the service's logging.
func TestResponderOverNATS(t *testing.T) {
	t.Parallel()
	names := streams.New("")
	srv := streamstest.StartSecured(t, names)
	out, h := sink()
	reg := NewRegistry(slog.LevelInfo, slog.LevelInfo)
	log := reg.Logger(Ditto, h)
	r, err := Serve(srv.ConnectAs(t, streams.RoleThings), names, streams.ServiceThings, "i-1", reg, log, Options{})
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, r)
	gw := srv.ConnectAs(t, streams.RoleGateway, nats.CustomInboxPrefix(streams.InboxPrefix(streams.RoleGateway)))
	ask := func(subject, cmd string) string {
		t.Helper()
		m, err := gw.Request(subject, []byte(cmd), 5*time.Second)
		if err != nil {
			t.Fatalf("request %s on %s: %v", cmd, subject, err)
		}
		return string(m.Data)
	}
	group, one := names.DevOps(streams.ServiceThings), names.DevOpsInstance(streams.ServiceThings, "i-1")
	for _, c := range []struct{ name, subject, cmd, want string }{
		{"retrieve on the group", group,
			`{"type":"devops.commands:retrieveLoggerConfig","serviceName":"things","instance":null,"allKnownLoggers":true,"includeDisabledLoggers":false}`,
			`{"type":"devops.responses:retrieveLoggerConfig","status":200,"serviceName":"things","instance":"i-1",` +
				`"loggerConfigs":[{"level":"info","logger":"ROOT"},{"level":"info","logger":"org.eclipse.ditto"}]}`},
		{"change on the instance", one,
			`{"type":"devops.commands:changeLogLevel","serviceName":"things","instance":"i-1","loggerConfig":{"level":"debug","logger":"org.eclipse.ditto"}}`,
			`{"type":"devops.responses:changeLogLevel","status":200,"serviceName":"things","instance":"i-1","successful":true}`},
		{"specific loggers", one,
			`{"type":"devops.commands:retrieveLoggerConfig","allKnownLoggers":false,"specificLoggers":["org.eclipse.ditto",1]}`,
			`{"type":"devops.responses:retrieveLoggerConfig","status":200,"serviceName":"things","instance":"i-1",` +
				`"loggerConfigs":[{"level":"debug","logger":"org.eclipse.ditto"}]}`},
		{"change without a logger is ROOT", one,
			`{"type":"devops.commands:changeLogLevel","loggerConfig":{"level":"WARN"}}`,
			`{"type":"devops.responses:changeLogLevel","status":200,"serviceName":"things","instance":"i-1","successful":true}`},
		{"bad level", one, `{"type":"devops.commands:changeLogLevel","loggerConfig":{"level":"loud"}}`,
			`{"status":400,"error":"json.invalid","message":"Invalid LogLevel!","description":"Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format."}`},
		{"unknown type", one, `{"type":"devops.commands:nope"}`,
			`{"status":400,"error":"json.type.notparsable","message":"The JSON type 'devops.commands:nope' is not supported by registry 'GlobalCommandRegistry'.","description":"Check if you sent the JSON with the correct type."}`},
		{"missing allKnownLoggers", one, `{"type":"devops.commands:retrieveLoggerConfig"}`,
			`{"status":400,"error":"json.field.missing","message":"JSON did not include required </allKnownLoggers> field!","description":"Check if all required JSON fields were set."}`},
	} {
		if got := ask(c.subject, c.cmd); !jsonEqual(got, c.want) {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	if got := reg.Level(Root); got != slog.LevelWarn {
		t.Errorf("ROOT at %v, want warn", got)
	}
	if logged := out.take(); !strings.Contains(logged, `msg="log level changed" logger=org.eclipse.ditto level=debug`) {
		t.Errorf("the change was not logged: %s", logged)
	}
	log.Debug("now visible")
	if logged := out.take(); !strings.Contains(logged, "now visible") {
		t.Errorf("a debug line after the change was not written: %q", logged)
	}
}

func jsonEqual(a, b string) bool {
	var x, y any
	if json.Unmarshal([]byte(a), &x) != nil || json.Unmarshal([]byte(b), &y) != nil {
		return false
	}
	xa, _ := json.Marshal(x)
	ya, _ := json.Marshal(y)
	return string(xa) == string(ya)
}

// An instance answers retrieveHealth with its NATS connection and its
// checks as they are at the time of the request, and retrieveStatus with
// its static status.
func TestHealthOverNATS(t *testing.T) {
	t.Parallel()
	names := streams.New("")
	srv := streamstest.StartSecured(t, names)
	var filled atomic.Bool
	check := func() StatusInfo {
		if !filled.Load() {
			return FromDetail("search-index", LevelError, "filling")
		}
		return StatusInfo{Label: "search-index", Status: StatusUp}
	}
	reg := NewRegistry(slog.LevelInfo, slog.LevelInfo)
	r, err := Serve(srv.ConnectAs(t, streams.RoleSearch), names, streams.DevOpsName(streams.ServiceSearch), "i-1", reg, slog.New(slog.DiscardHandler), Options{Checks: []Check{check}})
	if err != nil {
		t.Fatal(err)
	}
	runUntilEnd(t, r)
	op := srv.ConnectAs(t, streams.RoleOperator, nats.CustomInboxPrefix(streams.InboxPrefix(streams.RoleOperator)))
	ask := func(subject, cmd string) string {
		t.Helper()
		m, err := op.Request(subject, []byte(cmd), 5*time.Second)
		if err != nil {
			t.Fatalf("request %s on %s: %v", cmd, subject, err)
		}
		return string(m.Data)
	}
	health := `{"type":"status.commands:retrieveHealth"}`
	if got, want := ask(names.DevOps(streams.DevOpsName(streams.ServiceSearch)), health),
		`{"type":"status.responses:retrieveHealth","status":200,"serviceName":"search","instance":"i-1","statusInfo":`+
			`{"status":"DOWN","details":[{"ERROR":"See detailed messages for: search-index."}],"children":[{"label":"nats","status":"UP"},`+
			`{"label":"search-index","status":"DOWN","details":[{"ERROR":"filling"}]}]}}`; !jsonEqual(got, want) {
		t.Errorf("health while filling:\n got %s\nwant %s", got, want)
	}
	filled.Store(true)
	if got, want := ask(names.DevOpsInstance(streams.DevOpsName(streams.ServiceSearch), "i-1"), health),
		`{"type":"status.responses:retrieveHealth","status":200,"serviceName":"search","instance":"i-1","statusInfo":`+
			`{"status":"UP","children":[{"label":"nats","status":"UP"},{"label":"search-index","status":"UP"}]}}`; !jsonEqual(got, want) {
		t.Errorf("health once filled:\n got %s\nwant %s", got, want)
	}
	var st struct {
		Type        string         `json:"type"`
		Status      int            `json:"status"`
		ServiceName string         `json:"serviceName"`
		Instance    string         `json:"instance"`
		Payload     map[string]any `json:"payload"`
	}
	raw := ask(names.DevOps(streams.DevOpsName(streams.ServiceSearch)), `{"type":"status.commands:retrieveStatus"}`)
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != TypeRetrieveStatusResponse || st.Status != 200 || st.ServiceName != "search" || st.Instance != "i-1" ||
		st.Payload["service"] != "search" || st.Payload["instance"] != "i-1" || st.Payload["processor-count"] == nil {
		t.Errorf("status: %s", raw)
	}
}

// runUntilEnd runs r until the test ends.
func runUntilEnd(t *testing.T, r *Responder) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
}

// Piggyback commands reach the handler of the component their selection
// names: wrapped in ExecutePiggybackCommandResponse for a component, bare
// from the pub/sub mediator, nothing from a service without the
// component or, on the mediator, without the type; one instance answers
// the any subject.
func TestPiggybackOverNATS(t *testing.T) {
	t.Parallel()
	names := streams.New("")
	srv := streamstest.StartSecured(t, names)
	var ran atomic.Int32
	handlers := map[Component]Handler{
		ComponentThings: func(ctx context.Context, p Piggyback) (Answer, bool) {
			if p.Type != "things.commands:retrieveThing" {
				return Answer{}, false
			}
			ran.Add(1)
			if _, ok := ctx.Deadline(); !ok {
				t.Error("a piggyback command ran without a deadline")
			}
			return JSONAnswer(200, map[string]any{"type": "things.responses:retrieveThing", "status": 200, "sudo": p.Sudo()}), true
		},
		ComponentPubSub: func(ctx context.Context, p Piggyback) (Answer, bool) {
			switch p.Type {
			case "namespaces.commands:blockNamespace":
				return JSONAnswer(200, map[string]any{"type": "namespaces.responses:blockNamespace", "status": 200}), true
			case "common.commands:shutdown":
				return Answer{}, true
			}
			return Answer{}, false
		},
	}
	reg := NewRegistry(slog.LevelInfo, slog.LevelInfo)
	for _, inst := range []string{"i-1", "i-2"} {
		r, err := Serve(srv.ConnectAs(t, streams.RoleThings), names, streams.ServiceThings, inst, reg, slog.New(slog.DiscardHandler), Options{Handlers: handlers})
		if err != nil {
			t.Fatal(err)
		}
		runUntilEnd(t, r)
	}
	op := srv.ConnectAs(t, streams.RoleOperator, nats.CustomInboxPrefix(streams.InboxPrefix(streams.RoleOperator)))
	// all sends cmd to subject and returns every answer within wait.
	all := func(subject, cmd string, wait time.Duration) []string {
		t.Helper()
		inbox := op.NewInbox()
		sub, err := op.SubscribeSync(inbox)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Unsubscribe()
		if err := op.PublishRequest(subject, inbox, []byte(cmd)); err != nil {
			t.Fatal(err)
		}
		var out []string
		for {
			m, err := sub.NextMsg(wait)
			if err != nil {
				return out
			}
			out = append(out, string(m.Data))
		}
	}
	retrieve := `{"type":"devops.commands:executePiggybackCommand","targetActorSelection":"/system/sharding/thing",` +
		`"headers":{"ditto-sudo":true,"timeout":"2s"},"piggybackCommand":{"type":"things.commands:retrieveThing","thingId":"a:b"}}`
	got := all(names.DevOpsInstance(streams.ServiceThings, "i-2"), retrieve, 300*time.Millisecond)
	want := `{"type":"devops.responses:executePiggybackCommand","status":200,"serviceName":"things","instance":"i-2",` +
		`"response":{"type":"things.responses:retrieveThing","status":200,"sudo":true}}`
	if len(got) != 1 || !jsonEqual(got[0], want) {
		t.Errorf("one instance:\n got %v\nwant %s", got, want)
	}
	if got := all(names.DevOps(streams.ServiceThings), retrieve, 300*time.Millisecond); len(got) != 2 {
		t.Errorf("the group subject: %d answers, want one per instance: %v", len(got), got)
	}
	if got := all(names.DevOpsAny(streams.ServiceThings), retrieve, 300*time.Millisecond); len(got) != 1 {
		t.Errorf("the any subject: %d answers, want one: %v", len(got), got)
	}
	if n := ran.Load(); n != 4 {
		t.Errorf("the handler ran %d times, want 4", n)
	}
	block := `{"type":"devops.commands:executePiggybackCommand","targetActorSelection":"/system/distributedPubSubMediator",` +
		`"piggybackCommand":{"type":"namespaces.commands:blockNamespace","namespace":"x"}}`
	if got := all(names.DevOpsAny(streams.ServiceThings), block, 300*time.Millisecond); len(got) != 1 ||
		!jsonEqual(got[0], `{"type":"namespaces.responses:blockNamespace","status":200}`) {
		t.Errorf("the mediator answers bare: %v", got)
	}
	for _, c := range []struct{ name, cmd string }{
		{"no response", `{"type":"devops.commands:executePiggybackCommand","targetActorSelection":"/system/distributedPubSubMediator",` +
			`"headers":{},"piggybackCommand":{"type":"common.commands:shutdown"}}`},
		{"a type the mediator's subscribers do not have", `{"type":"devops.commands:executePiggybackCommand",` +
			`"targetActorSelection":"/system/distributedPubSubMediator","piggybackCommand":{"type":"x.commands:y"}}`},
		{"a component the service does not have", `{"type":"devops.commands:executePiggybackCommand",` +
			`"targetActorSelection":"/system/sharding/policy","piggybackCommand":{"type":"policies.commands:retrievePolicy"}}`},
	} {
		if got := all(names.DevOpsInstance(streams.ServiceThings, "i-1"), c.cmd, 300*time.Millisecond); len(got) != 0 {
			t.Errorf("%s: answered %v", c.name, got)
		}
	}
	for _, c := range []struct{ name, cmd, want string }{
		{"a type the component does not know", `{"type":"devops.commands:executePiggybackCommand","targetActorSelection":"/system/sharding/thing",` +
			`"headers":{},"piggybackCommand":{"type":"things.commands:nope"}}`,
			`{"type":"devops.responses:errorResponse","status":400,"serviceName":"things","instance":"i-1","payload":{"status":400,` +
				`"error":"json.type.notparsable","message":"ExecutePiggybackCommand with PiggybackCommand <things.commands:nope> cannot be executed by this service as there is no mapping strategy for it!",` +
				`"description":"Check if you sent the JSON with the correct type."}}`},
		{"an unknown selection", `{"type":"devops.commands:executePiggybackCommand","targetActorSelection":"/user/nobody","headers":{},"piggybackCommand":{"type":"a"}}`,
			`{"status":400,"error":"devops.selection.unknown","message":"The targetActorSelection </user/nobody> is not known.","description":"Use one of: ` +
				strings.Join(SelectionNames(), ", ") + `."}`},
		{"no command", `{"type":"devops.commands:executePiggybackCommand","targetActorSelection":"/system/sharding/thing"}`,
			`{"status":400,"error":"json.field.missing","message":"JSON did not include required </piggybackCommand> field!","description":"Check if all required JSON fields were set."}`},
		{"a command without type", `{"type":"devops.commands:executePiggybackCommand","targetActorSelection":"/system/sharding/thing","piggybackCommand":{}}`,
			`{"status":400,"error":"json.field.missing","message":"JSON did not include required </piggybackCommand/type> field!","description":"Check if all required JSON fields were set."}`},
		{"headers not an object", `{"type":"devops.commands:executePiggybackCommand","targetActorSelection":"/system/sharding/thing","headers":[],"piggybackCommand":{"type":"a"}}`,
			`{"status":400,"error":"json.invalid","message":"Value <[]> for </headers> is not of type <JsonObject>!","description":"Check if the JSON was valid (e.g. on https://jsonlint.com) and if it was in required format."}`},
	} {
		got := all(names.DevOpsInstance(streams.ServiceThings, "i-1"), c.cmd, 300*time.Millisecond)
		if len(got) != 1 || !jsonEqual(got[0], c.want) {
			t.Errorf("%s:\n got %v\nwant %s", c.name, got, c.want)
		}
	}
}

// Both instances show in NATS service discovery, with their endpoints.
func TestDiscovery(t *testing.T) {
	t.Parallel()
	names := streams.New("")
	srv := streamstest.StartSecured(t, names)
	reg := NewRegistry(slog.LevelInfo, slog.LevelInfo)
	for _, inst := range []string{"i-1", "i-2"} {
		r, err := Serve(srv.ConnectAs(t, streams.RolePolicies), names, streams.ServicePolicies, inst, reg, slog.New(slog.DiscardHandler), Options{})
		if err != nil {
			t.Fatal(err)
		}
		runUntilEnd(t, r)
	}
	op := srv.ConnectAs(t, streams.RoleOperator)
	inbox := op.NewInbox()
	sub, err := op.SubscribeSync(inbox)
	if err != nil {
		t.Fatal(err)
	}
	if err := op.PublishRequest("$SRV.INFO."+names.MicroName(streams.ServicePolicies), inbox, nil); err != nil {
		t.Fatal(err)
	}
	instances := map[string]bool{}
	for range 2 {
		m, err := sub.NextMsg(2 * time.Second)
		if err != nil {
			t.Fatalf("info: %v (got %v)", err, instances)
		}
		var info struct {
			Name      string            `json:"name"`
			Metadata  map[string]string `json:"metadata"`
			Endpoints []struct {
				Name, Subject, QueueGroup string
			} `json:"endpoints"`
		}
		if err := json.Unmarshal(m.Data, &info); err != nil {
			t.Fatal(err)
		}
		instances[info.Metadata["instance"]] = true
		if info.Name != "ditto-policies" || len(info.Endpoints) != 3 || info.Endpoints[2].Subject != "ditto.devops.policies._any" {
			t.Errorf("info: %s", m.Data)
		}
	}
	if !instances["i-1"] || !instances["i-2"] {
		t.Errorf("instances in discovery: %v", instances)
	}
}
