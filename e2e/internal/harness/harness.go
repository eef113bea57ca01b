// Package harness runs the platform's binaries as separate processes for the
// end-to-end tests: free ports, a temporary directory and a log file per
// process, readiness checks over the public surfaces (HTTP, NATS, MongoDB
// wire) and a cleanup that leaves no process behind.
//
// The binaries come from the directory in DITTO_E2E_BIN, which `make test`
// sets to bin/ after building them; without it the tests skip.
package harness

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	mathrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// BinDirEnv names the environment variable holding the binaries' directory.
const BinDirEnv = "DITTO_E2E_BIN"

// Bin returns the path of binary name in DITTO_E2E_BIN, skipping the test
// when the variable is unset and failing it when the binary is missing.
func Bin(t testing.TB, name string) string {
	t.Helper()
	dir := os.Getenv(BinDirEnv)
	if dir == "" {
		t.Skipf("%s is not set: run the end-to-end tests with `make test`, or `make build` and then %s=$PWD/bin go test ./e2e/...", BinDirEnv, BinDirEnv)
	}
	p := filepath.Join(dir, name)
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("binary %s: %v (run `make build`)", name, err)
	}
	return p
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
// It is drawn below Linux's ephemeral range (32768-60999): a process that
// binds port 0 (every metrics listener started by Start does) takes its
// port from that range, and could otherwise be handed the very port this
// returned before its intended user binds it. Within this test binary no
// port is handed out twice.
func FreePort(t testing.TB) int {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := portLow + mathrand.IntN(portHigh-portLow)
		if portsGiven[port] {
			continue
		}
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // in use
		}
		l.Close()
		portsGiven[port] = true
		return port
	}
	t.Fatalf("free port: none found in %d-%d", portLow, portHigh)
	return 0
}

// The range FreePort draws from.
const portLow, portHigh = 20000, 32000

var (
	portsMu    sync.Mutex
	portsGiven = map[int]bool{}
)

// Proc is one running (or exited) process started by Start.
type Proc struct {
	t       testing.TB
	Name    string
	bin     string
	args    []string
	env     []string
	logPath string

	mu     sync.Mutex
	cmd    *exec.Cmd
	done   chan struct{}
	exit   *os.ProcessState
	stdout *lineWatch
}

// Start runs bin with args and exactly the given environment (plus PATH,
// HOME and TMPDIR from the test's own; DITTO_*, NATS_* and MONGO_* variables
// of the test's environment never leak into it). Its stdout and stderr go to
// a log file that is printed when the test fails. The process is killed, if
// still running, when the test ends.
func Start(t testing.TB, name, bin string, args []string, env map[string]string) *Proc {
	t.Helper()
	p := &Proc{t: t, Name: name, bin: bin, args: args, logPath: filepath.Join(t.TempDir(), name+".log")}
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		if v, ok := os.LookupEnv(k); ok {
			p.env = append(p.env, k+"="+v)
		}
	}
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	if _, ok := env["PROMETHEUS_PORT"]; !ok {
		// Processes run side by side: each takes a free metrics port.
		p.env = append(p.env, "PROMETHEUS_PORT=0", "PROMETHEUS_HOSTNAME=127.0.0.1")
	}
	p.start()
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			p.dumpLog()
		}
	})
	return p
}

func (p *Proc) start() {
	p.t.Helper()
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		p.t.Fatalf("%s: log file: %v", p.Name, err)
	}
	fmt.Fprintf(logf, "=== start %s %s\n", p.bin, strings.Join(p.args, " "))
	cmd := exec.Command(p.bin, p.args...)
	cmd.Env = p.env
	cmd.Stderr = logf
	w := newLineWatch(logf)
	cmd.Stdout = w
	// A process group of its own: a signal to the test runner does not
	// reach it twice, and Kill takes any children with it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		p.t.Fatalf("%s: start: %v", p.Name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.exit, p.stdout = cmd, done, nil, w
	p.mu.Unlock()
	go func() {
		_ = cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.exit = cmd.ProcessState
		p.mu.Unlock()
		close(done)
	}()
}

// Restart starts the process again with the same binary, arguments and
// environment. It must have exited.
func (p *Proc) Restart() {
	p.t.Helper()
	if p.Running() {
		p.t.Fatalf("%s: restart while running", p.Name)
	}
	p.start()
}

// Running reports whether the process has not exited yet.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit == nil
}

// Signal sends sig to the process.
func (p *Proc) Signal(sig syscall.Signal) {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	_ = cmd.Process.Signal(sig)
}

// Wait waits up to d for the process to exit and returns its exit code, or
// fails the test.
func (p *Proc) Wait(d time.Duration) int {
	p.t.Helper()
	p.mu.Lock()
	done := p.done
	p.mu.Unlock()
	select {
	case <-done:
	case <-time.After(d):
		p.t.Fatalf("%s did not exit within %s", p.Name, d)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit.ExitCode()
}

// Kill kills the process group with SIGKILL and waits for the process.
func (p *Proc) Kill() {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	<-done
}

// Log returns everything the process wrote so far.
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.logPath)
	return string(b)
}

// WaitStdoutLine waits up to d for a line of stdout with the given prefix
// and returns it.
func (p *Proc) WaitStdoutLine(prefix string, d time.Duration) string {
	p.t.Helper()
	p.mu.Lock()
	w := p.stdout
	p.mu.Unlock()
	line, ok := w.wait(prefix, d)
	if !ok {
		p.t.Fatalf("%s printed no line starting with %q within %s", p.Name, prefix, d)
	}
	return line
}

func (p *Proc) dumpLog() {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return
	}
	const max = 16 << 10
	if len(b) > max {
		b = append([]byte("...\n"), b[len(b)-max:]...)
	}
	p.t.Logf("log of %s:\n%s", p.Name, b)
}

// lineWatch copies a process's stdout to its log and remembers its lines
// for WaitStdoutLine.
type lineWatch struct {
	mu      sync.Mutex
	out     *os.File
	partial []byte
	lines   []string
	changed chan struct{}
}

func newLineWatch(out *os.File) *lineWatch {
	return &lineWatch{out: out, changed: make(chan struct{})}
}

func (w *lineWatch) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	_, _ = w.out.Write(b)
	w.partial = append(w.partial, b...)
	consumed := 0
	for {
		i := bytes.IndexByte(w.partial[consumed:], '\n')
		if i < 0 {
			break
		}
		w.lines = append(w.lines, string(w.partial[consumed:consumed+i]))
		consumed += i + 1
	}
	w.partial = append(w.partial[:0], w.partial[consumed:]...)
	close(w.changed)
	w.changed = make(chan struct{})
	return len(b), nil
}

func (w *lineWatch) wait(prefix string, d time.Duration) (string, bool) {
	deadline := time.After(d)
	for {
		w.mu.Lock()
		for _, l := range w.lines {
			if strings.HasPrefix(l, prefix) {
				w.mu.Unlock()
				return l, true
			}
		}
		ch := w.changed
		w.mu.Unlock()
		select {
		case <-ch:
		case <-deadline:
			return "", false
		}
	}
}

// Eventually is streamstest.Eventually with cond's errors prefixed by what:
// it polls cond until it returns nil and fails the test with what and
// cond's last error if that has not happened within d.
func Eventually(t testing.TB, d time.Duration, what string, cond func() error) {
	t.Helper()
	streamstest.Eventually(t, d, func() error {
		if err := cond(); err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		return nil
	})
}

// WaitHealthy waits until GET base+"/health" answers 200.
func WaitHealthy(t testing.TB, base string, d time.Duration) {
	t.Helper()
	c := &http.Client{Timeout: time.Second}
	Eventually(t, d, "GET "+base+"/health", func() error {
		resp, err := c.Get(base + "/health")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %d", resp.StatusCode)
		}
		return nil
	})
}

// NATS is a nats-server process admitting only the platform's roles, as
// compose.yaml's does.
type NATS struct {
	*Proc
	URL string
	// Seeds holds the path of each role's nkey seed file, for NATS_NKEY
	// and the nats CLI's --nkey; the gateway authenticates with a
	// password instead (Passwords), as compose.yaml's roles do, so that
	// both kinds of credential are exercised.
	Seeds     map[streams.Role]string
	Passwords map[streams.Role]string
}

// NATSServer starts bin/nats-server with JetStream, its store in a
// temporary directory, on a free port of 127.0.0.1, admitting each role of
// streams.Roles by a credential generated for the test, and returns it
// once it accepts TCP connections.
func NATSServer(t testing.TB) *NATS {
	t.Helper()
	port := FreePort(t)
	dir := t.TempDir()
	n := &NATS{Seeds: map[streams.Role]string{}, Passwords: map[streams.Role]string{}}
	var users []streams.User
	for _, r := range streams.Roles {
		if r == streams.RoleGateway {
			pw := make([]byte, 16)
			_, _ = rand.Read(pw)
			n.Passwords[r] = hex.EncodeToString(pw)
			users = append(users, streams.User{Role: r, Password: n.Passwords[r]})
			continue
		}
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		path := filepath.Join(dir, string(r)+".nk")
		if err := os.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
			t.Fatal(err)
		}
		n.Seeds[r] = path
		users = append(users, streams.User{Role: r, Nkey: pub})
	}
	auth, err := streams.New("").AuthorizationConfig(users)
	if err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf("host: 127.0.0.1\nport: %d\njetstream { store_dir: %q }\n%s", port, filepath.Join(dir, "js"), auth)
	confPath := filepath.Join(dir, "nats-server.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	n.Proc = Start(t, "nats-server", Bin(t, "nats-server"), []string{"-c", confPath}, nil)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	Eventually(t, 20*time.Second, "nats-server accepts connections", func() error {
		if !n.Running() {
			return errors.New("nats-server exited")
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return err
		}
		return c.Close()
	})
	n.URL = "nats://" + addr
	return n
}

// ConnectAs connects to url as role r with the nkey seed file seed.
func ConnectAs(t testing.TB, url string, r streams.Role, seed string) *nats.Conn {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(url, opt, nats.CustomInboxPrefix(streams.InboxPrefix(r)))
	if err != nil {
		t.Fatalf("connect to %s as %s: %v", url, r, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// FerretDB starts bin/ferretdb on a free port with its files in a temporary
// directory and returns it with its MongoDB URI once it accepts
// connections.
func FerretDB(t testing.TB) (*Proc, string) {
	t.Helper()
	port := FreePort(t)
	p := Start(t, "ferretdb", Bin(t, "ferretdb"),
		[]string{"-dir", t.TempDir(), "-listen", "127.0.0.1:" + strconv.Itoa(port)}, nil)
	uri := p.WaitStdoutLine("mongodb://", 30*time.Second)
	return p, strings.TrimSpace(uri)
}

// Context returns a context ending after d or when the test ends.
func Context(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
