package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestFmtDur(t *testing.T) {
	t.Parallel()
	tests := []struct {
		d    time.Duration
		want string
	}{
		{0, "-"},
		{-time.Second, "-"},
		{850 * time.Nanosecond, "850ns"},
		{607 * time.Microsecond, "607µs"},
		{2834 * time.Microsecond, "2.83ms"},
		{12345 * time.Microsecond, "12.3ms"},
		{456789 * time.Microsecond, "457ms"},
		{1500 * time.Millisecond, "1.50s"},
		{30 * time.Second, "30.00s"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := fmtDur(tt.d); got != tt.want {
				t.Errorf("fmtDur(%d) = %q, want %q", tt.d, got, tt.want)
			}
		})
	}
}

func TestFmtOthers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, got, want string
	}{
		{"rate", fmtRate(21879.4), "21879"},
		{"small rate", fmtRate(42.25), "42.2"},
		{"bytes", fmtBytes(25 << 20), "25.0 MiB"},
		{"no bytes", fmtBytes(0), "-"},
		{"cpu", fmtCPU(1.015, 0.5), "1.01/0.50"},
		{"cpu unknown", fmtCPU(-1, 0.25), "-/0.25"},
		{"one line", oneLine("a\n  b\tc", 10), "a b c"},
		{"cut", oneLine("abcdef", 3), "abc…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if tt.got != tt.want {
				t.Errorf("got %q, want %q", tt.got, tt.want)
			}
		})
	}
}

func sampleResults() []result {
	return []result{
		{Scenario: scBaseline, Ops: 64000, Elapsed: 2 * time.Second, P50: 600 * time.Microsecond, P99: 2 * time.Millisecond,
			RSS: 25 << 20, ServerCPU: 1, LoadCPU: 0.75},
		{Scenario: scModify, Ops: 8000, Errors: 3, Elapsed: 2 * time.Second, P50: 5 * time.Millisecond, P99: 40 * time.Millisecond,
			RSS: 100 << 20, ServerCPU: 1.5, LoadCPU: -1,
			ErrorKinds: []errorKind{{Kind: "HTTP 429 things:thing.toomanymodifyingrequests", Count: 3, Example: "Too many\nrequests."}}},
		{Scenario: scRestart, Ops: 1, Elapsed: 1500 * time.Millisecond, ServerCPU: -1, LoadCPU: -1, Note: "SIGTERM to exit 200ms"},
	}
}

func TestWriteTable(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	writeTable(&b, sampleResults(), 32000)
	got := b.String()
	lines := strings.Split(strings.TrimRight(got, "\n"), "\n")
	wantLines := []string{
		"scenario         ops  elapsed  ops/s     p50     p99  errors  vs BASELINE  cpu srv/gen  RSS after",
		"BASELINE       64000    2.00s  32000   600µs  2.00ms       0       100.0%    1.00/0.75   25.0 MiB",
		"MODIFY_THINGS   8000    2.00s   4000  5.00ms  40.0ms       3        12.5%       1.50/-  100.0 MiB",
		"RESTART            1    1.50s      -       -       -       0            -          -/-          -",
		"errors MODIFY_THINGS: 3 × HTTP 429 things:thing.toomanymodifyingrequests (first: Too many requests.)",
		"note RESTART: SIGTERM to exit 200ms",
	}
	if len(lines) != len(wantLines) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(wantLines), got)
	}
	for i := range lines {
		if lines[i] != wantLines[i] {
			t.Errorf("line %d:\n got %q\nwant %q", i, lines[i], wantLines[i])
		}
	}
}

func TestWriteTableWithoutBaseline(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	writeTable(&b, sampleResults()[1:2], 0)
	lines := strings.Split(b.String(), "\n")
	if !strings.Contains(lines[1], "  -  ") {
		t.Errorf("row without a baseline %q: want \"-\" in the ratio column", lines[1])
	}
}

func TestWriteJSON(t *testing.T) {
	t.Parallel()
	rep := &report{Params: params{Things: 10}, Results: sampleResults()}
	var b bytes.Buffer
	if err := writeJSON(&b, rep); err != nil {
		t.Fatal(err)
	}
	var got struct {
		Params  params `json:"params"`
		Results []struct {
			Scenario string   `json:"scenario"`
			Errors   int64    `json:"errors"`
			OpsPer   *float64 `json:"ops_per_sec"`
			Ratio    *float64 `json:"ratio_to_baseline"`
			P99      *float64 `json:"p99_ms"`
			LoadCPU  *float64 `json:"loadgen_cores"`
			Kinds    []errorKind
		} `json:"results"`
	}
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	if got.Params.Things != 10 || len(got.Results) != 3 {
		t.Fatalf("got params %+v and %d results, want 10 things and 3 results", got.Params, len(got.Results))
	}
	m := got.Results[1]
	if m.Scenario != scModify || m.Errors != 3 || m.OpsPer == nil || *m.OpsPer != 4000 || m.Ratio == nil || *m.Ratio != 0.125 ||
		m.P99 == nil || *m.P99 != 40 || m.LoadCPU != nil {
		t.Errorf("MODIFY_THINGS = %+v, want 3 errors, 4000/s, ratio 0.125, p99 40ms, no loadgen cores", m)
	}
	if r := got.Results[2]; r.OpsPer != nil || r.P99 != nil {
		t.Errorf("RESTART has a rate or latency: %+v", r)
	}
}
