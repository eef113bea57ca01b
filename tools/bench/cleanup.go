package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// scModifyCleanup is MODIFY_THINGS while the things service's background
// cleanup runs as fast as its defaults let it, with a retention of zero:
// what cleanup costs the writes.
const scModifyCleanup = "MODIFY_THINGS_CLEANUP"

// cleanupConfig is the cleanup configuration of the scenario: every
// entity's history is due at once and a pass starts within seconds; the
// credits are the defaults.
const cleanupConfig = `{"history-retention-duration":"0s","quiet-period":"1s","interval":"1s"}`

// modifyWithCleanup switches the started platform's things cleanup to
// cleanupConfig over the DevOps piggyback API and runs MODIFY_THINGS, then
// reports how much the cleanup deleted meanwhile. It needs the platform
// bench started (the DevOps user and the metrics port).
func (r *runner) modifyWithCleanup(ctx context.Context, t *target, ws []*worker, srv *proc, checked func() error) error {
	if !r.cfg.selected(scModifyCleanup) {
		return nil
	}
	if srv == nil || r.metricsPort == 0 {
		r.logf("%s: skipped, -url names a platform bench did not start", scModifyCleanup)
		return nil
	}
	base := "http://" + t.addr
	body := `{"targetActorSelection":"/user/thingsRoot/persistenceCleanup","headers":{},` +
		`"piggybackCommand":{"type":"common.commands:modifyConfig","config":` + cleanupConfig + `}}`
	if err := devopsPost(ctx, base+"/devops/piggyback/things?timeout=10s", body); err != nil {
		return fmt.Errorf("%s: configure the cleanup: %w", scModifyCleanup, err)
	}
	before, err := r.platformCounter(ctx, "cleanup_delete_events_total", `type="thing"`)
	if err != nil {
		return fmt.Errorf("%s: %w", scModifyCleanup, err)
	}
	snapsBefore, _ := r.platformCounter(ctx, "cleanup_delete_snapshots_total", `type="thing"`)
	res := r.load(ctx, scModifyCleanup, t, ws, srv, r.modifyOp())
	if err := checked(); err != nil {
		return err
	}
	after, err := r.platformCounter(ctx, "cleanup_delete_events_total", `type="thing"`)
	if err != nil {
		return fmt.Errorf("%s: %w", scModifyCleanup, err)
	}
	snapsAfter, _ := r.platformCounter(ctx, "cleanup_delete_snapshots_total", `type="thing"`)
	res.Note = fmt.Sprintf("cleanup %s deleted %.0f events and %.0f snapshots meanwhile", cleanupConfig, after-before, snapsAfter-snapsBefore)
	if m, ok := r.rep.result(scModify); ok && m.opsPerSec() > 0 {
		res.Note += fmt.Sprintf("; %.1f%% of MODIFY_THINGS' rate", 100*res.opsPerSec()/m.opsPerSec())
	}
	r.add(res)
	return nil
}

// devopsPost sends a DevOps request as the default DevOps user and wants
// an answer of 200.
func devopsPost(ctx context.Context, url, body string) error {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.SetBasicAuth("devops", "foobar")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return nil
}

// platformCounter sums the started platform's series of the metric name
// whose labels contain label (0 when there is none yet).
func (r *runner) platformCounter(ctx context.Context, name, label string) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://127.0.0.1:"+strconv.Itoa(r.metricsPort)+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scrape the platform's metrics: %w", err)
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") || !strings.Contains(line, label) {
			continue
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				sum += v
			}
		}
	}
	return sum, sc.Err()
}
