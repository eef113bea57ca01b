package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"
)

// stopGrace is how long a server gets between SIGTERM and SIGKILL.
const stopGrace = time.Minute

// runner carries one run's state between its scenarios.
type runner struct {
	cfg      config
	rep      *report
	progress io.Writer
	corpus   *corpus
	dir      string // temporary directory: data and logs
	// acked counts the writes (creations and modifications) the started
	// platform acknowledged, for the event-delivery check.
	acked int64
	// natsPort is the started platform's NATS port, for that check.
	natsPort int
	// metricsPort is the started platform's Prometheus port (0: none
	// started), for the rows that report the platform's own counters.
	metricsPort int
}

// bench runs the selected scenarios and appends their rows to rep. It
// returns an error when the run could not complete; errors of requests are
// counted in the rows instead.
func bench(ctx context.Context, cfg config, rep *report, progress io.Writer) (err error) {
	dir, err := os.MkdirTemp("", "bench-")
	if err != nil {
		return fmt.Errorf("temp dir: %w", err)
	}
	defer func() {
		if err != nil || cfg.keep {
			fmt.Fprintf(progress, "bench: data and logs kept in %s\n", dir)
			return
		}
		_ = os.RemoveAll(dir)
	}()
	r := &runner{cfg: cfg, rep: rep, progress: progress, corpus: newCorpus(cfg.namespace, cfg.n), dir: dir}

	if cfg.selected(scBaseline) {
		if err := r.baseline(ctx); err != nil {
			return err
		}
	}
	if !slices.ContainsFunc(cfg.scenarios, func(s string) bool { return s != scBaseline }) {
		return nil
	}
	return r.platform(ctx)
}

// logf prints a progress line.
func (r *runner) logf(format string, args ...any) {
	fmt.Fprintf(r.progress, "bench: "+format+"\n", args...)
}

// add records a finished row and prints it as progress.
func (r *runner) add(res result) {
	r.rep.Results = append(r.rep.Results, res)
	if res.Scenario == scRestart {
		r.logf("%-19s %d errors, first 200 after %s, RSS %s", res.Scenario, res.Errors, fmtDur(res.Elapsed), fmtBytes(res.RSS))
		return
	}
	if !hasRate(res.Scenario) {
		r.logf("%-19s %d ok, %d errors in %s, p50 %s, p99 %s", res.Scenario, res.Ops, res.Errors, fmtDur(res.Elapsed), fmtDur(res.P50), fmtDur(res.P99))
		return
	}
	r.logf("%-19s %d ok, %d errors, %s/s, p50 %s, p99 %s, RSS %s",
		res.Scenario, res.Ops, res.Errors, fmtRate(res.opsPerSec()), fmtDur(res.P50), fmtDur(res.P99), fmtBytes(res.RSS))
}

// baseline starts the baseline server and loads it like READ_THINGS.
func (r *runner) baseline(ctx context.Context) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("find own binary for the baseline: %w", err)
	}
	r.logf("BASELINE: starting the baseline server with %d things", r.cfg.n)
	p, base, err := startBaseline(ctx, exe, r.cfg.namespace, r.cfg.n, r.cfg.user, filepath.Join(r.dir, "baseline.log"))
	if err != nil {
		return err
	}
	// Stops it on early returns; the normal path stops it below and checks.
	defer func() { _, _ = p.stop(stopGrace) }()
	t, err := newTarget(base, r.cfg.user)
	if err != nil {
		return err
	}
	ws := newWorkers(r.cfg.c)
	defer closeWorkers(ws)
	res := r.load(ctx, scBaseline, t, ws, p, r.readOp())
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if p.exited() {
		return p.diedError()
	}
	r.add(res)
	closeWorkers(ws)
	if _, err := p.stop(stopGrace); err != nil {
		return fmt.Errorf("stop baseline: %w", err)
	}
	return nil
}

func (r *runner) readOp() *op {
	return &op{method: "GET", path: func(i int) string { return r.corpus.thing[i] }}
}

func (r *runner) modifyOp() *op {
	return &op{
		method: "PUT",
		path:   func(i int) string { return r.corpus.property[i] },
		body:   func(w *worker, _ int) []byte { return r.corpus.values[w.seq%len(r.corpus.values)] },
	}
}

func (r *runner) createOp() *op {
	return &op{
		method: "PUT",
		path:   func(i int) string { return r.corpus.thing[i] },
		// Built per request: only the first N requests of the run need one.
		body: func(_ *worker, i int) []byte { return appendThing(nil, r.cfg.namespace, i, false) },
	}
}

// load runs a warm-up and then the measured phase of a duration scenario
// against random things. srv may be nil (a platform bench did not start).
func (r *runner) load(ctx context.Context, name string, t *target, ws []*worker, srv *proc, o *op) result {
	return r.loadBeside(ctx, name, t, ws, srv, o, nil)
}

// loadBeside is load with beside, when not nil, running alongside the
// measured phase: it gets a context that ends with the phase, and the row
// is made once it returned.
func (r *runner) loadBeside(ctx context.Context, name string, t *target, ws []*worker, srv *proc, o *op, beside func(phase context.Context)) result {
	errs := errorTally{}
	if r.cfg.warmup > 0 {
		r.logf("%s: warm-up for %s", name, r.cfg.warmup)
		w := runPhase(ctx, t, ws, o, r.pick(name), r.cfg.warmup, false)
		if o.method != "GET" {
			r.acked += w.ops
		}
		for _, k := range w.errs {
			errs.add("(warm-up) "+k.Kind, k.Example, k.Count)
		}
	}
	r.logf("%s: %d connections for %s", name, r.cfg.c, r.cfg.d)
	cpu := startCPU(pidOf(srv))
	phase, endPhase := context.WithCancel(ctx)
	defer endPhase()
	var besides sync.WaitGroup
	if beside != nil {
		besides.Go(func() { beside(phase) })
	}
	p := runPhase(ctx, t, ws, o, r.pick(name), r.cfg.d, true)
	endPhase()
	besides.Wait()
	if o.method != "GET" {
		r.acked += p.ops
	}
	res := r.row(name, p, cpu, srv)
	errs.merge(p.errs)
	res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
	return res
}

// pick is how a load scenario picks its things: at random, paced for
// SEARCH_LAG when -lag-rate is set.
func (r *runner) pick(name string) picker {
	if name == scHistoryRead {
		return randomPick(r.historyRevisions())
	}
	if name == scImportsRead || name == scImportsChange {
		// Only the first importedThings things import templates.
		return randomPick(r.importedThings())
	}
	pick := randomPick(r.cfg.n)
	if name == scSearchLag && r.cfg.lagRate > 0 {
		pick = pacedPick(pick, r.cfg.lagRate)
	}
	return pick
}

// counted runs op once for each of the N things.
func (r *runner) counted(ctx context.Context, name string, t *target, ws []*worker, srv *proc, o *op) result {
	cpu := startCPU(pidOf(srv))
	p := runPhase(ctx, t, ws, o, sequentialPick(r.cfg.n), 0, true)
	if o.method != "GET" {
		r.acked += p.ops
	}
	return r.row(name, p, cpu, srv)
}

// row turns a measured phase into a result, sampling the server right after.
func (r *runner) row(name string, p phase, cpu *cpuMeter, srv *proc) result {
	res := result{
		Scenario:   name,
		Ops:        p.ops,
		Errors:     p.errs.total(),
		ErrorKinds: p.errs.sorted(),
		Elapsed:    p.elapsed,
		P50:        percentile(p.lat, 50),
		P99:        percentile(p.lat, 99),
	}
	res.ServerCPU, res.LoadCPU = cpu.cores()
	res.RSS = rssOf(srv)
	return res
}

func pidOf(p *proc) int {
	if p == nil {
		return 0
	}
	return p.pid()
}

// rssOf returns the RSS of p, 0 when unknown.
func rssOf(p *proc) int64 {
	if p == nil {
		return 0
	}
	n, err := rss(p.pid())
	if err != nil {
		return 0
	}
	return n
}

// platform runs every scenario but BASELINE against the started or given
// platform.
func (r *runner) platform(ctx context.Context) (err error) {
	base := r.cfg.url
	var srv *proc
	var port int
	if base == "" {
		if srv, port, err = r.startDitto(ctx, 0); err != nil {
			return err
		}
		// srv changes with RESTART; stop whichever is running at the end.
		defer func() {
			if srv != nil && !srv.exited() {
				_, _ = srv.stop(stopGrace)
			}
		}()
		base = "http://127.0.0.1:" + strconv.Itoa(port)
	}
	t, err := newTarget(base, r.cfg.user)
	if err != nil {
		return err
	}
	ws := newWorkers(r.cfg.c)
	defer closeWorkers(ws)

	// checked ends the run when it was interrupted or the server died.
	checked := func() error {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if srv != nil && srv.exited() {
			return srv.diedError()
		}
		return nil
	}

	// A platform bench started has no things yet; every later scenario
	// needs them.
	if r.cfg.selected(scCreate) || srv != nil {
		r.logf("CREATE: %d things, %d connections", r.cfg.n, r.cfg.c)
		res := r.counted(ctx, scCreate, t, ws, srv, r.createOp())
		if err := checked(); err != nil {
			return err
		}
		r.add(res)
	}
	created := time.Now()
	// The search index follows the event streams; searches of things it
	// does not have yet would measure its backlog, not the queries.
	if r.cfg.searching() {
		res := r.catchUp(ctx, t, created)
		if err := checked(); err != nil {
			return err
		}
		r.add(res)
	}
	if r.cfg.selected(scWarmup) || r.cfg.selected(scRead) || r.cfg.selected(scModify) {
		r.logf("WARMUP: GET each of %d things once", r.cfg.n)
		res := r.counted(ctx, scWarmup, t, ws, srv, r.readOp())
		if err := checked(); err != nil {
			return err
		}
		res.Note = "RSS after is the server's with all N things and their policies hot"
		r.add(res)
	}
	for _, s := range []struct {
		name string
		op   *op
	}{{scRead, r.readOp()}, {scModify, r.modifyOp()}} {
		if !r.cfg.selected(s.name) {
			continue
		}
		res := r.load(ctx, s.name, t, ws, srv, s.op)
		if err := checked(); err != nil {
			return err
		}
		if s.name == scModify {
			res.Note = "ditto's things-search indexes every write as it is made (MODIFY_THINGS_ACKED waits for it)"
			if base := r.rep.baselineRate(); base > 0 {
				res.Note = fmt.Sprintf("with ditto's things-search indexing every write: %s/s = %.1f%% of BASELINE (MODIFY_THINGS_ACKED waits for the index)",
					fmtRate(res.opsPerSec()), 100*res.opsPerSec()/base)
			}
		}
		r.add(res)
		if s.name == scModify && srv != nil {
			r.logf("%s: reading the thing events stream", scEvents)
			r.add(r.checkEvents(ctx, r.natsPort, r.acked))
		}
	}
	if err := r.history(ctx, t, ws, srv, checked); err != nil {
		return err
	}
	if err := r.importsRead(ctx, t, ws, srv, checked); err != nil {
		return err
	}
	if err := r.modifyWithCleanup(ctx, t, ws, srv, checked); err != nil {
		return err
	}
	if err := r.search(ctx, t, ws, srv, checked); err != nil {
		return err
	}
	if err := r.websocket(ctx, t, ws, srv, checked); err != nil {
		return err
	}
	if r.cfg.selected(scRestart) {
		if srv == nil {
			r.logf("RESTART: skipped, -url names a platform bench did not start")
			return nil
		}
		closeWorkers(ws)
		if srv, err = r.restart(ctx, srv, base, port); err != nil {
			return err
		}
	}
	if r.cfg.selected(scModifyUnindexed) {
		if srv == nil && port == 0 {
			r.logf("%s: skipped, -url names a platform bench did not start", scModifyUnindexed)
			return nil
		}
		closeWorkers(ws)
		srv, err = r.modifyUnindexed(ctx, t, srv, port)
		return err
	}
	return nil
}

// modifyUnindexed runs MODIFY_THINGS once more on the same data, with the
// platform started again with EVENT_PROCESSING_ACTIVE=false: the search
// service runs but its index follows no events. MODIFY_THINGS' rate against
// this one is what indexing every write costs the writes. Every thing is
// read once first (unmeasured), as WARMUP did for MODIFY_THINGS. It runs last:
// the index no longer holds what the things hold afterwards. It returns the
// process still running (nil once stopped).
func (r *runner) modifyUnindexed(ctx context.Context, t *target, srv *proc, port int) (*proc, error) {
	if srv != nil {
		if _, err := srv.stop(stopGrace); err != nil {
			return nil, fmt.Errorf("%s: stop the platform: %w", scModifyUnindexed, err)
		}
	}
	next, _, err := r.startDitto(ctx, port, "EVENT_PROCESSING_ACTIVE=false")
	if err != nil {
		return nil, fmt.Errorf("%s: start the platform without event processing: %w", scModifyUnindexed, err)
	}
	ws := newWorkers(r.cfg.c)
	defer closeWorkers(ws)
	r.logf("%s: GET each of %d things once", scModifyUnindexed, r.cfg.n)
	warm := r.counted(ctx, scWarmup, t, ws, next, r.readOp())
	if next.exited() {
		return nil, next.diedError()
	}
	res := r.load(ctx, scModifyUnindexed, t, ws, next, r.modifyOp())
	if ctx.Err() != nil {
		return next, ctx.Err()
	}
	if next.exited() {
		return nil, next.diedError()
	}
	errs := tallyOf(res.ErrorKinds)
	for _, k := range warm.ErrorKinds {
		errs.add("(warm-up reads) "+k.Kind, k.Example, k.Count)
	}
	res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
	res.Note = "MODIFY_THINGS after a restart with EVENT_PROCESSING_ACTIVE=false: the search index follows no events"
	if m, ok := r.rep.result(scModify); ok && res.opsPerSec() > 0 {
		res.Note += fmt.Sprintf("; MODIFY_THINGS, indexed as it writes, made %.1f%% of this rate", 100*m.opsPerSec()/res.opsPerSec())
	}
	r.add(res)
	if _, err := next.stop(stopGrace); err != nil {
		return nil, fmt.Errorf("%s: stop the platform: %w", scModifyUnindexed, err)
	}
	return nil, nil
}

// startDitto starts the platform binary on the run's data directory and
// waits until /health answers; port 0 picks a free one.
func (r *runner) startDitto(ctx context.Context, port int, env ...string) (*proc, int, error) {
	if port == 0 {
		var err error
		if port, err = freePort(); err != nil {
			return nil, 0, err
		}
	}
	p, err := r.spawnDitto(port, env...)
	if err != nil {
		return nil, 0, err
	}
	r.logf("ditto: pid %d on port %d, log %s", p.pid(), port, p.logPath)
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	if err := p.waitHTTP(ctx, base+"/health", newAuth(r.cfg.user), 20*time.Millisecond, 2*time.Minute); err != nil {
		_, _ = p.stop(stopGrace)
		return nil, 0, err
	}
	return p, port, nil
}

// spawnDitto starts the platform process without waiting for it, with env
// added to its environment. Its NATS
// port (for the event-delivery check) and HTTP API are on free ports of
// loopback, so that they cannot clash with a developer's running platform.
func (r *runner) spawnDitto(port int, env ...string) (*proc, error) {
	if _, err := os.Stat(r.cfg.ditto); err != nil {
		return nil, fmt.Errorf("ditto binary: %w (build it with `make build`)", err)
	}
	if r.natsPort == 0 {
		var err error
		if r.natsPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	if r.metricsPort == 0 {
		var err error
		if r.metricsPort, err = freePort(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(r.cfg.ditto)
	cmd.Env = append(os.Environ(),
		"DITTO_DATA_DIR="+filepath.Join(r.dir, "data"),
		"DITTO_NATS_LISTEN=127.0.0.1:"+strconv.Itoa(r.natsPort),
		"HTTP_PORT="+strconv.Itoa(port),
		"BIND_HOSTNAME=127.0.0.1",
		"PROMETHEUS_HOSTNAME=127.0.0.1",
		"PROMETHEUS_PORT="+strconv.Itoa(r.metricsPort),
	)
	if r.cfg.logLevel != "" {
		cmd.Env = append(cmd.Env, "LOG_LEVEL="+r.cfg.logLevel)
	}
	cmd.Env = append(cmd.Env, env...)
	return startProc("ditto", cmd, filepath.Join(r.dir, "ditto.log"), nil)
}

// restart stops srv with SIGTERM, starts the platform again on the same data
// and port, and measures the time from start to the first GET of a thing
// that answers 200. It returns the process running afterwards (nil once
// stopped).
func (r *runner) restart(ctx context.Context, srv *proc, base string, port int) (*proc, error) {
	r.logf("RESTART: SIGTERM to pid %d", srv.pid())
	res := result{Scenario: scRestart, ServerCPU: -1, LoadCPU: -1}
	errs := errorTally{}
	stopped, err := srv.stop(stopGrace)
	if err != nil {
		errs.add("unclean shutdown", err.Error(), 1)
	}
	id := r.corpus.thing[r.cfg.n/2]
	start := time.Now()
	next, err := r.spawnDitto(port)
	if err != nil {
		return nil, err
	}
	err = next.waitHTTP(ctx, base+id, newAuth(r.cfg.user), 2*time.Millisecond, 2*time.Minute)
	res.Elapsed = time.Since(start)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return next, err
		}
		errs.add("no 200 after restart", err.Error(), 1)
		res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
		r.add(res)
		return next, err
	}
	res.Ops = 1
	res.RSS = rssOf(next)
	res.Note = fmt.Sprintf("SIGTERM to exit %s; start to first 200 of GET %s %s; RSS is right after that first read",
		fmtDur(stopped), id, fmtDur(res.Elapsed))
	if _, err := next.stop(stopGrace); err != nil {
		errs.add("unclean shutdown after restart", err.Error(), 1)
	}
	res.Errors, res.ErrorKinds = errs.total(), errs.sorted()
	r.add(res)
	return nil, nil
}
