package things

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// eventHeaders are the headers the event of a command carries, given the
// thing after the change (JSON null when the command deletes the thing):
//
//   - correlation-id, the command's;
//   - ditto-originator, the subject that caused the event;
//   - ditto-origin, the command's (the WebSocket session that sent it);
//   - ditto-read-subjects, who may receive it: the subjects the thing's
//     policy lets read all of the event's path or any part of the thing;
//   - ditto-partial-access-paths, set only when a subject may read part but
//     not all of the thing: which paths of the thing after the change each
//     such subject may read, so that a consumer can cut the event down
//     without asking the policy (not for a deleted thing: there is nothing
//     left to read).
//
// The policy is the one that governs the thing after the change: a change
// of the policy id brings in the new policy, which the command has not been
// enforced with; a deletion keeps the policy before it. A policy that does
// not exist lets nobody read.
func (h *handler) eventHeaders(ctx context.Context, c *call, after jsonv.Value) (protocol.Headers, error) {
	hs := protocol.Headers{}
	if cid, ok := c.cmd.Envelope.Headers[protocol.HeaderCorrelationID]; ok {
		hs[protocol.HeaderCorrelationID] = cid
	}
	if len(c.cmd.Auth) > 0 {
		hs[protocol.HeaderOriginator] = c.cmd.Auth[0]
	}
	if o, ok := c.cmd.Envelope.Headers[protocol.HeaderOrigin]; ok {
		// The WebSocket session that sent the command: it does not get
		// the event back, as in Ditto.
		hs[protocol.HeaderOrigin] = o
	}
	if addr, ok := c.cmd.Envelope.Headers[protocol.HeaderAckregatorAddress]; ok {
		// Custom acknowledgements the command requested: the event asks
		// its subscribers for them and says where to send them (the
		// built-in labels are the platform's to issue).
		if labels := customAcks(c.cmd.Envelope.Headers[protocol.HeaderRequestedAcks]); labels != "" {
			hs[protocol.HeaderRequestedAcks] = labels
			hs[protocol.HeaderAckregatorAddress] = addr
		}
	}
	enf, err := h.governing(ctx, c, after)
	if err != nil {
		return nil, err
	}
	if enf == nil {
		hs[protocol.HeaderReadSubjects] = "[]"
		return hs, nil
	}
	ns, _ := protocol.SplitID(c.cmd.EntityID)
	r := enf.Readers(ns, time.Now())
	hs[protocol.HeaderReadSubjects] = r.ReadSubjectsHeader(enforcer.TypeThing, c.res.path)
	if paths := r.PartialAccessPaths(enforcer.TypeThing, after); paths != "" {
		hs[protocol.HeaderPartialAccessPaths] = paths
	}
	return hs, nil
}

// governing returns the enforcer of the policy that governs the thing after
// a change leaving it as after (JSON null: deleted, so the policy it had),
// nil when that policy does not exist. The policy the command was enforced
// with is reused when the change keeps it; sudo commands, which skip
// enforcement, load it here.
func (h *handler) governing(ctx context.Context, c *call, after jsonv.Value) (*enforcer.Enforcer, error) {
	var pid string
	if after.Kind() == jsonv.KindObject {
		pv, _ := after.Get("policyId")
		pid, _ = pv.Str()
	} else if c.enf != nil {
		return c.enf, nil
	} else {
		var err error
		if pid, err = policyID(c.st); err != nil {
			return nil, err
		}
	}
	if c.enf != nil && pid == c.pid {
		return c.enf, nil
	}
	if pid == "" {
		return nil, nil
	}
	enf, err := h.cache.get(ctx, pid)
	if errors.Is(err, errPolicyGone) {
		return nil, nil
	}
	return enf, err
}

// customAcks is the requested-acks header v without the built-in labels,
// "" when none is left (or v is no valid label array).
func customAcks(v string) string {
	var labels []string
	if json.Unmarshal([]byte(v), &labels) != nil {
		return ""
	}
	custom := make([]jsonv.Value, 0, len(labels))
	for _, l := range labels {
		if !protocol.IsBuiltinAck(l) {
			custom = append(custom, jsonv.String(l))
		}
	}
	if len(custom) == 0 {
		return ""
	}
	return jsonv.Array(custom...).String()
}
