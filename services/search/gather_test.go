package search

import (
	"testing"
	"time"
)

// newGatherer is a Service with only what gather uses.
func newGatherer() *Service {
	s := &Service{events: make(chan event, 2*maxBatch), repairs: make(chan repair, 2*maxBatch)}
	s.waiters.added = make(chan struct{}, 1)
	return s
}

// TestGatherWaitsForMoreEvents checks that what arrives within the wait
// joins the batch: events and repairs sent over 100 ms, gathered with a
// wait of 2 s, are one batch.
func TestGatherWaitsForMoreEvents(t *testing.T) {
	t.Parallel()
	s := newGatherer()
	go func() {
		for i := range 3 {
			time.Sleep(30 * time.Millisecond)
			s.events <- event{}
			if i == 1 {
				s.repairs <- repair{id: "org.acme:r"}
			}
		}
	}()
	evs, reps := s.gather([]event{{}}, nil, 2*time.Second)
	if len(evs) != 4 || len(reps) != 1 {
		t.Fatalf("gathered %d events and %d repairs, want 4 and 1", len(evs), len(reps))
	}
}

// TestGatherStopsAtMaxBatch checks that a full batch is applied without
// waiting out the wait.
func TestGatherStopsAtMaxBatch(t *testing.T) {
	t.Parallel()
	s := newGatherer()
	for range maxBatch + 10 {
		s.events <- event{}
	}
	done := make(chan int)
	go func() {
		evs, _ := s.gather(nil, nil, time.Hour)
		done <- len(evs)
	}()
	select {
	case n := <-done:
		if n != maxBatch {
			t.Fatalf("gathered %d events, want maxBatch %d", n, maxBatch)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gather waited on with a full batch")
	}
}

// TestGatherCutShortBySearchPersisted checks that a search-persisted
// request ends a long wait (the busy one), so that it is not answered
// later than batchLinger allows, and that it does not end a short one.
func TestGatherCutShortBySearchPersisted(t *testing.T) {
	t.Parallel()
	s := newGatherer()
	done := make(chan int)
	go func() {
		evs, _ := s.gather([]event{{}}, nil, time.Hour)
		done <- len(evs)
	}()
	time.Sleep(20 * time.Millisecond)
	s.events <- event{}
	w := s.waiters.add("org.acme:t", 2, false)
	select {
	case n := <-done:
		if n != 2 {
			t.Fatalf("gathered %d events, want the 2 sent before the request", n)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a search-persisted request did not end the busy wait")
	}
	if !s.waiters.pending() {
		t.Fatal("pending with a waiter: false")
	}
	s.waiters.remove("org.acme:t", w)
	if s.waiters.pending() {
		t.Fatal("pending after the waiter left: true")
	}

	// A short wait is not ended by one: with the signal and 50 events
	// ready, every event joins the batch (select picks among ready cases
	// at random, so the signal comes before most of them).
	w = s.waiters.add("org.acme:t", 3, false)
	defer s.waiters.remove("org.acme:t", w)
	for range 50 {
		s.events <- event{}
	}
	if evs, _ := s.gather([]event{{}}, nil, batchLinger); len(evs) != 51 {
		t.Fatalf("short wait gathered %d events, want 51", len(evs))
	}
}

// TestLoadGauge checks when the apply loop counts the event stream as
// busy: at busyRate a second or more over a window, not for a burst within
// a window that is otherwise quiet, and no longer after a pause.
func TestLoadGauge(t *testing.T) {
	t.Parallel()
	t0 := time.Unix(0, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	g := loadGauge{since: t0}
	// 1,000 a second: 10 events every 10 ms; windows end at 250, 500, 750
	// and 1,000 ms.
	for ms := 10; ms <= 1000; ms += 10 {
		g.add(10, at(ms))
		if g.busy {
			t.Fatalf("busy at 1,000 events/s (%d ms)", ms)
		}
	}
	// A burst of 300 events in 10 ms, then nothing until the window ends:
	// 1,200 a second over the window.
	g.add(300, at(1010))
	g.add(0, at(1250))
	if g.busy {
		t.Fatal("busy after a burst in a quiet window")
	}
	// 2,000 a second: busy once a window of it ends.
	for ms := 1260; ms <= 1500; ms += 10 {
		g.add(20, at(ms))
	}
	if !g.busy {
		t.Fatal("not busy at 2,000 events/s")
	}
	// The first batch after a second's pause ends a window of 1 s with few
	// events in it.
	g.add(50, at(2500))
	if g.busy {
		t.Fatal("still busy after a pause")
	}
}
