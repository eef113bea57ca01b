package policies

import (
	"context"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
)

// HistoryView implements entity.HistoryViewer: a policy's persisted events
// go to a caller who may read something of the retrieve's path of the
// policy now (else its not-found, as a retrieve answers it), each cut down
// to what the policy as it is now lets the caller read of it; an event at
// a path the caller may read nothing of is left out.
func (h *handler) HistoryView(ctx context.Context, cmd *entity.Command, st *entity.State) (func(*protocol.Envelope) bool, error) {
	id := cmd.EntityID
	r, err := parseRoute(cmd.Envelope.Path)
	if err != nil {
		return nil, err
	}
	if !st.Exists() {
		return nil, protocol.ErrPolicyNotAccessible(id)
	}
	doc, err := st.Doc()
	if err != nil {
		return nil, err
	}
	if cmd.Sudo {
		return func(*protocol.Envelope) bool { return true }, nil
	}
	eff, err := h.effective(ctx, id, doc, h.load)
	if err != nil {
		return nil, err
	}
	view, err := callerView(eff, id, cmd.Auth)
	if err != nil {
		return nil, err
	}
	if !view.HasPartial(enforcer.TypePolicy, r.auth, enforcer.Read) {
		return nil, notAccessible(id, r)
	}
	if view.ReadsAll(enforcer.TypePolicy) {
		return func(*protocol.Envelope) bool { return true }, nil
	}
	return func(ev *protocol.Envelope) bool {
		p, err := jsonv.ParsePointer(ev.Path)
		if err != nil || !view.HasPartial(enforcer.TypePolicy, p, enforcer.Read) {
			return false
		}
		if len(ev.Value) == 0 {
			return true // a deletion tells only that the path is gone
		}
		v, err := jsonv.Parse(ev.Value)
		if err != nil {
			return false
		}
		cut, ok := view.View(enforcer.TypePolicy, p, v, enforcer.Read)
		if !ok {
			return false
		}
		ev.Value = cut.AppendJSON(nil)
		return true
	}, nil
}
