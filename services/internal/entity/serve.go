package entity

import (
	"context"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/shard"
	"github.com/dittonats/dittonats/streams"
)

// Deps are what an entity service (things, policies) runs on; the process
// that starts it owns them.
type Deps struct {
	NC       *nats.Conn
	JS       jetstream.JetStream
	Journal  journal.Journal
	Leases   jetstream.KeyValue
	Names    streams.Names
	Shards   int
	Instance string
	LeaseTTL time.Duration
	Log      *slog.Logger
}

// Acquire implements shard.Handler: start serving shard.
func (h *Host) Acquire(ctx context.Context, s int) error { return h.OpenShard(ctx, s) }

// Release implements shard.Handler: stop serving shard once its commands
// are answered.
func (h *Host) Release(ctx context.Context, s int) { h.CloseShard(ctx, s) }

// Serve runs the host on the shards a lease manager assigns to this
// instance, until ctx ends. Shutdown first hands every shard back (each
// drained through Release, so commands already received are answered and
// other instances take over at once), then stops the host.
func (h *Host) Serve(ctx context.Context, leases jetstream.KeyValue, instance string, ttl time.Duration) error {
	mgr, err := shard.New(leases, shard.Config{Shards: h.cfg.Shards, Instance: instance, TTL: ttl}, h, h.log)
	if err != nil {
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
