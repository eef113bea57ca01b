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

	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
	"github.com/dittonats/dittonats/services/internal/logging"
)

// Main is the body of every binary: it reads the environment, starts the
// given services and runs until SIGINT or SIGTERM, then shuts down cleanly.
// It returns the process exit code.
func Main(binary string, services []string, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet(binary, flag.ContinueOnError)
	fs.SetOutput(stderr)
	help := fs.Bool("help", false, "print the environment variables this binary reads, with their Ditto configuration keys")
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
		err = cfg.validate()
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: configuration: %v\n", binary, err)
		return 2
	}
	// The sinks' handler writes every level (the log files from their
	// threshold) to the console (stderr), Logstash and the files; each
	// service's loggers filter at the levels /devops/logging sets, the
	// process's own lines (and slog's default logger) at LOG_LEVEL. The
	// instance id is fixed here so that every line names the one the
	// services use.
	cfg.Instance = cfg.instanceID()
	sinks, err := logging.New(cfg.Logging, stderr, binary, cfg.Instance)
	if err != nil {
		fmt.Fprintf(stderr, "%s: logging: %v\n", binary, err)
		return 2
	}
	defer func() {
		if err := sinks.Close(); err != nil {
			fmt.Fprintf(stderr, "%s: logging: %v\n", binary, err)
		}
		if d := sinks.Dropped(); d.Logstash > 0 || d.File > 0 {
			fmt.Fprintf(stderr, "%s: logging: %d lines not sent to Logstash, %d not written to the log files\n", binary, d.Logstash, d.File)
		}
	}()
	log := slog.New(sinks.Handler()).With("binary", binary)
	root, _, _ := cfg.logLevels() // validated
	slog.SetDefault(slog.New(devops.Filter(log.Handler(), root)))
	for _, w := range cfg.Warnings {
		log.Warn("configuration: " + w)
	}

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
	return []any{&c.Infra, &c.Limits, &c.Policies, &c.Things, &c.Cleanup, &c.Search, &c.Gateway, &c.Logging, &c.Metrics, &c.Tracing}
}

// Load reads the configuration of the process. Each setting is taken
// from the first of these that has it:
//
//  1. its environment variable (DEVOPS_PASSWORD);
//  2. a -D system property naming one of its Ditto keys
//     (-Dditto.gateway.authentication.devops.password=...) in DITTO_OPTS,
//     else in JAVA_TOOL_OPTIONS;
//  3. the HOCON file DITTO_CONFIG_FILE (or -Dconfig.file) at such a key;
//  4. its built-in default.
//
// It checks the limits, which every service applies; each service checks
// the rest of its own section when it starts. Config.Tree is the
// effective configuration.
func Load() (Config, error) { return LoadEnv(os.Environ()) }

// LoadEnv is Load with environ (NAME=VALUE entries, as os.Environ gives
// them) as the environment: it reads no variable of the process, only
// the HOCON file environ names, so that tests can give each load its own
// environment.
func LoadEnv(environ []string) (Config, error) {
	var cfg Config
	if err := loadFrom(&cfg, environ); err != nil {
		return Config{}, err
	}
	if err := cleanupDefaults(cfg); err != nil {
		return Config{}, err
	}
	if err := cfg.Limits.Validate(); err != nil {
		return Config{}, err
	}
	cfg.setLimits(cfg.Limits)
	return cfg, nil
}

// Usage writes every environment variable the binaries read, once each,
// with its Ditto configuration key (the keys a HOCON file or a -D
// property sets it with), its default (a secret's as ***) and meaning.
func Usage(w io.Writer) error {
	var cfg Config
	vars, err := variables(cfg.parts())
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "VARIABLE\tDITTO KEY\tDEFAULT\tMEANING")
	for _, v := range sourceVariables {
		fmt.Fprintf(tw, "%s\t-\t\t%s\n", v.name, v.desc)
	}
	seen := map[string]bool{}
	for _, v := range vars {
		if seen[v.name] {
			continue
		}
		seen[v.name] = true
		def := v.def
		if def != "" && v.secret() {
			def = dittoconf.Mask
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", v.name, strings.Join(v.keys, ","), def, v.desc)
	}
	return tw.Flush()
}
