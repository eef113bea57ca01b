package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// config is what the flags say.
type config struct {
	ditto     string
	n, c      int
	d, warmup time.Duration
	scenarios []string // in run order
	url       string
	user      string
	jsonPath  string
	namespace string
	logLevel  string
	keep      bool
	// lagRate paces SEARCH_LAG's modifies (per second; 0: unpaced).
	lagRate float64
	// subscribers, fanoutRate and idleSessions size the WebSocket
	// scenarios (see ws.go).
	subscribers  int
	fanoutRate   float64
	idleSessions int
	// serveBaseline makes this process the baseline server (see baseline.go).
	serveBaseline bool
}

func (c config) selected(sc string) bool { return slices.Contains(c.scenarios, sc) }

// errUsage is returned for bad flags, after the problem was printed.
var errUsage = errors.New("usage")

func parseFlags(args []string, stderr io.Writer) (config, error) {
	var c config
	var scenarios string
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&c.ditto, "ditto", "bin/ditto", "platform binary to start (unless -url)")
	fs.IntVar(&c.n, "n", 10000, "things to create and load")
	fs.IntVar(&c.c, "c", 64, "concurrent connections")
	fs.DurationVar(&c.d, "d", 10*time.Second, "measured duration of each load scenario")
	fs.DurationVar(&c.warmup, "warmup", 3*time.Second, "unmeasured warm-up before each load scenario")
	fs.Float64Var(&c.lagRate, "lag-rate", 0, "modifies per second of SEARCH_LAG's load (0: as many as the connections make)")
	fs.IntVar(&c.subscribers, "subscribers", 50, "WebSocket sessions following the events in EVENT_FANOUT")
	fs.Float64Var(&c.fanoutRate, "fanout-rate", 1000, "modifies per second of EVENT_FANOUT's load")
	fs.IntVar(&c.idleSessions, "idle-sessions", 10000, "WebSocket sessions WS_IDLE opens and holds")
	fs.StringVar(&scenarios, "scenarios", strings.Join(allScenarios(), ","), "comma-separated scenarios to run")
	fs.StringVar(&c.url, "url", "", "base URL of an already running platform (no subprocess, no RESTART)")
	fs.StringVar(&c.user, "user", "ditto:ditto", "basic-auth user:password")
	fs.StringVar(&c.jsonPath, "json", "", "also write the results as JSON to this file (- for stdout)")
	fs.StringVar(&c.namespace, "namespace", "org.dittonats.bench", "namespace of the bench things")
	fs.StringVar(&c.logLevel, "log-level", "", "LOG_LEVEL for the started ditto (default: inherited)")
	fs.BoolVar(&c.keep, "keep", false, "keep the temporary directory (data and logs) after a successful run")
	fs.BoolVar(&c.serveBaseline, "serve-baseline", false, "internal: run as the BASELINE server")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: bench [flags]\n\nMeasures the platform over its HTTP API against a BASELINE; scenarios: %s.\n\n",
			strings.Join(allScenarios(), ", "))
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return c, err
		}
		return c, errUsage
	}
	var problems []string
	if fs.NArg() > 0 {
		problems = append(problems, fmt.Sprintf("unexpected arguments %q", fs.Args()))
	}
	if c.n < 1 {
		problems = append(problems, fmt.Sprintf("-n %d: must be at least 1", c.n))
	}
	if c.c < 1 {
		problems = append(problems, fmt.Sprintf("-c %d: must be at least 1", c.c))
	}
	if c.d <= 0 {
		problems = append(problems, fmt.Sprintf("-d %s: must be positive", c.d))
	}
	if c.lagRate < 0 {
		problems = append(problems, fmt.Sprintf("-lag-rate %g: must not be negative", c.lagRate))
	}
	if c.subscribers < 1 {
		problems = append(problems, fmt.Sprintf("-subscribers %d: must be at least 1", c.subscribers))
	}
	if c.fanoutRate <= 0 {
		problems = append(problems, fmt.Sprintf("-fanout-rate %g: must be positive", c.fanoutRate))
	}
	if c.idleSessions < 1 {
		problems = append(problems, fmt.Sprintf("-idle-sessions %d: must be at least 1", c.idleSessions))
	}
	if c.warmup < 0 {
		problems = append(problems, fmt.Sprintf("-warmup %s: must not be negative", c.warmup))
	}
	if !strings.Contains(c.user, ":") {
		problems = append(problems, fmt.Sprintf("-user %q: want name:password", c.user))
	}
	if !protocol.ValidateNamespace(c.namespace) || c.namespace == "" {
		problems = append(problems, fmt.Sprintf("-namespace %q: not a valid Ditto namespace", c.namespace))
	}
	sel, err := parseScenarios(scenarios)
	if err != nil {
		problems = append(problems, err.Error())
	}
	c.scenarios = sel
	if len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "bench:", p)
		}
		return c, errUsage
	}
	return c, nil
}

// parseScenarios reads a comma list of scenario names (any case) and
// returns them in run order.
func parseScenarios(s string) ([]string, error) {
	want := map[string]bool{}
	for f := range strings.SplitSeq(s, ",") {
		f = strings.ToUpper(strings.TrimSpace(f))
		if f == "" {
			continue
		}
		if !slices.Contains(allScenarios(), f) {
			return nil, fmt.Errorf("-scenarios: unknown scenario %q (known: %s)", f, strings.Join(allScenarios(), ","))
		}
		want[f] = true
	}
	if len(want) == 0 {
		return nil, errors.New("-scenarios: none given")
	}
	var out []string
	for _, sc := range allScenarios() {
		if want[sc] {
			out = append(out, sc)
		}
	}
	return out, nil
}

// run is main without the exit: 0 when every scenario ran without errors, 2
// when the run completed with errors, 1 when it could not complete.
func run(args []string, stdout, stderr io.Writer) int {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.serveBaseline {
		return baselineMain(ctx, cfg.namespace, cfg.n, cfg.user)
	}

	rep := newReport(cfg)
	writeHeader(stdout, rep.Machine, rep.Params)
	err = bench(ctx, cfg, rep, stderr)
	if err != nil {
		rep.Err = err.Error()
	}
	fmt.Fprintln(stdout)
	writeTable(stdout, rep.Results, rep.baselineRate())
	if cfg.jsonPath != "" {
		if jerr := saveJSON(cfg.jsonPath, stdout, rep); jerr != nil {
			fmt.Fprintln(stderr, "bench:", jerr)
			return 1
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintln(stderr, "bench: interrupted; the table holds the rows that completed")
		return 1
	case err != nil:
		fmt.Fprintln(stderr, "bench:", err)
		return 1
	case rep.totalErrors() > 0:
		fmt.Fprintf(stderr, "bench: %d errors (see the table)\n", rep.totalErrors())
		return 2
	}
	return 0
}

func newReport(cfg config) *report {
	target := cfg.url
	if target == "" {
		target = cfg.ditto
	}
	dittoBin := cfg.ditto
	if cfg.url != "" {
		dittoBin = ""
	}
	return &report{
		Machine: describeMachine(dittoBin),
		Params: params{
			Things:      cfg.n,
			Connections: cfg.c,
			Duration:    cfg.d.String(),
			Warmup:      cfg.warmup.String(),
			Scenarios:   cfg.scenarios,
			Target:      target,
		},
		Started: time.Now().Format(time.RFC3339),
	}
}

func saveJSON(path string, stdout io.Writer, rep *report) error {
	if path == "-" {
		return writeJSON(stdout, rep)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("json report: %w", err)
	}
	if err := writeJSON(f, rep); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("json report: %w", err)
	}
	return nil
}
