package search

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

// Types of the piggyback commands the search service's components answer
// besides devops.TypeRetrieveHealth, and of their responses (Ditto's
// RetrieveConfig, ModifyConfig, Shutdown and SudoUpdateThing).
const (
	typeRetrieveConfig         = "common.commands:retrieveConfig"
	typeRetrieveConfigResponse = "common.responses:retrieveConfig"
	typeModifyConfig           = "common.commands:modifyConfig"
	typeModifyConfigResponse   = "common.responses:modifyConfig"
	typeShutdown               = "common.commands:shutdown"
	typeSudoUpdateThing        = "thing-search.sudo.commands:sudoUpdateThing"
)

// Headers of a shutdown command that force the next background sync pass
// (Ditto's BackgroundSyncActor).
const (
	headerForceUpdate = "force-update"
	headerNamespaces  = "namespaces"
)

// maxPendingUpdates bounds the sudoUpdateThing commands waiting to run.
const maxPendingUpdates = 1024

// updateTimeout bounds one sudoUpdateThing: loading the thing and writing
// its entry.
const updateTimeout = 30 * time.Second

// BackgroundSyncHandler answers the piggyback commands addressed to
// background sync (devops.ComponentBackgroundSync), as Ditto's
// BackgroundSyncActor does:
//
//   - status.commands:retrieveHealth: its state, progress and event log;
//   - common.commands:retrieveConfig (optionally with a "path" such as
//     "throttle.period"): its effective configuration in Ditto's key
//     names;
//   - common.commands:modifyConfig {"config":{...}}: changes enabled,
//     quiet-period, tolerance-window, keep.events, throttle.throughput and
//     throttle.period for the passes that follow; absent keys stay; a bad
//     value is logged and changes nothing; it answers the effective
//     configuration. Disabling aborts a running pass; enabling starts one
//     after the quiet period;
//   - common.commands:shutdown: aborts a running pass; the next starts
//     after the quiet period. With the header force-update true that pass
//     rewrites the index entry of every thing (of the namespaces in the
//     header namespaces, a JSON array, when given) from its current state;
//     the passes after it are normal again. It has no response.
//
// Other types are not handled (ok false).
func (s *Service) BackgroundSyncHandler() devops.Handler {
	return func(_ context.Context, p devops.Piggyback) (devops.Answer, bool) {
		switch p.Type {
		case devops.TypeRetrieveHealth:
			return devops.JSONAnswer(http.StatusOK, healthResponse{Type: devops.TypeRetrieveHealthResponse,
				Status: http.StatusOK, StatusInfo: s.syncHealth()}), true
		case typeRetrieveConfig:
			return s.retrieveSyncConfig(p), true
		case typeModifyConfig:
			return s.modifySyncConfig(p), true
		case typeShutdown:
			return s.restartSync(p), true
		}
		return devops.Answer{}, false
	}
}

// ThingsUpdaterHandler answers the piggyback commands addressed to the
// updater of single index entries (devops.ComponentThingsUpdater):
// thing-search.sudo.commands:sudoUpdateThing {"thingId":"ns:name"} brings
// the thing's entry up to date with the thing's current state (and its
// policy's) at once, or removes it when the thing is gone. As in Ditto it
// logs a warning when it gets the command and when the update fails, and
// has no response; a command without a valid thingId gets Ditto's error.
// Other types are not handled (ok false).
func (s *Service) ThingsUpdaterHandler() devops.Handler {
	return func(_ context.Context, p devops.Piggyback) (devops.Answer, bool) {
		if p.Type != typeSudoUpdateThing {
			return devops.Answer{}, false
		}
		id, perr := parseSudoUpdateThing(p.Command)
		if perr != nil {
			s.log.Warn("ignoring an invalid sudoUpdateThing", "err", perr, "correlation-id", p.Header("correlation-id"))
			return devops.ErrorAnswer(perr), true
		}
		s.log.Warn("got sudoUpdateThing: updating the thing's search index entry", "thing_id", id,
			"correlation-id", p.Header("correlation-id"))
		select {
		case s.updates <- id:
		default:
			s.log.Warn("search index update of a thing not done: too many updates pending", "thing_id", id)
		}
		return devops.Answer{}, true
	}
}

// healthResponse is Ditto's RetrieveHealthResponse.
type healthResponse struct {
	Type       string            `json:"type"`
	Status     int               `json:"status"`
	StatusInfo devops.StatusInfo `json:"statusInfo"`
}

// configResponse is Ditto's RetrieveConfigResponse and
// ModifyConfigResponse.
type configResponse struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Config any    `json:"config"`
}

// syncReport is the detail of background sync's health: Ditto's fields
// (enabled, events, progressPersisted, progressIndexed) and what this
// implementation adds.
type syncReport struct {
	Enabled bool `json:"enabled"`
	// Events are {"<instant>": "<what happened>"}, newest first.
	Events            []map[string]string `json:"events"`
	ProgressPersisted string              `json:"progressPersisted"`
	ProgressIndexed   string              `json:"progressIndexed"`
	// State is FILLING (the index is being filled, no query answered
	// yet), RUNNING (a pass runs) or SLEEPING.
	State string `json:"state"`
	// ForceUpdate and Namespaces describe the running pass.
	ForceUpdate bool     `json:"forceUpdate,omitempty"`
	Namespaces  []string `json:"namespaces,omitempty"`
	// NextPass is when the next pass starts; NextForceUpdate and
	// NextNamespaces what it forces.
	NextPass        string   `json:"nextPass,omitempty"`
	NextForceUpdate bool     `json:"nextForceUpdate,omitempty"`
	NextNamespaces  []string `json:"nextNamespaces,omitempty"`
	// The counts are since the instance started, over all passes (the
	// index's fill included).
	Passes    int64  `json:"passes"`
	Checked   int64  `json:"checked"`
	Added     int64  `json:"added"`
	Updated   int64  `json:"updated"`
	Removed   int64  `json:"removed"`
	Rewritten int64  `json:"rewritten"`
	LastStart string `json:"lastPassStart,omitempty"`
	LastEnd   string `json:"lastPassEnd,omitempty"`
}

// emptyProgress is what Ditto reports as progress between passes (its
// LowerBound.emptyEntityId).
const emptyProgress = ":_"

// syncHealth is background sync's health: UP, with one detail at the most
// severe level of the events of the running and the last completed pass.
func (s *Service) syncHealth() devops.StatusInfo {
	c := s.ctl
	c.mu.Lock()
	st := c.settings
	events := slices.Clone(c.events)
	passing, forced, next, wakeAt := c.passing, c.forced, c.next, c.wakeAt
	c.mu.Unlock()
	r := syncReport{Enabled: st.Enabled, Events: make([]map[string]string, 0, len(events)),
		ProgressPersisted: emptyProgress, ProgressIndexed: emptyProgress, State: "SLEEPING",
		Passes: s.stats.passes.Load(), Checked: s.stats.checked.Load(), Added: s.stats.added.Load(),
		Updated: s.stats.updated.Load(), Removed: s.stats.removed.Load(), Rewritten: s.stats.rewritten.Load(),
		LastStart: unixMilliString(s.stats.lastStart.Load()), LastEnd: unixMilliString(s.stats.lastEnd.Load())}
	for _, e := range events {
		r.Events = append(r.Events, map[string]string{instant(e.at): e.name})
	}
	if p := s.stats.progressPersisted.Load(); p != nil && *p != "" {
		r.ProgressPersisted = *p
	}
	if p := s.stats.progressIndexed.Load(); p != nil && *p != "" {
		r.ProgressIndexed = *p
	}
	switch {
	case !s.Ready():
		r.State = "FILLING"
	case passing:
		r.State = "RUNNING"
	}
	if passing && forced != nil {
		r.ForceUpdate, r.Namespaces = true, forced.namespaces
	}
	if !wakeAt.IsZero() && st.Enabled {
		r.NextPass = instant(wakeAt)
	}
	if next != nil {
		r.NextForceUpdate, r.NextNamespaces = true, next.namespaces
	}
	return devops.StatusInfo{Status: devops.StatusUp, Details: []devops.Detail{{Level: eventsLevel(events), Message: r}}}
}

// eventsLevel is the most severe level of the events of the running and
// the last completed pass (Ditto's BackgroundSyncActor: the events up to
// the second end of a pass, newest first).
func eventsLevel(events []syncEvent) devops.Level {
	rank := map[devops.Level]int{devops.LevelInfo: 0, devops.LevelWarn: 1, devops.LevelError: 2}
	level, ends := devops.LevelInfo, 0
	for _, e := range events {
		if rank[e.level] > rank[level] {
			level = e.level
		}
		if e.ended {
			if ends++; ends > 1 {
				break
			}
		}
	}
	return level
}

// instant writes t as Java's Instant.toString does.
func instant(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

func unixMilliString(ms int64) string {
	if ms == 0 {
		return ""
	}
	return instant(time.UnixMilli(ms))
}

// retrieveSyncConfig answers common.commands:retrieveConfig: the whole
// configuration, or the value at its "path" (dot-separated, as in
// HOCON), or {"error": ...} when there is none (Ditto's
// RetrieveConfigBehavior).
func (s *Service) retrieveSyncConfig(p devops.Piggyback) devops.Answer {
	var cmd map[string]json.RawMessage
	_ = json.Unmarshal(p.Command, &cmd) // an object: ParsePiggyback checked
	cfg := s.ctl.current().render()
	var out any = cfg
	if raw, ok := cmd["path"]; ok && !bytes.Equal(raw, []byte("null")) {
		var path string
		if err := json.Unmarshal(raw, &path); err != nil {
			return devops.ErrorAnswer(protocol.ErrJSONNotOfType(string(raw), "/path", "String"))
		}
		v, ok := configAt(cfg, path)
		if !ok {
			v = map[string]string{"error": "No configuration setting found for key '" + path + "'"}
		}
		out = v
	}
	return devops.JSONAnswer(http.StatusOK, configResponse{Type: typeRetrieveConfigResponse, Status: http.StatusOK, Config: out})
}

// configAt is the value at a dot-separated path of a rendered
// configuration.
func configAt(cfg map[string]any, path string) (any, bool) {
	var cur any = cfg
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// modifySyncConfig answers common.commands:modifyConfig.
func (s *Service) modifySyncConfig(p devops.Piggyback) devops.Answer {
	var cmd map[string]json.RawMessage
	_ = json.Unmarshal(p.Command, &cmd)
	raw, ok := cmd["config"]
	if !ok {
		return devops.ErrorAnswer(protocol.ErrJSONFieldMissing("/config"))
	}
	c := s.ctl
	c.mu.Lock()
	prev := c.settings
	next, ignored, err := applyConfig(prev, raw)
	if err != nil {
		c.mu.Unlock()
		var perr *protocol.Error
		if errors.As(err, &perr) {
			return devops.ErrorAnswer(perr)
		}
		s.log.Error("background sync config not changed", "err", err, "correlation-id", p.Header("correlation-id"))
		return devops.JSONAnswer(http.StatusOK, configResponse{Type: typeModifyConfigResponse, Status: http.StatusOK, Config: prev.render()})
	}
	c.settings = next
	if len(c.events) > next.KeepEvents {
		c.events = c.events[:next.KeepEvents]
	}
	aborted := false
	if prev.Enabled && !next.Enabled {
		if aborted = c.abortLocked(); aborted {
			c.recordLocked(syncEvent{name: "Stream terminated: disabled by modifyConfig", level: devops.LevelInfo, ended: true})
		}
	}
	c.mu.Unlock()
	if !prev.Enabled && next.Enabled {
		c.signalRestart()
	}
	cfg := next.render()
	attrs := []any{"config", cfg, "correlation-id", p.Header("correlation-id")}
	if len(ignored) > 0 {
		attrs = append(attrs, "ignored", ignored)
	}
	s.log.Info("background sync config modified", attrs...)
	if aborted {
		s.log.Info("background sync disabled: the running pass is aborted")
	}
	return devops.JSONAnswer(http.StatusOK, configResponse{Type: typeModifyConfigResponse, Status: http.StatusOK, Config: cfg})
}

// restartSync handles common.commands:shutdown: no response, except
// Ditto's error for a namespaces header that is not a JSON array of
// namespaces (nothing is done then).
func (s *Service) restartSync(p devops.Piggyback) devops.Answer {
	force := strings.EqualFold(p.Header(headerForceUpdate), "true")
	namespaces, perr := parseNamespacesHeader(p.Header(headerNamespaces))
	if perr != nil {
		s.log.Warn("ignoring a background sync shutdown", "err", perr, "correlation-id", p.Header("correlation-id"))
		return devops.ErrorAnswer(perr)
	}
	corr := p.Header("correlation-id")
	c := s.ctl
	c.mu.Lock()
	aborted := c.abortLocked()
	what := "Got Shutdown"
	c.next = nil
	if force {
		c.next = &forceSpec{namespaces: namespaces}
		what += " with force-update"
	}
	c.recordLocked(syncEvent{name: what, level: devops.LevelInfo, ended: true})
	st := c.settings
	c.mu.Unlock()
	c.signalRestart()
	s.log.Info("terminating the background sync stream on demand", "running_pass_aborted", aborted, "correlation-id", corr)
	if st.Enabled {
		s.log.Info(fmt.Sprintf("background sync restarting in <%s>", dittoconf.FormatDuration(st.QuietPeriod)), "correlation-id", corr)
	} else {
		s.log.Info("not restarting background sync: it is disabled", "correlation-id", corr)
	}
	switch {
	case force && namespaces == nil:
		s.log.Info("next background sync pass will force update things of all namespaces", "correlation-id", corr)
	case force:
		s.log.Info("next background sync pass will force update things of namespace(s): "+strings.Join(namespaces, ", "), "correlation-id", corr)
	case namespaces != nil:
		s.log.Info("namespace filtering can only be used in combination with force-update=true", "correlation-id", corr)
	}
	return devops.Answer{}
}

// parseNamespacesHeader reads the namespaces header: a JSON array whose
// strings are the namespaces (other elements are skipped, as Ditto does);
// nil when absent or without any.
func parseNamespacesHeader(h string) ([]string, *protocol.Error) {
	if h == "" {
		return nil, nil
	}
	var elems []json.RawMessage
	if err := json.Unmarshal([]byte(h), &elems); err != nil {
		return nil, protocol.ErrJSONInvalid(fmt.Sprintf("The header <%s> with value <%s> is not a JSON array of namespaces.", headerNamespaces, h))
	}
	var out []string
	for _, e := range elems {
		var ns string
		if json.Unmarshal(e, &ns) != nil || bytes.Equal(e, []byte("null")) {
			continue
		}
		if !protocol.ValidateNamespace(ns) {
			return nil, protocol.ErrJSONInvalid(fmt.Sprintf("The header <%s> names the invalid namespace <%s>.", headerNamespaces, ns))
		}
		out = append(out, ns)
	}
	return out, nil
}

// parseSudoUpdateThing reads Ditto's SudoUpdateThing JSON: thingId
// required, a valid thing id; its other fields (invalidateThing,
// invalidatePolicy, updateReason) change nothing here, the thing and its
// policy are always loaded anew.
func parseSudoUpdateThing(cmd json.RawMessage) (string, *protocol.Error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(cmd, &fields); err != nil || fields == nil {
		return "", protocol.ErrJSONInvalid("Failed to parse JSON string '" + string(cmd) + "'!")
	}
	raw, ok := fields["thingId"]
	if !ok {
		return "", protocol.ErrJSONFieldMissing("/thingId")
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil || bytes.Equal(raw, []byte("null")) {
		return "", protocol.ErrJSONNotOfType(string(raw), "/thingId", "String")
	}
	if !protocol.ValidEntityID(id) {
		return "", protocol.ErrThingIDInvalid(id)
	}
	return id, nil
}

// runUpdates carries out the sudoUpdateThing commands, a few at once,
// until ctx ends.
func (s *Service) runUpdates(ctx context.Context) {
	sem := make(chan struct{}, s.cfg.Fetches)
	done := make(chan struct{})
	running := 0
	for {
		select {
		case <-ctx.Done():
			for ; running > 0; running-- {
				<-done
			}
			return
		case id := <-s.updates:
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				continue
			}
			running++
			go func() {
				defer func() { done <- struct{}{} }()
				defer func() { <-sem }()
				s.updateThing(ctx, id)
			}()
		case <-done:
			running--
		}
	}
}

// updateThing brings the index entry of a thing up to date now: it is
// rebuilt from the thing's current state and its policy's, or removed
// when the thing is gone. The apply loop writes it, so an entry the
// events have brought further meanwhile stays.
func (s *Service) updateThing(ctx context.Context, id string) {
	ctx, cancel := context.WithTimeout(ctx, updateTimeout)
	defer cancel()
	r := repair{id: id, force: true, done: make(chan struct{})}
	t, err := s.src.retrieveThing(ctx, id)
	switch {
	case errors.Is(err, errGone):
		e, ok, err := s.ix.Get(ctx, id)
		if err != nil {
			s.log.Warn("search index update of a thing failed", "thing_id", id, "err", err)
			return
		}
		if !ok {
			s.log.Info("search index update of a thing: neither the thing nor an index entry exists", "thing_id", id)
			return
		}
		r.seenRev = e.Revision
	case err != nil:
		s.log.Warn("search index update of a thing failed", "thing_id", id, "err", err)
		return
	default:
		r.thing = t
		pid := policyOf(t.doc)
		s.policies.invalidate(pid)
		if _, err := s.policies.get(ctx, pid); err != nil {
			s.log.Warn("search index update of a thing failed", "thing_id", id, "policy_id", pid, "err", err)
			return
		}
	}
	select {
	case s.repairs <- r:
	case <-ctx.Done():
		s.log.Warn("search index update of a thing failed", "thing_id", id, "err", ctx.Err())
		return
	}
	select {
	case <-r.done:
		if r.thing.revision == 0 {
			s.log.Info("search index entry of a thing removed: the thing is gone", "thing_id", id)
		} else {
			s.log.Info("search index entry of a thing updated", "thing_id", id, "revision", r.thing.revision)
		}
	case <-ctx.Done():
		s.log.Warn("search index update of a thing not written in time", "thing_id", id, "err", ctx.Err())
	}
}

// render is the configuration as Ditto's background-sync block names
// it, durations written as HOCON writes them ("8m").
func (st syncSettings) render() map[string]any {
	return map[string]any{
		"enabled":          st.Enabled,
		"quiet-period":     dittoconf.FormatDuration(st.QuietPeriod),
		"tolerance-window": dittoconf.FormatDuration(st.Tolerance),
		"keep":             map[string]any{"events": st.KeepEvents},
		"throttle":         map[string]any{"throughput": st.Throughput, "period": dittoconf.FormatDuration(st.Period)},
	}
}

// configKeys are the settings modifyConfig changes, by their paths in
// Ditto's background-sync block.
var configKeys = map[string]func(st *syncSettings, raw json.RawMessage) error{
	"enabled": func(st *syncSettings, raw json.RawMessage) (err error) {
		st.Enabled, err = parseConfigBool(raw)
		return err
	},
	"quiet-period": func(st *syncSettings, raw json.RawMessage) (err error) {
		st.QuietPeriod, err = parseConfigDuration(raw, false)
		return err
	},
	"tolerance-window": func(st *syncSettings, raw json.RawMessage) (err error) {
		st.Tolerance, err = parseConfigDuration(raw, false)
		return err
	},
	"keep.events": func(st *syncSettings, raw json.RawMessage) (err error) {
		st.KeepEvents, err = parseConfigInt(raw, 0)
		return err
	},
	"throttle.throughput": func(st *syncSettings, raw json.RawMessage) (err error) {
		st.Throughput, err = parseConfigInt(raw, 1)
		return err
	},
	"throttle.period": func(st *syncSettings, raw json.RawMessage) (err error) {
		st.Period, err = parseConfigDuration(raw, true)
		return err
	},
}

// applyConfig returns st with the settings of a modifyConfig's config
// object applied, as Ditto merges it over the current configuration:
// nested objects ({"keep":{"events":10}}) or dotted keys
// ({"keep.events":10}); values as HOCON reads them (durations as "5m",
// "1h", "30s" or milliseconds; booleans also "on"/"off"/"yes"/"no";
// numbers also as strings). Keys it does not know are returned as
// ignored. Any bad value is an error and st stays; a config that is not
// a JSON object is a *protocol.Error (the command itself is invalid).
func applyConfig(st syncSettings, raw json.RawMessage) (syncSettings, []string, error) {
	var obj map[string]json.RawMessage
	if err := json.Unmarshal(raw, &obj); err != nil || obj == nil {
		return st, nil, protocol.ErrJSONNotOfType(string(raw), "/config", "JsonObject")
	}
	leaves := map[string]json.RawMessage{}
	var order []string
	var flatten func(prefix string, obj map[string]json.RawMessage, depth int) error
	flatten = func(prefix string, obj map[string]json.RawMessage, depth int) error {
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			path := prefix + k
			v := obj[k]
			var sub map[string]json.RawMessage
			if depth < 8 && len(bytes.TrimSpace(v)) > 0 && bytes.TrimSpace(v)[0] == '{' {
				if err := json.Unmarshal(v, &sub); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				if err := flatten(path+".", sub, depth+1); err != nil {
					return err
				}
				continue
			}
			if _, ok := leaves[path]; !ok {
				order = append(order, path)
			}
			leaves[path] = v
		}
		return nil
	}
	if err := flatten("", obj, 0); err != nil {
		return st, nil, err
	}
	next := st
	var errs []error
	var ignored []string
	for _, path := range order {
		set, ok := configKeys[path]
		if !ok {
			if isConfigSection(path) {
				errs = append(errs, fmt.Errorf("%s: must be an object", path))
			} else {
				ignored = append(ignored, path)
			}
			continue
		}
		if err := set(&next, leaves[path]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return st, nil, err
	}
	return next, ignored, nil
}

// isConfigSection reports whether path is an object of the configuration
// ("keep", "throttle").
func isConfigSection(path string) bool {
	for k := range configKeys {
		if strings.HasPrefix(k, path+".") {
			return true
		}
	}
	return false
}

// parseConfigBool reads a HOCON boolean: true/false, or the strings
// true/yes/on and false/no/off.
func parseConfigBool(raw json.RawMessage) (bool, error) {
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return false, err
	}
	switch v := v.(type) {
	case bool:
		return v, nil
	case string:
		switch v {
		case "true", "yes", "on":
			return true, nil
		case "false", "no", "off":
			return false, nil
		}
	}
	return false, fmt.Errorf("%s is not a boolean", raw)
}

// parseConfigInt reads a HOCON int of at least minimum
// (devops.ConfigInt).
func parseConfigInt(raw json.RawMessage, minimum int) (int, error) {
	n, err := devops.ConfigInt(raw)
	if err != nil {
		return 0, err
	}
	if n < minimum {
		return 0, fmt.Errorf("%d: must be at least %d", n, minimum)
	}
	return n, nil
}

// parseConfigDuration reads a HOCON duration: a string as
// dittoconf.ParseDuration reads it, or a JSON number of milliseconds. It must
// not be negative, and not zero when positive is set.
func parseConfigDuration(raw json.RawMessage, positive bool) (time.Duration, error) {
	dur, err := devops.ConfigDuration(raw)
	switch {
	case err != nil:
		return 0, err
	case dur < 0:
		return 0, fmt.Errorf("%s: must not be negative", raw)
	case positive && dur == 0:
		return 0, fmt.Errorf("%s: must be positive", raw)
	}
	return dur, nil
}
