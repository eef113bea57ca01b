package entity

import (
	"context"
	"sync"
	"time"
)

// deadlineCtx is context.WithDeadline made lazy: most commands are answered
// from memory and never wait on anything, so the timer and the Done channel
// are only made when something asks for Done. This takes a timer, a channel
// and a cancel context off every read.
type deadlineCtx struct {
	context.Context // the host's base context: values and hard stop
	deadline        time.Time

	once  sync.Once
	done  chan struct{}
	timer *time.Timer
	stop  func() bool // detaches from the parent's cancellation

	mu  sync.Mutex
	err error // guarded by mu
}

func newDeadlineCtx(parent context.Context, deadline time.Time) *deadlineCtx {
	return &deadlineCtx{Context: parent, deadline: deadline}
}

func (c *deadlineCtx) Deadline() (time.Time, bool) { return c.deadline, true }

func (c *deadlineCtx) Done() <-chan struct{} {
	c.once.Do(func() {
		c.done = make(chan struct{})
		d := time.Until(c.deadline)
		if d <= 0 {
			c.cancel(context.DeadlineExceeded)
			return
		}
		c.timer = time.AfterFunc(d, func() { c.cancel(context.DeadlineExceeded) })
		c.stop = context.AfterFunc(c.Context, func() { c.cancel(c.Context.Err()) })
	})
	return c.done
}

func (c *deadlineCtx) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	if err := c.Context.Err(); err != nil {
		return err
	}
	if !time.Now().Before(c.deadline) {
		return context.DeadlineExceeded
	}
	return nil
}

// cancel ends the context with err (first caller wins).
func (c *deadlineCtx) cancel(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return
	}
	c.err = err
	if c.done != nil {
		close(c.done)
	}
}

// release stops the timer and the parent watch once the command is done.
// The context must not be used afterwards (Done would return nil).
func (c *deadlineCtx) release() {
	c.once.Do(func() {}) // nothing made after this
	if c.timer != nil {
		c.timer.Stop()
	}
	if c.stop != nil {
		c.stop()
	}
}
