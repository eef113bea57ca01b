package things

import (
	"context"
	"errors"
	"net/http"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
)

// checkPermissions answers the gateway's part of Ditto's permission check
// (POST /api/2/checkPermissions) for this thing: its value names checks
// {"resource":"thing:/..."|"message:/...","hasPermissions":[...]}, and
// the answer maps each name to whether the caller's subjects have those
// permissions by the thing's policy as it is now. A thing that does not
// exist, or whose policy does not, answers false to every check, as
// Ditto's CheckPermissionsActor does when it cannot resolve the policy. It
// reads nothing of the thing but its policy id, changes nothing and needs
// no permission: it only tells callers what they may do themselves.
func (h *handler) checkPermissions(ctx context.Context, c *call) (entity.Outcome, error) {
	checks, err := jsonv.Parse(c.cmd.Envelope.Value)
	if err != nil || checks.Kind() != jsonv.KindObject {
		return entity.Outcome{}, protocol.ErrJSONInvalid("The permission checks must be a JSON object.")
	}
	answer := func(v jsonv.Value) (entity.Outcome, error) {
		resp := protocol.Envelope{Topic: c.cmd.Envelope.Topic, Path: "/", Status: http.StatusOK, Value: v.AppendJSON(nil)}
		return entity.Outcome{Response: resp}, nil
	}
	if !c.st.Exists() {
		return answer(enforcer.NoPermissions(checks))
	}
	err = h.authorize(ctx, c, false)
	var perr *protocol.Error
	switch {
	case err == nil:
	case errors.As(err, &perr) && perr.Status == http.StatusNotFound:
		return answer(enforcer.NoPermissions(checks)) // no policy (any more)
	default:
		return entity.Outcome{}, err
	}
	return answer(enforcer.CheckPermissions(c.view, checks, enforcer.TypeThing, enforcer.TypeMessage))
}
