package devops

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// Types of Ditto's ExecutePiggybackCommand and its response.
const (
	TypeExecutePiggyback         = "devops.commands:executePiggybackCommand"
	TypeExecutePiggybackResponse = "devops.responses:executePiggybackCommand"
)

// Component is a part of a service that piggyback commands address. Ditto
// addresses them by actor selection (targetActorSelection); Selections
// maps each selection Ditto's operating guide names to the component it
// means here.
type Component string

// The components piggyback commands reach.
const (
	// ComponentThings: every things.commands:* in Ditto's internal JSON,
	// executed by the things service (its shard region in Ditto).
	ComponentThings Component = "things"
	// ComponentPolicies: every policies.commands:*, by the policies
	// service.
	ComponentPolicies Component = "policies"
	// ComponentPubSub is Ditto's distributed pub/sub mediator: a command
	// sent to it is published by its own type to every service that
	// handles that type (namespace blocking, purging, shutdown), and each
	// answers with the command's response itself, not wrapped.
	ComponentPubSub Component = "pubsub"
	// ComponentDevOps is the instance's DevOps commands actor:
	// common.commands:retrieveConfig (what GET /devops/config sends).
	ComponentDevOps Component = "devops"
	// ComponentBackgroundSync is the search service's background sync.
	ComponentBackgroundSync Component = "background-sync"
	// ComponentThingsUpdater is the search service's updater of single
	// index entries (thing-search.sudo.commands:sudoUpdateThing).
	ComponentThingsUpdater Component = "things-updater"
	// ComponentCleanup is an entity service's background cleanup of its
	// journal and snapshots.
	ComponentCleanup Component = "persistence-cleanup"
	// ComponentConnections is the connectivity service's connections;
	// no service here has it yet, so nobody answers it.
	ComponentConnections Component = "connections"
)

// Selections maps every targetActorSelection Ditto's operating guide
// names to the component it addresses here.
var Selections = map[string]Component{
	"/system/sharding/thing":                                                    ComponentThings,
	"/system/sharding/policy":                                                   ComponentPolicies,
	"/system/sharding/connection":                                               ComponentConnections,
	"/system/distributedPubSubMediator":                                         ComponentPubSub,
	"/user/devOpsCommandsActor":                                                 ComponentDevOps,
	"/user/thingsRoot/persistenceCleanup":                                       ComponentCleanup,
	"/user/policiesRoot/persistenceCleanup":                                     ComponentCleanup,
	"/user/connectivityRoot/persistenceCleanup":                                 ComponentCleanup,
	"/user/thingsWildcardSearchRoot/searchUpdaterRoot/backgroundSync/singleton": ComponentBackgroundSync,
	"/user/thingsWildcardSearchRoot/searchUpdaterRoot/backgroundSyncProxy":      ComponentBackgroundSync,
	"/user/thingsWildcardSearchRoot/searchUpdaterRoot/thingsUpdater":            ComponentThingsUpdater,
}

// SelectionNames lists the accepted selections, sorted.
func SelectionNames() []string {
	out := make([]string, 0, len(Selections))
	for s := range Selections {
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// ErrUnknownSelection is the 400 for a targetActorSelection that is not
// one of Selections; it lists the accepted ones.
func ErrUnknownSelection(selection string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "devops.selection.unknown",
		"The targetActorSelection <"+selection+"> is not known.",
		"Use one of: "+strings.Join(SelectionNames(), ", ")+".")
}

// Piggyback is one piggyback command as the component it addresses
// receives it.
type Piggyback struct {
	// Selection is the targetActorSelection as sent; Component is what it
	// maps to.
	Selection string
	Component Component
	// Headers are the ExecutePiggybackCommand's Ditto headers (its
	// "headers" object): is-group-topic, aggregate, ditto-sudo,
	// force-update, namespaces, timeout, correlation-id...
	Headers map[string]json.RawMessage
	// Type is the piggyback command's type; Command its whole JSON.
	Type    string
	Command json.RawMessage
}

// Header returns header name as a string: a JSON string's value, any
// other JSON value as written (true, 10, ["a"]); "" when absent.
func (p Piggyback) Header(name string) string {
	raw, ok := p.Headers[name]
	if !ok {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	return string(raw)
}

// Sudo reports whether the command asks to bypass enforcement
// (ditto-sudo true). Only the DevOps user can send a piggyback command,
// over HTTP or as the operator role over NATS.
func (p Piggyback) Sudo() bool { return strings.EqualFold(p.Header("ditto-sudo"), "true") }

// Answer is a component's answer to a piggyback command: the command's
// response JSON (or Ditto's error JSON) and its HTTP status. A zero
// Answer (Body nil) means the component does not answer this command
// (Ditto's shutdown has no response); the instance then sends nothing.
type Answer struct {
	Status int
	Body   json.RawMessage
}

// Handler executes piggyback commands for one component of a service.
// ctx ends with the command's timeout. It returns ok false for a command
// type the component does not handle: for ComponentPubSub the instance
// then stays silent (its service does not subscribe to that topic, in
// Ditto's terms); for other components it answers Ditto's
// json.type.notparsable error.
type Handler func(ctx context.Context, p Piggyback) (a Answer, ok bool)

// ErrorAnswer is the answer carrying a Ditto error.
func ErrorAnswer(e *protocol.Error) Answer {
	return Answer{Status: e.Status, Body: errorJSON(e)}
}

// JSONAnswer is the answer with v marshalled as its body.
func JSONAnswer(status int, v any) Answer {
	b, err := json.Marshal(v)
	if err != nil {
		return ErrorAnswer(protocol.NewError(http.StatusInternalServerError, "devops.internalerror", err.Error(), ""))
	}
	return Answer{Status: status, Body: b}
}

// ExecutePiggybackResponse is Ditto's ExecutePiggybackCommandResponse:
// what a component answered, wrapped with the instance that ran it.
type ExecutePiggybackResponse struct {
	Type        string          `json:"type"`
	Status      int             `json:"status"`
	ServiceName string          `json:"serviceName"`
	Instance    string          `json:"instance"`
	Response    json.RawMessage `json:"response"`
}

// ErrorResponse is Ditto's DevOpsErrorResponse: an instance could not run
// a DevOps command; payload is the Ditto error.
type ErrorResponse struct {
	Type        string          `json:"type"`
	Status      int             `json:"status"`
	ServiceName string          `json:"serviceName"`
	Instance    string          `json:"instance"`
	Payload     json.RawMessage `json:"payload"`
}

// TypeErrorResponse is DevOpsErrorResponse's type.
const TypeErrorResponse = "devops.responses:errorResponse"

// defaultPiggybackTimeout bounds a piggyback command without a timeout
// header (Ditto's DevOpsCommandsActor.DEFAULT_RECEIVE_TIMEOUT).
const defaultPiggybackTimeout = 10 * time.Second

// ParsePiggyback reads Ditto's ExecutePiggybackCommand JSON as its
// fromJson does, except that headers may be absent (the guide's erasure
// examples leave them out): targetActorSelection a known selection,
// headers an object, piggybackCommand an object with a string type.
func ParsePiggyback(data []byte) (Piggyback, *protocol.Error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(data, &fields); err != nil || fields == nil {
		return Piggyback{}, protocol.ErrJSONInvalid("Failed to parse JSON string '" + string(data) + "'!")
	}
	return ParsePiggybackFields(fields)
}

// ParsePiggybackFields is ParsePiggyback of a JSON object already read.
func ParsePiggybackFields(fields map[string]json.RawMessage) (Piggyback, *protocol.Error) {
	var p Piggyback
	raw, ok := fields["targetActorSelection"]
	if !ok {
		return Piggyback{}, protocol.ErrJSONFieldMissing("/targetActorSelection")
	}
	if err := json.Unmarshal(raw, &p.Selection); err != nil || bytes.Equal(raw, []byte("null")) {
		return Piggyback{}, protocol.ErrJSONNotOfType(string(raw), "/targetActorSelection", "String")
	}
	if p.Component, ok = Selections[p.Selection]; !ok {
		return Piggyback{}, ErrUnknownSelection(p.Selection)
	}
	if raw, ok := fields["headers"]; ok && !bytes.Equal(raw, []byte("null")) {
		if err := json.Unmarshal(raw, &p.Headers); err != nil || p.Headers == nil {
			return Piggyback{}, protocol.ErrJSONNotOfType(string(raw), "/headers", "JsonObject")
		}
	}
	raw, ok = fields["piggybackCommand"]
	if !ok {
		return Piggyback{}, protocol.ErrJSONFieldMissing("/piggybackCommand")
	}
	var cmd map[string]json.RawMessage
	if err := json.Unmarshal(raw, &cmd); err != nil || cmd == nil {
		return Piggyback{}, protocol.ErrJSONNotOfType(string(raw), "/piggybackCommand", "JsonObject")
	}
	rawType, ok := cmd["type"]
	if !ok {
		return Piggyback{}, protocol.ErrJSONFieldMissing("/piggybackCommand/type")
	}
	if err := json.Unmarshal(rawType, &p.Type); err != nil || bytes.Equal(rawType, []byte("null")) {
		return Piggyback{}, protocol.ErrJSONNotOfType(string(rawType), "/piggybackCommand/type", "String")
	}
	p.Command = raw
	return p, nil
}

// Timeout is the command's timeout header as Ditto reads it ("10s",
// "500ms", "2m", or a number of seconds); def when absent, zero (the
// sender does not wait for an answer) or unreadable.
func (p Piggyback) Timeout(def time.Duration) time.Duration {
	v := p.Header("timeout")
	if v == "" {
		return def
	}
	// 0 means the sender does not wait; the command still needs time.
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if d, err := time.ParseDuration(v); err == nil && d > 0 {
		return d
	}
	return def
}

// errNoMappingStrategy is what a service answers a piggyback command whose
// type the addressed component does not know (Ditto's
// JsonTypeNotParsableException from DevOpsCommandsActor).
func errNoMappingStrategy(typ string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, protocol.CodeJSONTypeNotParsable,
		fmt.Sprintf("ExecutePiggybackCommand with PiggybackCommand <%s> cannot be executed by this service as there is no mapping strategy for it!", typ),
		"Check if you sent the JSON with the correct type.")
}

// piggyback runs an ExecutePiggybackCommand on the component it addresses
// and returns what the instance answers: the component's response itself
// for the pub/sub mediator, else Ditto's ExecutePiggybackCommandResponse
// around it; nil to answer nothing (no handler for the component or, on
// the mediator, for the type; a handler that has no response).
func (in *instanceInfo) piggyback(ctx context.Context, p Piggyback) []byte {
	h := in.handlers[p.Component]
	if h == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, p.Timeout(defaultPiggybackTimeout))
	defer cancel()
	a, ok := h(ctx, p)
	if p.Component == ComponentPubSub {
		if !ok {
			return nil
		}
		return a.Body
	}
	if !ok {
		e := errNoMappingStrategy(p.Type)
		return JSONAnswer(e.Status, ErrorResponse{Type: TypeErrorResponse, Status: e.Status, ServiceName: in.service,
			Instance: in.id, Payload: errorJSON(e)}).Body
	}
	if a.Body == nil {
		return nil
	}
	return JSONAnswer(a.Status, ExecutePiggybackResponse{Type: TypeExecutePiggybackResponse, Status: a.Status,
		ServiceName: in.service, Instance: in.id, Response: a.Body}).Body
}
