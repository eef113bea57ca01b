package platform

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/kelseyhightower/envconfig"

	"github.com/dittonats/dittonats/services/internal/devops"
)

// Main is the body of every binary: it reads the environment, starts the
// given services and runs until SIGINT or SIGTERM, then shuts down cleanly.
// It returns the process exit code.
func Main(binary string, services []string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(binary, flag.ContinueOnError)
	fs.SetOutput(stderr)
	help := fs.Bool("help", false, "print the environment variables this binary reads")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *help {
		if err := Usage(stdout); err != nil {
			fmt.Fprintln(stderr, err)
			return 1
		}
		return 0
	}
	cfg, err := Load()
	if err == nil {
		err = cfg.Infra.Validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: configuration: %v\n", binary, err)
		return 2
	}
	// The handler writes every level; each service's loggers filter at
	// the levels /devops/logging sets, the process's own lines (and
	// slog's default logger) at LOG_LEVEL.
	base := slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: devops.LevelAll})
	log := slog.New(base).With("binary", binary)
	root, _, _ := cfg.logLevels() // validated
	slog.SetDefault(slog.New(devops.Filter(log.Handler(), root)))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if cfg.NATSURL == "" && len(services) < len(All) {
		log.Error("NATS_URL must be set: services in separate processes meet on a shared NATS")
		return 2
	}
	p, err := Start(ctx, cfg, services, log)
	if err != nil {
		log.Error("start failed", "err", err)
		return 1
	}
	if err := p.Wait(ctx); err != nil {
		log.Error("stopped with error", "err", err)
		return 1
	}
	return 0
}

// parts lists the configuration sections; each reads its own variables
// (without a prefix), and no variable is read by two of them: the limits
// (LIMITS_*), which the gateway and the services all apply, are a section
// of their own that Load hands to the others.
func (c *Config) parts() []any {
	return []any{&c.Infra, &c.Limits, &c.Policies, &c.Things, &c.Search, &c.Gateway}
}

// Load reads the configuration from the environment. It checks the limits,
// which every service applies; each service checks the rest of its own
// section when it starts.
func Load() (Config, error) {
	var cfg Config
	for _, part := range cfg.parts() {
		if err := envconfig.Process("", part); err != nil {
			return Config{}, err
		}
	}
	if err := cfg.Limits.Validate(); err != nil {
		return Config{}, err
	}
	cfg.setLimits(cfg.Limits)
	return cfg, nil
}

// Usage writes every environment variable the binaries read, with its
// default and meaning, once each.
func Usage(w io.Writer) error {
	const format = `{{range .}}{{usage_key .}}	{{usage_default .}}	{{usage_description .}}
{{end}}`
	var all strings.Builder
	var cfg Config
	for _, part := range cfg.parts() {
		if err := envconfig.Usagef("", part, &all, format); err != nil {
			return err
		}
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDEFAULT\tMEANING")
	seen := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(all.String()), "\n") {
		key, _, _ := strings.Cut(line, "\t")
		if seen[key] {
			continue
		}
		seen[key] = true
		fmt.Fprintln(tw, line)
	}
	return tw.Flush()
}
