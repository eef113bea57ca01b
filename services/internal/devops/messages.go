package devops

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"net/http"

	"github.com/dittonats/dittonats/protocol"
)

// Types of Ditto's DevOps commands and responses handled here.
const (
	TypeRetrieveLoggerConfig         = "devops.commands:retrieveLoggerConfig"
	TypeChangeLogLevel               = "devops.commands:changeLogLevel"
	TypeRetrieveLoggerConfigResponse = "devops.responses:retrieveLoggerConfig"
	TypeChangeLogLevelResponse       = "devops.responses:changeLogLevel"
)

// RetrieveLoggerConfig is Ditto's RetrieveLoggerConfig command JSON.
// ServiceName and Instance are null when the command addresses all
// services (all instances); the NATS subject it is sent on is what
// addresses it.
type RetrieveLoggerConfig struct {
	Type                   string   `json:"type"`
	ServiceName            *string  `json:"serviceName"`
	Instance               *string  `json:"instance"`
	AllKnownLoggers        bool     `json:"allKnownLoggers"`
	IncludeDisabledLoggers bool     `json:"includeDisabledLoggers"`
	SpecificLoggers        []string `json:"specificLoggers,omitempty"`
}

// ChangeLogLevel is Ditto's ChangeLogLevel command JSON.
type ChangeLogLevel struct {
	Type         string       `json:"type"`
	ServiceName  *string      `json:"serviceName"`
	Instance     *string      `json:"instance"`
	LoggerConfig LoggerConfig `json:"loggerConfig"`
}

// RetrieveLoggerConfigResponse is Ditto's RetrieveLoggerConfigResponse
// JSON.
type RetrieveLoggerConfigResponse struct {
	Type          string         `json:"type"`
	Status        int            `json:"status"`
	ServiceName   string         `json:"serviceName"`
	Instance      string         `json:"instance"`
	LoggerConfigs []LoggerConfig `json:"loggerConfigs"`
}

// ChangeLogLevelResponse is Ditto's ChangeLogLevelResponse JSON.
type ChangeLogLevelResponse struct {
	Type        string `json:"type"`
	Status      int    `json:"status"`
	ServiceName string `json:"serviceName"`
	Instance    string `json:"instance"`
	Successful  bool   `json:"successful"`
}

// ParseLoggerConfig reads Ditto's LoggerConfig JSON ({"level", "logger"})
// as its ImmutableLoggerConfig.fromJson does: level required and one of
// Ditto's level names, logger optional (Root when absent). The level is
// returned in its canonical lowercase name.
func ParseLoggerConfig(data []byte) (LoggerConfig, slog.Level, *protocol.Error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return LoggerConfig{}, 0, protocol.ErrJSONInvalid("Failed to parse JSON string '" + string(data) + "'!")
	}
	raw, ok := fields["level"]
	if !ok {
		return LoggerConfig{}, 0, protocol.ErrJSONFieldMissing("/level")
	}
	var c LoggerConfig
	if err := json.Unmarshal(raw, &c.Level); err != nil || bytes.Equal(raw, []byte("null")) {
		return LoggerConfig{}, 0, protocol.ErrJSONNotOfType(string(raw), "/level", "String")
	}
	level, ok := parseDittoLevel(c.Level)
	if !ok {
		return LoggerConfig{}, 0, errInvalidLevel()
	}
	c.Level = LevelName(level)
	if raw, ok := fields["logger"]; ok && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &c.Logger); err != nil {
			return LoggerConfig{}, 0, protocol.ErrJSONNotOfType(string(raw), "/logger", "String")
		}
	}
	return c, level, nil
}

// instanceInfo is what a service instance answers DevOps commands with.
type instanceInfo struct {
	service, id string
	reg         *Registry
	log         *slog.Logger
	handlers    map[Component]Handler
	// health is the instance's health now (InstanceHealth of its
	// connection and checks).
	health func() StatusInfo
}

// answer handles one DevOps command JSON for the service instance and
// returns the response JSON, or the Ditto error JSON of a command it
// cannot read. An ExecutePiggybackCommand it can read is returned as p,
// for the caller to run (it may take long) with in.piggyback.
func (in *instanceInfo) answer(data []byte) ([]byte, *Piggyback) {
	service, instance, reg, log := in.service, in.id, in.reg, in.log
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return errorJSON(protocol.ErrJSONInvalid("Failed to parse JSON string '" + string(data) + "'!")), nil
	}
	var typ string
	if raw, ok := fields["type"]; !ok {
		return errorJSON(protocol.ErrJSONFieldMissing("/type")), nil
	} else if err := json.Unmarshal(raw, &typ); err != nil {
		return errorJSON(protocol.ErrJSONNotOfType(string(raw), "/type", "String")), nil
	}
	var out any
	switch typ {
	case TypeRetrieveLoggerConfig:
		all, specific, includeDisabled, perr := parseRetrieve(fields)
		if perr != nil {
			return errorJSON(perr), nil
		}
		resp := RetrieveLoggerConfigResponse{Type: TypeRetrieveLoggerConfigResponse, Status: http.StatusOK,
			ServiceName: service, Instance: instance}
		if all {
			resp.LoggerConfigs = reg.Configs(includeDisabled)
		} else {
			resp.LoggerConfigs = reg.Specific(specific)
		}
		out = resp
	case TypeChangeLogLevel:
		raw, ok := fields["loggerConfig"]
		if !ok {
			return errorJSON(protocol.ErrJSONFieldMissing("/loggerConfig")), nil
		}
		c, level, perr := ParseLoggerConfig(raw)
		if perr != nil {
			return errorJSON(perr), nil
		}
		if c.Logger == "" {
			c.Logger = Root
		}
		reg.Set(c.Logger, level)
		log.Info("log level changed", "logger", c.Logger, "level", c.Level)
		out = ChangeLogLevelResponse{Type: TypeChangeLogLevelResponse, Status: http.StatusOK,
			ServiceName: service, Instance: instance, Successful: true}
	case TypeRetrieveHealth:
		out = RetrieveHealthResponse{Type: TypeRetrieveHealthResponse, Status: http.StatusOK,
			ServiceName: service, Instance: instance, StatusInfo: in.health()}
	case TypeRetrieveStatus:
		out = RetrieveStatusResponse{Type: TypeRetrieveStatusResponse, Status: http.StatusOK,
			ServiceName: service, Instance: instance, Payload: InstanceStatus(service, instance)}
	case TypeExecutePiggyback:
		p, perr := ParsePiggybackFields(fields)
		if perr != nil {
			return errorJSON(perr), nil
		}
		return nil, &p
	default:
		return errorJSON(protocol.ErrJSONTypeNotParsable(typ)), nil
	}
	return JSONAnswer(http.StatusOK, out).Body, nil
}

// parseRetrieve reads RetrieveLoggerConfig's fields as Ditto's fromJson
// does, except that includeDisabledLoggers may be absent (false) and a
// command with specificLoggers needs no allKnownLoggers. Non-string
// entries of specificLoggers are skipped, as Ditto skips them.
func parseRetrieve(fields map[string]json.RawMessage) (all bool, specific []string, includeDisabled bool, _ *protocol.Error) {
	rawAll, hasAll := fields["allKnownLoggers"]
	rawSpecific, hasSpecific := fields["specificLoggers"]
	if hasAll {
		if err := json.Unmarshal(rawAll, &all); err != nil || bytes.Equal(rawAll, []byte("null")) {
			return false, nil, false, protocol.ErrJSONNotOfType(string(rawAll), "/allKnownLoggers", "boolean")
		}
	} else if !hasSpecific {
		return false, nil, false, protocol.ErrJSONFieldMissing("/allKnownLoggers")
	}
	if raw, ok := fields["includeDisabledLoggers"]; ok {
		if err := json.Unmarshal(raw, &includeDisabled); err != nil {
			return false, nil, false, protocol.ErrJSONNotOfType(string(raw), "/includeDisabledLoggers", "boolean")
		}
	}
	if all {
		return true, nil, includeDisabled, nil
	}
	if !hasSpecific {
		return false, nil, false, protocol.ErrJSONFieldMissing("/specificLoggers")
	}
	var entries []any
	if err := json.Unmarshal(rawSpecific, &entries); err != nil {
		return false, nil, false, protocol.ErrJSONNotOfType(string(rawSpecific), "/specificLoggers", "JsonArray")
	}
	for _, e := range entries {
		if s, ok := e.(string); ok {
			specific = append(specific, s)
		}
	}
	return false, specific, includeDisabled, nil
}

func errorJSON(e *protocol.Error) []byte {
	b, _ := json.Marshal(e)
	return b
}
