package policies

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/creation"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/internal/limits"
	"github.com/dittonats/dittonats/services/internal/logging"
	"github.com/dittonats/dittonats/streams"
)

// Config is the policies service's configuration, read with envconfig
// (empty prefix). Names are Ditto's where Ditto has the setting.
type Config struct {
	// SnapshotThreshold is Ditto's ditto.policies.policy.snapshot.threshold.
	SnapshotThreshold int64 `envconfig:"POLICY_SNAPSHOT_THRESHOLD" default:"500" desc:"write a snapshot of a policy after this many changes"`
	// SubjectExpiryGranularity is Ditto's
	// ditto.policies.policy.subject-expiry-granularity.
	SubjectExpiryGranularity time.Duration `envconfig:"POLICY_SUBJECT_EXPIRY_GRANULARITY" default:"1h" desc:"subject expiries are rounded up to a multiple of this; 0 keeps them exact"`
	// AnnouncementGranularity is Ditto's
	// ditto.policies.policy.subject-deletion-announcement-granularity.
	AnnouncementGranularity time.Duration `envconfig:"POLICY_SUBJECT_DELETION_ANNOUNCEMENT_GRANULARITY" default:"1m" desc:"the beforeExpiry of subject announcements is rounded up to a multiple of this"`
	// Ditto's ditto.policies.policy.announcement: how subject deletion
	// announcements are sent (expiry.go).
	GracePeriod          time.Duration `envconfig:"POLICY_ANNOUNCEMENT_GRACE_PERIOD" default:"4h" desc:"how long after a subject's expiry its announcement is sent again while the acknowledgements it requests do not come; the subject is removed when they came or this has passed"`
	MaxTimeout           time.Duration `envconfig:"POLICY_ANNOUNCEMENT_MAX_TIMEOUT" default:"60s" desc:"the longest an announcement waits for its requested acknowledgements (requestedAcks/timeout is capped at it)"`
	WhenDeleted          bool          `envconfig:"POLICY_ENABLE_ANNOUNCEMENTS_WHEN_DELETED" default:"true" desc:"send announcements of subjects with whenDeleted when they are deleted"`
	DefaultRandomization time.Duration `envconfig:"POLICY_ANNOUNCEMENT_DEFAULT_RANDOMIZATION_INTERVAL" default:"5m" desc:"a beforeExpiry announcement is sent up to this much earlier (a random part of it) when the subject gives no randomizationInterval"`
	BackoffMin           time.Duration `envconfig:"POLICY_ANNOUNCEMENT_BACKOFF_MIN" default:"1s" desc:"first wait before an unacknowledged announcement is sent again"`
	BackoffMax           time.Duration `envconfig:"POLICY_ANNOUNCEMENT_BACKOFF_MAX" default:"1h" desc:"longest wait between sending an unacknowledged announcement again"`
	BackoffRandomFactor  float64       `envconfig:"POLICY_ANNOUNCEMENT_BACKOFF_RANDOM_FACTOR" default:"1.0" desc:"random factor of the back-off: next = previous * (1.5 + factor * rand(0, 0.5))"`
	// MailboxSize bounds the commands queued per policy.
	MailboxSize int `envconfig:"POLICIES_MAILBOX_SIZE" default:"100" desc:"commands queued per policy before answering 429"`
	// MaxEntities bounds the policies held in memory.
	MaxEntities int `envconfig:"POLICIES_MAX_ENTITIES_IN_MEMORY" default:"20000" desc:"policies held in memory; idle ones beyond are evicted and reloaded on use (the things service caches what it enforces with, so few need to stay; 0: no limit)"`
	// HistoricalHeaders is Ditto's
	// ditto.policies.policy.event.historical-headers-to-persist (none by
	// default there too).
	HistoricalHeaders logging.HeaderNames `envconfig:"POLICY_EVENT_HISTORICAL_HEADERS_TO_PERSIST" desc:"headers journaled with each policy event (comma-separated, e.g. ditto-originator,correlation-id) and returned as historical-headers by a retrieve at a historical revision or timestamp; none by default"`
	// Limits are the platform's LIMITS_* settings (Ditto's ditto.limits),
	// which the process reads once for every service (so not here); the
	// policies service applies LIMITS_POLICIES_MAX_SIZE.
	Limits limits.Config `ignored:"true"`
	// Creation is who may create which policies where (Ditto's
	// ditto.entity-creation), read from the configuration tree.
	Creation creation.Rules `ignored:"true"`
	// NamespaceRoots are the namespace root policies (Ditto's
	// ditto.namespace-policies, read from the configuration tree): the
	// ids of the policies whose implicit entries apply to every policy
	// of a namespace. Nil: none.
	NamespaceRoots func(namespace string) []string `ignored:"true"`
}

// Validate reports every setting that cannot work, naming its variable.
func (c Config) Validate() error {
	var errs []error
	if c.SnapshotThreshold < 1 {
		errs = append(errs, fmt.Errorf("POLICY_SNAPSHOT_THRESHOLD %d: must be at least 1", c.SnapshotThreshold))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.SubjectExpiryGranularity < 0 {
		errs = append(errs, fmt.Errorf("POLICY_SUBJECT_EXPIRY_GRANULARITY %s: must not be negative", c.SubjectExpiryGranularity))
	}
	if c.AnnouncementGranularity < 0 {
		errs = append(errs, fmt.Errorf("POLICY_SUBJECT_DELETION_ANNOUNCEMENT_GRANULARITY %s: must not be negative", c.AnnouncementGranularity))
	}
	if c.GracePeriod < 0 || c.MaxTimeout < 0 || c.DefaultRandomization < 0 || c.BackoffMin < 0 || c.BackoffMax < 0 || c.BackoffRandomFactor < 0 {
		errs = append(errs, fmt.Errorf("POLICY_ANNOUNCEMENT_*: grace period %s, max timeout %s, randomization %s, back-off %s..%s, random factor %g: none may be negative",
			c.GracePeriod, c.MaxTimeout, c.DefaultRandomization, c.BackoffMin, c.BackoffMax, c.BackoffRandomFactor))
	}
	if c.MailboxSize < 1 {
		errs = append(errs, fmt.Errorf("POLICIES_MAILBOX_SIZE %d: must be at least 1", c.MailboxSize))
	}
	if c.MaxEntities < 0 {
		errs = append(errs, fmt.Errorf("POLICIES_MAX_ENTITIES_IN_MEMORY %d: must not be negative", c.MaxEntities))
	}
	return errors.Join(errs...)
}

// Deps are what the service runs on.
type Deps = entity.Deps

// Service is the policies service: it owns the policy entities of the
// shards it holds leases for.
type Service struct {
	cfg  Config
	d    Deps
	h    *handler
	host *entity.Host
}

// New checks cfg and d and returns a Service; Run starts it.
func New(cfg Config, d Deps) (*Service, error) {
	var errs []error
	if err := cfg.Validate(); err != nil {
		errs = append(errs, err)
	}
	if d.NC == nil || d.JS == nil || d.Journal == nil || d.Leases == nil || d.Published == nil {
		errs = append(errs, errors.New("policies: NATS connection, JetStream, journal, lease and publication buckets are required"))
	}
	if d.Shards < 1 {
		errs = append(errs, fmt.Errorf("policies: shards %d: must be at least 1", d.Shards))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, d: d, h: &handler{
		maxSize:     int64(cfg.Limits.PoliciesMaxSize),
		granularity: cfg.SubjectExpiryGranularity,
		now:         time.Now,
		creation:    cfg.Creation,
		roots:       cfg.NamespaceRoots,
		maxImports:  cfg.Limits.PoliciesMaxImports,

		announcementGranularity: cfg.AnnouncementGranularity,
	}}
	host, err := entity.New(entity.Config{
		Kind:              "policy",
		Service:           streams.ServicePolicies,
		Group:             protocol.GroupPolicies,
		Channel:           "",
		EventSubject:      d.Names.PolicyEvents,
		MailboxSize:       cfg.MailboxSize,
		SnapshotEvery:     cfg.SnapshotThreshold,
		MaxEntities:       cfg.MaxEntities,
		ParseEventPath:    parseEventPath,
		HistoricalHeaders: cfg.HistoricalHeaders,
		Errors: entity.Errors{
			TooManyRequests:        protocol.ErrPolicyTooManyModifyingRequests,
			Unavailable:            protocol.ErrPolicyUnavailable,
			HistoryNotAccessible:   protocol.ErrPolicyHistoryNotAccessible,
			HistoryNotAccessibleAt: protocol.ErrPolicyHistoryNotAccessibleAt,
		},
	}, s.d, s.h)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	s.host = host
	s.h.load = loader(host)
	// Zero (a Config not read from the environment) means Ditto's
	// defaults where zero cannot work.
	xc := announceConfig{GracePeriod: cfg.GracePeriod, MaxTimeout: cfg.MaxTimeout, DefaultRandomization: cfg.DefaultRandomization,
		BackoffMin: cfg.BackoffMin, BackoffMax: cfg.BackoffMax, WhenDeleted: cfg.WhenDeleted, BackoffRandomFactor: cfg.BackoffRandomFactor}
	if xc.MaxTimeout == 0 {
		xc.MaxTimeout = time.Minute
	}
	if xc.BackoffMin == 0 {
		xc.BackoffMin = time.Second
	}
	xc.BackoffMax = max(xc.BackoffMax, xc.BackoffMin)
	s.h.exp = newExpiries(xc, d.NC, d.JS, d.Names, command.New(d.NC, d.Names, d.Shards),
		func(id string) bool {
			_, serving := host.Published(streams.Shard(id, d.Shards))
			return serving
		}, d.Log, s.h.now)
	return s, nil
}

// Run serves policy commands on the shards this instance leases until ctx
// ends, then hands the shards back and returns once every command received
// has been answered.
func (s *Service) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	expired := make(chan struct{})
	go func() {
		defer close(expired)
		// Without it subjects still lose their effect at expiry
		// (enforcement ignores expired subjects); they are only not
		// removed and announced.
		if err := s.h.exp.run(ctx); err != nil && ctx.Err() == nil {
			s.d.Log.Error("subject expiry stopped", "err", err)
		}
	}()
	err := s.host.Serve(ctx)
	cancel()
	<-expired
	return err
}
