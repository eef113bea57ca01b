package main

import (
	"bufio"
	"bytes"
	"debug/buildinfo"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"runtime/debug"
	"strings"
	"time"
)

// machine describes where a run happened, for the header and the JSON.
type machine struct {
	OS         string `json:"os"`
	Arch       string `json:"arch"`
	CPUs       int    `json:"cpus"`
	GOMAXPROCS int    `json:"gomaxprocs"`
	CPUModel   string `json:"cpu_model,omitempty"`
	GoVersion  string `json:"go_version"`
	// BenchCommit and DittoCommit are the VCS revisions the binaries were
	// built from, with "+dirty" when the tree had changes; empty if unknown.
	BenchCommit string `json:"bench_commit,omitempty"`
	DittoCommit string `json:"ditto_commit,omitempty"`
}

func describeMachine(dittoBin string) machine {
	m := machine{
		OS:         runtime.GOOS,
		Arch:       runtime.GOARCH,
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		CPUModel:   cpuModel(),
		GoVersion:  runtime.Version(),
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		m.BenchCommit = commitOf(bi)
	}
	if dittoBin != "" {
		if bi, err := buildinfo.ReadFile(dittoBin); err == nil {
			m.DittoCommit = commitOf(bi)
		}
	}
	// `go build` in a workspace does not stamp VCS information; the working
	// tree's commit is the next best answer, marked as such.
	if m.BenchCommit == "" || dittoBin != "" && m.DittoCommit == "" {
		if out, err := exec.Command("git", "describe", "--always", "--dirty", "--abbrev=12").Output(); err == nil {
			tree := strings.TrimSpace(string(out)) + " (working tree)"
			if m.BenchCommit == "" {
				m.BenchCommit = tree
			}
			if dittoBin != "" && m.DittoCommit == "" {
				m.DittoCommit = tree
			}
		}
	}
	return m
}

// commitOf returns the vcs.revision a binary was stamped with.
func commitOf(bi *debug.BuildInfo) string {
	var rev, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev == "" {
		return ""
	}
	return rev[:min(len(rev), 12)] + dirty
}

func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// params are the parameters of a run as the header and the JSON show them.
type params struct {
	Things      int      `json:"things"`
	Connections int      `json:"connections"`
	Duration    string   `json:"duration"`
	Warmup      string   `json:"warmup"`
	Scenarios   []string `json:"scenarios"`
	Target      string   `json:"target"`
}

// report is everything one run produced.
type report struct {
	Machine machine  `json:"machine"`
	Params  params   `json:"params"`
	Started string   `json:"started"`
	Results []result `json:"-"`
	// Err is why the run stopped early; empty when it completed.
	Err string `json:"error,omitempty"`
}

// baselineRate is the BASELINE ops/s, 0 when it did not run.
func (r *report) baselineRate() float64 {
	for _, res := range r.Results {
		if res.Scenario == scBaseline {
			return res.opsPerSec()
		}
	}
	return 0
}

// result returns the row of scenario, if it ran.
func (r *report) result(scenario string) (result, bool) {
	for _, res := range r.Results {
		if res.Scenario == scenario {
			return res, true
		}
	}
	return result{}, false
}

// totalErrors sums the errors of every row.
func (r *report) totalErrors() int64 {
	var n int64
	for _, res := range r.Results {
		n += res.Errors
	}
	return n
}

func writeHeader(w io.Writer, m machine, p params) {
	fmt.Fprintf(w, "bench: %s/%s, %d cores (GOMAXPROCS %d)", m.OS, m.Arch, m.CPUs, m.GOMAXPROCS)
	if m.CPUModel != "" {
		fmt.Fprintf(w, ", %s", m.CPUModel)
	}
	fmt.Fprintf(w, ", %s\n", m.GoVersion)
	fmt.Fprintf(w, "commit: bench %s, ditto %s\n", orUnknown(m.BenchCommit), orUnknown(m.DittoCommit))
	fmt.Fprintf(w, "params: N=%d things, C=%d connections, D=%s, warm-up %s, target %s\n",
		p.Things, p.Connections, p.Duration, p.Warmup, p.Target)
	fmt.Fprintf(w, "scenarios: %s\n", strings.Join(p.Scenarios, ","))
}

func orUnknown(s string) string {
	if s == "" {
		return "unknown"
	}
	return s
}

// writeTable prints the results table, then what the errors were and any
// notes. Columns are right-aligned except the scenario name.
func writeTable(w io.Writer, results []result, baseRate float64) {
	rows := [][]string{{"scenario", "ops", "elapsed", "ops/s", "p50", "p99", "errors", "vs BASELINE", "cpu srv/gen", "RSS after"}}
	for _, r := range results {
		rate, ratio := "-", "-"
		if hasRate(r.Scenario) {
			rate = fmtRate(r.opsPerSec())
			if baseRate > 0 {
				ratio = fmt.Sprintf("%.1f%%", 100*r.opsPerSec()/baseRate)
			}
		}
		rows = append(rows, []string{
			r.Scenario,
			fmt.Sprint(r.Ops),
			fmtDur(r.Elapsed),
			rate,
			fmtDur(r.P50),
			fmtDur(r.P99),
			fmt.Sprint(r.Errors),
			ratio,
			fmtCPU(r.ServerCPU, r.LoadCPU),
			fmtBytes(r.RSS),
		})
	}
	widths := make([]int, len(rows[0]))
	for _, row := range rows {
		for i, cell := range row {
			widths[i] = max(widths[i], len([]rune(cell)))
		}
	}
	var b bytes.Buffer
	for _, row := range rows {
		for i, cell := range row {
			pad := strings.Repeat(" ", widths[i]-len([]rune(cell)))
			switch {
			case i == 0:
				b.WriteString(cell + pad)
			default:
				b.WriteString("  " + pad + cell)
			}
		}
		b.WriteByte('\n')
	}
	for _, r := range results {
		for _, k := range r.ErrorKinds {
			fmt.Fprintf(&b, "errors %s: %d × %s (first: %s)\n", r.Scenario, k.Count, k.Kind, oneLine(k.Example, 200))
		}
	}
	for _, r := range results {
		if r.Note != "" {
			fmt.Fprintf(&b, "note %s: %s\n", r.Scenario, r.Note)
		}
	}
	_, _ = w.Write(b.Bytes())
}

// oneLine shortens s to at most n runes on one line.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n]) + "…"
	}
	return s
}

// fmtDur prints a duration with three significant digits; "-" for none.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "-"
	case d < time.Microsecond:
		return fmt.Sprintf("%dns", d.Nanoseconds())
	case d < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	case d < 100*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
	case d < time.Second:
		return fmt.Sprintf("%.0fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func fmtRate(r float64) string {
	if r < 100 {
		return fmt.Sprintf("%.1f", r)
	}
	return fmt.Sprintf("%.0f", r)
}

func fmtBytes(n int64) string {
	if n <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

func fmtCPU(srv, gen float64) string {
	f := func(v float64) string {
		if v < 0 {
			return "-"
		}
		return fmt.Sprintf("%.2f", v)
	}
	return f(srv) + "/" + f(gen)
}

// jsonResult is a result in the machine-readable output: durations in
// milliseconds, rates per second, unknowns omitted.
type jsonResult struct {
	Scenario   string      `json:"scenario"`
	Ops        int64       `json:"ops"`
	Errors     int64       `json:"errors"`
	ElapsedMS  float64     `json:"elapsed_ms"`
	OpsPerSec  *float64    `json:"ops_per_sec,omitempty"`
	P50MS      *float64    `json:"p50_ms,omitempty"`
	P99MS      *float64    `json:"p99_ms,omitempty"`
	Ratio      *float64    `json:"ratio_to_baseline,omitempty"`
	RSSBytes   int64       `json:"rss_bytes,omitempty"`
	ServerCPU  *float64    `json:"server_cores,omitempty"`
	LoadCPU    *float64    `json:"loadgen_cores,omitempty"`
	ErrorKinds []errorKind `json:"error_kinds,omitempty"`
	Note       string      `json:"note,omitempty"`
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// writeJSON writes the report as indented JSON.
func writeJSON(w io.Writer, r *report) error {
	base := r.baselineRate()
	out := struct {
		*report
		Results []jsonResult `json:"results"`
	}{report: r, Results: []jsonResult{}}
	for _, res := range r.Results {
		j := jsonResult{
			Scenario:   res.Scenario,
			Ops:        res.Ops,
			Errors:     res.Errors,
			ElapsedMS:  ms(res.Elapsed),
			RSSBytes:   res.RSS,
			ErrorKinds: res.ErrorKinds,
			Note:       res.Note,
		}
		if hasRate(res.Scenario) {
			j.OpsPerSec = ptr(res.opsPerSec())
			if base > 0 {
				j.Ratio = ptr(res.opsPerSec() / base)
			}
		}
		if res.P50 > 0 {
			j.P50MS, j.P99MS = ptr(ms(res.P50)), ptr(ms(res.P99))
		}
		if res.ServerCPU >= 0 {
			j.ServerCPU = ptr(res.ServerCPU)
		}
		if res.LoadCPU >= 0 {
			j.LoadCPU = ptr(res.LoadCPU)
		}
		out.Results = append(out.Results, j)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		return fmt.Errorf("encode json report: %w", err)
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
