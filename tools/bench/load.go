package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// target is one HTTP endpoint under load: a client whose Transport keeps
// exactly C connections alive, and the Authorization header every request
// carries.
type target struct {
	client *http.Client
	base   *url.URL
	auth   string
}

// newTarget prepares requests to baseURL as user ("name:password").
func newTarget(baseURL, user string, conns int) (*target, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", baseURL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("url %q: want http(s)://host:port", baseURL)
	}
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     90 * time.Second,
		// A per-request bound that costs no context per request; an answer
		// that takes longer is a failure worth counting, not waiting for.
		ResponseHeaderTimeout: 60 * time.Second,
		// The platform's JSON is small; gzip would only burn the shared CPU.
		DisableCompression: true,
	}
	return &target{
		client: &http.Client{Transport: tr},
		base:   &url.URL{Scheme: u.Scheme, Host: u.Host},
		auth:   newAuth(user),
	}, nil
}

// newAuth is the basic Authorization header value of user ("name:password").
func newAuth(user string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user))
}

func (t *target) close() { t.client.CloseIdleConnections() }

// op is one kind of request. path and body get the index of a thing.
type op struct {
	method string
	path   func(i int) string
	// body returns the request body, nil for none. The slice must stay
	// unchanged afterwards: the Transport may still read it after Do returns.
	body func(w *worker, i int) []byte
}

// worker is one connection's closed loop: it sends the next request when the
// previous answer is read. Everything a request needs is allocated once per
// worker and reused across requests and scenarios.
type worker struct {
	rng  *rand.Rand
	req  *http.Request
	hdr  http.Header // Authorization and Content-Type, set once
	lat  []time.Duration
	errs errorTally
	ok   int64 // successful requests in the current phase
	seq  int   // counts this worker's requests, to vary written values
}

func newWorkers(ctx context.Context, t *target, n int) []*worker {
	ws := make([]*worker, n)
	for i := range ws {
		w := &worker{
			rng:  rand.New(rand.NewPCG(uint64(i)+1, uint64(time.Now().UnixNano()))),
			hdr:  http.Header{"Authorization": {t.auth}, "Content-Type": {"application/json"}},
			lat:  make([]time.Duration, 0, 8192),
			errs: errorTally{},
		}
		w.renew(ctx, t)
		ws[i] = w
	}
	return ws
}

// renew replaces the worker's request. A request is reused only after its
// answer was read in full; after a failure the Transport may still hold it.
// ctx is bound into the request here, once: Request.WithContext would copy
// the request on every call.
func (w *worker) renew(ctx context.Context, t *target) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.base.String(), nil)
	if err != nil {
		panic(fmt.Sprintf("bench: request for %s: %v", t.base, err)) // base was parsed by newTarget
	}
	req.Header = w.hdr
	w.req = req
}

// bodyReader is a request body over a slice that the Transport may close.
type bodyReader struct{ bytes.Reader }

func (*bodyReader) Close() error { return nil }

// do sends one request and reads the whole answer; a non-2xx answer or a
// transport failure is returned as an error.
// ctx must be the one the worker's request was made with.
func (w *worker) do(ctx context.Context, t *target, o *op, i int) error {
	req := w.req
	req.Method = o.method
	req.URL.Path = o.path(i)
	req.Body, req.ContentLength = nil, 0
	if o.body != nil {
		b := o.body(w, i)
		br := new(bodyReader)
		br.Reset(b)
		req.Body, req.ContentLength = br, int64(len(b))
	}
	resp, err := t.client.Do(req)
	if err != nil {
		w.renew(ctx, t)
		return transportError{err}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		// The server may have answered before reading the whole body.
		w.renew(ctx, t)
		return readStatusError(resp)
	}
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		w.renew(ctx, t)
		return transportError{err}
	}
	return nil
}

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

func readStatusError(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	_, _ = io.Copy(io.Discard, resp.Body)
	var de protocol.Error
	if json.Unmarshal(body, &de) == nil && de.Code != "" {
		return statusError{status: resp.StatusCode, code: de.Code, msg: de.Message}
	}
	return statusError{status: resp.StatusCode, msg: strings.TrimSpace(string(body))}
}

// transportError is a request that got no complete answer.
type transportError struct{ err error }

func (e transportError) Error() string { return "transport: " + e.err.Error() }
func (e transportError) Unwrap() error { return e.err }

// classify returns the kind an error is counted under: the status and Ditto
// code, or the transport failure without the URL (which names the thing and
// would make every failure its own kind).
func classify(err error) (kind, example string) {
	var se statusError
	if errors.As(err, &se) {
		if se.code != "" {
			return fmt.Sprintf("HTTP %d %s", se.status, se.code), se.msg
		}
		return fmt.Sprintf("HTTP %d", se.status), se.msg
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "transport: " + ue.Err.Error(), err.Error()
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
				sent := now
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
