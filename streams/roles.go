package streams

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Role is who a NATS connection is; NATS permissions give each role the
// least it needs. The names are the NATS user names.
type Role string

const (
	// RoleThings and RolePolicies are the entity services: they serve
	// their command subjects, publish their events and keep their streams
	// and buckets. The things service alone publishes live messages.
	RoleThings   Role = ServiceThings
	RolePolicies Role = ServicePolicies
	// RoleGateway sends commands for authenticated clients and receives
	// replies, events and live messages (answering a live message's
	// sender). It serves nothing on NATS and has no JetStream API.
	RoleGateway Role = ServiceGateway
	// RoleSearch is the things-search service: it serves search queries,
	// reads the thing and policy events through its own durable consumers
	// and loads things and policies over the internal command subjects.
	// It publishes no events and owns no stream.
	RoleSearch Role = ServiceSearch
	// RoleOperator is a person with the nats CLI: DevOps subjects,
	// commands (sudo commands too, which services log), reading events,
	// streams and buckets. Never deleting or purging anything.
	RoleOperator Role = "operator"
)

// Roles lists every role.
var Roles = []Role{RoleThings, RolePolicies, RoleGateway, RoleSearch, RoleOperator}

// Permissions are a role's NATS permissions: the subjects it may publish
// and subscribe to (nothing else), and whether it may answer the requests
// it receives (NATS's allow_responses: once, to the reply subject of a
// message delivered to it).
type Permissions struct {
	Publish        []string
	Subscribe      []string
	AllowResponses bool
	// MaxResponses, when above 1, lets the role send that many messages
	// to each reply subject it received, within ResponsesExpire (NATS's
	// allow_responses max and expires): the streams of a request.
	MaxResponses    int
	ResponsesExpire time.Duration
}

// MaxStreamingDemand caps what one NATS message may demand of a streaming
// subscription served over NATS (GatewayStreaming): the events a gateway
// may send to one reply subject, besides the final complete or failed.
const MaxStreamingDemand = 1000

// GatewayResponsesExpire is how long a gateway may answer a message
// delivered to it: a live message's answer comes within its timeout (at
// most a minute, Ditto's ditto.gateway.command.max-timeout), a streaming
// request's events within moments. It is kept short because NATS records
// the reply subject of every message delivered to the gateway until then,
// answered or not, and a gateway whose sessions follow events receives
// each with the reply subject of its JetStream publish: about 110 bytes
// per event for the whole expiry (measured: 16.7 MB after 150 s of 1,000
// events a second with the five minutes this was before, 6.1 MB with 70
// seconds).
const GatewayResponsesExpire = 70 * time.Second

// InboxPrefix is the prefix of a role's reply subjects. Each role has its
// own, and only that role may subscribe to it, so no role reads another's
// replies. The operator keeps NATS's default, so the nats CLI needs no
// option for it.
func InboxPrefix(r Role) string {
	if r == RoleOperator {
		return "_INBOX"
	}
	return "_INBOX_" + string(r)
}

// EventsStream names the stream of service's events.
func (n Names) EventsStream(service string) string {
	return n.upper + "_" + strings.ToUpper(service) + "_EVENTS"
}

// Events is the subject of service's events of namespace ns.
func (n Names) Events(service, ns string) string {
	return n.prefix + "." + service + ".events." + NamespaceToken(ns)
}

// EventsAll matches every event of service.
func (n Names) EventsAll(service string) string { return n.prefix + "." + service + ".events.>" }

// StoredEventsAll matches every event of service as its stream republishes
// it once stored: <p>.<service>.stored-events.<namespace token>. The
// services that follow events over plain NATS subscribe here, not to
// EventsAll: a publish to EventsAll carries the publisher's reply subject
// for JetStream's acknowledgement, and NATS lets a receiver with
// allow_responses publish to the reply subject of what it received (for
// two minutes, or the gateway's 70 s). A gateway could so forge the
// acknowledgement of a thing event to the things service, and every event
// left a reply record in the server. A republished event has no reply
// subject, and only events that reached the stream are republished.
func (n Names) StoredEventsAll(service string) string { return n.storedEvents(service) + ">" }

// storedEvents is the prefix of service's republished events, before the
// namespace token.
func (n Names) storedEvents(service string) string {
	return n.prefix + "." + service + ".stored-events."
}

// kvStream names the stream behind a KV bucket.
func kvStream(bucket string) string { return "KV_" + bucket }

// Permissions returns the permissions of r.
func (n Names) Permissions(r Role) Permissions {
	switch r {
	case RoleThings:
		p := n.entityService(ServiceThings)
		// Things enforce with policies and create them for new things;
		// they read other things' policy ids (_copyPolicyFrom).
		p.Publish = append(p.Publish,
			n.CommandsAll(ServicePolicies, KindCommands), n.CommandsAll(ServicePolicies, KindInternal),
			n.CommandsAll(ServiceThings, KindInternal))
		// Policy events invalidate the policies they enforce with.
		p.Subscribe = append(p.Subscribe, n.StoredEventsAll(ServicePolicies))
		// Live signals, once enforced, go to the devices' sessions; only
		// this role publishes them, so a receiver may trust their
		// ditto-read-subjects header.
		p.Publish = append(p.Publish, n.LiveAll())
		return p
	case RolePolicies:
		p := n.entityService(ServicePolicies)
		// Subject deletion announcements go to the gateways' sessions;
		// the acknowledgements they request come back to the service.
		p.Publish = append(p.Publish, n.PolicyAnnouncementsAll())
		p.Subscribe = append(p.Subscribe, n.AcksOf(PolicyAcksToken))
		return p
	case RoleGateway:
		p := Permissions{
			// Acknowledgements go from the gateway whose session issued
			// them to the gateway that aggregates them; declared labels are
			// checked among the gateways.
			// DevOps commands go to every service's instances (the
			// gateway's /devops routes).
			Publish: []string{n.CommandsAll(ServiceThings, KindCommands), n.CommandsAll(ServicePolicies, KindCommands),
				n.SearchQueries(), n.AcksAll(), n.AckLabelsAll(), n.DevOpsAll()},
			// Live messages reach the sessions that may receive them; the
			// sessions answer the sender through allow_responses (the
			// messages carry the sender's reply subject), so a gateway can
			// answer only what was delivered to it.
			Subscribe: []string{InboxPrefix(r) + ".>",
				n.StoredEventsAll(ServiceThings), n.StoredEventsAll(ServicePolicies), n.PolicyAnnouncementsAll(),
				n.LiveAll(), n.AcksAll(), n.AckLabelsAll(),
				n.DevOps(ServiceGateway), n.DevOpsInstance(ServiceGateway, "*"),
				n.GatewayStreaming(), n.GatewayStreamingInstance(">")},
			// Streaming subscriptions over NATS answer a request with up to
			// MaxStreamingDemand events and an end.
			AllowResponses:  true,
			MaxResponses:    MaxStreamingDemand + 1,
			ResponsesExpire: GatewayResponsesExpire,
		}
		// A gateway forwards a streaming request to the instance that
		// holds its subscription.
		p.Publish = append(p.Publish, n.GatewayStreamingInstance(">"))
		// Service discovery: the gateway registers itself, and pings every
		// service to know how many instances a DevOps request awaits.
		p.Subscribe = append(p.Subscribe, n.Discovery(ServiceGateway)...)
		p.Publish = append(p.Publish, DiscoveryPing+".>")
		return p
	case RoleSearch:
		p := Permissions{AllowResponses: true}
		p.Publish = append(p.Publish,
			n.CommandsAll(ServiceThings, KindInternal), n.CommandsAll(ServicePolicies, KindInternal),
			n.EntityList(ServiceThings), "$JS.API.INFO")
		// Its durable consumers on the event streams: create (and find
		// again after a restart), pull, acknowledge, delete its own when
		// its index is rebuilt.
		for _, svc := range []string{ServiceThings, ServicePolicies} {
			s := n.EventsStream(svc)
			p.Publish = append(p.Publish,
				"$JS.API.STREAM.INFO."+s,
				"$JS.API.CONSUMER.CREATE."+s+".*", "$JS.API.CONSUMER.CREATE."+s+".*.>",
				"$JS.API.CONSUMER.INFO."+s+".*", "$JS.API.CONSUMER.DELETE."+s+".*",
				"$JS.API.CONSUMER.MSG.NEXT."+s+".*", "$JS.ACK."+s+".>", "$JS.FC."+s+".>")
		}
		p.Subscribe = append([]string{InboxPrefix(r) + ".>", n.SearchQueries(),
			n.DevOps(DevOpsName(ServiceSearch)), n.DevOpsInstance(DevOpsName(ServiceSearch), "*")},
			n.Discovery(ServiceSearch)...)
		return p
	case RoleOperator:
		pub := []string{
			n.SearchQueries(), n.GatewayStreaming(),
			n.CommandsAll(ServiceThings, KindCommands), n.CommandsAll(ServiceThings, KindSudo),
			n.CommandsAll(ServicePolicies, KindCommands), n.CommandsAll(ServicePolicies, KindSudo),
			n.DevOpsAll(),
			// nats micro list|info|stats|ping.
			DiscoveryAll,
			// Reading the JetStream account, streams, consumers and
			// messages: nats stream ls|info|view, nats kv ls|get.
			"$JS.API.INFO", "$JS.API.STREAM.NAMES", "$JS.API.STREAM.LIST", "$JS.API.STREAM.INFO.*",
			"$JS.API.CONSUMER.NAMES.*", "$JS.API.CONSUMER.LIST.*", "$JS.API.CONSUMER.INFO.*.*",
			"$JS.API.STREAM.MSG.GET.*", "$JS.API.DIRECT.GET.>",
			"$JS.FC.>",
		}
		// Ephemeral consumers to read the platform's streams with.
		for _, s := range n.streamsOf(ServiceThings, ServicePolicies) {
			pub = append(pub, "$JS.API.CONSUMER.CREATE."+s, "$JS.API.CONSUMER.CREATE."+s+".>",
				"$JS.API.CONSUMER.MSG.NEXT."+s+".*", "$JS.ACK."+s+".>")
		}
		// Not live messages: Ditto's DevOps user cannot read them either
		// (only a policy's READ on message: resources can), and they
		// carry what a journal never holds, claim secrets among them. An
		// operator debugging them connects a WebSocket session as a
		// subject the thing's policy lets read them.
		// Both the publishes (nats sub on the event subjects) and the
		// stored events.
		sub := []string{InboxPrefix(r) + ".>", n.EventsAll(ServiceThings), n.EventsAll(ServicePolicies),
			n.StoredEventsAll(ServiceThings), n.StoredEventsAll(ServicePolicies)}
		return Permissions{Publish: pub, Subscribe: sub}
	}
	return Permissions{}
}

// streamsOf lists the streams of services: event streams and the streams
// behind their buckets.
func (n Names) streamsOf(services ...string) []string {
	var out []string
	for _, svc := range services {
		out = append(out, n.EventsStream(svc))
		for _, b := range n.buckets(svc) {
			out = append(out, kvStream(b))
		}
	}
	return out
}

// buckets names svc's KV buckets (those Ensure creates).
func (n Names) buckets(svc string) []string {
	var out []string
	for _, kc := range n.bucketConfigs(svc, Config{}) {
		out = append(out, kc.Bucket)
	}
	return out
}

// entityService is what an entity service needs for itself: serve its
// commands and DevOps subjects, publish its events, keep (create, update,
// read, watch) its event stream and buckets.
func (n Names) entityService(svc string) Permissions {
	p := Permissions{AllowResponses: true}
	for _, kind := range CommandKinds {
		p.Subscribe = append(p.Subscribe, n.CommandsAll(svc, kind))
	}
	p.Subscribe = append(p.Subscribe, InboxPrefix(Role(svc))+".>", n.DevOps(svc), n.DevOpsInstance(svc, "*"),
		n.EntityList(svc))
	p.Subscribe = append(p.Subscribe, n.Discovery(svc)...)
	p.Publish = append(p.Publish, n.EventsAll(svc), "$JS.API.INFO")
	// The piggyback commands an operator sends through DevOps run as
	// the service's own commands: sudo ones with ditto-sudo, else
	// enforced.
	p.Publish = append(p.Publish, n.CommandsAll(svc, KindCommands), n.CommandsAll(svc, KindSudo))
	// Erasing a namespace purges its events from the service's own
	// event stream (a filtered purge), nothing else.
	p.Publish = append(p.Publish, "$JS.API.STREAM.PURGE."+n.EventsStream(svc))
	for _, s := range n.streamsOf(svc) {
		p.Publish = append(p.Publish,
			"$JS.API.STREAM.INFO."+s, "$JS.API.STREAM.CREATE."+s, "$JS.API.STREAM.UPDATE."+s,
			"$JS.API.STREAM.MSG.GET."+s, "$JS.API.DIRECT.GET."+s, "$JS.API.DIRECT.GET."+s+".>")
	}
	for _, bucket := range n.buckets(svc) {
		s := kvStream(bucket)
		p.Publish = append(p.Publish,
			"$KV."+bucket+".>",
			// Watches and key listings are ordered push consumers.
			"$JS.API.CONSUMER.CREATE."+s, "$JS.API.CONSUMER.CREATE."+s+".>",
			"$JS.API.CONSUMER.DELETE."+s+".*", "$JS.API.CONSUMER.INFO."+s+".*",
			"$JS.FC."+s+".>")
	}
	return p
}

// NATS service discovery (nats.go micro) subjects: every service answers
// $SRV.<verb>, $SRV.<verb>.<name> and $SRV.<verb>.<name>.<id> for the
// verbs PING, INFO and STATS.
const (
	DiscoveryPing = "$SRV.PING"
	DiscoveryAll  = "$SRV.>"
)

// Discovery lists the discovery subjects the instances of service
// subscribe to, registered under MicroName.
func (n Names) Discovery(service string) []string {
	name := n.MicroName(service)
	var out []string
	for _, verb := range []string{"PING", "INFO", "STATS"} {
		out = append(out, "$SRV."+verb, "$SRV."+verb+"."+name, "$SRV."+verb+"."+name+".*")
	}
	return out
}

// MicroName is the name service's instances register with NATS service
// discovery: the prefix and the service's DevOps name joined by a dash
// (ditto-things, ditto-search), in the characters micro allows.
func (n Names) MicroName(service string) string {
	b := []byte(n.prefix + "-" + DevOpsName(service))
	for i, c := range b {
		if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '-'
		}
	}
	return string(b)
}

// User is a NATS user of one role, authenticated by an nkey or a password.
type User struct {
	Role Role
	// Nkey is the user's public nkey ("U..."); else Password is the
	// password, or PasswordVariable names the nats-server configuration
	// variable (or environment variable) that holds it.
	Nkey, Password, PasswordVariable string
}

// AuthorizationConfig renders the nats-server configuration block that
// admits exactly these users, each with its role's permissions; a client
// without credentials is refused.
func (n Names) AuthorizationConfig(users []User) (string, error) {
	var b strings.Builder
	b.WriteString("authorization {\n  users = [\n")
	for _, u := range users {
		if !slices.Contains(Roles, u.Role) {
			return "", fmt.Errorf("user of unknown role %q", u.Role)
		}
		b.WriteString("    {\n")
		switch {
		case u.Nkey != "":
			fmt.Fprintf(&b, "      nkey: %s\n", strconv.Quote(u.Nkey))
		case u.PasswordVariable != "":
			fmt.Fprintf(&b, "      user: %s\n      password: $%s\n", strconv.Quote(string(u.Role)), u.PasswordVariable)
		case u.Password != "":
			fmt.Fprintf(&b, "      user: %s\n      password: %s\n", strconv.Quote(string(u.Role)), strconv.Quote(u.Password))
		default:
			return "", fmt.Errorf("user of role %s has no credential", u.Role)
		}
		p := n.Permissions(u.Role)
		b.WriteString("      permissions: {\n")
		writeList(&b, "publish", p.Publish)
		writeList(&b, "subscribe", p.Subscribe)
		switch {
		case p.AllowResponses && p.MaxResponses > 1:
			fmt.Fprintf(&b, "        allow_responses: {max: %d, expires: %q}\n", p.MaxResponses, p.ResponsesExpire.String())
		case p.AllowResponses:
			b.WriteString("        allow_responses: true\n")
		}
		b.WriteString("      }\n    }\n")
	}
	b.WriteString("  ]\n}\n")
	return b.String(), nil
}

func writeList(b *strings.Builder, name string, subjects []string) {
	fmt.Fprintf(b, "        %s: {\n          allow: [\n", name)
	for _, s := range subjects {
		fmt.Fprintf(b, "            %s\n", strconv.Quote(s))
	}
	b.WriteString("          ]\n        }\n")
}
