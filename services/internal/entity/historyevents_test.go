package entity

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/streams"
)

func TestParseEventsRange(t *testing.T) {
	t.Parallel()
	ts := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	for _, tt := range []struct {
		name string
		in   command.EventsRange
		want parsedRange
		code string // the error's, "" for none
	}{
		{"from 0", command.EventsRange{From: "0"}, parsedRange{}, ""},
		{"relative", command.EventsRange{From: "-3", To: "-1"}, parsedRange{from: -3, to: -1, hasTo: true}, ""},
		{"to 0 is the latest", command.EventsRange{From: "2", To: "0"}, parsedRange{from: 2}, ""},
		{"times", command.EventsRange{FromTime: "2024-01-01T00:00:00Z", ToTime: "2024-01-02T00:00Z"},
			parsedRange{byTime: true, fromTime: ts("2024-01-01T00:00:00Z"), toTime: ts("2024-01-02T00:00:00Z")}, ""},
		{"malformed from", command.EventsRange{From: "x"}, parsedRange{}, protocol.CodeJSONFormatInvalid},
		{"malformed to", command.EventsRange{From: "1", To: "1e3"}, parsedRange{}, protocol.CodeJSONFormatInvalid},
		{"missing from", command.EventsRange{To: "3"}, parsedRange{}, protocol.CodeJSONFormatInvalid},
		{"missing from time", command.EventsRange{ToTime: "2024-01-01T00:00:00Z"}, parsedRange{}, protocol.CodeJSONFormatInvalid},
		{"malformed time", command.EventsRange{FromTime: "today"}, parsedRange{}, protocol.CodeJSONFormatInvalid},
		{"times reversed", command.EventsRange{FromTime: "2024-01-02T00:00:00Z", ToTime: "2024-01-01T00:00:00Z"}, parsedRange{}, protocol.CodeJSONFormatInvalid},
		{"both forms", command.EventsRange{From: "1", FromTime: "2024-01-01T00:00:00Z"}, parsedRange{}, protocol.CodeJSONFormatInvalid},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseEventsRange(tt.in)
			if tt.code != "" {
				var perr *protocol.Error
				if !errors.As(err, &perr) || perr.Code != tt.code || perr.Status != 400 {
					t.Fatalf("error %v, want %s", err, tt.code)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

// FuzzParseEventsRange: any input parses or is the client's 400, and what
// parses is one form with its times in order.
func FuzzParseEventsRange(f *testing.F) {
	f.Add("0", "", "", "")
	f.Add("-3", "-1", "", "")
	f.Add("", "", "2024-01-01T00:00:00Z", "2024-01-02T00:00:00.123+02:00")
	f.Add("9223372036854775808", "x", "", "")
	f.Fuzz(func(t *testing.T, from, to, fromTime, toTime string) {
		p, err := parseEventsRange(command.EventsRange{From: from, To: to, FromTime: fromTime, ToTime: toTime})
		if err != nil {
			var perr *protocol.Error
			if !errors.As(err, &perr) || perr.Status != 400 {
				t.Fatalf("error %v is no client error", err)
			}
			return
		}
		if p.byTime {
			if p.fromTime.IsZero() || (!p.toTime.IsZero() && p.toTime.Before(p.fromTime)) {
				t.Fatalf("times out of order: %+v", p)
			}
			return
		}
		if from == "" || p.hasTo != (p.to != 0) {
			t.Fatalf("revisions: %+v from %q %q", p, from, to)
		}
	})
}

// viewingHandler is docHandler with a history view that leaves out every
// third revision and lets nobody read an entity that does not exist.
type viewingHandler struct{ docHandler }

func (h *viewingHandler) HistoryView(_ context.Context, cmd *Command, cur *State) (func(*protocol.Envelope) bool, error) {
	if !cur.Exists() {
		return nil, protocol.NewError(404, "test:notfound", "no "+cmd.EntityID, "")
	}
	return func(ev *protocol.Envelope) bool { return ev.Revision%3 != 0 }, nil
}

// A range is read page by page: each page has at most Limit events, the
// view's cut applied, the historical headers journaled with each; Next
// leads through the range and is 0 at its end.
func TestHistoryEventsPaging(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.hostOn(t, f.j, &viewingHandler{}, func(c *Config) {
		c.HistoricalHeaders = []string{"correlation-id"}
		c.MailboxSize = 100
	})
	const id = "org.eclipse.ditto:paging"
	writeHistory(t, f, f.j, id, 8)

	page := func(r command.EventsRange) (protocol.Envelope, command.EventsPage) {
		t.Helper()
		msg := f.command(t, id, "retrieve", "/", "", nil, auth)
		b, _ := json.Marshal(r)
		msg.Header.Set(streams.HeaderHistory, string(b))
		reply, err := f.nc.RequestMsg(msg, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		env, err := protocol.DecodeEnvelope(reply.Data)
		if err != nil {
			t.Fatal(err)
		}
		var p command.EventsPage
		if env.Status == 200 {
			if err := json.Unmarshal(env.Value, &p); err != nil {
				t.Fatalf("page %s: %v", env.Value, err)
			}
		}
		return env, p
	}
	var revs []int64
	r := command.EventsRange{From: "-7", Limit: 3} // from 1
	for pages := 0; ; pages++ {
		if pages > 5 {
			t.Fatal("paging does not end")
		}
		env, p := page(r)
		wantStatus(t, env, 200)
		if p.To != 8 || len(p.Events) > 3 {
			t.Fatalf("page %d: to %d, %d events", pages, p.To, len(p.Events))
		}
		for _, raw := range p.Events {
			ev, err := protocol.DecodeEnvelope(raw)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := historicalHeadersOf(t, ev)["correlation-id"], fmt.Sprintf("c-%d", ev.Revision); got != want {
				t.Errorf("event %d: correlation-id %q, want %q", ev.Revision, got, want)
			}
			if ev.Timestamp == "" || !strings.Contains(ev.Topic, "/things/twin/events/") {
				t.Errorf("event %d: %s", ev.Revision, raw)
			}
			revs = append(revs, ev.Revision)
		}
		if p.Next == 0 {
			break
		}
		r = command.EventsRange{From: strconv.FormatInt(p.Next, 10), To: strconv.FormatInt(p.To, 10), Limit: 3}
	}
	if got, want := fmt.Sprint(revs), "[1 2 4 5 7 8]"; got != want {
		t.Errorf("revisions %s, want %s", got, want)
	}

	// The entity's errors come first; an entity type without a view has
	// no history to stream.
	env, _ := page(command.EventsRange{From: "9"})
	if code := errorCodeOf(env); code != "history.notfound" {
		t.Errorf("beyond the current revision: %s", code)
	}
	f2 := newFixture(t)
	f2.host(t, &docHandler{}, nil)
	wantStatus(t, f2.send(t, id, "modify", "/", `{"n":1}`, nil), 204)
	msg := f2.command(t, id, "retrieve", "/", "", nil, auth)
	msg.Header.Set(streams.HeaderHistory, `{"from":"0"}`)
	reply, err := f2.nc.RequestMsg(msg, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if env, _ := protocol.DecodeEnvelope(reply.Data); env.Status != 400 {
		t.Errorf("without a view: %d %s", env.Status, env.Value)
	}
}
