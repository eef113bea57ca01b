package gateway

import (
	"encoding/json"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
)

// serveWhoami answers GET /api/2/whoami with Ditto's WhoamiResponse: the
// caller's first subject as defaultSubject and all of them as subjects.
func (g *Gateway) serveWhoami(ar *apiRequest, rest []string) {
	if !atEnd(rest) {
		writeNotFound(ar.w)
		return
	}
	if methodOf(ar.r.Method) != methodGet {
		writeMethodNotAllowed(ar.w, methodGet)
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
// or {"status":"DOWN"} with 503.
func (g *Gateway) serveHealth(w http.ResponseWriter, r *http.Request) {
	if methodOf(r.Method) != methodGet {
		writeMethodNotAllowed(w, methodGet)
		return
	}
	if g.healthUp() {
		writeJSON(w, nil, http.StatusOK, []byte(`{"status":"UP"}`))
		return
	}
	writeJSON(w, nil, http.StatusServiceUnavailable, []byte(`{"status":"DOWN"}`))
}

// serveStatus answers Ditto's /status (which Ditto's stock deployment maps
// to the gateway's /overall/status): the status of every service instance by
// role, behind basic auth for the devops user with DEVOPS_PASSWORD or
// STATUS_PASSWORD (realm DITTO-STATUS) unless DEVOPS_STATUS_SECURED=false.
// It knows this gateway instance only; /status/health answers its health in
// Ditto's StatusInfo shape.
func (g *Gateway) serveStatus(w http.ResponseWriter, r *http.Request, rest []string) {
	if g.cfg.StatusSecured {
		if ok, given := devOpsAuth(r, g.cfg.DevOpsPassword, g.cfg.StatusPassword); !ok {
			writeBasicChallenge(w, realmStatus, given)
			return
		}
	}
	if methodOf(r.Method) != methodGet {
		writeMethodNotAllowed(w, methodGet)
		return
	}
	switch {
	case atEnd(rest):
		body, err := json.Marshal(map[string]any{"roles": map[string]any{
			"gateway": map[string]any{g.instance: g.staticStatus()},
		}})
		if err != nil {
			writeError(w, nil, protocol.ErrGatewayInternal())
			return
		}
		writeJSON(w, nil, http.StatusOK, body)
	case len(rest) == 1 && rest[0] == "health":
		status, code := "UP", http.StatusOK
		if !g.healthUp() {
			status, code = "DOWN", http.StatusServiceUnavailable
		}
		type statusInfo struct {
			Label    string       `json:"label,omitempty"`
			Status   string       `json:"status"`
			Children []statusInfo `json:"children,omitempty"`
		}
		body, err := json.Marshal(statusInfo{Label: "roles", Status: status, Children: []statusInfo{{
			Label: "gateway", Status: status, Children: []statusInfo{{Label: g.instance, Status: status}},
		}}})
		if err != nil {
			writeError(w, nil, protocol.ErrGatewayInternal())
			return
		}
		writeJSON(w, nil, code, body)
	default:
		writeNotFound(w)
	}
}

// staticStatus is what Ditto's Status.provideStaticStatus reports for an
// instance.
func (g *Gateway) staticStatus() map[string]any {
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	host, _ := os.Hostname()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{
		"service":         "gateway",
		"service-version": version,
		"hostname":        host,
		"local-address":   localAddress(),
		"instance":        g.instance,
		"processor-count": runtime.NumCPU(),
		"total-memory":    formatMB(ms.Sys),
	}
}

func formatMB(b uint64) string {
	return strconv.FormatUint(b/(1024*1024), 10) + " MB"
}

// localAddress returns the first non-loopback address of this host, as
// Ditto's LocalHostAddressSupplier does, or "" when it has none.
func localAddress() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && !ip.IP.IsLoopback() && ip.IP.To4() != nil {
			return ip.IP.String()
		}
	}
	return ""
}
