package tracing

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// newRootSampler returns the sampler of DITTO_TRACING_SAMPLER. It decides
// for new traces only: a span with a parent follows the parent's decision
// (sdktrace.ParentBased around it), and at the HTTP edge StartHTTP asks it
// about a request whose traceparent is not sampled, as Kamon does.
func newRootSampler(c Config, now func() time.Time) sdktrace.Sampler {
	switch c.sampler() {
	case SamplerAlways:
		return sdktrace.AlwaysSample()
	case SamplerRandom:
		// By trace id rather than by a fresh random number, so that every
		// service deciding about the same trace decides alike.
		return sdktrace.TraceIDRatioBased(c.RandomProbability)
	case SamplerAdaptive:
		return newAdaptiveSampler(c.AdaptiveThroughput, now)
	default:
		return sdktrace.NeverSample()
	}
}

const (
	// adaptInterval is how often the adaptive sampler recomputes the
	// probabilities of its operations, as Kamon's does.
	adaptInterval = time.Second
	// maxOperations bounds the operations the adaptive sampler keeps
	// apart; beyond it, new span names share one operation, so that a
	// caller naming spans after raw paths cannot grow it without bound.
	maxOperations = 1000
	// rateWeight is the weight of the last interval in an operation's
	// smoothed rate.
	rateWeight = 0.5
)

// adaptiveSampler is Kamon's adaptive sampler: it records about throughput
// new traces per minute, shared among operations (span names) max-min
// fairly: an operation rarer than its share is recorded whenever it occurs,
// and what it leaves over goes to the busier ones. Once a second (on the
// first decision after the second is over; it has no goroutine) it
// measures each operation's rate and sets its probability to share/rate.
// A token bucket of twice the goal caps what the probabilities let through
// before they have adapted, so that a burst of a new operation is recorded
// about as often as the goal allows, not every time.
type adaptiveSampler struct {
	perSecond float64
	now       func() time.Time
	// next is when the next adapt is due, in Unix nanoseconds.
	next atomic.Int64

	// mu guards ops; each operation's counters are atomic.
	mu    sync.RWMutex
	ops   map[string]*operation
	other *operation

	// adaptMu serialises adapt and guards last and every operation's rate.
	adaptMu sync.Mutex
	last    time.Time

	// bucketMu guards the token bucket.
	bucketMu sync.Mutex
	tokens   float64
	filled   time.Time
	capacity float64
	refill   float64 // tokens per second
}

// operation is the adaptive sampler's state of one span name.
type operation struct {
	decisions   atomic.Int64  // decisions since the last adapt
	probability atomic.Uint64 // math.Float64bits of the probability to record
	rate        float64       // smoothed decisions per second; guarded by adaptMu
	measured    bool          // rate has been measured once; guarded by adaptMu
}

func newOperation() *operation {
	op := &operation{}
	op.probability.Store(math.Float64bits(1))
	return op
}

func newAdaptiveSampler(perMinute float64, now func() time.Time) *adaptiveSampler {
	if now == nil {
		now = time.Now
	}
	t := now()
	s := &adaptiveSampler{
		perSecond: perMinute / 60,
		now:       now,
		ops:       map[string]*operation{},
		other:     newOperation(),
		last:      t,
		filled:    t,
	}
	s.refill = 2 * s.perSecond
	s.capacity = max(1, s.refill)
	s.tokens = s.capacity
	s.next.Store(t.Add(adaptInterval).UnixNano())
	return s
}

// ShouldSample implements sdktrace.Sampler; any goroutine may call it.
func (s *adaptiveSampler) ShouldSample(p sdktrace.SamplingParameters) sdktrace.SamplingResult {
	now := s.now()
	if now.UnixNano() >= s.next.Load() {
		s.adapt(now)
	}
	op := s.operation(p.Name)
	op.decisions.Add(1)
	res := sdktrace.SamplingResult{
		Decision:   sdktrace.Drop,
		Tracestate: trace.SpanContextFromContext(p.ParentContext).TraceState(),
	}
	if pr := math.Float64frombits(op.probability.Load()); (pr >= 1 || rand.Float64() < pr) && s.take(now) {
		res.Decision = sdktrace.RecordAndSample
	}
	return res
}

// Description implements sdktrace.Sampler.
func (s *adaptiveSampler) Description() string {
	return fmt.Sprintf("AdaptiveSampler{%g/min}", s.perSecond*60)
}

func (s *adaptiveSampler) operation(name string) *operation {
	s.mu.RLock()
	op := s.ops[name]
	s.mu.RUnlock()
	if op != nil {
		return op
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if op = s.ops[name]; op != nil {
		return op
	}
	if len(s.ops) >= maxOperations {
		return s.other
	}
	op = newOperation()
	s.ops[name] = op
	return op
}

// adapt measures every operation's rate since the last adapt and shares
// the goal among them: in order of rate, each gets an equal part of what
// is left, and uses no more than its rate.
func (s *adaptiveSampler) adapt(now time.Time) {
	s.adaptMu.Lock()
	defer s.adaptMu.Unlock()
	if now.UnixNano() < s.next.Load() {
		return // another goroutine adapted meanwhile
	}
	elapsed := now.Sub(s.last).Seconds()
	if elapsed <= 0 {
		elapsed = adaptInterval.Seconds()
	}
	s.mu.RLock()
	ops := make([]*operation, 0, len(s.ops)+1)
	for _, op := range s.ops {
		ops = append(ops, op)
	}
	s.mu.RUnlock()
	ops = append(ops, s.other)
	for _, op := range ops {
		r := float64(op.decisions.Swap(0)) / elapsed
		if op.measured {
			r = rateWeight*r + (1-rateWeight)*op.rate
		}
		op.rate, op.measured = r, true
	}
	slices.SortFunc(ops, func(a, b *operation) int {
		switch {
		case a.rate < b.rate:
			return -1
		case a.rate > b.rate:
			return 1
		}
		return 0
	})
	budget := s.perSecond
	for i, op := range ops {
		share := budget / float64(len(ops)-i)
		if op.rate <= share {
			op.probability.Store(math.Float64bits(1))
			budget -= op.rate
			continue
		}
		op.probability.Store(math.Float64bits(share / op.rate))
		budget -= share
	}
	s.last = now
	s.next.Store(now.Add(adaptInterval).UnixNano())
}

// take takes a token from the bucket if there is one.
func (s *adaptiveSampler) take(now time.Time) bool {
	s.bucketMu.Lock()
	defer s.bucketMu.Unlock()
	if d := now.Sub(s.filled); d > 0 {
		s.tokens = min(s.capacity, s.tokens+d.Seconds()*s.refill)
		s.filled = now
	}
	if s.tokens < 1 {
		return false
	}
	s.tokens--
	return true
}
