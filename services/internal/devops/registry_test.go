package devops

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/dittonats/dittonats/protocol"
)

// buffer is a log sink safe for concurrent writes.
type buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// take returns what was written since the last take.
func (b *buffer) take() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.b.String()
	b.b.Reset()
	return s
}

func sink() (*buffer, slog.Handler) {
	b := &buffer{}
	return b, slog.NewTextHandler(b, &slog.HandlerOptions{Level: LevelAll})
}

// A changed level changes what the loggers write, at once, along the
// hierarchy: a logger without a level of its own follows its nearest
// ancestor that has one.
func TestLevelChangesWhatIsLogged(t *testing.T) {
	t.Parallel()
	out, h := sink()
	reg := NewRegistry(slog.LevelInfo, slog.LevelInfo)
	app := reg.Logger(Ditto, h).With("service", "things")
	child := reg.Logger(Ditto+".things.persistence", h)
	nats := reg.Logger(NATSClient, h)
	lines := func() []string {
		var got []string
		for _, l := range strings.Split(strings.TrimSpace(out.take()), "\n") {
			if _, msg, ok := strings.Cut(l, "msg="); ok {
				got = append(got, strings.Fields(msg)[0])
			}
		}
		return got
	}
	write := func() []string {
		app.Debug("app-debug")
		app.Info("app-info")
		child.Debug("child-debug")
		nats.Debug("nats-debug")
		nats.Warn("nats-warn")
		return lines()
	}
	steps := []struct {
		name   string
		change func()
		want   string
	}{
		{"at start", func() {}, "app-info nats-warn"},
		{"ditto to debug", func() { reg.Set(Ditto, slog.LevelDebug) }, "app-debug app-info child-debug nats-warn"},
		{"root to all", func() { reg.Set("", LevelAll) }, "app-debug app-info child-debug nats-debug nats-warn"},
		{"child to error", func() { reg.Set(Ditto+".things", slog.LevelError) }, "app-debug app-info nats-debug nats-warn"},
		{"ditto off", func() { reg.Set(Ditto, LevelOff) }, "nats-debug nats-warn"},
		{"root off", func() { reg.Set(Root, LevelOff) }, ""},
	}
	for _, s := range steps {
		s.change()
		if got := strings.Join(write(), " "); got != s.want {
			t.Errorf("%s: logged %q, want %q", s.name, got, s.want)
		}
	}
}

func TestConfigs(t *testing.T) {
	t.Parallel()
	reg := NewRegistry(slog.LevelWarn, slog.LevelInfo)
	_ = reg.Logger("zz.unused", slog.DiscardHandler)
	reg.Set("org.eclipse.ditto.things", LevelTrace)
	for _, c := range []struct {
		name string
		got  []LoggerConfig
		want string
	}{
		{"set", reg.Configs(false),
			`[{"level":"warn","logger":"ROOT"},{"level":"info","logger":"org.eclipse.ditto"},{"level":"trace","logger":"org.eclipse.ditto.things"}]`},
		{"with disabled", reg.Configs(true),
			`[{"level":"warn","logger":"ROOT"},{"level":"off","logger":"io.nats.client"},{"level":"info","logger":"org.eclipse.ditto"},` +
				`{"level":"trace","logger":"org.eclipse.ditto.things"},{"level":"off","logger":"zz.unused"}]`},
		{"specific", reg.Specific([]string{"org.eclipse.ditto", "nope", "io.nats.client", "ROOT"}),
			`[{"level":"info","logger":"org.eclipse.ditto"},{"level":"warn","logger":"ROOT"}]`},
		{"none", reg.Specific(nil), `[]`},
	} {
		b, _ := json.Marshal(c.got)
		if string(b) != c.want {
			t.Errorf("%s: %s, want %s", c.name, b, c.want)
		}
	}
	if got := reg.Level("org.eclipse.ditto.things.x"); got != LevelTrace {
		t.Errorf("inherited level %v, want trace", got)
	}
}

func TestParseLevel(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, name string
		err      bool
	}{
		{"INFO", "info", false}, {"debug", "debug", false}, {"Trace", "trace", false}, {"OFF", "off", false},
		{"all", "all", false}, {"WARN", "warn", false}, {"error", "error", false}, {"INFO+2", "warn", false},
		{"DEBUG-4", "trace", false}, {"verbose", "", true}, {"", "", true},
	} {
		l, err := ParseLevel(c.in)
		if (err != nil) != c.err {
			t.Errorf("ParseLevel(%q): err %v, want error %v", c.in, err, c.err)
			continue
		}
		if err == nil && LevelName(l) != c.name {
			t.Errorf("ParseLevel(%q) = %s, want %s", c.in, LevelName(l), c.name)
		}
	}
}

func TestParseLoggerConfig(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, in string
		want     LoggerConfig
		code     string
	}{
		{"both", `{"logger":"org.eclipse.ditto","level":"DEBUG"}`, LoggerConfig{Level: "debug", Logger: "org.eclipse.ditto"}, ""},
		{"root by default", `{"level":"warn"}`, LoggerConfig{Level: "warn"}, ""},
		{"null logger", `{"level":"warn","logger":null}`, LoggerConfig{Level: "warn"}, ""},
		{"unknown level", `{"logger":"x","level":"verbose"}`, LoggerConfig{}, "json.invalid"},
		{"slog level is not Ditto's", `{"level":"INFO+2"}`, LoggerConfig{}, "json.invalid"},
		{"no level", `{"logger":"x"}`, LoggerConfig{}, "json.field.missing"},
		{"level not a string", `{"level":3}`, LoggerConfig{}, "json.invalid"},
		{"logger not a string", `{"level":"info","logger":[]}`, LoggerConfig{}, "json.invalid"},
		{"not JSON", `{"level":`, LoggerConfig{}, "json.invalid"},
		{"not an object", `["info"]`, LoggerConfig{}, "json.invalid"},
		{"null", `null`, LoggerConfig{}, "json.invalid"},
	} {
		got, _, err := ParseLoggerConfig([]byte(c.in))
		if c.code != "" {
			if !errors.Is(err, &protocol.Error{Code: c.code}) || err.Status != 400 {
				t.Errorf("%s: error %v, want 400 %s", c.name, err, c.code)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
		}
	}
}

func FuzzParseLoggerConfig(f *testing.F) {
	for _, s := range []string{`{"logger":"a","level":"info"}`, `{"level":"off"}`, `{"level":1}`, `[]`, `nul`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, l, err := ParseLoggerConfig([]byte(s))
		if err != nil {
			if err.Status != 400 {
				t.Fatalf("status %d", err.Status)
			}
			return
		}
		if LevelName(l) != c.Level {
			t.Fatalf("level %v named %q, config says %q", l, LevelName(l), c.Level)
		}
	})
}
