package gateway

import (
	"net"
	"sync"
	"testing"
	"time"
)

// countingConn records each write that reaches it.
type countingConn struct {
	net.Conn
	mu     sync.Mutex
	writes [][]byte
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes = append(c.writes, append([]byte(nil), p...))
	return len(p), nil
}

func (c *countingConn) SetWriteDeadline(time.Time) error { return nil }

func (c *countingConn) got() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.writes...)
}

// Held writes reach the socket in one write, in order; a write outside a
// batch goes through at once; a batch right after a write waits out the
// interval unless woken.
func TestBatchConn(t *testing.T) {
	t.Parallel()
	// A long interval, so that waiting or not is told apart on a busy
	// machine.
	const interval = 300 * time.Millisecond
	cc := &countingConn{}
	c := &batchConn{Conn: cc, interval: interval}
	if _, err := c.Write([]byte("a")); err != nil || len(cc.got()) != 1 {
		t.Fatalf("write outside a batch: %v, %d writes", err, len(cc.got()))
	}

	start := time.Now()
	c.holdWrites(false, nil)
	if waited := time.Since(start); waited < interval/2 {
		t.Errorf("a batch right after a write went after %v, want about %v", waited, interval)
	}
	c.start()
	for _, p := range []string{"b", "c", "d"} {
		if _, err := c.Write([]byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(cc.got()); n != 1 {
		t.Fatalf("held writes reached the socket: %d writes", n)
	}
	if err := c.flush(time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	got := cc.got()
	if len(got) != 2 || string(got[1]) != "bcd" {
		t.Fatalf("writes %q, want a then bcd", got)
	}
	if c.buf != nil || c.hold {
		t.Errorf("after flush: buffer %v, hold %t", c.buf, c.hold)
	}

	// Woken: no wait; an empty flush writes nothing.
	wake := make(chan struct{}, 1)
	wake <- struct{}{}
	start = time.Now()
	c.holdWrites(false, wake)
	if waited := time.Since(start); waited >= interval/2 {
		t.Errorf("a woken batch waited %v", waited)
	}
	if err := c.flush(time.Now().Add(time.Second)); err != nil || len(cc.got()) != 2 {
		t.Errorf("empty flush: %v, %d writes", err, len(cc.got()))
	}
	// After a quiet spell a batch does not wait.
	time.Sleep(interval)
	start = time.Now()
	c.holdWrites(false, nil)
	if waited := time.Since(start); waited >= interval/2 {
		t.Errorf("a batch after a quiet spell waited %v", waited)
	}
	_ = c.flush(time.Now().Add(time.Second))
}
