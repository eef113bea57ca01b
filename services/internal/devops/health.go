package devops

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/nats-io/nats.go"
)

// Types of the status commands and responses. retrieveHealth is Ditto's
// (its RetrieveHealth and RetrieveHealthResponse); retrieveStatus is this
// platform's name for what Ditto's StatusSupplierActor answers to its
// "retrieveStatus" SimpleCommand, the instance's static status.
const (
	TypeRetrieveHealth         = "status.commands:retrieveHealth"
	TypeRetrieveHealthResponse = "status.responses:retrieveHealth"
	TypeRetrieveStatus         = "status.commands:retrieveStatus"
	TypeRetrieveStatusResponse = "status.responses:retrieveStatus"
)

// Status is Ditto's StatusInfo.Status.
type Status string

// Ditto's statuses.
const (
	StatusUnknown Status = "UNKNOWN"
	StatusUp      Status = "UP"
	StatusDown    Status = "DOWN"
)

// Merge combines two statuses as Ditto's Status.mergeWith does: UP with UP
// or UNKNOWN is UP, UNKNOWN with UNKNOWN is UNKNOWN, anything with DOWN is
// DOWN.
func (s Status) Merge(o Status) Status {
	switch {
	case s == StatusUp && (o == StatusUp || o == StatusUnknown), o == StatusUp && s == StatusUnknown:
		return StatusUp
	case s == StatusUnknown && o == StatusUnknown:
		return StatusUnknown
	}
	return StatusDown
}

// Level is Ditto's StatusDetailMessage.Level.
type Level string

// Ditto's detail levels, from the least severe.
const (
	LevelInfo  Level = "INFO"
	LevelWarn  Level = "WARN"
	LevelError Level = "ERROR"
)

// Detail is Ditto's StatusDetailMessage: a message (any JSON value) at a
// level, written as {"<LEVEL>": message}.
type Detail struct {
	Level   Level
	Message any
}

// MarshalJSON writes {"<LEVEL>": message}.
func (d Detail) MarshalJSON() ([]byte, error) {
	return json.Marshal(map[string]any{string(d.Level): d.Message})
}

// UnmarshalJSON reads {"<LEVEL>": message}, as Ditto's fromJson does: one
// field, named by a level.
func (d *Detail) UnmarshalJSON(b []byte) error {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	if len(m) != 1 {
		return fmt.Errorf("status detail %s: want one field named by a level", b)
	}
	for k, v := range m {
		switch l := Level(k); l {
		case LevelInfo, LevelWarn, LevelError:
			d.Level = l
		default:
			return fmt.Errorf("status detail level %q: want INFO, WARN or ERROR", k)
		}
		return json.Unmarshal(v, &d.Message)
	}
	return nil
}

// StatusInfo is Ditto's StatusInfo JSON: a status with details and,
// for a composite, labelled children.
type StatusInfo struct {
	Label    string       `json:"label,omitempty"`
	Status   Status       `json:"status"`
	Details  []Detail     `json:"details,omitempty"`
	Children []StatusInfo `json:"children,omitempty"`
}

// Healthy reports whether s is not DOWN, as Ditto's isHealthy.
func (s StatusInfo) Healthy() bool { return s.Status != StatusDown }

// FromDetail is Ditto's StatusInfo.fromDetail, labelled: the status the
// detail's level means (INFO and WARN: UP, ERROR: DOWN).
func FromDetail(label string, level Level, message any) StatusInfo {
	status := StatusUp
	if level == LevelError {
		status = StatusDown
	}
	return StatusInfo{Label: label, Status: status, Details: []Detail{{Level: level, Message: message}}}
}

// Composite is Ditto's StatusInfo.composite, labelled: the children's
// statuses merged (UP without children), and one detail per level of
// ERROR and WARN naming the children (by label, else "[index]") that
// have details at that level, ERROR first.
func Composite(label string, children []StatusInfo) StatusInfo {
	out := StatusInfo{Label: label, Status: StatusUp, Children: children}
	var paths = map[Level][]string{}
	for i, c := range children {
		if i == 0 {
			out.Status = c.Status
		} else {
			out.Status = out.Status.Merge(c.Status)
		}
		path := c.Label
		if path == "" {
			path = "[" + strconv.Itoa(i) + "]"
		}
		for _, d := range c.Details {
			if d.Level == LevelError || d.Level == LevelWarn {
				paths[d.Level] = append(paths[d.Level], path)
			}
		}
	}
	for _, l := range []Level{LevelError, LevelWarn} {
		if p := paths[l]; len(p) > 0 {
			out.Details = append(out.Details, Detail{Level: l, Message: "See detailed messages for: " + strings.Join(p, ", ") + "."})
		}
	}
	return out
}

// A Check reports one part of an instance's health, labelled. It runs on
// the NATS callback that answers a health request: it must be cheap and
// must not block.
type Check func() StatusInfo

// NATSHealth is the health of an instance's NATS connection, labelled
// "nats": UP while connected, DOWN (with the connection's state) otherwise.
func NATSHealth(nc *nats.Conn) StatusInfo {
	if s := nc.Status(); s != nats.CONNECTED {
		return FromDetail("nats", LevelError, "connection "+strings.ToLower(s.String()))
	}
	return StatusInfo{Label: "nats", Status: StatusUp}
}

// InstanceHealth is the health of one service instance: the composite of
// its NATS connection and its checks, unlabelled (whoever gathers it
// labels it with the instance).
func InstanceHealth(nc *nats.Conn, checks []Check) StatusInfo {
	children := []StatusInfo{NATSHealth(nc)}
	for _, c := range checks {
		children = append(children, c())
	}
	return Composite("", children)
}

// InstanceStatus is the static status of one service instance, with the
// fields of Ditto's Status.provideStaticStatus.
func InstanceStatus(service, instance string) map[string]any {
	version := "(devel)"
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		version = bi.Main.Version
	}
	host, _ := os.Hostname()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return map[string]any{
		"service":         service,
		"service-version": version,
		"hostname":        host,
		"local-address":   localAddress(),
		"instance":        instance,
		"processor-count": runtime.NumCPU(),
		"total-memory":    strconv.FormatUint(ms.Sys/(1024*1024), 10) + " MB",
	}
}

// RetrieveHealthResponse is Ditto's RetrieveHealthResponse JSON, with the
// answering service and instance (as the logger responses name them), so
// that answers gathered from a group subject can be told apart.
type RetrieveHealthResponse struct {
	Type        string     `json:"type"`
	Status      int        `json:"status"`
	ServiceName string     `json:"serviceName"`
	Instance    string     `json:"instance"`
	StatusInfo  StatusInfo `json:"statusInfo"`
}

// RetrieveStatusResponse carries an instance's static status as its
// payload, as Ditto's SimpleCommandResponse to "retrieveStatus" does.
type RetrieveStatusResponse struct {
	Type        string         `json:"type"`
	Status      int            `json:"status"`
	ServiceName string         `json:"serviceName"`
	Instance    string         `json:"instance"`
	Payload     map[string]any `json:"payload"`
}

// localAddress returns the first non-loopback IPv4 address of this host,
// as Ditto's LocalHostAddressSupplier does, or "" when it has none.
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
