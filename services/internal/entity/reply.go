package entity

import (
	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
)

// reply answers a command with resp, echoing its correlation id.
func (h *Host) reply(m *nats.Msg, cmd *protocol.Envelope, resp protocol.Envelope) {
	if m.Reply == "" {
		return
	}
	if cid, ok := cmd.Headers[protocol.HeaderCorrelationID]; ok {
		if resp.Headers == nil {
			resp.Headers = protocol.Headers{}
		}
		if _, set := resp.Headers[protocol.HeaderCorrelationID]; !set {
			resp.Headers[protocol.HeaderCorrelationID] = cid
		}
	}
	bp := h.replyBufs.Get().(*[]byte)
	data, err := resp.AppendJSONTrusted((*bp)[:0])
	if err != nil {
		h.replyBufs.Put(bp)
		h.log.Error("encode response", "err", err)
		h.replyError(m, protocol.Topic{}, *cmd, err)
		return
	}
	// Publish copies data into the connection's buffer, so it can be
	// reused at once.
	if err := h.nc.Publish(m.Reply, data); err != nil {
		h.log.Warn("send response", "err", err)
	}
	if cap(data) <= maxPooledReply {
		*bp = data[:0]
		h.replyBufs.Put(bp)
	}
}

// maxPooledReply bounds the reply buffers kept for reuse.
const maxPooledReply = 64 << 10

// replyError answers with err as a Ditto error envelope.
func (h *Host) replyError(m *nats.Msg, t protocol.Topic, cmd protocol.Envelope, err error) {
	if m.Reply == "" {
		return
	}
	perr := protocol.AsError(err)
	if perr == nil {
		h.log.Error("command failed", "err", err)
		perr = errInternal
	}
	headers := protocol.Headers{}
	for k, v := range perr.Headers {
		headers[k] = v
	}
	if cid, ok := cmd.Headers[protocol.HeaderCorrelationID]; ok {
		headers[protocol.HeaderCorrelationID] = cid
	}
	path := cmd.Path
	if path == "" {
		path = "/"
	}
	if t.Group == "" {
		t = protocol.Topic{Namespace: "_", EntityName: "_", Group: h.cfg.Group, Channel: h.cfg.Channel}
	}
	data, encErr := protocol.ErrorEnvelope(t, headers, path, perr).Encode()
	if encErr != nil {
		h.log.Error("encode error response", "err", encErr)
		return
	}
	if err := h.nc.Publish(m.Reply, data); err != nil {
		h.log.Warn("send error response", "err", err)
	}
}
