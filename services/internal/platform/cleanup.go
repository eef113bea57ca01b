package platform

import (
	"context"
	"fmt"

	"github.com/dittonats/dittonats/services/internal/cleanup"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

// cleaned is an entity service with its background cleanup: Run runs
// both until ctx ends.
type cleaned struct {
	runner
	cleaner *cleanup.Cleaner
}

// withCleanup attaches the background cleanup of the entities of kind
// ("thing", "policy") on host to the service r, configured by CLEANUP_*.
func withCleanup(r runner, host cleanup.Host, kind string, e env) (runner, error) {
	if err := e.cfg.Cleanup.Validate(); err != nil {
		return nil, err
	}
	c, err := cleanup.New(e.cfg.Cleanup.Settings(kind), cleanup.Deps{Journal: e.journal, Kind: kind, Shards: e.cfg.Shards,
		Host: host, DuplicateWindow: e.cfg.EventsDupWindow, Log: e.log, Metrics: e.metrics, SlowestWrite: e.slowestWrite})
	if err != nil {
		return nil, fmt.Errorf("background cleanup of %s: %w", kind, err)
	}
	return &cleaned{runner: r, cleaner: c}, nil
}

func (c *cleaned) Run(ctx context.Context) error {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = c.cleaner.Run(ctx) // returns nil when ctx ends
	}()
	err := c.runner.Run(ctx)
	<-done
	return err
}

// serviceOf is the service a runner runs, without its cleanup.
func serviceOf(r runner) runner {
	if c, ok := r.(*cleaned); ok {
		return c.runner
	}
	return r
}

// cleanupHandlers adds to hs the piggyback handlers of r's cleanup, if
// it has one: the cleanup's own component, and cleanupPersistence ahead
// of the handler of entities, the service's shard region in Ditto.
func cleanupHandlers(r runner, entities devops.Component, hs map[devops.Component]devops.Handler) map[devops.Component]devops.Handler {
	c, ok := r.(*cleaned)
	if !ok {
		return hs
	}
	hs[devops.ComponentCleanup] = c.cleaner.Handler()
	hs[entities] = c.cleaner.EntityHandler(hs[entities])
	return hs
}

// cleanupDefaults writes into cfg's configuration tree the settings each
// entity service takes as its own when CLEANUP_HISTORY_RETENTION_DURATION
// or CLEANUP_INTERVAL is not set (cleanup.Config.Settings), so that
// /devops/config shows what each service runs with: one variable cannot
// have two defaults, the tree has a key per service.
func cleanupDefaults(cfg Config) error {
	for _, svc := range []struct{ kind, prefix string }{
		{"thing", "ditto.things.thing.cleanup."}, {"policy", "ditto.policies.policy.cleanup."},
	} {
		s := cfg.Cleanup.Settings(svc.kind)
		for _, kv := range []struct {
			key   string
			value string
		}{{"history-retention-duration", dittoconf.FormatDuration(s.HistoryRetention)}, {"interval", dittoconf.FormatDuration(s.Interval)}} {
			if v, ok := cfg.ConfigTree().Get(svc.prefix + kv.key); ok && v != nil {
				continue
			}
			if err := cfg.ConfigTree().Set(svc.prefix+kv.key, kv.value); err != nil {
				return err
			}
		}
	}
	return nil
}
