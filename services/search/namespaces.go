package search

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/namespaces"
	"github.com/dittonats/dittonats/services/search/index"
	"github.com/dittonats/dittonats/streams"
)

// Namespace erasure in the search service (package namespaces): a purge
// removes the namespace's entries from this instance's index, in the
// apply loop (the index's one writer), together with what the service
// keeps about the namespace's policies.
//
// The things service stops writing into a namespace when it is blocked,
// but this instance's consumer may not have applied the namespace's last
// events yet when the purge comes: they would put entries back. So a
// purge also records the thing event stream's last sequence, and the
// apply loop drops the namespace's events up to it, and its repairs
// (loaded before the erasure), until its consumer has passed it. The
// record is kept in the index's meta table, so a restart in between
// keeps it.
//
// While a namespace is blocked, loading its things or policies answers
// namespace.blocked; the apply loop and reconciliation skip such things
// rather than retrying (Ditto's search updater, too, drops updates of
// blocked namespaces), so a blocked namespace never holds up the index.

// metaPurged names the index meta key holding the purges whose events may
// still come: a JSON object of namespace to stream sequence.
const metaPurged = "purged.namespaces"

// erasure is the search service's state of namespace erasure.
type erasure struct {
	// purges are the purges waiting for the apply loop.
	purges chan purgeRequest
	// upTo holds, per namespace purged, the thing stream's sequence up to
	// which its events predate the purge; loaded is set once it was read
	// from the index. Both are owned by the apply loop.
	upTo   map[string]uint64
	loaded bool
}

type purgeRequest struct {
	namespace string
	upTo      uint64
	done      chan error // buffered
}

func newErasure() *erasure { return &erasure{purges: make(chan purgeRequest)} }

// NamespaceHandler is the search service's part of namespace erasure, to
// be registered for devops.ComponentPubSub: on purgeNamespace it removes
// the namespace from this instance's index and answers for resource type
// "thing-search". Every search instance holds its own index, so each
// must get the command (the platform gives every instance a command sent
// to one). It stays silent on every other command.
func (s *Service) NamespaceHandler() devops.Handler {
	return namespaces.Handler(namespaces.Options{
		Purge:        s.purgeNamespace,
		ResourceType: namespaces.ResourceThingSearch,
		Log:          s.log,
	})
}

// purgeNamespace removes namespace from the index once the apply loop
// gets to it.
func (s *Service) purgeNamespace(ctx context.Context, namespace string) error {
	stream, err := s.js.Stream(ctx, s.names.EventsStream(streams.ServiceThings))
	if err != nil {
		return fmt.Errorf("thing event stream: %w", err)
	}
	info, err := stream.Info(ctx)
	if err != nil {
		return fmt.Errorf("thing event stream: %w", err)
	}
	req := purgeRequest{namespace: namespace, upTo: info.State.LastSeq, done: make(chan error, 1)}
	select {
	case s.erasure.purges <- req:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-req.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// applyPurge runs a purge on the apply loop.
func (s *Service) applyPurge(ctx context.Context, req purgeRequest) {
	err := s.loadPurged(ctx)
	if err == nil {
		err = s.writePurge(ctx, req)
	}
	req.done <- err
}

func (s *Service) writePurge(ctx context.Context, req purgeRequest) error {
	applied, err := s.appliedThingSeq(ctx)
	if err != nil {
		return err
	}
	upTo := cloneUpTo(s.erasure.upTo)
	if req.upTo > applied {
		upTo[req.namespace] = max(upTo[req.namespace], req.upTo)
	}
	b := index.Batch{DeleteNamespaces: []string{req.namespace}, Meta: map[string]string{metaPurged: encodePurged(upTo)}}
	if err := s.ix.Write(ctx, b); err != nil {
		return fmt.Errorf("remove namespace %s from the index: %w", req.namespace, err)
	}
	s.erasure.upTo = upTo
	prefix := req.namespace + ":"
	s.policies.forgetNamespace(prefix)
	for id := range s.expiries {
		if strings.HasPrefix(id, prefix) {
			delete(s.expiries, id)
		}
	}
	return nil
}

func cloneUpTo(m map[string]uint64) map[string]uint64 {
	out := make(map[string]uint64, len(m)+1)
	for k, v := range m {
		out[k] = v
	}
	return out
}

// appliedThingSeq is the thing stream's sequence the index has applied.
func (s *Service) appliedThingSeq(ctx context.Context) (uint64, error) {
	v, ok, err := s.ix.Meta(ctx, thingSource().meta)
	if err != nil || !ok {
		return 0, err
	}
	n, _ := strconv.ParseUint(v, 10, 64)
	return n, nil
}

// thingSource is the thing event stream among eventSources.
func thingSource() *source {
	for i := range eventSources {
		if eventSources[i].service == streams.ServiceThings {
			return &eventSources[i]
		}
	}
	panic("search: no thing event source")
}

// loadPurged reads the purges recorded in the index, once.
func (s *Service) loadPurged(ctx context.Context) error {
	if s.erasure.loaded {
		return nil
	}
	v, ok, err := s.ix.Meta(ctx, metaPurged)
	if err != nil {
		return err
	}
	s.erasure.upTo = map[string]uint64{}
	if ok && v != "" {
		if err := json.Unmarshal([]byte(v), &s.erasure.upTo); err != nil {
			s.log.Warn("unreadable record of purged namespaces, dropped", "err", err)
			s.erasure.upTo = map[string]uint64{}
		}
	}
	s.erasure.loaded = true
	return nil
}

func encodePurged(m map[string]uint64) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// purged returns the purges whose events may still come, reading them
// from the index the first time.
func (s *Service) purged(ctx context.Context) map[string]uint64 {
	if err := s.loadPurged(ctx); err != nil {
		s.log.Warn("read the record of purged namespaces", "err", err)
	}
	return s.erasure.upTo
}

// purgedEvent reports whether a thing event of id must be dropped: its
// namespace was purged after the event was published.
func (s *Service) purgedEvent(ctx context.Context, id string, m jetstream.Msg) bool {
	purged := s.purged(ctx)
	if len(purged) == 0 {
		return false
	}
	ns, _ := protocol.SplitID(id)
	upTo, ok := purged[ns]
	if !ok {
		return false
	}
	md, err := m.Metadata()
	return err == nil && md.Sequence.Stream <= upTo
}

// purgedRepair reports whether a repair that writes an entry of id must
// be dropped: its namespace was purged, and its thing may have been
// loaded before that.
func (s *Service) purgedRepair(ctx context.Context, id string) bool {
	purged := s.purged(ctx)
	if len(purged) == 0 {
		return false
	}
	ns, _ := protocol.SplitID(id)
	_, ok := purged[ns]
	return ok
}

// prunePurged forgets the purges the index's consumer has passed with
// the batch whose meta (holding the sequences it applies) is given, and
// records that in the same batch. Should the batch fail, the record keeps
// a purge it need not: that only drops events the consumer has applied
// already, and the next batch prunes it.
func (s *Service) prunePurged(meta map[string]string) {
	if len(s.erasure.upTo) == 0 {
		return
	}
	applied, err := strconv.ParseUint(meta[thingSource().meta], 10, 64)
	if err != nil {
		return
	}
	n := len(s.erasure.upTo)
	for ns, seq := range s.erasure.upTo {
		if seq <= applied {
			delete(s.erasure.upTo, ns)
		}
	}
	if len(s.erasure.upTo) < n {
		meta[metaPurged] = encodePurged(s.erasure.upTo)
	}
}

// blocked reports whether err says the entity's namespace is blocked.
func blocked(err error) bool { return protocol.HasCode(err, protocol.CodeNamespaceBlocked) }

// forgetNamespace drops the cached policies whose id starts with prefix
// ("<namespace>:").
func (c *policyCache) forgetNamespace(prefix string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id := range c.entries {
		if strings.HasPrefix(id, prefix) {
			delete(c.entries, id)
		}
	}
}
