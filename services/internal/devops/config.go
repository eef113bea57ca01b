package devops

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

// Types of Ditto's RetrieveConfig and RetrieveConfigResponse.
const (
	TypeRetrieveConfig         = "common.commands:retrieveConfig"
	TypeRetrieveConfigResponse = "common.responses:retrieveConfig"
)

// RetrieveConfigResponse is Ditto's RetrieveConfigResponse: the
// configuration value at the requested path (any JSON value), or, as
// Ditto's RetrieveConfigBehavior answers when reading it fails, the
// object {"error": "<the exception>"} with status 200 all the same.
type RetrieveConfigResponse struct {
	Type   string          `json:"type"`
	Status int             `json:"status"`
	Config json.RawMessage `json:"config"`
}

// ConfigHandler answers common.commands:retrieveConfig ({"type", "path"?})
// for ComponentDevOps of one service instance, as Ditto's
// DevOpsCommandsActor does, with the configuration tree returns: the
// value at path, a HOCON path expression (ditto.gateway,
// ditto.info), or the whole tree without one. Secrets are shown as
// "***" (dittoconf's Masked). ditto.info.service gets the service's name
// and instance id, as in Ditto; the rest of ditto.info is the process's.
// A path that is not set (or is null) or not a valid path is answered
// with Ditto's {"error": "com.typesafe.config.ConfigException$..."}
// config. Any other command type is not handled (ok false).
//
// tree is called for every command; it may return nil (an empty tree).
func ConfigHandler(service, instance string, tree func() *dittoconf.Tree) Handler {
	return func(_ context.Context, p Piggyback) (Answer, bool) {
		if p.Type != TypeRetrieveConfig {
			return Answer{}, false
		}
		var cmd struct {
			Path json.RawMessage `json:"path"`
		}
		_ = json.Unmarshal(p.Command, &cmd) // an object with a type: parsed before
		var path *string
		if len(cmd.Path) > 0 && !bytes.Equal(cmd.Path, []byte("null")) {
			var s string
			if err := json.Unmarshal(cmd.Path, &s); err != nil {
				return ErrorAnswer(protocol.ErrJSONNotOfType(string(cmd.Path), "/path", "String")), true
			}
			path = &s
		}
		return JSONAnswer(http.StatusOK, RetrieveConfigResponse{Type: TypeRetrieveConfigResponse, Status: http.StatusOK,
			Config: retrieveConfig(service, instance, tree(), path)}), true
	}
}

// retrieveConfig is the config of Ditto's RetrieveConfigResponse.
func retrieveConfig(service, instance string, t *dittoconf.Tree, path *string) json.RawMessage {
	masked := t.Masked()
	_ = masked.SetPath([]string{"ditto", "info", "service"}, map[string]any{"name": service, "instance-id": instance})
	var v any = masked.Root()
	if path != nil {
		segs, err := dittoconf.ParsePath(*path)
		if err != nil {
			return configError("com.typesafe.config.ConfigException$BadPath: path parameter: Invalid path '" + *path + "': " + err.Error())
		}
		var ok bool
		if v, ok = masked.GetPath(segs); !ok || v == nil {
			return configError("com.typesafe.config.ConfigException$Missing: No configuration setting found for key '" + *path + "'")
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return configError(err.Error())
	}
	return b
}

// configError is the config Ditto answers when it cannot read the one
// asked for: the exception as text under "error".
func configError(msg string) json.RawMessage {
	b, _ := json.Marshal(map[string]string{"error": msg})
	return b
}
