package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a server subprocess: ditto or the baseline. Its output goes to a
// log file, whose path every error about it names.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *os.File
	// done is closed when the process has exited; waitErr is its exit
	// status, valid after done.
	done    chan struct{}
	waitErr error
	// stdin, when set, is the write end of the child's standard input:
	// closing it tells the baseline to exit, and it closes by itself when
	// this process dies, so the baseline never outlives bench.
	stdin io.Closer
}

// startProc starts cmd with its stderr, and its stdout unless setup took
// it, appended to logPath. setup, when not nil, runs before Start (to take
// pipes).
func startProc(name string, cmd *exec.Cmd, logPath string, setup func(*proc) error) (*proc, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}
	fmt.Fprintf(log, "--- bench: starting %s at %s: %s\n", name, time.Now().Format(time.RFC3339Nano), strings.Join(cmd.Args, " "))
	p := &proc{name: name, cmd: cmd, logPath: logPath, log: log, done: make(chan struct{})}
	if setup != nil {
		if err := setup(p); err != nil {
			log.Close()
			return nil, err
		}
	}
	if cmd.Stdout == nil {
		cmd.Stdout = log
	}
	cmd.Stderr = log
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// diedError describes an unexpected exit, with the tail of the log.
func (p *proc) diedError() error {
	return fmt.Errorf("%s exited unexpectedly (%v); log %s:\n%s", p.name, p.waitErr, p.logPath, tail(p.logPath, 20))
}

// stop asks the process to exit, by closing its stdin when bench holds it
// (the baseline: a signal could land after it unregistered its handler on
// the way out) or else with SIGTERM; it waits up to grace, then kills it. It
// returns how long the process took to exit and an error if it had to be
// killed or exited unsuccessfully.
func (p *proc) stop(grace time.Duration) (time.Duration, error) {
	defer p.log.Close()
	start := time.Now()
	select {
	case <-p.done:
		return 0, p.exitError()
	default:
	}
	if p.stdin != nil {
		p.stdin.Close()
	} else {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		return time.Since(start), p.exitError()
	case <-timer.C:
		_ = p.cmd.Process.Kill()
		<-p.done
		return time.Since(start), fmt.Errorf("%s did not exit within %s and was killed; log %s", p.name, grace, p.logPath)
	}
}

func (p *proc) exitError() error {
	if p.waitErr != nil {
		return fmt.Errorf("%s exit: %w; log %s", p.name, p.waitErr, p.logPath)
	}
	return nil
}

// waitHTTP polls url until it answers 200, the process exits, ctx ends or
// timeout passes. Refused connections are expected while the server starts
// and are not errors.
func (p *proc) waitHTTP(ctx context.Context, url, auth string, every, timeout time.Duration) error {
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(timeout)
	last := "no answer"
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return fmt.Errorf("request %s: %w", url, err)
		}
		req.Header.Set("Authorization", auth)
		resp, err := client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s: no 200 from %s within %s (last: %s); log %s:\n%s", p.name, url, timeout, last, p.logPath, tail(p.logPath, 20))
		}
		t := time.NewTimer(every)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-p.done:
			t.Stop()
			return p.diedError()
		case <-t.C:
		}
	}
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// tail returns the last n lines of the file at path, for error messages.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(" + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	lines = lines[max(0, len(lines)-n):]
	return "  " + string(bytes.Join(lines, []byte("\n  ")))
}

// rss returns the resident set size of pid in bytes, from /proc.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, fmt.Errorf("read rss of %d: %w", pid, err)
	}
	return parseVmRSS(b)
}

var errNoVmRSS = errors.New("no VmRSS line")

// parseVmRSS reads the "VmRSS:  1234 kB" line of /proc/<pid>/status.
func parseVmRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("VmRSS line %q: want \"<n> kB\"", bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", f[0], err)
		}
		return kb << 10, nil
	}
	return 0, errNoVmRSS
}

// clockTick is the unit of the CPU times in /proc/<pid>/stat. USER_HZ is 100
// on every Linux architecture Go supports.
const clockTick = 10 * time.Millisecond

// cpuTime returns the user plus system CPU time pid has used, from
// /proc/<pid>/stat ("self" for this process).
func cpuTime(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, fmt.Errorf("read cpu time of %s: %w", pid, err)
	}
	return parseStatCPU(b)
}

// parseStatCPU reads utime and stime, fields 14 and 15 of /proc/<pid>/stat.
// The command name (field 2) may contain spaces and parentheses, so fields
// are counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("stat: no ')' after the command name")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state), so utime (14) is f[11] and stime (15) f[12].
	if len(f) < 13 {
		return 0, fmt.Errorf("stat: %d fields after the command name, want at least 13", len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(string(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("stat cpu field %q: %w", s, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// cpuMeter measures the cores a server process and this process use over an
// interval. Unknown values (no /proc, or no server pid) come out negative.
type cpuMeter struct {
	pid        int // 0: no server process of ours
	srv, self  time.Duration
	srvOK, sOK bool
	start      time.Time
}

func startCPU(pid int) *cpuMeter {
	m := &cpuMeter{pid: pid, start: time.Now()}
	if pid > 0 {
		t, err := cpuTime(strconv.Itoa(pid))
		m.srv, m.srvOK = t, err == nil
	}
	t, err := cpuTime("self")
	m.self, m.sOK = t, err == nil
	return m
}

// cores returns the cores used by the server and by this process since
// startCPU.
func (m *cpuMeter) cores() (server, self float64) {
	wall := time.Since(m.start).Seconds()
	server, self = -1, -1
	if wall <= 0 {
		return server, self
	}
	if m.srvOK {
		if t, err := cpuTime(strconv.Itoa(m.pid)); err == nil {
			server = (t - m.srv).Seconds() / wall
		}
	}
	if m.sOK {
		if t, err := cpuTime("self"); err == nil {
			self = (t - m.self).Seconds() / wall
		}
	}
	return server, self
}
