package cleanup

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

// Config is the background cleanup section of the process configuration:
// Ditto's CLEANUP_* variables, one set for every entity service, as in
// Ditto, where things.conf, policies.conf and connectivity.conf read the
// same variables. The variables without a default take the entity
// type's default of Ditto's configuration files (see Settings).
type Config struct {
	Enabled bool `envconfig:"CLEANUP_ENABLED" default:"true" desc:"delete, in the background, the events and snapshots of things and policies that neither the history retention nor the current state needs"`
	// HistoryRetention, Interval: nil when not set (each entity type
	// has its own default).
	HistoryRetention *time.Duration `envconfig:"CLEANUP_HISTORY_RETENTION_DURATION" desc:"events and snapshots younger than this are kept, for history (at-historical-revision/-timestamp); default 3d for things, 30d for policies"`
	QuietPeriod      time.Duration  `envconfig:"CLEANUP_QUIET_PERIOD" default:"5m" desc:"wait from start-up, and from the end of each cleanup pass, before the next pass (each time randomly 1 to 2 times this)"`
	Interval         *time.Duration `envconfig:"CLEANUP_INTERVAL" desc:"how often a batch of cleanup credits is granted; default 3s for things, 10s for policies"`
	TimerThreshold   time.Duration  `envconfig:"CLEANUP_TIMER_THRESHOLD" default:"150ms" desc:"no credits are granted for an interval after a store write (an entity's append or snapshot, or a cleanup delete) took this long or longer (the store is busy)"`
	CreditsPerBatch  int            `envconfig:"CLEANUP_CREDITS_PER_BATCH" default:"3" desc:"credits granted per interval; each pays for one delete of at most CLEANUP_WRITES_PER_CREDIT events or snapshots"`
	ReadsPerQuery    int            `envconfig:"CLEANUP_READS_PER_QUERY" default:"100" desc:"entities (their newest snapshot older than the retention) read per query of the cleanup walk"`
	WritesPerCredit  int            `envconfig:"CLEANUP_WRITES_PER_CREDIT" default:"100" desc:"events or snapshots deleted by one delete, which costs one credit"`
	// DeleteFinalDeletedSnapshot: see Settings.
	DeleteFinalDeletedSnapshot bool `envconfig:"CLEANUP_DELETE_FINAL_DELETED_SNAPSHOT" default:"false" desc:"also delete the last snapshot (and event) of a deleted entity, so that an entity created again with its id starts at revision 1"`
}

// kindDefaults are the settings that differ by entity type in Ditto's
// configuration files: things.conf (retention 3d, interval 3s),
// policies.conf (30d, 10s), connectivity.conf (30d, 60s; it also grants 1
// credit per batch instead of 3, which CLEANUP_CREDITS_PER_BATCH's one
// default does not follow). The operating guide shows things.conf's
// block and says the retention is "0d" by default: that is the default
// of Ditto's code (CleanupConfig), which every service's file overrides;
// the files are followed here.
var kindDefaults = map[string]struct{ retention, interval time.Duration }{
	"thing":      {3 * 24 * time.Hour, 3 * time.Second},
	"policy":     {30 * 24 * time.Hour, 10 * time.Second},
	"connection": {30 * 24 * time.Hour, 60 * time.Second},
}

// Validate reports every setting Ditto's CleanupConfig refuses, naming
// its variable.
func (c Config) Validate() error {
	var errs []error
	if c.HistoryRetention != nil && *c.HistoryRetention < 0 {
		errs = append(errs, fmt.Errorf("CLEANUP_HISTORY_RETENTION_DURATION %s: must not be negative", *c.HistoryRetention))
	}
	if c.QuietPeriod <= 0 {
		errs = append(errs, fmt.Errorf("CLEANUP_QUIET_PERIOD %s: must be positive", c.QuietPeriod))
	}
	if c.Interval != nil && *c.Interval <= 0 {
		errs = append(errs, fmt.Errorf("CLEANUP_INTERVAL %s: must be positive", *c.Interval))
	}
	if c.TimerThreshold <= 0 {
		errs = append(errs, fmt.Errorf("CLEANUP_TIMER_THRESHOLD %s: must be positive", c.TimerThreshold))
	}
	if c.CreditsPerBatch < 0 {
		errs = append(errs, fmt.Errorf("CLEANUP_CREDITS_PER_BATCH %d: must not be negative", c.CreditsPerBatch))
	}
	if c.ReadsPerQuery < 1 {
		errs = append(errs, fmt.Errorf("CLEANUP_READS_PER_QUERY %d: must be at least 1", c.ReadsPerQuery))
	}
	if c.WritesPerCredit < 1 {
		errs = append(errs, fmt.Errorf("CLEANUP_WRITES_PER_CREDIT %d: must be at least 1", c.WritesPerCredit))
	}
	return errors.Join(errs...)
}

// Settings are the settings of one entity type's cleanup (kind "thing",
// "policy", "connection"): c's, with the type's own defaults where c
// leaves them unset.
func (c Config) Settings(kind string) Settings {
	def, ok := kindDefaults[kind]
	if !ok {
		def = kindDefaults["thing"]
	}
	s := Settings{Enabled: c.Enabled, HistoryRetention: def.retention, QuietPeriod: c.QuietPeriod, Interval: def.interval,
		TimerThreshold: c.TimerThreshold, CreditsPerBatch: c.CreditsPerBatch, ReadsPerQuery: c.ReadsPerQuery,
		WritesPerCredit: c.WritesPerCredit, DeleteFinalDeletedSnapshot: c.DeleteFinalDeletedSnapshot}
	if c.HistoryRetention != nil {
		s.HistoryRetention = *c.HistoryRetention
	}
	if c.Interval != nil {
		s.Interval = *c.Interval
	}
	return s
}

// Settings are what a Cleaner runs with; modifyConfig changes them at run
// time, by the keys of Ditto's cleanup block (see render).
type Settings struct {
	Enabled bool
	// HistoryRetention: events and snapshots younger than this stay.
	HistoryRetention time.Duration
	QuietPeriod      time.Duration
	Interval         time.Duration
	TimerThreshold   time.Duration
	CreditsPerBatch  int
	ReadsPerQuery    int
	WritesPerCredit  int
	// DeleteFinalDeletedSnapshot: a deleted entity's last snapshot and
	// event go too, so that HighestSN is 0 and the entity, created again,
	// starts at revision 1.
	DeleteFinalDeletedSnapshot bool
}

// validate reports what Ditto's DefaultCleanupConfig refuses, by key.
func (s Settings) validate() error {
	var errs []error
	if s.HistoryRetention < 0 {
		errs = append(errs, errors.New("history-retention-duration: must not be negative"))
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{{"quiet-period", s.QuietPeriod}, {"interval", s.Interval}, {"timer-threshold", s.TimerThreshold}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("%s: must be positive", d.key))
		}
	}
	if s.CreditsPerBatch < 0 {
		errs = append(errs, errors.New("credits-per-batch: must not be negative"))
	}
	if s.ReadsPerQuery < 1 {
		errs = append(errs, errors.New("reads-per-query: must be at least 1"))
	}
	if s.WritesPerCredit < 1 {
		errs = append(errs, errors.New("writes-per-credit: must be at least 1"))
	}
	return errors.Join(errs...)
}

// render is the configuration as Ditto's PersistenceCleanupActor renders
// it for retrieveConfig and modifyConfig: every key of its cleanup block,
// history-retention-duration included (the guide's examples predate that
// key), durations as HOCON writes them.
func (s Settings) render() map[string]any {
	return map[string]any{
		"enabled":                       s.Enabled,
		"history-retention-duration":    dittoconf.FormatDuration(s.HistoryRetention),
		"quiet-period":                  dittoconf.FormatDuration(s.QuietPeriod),
		"interval":                      dittoconf.FormatDuration(s.Interval),
		"timer-threshold":               dittoconf.FormatDuration(s.TimerThreshold),
		"credits-per-batch":             s.CreditsPerBatch,
		"reads-per-query":               s.ReadsPerQuery,
		"writes-per-credit":             s.WritesPerCredit,
		"delete-final-deleted-snapshot": s.DeleteFinalDeletedSnapshot,
	}
}

// keyLastPID is the key of a modifyConfig that sets where the next pass
// starts; it is not part of the configuration.
const keyLastPID = "last-pid"

// configKeys are the settings modifyConfig changes, by their keys.
var configKeys = map[string]func(s *Settings, raw json.RawMessage) error{
	"enabled": func(s *Settings, raw json.RawMessage) (err error) {
		s.Enabled, err = parseBool(raw)
		return err
	},
	"history-retention-duration": func(s *Settings, raw json.RawMessage) (err error) {
		s.HistoryRetention, err = devops.ConfigDuration(raw)
		return err
	},
	"quiet-period": func(s *Settings, raw json.RawMessage) (err error) {
		s.QuietPeriod, err = devops.ConfigDuration(raw)
		return err
	},
	"interval": func(s *Settings, raw json.RawMessage) (err error) {
		s.Interval, err = devops.ConfigDuration(raw)
		return err
	},
	"timer-threshold": func(s *Settings, raw json.RawMessage) (err error) {
		s.TimerThreshold, err = devops.ConfigDuration(raw)
		return err
	},
	"credits-per-batch": func(s *Settings, raw json.RawMessage) (err error) {
		s.CreditsPerBatch, err = devops.ConfigInt(raw)
		return err
	},
	"reads-per-query": func(s *Settings, raw json.RawMessage) (err error) {
		s.ReadsPerQuery, err = devops.ConfigInt(raw)
		return err
	},
	"writes-per-credit": func(s *Settings, raw json.RawMessage) (err error) {
		s.WritesPerCredit, err = devops.ConfigInt(raw)
		return err
	},
	"delete-final-deleted-snapshot": func(s *Settings, raw json.RawMessage) (err error) {
		s.DeleteFinalDeletedSnapshot, err = parseBool(raw)
		return err
	},
}

// modification is what a modifyConfig's config object asks for.
type modification struct {
	settings Settings
	// lastPID is set when the object has a string last-pid.
	lastPID *string
	// ignored are keys that are not settings.
	ignored []string
}

// applyConfig returns s with a modifyConfig's config object merged over
// it, as Ditto's setAll merges it over the current configuration: absent
// keys stay, values as HOCON reads them (durations "5m", "3d" or a number
// of milliseconds; booleans also "on"/"off"/"yes"/"no"; numbers also as
// strings), unknown keys are ignored. A bad or refused value is an error
// and nothing changes; a config that is not a JSON object is a
// *protocol.Error (the command itself is invalid). A last-pid that is a
// string sets where the next pass starts (Ditto ignores one of another
// type).
func applyConfig(s Settings, raw json.RawMessage) (modification, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return modification{}, protocol.ErrJSONNotOfType(string(raw), "/config", "JsonObject")
	}
	m := modification{settings: s}
	var errs []error
	for _, k := range slices.Sorted(maps.Keys(obj)) {
		v := obj[k]
		if k == keyLastPID {
			var pid string
			if json.Unmarshal(v, &pid) == nil && !bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
				m.lastPID = &pid
			}
			continue
		}
		set, ok := configKeys[k]
		if !ok {
			m.ignored = append(m.ignored, k)
			continue
		}
		if err := set(&m.settings, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return modification{}, err
	}
	if err := m.settings.validate(); err != nil {
		return modification{}, err
	}
	return m, nil
}

// parseBool reads a HOCON boolean: true/false, or the strings
// true/yes/on and false/no/off.
func parseBool(raw json.RawMessage) (bool, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, err
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true", "yes", "on":
			return true, nil
		case "false", "no", "off":
			return false, nil
		}
	}
	return false, fmt.Errorf("%s is not a boolean", raw)
}
