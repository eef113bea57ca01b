package journaltest

import (
	"errors"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/journal"
)

// testSNAt finds the revision an entity had at a time: the highest SN of
// its events at or before the time, to the millisecond, ignoring other
// entities' events and snapshots; ErrClosed once the store is closed.
func testSNAt(t *testing.T, open OpenFunc) {
	s := open(t, "snat")
	j := journalOf(t, s, journal.Things)
	other := pid + "-other"
	// Revisions 1..6 a second apart from base+1s; 3 and 4 share a
	// millisecond (two events of one command burst).
	at := func(sn int64) time.Time { return base.Add(time.Duration(sn) * time.Second) }
	for sn := int64(1); sn <= 6; sn++ {
		e := event(pid, sn, `{}`)
		if sn == 4 {
			e.Timestamp = at(3).Add(300 * time.Microsecond)
		}
		appendAll(t, j, e)
	}
	// Another entity's later and earlier events, and a snapshot past every
	// event, must not count.
	appendAll(t, j, journal.Event{PID: other, SN: 1, Timestamp: base.Add(-time.Hour), Payload: []byte(`{}`)},
		journal.Event{PID: other, SN: 2, Timestamp: at(2).Add(time.Millisecond), Payload: []byte(`{}`)})
	if err := j.SaveSnapshot(t.Context(), journal.Snapshot{PID: pid, SN: 9, Timestamp: base, Payload: []byte(`{}`)}); err != nil {
		t.Fatalf("SaveSnapshot: %v", err)
	}
	tests := []struct {
		name string
		pid  string
		at   time.Time
		want int64
	}{
		{"before the first event", pid, at(1).Add(-time.Millisecond), 0},
		{"exactly the first event", pid, at(1), 1},
		{"below the millisecond of the first event", pid, ms(at(1)).Add(999 * time.Microsecond), 1},
		{"between events", pid, at(2).Add(500 * time.Millisecond), 2},
		{"two events in one millisecond", pid, at(3), 4},
		{"the last event", pid, at(6), 6},
		{"long after", pid, at(6).Add(24 * time.Hour), 6},
		{"other entity", other, at(3), 2},
		{"other entity before its first", other, base.Add(-2 * time.Hour), 0},
		{"unknown pid", pid + "x", at(6), 0},
	}
	for _, tt := range tests {
		got, err := j.SNAt(t.Context(), tt.pid, tt.at)
		if err != nil {
			t.Fatalf("%s: SNAt: %v", tt.name, err)
		}
		if got != tt.want {
			t.Errorf("%s: SNAt(%s, %s) = %d, want %d", tt.name, tt.pid, tt.at.Format(time.RFC3339Nano), got, tt.want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if _, err := j.SNAt(t.Context(), pid, at(6)); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("SNAt after Close: got %v, want ErrClosed", err)
	}
}
