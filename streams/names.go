package streams

import (
	"strconv"
	"strings"
)

// DefaultPrefix is the subject prefix used unless configured otherwise.
const DefaultPrefix = "ditto"

// Service names as they appear in subjects and bucket names.
const (
	ServiceGateway  = "gateway"
	ServiceThings   = "things"
	ServicePolicies = "policies"
)

// NATS header names exchanged between services. NATS headers are
// case-sensitive; these are the exact keys.
const (
	// HeaderAuth carries the authenticated subjects of a command as a JSON
	// array of strings. Only the gateway (and connectivity, for its
	// connections) sets it; services reject commands without it.
	HeaderAuth = "Ditto-Auth"
	// HeaderEntity carries the entity id of a command or event so that a
	// receiver can route it without decoding the payload.
	HeaderEntity = "Ditto-Entity"
	// HeaderSudo marks a service-to-service command that bypasses
	// enforcement (e.g. the things service loading a policy to enforce with).
	// The gateway never forwards it.
	HeaderSudo = "Ditto-Sudo"
)

// Names builds every subject, stream and bucket name from one prefix.
// The zero value is not usable; use New.
type Names struct {
	prefix string
	upper  string
}

// New returns the names for prefix; an empty prefix means DefaultPrefix.
// The prefix must be a valid subject token sequence without wildcards.
func New(prefix string) Names {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	return Names{prefix: prefix, upper: strings.ToUpper(strings.NewReplacer(".", "_", "-", "_").Replace(prefix))}
}

// Prefix returns the subject prefix.
func (n Names) Prefix() string { return n.prefix }

// ThingCommands is the request/reply subject of thing commands in shard.
func (n Names) ThingCommands(shard int) string {
	return n.prefix + ".things.commands." + strconv.Itoa(shard)
}

// PolicyCommands is the request/reply subject of policy commands in shard.
func (n Names) PolicyCommands(shard int) string {
	return n.prefix + ".policies.commands." + strconv.Itoa(shard)
}

// ThingEvents is the subject thing events of namespace ns are published on.
func (n Names) ThingEvents(ns string) string {
	return n.prefix + ".things.events." + NamespaceToken(ns)
}

// ThingEventsAll matches every thing event.
func (n Names) ThingEventsAll() string { return n.prefix + ".things.events.>" }

// PolicyEvents is the subject policy events of namespace ns are published on.
func (n Names) PolicyEvents(ns string) string {
	return n.prefix + ".policies.events." + NamespaceToken(ns)
}

// PolicyEventsAll matches every policy event.
func (n Names) PolicyEventsAll() string { return n.prefix + ".policies.events.>" }

// DevOps is the group subject every instance of service listens on.
func (n Names) DevOps(service string) string { return n.prefix + ".devops." + service }

// DevOpsInstance is the subject only one instance of service listens on.
func (n Names) DevOpsInstance(service, instance string) string {
	return n.prefix + ".devops." + service + "." + instance
}

// ThingEventsStream names the JetStream stream holding thing events.
func (n Names) ThingEventsStream() string { return n.upper + "_THINGS_EVENTS" }

// PolicyEventsStream names the JetStream stream holding policy events.
func (n Names) PolicyEventsStream() string { return n.upper + "_POLICIES_EVENTS" }

// ShardLeaseBucket names the KV bucket in which instances of service lease
// shards.
func (n Names) ShardLeaseBucket(service string) string {
	return n.upper + "_" + strings.ToUpper(service) + "_SHARDS"
}

// EventMsgID is the Nats-Msg-Id of the event of entityID at revision, so a
// republished event is dropped by JetStream's deduplication.
func EventMsgID(entityID string, revision int64) string {
	return entityID + ":" + strconv.FormatInt(revision, 10)
}

// NamespaceToken renders a namespace as one subject token: '.' becomes '~'
// (namespaces never contain '~') and the empty namespace becomes '_' (a
// namespace never is "_": it starts with a letter).
func NamespaceToken(ns string) string {
	if ns == "" {
		return "_"
	}
	return strings.ReplaceAll(ns, ".", "~")
}

// NamespaceFromToken reverses NamespaceToken.
func NamespaceFromToken(tok string) string {
	if tok == "_" {
		return ""
	}
	return strings.ReplaceAll(tok, "~", ".")
}
