package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"time"
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
	if !r.cfg.selected(scHistoryRead) && !r.cfg.selected(scHistorySSE) {
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
	p := phase{errs: errorTally{}}
	start := time.Now()
	for range 3 {
		sent := time.Now()
		n, err := streamSSE(ctx, "http://"+t.addr+path+"?from-historical-revision=0&fields=thingId,_revision", t.auth)
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
	res := r.row(scHistorySSE, p, cpu, srv)
	res.Note = fmt.Sprintf("the %d events of HISTORY_READ's thing streamed over SSE 3 times; ops are events, p50/p99 are whole streams", revs)
	return res, nil
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
