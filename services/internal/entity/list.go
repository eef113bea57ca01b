package entity

import (
	"context"
	"encoding/json"
	"time"

	"github.com/nats-io/nats.go"
)

// ListRequest asks an entity service for a page of its entity ids: those
// after After (in byte order of their persistence ids), at most Limit.
// It is the body of a request on streams.Names.EntityList; any instance
// answers it from the journal, so it sees every entity, loaded or not,
// deleted ones included.
type ListRequest struct {
	After string `json:"after,omitempty"`
	Limit int    `json:"limit"`
}

// ListReply is the answer to a ListRequest: the page's ids in order, or
// Error when the journal could not be read. A page shorter than the limit
// is the last.
type ListReply struct {
	IDs   []string `json:"ids"`
	Error string   `json:"error,omitempty"`
}

// maxListPage bounds a page, so that a reply stays far below NATS's
// payload limit whatever a caller asks for.
const maxListPage = 1000

// serveList answers ListRequests on the service's list subject until ctx
// ends. Each request reads the journal in its own goroutine, never in the
// NATS callback; at most two run at once, so listing (a search index
// filling itself) cannot crowd out the journal's other readers.
func (h *Host) serveList(ctx context.Context) (stop func(), err error) {
	sem := make(chan struct{}, 2)
	sub, err := h.nc.QueueSubscribe(h.d.Names.EntityList(h.cfg.Service), h.cfg.Service, func(m *nats.Msg) {
		go func() {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			defer func() { <-sem }()
			h.answerList(ctx, m)
		}()
	})
	if err != nil {
		return nil, err
	}
	return func() { _ = sub.Unsubscribe() }, nil
}

func (h *Host) answerList(ctx context.Context, m *nats.Msg) {
	var req ListRequest
	var reply ListReply
	if err := json.Unmarshal(m.Data, &req); err != nil {
		reply.Error = "invalid list request: " + err.Error()
	} else {
		limit := min(max(req.Limit, 1), maxListPage)
		after := ""
		if req.After != "" {
			after = h.pid(req.After)
		}
		rctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		pids, err := h.d.Journal.PIDs(rctx, after, limit)
		cancel()
		if err != nil {
			h.log.Error("list entities", "after", req.After, "err", err)
			reply.Error = "the journal could not be read"
		}
		reply.IDs = make([]string, 0, len(pids))
		for _, pid := range pids {
			if id, ok := idOfPID(h.cfg.Kind, pid); ok {
				reply.IDs = append(reply.IDs, id)
			}
		}
	}
	b, _ := json.Marshal(reply) // strings and a slice always marshal
	_ = m.Respond(b)
}
