package gateway

import (
	"bufio"
	"net"
	"net/http"
	"sync"
	"time"
)

// wsBatchInterval bounds how often a session busy with frames writes to
// its socket: a frame queued less than this after the session's last
// write waits until this long after it, and goes out in one write with
// every frame queued meanwhile. A frame after a quiet spell, and the
// answer to a command, go out at once. On 2 cores, one write system call
// per event and session was a third of the gateway's CPU with 50
// sessions following 1,000 events a second.
const wsBatchInterval = 5 * time.Millisecond

// batchConn is a WebSocket session's connection that can hold writes:
// while held, what gorilla/websocket writes collects in a buffer, and
// flush sends it in one write. Control frames written from other
// goroutines (pings, close) join the buffer while it is held.
type batchConn struct {
	net.Conn
	// interval is wsBatchInterval unless a test sets another.
	interval time.Duration
	mu       sync.Mutex
	hold     bool
	buf      []byte
	last     time.Time // when the session last wrote to the socket
}

func (c *batchConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.hold {
		c.buf = append(c.buf, p...)
		return len(p), nil
	}
	c.last = time.Now()
	return c.Conn.Write(p)
}

// holdWrites starts collecting writes, after waiting out the rest of
// wsBatchInterval since the last write unless now is set or wake fires.
func (c *batchConn) holdWrites(now bool, wake <-chan struct{}) {
	c.mu.Lock()
	wait := c.interval - time.Since(c.last)
	c.hold = true
	c.mu.Unlock()
	if now || wait <= 0 {
		return
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
	}
}

// flush sends what was collected, by the deadline, and stops collecting.
// The buffer goes back to a pool, so that a session between bursts holds
// none.
func (c *batchConn) flush(deadline time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hold = false
	buf := c.buf
	c.buf = nil
	var err error
	if len(buf) > 0 {
		c.last = time.Now()
		_ = c.Conn.SetWriteDeadline(deadline)
		_, err = c.Conn.Write(buf)
	}
	if buf != nil && cap(buf) <= maxPooledBatch {
		b := buf[:0]
		batchBufs.Put(&b)
	}
	return err
}

// start gives the connection a pooled buffer to collect into.
func (c *batchConn) start() {
	c.mu.Lock()
	if c.buf == nil {
		if b, ok := batchBufs.Get().(*[]byte); ok {
			c.buf = *b
		}
	}
	c.mu.Unlock()
}

// maxPooledBatch is the largest buffer kept for reuse.
const maxPooledBatch = 64 << 10

var batchBufs sync.Pool

// batchingWriter hands the WebSocket upgrader a batchConn when it hijacks
// the connection.
type batchingWriter struct {
	http.ResponseWriter
	conn *batchConn
}

func (w *batchingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	c, brw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	w.conn = &batchConn{Conn: c, interval: wsBatchInterval}
	return w.conn, brw, nil
}
