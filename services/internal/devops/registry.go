package devops

import (
	"context"
	"log/slog"
	"slices"
	"strings"
	"sync"
)

// Logger names as Ditto's logback configuration names them.
const (
	// Root is the root logger: every logger without a level of its own
	// logs at the level of its nearest ancestor that has one, and Root
	// always has one. A ChangeLogLevel without a logger changes Root.
	Root = "ROOT"
	// Ditto is the platform's own code (Ditto's "org.eclipse.ditto"): what
	// a service logs through the logger it is given.
	Ditto = "org.eclipse.ditto"
	// NATSClient is the NATS client library's asynchronous errors on a
	// service's connection (nats.go's error handler).
	NATSClient = "io.nats.client"
)

// Registry holds the named loggers of one service instance and their
// levels. Names form a hierarchy at dots, as logback's do: a logger's
// effective level is its own level if it has one, else its nearest named
// ancestor's, else Root's. A change takes effect at once in every handler
// made by Handler. Safe for concurrent use.
type Registry struct {
	// mu guards the loggers map and every node's own level; the effective
	// levels are LevelVars that handlers read without it.
	mu      sync.Mutex
	loggers map[string]*node
}

type node struct {
	own       slog.Level
	hasOwn    bool
	effective slog.LevelVar
}

// NewRegistry returns a registry with Root at root and Ditto at app, each
// with a level of its own (as Ditto's logback.xml sets LOG_LEVEL on root
// and LOG_LEVEL_APPLICATION on org.eclipse.ditto), and NATSClient
// inheriting Root's.
func NewRegistry(root, app slog.Level) *Registry {
	r := &Registry{loggers: map[string]*node{}}
	r.Set(Root, root)
	r.Set(Ditto, app)
	r.mu.Lock()
	r.nodeLocked(NATSClient)
	r.recomputeLocked()
	r.mu.Unlock()
	return r
}

// nodeLocked returns the logger name, creating it without a level of its
// own. r.mu must be held.
func (r *Registry) nodeLocked(name string) *node {
	n, ok := r.loggers[name]
	if !ok {
		n = &node{}
		r.loggers[name] = n
	}
	return n
}

// recomputeLocked sets every logger's effective level from its own or its
// ancestors'. Registries hold a handful of loggers, so all of them are
// recomputed on every change. r.mu must be held.
func (r *Registry) recomputeLocked() {
	for name, n := range r.loggers {
		n.effective.Set(r.inheritedLocked(name))
	}
}

func (r *Registry) inheritedLocked(name string) slog.Level {
	for {
		if n, ok := r.loggers[name]; ok && n.hasOwn {
			return n.own
		}
		i := strings.LastIndexByte(name, '.')
		if i < 0 || name == Root {
			return r.loggers[Root].own
		}
		name = name[:i]
	}
}

// Set gives the logger name the level l (creating it, as logback does for
// a name it has not seen), effective at once for it and every descendant
// without a level of its own. An empty name is Root.
func (r *Registry) Set(name string, l slog.Level) {
	if name == "" {
		name = Root
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.nodeLocked(name)
	n.own, n.hasOwn = l, true
	r.recomputeLocked()
}

// Level returns the effective level of the logger name.
func (r *Registry) Level(name string) slog.Level {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.inheritedLocked(name)
}

// LoggerConfig is Ditto's LoggerConfig JSON: a logger and its level.
type LoggerConfig struct {
	Level  string `json:"level"`
	Logger string `json:"logger,omitempty"`
}

// Configs lists the loggers with a level of their own, as Ditto's
// LogbackLoggingFacade does: Root first, then by name. With
// includeDisabled it also lists the loggers without one, at "off" (logback
// reports a logger without a level of its own as off).
func (r *Registry) Configs(includeDisabled bool) []LoggerConfig {
	r.mu.Lock()
	names := make([]string, 0, len(r.loggers))
	for name := range r.loggers {
		names = append(names, name)
	}
	r.mu.Unlock()
	return r.configsOf(sortLoggers(names), includeDisabled)
}

// Specific lists the named loggers that have a level of their own, in the
// order asked.
func (r *Registry) Specific(names []string) []LoggerConfig {
	return r.configsOf(names, false)
}

func (r *Registry) configsOf(names []string, includeDisabled bool) []LoggerConfig {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := []LoggerConfig{}
	for _, name := range names {
		n, ok := r.loggers[name]
		switch {
		case ok && n.hasOwn:
			out = append(out, LoggerConfig{Level: LevelName(n.own), Logger: name})
		case ok && includeDisabled:
			out = append(out, LoggerConfig{Level: "off", Logger: name})
		}
	}
	return out
}

func sortLoggers(names []string) []string {
	slices.SortFunc(names, func(a, b string) int {
		switch {
		case a == b:
			return 0
		case a == Root:
			return -1
		case b == Root:
			return 1
		}
		return strings.Compare(a, b)
	})
	return names
}

// Handler returns a handler that passes to h what the logger name admits,
// at its current effective level; name is registered (without a level of
// its own) if it is new. h should admit every level: the registry filters.
func (r *Registry) Handler(name string, h slog.Handler) slog.Handler {
	r.mu.Lock()
	n := r.nodeLocked(name)
	n.effective.Set(r.inheritedLocked(name))
	r.mu.Unlock()
	return Filter(h, &n.effective)
}

// Logger returns a logger of name writing to h; see Handler.
func (r *Registry) Logger(name string, h slog.Handler) *slog.Logger {
	return slog.New(r.Handler(name, h))
}

// Filter returns a handler that passes to h the records at or above
// level, read on every record (a *slog.LevelVar changes it at once).
func Filter(h slog.Handler, level slog.Leveler) slog.Handler {
	return &filter{h: h, level: level}
}

type filter struct {
	h     slog.Handler
	level slog.Leveler
}

func (f *filter) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= f.level.Level() && f.h.Enabled(ctx, l)
}

func (f *filter) Handle(ctx context.Context, rec slog.Record) error { return f.h.Handle(ctx, rec) }

func (f *filter) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &filter{h: f.h.WithAttrs(attrs), level: f.level}
}

func (f *filter) WithGroup(name string) slog.Handler {
	return &filter{h: f.h.WithGroup(name), level: f.level}
}
