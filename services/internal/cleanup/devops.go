package cleanup

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

// Types of the piggyback commands a Cleaner answers besides
// devops.TypeRetrieveHealth and devops.TypeRetrieveConfig, and of their
// responses (Ditto's ModifyConfig, Shutdown and CleanupPersistence).
const (
	typeModifyConfig         = "common.commands:modifyConfig"
	typeModifyConfigResponse = "common.responses:modifyConfig"
	typeShutdown             = "common.commands:shutdown"
	// TypeCleanupPersistence is Ditto's CleanupPersistence, a sudo
	// command to an entity service's shard region.
	TypeCleanupPersistence         = "cleanup.sudo.commands:cleanupPersistence"
	typeCleanupPersistenceResponse = "cleanup.sudo.responses:cleanupPersistence"
)

// Handler answers the piggyback commands addressed to the cleanup
// (devops.ComponentCleanup: /user/<service>Root/persistenceCleanup), as
// Ditto's PersistenceCleanupActor:
//
//   - status.commands:retrieveHealth: its state (IN_QUIET_PERIOD,
//     RUNNING) and the pid it got to, as an INFO detail of an UP status;
//   - common.commands:retrieveConfig (optionally with a "path", a key
//     such as "quiet-period"): its configuration, by the keys of Ditto's
//     cleanup block;
//   - common.commands:modifyConfig {"config":{...}}: sets the keys given
//     (the others stay) and, with "last-pid", where the next pass starts;
//     aborts the running pass, whose successor starts after a quiet
//     period (in the quiet period, the quiet period starts over). It
//     answers the configuration in effect; a bad value is logged and
//     changes nothing, as in Ditto;
//   - common.commands:shutdown: aborts the running pass, or starts the
//     quiet period over; no response. Ditto's guide says the actor
//     restarts cleanup on request; its actor gets there only through
//     modifyConfig (a Shutdown piggyback reaches its unhandled branch),
//     so this follows the guide.
//
// Other types are not handled (ok false).
func (c *Cleaner) Handler() devops.Handler {
	return func(_ context.Context, p devops.Piggyback) (devops.Answer, bool) {
		switch p.Type {
		case devops.TypeRetrieveHealth:
			return c.health(), true
		case devops.TypeRetrieveConfig:
			return c.retrieveConfig(p), true
		case typeModifyConfig:
			return c.modifyConfig(p), true
		case typeShutdown:
			c.mu.Lock()
			aborted := c.shutdownLocked()
			c.mu.Unlock()
			c.log.Info("cleanup restarted on request: the next pass starts after the quiet period", "running_pass_aborted", aborted,
				"correlation-id", p.Header(protocol.HeaderCorrelationID))
			return devops.Answer{}, true
		}
		return devops.Answer{}, false
	}
}

// EntityHandler answers cleanup.sudo.commands:cleanupPersistence
// {"entityId": "<id>"}, which Ditto's guide sends to the service's shard
// region (/system/sharding/thing), with CleanEntity, and hands every
// other command to next (the component's own handler). Ditto's
// response is {"type":"cleanup.sudo.responses:cleanupPersistence",
// "status":200,"entityType":"thing","entityId":"<id>"}, status 500 when
// the cleanup failed: its CleanupPersistenceResponse writes entityType
// and the entity id, where the guide's older example shows the pid as
// entityId and no entityType; the source is followed.
func (c *Cleaner) EntityHandler(next devops.Handler) devops.Handler {
	return func(ctx context.Context, p devops.Piggyback) (devops.Answer, bool) {
		if p.Type != TypeCleanupPersistence {
			if next == nil {
				return devops.Answer{}, false
			}
			return next(ctx, p)
		}
		return c.cleanupPersistence(ctx, p), true
	}
}

// healthResponse is Ditto's RetrieveHealthResponse.
type healthResponse struct {
	Type       string            `json:"type"`
	Status     int               `json:"status"`
	StatusInfo devops.StatusInfo `json:"statusInfo"`
}

// health is Ditto's answer: {"status":"UP","details":[{"INFO":
// {"state":"RUNNING","pid":"thing:ns:name"}}]}.
func (c *Cleaner) health() devops.Answer {
	c.mu.Lock()
	state, pid := c.state, c.lastPID
	c.mu.Unlock()
	info := devops.StatusInfo{Status: devops.StatusUp, Details: []devops.Detail{{Level: devops.LevelInfo,
		Message: struct {
			State State  `json:"state"`
			PID   string `json:"pid"`
		}{state, pid}}}}
	return devops.JSONAnswer(http.StatusOK, healthResponse{Type: devops.TypeRetrieveHealthResponse, Status: http.StatusOK, StatusInfo: info})
}

// configResponse is Ditto's RetrieveConfigResponse and
// ModifyConfigResponse.
type configResponse struct {
	Type   string `json:"type"`
	Status int    `json:"status"`
	Config any    `json:"config"`
}

// retrieveConfig answers the configuration, or the value at its "path",
// or Ditto's {"error": ...} when there is none.
func (c *Cleaner) retrieveConfig(p devops.Piggyback) devops.Answer {
	var cmd map[string]json.RawMessage
	_ = json.Unmarshal(p.Command, &cmd) // an object: ParsePiggyback checked
	c.mu.Lock()
	cfg := c.settings.render()
	c.mu.Unlock()
	var out any = cfg
	if raw, ok := cmd["path"]; ok && !bytes.Equal(raw, []byte("null")) {
		var path string
		if err := json.Unmarshal(raw, &path); err != nil {
			return devops.ErrorAnswer(protocol.ErrJSONNotOfType(string(raw), "/path", "String"))
		}
		segs, err := dittoconf.ParsePath(path)
		v, found := cfg[path]
		switch {
		case err != nil:
			out = map[string]string{"error": "com.typesafe.config.ConfigException$BadPath: path parameter: Invalid path '" + path + "': " + err.Error()}
		case len(segs) != 1 || !found:
			out = map[string]string{"error": "com.typesafe.config.ConfigException$Missing: No configuration setting found for key '" + path + "'"}
		default:
			out = v
		}
	}
	return devops.JSONAnswer(http.StatusOK, configResponse{Type: devops.TypeRetrieveConfigResponse, Status: http.StatusOK, Config: out})
}

// modifyConfig answers common.commands:modifyConfig.
func (c *Cleaner) modifyConfig(p devops.Piggyback) devops.Answer {
	var cmd map[string]json.RawMessage
	_ = json.Unmarshal(p.Command, &cmd)
	raw, ok := cmd["config"]
	if !ok {
		return devops.ErrorAnswer(protocol.ErrJSONFieldMissing("/config"))
	}
	corr := p.Header(protocol.HeaderCorrelationID)
	c.mu.Lock()
	m, err := applyConfig(c.settings, raw)
	if err != nil {
		cfg := c.settings.render()
		c.mu.Unlock()
		var perr *protocol.Error
		if errors.As(err, &perr) {
			return devops.ErrorAnswer(perr)
		}
		c.log.Error("cleanup config not changed", "err", err, "correlation-id", corr)
		return devops.JSONAnswer(http.StatusOK, configResponse{Type: typeModifyConfigResponse, Status: http.StatusOK, Config: cfg})
	}
	c.settings = m.settings
	aborted := c.shutdownLocked()
	if m.lastPID != nil {
		c.lastPID = *m.lastPID
	}
	last := c.lastPID
	cfg := c.settings.render()
	c.mu.Unlock()
	attrs := []any{"config", cfg, "last_pid", last, "running_pass_aborted", aborted, "correlation-id", corr}
	if len(m.ignored) > 0 {
		attrs = append(attrs, "ignored", m.ignored)
	}
	c.log.Info("cleanup config modified", attrs...)
	return devops.JSONAnswer(http.StatusOK, configResponse{Type: typeModifyConfigResponse, Status: http.StatusOK, Config: cfg})
}

// cleanupPersistenceResponse is Ditto's CleanupPersistenceResponse.
type cleanupPersistenceResponse struct {
	Type       string `json:"type"`
	Status     int    `json:"status"`
	EntityType string `json:"entityType"`
	EntityID   string `json:"entityId"`
}

// cleanupPersistence reads Ditto's CleanupPersistence JSON (entityId
// required; entityType, when given, must be this service's) and cleans
// the entity.
func (c *Cleaner) cleanupPersistence(ctx context.Context, p devops.Piggyback) devops.Answer {
	var fields map[string]json.RawMessage
	_ = json.Unmarshal(p.Command, &fields) // an object: ParsePiggyback checked
	raw, ok := fields["entityId"]
	if !ok {
		return devops.ErrorAnswer(protocol.ErrJSONFieldMissing("/entityId"))
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil || bytes.Equal(raw, []byte("null")) {
		return devops.ErrorAnswer(protocol.ErrJSONNotOfType(string(raw), "/entityId", "String"))
	}
	if raw, ok := fields["entityType"]; ok {
		var typ string
		if err := json.Unmarshal(raw, &typ); err != nil || bytes.Equal(raw, []byte("null")) {
			return devops.ErrorAnswer(protocol.ErrJSONNotOfType(string(raw), "/entityType", "String"))
		}
		if typ != c.d.Kind {
			return devops.ErrorAnswer(protocol.ErrJSONInvalid(fmt.Sprintf(
				"The entityType <%s> is not <%s>, the type of the entities of the service the command was sent to.", typ, c.d.Kind)))
		}
	}
	if !protocol.ValidEntityID(id) {
		return devops.ErrorAnswer(c.invalidID(id))
	}
	corr := p.Header(protocol.HeaderCorrelationID)
	events, snaps, err := c.CleanEntity(ctx, id)
	resp := cleanupPersistenceResponse{Type: typeCleanupPersistenceResponse, Status: http.StatusOK, EntityType: c.d.Kind, EntityID: id}
	if err != nil {
		c.log.Warn("cleanup of an entity on request failed", "pid", c.d.Kind+":"+id, "err", err, "correlation-id", corr)
		resp.Status = http.StatusInternalServerError
	} else {
		c.log.Info("cleanup of an entity on request", "pid", c.d.Kind+":"+id, "events_deleted", events,
			"snapshots_deleted", snaps, "correlation-id", corr)
	}
	return devops.JSONAnswer(resp.Status, resp)
}

// invalidID is the service's error for an invalid entity id.
func (c *Cleaner) invalidID(id string) *protocol.Error {
	switch strings.ToLower(c.d.Kind) {
	case "thing":
		return protocol.ErrThingIDInvalid(id)
	case "policy":
		return protocol.ErrPolicyIDInvalid(id)
	}
	return protocol.ErrNamespacedEntityIDInvalid(id)
}
