package things

import (
	"context"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
)

// HistoryView implements entity.HistoryViewer: a thing's persisted events
// go to a caller who may read the retrieve's path of the thing now (else
// the path's not-found, as a retrieve answers it), each cut down to what
// the thing's current policy lets the caller read of it, as Ditto filters
// persisted events; an event at a path the caller may read nothing of is
// left out.
func (h *handler) HistoryView(ctx context.Context, cmd *entity.Command, st *entity.State) (func(*protocol.Envelope) bool, error) {
	id := cmd.EntityID
	res, err := parseResource(cmd.Envelope.Path)
	if err != nil {
		return nil, err
	}
	if !st.Exists() {
		return nil, protocol.ErrThingNotAccessible(id)
	}
	c := &call{cmd: cmd, st: st, res: res}
	if err := h.authorize(ctx, c, false); err != nil {
		return nil, err
	}
	if !c.canReadPartially(res.path) {
		if c.canReadPartially(nil) {
			return nil, res.notAccessible(id)
		}
		return nil, protocol.ErrThingNotAccessible(id)
	}
	if c.view == nil || c.view.ReadsAll(enforcer.TypeThing) {
		return func(*protocol.Envelope) bool { return true }, nil
	}
	view := c.view
	return func(ev *protocol.Envelope) bool {
		p, err := jsonv.ParsePointer(ev.Path)
		if err != nil || !view.HasPartial(enforcer.TypeThing, p, enforcer.Read) {
			return false
		}
		if len(ev.Metadata) > 0 {
			// Readable where thing:/_metadata/<path> is (metadata.go).
			md, err := jsonv.Parse(ev.Metadata)
			ev.Metadata = nil
			if err == nil {
				if md, ok := view.View(enforcer.TypeThing, metadataPath(p), md, enforcer.Read); ok && md.Kind() == jsonv.KindObject && md.Len() > 0 {
					ev.Metadata = md.AppendJSON(nil)
				}
			}
		}
		if len(ev.Value) == 0 {
			// A deletion: it tells no value, only that the path is gone.
			return true
		}
		v, err := jsonv.Parse(ev.Value)
		if err != nil {
			return false
		}
		cut, ok := view.View(enforcer.TypeThing, p, v, enforcer.Read)
		if !ok {
			return false
		}
		ev.Value = cut.AppendJSON(nil)
		return true
	}, nil
}
