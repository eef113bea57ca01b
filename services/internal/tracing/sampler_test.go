package tracing

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// recorded starts n root spans named name on a Tracer with sampler and
// counts those recorded.
func recorded(t *testing.T, c Config, n int) int {
	t.Helper()
	c.ReporterEnabled = false
	tr, err := New(c, "things", "i1", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Shutdown(context.Background())
	got := 0
	for range n {
		_, s := tr.Start(context.Background(), "op")
		if s.IsRecording() {
			got++
		}
		s.End()
	}
	return got
}

func TestSamplers(t *testing.T) {
	t.Parallel()
	const n = 20000
	tests := []struct {
		name     string
		sampler  string
		p        float64
		min, max int
	}{
		{"always", SamplerAlways, 0, n, n},
		{"never", SamplerNever, 0, 0, 0},
		{"random 0", SamplerRandom, 0, 0, 0},
		{"random 1", SamplerRandom, 1, n, n},
		// Binomial(20000, 0.25): mean 5000, sd 61; 5 sd either side.
		{"random 0.25", SamplerRandom, 0.25, 5000 - 310, 5000 + 310},
		// 600 traces a minute: at most the bucket (20) and what it refills
		// (20/s) while the loop runs.
		{"adaptive burst", SamplerAdaptive, 0, 1, 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := validConfig()
			c.Sampler, c.RandomProbability = tt.sampler, tt.p
			if got := recorded(t, c, n); got < tt.min || got > tt.max {
				t.Errorf("recorded %d of %d root spans, want %d..%d", got, n, tt.min, tt.max)
			}
		})
	}
}

// fakeClock is a settable clock for the adaptive sampler.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// decide asks s about one new trace of operation name.
func decide(s sdktrace.Sampler, name string) bool {
	return s.ShouldSample(sdktrace.SamplingParameters{ParentContext: context.Background(), Name: name}).Decision == sdktrace.RecordAndSample
}

// run feeds s, for secs seconds of the fake clock, rates[name] decisions
// per second of each operation, evenly spread, and counts the recorded
// ones per operation.
func run(s sdktrace.Sampler, clock *fakeClock, secs int, rates map[string]int) map[string]int {
	got := map[string]int{}
	const slots = 1000 // per second
	start := clock.t
	for sec := range secs {
		for slot := range slots {
			clock.t = start.Add(time.Duration(sec)*time.Second + time.Duration(slot)*time.Second/slots)
			for name, rate := range rates {
				// rate decisions in this second, spread over the slots.
				for k := slot * rate / slots; k < (slot+1)*rate/slots; k++ {
					if decide(s, name) {
						got[name]++
					}
				}
			}
		}
	}
	clock.t = start.Add(time.Duration(secs) * time.Second)
	return got
}

func within(got, want int, tolerance float64) bool {
	return math.Abs(float64(got-want)) <= tolerance*float64(want)
}

// A burst at one instant is recorded no more than the token bucket
// holds: twice a second's share of the goal.
func TestAdaptiveSamplerBurst(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1000, 0)}
	s := newAdaptiveSampler(600, clock.now)
	got := 0
	for range 100000 {
		if decide(s, "PUT /api/2/things/{thingId}") {
			got++
		}
	}
	if got != 20 {
		t.Errorf("recorded %d of a burst of 100000 at one instant, want 20 (2 × 600/60)", got)
	}
}

// An operation far busier than the goal is recorded about throughput
// times a minute.
func TestAdaptiveSamplerThroughput(t *testing.T) {
	t.Parallel()
	for _, perMinute := range []float64{60, 600, 6000} {
		t.Run(fmt.Sprint(perMinute), func(t *testing.T) {
			t.Parallel()
			clock := &fakeClock{t: time.Unix(1000, 0)}
			s := newAdaptiveSampler(perMinute, clock.now)
			got := run(s, clock, 60, map[string]int{"busy": 5000})["busy"]
			// 4 standard deviations of a Poisson count, at least 10%.
			tol := max(0.1, 4/math.Sqrt(perMinute))
			t.Logf("goal %v/min: recorded %d in a minute of 5000/s", perMinute, got)
			if !within(got, int(perMinute), tol) {
				t.Errorf("recorded %d in a minute of 5000/s, want %v ± %.0f%%", got, perMinute, 100*tol)
			}
		})
	}
}

// Operations share the goal max-min fairly: a rare one is recorded every
// time, a busy one gets what is left, and the total stays about the goal.
func TestAdaptiveSamplerFairness(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1000, 0)}
	s := newAdaptiveSampler(600, clock.now)
	load := map[string]int{"busy": 5000, "medium": 100, "rare": 2}
	run(s, clock, 5, load) // past the first seconds, before the rates are known
	got := run(s, clock, 60, load)
	t.Logf("recorded in a minute: %v", got)
	if want := 120; got["rare"] < want*95/100 {
		t.Errorf("rare (2/s): recorded %d in a minute, want about all %d", got["rare"], want)
	}
	// busy and medium split the 480/min left over: 240 each. The draws
	// are random: ± 30% is over 4 standard deviations of each count.
	if !within(got["medium"], 240, 0.3) || !within(got["busy"], 240, 0.3) {
		t.Errorf("medium and busy recorded %d and %d in a minute, want 240 each ± 30%%", got["medium"], got["busy"])
	}
	if total := got["busy"] + got["medium"] + got["rare"]; !within(total, 600, 0.15) {
		t.Errorf("recorded %d in a minute in all, want 600 ± 15%%", total)
	}
}

// When the load falls below the goal, everything is recorded again.
func TestAdaptiveSamplerAdaptsToLoad(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1000, 0)}
	s := newAdaptiveSampler(600, clock.now)
	run(s, clock, 20, map[string]int{"op": 10000})
	run(s, clock, 20, map[string]int{"op": 5}) // settle
	if got := run(s, clock, 20, map[string]int{"op": 5})["op"]; got != 100 {
		t.Errorf("recorded %d of 100 at 5/s after a busy spell, want all", got)
	}
}

// Span names beyond maxOperations share one operation.
func TestAdaptiveSamplerBoundsOperations(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{t: time.Unix(1000, 0)}
	s := newAdaptiveSampler(600, clock.now)
	for i := range 3 * maxOperations {
		decide(s, fmt.Sprint("GET /raw/path/", i))
	}
	if got := len(s.ops); got != maxOperations {
		t.Errorf("%d operations kept, want %d", got, maxOperations)
	}
	if got := s.other.decisions.Load(); got != 2*maxOperations {
		t.Errorf("shared operation counted %d decisions, want %d", got, 2*maxOperations)
	}
}
