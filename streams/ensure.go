package streams

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Config sizes the streams and buckets Ensure creates.
type Config struct {
	// Replicas is the replica count of every stream and bucket (1 on a
	// single server, 3 on a production cluster).
	Replicas int
	// EventsMaxAge bounds how long events stay in the event streams. History
	// is answered from the journal, so this only bounds how far a durable
	// consumer that was away can catch up from the stream.
	EventsMaxAge time.Duration
	// EventsMaxBytes bounds each event stream's size; -1 is unlimited.
	EventsMaxBytes int64
	// LeaseTTL is how long a shard lease lives without renewal.
	LeaseTTL time.Duration
	// DuplicateWindow is how long JetStream remembers event message ids
	// to drop a republished event. Publishers retry within seconds; every
	// id in the window costs the server memory (at 5k events/s a 2 minute
	// window holds 600k of them).
	DuplicateWindow time.Duration
}

// DefaultConfig returns the sizes of the embedded default.
func DefaultConfig() Config {
	return Config{Replicas: 1, EventsMaxAge: 24 * time.Hour, EventsMaxBytes: 1 << 30, LeaseTTL: 5 * time.Second, DuplicateWindow: 15 * time.Second}
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.Replicas < 1 || c.Replicas > 5 {
		errs = append(errs, fmt.Errorf("replicas %d: must be 1..5", c.Replicas))
	}
	if c.EventsMaxAge <= 0 {
		errs = append(errs, fmt.Errorf("events max age %s: must be positive", c.EventsMaxAge))
	}
	if c.EventsMaxBytes == 0 || c.EventsMaxBytes < -1 {
		errs = append(errs, fmt.Errorf("events max bytes %d: must be positive or -1", c.EventsMaxBytes))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("lease ttl %s: must be at least 1s", c.LeaseTTL))
	}
	if c.DuplicateWindow < time.Second || c.DuplicateWindow > c.EventsMaxAge {
		errs = append(errs, fmt.Errorf("duplicate window %s: must be at least 1s and at most the events max age", c.DuplicateWindow))
	}
	return errors.Join(errs...)
}

// Ensure creates or updates the event stream, and the shard lease,
// publication and blocked namespace buckets, of each of the given
// services (streams.ServiceThings, streams.ServicePolicies). It is
// idempotent and safe to call from every instance at start-up; each
// service ensures its own, with its own connection's permissions.
func Ensure(ctx context.Context, js jetstream.JetStream, n Names, cfg Config, services ...string) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	for _, svc := range services {
		sc := n.streamConfig(svc, cfg)
		if _, err := js.CreateOrUpdateStream(ctx, sc); err != nil {
			return fmt.Errorf("ensure stream %s: %w", sc.Name, err)
		}
		for _, kc := range n.bucketConfigs(svc, cfg) {
			if _, err := js.CreateOrUpdateKeyValue(ctx, kc); err != nil {
				return fmt.Errorf("ensure bucket %s: %w", kc.Bucket, err)
			}
		}
	}
	return nil
}

// bucketConfigs are svc's KV buckets: shard leases, publication
// watermarks and blocked namespaces; the policies service also keeps its
// subject expiries.
func (n Names) bucketConfigs(svc string, cfg Config) []jetstream.KeyValueConfig {
	out := []jetstream.KeyValueConfig{{
		Bucket:      n.ShardLeaseBucket(svc),
		Description: "shard leases of the " + svc + " service",
		History:     1,
		TTL:         cfg.LeaseTTL,
		// Leases are worthless after a restart of the whole installation,
		// so they need no disk.
		Storage:  jetstream.MemoryStorage,
		Replicas: cfg.Replicas,
	}, {
		Bucket:      n.PublishedBucket(svc),
		Description: "per shard of the " + svc + " service: the time before which every journaled event reached its stream",
		History:     1,
		// Unlike leases, these must outlive a restart of everything: they
		// say where recovery starts.
		Storage:  jetstream.FileStorage,
		Replicas: cfg.Replicas,
	}, {
		Bucket:      n.BlockedNamespacesBucket(svc),
		Description: "namespaces the " + svc + " service refuses commands to while they are erased",
		History:     1,
		// A block lasts until it is lifted, across restarts.
		Storage:  jetstream.FileStorage,
		Replicas: cfg.Replicas,
	}}
	if svc == ServicePolicies {
		out = append(out, jetstream.KeyValueConfig{
			Bucket:      n.PolicyExpiriesBucket(),
			Description: "per policy with expiring subjects: when the policies service next announces or removes one",
			History:     1,
			// Expiries outlive restarts: a subject must go at its expiry
			// whether or not its policy was loaded since.
			Storage:  jetstream.FileStorage,
			Replicas: cfg.Replicas,
		})
	}
	return out
}

func (n Names) streamConfig(svc string, cfg Config) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        n.EventsStream(svc),
		Description: "events of the " + svc + " service, one message per revision",
		Subjects:    []string{n.EventsAll(svc)},
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      cfg.EventsMaxAge,
		MaxBytes:    cfg.EventsMaxBytes,
		Storage:     jetstream.FileStorage,
		Replicas:    cfg.Replicas,
		// Publishers set Nats-Msg-Id to <entity id>:<revision>; a
		// retried publish inside this window is dropped.
		Duplicates: cfg.DuplicateWindow,
		// Plain NATS followers (the gateways' sessions, the things
		// service's policy cache) get each stored event once, without
		// the publisher's reply subject (see StoredEventsAll).
		RePublish: &jetstream.RePublish{Source: n.EventsAll(svc), Destination: n.StoredEventsAll(svc)},
	}
}
