package namespaces

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
)

// Options are what a service does for namespace erasure; a nil part means
// the service does not handle the commands it would execute, and stays
// silent on them (Ditto's services that do not subscribe to their topic).
type Options struct {
	// Block and Unblock execute blockNamespace and unblockNamespace: they
	// return once this instance refuses (serves again) the namespace's
	// commands. Both or neither are set.
	Block, Unblock func(ctx context.Context, namespace string) error
	// Shutdown executes shutdown with reason purge-namespace: it drops
	// the namespace's entities from this instance's memory, writing
	// nothing. It must not wait for I/O.
	Shutdown func(namespace string)
	// Purge executes purgeNamespace: it deletes everything the service
	// keeps of the namespace, and is safe to repeat. ResourceType names
	// what it erased in the response (ResourceThing, ResourcePolicy,
	// ResourceThingSearch).
	Purge        func(ctx context.Context, namespace string) error
	ResourceType string
	Log          *slog.Logger
}

// Handler returns the devops.ComponentPubSub handler of namespace erasure
// for a service that does what o says. It answers each command with its
// Ditto response JSON, a command it cannot read with Ditto's error JSON
// (and executes nothing), and a shutdown with nothing at all; it returns
// ok false for every other type.
func Handler(o Options) devops.Handler {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	return func(ctx context.Context, p devops.Piggyback) (devops.Answer, bool) {
		switch p.Type {
		case TypeBlock, TypeUnblock:
			if o.Block == nil || o.Unblock == nil {
				return devops.Answer{}, false
			}
		case TypeShutdown:
			if o.Shutdown == nil {
				return devops.Answer{}, false
			}
		case TypePurge:
			if o.Purge == nil {
				return devops.Answer{}, false
			}
		default:
			return devops.Answer{}, false
		}
		c, _, perr := Parse(p.Type, p.Command)
		if perr != nil {
			o.Log.Warn("namespace command refused", "type", p.Type, "correlation-id", p.Header(protocol.HeaderCorrelationID), "err", perr)
			return devops.ErrorAnswer(perr), true
		}
		return o.execute(ctx, p, c)
	}
}

func (o Options) execute(ctx context.Context, p devops.Piggyback, c Command) (devops.Answer, bool) {
	log := o.Log.With("namespace", c.Namespace, "correlation-id", p.Header(protocol.HeaderCorrelationID))
	switch c.Type {
	case TypeBlock:
		if err := o.Block(ctx, c.Namespace); err != nil {
			log.Error("block namespace", "err", err)
			return devops.ErrorAnswer(errInternal(err)), true
		}
		log.Info("namespace blocked")
		return devops.JSONAnswer(http.StatusOK, blockResponse(TypeBlockResponse, c.Namespace)), true
	case TypeUnblock:
		if err := o.Unblock(ctx, c.Namespace); err != nil {
			log.Error("unblock namespace", "err", err)
			return devops.ErrorAnswer(errInternal(err)), true
		}
		log.Info("namespace unblocked")
		return devops.JSONAnswer(http.StatusOK, blockResponse(TypeUnblockResponse, c.Namespace)), true
	case TypeShutdown:
		if c.Reason != ReasonPurgeNamespace {
			// Ditto's entities ignore a shutdown for any other reason.
			return devops.Answer{}, false
		}
		o.Shutdown(c.Namespace)
		log.Info("namespace shut down")
		return devops.Answer{}, true
	default: // TypePurge
		start := time.Now()
		err := o.Purge(ctx, c.Namespace)
		if err != nil {
			log.Error("purge namespace", "resource_type", o.ResourceType, "err", err)
		} else {
			log.Info("namespace purged", "resource_type", o.ResourceType, "took", time.Since(start).Round(time.Millisecond))
		}
		r := purgeResponse(c.Namespace, o.ResourceType, err == nil)
		return devops.JSONAnswer(r.Status, r), true
	}
}

// errInternal is Ditto's DittoInternalErrorException as its
// BlockedNamespacesUpdater sends it: the cause in the message.
func errInternal(err error) *protocol.Error {
	e := protocol.ErrInternal()
	e.Message = err.Error()
	return e
}
