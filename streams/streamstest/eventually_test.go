package streamstest

import (
	"errors"
	"testing"
	"time"
)

func TestEventuallyReturnsOnceTrue(t *testing.T) {
	t.Parallel()
	calls := 0
	Eventually(t, time.Second, func() error {
		if calls++; calls < 3 {
			return errors.New("not yet")
		}
		return nil
	})
	if calls != 3 {
		t.Errorf("cond called %d times, want 3", calls)
	}
}

// failRecorder records a failure instead of ending the test.
type failRecorder struct {
	testing.TB
	msg string
}

func (f *failRecorder) Helper() {}
func (f *failRecorder) Fatalf(format string, args ...any) {
	f.msg = format
	panic(f)
}

func TestEventuallyFailsWithTheLastError(t *testing.T) {
	t.Parallel()
	rec := &failRecorder{TB: t}
	func() {
		defer func() {
			if r := recover(); r != rec {
				t.Fatalf("Eventually did not fail the test: %v", r)
			}
		}()
		Eventually(rec, 50*time.Millisecond, func() error { return errors.New("never") })
	}()
	if rec.msg == "" {
		t.Error("no failure message")
	}
}
