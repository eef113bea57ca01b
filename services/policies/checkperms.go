package policies

import (
	"net/http"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
)

// checkPermissions answers the gateway's part of Ditto's permission check
// (POST /api/2/checkPermissions, Ditto's CheckPolicyPermissions) for this
// policy: its value names checks {"resource":"policy:/...",
// "hasPermissions":[...]}, and the answer maps each name to whether the
// caller's subjects have every one of those permissions on the resource
// and all below it. A policy that does not exist answers false to every
// check. It changes nothing and needs no permission: it only tells callers
// what they may do themselves.
func (c *call) checkPermissions() (entity.Outcome, error) {
	checks, err := jsonv.Parse(c.cmd.Envelope.Value)
	if err != nil || checks.Kind() != jsonv.KindObject {
		return entity.Outcome{}, protocol.ErrJSONInvalid("The permission checks must be a JSON object.")
	}
	result := enforcer.NoPermissions(checks)
	if c.st.Exists() {
		doc, err := c.st.Doc()
		if err != nil {
			return entity.Outcome{}, err
		}
		view, err := c.viewUnlessSudo(doc)
		if err != nil {
			return entity.Outcome{}, err
		}
		result = enforcer.CheckPermissions(view, checks, enforcer.TypePolicy)
	}
	return entity.Outcome{Response: protocol.Envelope{Topic: c.topic, Path: "/", Status: http.StatusOK, Value: result.AppendJSON(nil)}}, nil
}
