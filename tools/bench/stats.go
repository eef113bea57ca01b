package main

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Scenario names, as Ditto's benchmark-tool spells its scenarios, in the
// order one run executes them.
const (
	scBaseline        = "BASELINE"
	scCreate          = "CREATE"
	scWarmup          = "WARMUP"
	scRead            = "READ_THINGS"
	scModify          = "MODIFY_THINGS"
	scSearchLag       = "SEARCH_LAG"
	scModifyAcked     = "MODIFY_THINGS_ACKED"
	scSearchThings    = "SEARCH_THINGS"
	scSearchAttribute = "SEARCH_ATTRIBUTE"
	scSearchSorted    = "SEARCH_SORTED"
	scCount           = "COUNT"
	scRestart         = "RESTART"
	scModifyUnindexed = "MODIFY_THINGS_UNINDEXED"
)

// allScenarios is the run order.
func allScenarios() []string {
	return []string{scBaseline, scCreate, scWarmup, scRead, scModify, scHistoryRead, scHistorySSE, scHistoryWS, scImportsRead, scImportsChange, scModifyCleanup,
		scSearchLag, scModifyAcked, scSearchThings, scSearchAttribute, scSearchSorted, scCount,
		scLiveMessages, scEventFanout, scWSIdle, scRestart, scModifyUnindexed}
}

// searchScenarios are the scenarios that need the search index to hold
// every bench thing first.
func searchScenarios() []string {
	return []string{scSearchLag, scModifyAcked, scSearchThings, scSearchAttribute, scSearchSorted, scCount}
}

// hasRate reports whether a scenario's row is a rate of operations; the
// others are one measurement (RESTART, INDEX_CATCHUP), a check (EVENTS) or
// latencies of samples (SEARCH_LAG), and show no ops/s or ratio.
func hasRate(scenario string) bool {
	switch scenario {
	case scRestart, scEvents, scIndexCatchUp, scSearchLag, scWSIdle:
		return false
	}
	return true
}

// result is one row of the report.
type result struct {
	Scenario string
	// Ops counts successful operations; failed ones are in Errors only.
	Ops    int64
	Errors int64
	// Elapsed is the measured phase: first request sent to last answer
	// received (for RESTART: process start to the first 200).
	Elapsed time.Duration
	// P50 and P99 are over the latencies of every successful operation;
	// zero when the row has none.
	P50, P99 time.Duration
	// RSS is the server's resident set after the row, in bytes; 0 if unknown.
	RSS int64
	// ServerCPU and LoadCPU are the cores the server and this process used
	// during the measured phase; negative if unknown.
	ServerCPU, LoadCPU float64
	// ErrorKinds says what the errors were, most frequent first.
	ErrorKinds []errorKind
	// Note is a free-text remark printed under the table.
	Note string
}

// opsPerSec is the rate of successful operations in the measured phase.
func (r result) opsPerSec() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Ops) / r.Elapsed.Seconds()
}

// errorKind groups errors that mean the same thing: the same HTTP status and
// Ditto error code, or the same transport failure.
type errorKind struct {
	Kind    string `json:"kind"`
	Count   int64  `json:"count"`
	Example string `json:"first"` // the first message seen of this kind
}

// errorTally counts errors by kind. Each worker owns one, so no lock; the
// tallies are merged after the workers stop.
type errorTally map[string]*errorKind

func (t errorTally) add(kind, example string, n int64) {
	if k, ok := t[kind]; ok {
		k.Count += n
		return
	}
	t[kind] = &errorKind{Kind: kind, Count: n, Example: example}
}

// tallyOf turns a row's error kinds back into a tally, to add to them.
func tallyOf(kinds []errorKind) errorTally {
	t := errorTally{}
	for _, k := range kinds {
		t.add(k.Kind, k.Example, k.Count)
	}
	return t
}

func (t errorTally) merge(o errorTally) {
	for _, k := range o {
		t.add(k.Kind, k.Example, k.Count)
	}
}

func (t errorTally) total() int64 {
	var n int64
	for _, k := range t {
		n += k.Count
	}
	return n
}

// sorted lists the kinds, most frequent first, ties by name so that output
// is stable.
func (t errorTally) sorted() []errorKind {
	out := make([]errorKind, 0, len(t))
	for _, k := range t {
		out = append(out, *k)
	}
	slices.SortFunc(out, func(a, b errorKind) int {
		if c := cmp.Compare(b.Count, a.Count); c != 0 {
			return c
		}
		return cmp.Compare(a.Kind, b.Kind)
	})
	return out
}

// percentile returns the p-th percentile (0 < p <= 100) of sorted by the
// nearest-rank method: the smallest value that at least p percent of the
// values are less than or equal to. It returns 0 for no values.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	// p*n is exact for integral p, so the division yields an exact integer
	// whenever the rank is one and Ceil never skips to the next rank.
	n := len(sorted)
	rank := int(math.Ceil(p * float64(n) / 100))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}
