package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs every scenario against the real platform binary with tiny
// parameters and checks that each ran and none had an error; the search
// scenarios' queries count a wrong result as an error. It needs the
// binaries `make build` puts in bin/: DITTO_E2E_BIN=$PWD/bin.
func TestSmoke(t *testing.T) {
	dir := os.Getenv("DITTO_E2E_BIN")
	if dir == "" {
		t.Skip("DITTO_E2E_BIN is not set")
	}
	ditto := filepath.Join(dir, "ditto")
	if _, err := os.Stat(ditto); err != nil {
		t.Skipf("DITTO_E2E_BIN has no ditto: %v", err)
	}
	cfg, err := parseFlags([]string{"-ditto", ditto, "-n", "50", "-c", "4", "-d", "1s", "-warmup", "250ms",
		"-subscribers", "5", "-fanout-rate", "100", "-idle-sessions", "200"}, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rep := newReport(cfg)
	if err := bench(ctx, cfg, rep, testWriter{t}); err != nil {
		t.Fatalf("bench: %v", err)
	}
	ran := map[string]result{}
	for _, r := range rep.Results {
		ran[r.Scenario] = r
	}
	for _, sc := range allScenarios() {
		r, ok := ran[sc]
		if !ok {
			t.Errorf("scenario %s did not run", sc)
			continue
		}
		if r.Errors != 0 || r.Ops == 0 {
			t.Errorf("%s: %d ops, %d errors %+v; want ops and no errors", sc, r.Ops, r.Errors, r.ErrorKinds)
		}
	}
	if r := ran[scCreate]; r.Ops != 50 {
		t.Errorf("CREATE: %d things, want 50", r.Ops)
	}
	if r := ran[scWarmup]; r.Ops != 50 || r.RSS <= 0 {
		t.Errorf("WARMUP: %d reads and RSS %d, want 50 and the server's RSS", r.Ops, r.RSS)
	}
	// Rows that come with scenarios rather than being selected.
	for _, sc := range []string{scEvents, scIndexCatchUp} {
		if r, ok := ran[sc]; !ok || r.Errors != 0 {
			t.Errorf("%s: ran %v, %d errors %+v; want a row without errors", sc, ok, r.Errors, r.ErrorKinds)
		}
	}
	if r := ran[scModifyUnindexed]; !strings.Contains(r.Note, "of this rate") {
		t.Errorf("%s: note %q, want MODIFY_THINGS' rate as a share of it", scModifyUnindexed, r.Note)
	}
	if r := ran[scIndexCatchUp]; r.Ops != 50 {
		t.Errorf("INDEX_CATCHUP: counted %d things, want 50", r.Ops)
	}
}

// testWriter sends progress lines to the test log.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
