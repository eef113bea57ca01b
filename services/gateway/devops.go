package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/logging"
	"github.com/dittonats/dittonats/streams"
)

// realmDevOps is Ditto's realm for /devops
// (DevOpsOAuth2AuthenticationDirective.REALM_DEVOPS).
const realmDevOps = "DITTO-DEVOPS"

// defaultDevOpsTimeout is how long a DevOps request collects answers when
// it has no timeout parameter, Ditto's 10s. Like Ditto, which stops when
// every cluster member it knows of answered, gather stops when every
// instance NATS service discovery knows of answered.
const defaultDevOpsTimeout = 10 * time.Second

// maxDevOpsBody bounds a DevOps request body (a LoggerConfig).
const maxDevOpsBody = 64 << 10

// devOpsServices are the services a DevOps request without a service name
// goes to, by the names Ditto's services answer with.
var devOpsServices = []string{streams.ServiceGateway, streams.ServiceThings, streams.ServicePolicies, streams.DevOpsName(streams.ServiceSearch)}

// serveDevOps serves Ditto's /devops/logging[/{service}[/{instance}]]
// behind basic auth for the devops user (DEVOPS_PASSWORD, realm
// DITTO-DEVOPS) unless DEVOPS_SECURED=false. GET sends
// devops.commands:retrieveLoggerConfig, PUT devops.commands:changeLogLevel
// with the body's LoggerConfig, over NATS to the DevOps subjects of the
// addressed services and instances; the answers come back as Ditto's
// DevOpsRoute shapes them: keyed by service and instance, by instance for
// one service, the single answer for one instance.
func (g *Gateway) serveDevOps(w http.ResponseWriter, r *http.Request, rest []string) {
	if g.cfg.DevOpsSecured {
		if ok, given := devOpsAuth(r, g.cfg.DevOpsPassword); !ok {
			writeBasicChallenge(w, realmDevOps, given)
			return
		}
	}
	if len(rest) > 0 && rest[len(rest)-1] == "" {
		rest = rest[:len(rest)-1] // a trailing slash
	}
	if len(rest) == 0 || len(rest) > 3 || slices.Contains(rest, "") {
		writeNotFound(w)
		return
	}
	var service, instance string
	if len(rest) > 1 {
		service = rest[1]
	}
	if len(rest) > 2 {
		instance = rest[2]
	}
	switch rest[0] {
	case "logging":
	case "piggyback":
		g.servePiggyback(w, r, service, instance)
		return
	case "config":
		g.serveDevOpsConfig(w, r, service, instance)
		return
	default:
		writeNotFound(w)
		return
	}
	service = streams.DevOpsName(service) // things-search is accepted too
	m := methodOf(r.Method)
	if m != methodGet && m != methodPut {
		writeMethodNotAllowed(w, r.Method, methodsGetPut)
		return
	}
	timeout, perr := devOpsTimeout(r)
	if perr != nil {
		writeError(w, nil, perr)
		return
	}
	var svcPtr, instPtr *string
	if service != "" {
		svcPtr = &service
	}
	if instance != "" {
		instPtr = &instance
	}
	var cmd any
	if m == methodGet {
		cmd = devops.RetrieveLoggerConfig{Type: devops.TypeRetrieveLoggerConfig, ServiceName: svcPtr, Instance: instPtr,
			AllKnownLoggers: true, IncludeDisabledLoggers: strings.EqualFold(r.URL.Query().Get("includeDisabledLoggers"), "true")}
	} else {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxDevOpsBody))
		if err != nil {
			writeUnreadableBody(w, err)
			return
		}
		c, _, perr := devops.ParseLoggerConfig(body)
		if perr != nil {
			writeError(w, nil, perr)
			return
		}
		cmd = devops.ChangeLogLevel{Type: devops.TypeChangeLogLevel, ServiceName: svcPtr, Instance: instPtr, LoggerConfig: c}
	}
	data, err := json.Marshal(cmd)
	if err != nil {
		writeError(w, nil, protocol.ErrGatewayInternal())
		return
	}
	status, body, err := g.devOpsRequest(r.Context(), data, service, instance, timeout)
	if err != nil {
		g.log.Warn("devops request", logging.CorrelationID(r.Header.Get(protocol.HeaderCorrelationID)), "err", err)
		writeError(w, nil, protocol.ErrGatewayInternal())
		return
	}
	writeJSON(w, nil, status, body)
}

// devOpsTimeout reads the timeout query parameter as Ditto reads the
// timeout header; 0 is refused, since every DevOps request wants answers.
func devOpsTimeout(r *http.Request) (time.Duration, *protocol.Error) {
	v, ok := r.URL.Query()[protocol.HeaderTimeout]
	if !ok || len(v) == 0 {
		return defaultDevOpsTimeout, nil
	}
	d, _, perr := headerTimeout(protocol.Headers{protocol.HeaderTimeout: v[0]}, defaultDevOpsTimeout)
	if perr != nil {
		return 0, perr
	}
	if d == 0 {
		e := protocol.ErrHeaderInvalidMessage("The value of the header 'timeout' must not be zero if response or acknowledgements are requested.")
		e.Description = "Please provide a positive timeout."
		return 0, e
	}
	return d, nil
}

// devOpsAnswer is the part of a DevOps response the aggregation keys on.
type devOpsAnswer struct {
	ServiceName string `json:"serviceName"`
	Instance    string `json:"instance"`
	Status      int    `json:"status"`
}

// devOpsRequest sends cmd to the DevOps subjects of service and instance
// (every service when service is empty, every instance of service when
// instance is empty) and shapes the answers as Ditto's DevOpsRoute does.
// It collects answers until timeout, or until the one instance addressed
// answered, or until NATS reports that no subject has a subscriber. No
// answer at all is Ditto's 408 with what its route reads from an empty
// aggregate: {} for every service, null for one service or instance.
func (g *Gateway) devOpsRequest(ctx context.Context, cmd []byte, service, instance string, timeout time.Duration) (int, []byte, error) {
	var targets []devOpsTarget
	switch {
	case service == "":
		targets = g.devOpsGroups()
	case !natsToken(service) || instance != "" && !natsToken(instance):
		// Not a name any instance subscribes under: nobody can answer.
		return http.StatusRequestTimeout, []byte("null"), nil
	case instance == "":
		targets = []devOpsTarget{{subject: g.names.DevOps(service), service: service}}
	default:
		targets = []devOpsTarget{{subject: g.names.DevOpsInstance(service, instance), service: service, one: true}}
	}
	answers, err := g.gather(ctx, targets, cmd, timeout, instance != "")
	if err != nil {
		return 0, nil, err
	}
	if instance != "" {
		if len(answers) == 0 {
			return http.StatusRequestTimeout, []byte("null"), nil
		}
		var a devOpsAnswer
		if err := json.Unmarshal(answers[0], &a); err != nil || a.Status < 100 || a.Status > 599 {
			a.Status = http.StatusOK
		}
		return a.Status, answers[0], nil
	}
	all := keyDevOps(answers)
	status := http.StatusOK
	if len(answers) == 0 {
		status = http.StatusRequestTimeout
	}
	var out any = all
	if service != "" {
		if byInstance, ok := all[service]; ok {
			out = byInstance
		} else {
			out = nil
		}
	}
	body, err := json.Marshal(out)
	return status, body, err
}

// devOpsGroups are the DevOps subjects of every service, each answered by
// all of its instances.
func (g *Gateway) devOpsGroups() []devOpsTarget {
	targets := make([]devOpsTarget, 0, len(devOpsServices))
	for _, s := range devOpsServices {
		targets = append(targets, devOpsTarget{subject: g.names.DevOps(s), service: s})
	}
	return targets
}

// devOpsTarget is a DevOps subject a command goes to: a service's group
// subject (every instance answers), or, with one, a subject that one
// instance answers (an instance's own, or the service's any subject).
type devOpsTarget struct {
	subject, service string
	one              bool
}

// discoveryQuiet is how long gather waits after the last answer to its
// service discovery ping before it trusts the instances it heard of as
// all there are.
const discoveryQuiet = 50 * time.Millisecond

// gather publishes cmd to every target with one reply inbox and collects
// the answers until timeout or ctx ends; with first, until the first one.
// Otherwise it stops early once every instance it expects has answered:
// it pings the targets' services over NATS service discovery as it sends,
// and expects one answer per instance that answers the ping (one per
// target for single-instance targets). NATS's no-responders status on a
// subject nobody subscribes to counts as that target done.
func (g *Gateway) gather(ctx context.Context, targets []devOpsTarget, cmd []byte, timeout time.Duration, first bool) ([]json.RawMessage, error) {
	inbox := g.nc.NewInbox()
	ch := make(chan *nats.Msg, 256)
	sub, err := g.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	// Instances heard of per service, from the ping, and the services
	// whose every instance answers the any subject (replicated).
	instances := map[string]map[string]bool{}
	replicated := map[string]bool{}
	var pings chan *nats.Msg
	if !first {
		pings = make(chan *nats.Msg, 64)
		psub, err := g.nc.ChanSubscribe(g.nc.NewInbox(), pings)
		if err != nil {
			return nil, err
		}
		defer func() { _ = psub.Unsubscribe() }()
		pinged := map[string]bool{}
		for _, t := range targets {
			if name := g.names.MicroName(t.service); !pinged[name] {
				pinged[name] = true
				instances[t.service] = map[string]bool{}
				if err := g.nc.PublishRequest(streams.DiscoveryPing+"."+name, psub.Subject, nil); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, t := range targets {
		if err := g.nc.PublishRequest(t.subject, inbox, cmd); err != nil {
			return nil, err
		}
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	// Waiting for the first answer nothing is expected from discovery:
	// only an answer, every target's no-responders or the deadline ends it.
	var quiet *time.Timer
	var quietC <-chan time.Time
	if !first {
		quiet = time.NewTimer(discoveryQuiet)
		defer quiet.Stop()
		quietC = quiet.C
	}
	settled := false // discovery has been quiet for discoveryQuiet
	var answers []json.RawMessage
	done := 0 // targets answered with no responders
	complete := func() bool {
		if !settled {
			return false
		}
		want := 0
		for _, t := range targets {
			switch {
			case t.one && replicated[t.service] && t.subject == g.names.DevOpsAny(t.service):
				want += len(instances[t.service])
			case t.one && len(instances[t.service]) > 0:
				want++
			case !t.one:
				want += len(instances[t.service])
			}
		}
		return len(answers)+done >= want
	}
	for {
		select {
		case m := <-ch:
			if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
				if done++; done == len(targets) {
					return answers, nil
				}
				continue
			}
			answers = append(answers, json.RawMessage(m.Data))
			if first || complete() {
				return answers, nil
			}
		case m := <-pings:
			var p struct {
				Metadata map[string]string `json:"metadata"`
			}
			if json.Unmarshal(m.Data, &p) == nil {
				if byService := instances[p.Metadata["service"]]; byService != nil {
					byService[p.Metadata["instance"]] = true
					replicated[p.Metadata["service"]] = p.Metadata["replicated"] == "true"
				}
			}
			quiet.Reset(discoveryQuiet)
		case <-quietC:
			settled = true
			if complete() {
				return answers, nil
			}
		case <-deadline.C:
			return answers, nil
		case <-ctx.Done():
			return answers, nil
		}
	}
}

// keyDevOps keys DevOps answers by service, then instance, as Ditto's
// AggregatedDevOpsCommandResponse does: an answer without a service name
// under "?", one without an instance under "?", "?1", "?2"... by its
// position; a piggyback response unwrapped from its
// ExecutePiggybackCommandResponse.
func keyDevOps(answers []json.RawMessage) map[string]map[string]json.RawMessage {
	all := map[string]map[string]json.RawMessage{}
	for i, raw := range answers {
		var a devOpsAnswer
		_ = json.Unmarshal(raw, &a)
		if a.ServiceName == "" {
			a.ServiceName = "?"
		}
		if a.Instance == "" {
			a.Instance = "?"
			if i > 0 {
				a.Instance += strconv.Itoa(i)
			}
		}
		if all[a.ServiceName] == nil {
			all[a.ServiceName] = map[string]json.RawMessage{}
		}
		all[a.ServiceName][a.Instance], _ = unwrapDevOps(raw)
	}
	return all
}

// natsToken reports whether s is a single NATS subject token, so that a
// name from a URL cannot widen or change the subject it goes into.
func natsToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}
