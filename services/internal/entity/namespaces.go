package entity

import (
	"context"
	"fmt"
	"github.com/nats-io/nats.go/jetstream"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/namespaces"
)

// Namespace erasure (package namespaces) on the host: the dispatcher
// refuses commands to blocked namespaces before they reach a mailbox, so
// a blocked namespace never has an entity loaded by a command; Unload
// drops a namespace's entities from memory; PurgeNamespace deletes them
// from the journal.

// Blocklist returns the host's blocked namespaces.
func (h *Host) Blocklist() *namespaces.Blocklist { return h.blocked }

// BlockNamespace blocks namespace for every instance of the service
// (namespaces.Options.Block): once it returns, this instance refuses the
// namespace's commands.
func (h *Host) BlockNamespace(ctx context.Context, namespace string) error {
	return h.blocked.Block(ctx, namespace, h.d.Instance)
}

// UnblockNamespace lifts the block of namespace (namespaces.Options.
// Unblock). After a purge it waits, within ctx, until JetStream has
// forgotten the message ids of the erased entities' events: a recreated
// entity starts again at revision 1, and its events, with the ids
// "<id>:<revision>" of erased ones, would be dropped as duplicates
// (streams.Config.DuplicateWindow).
func (h *Host) UnblockNamespace(ctx context.Context, namespace string) error {
	purged, ok, err := h.blocked.PurgedAt(ctx, namespace)
	if err != nil {
		return err
	}
	if ok {
		window, err := h.duplicateWindow(ctx)
		if err != nil {
			return err
		}
		if wait := time.Until(purged.Add(window)); wait > 0 {
			t := time.NewTimer(wait)
			defer t.Stop()
			select {
			case <-t.C:
			case <-ctx.Done():
				return fmt.Errorf("namespace %s stays blocked until %s, the event stream's duplicate window (%s) after its purge: %w",
					namespace, purged.Add(window).UTC().Format(time.RFC3339), window, ctx.Err())
			}
		}
	}
	return h.blocked.Unblock(ctx, namespace)
}

// duplicateWindow is how long the service's event stream remembers
// message ids.
func (h *Host) duplicateWindow(ctx context.Context) (time.Duration, error) {
	st, err := h.d.JS.Stream(ctx, h.d.Names.EventsStream(h.cfg.Service))
	if err != nil {
		return 0, fmt.Errorf("event stream: %w", err)
	}
	return st.CachedInfo().Config.Duplicates, nil
}

// namespaceOf is the namespace of an entity id, "" when it has none.
func namespaceOf(id string) string {
	if i := strings.IndexByte(id, ':'); i >= 0 {
		return id[:i]
	}
	return ""
}

// refuseBlocked answers a command to a blocked namespace with Ditto's
// namespace.blocked (409), in the command's own topic and correlation id.
// It runs on the dispatcher; only refused commands pay for the decoding.
func (h *Host) refuseBlocked(req *request) {
	perr := protocol.ErrNamespaceBlocked(namespaceOf(req.entityID))
	env := req.env
	if env == nil {
		e, err := protocol.DecodeEnvelopeUnchecked(req.msg.Data)
		if err != nil {
			h.replyError(req.msg, protocol.Topic{}, protocol.Envelope{}, perr)
			return
		}
		env = &e
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		topic = protocol.Topic{}
	}
	h.replyError(req.msg, topic, *env, perr)
}

// Unload drops every entity of namespace from memory without writing
// anything (Ditto's shutdown with reason purge-namespace): idle ones at
// once, ones with commands queued or running as soon as their mailbox is
// empty. It returns how many are still in memory. Unless force is set, an
// entity that may have journaled events its publisher never got (see
// slot.unsure) stays: its next load hands them over. A purge forces,
// since it deletes those events.
func (h *Host) Unload(namespace string, force bool) (left int) {
	prefix := namespace + ":"
	for _, sh := range h.shards {
		sh.mu.Lock()
		for id, sl := range sh.slots {
			if !strings.HasPrefix(id, prefix) || sl.unsure && !force {
				continue
			}
			if sl.running || sl.box != nil {
				sl.unload = true
				left++
				continue
			}
			h.dropLocked(sh, sl)
		}
		sh.mu.Unlock()
	}
	return left
}

// dropLocked removes sl from sh's memory. Caller holds sh.mu; sl is idle.
func (h *Host) dropLocked(sh *shardState, sl *slot) {
	if sh.slots[sl.state.ID] == sl {
		delete(sh.slots, sl.state.ID)
		h.loaded.Add(-1)
	}
}

// purgePoll is how often PurgeNamespace looks whether the namespace's
// running entities have finished.
const purgePoll = 10 * time.Millisecond

// PurgeNamespace erases namespace from this host's entity type (Ditto's
// purgeNamespace): it unloads the namespace's entities (waiting, within
// ctx, for commands still running on them), drops their events waiting
// to be published (they are about to be deleted), deletes every event and
// snapshot of them from the journal, and records the purge with the
// namespace's block (see UnblockNamespace). The namespace should be
// blocked, on every instance, before: otherwise new commands may write
// into it meanwhile (Ditto's guide asks for the same order). It is safe
// to repeat.
func (h *Host) PurgeNamespace(ctx context.Context, namespace string) error {
	for h.Unload(namespace, true) > 0 {
		select {
		case <-ctx.Done():
			return fmt.Errorf("purge namespace %s: entities still busy: %w", namespace, ctx.Err())
		case <-time.After(purgePoll):
		}
	}
	h.pub.forgetNamespace(namespace)
	if err := h.j.PurgeNamespace(ctx, h.cfg.Kind, namespace); err != nil {
		return err
	}
	// The erased events leave the event stream too: no consumer that
	// replays it (a new search instance, a connection) sees them again.
	stream, err := h.d.JS.Stream(ctx, h.d.Names.EventsStream(h.cfg.Service))
	if err == nil {
		err = stream.Purge(ctx, jetstream.WithPurgeSubject(h.cfg.EventSubject(namespace)))
	}
	if err != nil {
		return fmt.Errorf("purge the events of namespace %s from their stream: %w", namespace, err)
	}
	// Every event of the namespace was published before now (it was
	// blocked, its running commands are done): UnblockNamespace waits a
	// duplicate window from here.
	if err := h.blocked.MarkPurged(ctx, namespace, time.Now()); err != nil {
		return err
	}
	// A command that slipped in before the block took effect everywhere
	// may have loaded one again.
	h.Unload(namespace, true)
	return nil
}

// forgetNamespace drops the backlogs of namespace's entities that no
// drain is working on: their events are about to be deleted, and no
// consumer must see them after the erasure.
func (p *publisher) forgetNamespace(namespace string) {
	prefix := namespace + ":"
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, b := range p.backlog {
		if strings.HasPrefix(id, prefix) && !b.busy {
			delete(p.backlog, id)
			p.pending.Add(-1)
		}
	}
}
