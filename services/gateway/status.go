package gateway

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/streams"
)

// serveWhoami answers GET /api/2/whoami with Ditto's WhoamiResponse: the
// caller's first subject as defaultSubject and all of them as subjects.
func (g *Gateway) serveWhoami(ar *apiRequest, rest []string) {
	if !atEnd(rest) {
		writeNotFound(ar.w)
		return
	}
	if methodOf(ar.r.Method) != methodGet {
		writeMethodNotAllowed(ar.w, ar.r.Method, methodGet)
		return
	}
	body, err := json.Marshal(struct {
		DefaultSubject string   `json:"defaultSubject"`
		Subjects       []string `json:"subjects"`
	}{ar.caller.subjects[0], ar.caller.subjects})
	if err != nil {
		g.fail(ar, err)
		return
	}
	writeJSON(ar.w, ar.headers, http.StatusOK, body)
}

// healthUp reports whether this gateway can reach the services: its NATS
// connection is up.
func (g *Gateway) healthUp() bool {
	return g.nc.Status() == nats.CONNECTED
}

// serveHealth answers Ditto's public GET /health: {"status":"UP"} with 200,
// or {"status":"DOWN"} with 503. It is this gateway instance's health, read
// from its own state on every request (so it needs no cache): unlike
// Ditto's, which is the whole cluster's, it stays UP while some service is
// missing, so that a deployment without one still reports its gateway as
// ready. /overall/status/health reports every service instance.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	if methodOf(r.Method) != methodGet {
		writeMethodNotAllowed(w, r.Method, methodGet)
		return
	}
	if g.healthUp() {
		writeJSON(w, nil, http.StatusOK, []byte(`{"status":"UP"}`))
		return
	}
	writeJSON(w, nil, http.StatusServiceUnavailable, []byte(`{"status":"DOWN"}`))
}

// Ditto's keys of the overall status (ClusterStatusAndHealthHelper).
const (
	labelRoles         = "roles"
	labelExpectedRoles = "expected-roles"
)

// serveStatus answers Ditto's /status and /status/health (overall false:
// this gateway instance alone) and /overall/status and
// /overall/status/health (every instance of every service, gathered over
// NATS), behind basic auth for the devops user with DEVOPS_PASSWORD or
// STATUS_PASSWORD (realm DITTO-STATUS) unless DEVOPS_STATUS_SECURED=false.
// Both have the overall shapes: the static status keyed by service, then
// instance, under "roles"; the health as Ditto's StatusInfo labelled
// "roles", with a child per service and in it one per instance. A health
// that is DOWN is answered with 503.
func (g *Gateway) serveStatus(w http.ResponseWriter, r *http.Request, rest []string, overall bool) {
	if g.cfg.StatusSecured {
		if ok, given := devOpsAuth(r, g.cfg.DevOpsPassword, g.cfg.StatusPassword); !ok {
			writeBasicChallenge(w, realmStatus, given)
			return
		}
	}
	if methodOf(r.Method) != methodGet {
		writeMethodNotAllowed(w, r.Method, methodGet)
		return
	}
	var (
		code = http.StatusOK
		out  any
	)
	switch {
	case atEnd(rest) && overall:
		out = g.overallStatus(r.Context())
	case atEnd(rest):
		out = map[string]any{labelRoles: map[string]any{
			streams.ServiceGateway: map[string]any{g.instance: devops.InstanceStatus(streams.ServiceGateway, g.instance)},
		}}
	case len(rest) == 1 && rest[0] == "health":
		var health devops.StatusInfo
		if overall {
			health = g.overallHealth(r.Context())
		} else {
			own := devops.InstanceHealth(g.nc, nil)
			own.Label = g.instance
			health = devops.Composite(labelRoles, []devops.StatusInfo{
				devops.Composite(streams.ServiceGateway, []devops.StatusInfo{own})})
		}
		if !health.Healthy() {
			code = http.StatusServiceUnavailable
		}
		out = health
	default:
		writeNotFound(w)
		return
	}
	body, err := json.Marshal(out)
	if err != nil {
		writeError(w, nil, protocol.ErrGatewayInternal())
		return
	}
	writeJSON(w, nil, code, body)
}

// overallStatus gathers the static status of every instance of every
// service: {"roles": {service: {instance: status}}}, a service that does
// not answer left out, as Ditto leaves out a role without members.
func (g *Gateway) overallStatus(ctx context.Context) map[string]any {
	roles := map[string]map[string]json.RawMessage{}
	for _, raw := range g.gatherStatus(ctx, devops.TypeRetrieveStatus) {
		var a struct {
			devOpsAnswer
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(raw, &a) != nil || a.Type != devops.TypeRetrieveStatusResponse || a.ServiceName == "" {
			g.log.Warn("unexpected status answer", "answer", string(raw))
			continue
		}
		if roles[a.ServiceName] == nil {
			roles[a.ServiceName] = map[string]json.RawMessage{}
		}
		roles[a.ServiceName][uniqueKey(roles[a.ServiceName], a.Instance)] = a.Payload
	}
	return map[string]any{labelRoles: roles}
}

// overallHealth gathers the health of every instance of every service and
// composes it as Ditto's ClusterStatusAndHealthHelper does: under "roles",
// first "expected-roles" (DOWN when a known service did not answer; left
// out with HEALTH_CHECK_ROLES_ENABLED=false), then each service that
// answered, by name, with its instances by id.
func (g *Gateway) overallHealth(ctx context.Context) devops.StatusInfo {
	byService := map[string][]devops.StatusInfo{}
	for _, raw := range g.gatherStatus(ctx, devops.TypeRetrieveHealth) {
		var a struct {
			devOpsAnswer
			Type       string            `json:"type"`
			StatusInfo devops.StatusInfo `json:"statusInfo"`
		}
		if json.Unmarshal(raw, &a) != nil || a.Type != devops.TypeRetrieveHealthResponse || a.ServiceName == "" {
			g.log.Warn("unexpected health answer", "answer", string(raw))
			continue
		}
		info := a.StatusInfo
		info.Label = a.Instance
		if info.Label == "" {
			info.Label = "?"
		}
		byService[a.ServiceName] = append(byService[a.ServiceName], info)
	}
	var children []devops.StatusInfo
	if g.cfg.HealthCheckRolesEnabled {
		children = append(children, expectedRoles(byService))
	}
	services := make([]string, 0, len(byService))
	for s := range byService {
		services = append(services, s)
	}
	slices.Sort(services)
	for _, s := range services {
		instances := byService[s]
		slices.SortFunc(instances, func(a, b devops.StatusInfo) int { return strings.Compare(a.Label, b.Label) })
		children = append(children, devops.Composite(s, instances))
	}
	return devops.Composite(labelRoles, children)
}

// expectedRoles is Ditto's "expected-roles" health: UP with an INFO
// detail when every known service answered, else DOWN with an ERROR
// detail; the detail lists the missing and the extra services.
func expectedRoles(answered map[string][]devops.StatusInfo) devops.StatusInfo {
	expected := slices.Sorted(slices.Values(devOpsServices))
	missing, extra := []string{}, []string{}
	for _, s := range expected {
		if _, ok := answered[s]; !ok {
			missing = append(missing, s)
		}
	}
	for s := range answered {
		if !slices.Contains(expected, s) {
			extra = append(extra, s)
		}
	}
	slices.Sort(extra)
	status, level := devops.StatusUp, devops.LevelInfo
	if len(missing) > 0 {
		status, level = devops.StatusDown, devops.LevelError
	}
	return devops.StatusInfo{Label: labelExpectedRoles, Status: status, Details: []devops.Detail{{Level: level,
		Message: struct {
			Missing []string `json:"missing-roles"`
			Extra   []string `json:"extra-roles"`
		}{missing, extra}}}}
}

// gatherStatus sends the status command typ to the DevOps group subject of
// every known service and collects the answers for HEALTH_CHECK_SERVICE_TIMEOUT
// (or until no subject has a subscriber).
func (g *Gateway) gatherStatus(ctx context.Context, typ string) []json.RawMessage {
	cmd, _ := json.Marshal(map[string]string{"type": typ}) // a map of strings always marshals
	answers, err := g.gather(ctx, g.devOpsGroups(), cmd, g.cfg.HealthCheckTimeout, false)
	if err != nil {
		// Nothing could be asked: every service counts as not answering.
		g.log.Warn("status request", "type", typ, "err", err)
	}
	return answers
}

// uniqueKey is key, or, when m has it already (two instances with one
// id), key with a suffix that m does not have, as Ditto suffixes it.
func uniqueKey(m map[string]json.RawMessage, key string) string {
	if key == "" {
		key = "?"
	}
	k := key
	for i := 1; ; i++ {
		if _, dup := m[k]; !dup {
			return k
		}
		k = key + "_" + strconv.Itoa(i)
	}
}
