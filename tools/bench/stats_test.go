package main

import (
	"slices"
	"testing"
	"time"
)

func TestPercentile(t *testing.T) {
	t.Parallel()
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one value p50", []time.Duration{7}, 50, 7},
		{"one value p99", []time.Duration{7}, 99, 7},
		{"two values p50 is the lower", []time.Duration{1, 2}, 50, 1},
		{"two values p99 is the upper", []time.Duration{1, 2}, 99, 2},
		{"hundred p50", hundred, 50, 50 * time.Millisecond},
		{"hundred p99", hundred, 99, 99 * time.Millisecond},
		{"hundred p100", hundred, 100, 100 * time.Millisecond},
		{"hundred p1", hundred, 1, 1 * time.Millisecond},
		{"ten p99 rounds up to the max", hundred[:10], 99, 10 * time.Millisecond},
		{"ten p50", hundred[:10], 50, 5 * time.Millisecond},
		{"three p50 is the median", []time.Duration{1, 5, 9}, 50, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := percentile(tt.sorted, tt.p); got != tt.want {
				t.Errorf("percentile(%d values, %v) = %v, want %v", len(tt.sorted), tt.p, got, tt.want)
			}
		})
	}
}

func TestErrorTally(t *testing.T) {
	t.Parallel()
	a := errorTally{}
	a.add("HTTP 429 things:thing.toomanymodifyingrequests", "too many", 2)
	a.add("HTTP 404 things:thing.notfound", "first 404", 1)
	b := errorTally{}
	b.add("HTTP 404 things:thing.notfound", "second 404", 3)
	b.add("transport: EOF", "EOF", 2)
	a.merge(b)

	if got, want := a.total(), int64(8); got != want {
		t.Errorf("total = %d, want %d", got, want)
	}
	got := a.sorted()
	want := []errorKind{
		{Kind: "HTTP 404 things:thing.notfound", Count: 4, Example: "first 404"},
		{Kind: "HTTP 429 things:thing.toomanymodifyingrequests", Count: 2, Example: "too many"},
		{Kind: "transport: EOF", Count: 2, Example: "EOF"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("sorted = %+v, want %+v", got, want)
	}
}

func TestOpsPerSec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		r    result
		want float64
	}{
		{"rate", result{Ops: 500, Elapsed: 2 * time.Second}, 250},
		{"no time", result{Ops: 500}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.r.opsPerSec(); got != tt.want {
				t.Errorf("opsPerSec = %v, want %v", got, tt.want)
			}
		})
	}
}
