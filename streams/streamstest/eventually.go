package streamstest

import (
	"testing"
	"time"
)

// Eventually polls cond every 10ms until it returns nil and fails the test
// with cond's last error if that has not happened within d. It is the one
// polling loop of the tests of every module: tests wait for a state, never
// for a time.
func Eventually(t testing.TB, d time.Duration, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %v", d, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
