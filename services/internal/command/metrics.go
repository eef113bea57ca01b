package command

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/telemetry"
)

// Outcomes of a command round trip, the outcome label of
// command_roundtrip_seconds.
const (
	OutcomeSuccess     = "success"     // answered with a status below 400
	OutcomeFailure     = "failure"     // answered with an error status
	OutcomeTimeout     = "timeout"     // taken by a service, not answered in time
	OutcomeUnavailable = "unavailable" // no service instance took it, or NATS failed
)

// metrics is a client's command_roundtrip_seconds.
type metrics struct {
	vec *prometheus.HistogramVec

	mu        sync.RWMutex
	observers map[metricKey]prometheus.Observer
}

// metricKey keys a child by the command's topic below the entity
// ("things/twin/commands/modify"), the shape of its path and outcome.
type metricKey struct {
	topic    string
	resource string
	outcome  string
}

// WithMetrics makes c record command_roundtrip_seconds on reg (nothing
// when reg is nil) and returns c. Call it before c is used.
func (c *Client) WithMetrics(reg prometheus.Registerer) *Client {
	if reg == nil {
		return c
	}
	vec := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "command_roundtrip_seconds",
		Help:    "Time from sending a command over NATS to its answer, by Ditto command type and outcome (success, failure, timeout, unavailable).",
		Buckets: telemetry.LatencyBuckets,
	}, []string{"command", "outcome"})
	reg.MustRegister(vec)
	c.metrics = &metrics{vec: vec, observers: map[metricKey]prometheus.Observer{}}
	return c
}

// observe records a request's round trip.
func (m *metrics) observe(env protocol.Envelope, reply protocol.Envelope, err error, took time.Duration) {
	outcome := OutcomeSuccess
	switch {
	case errors.Is(err, ErrTimeout):
		outcome = OutcomeTimeout
	case err != nil:
		outcome = OutcomeUnavailable
	case reply.Status >= 400:
		outcome = OutcomeFailure
	}
	k := metricKey{topic: topicTail(env.Topic), resource: resourceOf(env.Topic, env.Path), outcome: outcome}
	m.mu.RLock()
	o, ok := m.observers[k]
	m.mu.RUnlock()
	if !ok {
		k.topic = strings.Clone(k.topic)
		o = m.vec.WithLabelValues(CommandType(env.Topic, env.Path), outcome)
		m.mu.Lock()
		if len(m.observers) < 4096 {
			m.observers[k] = o
		}
		m.mu.Unlock()
	}
	o.Observe(took.Seconds())
}

// topicTail is a topic without its namespace and entity name:
// "things/twin/commands/modify".
func topicTail(topic string) string {
	for range 2 {
		i := strings.IndexByte(topic, '/')
		if i < 0 {
			return ""
		}
		topic = topic[i+1:]
	}
	return topic
}

// CommandType names a command as Ditto's types do, from its topic and
// path: "things.commands:modifyAttribute", "policies.commands:retrieveSubject",
// "things.commands:mergeThing", "messages.commands:sendMessage". Live
// commands have their twin counterparts' names, as in Ditto. Resources it
// does not know end in "Other", so that the names stay a bounded set.
func CommandType(topic, path string) string {
	var parts [4]string
	n := splitInto(topicTail(topic), parts[:])
	var group, criterion, action string
	switch {
	case n >= 4 && parts[0] == protocol.GroupThings:
		group, criterion, action = parts[0], parts[2], parts[3]
	case n >= 3 && parts[0] == protocol.GroupPolicies:
		group, criterion, action = parts[0], parts[1], parts[2]
	default:
		return "other"
	}
	switch {
	case criterion == "messages":
		return "messages.commands:sendMessage"
	case criterion != "commands":
		return group + "." + criterion + ":" + action
	case action == "merge" && group == protocol.GroupThings:
		return "things.commands:mergeThing"
	case action == "merge":
		return "policies.commands:mergePolicy"
	}
	return group + ".commands:" + action + resourceOf(topic, path)
}

// splitInto puts up to len(out) '/'-separated segments of s into out
// (the last one keeps the rest) and returns how many; it allocates
// nothing.
func splitInto(s string, out []string) int {
	if s == "" {
		return 0
	}
	n := 0
	for n < len(out)-1 {
		i := strings.IndexByte(s, '/')
		if i < 0 {
			break
		}
		out[n], s = s[:i], s[i+1:]
		n++
	}
	out[n] = s
	return n + 1
}

// resourceOf names the resource a command's path addresses, as the suffix
// of Ditto's command types; it allocates nothing.
func resourceOf(topic, path string) string {
	var segs [4]string
	n := splitInto(strings.Trim(path, "/"), segs[:])
	if strings.HasPrefix(topicTail(topic), protocol.GroupPolicies+"/") {
		return policyResource(segs[:n])
	}
	return thingResource(segs[:n])
}

func thingResource(segs []string) string {
	switch {
	case len(segs) == 0:
		return "Thing"
	case segs[0] == "policyId" && len(segs) == 1:
		return "PolicyId"
	case segs[0] == "definition" && len(segs) == 1:
		return "ThingDefinition"
	case segs[0] == "attributes":
		if len(segs) == 1 {
			return "Attributes"
		}
		return "Attribute"
	case segs[0] == "features":
		if len(segs) == 4 { // the last segment holds the rest of the path
			return featureLeaf(segs[2])
		}
		switch {
		case len(segs) == 1:
			return "Features"
		case len(segs) == 2:
			return "Feature"
		case segs[2] == "definition" && len(segs) == 3:
			return "FeatureDefinition"
		case segs[2] == "properties":
			if len(segs) == 3 {
				return "FeatureProperties"
			}
			return "FeatureProperty"
		case segs[2] == "desiredProperties":
			if len(segs) == 3 {
				return "FeatureDesiredProperties"
			}
			return "FeatureDesiredProperty"
		}
	}
	return "Other"
}

// featureLeaf names a command below a feature's properties or desired
// properties.
func featureLeaf(sub string) string {
	switch sub {
	case "properties":
		return "FeatureProperty"
	case "desiredProperties":
		return "FeatureDesiredProperty"
	}
	return "Other"
}

func policyResource(segs []string) string {
	switch {
	case len(segs) == 0:
		return "Policy"
	case segs[0] == "entries":
		switch {
		case len(segs) == 1:
			return "PolicyEntries"
		case len(segs) == 2:
			return "PolicyEntry"
		case segs[2] == "subjects":
			if len(segs) == 3 {
				return "Subjects"
			}
			return "Subject"
		case segs[2] == "resources":
			if len(segs) == 3 {
				return "Resources"
			}
			return "Resource"
		}
	case segs[0] == "imports":
		if len(segs) == 1 {
			return "PolicyImports"
		}
		return "PolicyImport"
	}
	return "Other"
}
