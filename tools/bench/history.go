package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
)

// scHistoryRead reads one thing at random revisions of its history
// (at-historical-revision): the entity rebuilt from the nearest snapshot
// and the journal.
const scHistoryRead = "HISTORY_READ"

// historyRevisions is how long the history HISTORY_READ reads is: the
// issue's thing with 10,000 events, fewer for a small run.
func (r *runner) historyRevisions() int { return min(10000, max(100, 20*r.cfg.n)) }

// historyThing is the thing HISTORY_READ reads, in a namespace of its own
// so that the search scenarios' counts of the bench namespace hold.
func (r *runner) historyThing() string { return r.cfg.namespace + ".history:history" }

// history builds the thing's history (revision 1 creates it with n=0, each
// later revision k sets n=k-1) and reads it at random revisions, checking
// each answer is the thing as it was.
func (r *runner) history(ctx context.Context, t *target, ws []*worker, srv *proc, checked func() error) error {
	if !r.cfg.selected(scHistoryRead) && !r.cfg.selected(scHistorySSE) && !r.cfg.selected(scHistoryWS) {
		return nil
	}
	revs := r.historyRevisions()
	path := "/api/2/things/" + r.historyThing()
	r.logf("%s: writing a history of %d revisions", scHistoryRead, revs)
	if _, err := ws[0].exchange(ctx, t, "PUT", path, "", []byte(`{"attributes":{"n":0}}`), false); err != nil {
		return fmt.Errorf("%s: create the thing: %w", scHistoryRead, err)
	}
	// Every modify is one revision, whatever order they come in; the value
	// is not checked (k-1 is written by whichever request is k-th).
	write := &op{method: "PUT", path: func(int) string { return path + "/attributes/n" },
		body: func(_ *worker, i int) []byte { return strconv.AppendInt(nil, int64(i+1), 10) }}
	p := runPhase(ctx, t, ws[:1], write, sequentialPick(revs-1), 0, false)
	if err := checked(); err != nil {
		return err
	}
	if p.errs.total() > 0 {
		return fmt.Errorf("%s: writing the history: %d errors %+v", scHistoryRead, p.errs.total(), p.errs.sorted())
	}
	r.acked += p.ops + 1
	read := &op{method: "GET", path: func(int) string { return path + "/attributes/n" },
		headerOf: func(i int) string { return "at-historical-revision: " + strconv.Itoa(i+1) + "\r\n" },
		check: func(i int, body []byte) error {
			// Written by one connection in order: revision k holds k-1.
			if want := strconv.Itoa(i); !bytes.Equal(bytes.TrimSpace(body), []byte(want)) {
				return fmt.Errorf("revision %d: attributes/n is %s, want %s", i+1, body, want)
			}
			return nil
		}}
	if r.cfg.selected(scHistoryRead) {
		res := r.load(ctx, scHistoryRead, t, ws, srv, read)
		if err := checked(); err != nil {
			return err
		}
		res.Note = fmt.Sprintf("one thing with %d revisions, a snapshot every THING_SNAPSHOT_THRESHOLD (500); each read at a random revision", revs)
		r.add(res)
	}
	if r.cfg.selected(scHistorySSE) {
		res, err := r.historySSE(ctx, t, srv, path, revs)
		if err != nil {
			return err
		}
		r.add(res)
	}
	if r.cfg.selected(scHistoryWS) {
		r.add(r.historyWS(ctx, t, srv, revs))
	}
	return nil
}

// scHistorySSE streams the whole history of HISTORY_READ's thing over SSE
// (from-historical-revision=0), a few times over.
const scHistorySSE = "HISTORY_SSE"

// historySSE streams path's history of revs events three times and
// reports the events per second; each stream must hold exactly revs
// events and end by itself.
func (r *runner) historySSE(ctx context.Context, t *target, srv *proc, path string, revs int) (result, error) {
	cpu := startCPU(pidOf(srv))
	p := streamThrice(revs, func() (int, error) {
		return streamSSE(ctx, "http://"+t.addr+path+"?from-historical-revision=0&fields=thingId,_revision", t.auth)
	})
	res := r.row(scHistorySSE, p, cpu, srv)
	res.Note = fmt.Sprintf("the %d events of HISTORY_READ's thing streamed over SSE 3 times; ops are events, p50/p99 are whole streams", revs)
	return res, nil
}

// streamThrice runs stream three times: ops are the events of the
// streams that held exactly revs, latencies whole streams.
func streamThrice(revs int, stream func() (int, error)) phase {
	p := phase{errs: errorTally{}}
	start := time.Now()
	for range 3 {
		sent := time.Now()
		n, err := stream()
		if err == nil && n != revs {
			err = fmt.Errorf("stream held %d events, want %d", n, revs)
		}
		if err != nil {
			p.errs.add("history stream", err.Error(), 1)
			continue
		}
		p.ops += int64(n)
		p.lat = append(p.lat, time.Since(sent))
	}
	p.elapsed = time.Since(start)
	slices.Sort(p.lat)
	return p
}

// streamSSE reads an SSE response to its end and counts its events.
func streamSSE(ctx context.Context, url, auth string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", auth)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		return 0, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, b)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	n := 0
	for sc.Scan() {
		if bytes.HasPrefix(sc.Bytes(), []byte("data:")) && len(bytes.TrimSpace(sc.Bytes()[5:])) > 0 {
			n++
		}
	}
	return n, sc.Err()
}

// scHistoryWS streams the whole history of HISTORY_READ's thing over the
// WebSocket's streaming subscription (subscribeForPersistedEvents), as a
// client pacing it with demand does.
const scHistoryWS = "HISTORY_WS"

// historyWSDemand is what the client keeps requested: it asks for half of
// it again whenever half arrived, so the stream never waits for it.
const historyWSDemand = 1000

// historyWS streams the history of revs events three times and reports
// the events per second; each stream must hold exactly revs events in
// revision order and end with complete.
func (r *runner) historyWS(ctx context.Context, t *target, srv *proc, revs int) result {
	cpu := startCPU(pidOf(srv))
	p := streamThrice(revs, func() (int, error) { return streamWS(ctx, t, r.historyThing()) })
	res := r.row(scHistoryWS, p, cpu, srv)
	res.Note = fmt.Sprintf("the %d events of HISTORY_READ's thing streamed over a WebSocket streaming subscription 3 times, %d requested at a time; ops are events, p50/p99 are whole streams",
		revs, historyWSDemand)
	return res
}

// streamWS subscribes to the persisted events of thing id on a new
// session and requests them until complete; it returns how many next came,
// checking their revisions count up from 1.
func streamWS(ctx context.Context, t *target, id string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	conn, err := t.dialWS(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetReadDeadline(dl)
	}
	ns, name, _ := strings.Cut(id, ":")
	topic := ns + "/" + name + "/things/twin/streaming/"
	send := func(action, value string) error {
		return conn.WriteMessage(websocket.TextMessage, []byte(`{"topic":"`+topic+action+`","headers":{"correlation-id":"bench-history"},"path":"/","value":`+value+`}`))
	}
	if err := send("subscribeForPersistedEvents", `{"fromHistoricalRevision":0}`); err != nil {
		return 0, err
	}
	prefix := func(action string) []byte { return []byte(`{"topic":"` + topic + action + `"`) }
	next, created, complete := prefix("next"), prefix("created"), prefix("complete")
	var sub string
	n, outstanding := 0, 0
	request := func(demand int) error {
		outstanding += demand
		return send("request", `{"subscriptionId":"`+sub+`","demand":`+strconv.Itoa(demand)+`}`)
	}
	for {
		_, data, err := conn.ReadMessage()
		if err != nil {
			return n, fmt.Errorf("after %d events: %w", n, err)
		}
		switch {
		case bytes.HasPrefix(data, next):
			n++
			outstanding--
			var ev struct {
				Value struct {
					Item struct {
						Revision int `json:"revision"`
					} `json:"item"`
				} `json:"value"`
			}
			if err := json.Unmarshal(data, &ev); err != nil || ev.Value.Item.Revision != n {
				return n, fmt.Errorf("event %d has revision %d (%v)", n, ev.Value.Item.Revision, err)
			}
			if outstanding <= historyWSDemand/2 {
				if err := request(historyWSDemand / 2); err != nil {
					return n, err
				}
			}
		case bytes.HasPrefix(data, created):
			var c struct {
				Value struct {
					SubscriptionID string `json:"subscriptionId"`
				} `json:"value"`
			}
			if err := json.Unmarshal(data, &c); err != nil || c.Value.SubscriptionID == "" {
				return 0, fmt.Errorf("created %s: %v", data, err)
			}
			sub = c.Value.SubscriptionID
			if err := request(historyWSDemand); err != nil {
				return 0, err
			}
		case bytes.HasPrefix(data, complete):
			return n, nil
		default:
			return n, fmt.Errorf("after %d events: %.300s", n, data)
		}
	}
}
