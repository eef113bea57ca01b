package gateway

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/logging"
	"github.com/dittonats/dittonats/streams"
)

// maxPiggybackBody bounds a piggyback request body: it may carry a whole
// thing or policy.
const maxPiggybackBody = 1 << 20

// servePiggyback serves Ditto's POST /devops/piggyback[/{service}[/{instance}]]
// (PUT too: the guide's erasure examples use it). The body is an
// ExecutePiggybackCommand without its type: targetActorSelection,
// headers (optional here) and piggybackCommand. Service and instance from
// the URL take precedence over the body's serviceName and instance, as in
// Ditto. The command goes to the addressed service instance, or to every
// instance of the addressed services, or with the header is-group-topic
// to one instance of each; the timeout query parameter joins the headers.
// The answers come back as Ditto's DevOps route returns them: with
// aggregate false the first answer alone, else keyed by service and
// instance (a component's answer unwrapped from its
// ExecutePiggybackCommandResponse).
func (g *Gateway) servePiggyback(w http.ResponseWriter, r *http.Request, service, instance string) {
	m := methodOf(r.Method)
	if m != methodPost && m != methodPut {
		writeMethodNotAllowed(w, r.Method, methodPost|methodPut)
		return
	}
	timeout, wait, perr := piggybackTimeout(r)
	if perr != nil {
		writeError(w, nil, perr)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxPiggybackBody))
	if err != nil {
		writeUnreadableBody(w, err)
		return
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		writeError(w, nil, protocol.ErrJSONInvalid("Failed to parse JSON string '"+string(body)+"'!"))
		return
	}
	fields["type"], _ = json.Marshal(devops.TypeExecutePiggyback)
	if service == "" {
		_ = json.Unmarshal(fields["serviceName"], &service)
	}
	if instance == "" {
		_ = json.Unmarshal(fields["instance"], &instance)
	}
	service = streams.DevOpsName(service)
	if service != "" {
		fields["serviceName"], _ = json.Marshal(service)
	}
	if instance != "" {
		fields["instance"], _ = json.Marshal(instance)
	}
	p, perr := devops.ParsePiggybackFields(fields)
	if perr != nil {
		writeError(w, nil, perr)
		return
	}
	// The headers go on as an object, with the request's timeout unless
	// they name one.
	if p.Headers == nil {
		p.Headers = map[string]json.RawMessage{}
	}
	if _, given := p.Headers[protocol.HeaderTimeout]; !given {
		p.Headers[protocol.HeaderTimeout], _ = json.Marshal(strconv.FormatInt(timeout.Milliseconds(), 10) + "ms")
	}
	fields["headers"], _ = json.Marshal(p.Headers)
	data, err := json.Marshal(fields)
	if err != nil {
		writeError(w, nil, protocol.ErrGatewayInternal())
		return
	}
	aggregate := !strings.EqualFold(p.Header("aggregate"), "false")
	group := p.Header("is-group-topic") != "" && !strings.EqualFold(p.Header("is-group-topic"), "false")
	if !natsToken(service) && service != "" || instance != "" && (!natsToken(instance) || service == "") {
		// Not a name any instance answers under: nobody can answer.
		writeJSON(w, nil, http.StatusRequestTimeout, []byte("null"))
		return
	}
	targets := g.piggybackTargets(service, instance, group)
	g.log.Info("piggyback command", logging.CorrelationID(r.Header.Get(protocol.HeaderCorrelationID)), "selection", p.Selection, "type", p.Type, "service", service, "instance", instance,
		"group", group, "sudo", p.Sudo())
	if !wait {
		// timeout=0: the guide's shutdown, which has no response.
		for _, t := range targets {
			if err := g.nc.Publish(t.subject, data); err != nil {
				g.log.Warn("piggyback publish", logging.CorrelationID(r.Header.Get(protocol.HeaderCorrelationID)), "err", err)
			}
		}
		writeJSON(w, nil, http.StatusRequestTimeout, []byte("null"))
		return
	}
	answers, err := g.gather(r.Context(), targets, data, timeout, !aggregate)
	if err != nil {
		g.log.Warn("piggyback request", logging.CorrelationID(r.Header.Get(protocol.HeaderCorrelationID)), "err", err)
		writeError(w, nil, protocol.ErrGatewayInternal())
		return
	}
	status, out := aggregateDevOps(answers, aggregate)
	writeJSON(w, nil, status, out)
}

// piggybackTargets are the subjects a piggyback command goes to.
func (g *Gateway) piggybackTargets(service, instance string, group bool) []devOpsTarget {
	services := devOpsServices
	if service != "" {
		services = []string{service}
	}
	var targets []devOpsTarget
	for _, s := range services {
		switch {
		case instance != "":
			targets = append(targets, devOpsTarget{subject: g.names.DevOpsInstance(s, instance), service: s, one: true})
		case group:
			targets = append(targets, devOpsTarget{subject: g.names.DevOpsAny(s), service: s, one: true})
		default:
			targets = append(targets, devOpsTarget{subject: g.names.DevOps(s), service: s})
		}
	}
	return targets
}

// aggregateDevOps shapes DevOps answers as Ditto's
// AggregatedDevOpsCommandResponse: without aggregate, the one answer
// alone; else keyed by service, then instance (keyDevOps). The HTTP status is
// Ditto's: 200 whatever the answers' own statuses (a 204 or 404 of a
// piggybacked command is in its body), or 408 with null when nothing came.
func aggregateDevOps(answers []json.RawMessage, aggregate bool) (int, []byte) {
	if len(answers) == 0 {
		return http.StatusRequestTimeout, []byte("null")
	}
	if !aggregate && len(answers) == 1 {
		body, _ := unwrapDevOps(answers[0])
		return http.StatusOK, body
	}
	all := keyDevOps(answers)
	body, _ := json.Marshal(all)
	return http.StatusOK, body
}

// unwrapDevOps returns the response an ExecutePiggybackCommandResponse
// carries, else the answer itself, with its status (200 when it has none).
func unwrapDevOps(raw json.RawMessage) (json.RawMessage, int) {
	var a struct {
		Type     string          `json:"type"`
		Status   int             `json:"status"`
		Response json.RawMessage `json:"response"`
	}
	_ = json.Unmarshal(raw, &a)
	if a.Status < 100 || a.Status > 599 {
		a.Status = http.StatusOK
	}
	if a.Type == devops.TypeExecutePiggybackResponse && a.Response != nil {
		return a.Response, a.Status
	}
	return raw, a.Status
}

// piggybackTimeout reads the timeout query parameter; 0 is allowed here
// (wait false): the guide sends its shutdown with timeout=0 and expects
// 408 at once.
func piggybackTimeout(r *http.Request) (d time.Duration, wait bool, _ *protocol.Error) {
	v, ok := r.URL.Query()[protocol.HeaderTimeout]
	if !ok || len(v) == 0 {
		return defaultDevOpsTimeout, true, nil
	}
	d, _, perr := headerTimeout(protocol.Headers{protocol.HeaderTimeout: v[0]}, defaultDevOpsTimeout)
	if perr != nil {
		return 0, false, perr
	}
	return d, d > 0, nil
}

// serveDevOpsConfig serves Ditto's GET /devops/config[/{service}[/{instance}]]?path=:
// common.commands:retrieveConfig as a piggyback command to each
// instance's DevOps commands actor, aggregated unless one instance is
// addressed, as Ditto's route sets the aggregate header.
func (g *Gateway) serveDevOpsConfig(w http.ResponseWriter, r *http.Request, service, instance string) {
	if methodOf(r.Method) != methodGet {
		writeMethodNotAllowed(w, r.Method, methodGet)
		return
	}
	timeout, perr := devOpsTimeout(r)
	if perr != nil {
		writeError(w, nil, perr)
		return
	}
	service = streams.DevOpsName(service)
	if service != "" && !natsToken(service) || instance != "" && !natsToken(instance) {
		writeJSON(w, nil, http.StatusRequestTimeout, []byte("null"))
		return
	}
	aggregate := service == "" || instance == ""
	retrieve := map[string]any{"type": "common.commands:retrieveConfig"}
	if path := r.URL.Query().Get("path"); path != "" {
		retrieve["path"] = path
	}
	cmd := map[string]any{"type": devops.TypeExecutePiggyback, "targetActorSelection": "/user/devOpsCommandsActor",
		"headers":          map[string]any{"aggregate": aggregate, protocol.HeaderTimeout: strconv.FormatInt(timeout.Milliseconds(), 10) + "ms"},
		"piggybackCommand": retrieve}
	if service != "" {
		cmd["serviceName"] = service
	}
	if instance != "" {
		cmd["instance"] = instance
	}
	data, err := json.Marshal(cmd)
	if err != nil {
		writeError(w, nil, protocol.ErrGatewayInternal())
		return
	}
	answers, err := g.gather(r.Context(), g.piggybackTargets(service, instance, false), data, timeout, !aggregate)
	if err != nil {
		g.log.Warn("devops config request", logging.CorrelationID(r.Header.Get(protocol.HeaderCorrelationID)), "err", err)
		writeError(w, nil, protocol.ErrGatewayInternal())
		return
	}
	status, out := aggregateDevOps(answers, aggregate)
	writeJSON(w, nil, status, out)
}
