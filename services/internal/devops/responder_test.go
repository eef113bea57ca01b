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
	r, err := Serve(srv.ConnectAs(t, streams.RoleSearch), names, streams.ServiceSearch, "i-1", reg, slog.New(slog.DiscardHandler), Options{Checks: []Check{check}})
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
	if got, want := ask(names.DevOps(streams.ServiceSearch), health),
		`{"type":"status.responses:retrieveHealth","status":200,"serviceName":"things-search","instance":"i-1","statusInfo":`+
			`{"status":"DOWN","details":[{"ERROR":"See detailed messages for: search-index."}],"children":[{"label":"nats","status":"UP"},`+
			`{"label":"search-index","status":"DOWN","details":[{"ERROR":"filling"}]}]}}`; !jsonEqual(got, want) {
		t.Errorf("health while filling:\n got %s\nwant %s", got, want)
	}
	filled.Store(true)
	if got, want := ask(names.DevOpsInstance(streams.ServiceSearch, "i-1"), health),
		`{"type":"status.responses:retrieveHealth","status":200,"serviceName":"things-search","instance":"i-1","statusInfo":`+
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
	raw := ask(names.DevOps(streams.ServiceSearch), `{"type":"status.commands:retrieveStatus"}`)
	if err := json.Unmarshal([]byte(raw), &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != TypeRetrieveStatusResponse || st.Status != 200 || st.ServiceName != "things-search" || st.Instance != "i-1" ||
		st.Payload["service"] != "things-search" || st.Payload["instance"] != "i-1" || st.Payload["processor-count"] == nil {
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
