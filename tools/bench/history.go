package main

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
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
	if !r.cfg.selected(scHistoryRead) {
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
	res := r.load(ctx, scHistoryRead, t, ws, srv, read)
	if err := checked(); err != nil {
		return err
	}
	res.Note = fmt.Sprintf("one thing with %d revisions, a snapshot every THING_SNAPSHOT_THRESHOLD (500); each read at a random revision", revs)
	r.add(res)
	return nil
}
