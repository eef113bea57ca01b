package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
)

// memHistory is a thing's journal of n events (revisions 1..n, attribute
// n = the revision), paged as the things service pages it.
type memHistory struct {
	n int

	mu   sync.Mutex
	reqs []command.EventsRange
}

func (m *memHistory) fetch(_ context.Context, _, _ string, _ protocol.Headers, rng command.EventsRange) (command.EventsPage, error) {
	m.mu.Lock()
	m.reqs = append(m.reqs, rng)
	m.mu.Unlock()
	from, err := strconv.Atoi(rng.From)
	if err != nil {
		return command.EventsPage{}, protocol.ErrJSONFormatInvalid("from")
	}
	to := m.n
	if rng.To != "" && rng.To != "0" {
		to, _ = strconv.Atoi(rng.To)
	}
	from = max(from, 1)
	page := command.EventsPage{To: int64(to)}
	last := min(to, from+rng.Limit-1)
	for r := from; r <= last; r++ {
		page.Events = append(page.Events, json.RawMessage(fmt.Sprintf(
			`{"topic":"org.example/t/things/twin/events/modified","headers":{},"path":"/attributes/n","value":%d,"revision":%d}`, r, r)))
	}
	if last < to {
		page.Next = int64(last + 1)
	}
	return page, nil
}

func (m *memHistory) requests() []command.EventsRange {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]command.EventsRange(nil), m.reqs...)
}

type historyRig struct {
	t   *testing.T
	hs  *wsHistories
	out chan protocol.Envelope
}

func newHistoryRig(t *testing.T, fetch historyFetcher, mod func(*wsHistories)) *historyRig {
	t.Helper()
	r := &historyRig{t: t, out: make(chan protocol.Envelope, 256)}
	r.hs = &wsHistories{
		emit:  func(_ string, env protocol.Envelope) { r.out <- env },
		fetch: fetch, pageMax: 5,
		idle: time.Minute, maxLive: 3,
		zombies: endedIDs{lifetime: time.Minute, max: 4},
	}
	if mod != nil {
		mod(r.hs)
	}
	t.Cleanup(r.hs.stop)
	return r
}

func (r *historyRig) send(frame string) {
	r.t.Helper()
	env, err := protocol.DecodeEnvelope([]byte(frame))
	if err != nil {
		r.t.Fatalf("frame %s: %v", frame, err)
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil {
		r.t.Fatalf("frame %s: %v", frame, err)
	}
	env.Headers = externalHeaders(env.Headers)
	r.hs.command(context.Background(), topic, env, "")
}

func (r *historyRig) next(action string) streamingTestValue {
	r.t.Helper()
	select {
	case env := <-r.out:
		if env.Topic != "org.example/t/things/twin/streaming/"+action {
			r.t.Fatalf("got %s %s, want %s", env.Topic, env.Value, action)
		}
		var v streamingTestValue
		if err := json.Unmarshal(env.Value, &v); err != nil {
			r.t.Fatalf("value %s: %v", env.Value, err)
		}
		return v
	case <-time.After(wsWait):
		r.t.Fatalf("nothing emitted within %s", wsWait)
		return streamingTestValue{}
	}
}

func (r *historyRig) silent(d time.Duration) {
	r.t.Helper()
	select {
	case env := <-r.out:
		r.t.Fatalf("unexpected %s %s", env.Topic, env.Value)
	case <-time.After(d):
	}
}

// nextRevs reads n next events and returns their items' revisions.
func (r *historyRig) nextRevs(n int) []int64 {
	r.t.Helper()
	var out []int64
	for range n {
		v := r.next(protocol.ActionNext)
		var item struct {
			Revision int64 `json:"revision"`
		}
		if err := json.Unmarshal(v.Item, &item); err != nil {
			r.t.Fatalf("item %s: %v", v.Item, err)
		}
		out = append(out, item.Revision)
	}
	return out
}

type streamingTestValue struct {
	SubscriptionID string          `json:"subscriptionId"`
	Item           json.RawMessage `json:"item"`
	Error          *protocol.Error `json:"error"`
}

func streamingFrame(action, cid, value string) string {
	return `{"topic":"org.example/t/things/twin/streaming/` + action + `","headers":{"correlation-id":"` + cid + `"},"path":"/","value":` + value + `}`
}

// A subscription fetches a page only when it has demand and the previous
// page is used up, never more events than its demand (capped at the page
// size), and the pages after the first go by the revisions it resolved.
func TestWSStreamingPagesOnDemand(t *testing.T) {
	t.Parallel()
	mem := &memHistory{n: 12}
	r := newHistoryRig(t, mem.fetch, nil)
	r.send(streamingFrame("subscribeForPersistedEvents", "s", `{"fromHistoricalRevision":2}`))
	if v := r.next(protocol.ActionCreated); v.SubscriptionID != "0" {
		t.Fatalf("created %q", v.SubscriptionID)
	}
	r.silent(50 * time.Millisecond)
	if got := mem.requests(); len(got) != 0 {
		t.Fatalf("fetched before demand: %+v", got)
	}
	r.send(streamingFrame("request", "r", `{"subscriptionId":"0","demand":2}`))
	if got, want := fmt.Sprint(r.nextRevs(2)), "[2 3]"; got != want {
		t.Fatalf("demand 2: got %s, want %s", got, want)
	}
	r.silent(50 * time.Millisecond)
	r.send(streamingFrame("request", "r", `{"subscriptionId":"0","demand":100}`))
	if got, want := fmt.Sprint(r.nextRevs(9)), "[4 5 6 7 8 9 10 11 12]"; got != want {
		t.Fatalf("the rest: got %s, want %s", got, want)
	}
	r.next(protocol.ActionComplete)
	want := []command.EventsRange{
		{From: "2", Limit: 2},
		{From: "4", To: "12", Limit: 5},
		{From: "9", To: "12", Limit: 5},
	}
	if got := mem.requests(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("requests %+v, want %+v", got, want)
	}
}

// Failures: an unknown id, a non-positive demand, a page's error, idle.
func TestWSStreamingFailures(t *testing.T) {
	t.Parallel()
	t.Run("unknown id", func(t *testing.T) {
		r := newHistoryRig(t, (&memHistory{n: 3}).fetch, nil)
		r.send(streamingFrame("request", "r", `{"subscriptionId":"7","demand":1}`))
		if v := r.next(protocol.ActionFailed); v.SubscriptionID != "7" || v.Error.Code != codeStreamingNotFound {
			t.Fatalf("got %+v %+v", v, v.Error)
		}
	})
	t.Run("zero demand", func(t *testing.T) {
		r := newHistoryRig(t, (&memHistory{n: 3}).fetch, nil)
		r.send(streamingFrame("subscribeForPersistedEvents", "s", `{}`))
		r.next(protocol.ActionCreated)
		r.send(streamingFrame("request", "r", `{"subscriptionId":"0","demand":0}`))
		if v := r.next(protocol.ActionFailed); v.Error.Code != codeStreamingProtocolError {
			t.Fatalf("got %+v", v.Error)
		}
	})
	t.Run("page error", func(t *testing.T) {
		r := newHistoryRig(t, (&memHistory{n: 3}).fetch, nil)
		r.send(streamingFrame("subscribeForPersistedEvents", "s", `{"fromHistoricalTimestamp":"2024-01-01T00:00:00Z"}`))
		r.next(protocol.ActionCreated)
		r.send(streamingFrame("request", "r", `{"subscriptionId":"0","demand":1}`))
		if v := r.next(protocol.ActionFailed); v.Error.Code != protocol.CodeJSONFormatInvalid {
			t.Fatalf("got %+v", v.Error)
		}
	})
	t.Run("idle", func(t *testing.T) {
		r := newHistoryRig(t, (&memHistory{n: 3}).fetch, func(hs *wsHistories) { hs.idle = 100 * time.Millisecond })
		r.send(streamingFrame("subscribeForPersistedEvents", "s", `{}`))
		r.next(protocol.ActionCreated)
		if v := r.next(protocol.ActionFailed); v.Error.Code != codeStreamingTimeout {
			t.Fatalf("got %+v", v.Error)
		}
	})
	t.Run("too many", func(t *testing.T) {
		r := newHistoryRig(t, (&memHistory{n: 3}).fetch, nil)
		for range 3 {
			r.send(streamingFrame("subscribeForPersistedEvents", "s", `{}`))
			r.next(protocol.ActionCreated)
		}
		r.send(streamingFrame("subscribeForPersistedEvents", "s", `{}`))
		env := <-r.out
		if perr := protocol.AsError(decodeErr(t, env.Value)); perr == nil || perr.Status != 429 {
			t.Fatalf("got %s %s", env.Topic, env.Value)
		}
	})
}

func decodeErr(t *testing.T, raw json.RawMessage) error {
	t.Helper()
	var e protocol.Error
	if err := json.Unmarshal(raw, &e); err != nil {
		t.Fatalf("error %s: %v", raw, err)
	}
	return &e
}

func TestParsePersistedEventsValue(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name, value string
		want        command.EventsRange
		filter      string
		code        string
	}{
		{"absent", ``, command.EventsRange{From: "0"}, "", ""},
		{"null", `null`, command.EventsRange{From: "0"}, "", ""},
		{"empty", `{}`, command.EventsRange{From: "0"}, "", ""},
		{"revisions", `{"fromHistoricalRevision":-3,"toHistoricalRevision":0}`, command.EventsRange{From: "-3", To: "0"}, "", ""},
		{"timestamps", `{"fromHistoricalTimestamp":"a","toHistoricalTimestamp":"b","filter":"exists(x)"}`,
			command.EventsRange{FromTime: "a", ToTime: "b"}, "exists(x)", ""},
		{"only to", `{"toHistoricalRevision":4}`, command.EventsRange{From: "0", To: "4"}, "", ""},
		{"revision as string", `{"fromHistoricalRevision":"1"}`, command.EventsRange{}, "", protocol.CodeJSONInvalid},
		{"revision fraction", `{"fromHistoricalRevision":1.5}`, command.EventsRange{}, "", protocol.CodeJSONInvalid},
		{"timestamp as number", `{"fromHistoricalTimestamp":1}`, command.EventsRange{}, "", protocol.CodeJSONInvalid},
		{"filter as number", `{"filter":1}`, command.EventsRange{}, "", protocol.CodeJSONInvalid},
		{"array", `[]`, command.EventsRange{}, "", protocol.CodeJSONInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, perr := parsePersistedEventsValue(json.RawMessage(tt.value))
			if tt.code != "" {
				if perr == nil || perr.Code != tt.code {
					t.Fatalf("got %+v, want %s", perr, tt.code)
				}
				return
			}
			if perr != nil {
				t.Fatalf("got %v", perr)
			}
			if got.rng != tt.want || got.filter != tt.filter {
				t.Fatalf("got %+v %q, want %+v %q", got.rng, got.filter, tt.want, tt.filter)
			}
		})
	}
}

func FuzzPersistedEventsValue(f *testing.F) {
	for _, s := range []string{``, `{}`, `{"fromHistoricalRevision":1,"toHistoricalRevision":-1}`,
		`{"fromHistoricalTimestamp":"2024-01-01T00:00:00Z","filter":"eq(a,1)"}`, `[`, `{"fromHistoricalRevision":1e40}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, perr := parsePersistedEventsValue(json.RawMessage(s))
		if perr != nil {
			if perr.Status != 400 {
				t.Fatalf("%q: status %d", s, perr.Status)
			}
			return
		}
		if v.rng.From == "" && v.rng.FromTime == "" {
			t.Fatalf("%q: no start", s)
		}
		if v.rng.From != "" {
			if _, err := strconv.ParseInt(v.rng.From, 10, 64); err != nil {
				t.Fatalf("%q: from %q", s, v.rng.From)
			}
		}
	})
}

// Over NATS a subscription's outstanding demand is capped (what one reply
// subject may receive): a larger request counts as the cap, and demand
// from several requests does not add up beyond it.
func TestStreamingDemandCap(t *testing.T) {
	t.Parallel()
	r := newHistoryRig(t, (&memHistory{n: 12}).fetch, func(hs *wsHistories) { hs.maxDemand = 3 })
	r.send(streamingFrame("subscribeForPersistedEvents", "s", `{}`))
	r.next(protocol.ActionCreated)
	r.send(streamingFrame("request", "r", `{"subscriptionId":"0","demand":9223372036854775807}`))
	if got, want := fmt.Sprint(r.nextRevs(3)), "[1 2 3]"; got != want {
		t.Fatalf("capped demand: got %s, want %s", got, want)
	}
	r.silent(100 * time.Millisecond)
	r.send(streamingFrame("request", "r", `{"subscriptionId":"0","demand":1}`))
	if got, want := fmt.Sprint(r.nextRevs(1)), "[4]"; got != want {
		t.Fatalf("demand 1: got %s, want %s", got, want)
	}
	r.silent(100 * time.Millisecond)
}
