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
	"github.com/dittonats/dittonats/streams"
)

// realmDevOps is Ditto's realm for /devops
// (DevOpsOAuth2AuthenticationDirective.REALM_DEVOPS).
const realmDevOps = "DITTO-DEVOPS"

// defaultDevOpsTimeout is how long a DevOps request to more than one
// instance collects answers when it has no timeout parameter. Ditto waits
// 10s at most but stops when every cluster member it knows of answered;
// NATS does not say how many instances a group subject has, so a shorter
// default keeps GET /devops/logging responsive.
const defaultDevOpsTimeout = 3 * time.Second

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
	if len(rest) == 0 || rest[0] != "logging" || len(rest) > 3 || slices.Contains(rest, "") {
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
	m := methodOf(r.Method)
	if m != methodGet && m != methodPut {
		writeMethodNotAllowed(w, methodsGetPut)
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
		g.log.Warn("devops request", "err", err)
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
	var subjects []string
	switch {
	case service == "":
		subjects = g.devOpsGroups()
	case !natsToken(service) || instance != "" && !natsToken(instance):
		// Not a name any instance subscribes under: nobody can answer.
		return http.StatusRequestTimeout, []byte("null"), nil
	case instance == "":
		subjects = []string{g.names.DevOps(service)}
	default:
		subjects = []string{g.names.DevOpsInstance(service, instance)}
	}
	answers, err := g.gather(ctx, subjects, cmd, timeout, instance != "")
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
	// Ditto keys an answer without a service name "?" and one without an
	// instance "?", "?1", "?2"... by its position.
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
		all[a.ServiceName][a.Instance] = raw
	}
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
func (g *Gateway) devOpsGroups() []string {
	subjects := make([]string, 0, len(devOpsServices))
	for _, s := range devOpsServices {
		subjects = append(subjects, g.names.DevOps(s))
	}
	return subjects
}

// gather publishes cmd to every subject with one reply inbox and collects
// the answers until timeout or ctx ends; with first, until the first one.
// NATS's no-responders status on a subject nobody subscribes to counts as
// that subject being done.
func (g *Gateway) gather(ctx context.Context, subjects []string, cmd []byte, timeout time.Duration, first bool) ([]json.RawMessage, error) {
	inbox := g.nc.NewInbox()
	ch := make(chan *nats.Msg, 256)
	sub, err := g.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, err
	}
	defer func() { _ = sub.Unsubscribe() }()
	for _, subj := range subjects {
		if err := g.nc.PublishRequest(subj, inbox, cmd); err != nil {
			return nil, err
		}
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	var answers []json.RawMessage
	open := len(subjects)
	for {
		select {
		case m := <-ch:
			if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
				if open--; open == 0 {
					return answers, nil
				}
				continue
			}
			answers = append(answers, json.RawMessage(m.Data))
			if first {
				return answers, nil
			}
		case <-timer.C:
			return answers, nil
		case <-ctx.Done():
			return answers, nil
		}
	}
}

// natsToken reports whether s is a single NATS subject token, so that a
// name from a URL cannot widen or change the subject it goes into.
func natsToken(s string) bool {
	return s != "" && !strings.ContainsAny(s, ".*> \t\r\n")
}
