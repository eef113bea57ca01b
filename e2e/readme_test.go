package e2e_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/e2e/internal/harness"
	"github.com/dittonats/dittonats/streams"
)

// readmeCommands returns every nats CLI command in the README's shell
// blocks, continuation lines joined, with its trailing comment.
func readmeCommands(t *testing.T) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	inShell, cont := false, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "```"):
			inShell = strings.TrimPrefix(line, "```") == "sh"
			continue
		case !inShell:
			continue
		}
		if cont != "" {
			line = cont + strings.TrimLeft(line, " ")
			cont = ""
		}
		if strings.HasSuffix(line, `\`) {
			cont = strings.TrimSuffix(line, `\`)
			continue
		}
		if strings.HasPrefix(line, "nats ") {
			out = append(out, line)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestREADMENatsCommands runs every nats command of the README, verbatim,
// with the real nats CLI against bin/ditto, as the README's operator would
// (NATS_URL and NATS_NKEY exported as it says): each works, except those
// the README says are refused, which fail with a permissions violation and
// change nothing.
func TestREADMENatsCommands(t *testing.T) {
	natsCLI := harness.Bin(t, "nats")
	dataDir := t.TempDir()
	p, base, natsURL := allInOne(t, dataDir)
	defer p.Kill()
	ditto := harness.NewAPI(base, "ditto", "ditto", 30*time.Second)
	// The README's hello world first.
	r := must(t)(ditto.Do(http.MethodPut, "/api/2/things/org.eclipse.ditto:hello",
		`{"attributes":{"manufacturer":"ACME"},"features":{"temperature":{"properties":{"value":21}}}}`))
	if r.Status != http.StatusCreated {
		t.Fatalf("hello world: %d %s", r.Status, r.Body)
	}

	cmds := readmeCommands(t)
	if len(cmds) < 6 {
		t.Fatalf("found %d nats commands in the README, want the 6 of its nats CLI section: %q", len(cmds), cmds)
	}
	env := append(os.Environ(),
		"PATH="+filepath.Dir(natsCLI)+string(os.PathListSeparator)+os.Getenv("PATH"),
		"NATS_URL="+natsURL,
		"NATS_NKEY="+filepath.Join(dataDir, "secrets", "operator.nk"),
		"NATS_CONTEXT=", "HOME="+t.TempDir()) // no nats CLI context of the machine's user
	for _, cmd := range cmds {
		t.Run(strings.Join(strings.Fields(cmd)[:3], " "), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := exec.CommandContext(ctx, "bash", "-c", cmd)
			c.Env = env
			out, err := c.CombinedOutput()
			_, comment, _ := strings.Cut(cmd, " # ")
			refused := strings.Contains(comment, "refused")
			switch {
			case refused && err == nil:
				t.Errorf("the README says %q is refused, but it succeeded:\n%s", cmd, out)
			case refused && !strings.Contains(string(out), "Permissions Violation"):
				t.Errorf("%q failed, but not with a permissions violation:\n%s", cmd, out)
			case !refused && err != nil:
				t.Errorf("%q: %v\n%s", cmd, err, out)
			case strings.HasPrefix(cmd, "nats req") && !strings.Contains(string(out), `"status":200`) &&
				!strings.Contains(string(out), "Ditto-Status: 200"): // search answers carry it as a header
				t.Errorf("%q did not answer 200:\n%s", cmd, out)
			case strings.HasPrefix(cmd, "nats micro") && !strings.Contains(string(out), "ditto-"):
				t.Errorf("%q did not show the platform's services:\n%s", cmd, out)
			case strings.HasPrefix(cmd, "nats sub") && !strings.Contains(string(out), `"topic":"org.eclipse.ditto/hello/things/twin/events/created"`):
				t.Errorf("%q did not show the hello world's event:\n%s", cmd, out)
			}
		})
	}

	// The History section's stream of persisted events over NATS, with the
	// real nats CLI: subscribe, then request more than there is; the
	// answers are the events in order and complete.
	t.Run("history stream", func(t *testing.T) {
		r := must(t)(ditto.Do(http.MethodPut, "/api/2/things/org.eclipse.ditto:hello/attributes/manufacturer", `"Bosch"`))
		if r.Status != http.StatusNoContent {
			t.Fatalf("modify: %d %s", r.Status, r.Body)
		}
		nats := func(args ...string) string {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := exec.CommandContext(ctx, natsCLI, append([]string{"req", "--raw", "ditto.gateway.streaming", "-H", `Ditto-Auth:["nginx:ditto"]`}, args...)...)
			c.Env = env
			out, err := c.CombinedOutput()
			if err != nil {
				t.Fatalf("nats %q: %v\n%s", args, err, out)
			}
			return string(out)
		}
		const topic = `"topic":"org.eclipse.ditto/hello/things/twin/streaming/`
		out := nats(`{` + topic + `subscribeForPersistedEvents","headers":{},"path":"/","value":{"fromHistoricalRevision":1}}`)
		var created struct {
			Topic string `json:"topic"`
			Value struct {
				SubscriptionID string `json:"subscriptionId"`
			} `json:"value"`
		}
		if err := json.Unmarshal([]byte(out), &created); err != nil || !strings.HasSuffix(created.Topic, "/streaming/created") || created.Value.SubscriptionID == "" {
			t.Fatalf("subscribe answered %s (%v)", out, err)
		}
		out = nats("--replies", "3", `{`+topic+`request","headers":{},"path":"/","value":{"subscriptionId":"`+created.Value.SubscriptionID+`","demand":10}}`)
		var lines []string // the CLI separates the replies by blank lines
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) != "" {
				lines = append(lines, l)
			}
		}
		if len(lines) != 3 || !strings.Contains(lines[0], `"revision":1`) || !strings.Contains(lines[1], `"revision":2`) ||
			!strings.Contains(lines[2], "/streaming/complete") {
			t.Fatalf("request answered:\n%s", out)
		}
	})

	// What the refused commands aimed at is intact.
	nc := harness.ConnectAs(t, natsURL, streams.RoleOperator, filepath.Join(dataDir, "secrets", "operator.nk"))
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := harness.Context(t, 30*time.Second)
	s, err := js.Stream(ctx, streams.New("").ThingEventsStream())
	if err != nil {
		t.Fatal(err)
	}
	if info, err := s.Info(ctx); err != nil || info.State.Msgs == 0 {
		t.Errorf("thing events stream after the README's commands: %+v, %v; want its events", info, err)
	}
}
