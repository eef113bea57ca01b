package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
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
	url := "http://" + t.addr + "/devops/piggyback/things?timeout=10s"
	const target = `{"targetActorSelection":"/user/thingsRoot/persistenceCleanup",`
	// The configuration in effect is put back afterwards: left at a
	// retention of zero, cleanup would go on rewriting the journal through
	// every later scenario.
	answer, err := devopsPost(ctx, url, target+`"headers":{"aggregate":false},"piggybackCommand":{"type":"common.commands:retrieveConfig"}}`)
	if err != nil {
		return fmt.Errorf("%s: read the cleanup configuration: %w", scModifyCleanup, err)
	}
	var current struct {
		Config json.RawMessage `json:"config"`
	}
	if err := json.Unmarshal(answer, &current); err != nil || len(current.Config) == 0 {
		return fmt.Errorf("%s: cleanup configuration answer %s: %v", scModifyCleanup, answer, err)
	}
	configure := func(config string) ([]byte, error) {
		return devopsPost(ctx, url, target+`"headers":{"aggregate":false},"piggybackCommand":{"type":"common.commands:modifyConfig","config":`+config+`}}`)
	}
	if _, err := configure(cleanupConfig); err != nil {
		return fmt.Errorf("%s: configure the cleanup: %w", scModifyCleanup, err)
	}
	restored := false
	restore := func() error {
		if restored {
			return nil
		}
		restored = true
		answer, err := configure(string(current.Config))
		if err != nil {
			return fmt.Errorf("%s: restore the cleanup configuration: %w", scModifyCleanup, err)
		}
		var after struct {
			Config map[string]any `json:"config"`
		}
		var want map[string]any
		_ = json.Unmarshal(current.Config, &want)
		if err := json.Unmarshal(answer, &after); err != nil || !reflect.DeepEqual(after.Config, want) {
			return fmt.Errorf("%s: cleanup configuration not restored: %s, want %s", scModifyCleanup, answer, current.Config)
		}
		return nil
	}
	defer func() { _ = restore() }() // on an early return
	before, err := r.platformCounter(ctx, "cleanup_delete_events_total", `type="thing"`)
	if err != nil {
		return fmt.Errorf("%s: %w", scModifyCleanup, err)
	}
	snapsBefore, _ := r.platformCounter(ctx, "cleanup_delete_snapshots_total", `type="thing"`)
	res := r.load(ctx, scModifyCleanup, t, ws, srv, r.modifyOp())
	if err := checked(); err != nil {
		return err
	}
	if err := restore(); err != nil {
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

// devopsPost sends a DevOps request as the default DevOps user, wants an
// answer of 200 and returns its body.
func devopsPost(ctx context.Context, url, body string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "POST", url, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.SetBasicAuth("devops", "foobar")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("POST %s: %d %s", url, resp.StatusCode, b)
	}
	return b, nil
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
