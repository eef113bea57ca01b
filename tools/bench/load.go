package main

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// target is one HTTP endpoint under load and the Authorization header every
// request carries.
type target struct {
	addr string      // host:port to dial
	host string      // Host header
	tls  *tls.Config // nil for http
	auth string
}

// newTarget prepares requests to baseURL as user ("name:password"). Each
// worker dials its own connection to it.
func newTarget(baseURL, user string) (*target, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("url %q: want http(s)://host:port", baseURL)
	}
	t := &target{addr: u.Host, host: u.Host, auth: newAuth(user)}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		t.addr = net.JoinHostPort(u.Hostname(), port)
	}
	if u.Scheme == "https" {
		t.tls = &tls.Config{ServerName: u.Hostname()}
	}
	return t, nil
}

// newAuth is the basic Authorization header value of user ("name:password").
func newAuth(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user))
}

// op is one kind of request. path and body get the index of a thing.
type op struct {
	method string
	path   func(i int) string
	// body returns the request body, nil for none.
	body func(w *worker, i int) []byte
	// header is extra request header lines, each ending in CRLF;
	// headerOf, when set, gives them per request instead.
	header   string
	headerOf func(i int) string
	// check, when set, judges the body of a 2xx answer (which is then read
	// into the worker's buffer instead of discarded): an error counts the
	// request as failed. Search scenarios use it, since a query that
	// answers 200 with the wrong things has not succeeded.
	check func(i int, body []byte) error
	// answered, when set, is told of each successful answer, as soon as
	// it is read (EVENT_FANOUT times events from it).
	answered func(w *worker, i int)
}

// worker is one connection's closed loop: it sends the next request when the
// previous answer is read. Everything a request needs is allocated once per
// worker and reused across requests and scenarios.
type worker struct {
	rng  *rand.Rand
	conn *conn // nil until the first request and after a failure
	lat  []time.Duration
	errs errorTally
	ok   int64 // successful requests in the current phase
	seq  int   // counts this worker's requests, to vary written values
	// resp holds the body of the last 2xx answer an op checked.
	resp []byte
}

// newWorkers returns n workers; each dials its connection with its first
// request.
func newWorkers(n int) []*worker {
	ws := make([]*worker, n)
	for i := range ws {
		ws[i] = &worker{
			rng:  rand.New(rand.NewPCG(uint64(i)+1, uint64(time.Now().UnixNano()))),
			lat:  make([]time.Duration, 0, 8192),
			errs: errorTally{},
		}
	}
	return ws
}

// closeConn drops the worker's connection; the next request dials anew.
func (w *worker) closeConn() {
	if w.conn != nil {
		w.conn.close()
		w.conn = nil
	}
}

// closeWorkers closes the connections of ws, as a run does when it is done
// with a server or is about to stop it.
func closeWorkers(ws []*worker) {
	for _, w := range ws {
		w.closeConn()
	}
}

// do sends one request and reads the whole answer; a non-2xx answer or a
// transport failure is returned as an error. ctx ends the connection it
// dials.
func (w *worker) do(ctx context.Context, t *target, o *op, i int) error {
	path := o.path(i)
	var body []byte
	if o.body != nil {
		body = o.body(w, i)
	}
	header := o.header
	if o.headerOf != nil {
		header = o.headerOf(i)
	}
	var err error
	if o.check == nil {
		_, err = w.exchange(ctx, t, o.method, path, header, body, false)
	} else {
		var resp []byte
		if resp, err = w.exchange(ctx, t, o.method, path, header, body, true); err == nil {
			err = o.check(i, resp)
		}
	}
	if err == nil && o.answered != nil {
		o.answered(w, i)
	}
	return err
}

// exchange sends one request and reads its whole answer; a non-2xx answer
// or a transport failure is returned as an error. With keepBody it returns
// the body of the 2xx answer, valid until the worker's next request.
func (w *worker) exchange(ctx context.Context, t *target, method, path, header string, body []byte, keepBody bool) ([]byte, error) {
	var okBody *[]byte
	if keepBody {
		okBody = &w.resp
	}
	for attempt := 0; ; attempt++ {
		if w.conn == nil {
			c, err := t.dial(ctx)
			if err != nil {
				return nil, transportError{err}
			}
			w.conn = c
		}
		reused := w.conn.used
		status, errBody, keep, err := w.conn.roundTrip(t, method, path, header, body, okBody)
		if err != nil {
			w.closeConn()
			// The server may have closed the idle connection as the request
			// went out; like net/http, try once more on a fresh one.
			if reused && attempt == 0 && ctx.Err() == nil && nothingRead(err) {
				continue
			}
			return nil, transportError{err}
		}
		w.conn.used = true
		if !keep {
			w.closeConn()
		}
		if status/100 != 2 {
			return nil, newStatusError(status, errBody)
		}
		if okBody != nil {
			return *okBody, nil
		}
		return nil, nil
	}
}

// nothingRead reports whether err means the connection ended before any
// byte of an answer came.
func nothingRead(err error) bool { return errors.Is(err, errNothingRead) }

// statusError is a non-2xx answer; code is Ditto's error code when the body
// is Ditto's error JSON.
type statusError struct {
	status int
	code   string
	msg    string
}

func (e statusError) Error() string {
	if e.code != "" {
		return fmt.Sprintf("HTTP %d %s: %s", e.status, e.code, e.msg)
	}
	return fmt.Sprintf("HTTP %d: %s", e.status, e.msg)
}

// newStatusError names a non-2xx answer by its status and, when body is
// Ditto's error JSON, its error code.
func newStatusError(status int, body []byte) error {
	var de protocol.Error
	if json.Unmarshal(body, &de) == nil && de.Code != "" {
		return statusError{status: status, code: de.Code, msg: de.Message}
	}
	return statusError{status: status, msg: strings.TrimSpace(string(body))}
}

// transportError is a request that got no complete answer.
type transportError struct{ err error }

func (e transportError) Error() string { return "transport: " + e.err.Error() }
func (e transportError) Unwrap() error { return e.err }

// resultError is a 2xx answer whose body is not what the request should
// have found. kind names the failure without the thing, so that one cause
// is one kind; detail is the example.
type resultError struct{ kind, detail string }

func (e resultError) Error() string { return e.kind + ": " + e.detail }

// classify returns the kind an error is counted under: the status and Ditto
// code, the wrong result, or the transport failure without the URL (which
// names the thing and would make every failure its own kind).
func classify(err error) (kind, example string) {
	var re resultError
	if errors.As(err, &re) {
		return "wrong result: " + re.kind, re.detail
	}
	var se statusError
	if errors.As(err, &se) {
		if se.code != "" {
			return fmt.Sprintf("HTTP %d %s", se.status, se.code), se.msg
		}
		return fmt.Sprintf("HTTP %d", se.status), se.msg
	}
	// A network error names the peer's address and port; the kind keeps
	// only what went wrong, so that one cause is one kind.
	var oe *net.OpError
	if errors.As(err, &oe) && oe.Err != nil {
		cause := oe.Err
		var se *os.SyscallError
		if errors.As(cause, &se) {
			cause = se.Err
		}
		return "transport: " + oe.Op + ": " + cause.Error(), err.Error()
	}
	return err.Error(), err.Error()
}

// phase is the outcome of one load phase, summed over its workers.
type phase struct {
	ops     int64 // successful requests
	elapsed time.Duration
	lat     []time.Duration // sorted
	errs    errorTally
}

// picker chooses the thing of a worker's next request; ok false ends the
// worker's loop.
type picker func(w *worker) (i int, ok bool)

// randomPick picks uniformly among n things, like Ditto's scenarios do.
func randomPick(n int) picker {
	return func(w *worker) (int, bool) { return w.rng.IntN(n), true }
}

// pacedPick is pick at rate picks a second across all workers, on a fixed
// schedule: each pick waits for its slot, so the load is spread evenly over
// the second instead of coming as fast as the connections allow. A pick
// whose slot has passed (every worker was waiting for a slow answer) goes
// at once: the server is offered the load of the schedule, and a slow
// spell shows as latency and a backlog, not as a lower rate that hides it.
func pacedPick(pick picker, rate float64) picker {
	var mu sync.Mutex
	var next time.Time
	interval := time.Duration(float64(time.Second) / rate)
	return func(w *worker) (int, bool) {
		mu.Lock()
		if next.IsZero() {
			next = time.Now()
		}
		slot := next
		next = next.Add(interval)
		mu.Unlock()
		time.Sleep(time.Until(slot))
		return pick(w)
	}
}

// sequentialPick hands out 0..n-1 once each across all workers.
func sequentialPick(n int) picker {
	var next atomic.Int64
	return func(*worker) (int, bool) {
		i := next.Add(1) - 1
		return int(i), i < int64(n)
	}
}

// runPhase runs every worker until pick says stop or, when dur > 0, until dur
// has passed, whichever comes first; requests in flight at the deadline are
// waited for and counted. Latencies are recorded only when record is set (a
// warm-up's are not); errors always are.
func runPhase(ctx context.Context, t *target, ws []*worker, o *op, pick picker, dur time.Duration, record bool) phase {
	start := time.Now()
	var deadline time.Time
	if dur > 0 {
		deadline = start.Add(dur)
	}
	var wg sync.WaitGroup
	for _, w := range ws {
		w.lat, w.ok = w.lat[:0], 0
		wg.Go(func() {
			now := start
			for ctx.Err() == nil && (deadline.IsZero() || now.Before(deadline)) {
				i, ok := pick(w)
				if !ok {
					return
				}
				w.seq++
				sent := time.Now() // after a paced pick's wait
				err := w.do(ctx, t, o, i)
				now = time.Now()
				if err != nil {
					if ctx.Err() != nil {
						return // interrupted: the run is abandoned anyway
					}
					kind, ex := classify(err)
					w.errs.add(kind, ex, 1)
					continue
				}
				w.ok++
				if record {
					w.lat = append(w.lat, now.Sub(sent))
				}
			}
		})
	}
	wg.Wait()
	p := phase{elapsed: time.Since(start), errs: errorTally{}}
	total := 0
	for _, w := range ws {
		total += len(w.lat)
	}
	p.lat = make([]time.Duration, 0, total)
	for _, w := range ws {
		p.ops += w.ok
		p.lat = append(p.lat, w.lat...)
		p.errs.merge(w.errs)
		clear(w.errs)
	}
	slices.Sort(p.lat)
	return p
}
