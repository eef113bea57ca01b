package protocol

import (
	"fmt"
	"strings"
)

// Topic groups.
const (
	GroupThings      = "things"
	GroupPolicies    = "policies"
	GroupConnections = "connections"
)

// Topic channels. Policies and connections have none.
const (
	ChannelTwin = "twin"
	ChannelLive = "live"
)

// Topic criteria.
const (
	CriterionCommands      = "commands"
	CriterionEvents        = "events"
	CriterionSearch        = "search"
	CriterionMessages      = "messages"
	CriterionErrors        = "errors"
	CriterionAcks          = "acks"
	CriterionAnnouncements = "announcements"
	CriterionStreaming     = "streaming"
)

// Actions of commands and events.
const (
	ActionCreate           = "create"
	ActionRetrieve         = "retrieve"
	ActionModify           = "modify"
	ActionMerge            = "merge"
	ActionDelete           = "delete"
	ActionMigrate          = "migrate"
	ActionCreated          = "created"
	ActionModified         = "modified"
	ActionMerged           = "merged"
	ActionMigrated         = "migrated"
	ActionDeleted          = "deleted"
	ActionCheckPermissions = "checkPermissions"
)

// Actions of the search and streaming criteria. ActionCreated is also the
// "subscription created" action of both.
const (
	ActionSubscribe                   = "subscribe"
	ActionSubscribeForPersistedEvents = "subscribeForPersistedEvents"
	ActionCancel                      = "cancel"
	ActionRequest                     = "request"
	ActionComplete                    = "complete"
	ActionFailed                      = "failed"
	ActionNext                        = "next"
	ActionError                       = "error"
	// ActionSearchErrors is the search error action as Ditto's protocol
	// documentation writes it ("_/_/things/search/errors"); Ditto itself
	// sends ActionError.
	ActionSearchErrors = "errors"
)

// IDPlaceholder stands for a namespace or entity name a topic does not name,
// as in "_/_/things/twin/search/subscribe".
const IDPlaceholder = "_"

// Topic is a parsed Ditto Protocol topic:
//
//	{namespace}/{entityName}/{group}/{channel}/{criterion}/{action}
//
// where the channel is absent for policies and connections, and the action
// is absent for errors. For messages the action is the message subject
// (which may contain '/'), for acks the acknowledgement label (absent for
// aggregated acks), for announcements the announcement name.
type Topic struct {
	Namespace, EntityName string
	Group                 string // GroupThings, GroupPolicies, GroupConnections
	Channel               string // ChannelTwin, ChannelLive; "" for policies and connections
	Criterion             string // CriterionCommands, ...
	Action                string
}

// ParseTopic parses a Ditto Protocol topic. It accepts what Ditto's
// TopicPath parser accepts (segments after the action of a command, event,
// search, streaming or error topic are ignored, as Ditto does), except the
// channel name "none", which Ditto accepts but never writes. In addition it
// accepts a things search topic without channel: Ditto sends search errors
// as "_/_/things/search/error" but its parser cannot read that back, and
// Ditto's documentation spells the action "errors" (ActionSearchErrors). An
// unparsable topic is Ditto's protocoladapter:unknown.topicpath error.
func ParseTopic(s string) (Topic, error) {
	p := topicParser{topic: s, rest: s}
	var t Topic
	var ok bool
	if t.Namespace, ok = p.next(); !ok {
		return Topic{}, p.fail("The topic path has no namespace part.")
	}
	if t.EntityName, ok = p.next(); !ok {
		return Topic{}, p.fail("The topic path has no entity name part.")
	}
	if t.Group, ok = p.next(); !ok {
		return Topic{}, p.fail("The topic path has no group part.")
	}
	switch t.Group {
	case GroupThings, GroupPolicies, GroupConnections:
	default:
		return Topic{}, p.fail(fmt.Sprintf("Group name <%s> is unknown.", t.Group))
	}
	criterion, ok := p.next()
	if t.Group == GroupThings {
		if !ok {
			return Topic{}, p.fail("The topic path has no channel part.")
		}
		switch criterion {
		case ChannelTwin, ChannelLive:
			t.Channel = criterion
			criterion, ok = p.next()
		case CriterionSearch:
			// Ditto sends search errors without channel.
		default:
			return Topic{}, p.fail(fmt.Sprintf("Channel name <%s> is unknown.", criterion))
		}
	}
	if !ok {
		return Topic{}, p.fail("The topic path has no criterion part.")
	}
	if !isCriterion(criterion) {
		return Topic{}, p.fail(fmt.Sprintf("Criterion name <%s> is unknown.", criterion))
	}
	t.Criterion = criterion
	switch criterion {
	case CriterionCommands, CriterionEvents:
		a, ok := p.next()
		if !ok {
			return Topic{}, p.fail("The topic path has no action part.")
		}
		if !isAction(a) {
			return Topic{}, p.fail(fmt.Sprintf("Action name <%s> is unknown.", a))
		}
		t.Action = a
	case CriterionSearch, CriterionStreaming:
		a, ok := p.next()
		if !ok {
			return Topic{}, p.fail("The topic path has no search action part.")
		}
		if criterion == CriterionSearch && !isSearchAction(a) {
			return Topic{}, p.fail(fmt.Sprintf("Search action name <%s> is unknown.", a))
		}
		if criterion == CriterionStreaming && !isStreamingAction(a) {
			return Topic{}, p.fail(fmt.Sprintf("Streaming action name <%s> is unknown.", a))
		}
		t.Action = a
	case CriterionMessages, CriterionAcks, CriterionAnnouncements:
		t.Action = p.tail()
	}
	return t, nil
}

// topicParser splits a topic the way Ditto does: at each '/', except that
// splitting stops at the first empty segment after the start, and whatever
// follows it becomes one last segment. A leading '/' gives an empty
// namespace. This keeps "a//b" intact in a message subject.
type topicParser struct {
	topic string
	rest  string
	// started is set once the first segment has been taken.
	started bool
	// joined is set once the remaining text is one undividable segment.
	joined bool
	done   bool
}

func (p *topicParser) next() (string, bool) {
	if p.done {
		return "", false
	}
	if !p.started {
		p.started = true
		if p.rest == "" || p.rest == "/" {
			// Ditto sees no segments in "" and one empty segment in "/".
			p.done = true
			return "", p.rest == "/"
		}
		if p.rest[0] == '/' {
			p.rest = p.rest[1:]
			return "", true
		}
	}
	if p.rest == "" {
		p.done = true
		return "", false
	}
	if p.joined {
		p.done = true
		return p.rest, true
	}
	i := strings.IndexByte(p.rest, '/')
	switch {
	case i < 0:
		seg := p.rest
		p.rest = ""
		return seg, true
	case i == 0:
		// An empty segment: Ditto keeps everything from here, slash
		// included, as a single segment.
		p.joined = true
		p.done = true
		return p.rest, true
	default:
		seg := p.rest[:i]
		p.rest = p.rest[i+1:]
		return seg, true
	}
}

// tail returns the remaining segments joined with '/', as Ditto builds a
// message subject or ack label from them.
func (p *topicParser) tail() string {
	var b strings.Builder
	for {
		seg, ok := p.next()
		if !ok {
			return b.String()
		}
		if b.Len() > 0 {
			b.WriteByte('/')
		}
		b.WriteString(seg)
	}
}

func (p *topicParser) fail(description string) *Error {
	return ErrUnknownTopicPath(p.topic, description)
}

func isCriterion(s string) bool {
	switch s {
	case CriterionCommands, CriterionEvents, CriterionSearch, CriterionMessages,
		CriterionErrors, CriterionAcks, CriterionAnnouncements, CriterionStreaming:
		return true
	}
	return false
}

func isAction(s string) bool {
	switch s {
	case ActionCreate, ActionRetrieve, ActionModify, ActionMerge, ActionDelete, ActionMigrate,
		ActionCreated, ActionModified, ActionMerged, ActionMigrated, ActionDeleted, ActionCheckPermissions:
		return true
	}
	return false
}

func isSearchAction(s string) bool {
	switch s {
	case ActionSubscribe, ActionCancel, ActionRequest, ActionComplete, ActionCreated,
		ActionFailed, ActionNext, ActionError, ActionSearchErrors:
		return true
	}
	return false
}

func isStreamingAction(s string) bool {
	switch s {
	case ActionSubscribeForPersistedEvents, ActionCancel, ActionRequest, ActionComplete, ActionCreated,
		ActionFailed, ActionNext, ActionError:
		return true
	}
	return false
}

// String formats t as a topic; empty channel and action are left out.
func (t Topic) String() string {
	n := len(t.Namespace) + len(t.EntityName) + len(t.Group) + len(t.Channel) + len(t.Criterion) + len(t.Action) + 5
	b := make([]byte, 0, n)
	b = append(b, t.Namespace...)
	b = append(b, '/')
	b = append(b, t.EntityName...)
	b = append(b, '/')
	b = append(b, t.Group...)
	if t.Channel != "" {
		b = append(b, '/')
		b = append(b, t.Channel...)
	}
	b = append(b, '/')
	b = append(b, t.Criterion...)
	if t.Action != "" {
		b = append(b, '/')
		b = append(b, t.Action...)
	}
	return string(b)
}

// EntityID returns the id of the entity the topic addresses,
// namespace:entityName.
func (t Topic) EntityID() string {
	return t.Namespace + ":" + t.EntityName
}

// NewTopic returns the topic of the entity id (namespace:name) in group,
// channel and criterion, with action; channel is ignored for policies and
// connections. An id without ':' is taken as a name in the empty namespace.
func NewTopic(id, group, channel, criterion, action string) Topic {
	ns, name := SplitID(id)
	if group != GroupThings {
		channel = ""
	}
	return Topic{Namespace: ns, EntityName: name, Group: group, Channel: channel, Criterion: criterion, Action: action}
}
