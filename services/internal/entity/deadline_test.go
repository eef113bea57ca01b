package entity

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDeadlineCtx(t *testing.T) {
	t.Parallel()
	t.Run("expires", func(t *testing.T) {
		t.Parallel()
		c := newDeadlineCtx(context.Background(), time.Now().Add(30*time.Millisecond))
		defer c.release()
		if d, ok := c.Deadline(); !ok || d.IsZero() {
			t.Fatal("no deadline")
		}
		if c.Err() != nil {
			t.Fatal("expired at once")
		}
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed after the deadline")
		}
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v, want DeadlineExceeded", c.Err())
		}
	})
	t.Run("past deadline", func(t *testing.T) {
		t.Parallel()
		c := newDeadlineCtx(context.Background(), time.Now().Add(-time.Second))
		defer c.release()
		if !errors.Is(c.Err(), context.DeadlineExceeded) {
			t.Errorf("Err = %v before Done, want DeadlineExceeded", c.Err())
		}
		<-c.Done()
	})
	t.Run("parent canceled", func(t *testing.T) {
		t.Parallel()
		parent, cancel := context.WithCancel(context.Background())
		c := newDeadlineCtx(parent, time.Now().Add(time.Hour))
		defer c.release()
		done := c.Done()
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("Done not closed when the parent was canceled")
		}
		if !errors.Is(c.Err(), context.Canceled) {
			t.Errorf("Err = %v, want Canceled", c.Err())
		}
	})
	t.Run("released without Done", func(t *testing.T) {
		t.Parallel()
		c := newDeadlineCtx(context.Background(), time.Now().Add(time.Hour))
		c.release()
		if c.timer != nil || c.done != nil {
			t.Error("release made a timer or channel")
		}
	})
	t.Run("usable with context.WithTimeout", func(t *testing.T) {
		t.Parallel()
		c := newDeadlineCtx(context.Background(), time.Now().Add(20*time.Millisecond))
		defer c.release()
		child, cancel := context.WithTimeout(c, time.Hour)
		defer cancel()
		if d, _ := child.Deadline(); d.After(time.Now().Add(time.Minute)) {
			t.Error("child did not inherit the nearer deadline")
		}
		select {
		case <-child.Done():
		case <-time.After(5 * time.Second):
			t.Fatal("child not canceled at the parent's deadline")
		}
	})
}
