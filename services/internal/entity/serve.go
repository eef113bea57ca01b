package entity

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/shard"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/streams"
)

// Deps are what an entity service (things, policies) runs on; the process
// that starts it owns them.
type Deps struct {
	NC      *nats.Conn
	JS      jetstream.JetStream
	Journal journal.Journal
	// Leases is the service's shard lease bucket, Published its
	// publication watermark bucket (streams.Names.ShardLeaseBucket and
	// PublishedBucket).
	Leases    jetstream.KeyValue
	Published jetstream.KeyValue
	Names     streams.Names
	Shards    int
	Instance  string
	LeaseTTL  time.Duration
	// EventsMaxAge is the event streams' retention: how far back a shard's
	// recovery looks for unpublished events when no watermark of the shard
	// is stored yet (republishing older events is pointless).
	EventsMaxAge time.Duration
	Log          *slog.Logger
	// Metrics receives the host's metrics (mailbox_rejections_total,
	// events_published_total, event_publication_lag_seconds and, with
	// LiveEntities, live_entities counted at most once per
	// LiveEntitiesRefresh); nil exports none.
	Metrics             prometheus.Registerer
	LiveEntities        bool
	LiveEntitiesRefresh time.Duration
	// Tracer traces the commands the host runs (a span per command,
	// continuing the sender's trace, with children for persisting and
	// publishing its event); nil traces nothing.
	Tracer *tracing.Tracer
}

// Acquire implements shard.Handler: start serving shard.
func (h *Host) Acquire(ctx context.Context, s int) error { return h.OpenShard(ctx, s) }

// AcquireAll implements shard.BatchAcquirer: start serving shards, with one
// recovery read of the journal for all of them.
func (h *Host) AcquireAll(ctx context.Context, shards []int) map[int]error {
	return h.OpenShards(ctx, shards)
}

// Release implements shard.Handler: stop serving shard once its commands
// are answered.
func (h *Host) Release(ctx context.Context, s int) { h.CloseShard(ctx, s) }

// Serve runs the host on the shards a lease manager assigns to this
// instance, until ctx ends. Shutdown first hands every shard back (each
// drained through Release, so commands already received are answered and
// other instances take over at once), then stops the host.
func (h *Host) Serve(ctx context.Context) error {
	// Before any shard is taken: a failure here stops the service.
	if err := h.blocked.Open(ctx); err != nil {
		return err
	}
	mgr, err := shard.New(h.d.Leases, shard.Config{Shards: h.d.Shards, Instance: h.d.Instance, TTL: h.d.LeaseTTL}, h, h.log)
	if err != nil {
		h.blocked.Close() // Run, which closes it otherwise, never runs
		return err
	}
	hostCtx, stopHost := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHost()
	hostDone := make(chan error, 1)
	go func() { hostDone <- h.Run(hostCtx) }()

	mgrErr := mgr.Run(ctx)
	stopHost()
	hostErr := <-hostDone
	if mgrErr != nil {
		return mgrErr
	}
	return hostErr
}
