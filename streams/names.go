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
	// ServiceSearch is the things-search service (Ditto's name).
	ServiceSearch = "things-search"
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
	// HeaderSudo must be "true" on every command sent to a sudo subject
	// (see KindSudo): an operator's explicit request to bypass enforcement,
	// which the service logs. Anywhere else it is ignored.
	HeaderSudo = "Ditto-Sudo"
	// HeaderRevision carries an event's revision, so that a consumer can
	// drop a duplicate without decoding the payload.
	HeaderRevision = "Ditto-Revision"
	// HeaderLive is "true" on a command that is a live signal (a live
	// message, command or event), so that the entity host can let it pass
	// the entity's queued twin commands without decoding it.
	HeaderLive = "Ditto-Live"
	// HeaderHistory turns a retrieve of an entity into a request for a
	// page of its persisted events: its value is the JSON range asked for
	// (see the services' command.EventsRange). Only the gateway sets it.
	HeaderHistory = "Ditto-History"
)

// CommandKind says how much a command subject is trusted; NATS
// permissions decide who may publish to each kind.
type CommandKind string

const (
	// KindCommands: commands on behalf of an authenticated caller, whose
	// subjects travel in HeaderAuth (required) and are enforced. The
	// gateway, the services and the operator publish here.
	KindCommands CommandKind = "commands"
	// KindSudo: an operator's commands that bypass enforcement; they need
	// HeaderSudo "true" and HeaderAuth, and every one is logged. The
	// operator role publishes here, and each entity service on its own
	// (the piggyback commands with ditto-sudo that DevOps sends it).
	KindSudo CommandKind = "sudo"
	// KindInternal: service-to-service commands that bypass enforcement
	// (the things service loading the policy it enforces with). Only the
	// services publish here.
	KindInternal CommandKind = "internal"
)

// CommandKinds lists every kind, in the order services subscribe them.
var CommandKinds = []CommandKind{KindCommands, KindSudo, KindInternal}

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

// Commands is the request/reply subject of service's commands of kind in
// shard: <p>.<service>.<kind>.<shard>.
func (n Names) Commands(service string, kind CommandKind, shard int) string {
	return n.prefix + "." + service + "." + string(kind) + "." + strconv.Itoa(shard)
}

// CommandsAll matches service's commands of kind in every shard.
func (n Names) CommandsAll(service string, kind CommandKind) string {
	return n.prefix + "." + service + "." + string(kind) + ".*"
}

// ThingCommands is the request/reply subject of thing commands in shard.
func (n Names) ThingCommands(shard int) string { return n.Commands(ServiceThings, KindCommands, shard) }

// PolicyCommands is the request/reply subject of policy commands in shard.
func (n Names) PolicyCommands(shard int) string {
	return n.Commands(ServicePolicies, KindCommands, shard)
}

// SearchQueries is the request/reply subject of search queries (count,
// query, wait-for-index): every things-search instance serves it in one
// queue group, since each holds a full index.
func (n Names) SearchQueries() string { return n.prefix + "." + ServiceSearch + ".queries" }

// EntityList is the request/reply subject on which an entity service lists
// the ids of its entities page by page (any instance answers): how a new
// search index is filled.
func (n Names) EntityList(service string) string { return n.prefix + "." + service + ".list" }

// ThingEvents is the subject thing events of namespace ns are published on.
func (n Names) ThingEvents(ns string) string {
	return n.prefix + ".things.events." + NamespaceToken(ns)
}

// ThingEventsAll matches every thing event.
func (n Names) ThingEventsAll() string { return n.prefix + ".things.events.>" }

// ThingStoredEvents is the subject the events stream republishes the
// stored thing events of namespace ns on (see StoredEventsAll).
func (n Names) ThingStoredEvents(ns string) string {
	return n.storedEvents(ServiceThings) + NamespaceToken(ns)
}

// ThingStoredEventsAll matches every thing event as the stream republishes
// it (see StoredEventsAll): what plain NATS followers subscribe to.
func (n Names) ThingStoredEventsAll() string { return n.StoredEventsAll(ServiceThings) }

// LiveMessages is the subject the things service passes live messages to
// things of namespace ns on, after enforcing them, to the devices'
// sessions (core NATS: a message nobody receives is gone). A message's
// NATS reply subject is its sender's, so the session that takes it answers
// the sender directly.
func (n Names) LiveMessages(ns string) string {
	return n.prefix + ".things.live.messages." + NamespaceToken(ns)
}

// LiveMessagesAll matches every live message.
func (n Names) LiveMessagesAll() string { return n.prefix + ".things.live.messages.>" }

// LiveCommands is LiveMessages for live commands (Ditto's live channel:
// a thing command a device answers instead of the twin).
func (n Names) LiveCommands(ns string) string {
	return n.prefix + ".things.live.commands." + NamespaceToken(ns)
}

// LiveEvents is LiveMessages for live events (events a device emits
// itself; nobody answers them).
func (n Names) LiveEvents(ns string) string {
	return n.prefix + ".things.live.events." + NamespaceToken(ns)
}

// LiveAll matches every live signal: messages, commands and events.
func (n Names) LiveAll() string { return n.prefix + ".things.live.>" }

// Acks is the subject acknowledgements for one request are sent to: the
// gateway process that aggregates them subscribes to AcksOf(gw), gw being
// a subject token unique to the process, and names the request with id
// (Ditto's ditto-ackgregator-address header carries the subject through the
// command, its event or live signal, to the subscriber that acknowledges).
func (n Names) Acks(gw, id string) string { return n.prefix + ".acks." + gw + "." + id }

// AcksOf matches every acknowledgement addressed to the gateway process gw.
func (n Names) AcksOf(gw string) string { return n.prefix + ".acks." + gw + ".*" }

// AcksAll matches every acknowledgement.
func (n Names) AcksAll() string { return n.prefix + ".acks.>" }

// AckLabel is the subject of a declared acknowledgement label: every
// WebSocket session that declared the label answers requests on it, so a
// session declaring a label another one holds finds out (Ditto allows one
// declaration of a label in the cluster).
func (n Names) AckLabel(label string) string { return n.prefix + ".acklabels." + label }

// AckLabelsAll matches every declared acknowledgement label.
func (n Names) AckLabelsAll() string { return n.prefix + ".acklabels.*" }

// PolicyEvents is the subject policy events of namespace ns are published on.
func (n Names) PolicyEvents(ns string) string {
	return n.prefix + ".policies.events." + NamespaceToken(ns)
}

// PolicyEventsAll matches every policy event.
func (n Names) PolicyEventsAll() string { return n.prefix + ".policies.events.>" }

// PolicyStoredEventsAll matches every policy event as the stream
// republishes it (see StoredEventsAll).
func (n Names) PolicyStoredEventsAll() string { return n.StoredEventsAll(ServicePolicies) }

// PolicyAnnouncements is the subject the policies service publishes the
// announcements of namespace ns's policies on (Ditto's
// policies/announcements/subjectDeletion): the gateways pass each to the
// sessions authenticated as one of its subjects.
func (n Names) PolicyAnnouncements(ns string) string {
	return n.prefix + ".policies.announcements." + NamespaceToken(ns)
}

// PolicyAnnouncementsAll matches every policy announcement.
func (n Names) PolicyAnnouncementsAll() string { return n.prefix + ".policies.announcements.>" }

// PolicyAcksToken is the token of Acks addresses at which the policies
// service collects the acknowledgements of its announcements: every
// instance subscribes AcksOf(PolicyAcksToken) and takes those it waits
// for (announcements that request acknowledgements are rare).
const PolicyAcksToken = "policies"

// PolicyExpiriesBucket names the KV bucket in which the policies service
// keeps, per policy with expiring subjects, when it next has to act on
// them (announce, delete): the instances watch it, so a policy that is
// not in memory still has its subjects removed and announced in time,
// also after a restart.
func (n Names) PolicyExpiriesBucket() string { return n.upper + "_POLICIES_EXPIRIES" }

// DevOps is the group subject every instance of service listens on.
func (n Names) DevOps(service string) string { return n.prefix + ".devops." + service }

// DevOpsAny is the subject one instance of service answers: its
// instances serve it in one queue group (Ditto's is-group-topic). Its
// last token starts with an underscore, which no instance id does.
func (n Names) DevOpsAny(service string) string { return n.prefix + ".devops." + service + "._any" }

// DevOpsName is the name service answers DevOps commands under, in
// subjects and responses: Ditto's service names (its search service is
// "search").
func DevOpsName(service string) string {
	if service == ServiceSearch {
		return "search"
	}
	return service
}

// DevOpsAll matches the DevOps subjects of every service and instance.
func (n Names) DevOpsAll() string { return n.prefix + ".devops.>" }

// GatewayStreaming is the subject NATS clients (the operator's nats CLI)
// send the Ditto Protocol's streaming subscriptions to
// (subscribeForPersistedEvents, request, cancel): the gateways serve it
// in one queue group and answer to the message's reply subject.
func (n Names) GatewayStreaming() string { return n.prefix + ".gateway.streaming" }

// GatewayStreamingInstance is the subject only gateway instance serves:
// a subscription lives in the instance that created it, whose id starts
// its subscription ids, and another instance forwards it its requests.
func (n Names) GatewayStreamingInstance(instance string) string {
	return n.prefix + ".gateway.streaming." + instance
}

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

// PublishedBucket names the KV bucket in which the owners of service's
// shards record, per shard, the time before which every journaled event
// reached its stream (see the entity host's recovery).
func (n Names) PublishedBucket(service string) string {
	return n.upper + "_" + strings.ToUpper(service) + "_PUBLISHED"
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

// EncodeEntityHeader renders an entity id as the value of HeaderEntity.
// NATS header values lose leading and trailing blanks, which entity names
// may have, so such an id is sent as a JSON string; no entity id starts
// with '"' (the namespace comes first and cannot contain it), so the two
// forms never meet.
func EncodeEntityHeader(id string) string {
	if id == "" || !isBlank(id[0]) && !isBlank(id[len(id)-1]) {
		return id
	}
	return strconv.Quote(id)
}

// DecodeEntityHeader reverses EncodeEntityHeader; a value that is not a
// valid quoted string decodes to "" (no entity).
func DecodeEntityHeader(v string) string {
	if v == "" || v[0] != '"' {
		return v
	}
	id, err := strconv.Unquote(v)
	if err != nil {
		return ""
	}
	return id
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }
