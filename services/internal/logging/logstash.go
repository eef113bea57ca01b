package logging

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// stashSink sends lines to a Logstash TCP input, as logback's
// LogstashTcpSocketAppender does: callers put lines into a bounded queue
// (LOGSTASH_RING_BUFFER_SIZE) and return at once; one goroutine (run)
// connects, writes them in batches of up to LOGSTASH_WRITE_BUFFER_SIZE
// bytes and reconnects with a backoff when the connection fails. A full
// queue drops the line and counts it, so a slow or unreachable server
// never slows a caller.
type stashSink struct {
	addr    string
	bufSize int
	queue   chan []byte
	dropped atomic.Uint64
	// attempts counts connection attempts, for tests.
	attempts atomic.Uint64
	stopped  atomic.Bool
	warn     *warner

	minBackoff, maxBackoff time.Duration
	dialTimeout            time.Duration
	// writeTimeout bounds one write, so a server that stops reading is
	// treated as gone; drainTimeout bounds how long Close sends what is
	// still queued.
	writeTimeout, drainTimeout time.Duration

	cancel context.CancelFunc
	done   chan struct{}
}

// errServerClosed is a connection the server closed.
var errServerClosed = errors.New("connection closed by the server")

func newStashSink(addr string, bufSize, queueSize int, warn *warner, o options) *stashSink {
	ctx, cancel := context.WithCancel(context.Background())
	s := &stashSink{addr: addr, bufSize: bufSize, queue: make(chan []byte, queueSize), warn: warn,
		minBackoff: o.minBackoff, maxBackoff: o.maxBackoff, dialTimeout: 5 * time.Second,
		writeTimeout: 10 * time.Second, drainTimeout: o.drainTimeout,
		cancel: cancel, done: make(chan struct{})}
	go s.run(ctx)
	return s
}

// writeLine queues line, or drops and counts it when the queue is full
// or the sink is closed. It never blocks.
func (s *stashSink) writeLine(line []byte) {
	if s.stopped.Load() {
		s.dropped.Add(1)
		return
	}
	select {
	case s.queue <- line:
	default:
		s.dropped.Add(1)
	}
}

// close sends what is queued (for at most drainTimeout, if connected),
// then stops run and waits for it.
func (s *stashSink) close() {
	s.stopped.Store(true)
	s.cancel()
	<-s.done
}

// run connects and serves connections until ctx ends. It is the only
// reader of the queue.
func (s *stashSink) run(ctx context.Context) {
	defer close(s.done)
	defer s.dropQueued()
	backoff := s.minBackoff
	failures := 0
	for {
		d := net.Dialer{Timeout: s.dialTimeout}
		s.attempts.Add(1)
		conn, err := d.DialContext(ctx, "tcp", s.addr)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			failures++
			if s.warn.allow("logstash") {
				s.warn.log.Warn("logging: logstash server unreachable; lines are dropped while the queue is full",
					"addr", s.addr, "err", err, "failed_attempts", failures, "lines_dropped", s.dropped.Load())
				failures = 0
			}
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			backoff = min(2*backoff, s.maxBackoff)
			continue
		}
		backoff, failures = s.minBackoff, 0
		err = s.serve(ctx, conn)
		if ctx.Err() != nil {
			return
		}
		if s.warn.allow("logstash") {
			s.warn.log.Warn("logging: logstash connection lost; reconnecting", "addr", s.addr, "err", err,
				"lines_dropped", s.dropped.Load())
		}
	}
}

// serve writes queued lines to conn until it fails or ctx ends (then it
// sends what is queued for at most drainTimeout). Lines are batched while
// more are queued and written when the queue is empty or the batch is
// full; the lines of a failed write are counted as dropped.
func (s *stashSink) serve(ctx context.Context, conn net.Conn) error {
	// The server sends nothing; a read returns when it closes the
	// connection, so that a broken connection is noticed while idle.
	gone := make(chan struct{})
	go func() {
		defer close(gone)
		io.Copy(io.Discard, conn)
	}()
	defer func() {
		conn.Close()
		<-gone
	}()
	// Once ctx ends, every write must be done by drainTimeout from then,
	// a write blocked on a stalled server included; stopping (guarded by
	// dmu) keeps send from extending that deadline.
	var dmu sync.Mutex
	stopping := false
	var drainBy time.Time
	stop := func() time.Time {
		dmu.Lock()
		defer dmu.Unlock()
		if !stopping {
			stopping, drainBy = true, time.Now().Add(s.drainTimeout)
			conn.SetWriteDeadline(drainBy)
		}
		return drainBy
	}
	defer context.AfterFunc(ctx, func() { stop() })()
	buf := make([]byte, 0, s.bufSize)
	lines := 0
	send := func() error {
		if len(buf) == 0 {
			return nil
		}
		dmu.Lock()
		if !stopping {
			conn.SetWriteDeadline(time.Now().Add(s.writeTimeout))
		}
		dmu.Unlock()
		_, err := conn.Write(buf)
		if err != nil {
			s.dropped.Add(uint64(lines))
		}
		buf, lines = buf[:0], 0
		return err
	}
	add := func(line []byte) error {
		if len(buf) > 0 && len(buf)+len(line) > s.bufSize {
			if err := send(); err != nil {
				return err
			}
		}
		buf = append(buf, line...)
		lines++
		if len(s.queue) == 0 || len(buf) >= s.bufSize {
			return send()
		}
		return nil
	}
	for {
		select {
		case line := <-s.queue:
			if err := add(line); err != nil {
				return err
			}
		case <-gone:
			return errServerClosed
		case <-ctx.Done():
			by := stop()
			for time.Now().Before(by) && len(s.queue) > 0 {
				if err := add(<-s.queue); err != nil {
					return err
				}
			}
			return send()
		}
	}
}

// dropQueued counts what is still queued when run ends as dropped.
func (s *stashSink) dropQueued() {
	for {
		select {
		case <-s.queue:
			s.dropped.Add(1)
		default:
			return
		}
	}
}
