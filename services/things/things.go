package things

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/creation"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/internal/limits"
	"github.com/dittonats/dittonats/services/internal/logging"
	"github.com/dittonats/dittonats/streams"
)

// Config is the things service's configuration (environment variables).
// THINGS_POLICY_CACHE_TTL is Ditto's ditto.policies-enforcer-cache
// expire-after-write (policies/enforcement reference.conf, 1h there too): how
// long a lost policy event can leave a policy change unenforced.
type Config struct {
	SnapshotThreshold int64         `envconfig:"THING_SNAPSHOT_THRESHOLD" default:"500" desc:"write a snapshot of a thing every this many events"`
	MailboxSize       int           `envconfig:"THINGS_MAILBOX_SIZE" default:"100" desc:"commands queued per thing before answering 429 too many modifying requests"`
	MaxThingsInMemory int           `envconfig:"THINGS_MAX_IN_MEMORY" default:"1000000" desc:"things held in memory per instance; idle ones beyond are evicted and reloaded on use"`
	PolicyCacheSize   int           `envconfig:"THINGS_POLICY_CACHE_SIZE" default:"200000" desc:"compiled policies cached for enforcement per instance"`
	PolicyCacheTTL    time.Duration `envconfig:"THINGS_POLICY_CACHE_TTL" default:"1h" desc:"a cached policy is loaded again this long after it was loaded, whatever policy events said"`
	DefaultTimeout    time.Duration `envconfig:"THINGS_DEFAULT_TIMEOUT" default:"60s" desc:"timeout of commands that carry no timeout header"`
	// HistoricalHeaders is Ditto's
	// ditto.things.thing.event.historical-headers-to-persist (none by
	// default there too).
	HistoricalHeaders logging.HeaderNames `envconfig:"THING_EVENT_HISTORICAL_HEADERS_TO_PERSIST" desc:"headers journaled with each thing event (comma-separated, e.g. ditto-originator,correlation-id) and returned as historical-headers by a retrieve at a historical revision or timestamp; none by default"`
	// Limits are the platform's LIMITS_* settings, which the process
	// reads once for every service (so they are not read here).
	Limits limits.Config `ignored:"true"`
	// Creation is who may create which things where (Ditto's
	// ditto.entity-creation), read from the configuration tree.
	Creation creation.Rules `ignored:"true"`
	// NamespaceRoots are the namespace root policies (Ditto's
	// ditto.namespace-policies, from the configuration tree); nil: none.
	NamespaceRoots func(namespace string) []string `ignored:"true"`
	// inboxSize is entity.Config.InboxSize (tests only: export_test.go).
	inboxSize int
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.SnapshotThreshold < 1 {
		errs = append(errs, fmt.Errorf("THING_SNAPSHOT_THRESHOLD %d: must be at least 1", c.SnapshotThreshold))
	}
	if c.MailboxSize < 1 {
		errs = append(errs, fmt.Errorf("THINGS_MAILBOX_SIZE %d: must be at least 1", c.MailboxSize))
	}
	if c.MaxThingsInMemory < 1 {
		errs = append(errs, fmt.Errorf("THINGS_MAX_IN_MEMORY %d: must be at least 1", c.MaxThingsInMemory))
	}
	if c.PolicyCacheSize < 1 {
		errs = append(errs, fmt.Errorf("THINGS_POLICY_CACHE_SIZE %d: must be at least 1", c.PolicyCacheSize))
	}
	if c.PolicyCacheTTL <= 0 {
		errs = append(errs, fmt.Errorf("THINGS_POLICY_CACHE_TTL %s: must be positive", c.PolicyCacheTTL))
	}
	if c.DefaultTimeout <= 0 {
		errs = append(errs, fmt.Errorf("THINGS_DEFAULT_TIMEOUT %s: must be positive", c.DefaultTimeout))
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Deps are what the service runs on.
type Deps = entity.Deps

// Service is a things service instance.
type Service struct {
	host  *entity.Host
	deps  Deps
	cache *policyCache
}

// New wires a things service; Run starts it.
func New(cfg Config, d Deps) (*Service, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cmds := command.New(d.NC, d.Names, d.Shards)
	pc := &policyClient{cmd: cmds}
	cache := newPolicyCache(func(ctx context.Context, policyID string) (jsonv.Value, error) {
		return pc.retrieve(ctx, policyID, nil, true)
	}, cfg.PolicyCacheSize, cfg.PolicyCacheTTL)
	if d.Log != nil {
		cache.log = d.Log
	}
	cache.roots = cfg.NamespaceRoots
	h := &handler{
		maxThingSize: int(cfg.Limits.ThingsMaxSize), // 0: no limit
		creation:     cfg.Creation,
		cache:        cache,
		policies:     pc,
		log:          d.Log,
		nc:           d.NC,
		names:        d.Names,
	}
	h.resolveThingPolicy = func(ctx context.Context, thingID string, auth []string) (string, error) {
		return retrievePolicyID(ctx, cmds, thingID, auth)
	}
	host, err := entity.New(entity.Config{
		Kind: "thing", Service: streams.ServiceThings, Group: protocol.GroupThings, Channel: protocol.ChannelTwin,
		EventSubject: d.Names.ThingEvents,
		MailboxSize:  cfg.MailboxSize, SnapshotEvery: cfg.SnapshotThreshold, MaxEntities: cfg.MaxThingsInMemory,
		DefaultTimeout:    cfg.DefaultTimeout,
		HistoricalHeaders: cfg.HistoricalHeaders,
		InboxSize:         cfg.inboxSize,
		Errors: entity.Errors{
			TooManyRequests:        protocol.ErrThingTooManyModifyingRequests,
			Unavailable:            protocol.ErrThingUnavailable,
			HistoryNotAccessible:   protocol.ErrThingHistoryNotAccessible,
			HistoryNotAccessibleAt: protocol.ErrThingHistoryNotAccessibleAt,
		},
	}, d, h)
	if err != nil {
		return nil, err
	}
	events, err := host.Observe(d.Names.PolicyStoredEventsAll(), cache.observe)
	if err != nil {
		return nil, err
	}
	// Set before Run: no command is enforced before this.
	cache.gaps = eventGaps(d.NC, events)
	return &Service{host: host, deps: d, cache: cache}, nil
}

// Run serves the shards this instance leases until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	return s.host.Serve(ctx)
}

// retrievePolicyID reads a thing's policy id as the caller may read it.
func retrievePolicyID(ctx context.Context, cmds *command.Client, thingID string, auth []string) (string, error) {
	ns, name := protocol.SplitID(thingID)
	env := protocol.Envelope{
		Topic:   protocol.Topic{Namespace: ns, EntityName: name, Group: protocol.GroupThings, Channel: protocol.ChannelTwin, Criterion: protocol.CriterionCommands, Action: protocol.ActionRetrieve}.String(),
		Headers: protocol.Headers{},
		Path:    "/policyId",
	}
	req := command.Request{Envelope: env, EntityID: thingID, Group: protocol.GroupThings, Auth: command.EncodeAuth(auth)}
	if req.Auth == "" {
		req.Kind = streams.KindInternal // for a sudo command
	}
	reply, err := cmds.Request(ctx, req)
	if err != nil {
		return "", protocol.ErrThingUnavailable(thingID)
	}
	if perr, ok := reply.AsError(); ok {
		return "", perr
	}
	var id string
	if err := jsonUnmarshalString(reply.Value, &id); err != nil {
		return "", err
	}
	return id, nil
}
