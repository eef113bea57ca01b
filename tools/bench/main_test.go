package main

import (
	"errors"
	"io"
	"os"
	"slices"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary stand in for bench when a test starts the
// baseline subprocess: startBaseline re-executes os.Executable() with
// -serve-baseline, which here is the test binary.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "-serve-baseline" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

func TestParseScenarios(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr bool
	}{
		{"all in run order", "RESTART,BASELINE,READ_THINGS", []string{scBaseline, scRead, scRestart}, false},
		{"case and spaces", " read_things , Modify_Things", []string{scRead, scModify}, false},
		{"duplicates", "CREATE,CREATE", []string{scCreate}, false},
		{"unknown", "READ_THINGS,SEARCH_EVERYTHING", nil, true},
		{"empty", " , ", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseScenarios(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseScenarios(f *testing.F) {
	f.Add("BASELINE,CREATE")
	f.Add("read_things, ,x")
	f.Fuzz(func(t *testing.T, s string) {
		got, err := parseScenarios(s)
		if err != nil {
			return
		}
		if len(got) == 0 {
			t.Fatalf("%q: no scenarios and no error", s)
		}
		for i, sc := range got {
			if !slices.Contains(allScenarios(), sc) {
				t.Errorf("%q: unknown scenario %q", s, sc)
			}
			if i > 0 && slices.Index(allScenarios(), got[i-1]) >= slices.Index(allScenarios(), sc) {
				t.Errorf("%q: %q not in run order", s, got)
			}
		}
	})
}

func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		check   func(config) bool
		wantErr error
	}{
		{"makefile flags", []string{"-ditto", "bin/ditto", "-n", "100000", "-c", "64", "-d", "30s"},
			func(c config) bool {
				return c.ditto == "bin/ditto" && c.n == 100000 && c.c == 64 && c.d == 30*time.Second &&
					c.warmup == 3*time.Second && c.user == "ditto:ditto" && len(c.scenarios) == len(allScenarios())
			}, nil},
		{"subset", []string{"-scenarios", "read_things"},
			func(c config) bool { return slices.Equal(c.scenarios, []string{scRead}) }, nil},
		{"paced lag", []string{"-lag-rate", "1000"}, func(c config) bool { return c.lagRate == 1000 }, nil},
		{"negative lag rate", []string{"-lag-rate", "-1"}, nil, errUsage},
		{"fan-out", []string{"-subscribers", "5", "-fanout-rate", "200", "-idle-sessions", "30"}, func(c config) bool {
			return c.subscribers == 5 && c.fanoutRate == 200 && c.idleSessions == 30
		}, nil},
		{"no subscribers", []string{"-subscribers", "0"}, nil, errUsage},
		{"no fan-out rate", []string{"-fanout-rate", "0"}, nil, errUsage},
		{"no idle sessions", []string{"-idle-sessions", "0"}, nil, errUsage},
		{"zero things", []string{"-n", "0"}, nil, errUsage},
		{"zero connections", []string{"-c", "0"}, nil, errUsage},
		{"zero duration", []string{"-d", "0s"}, nil, errUsage},
		{"user without password", []string{"-user", "ditto"}, nil, errUsage},
		{"bad namespace", []string{"-namespace", "-x"}, nil, errUsage},
		{"stray argument", []string{"extra"}, nil, errUsage},
		{"unknown flag", []string{"-nope"}, nil, errUsage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := parseFlags(tt.args, io.Discard)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if tt.check != nil && !tt.check(c) {
				t.Errorf("config %+v does not hold what %q say", c, tt.args)
			}
		})
	}
}

// TestPacedPick checks that paced picks are spread over time: 21 picks at
// 100 a second from three workers take at least the 200 ms of their 20
// intervals.
func TestPacedPick(t *testing.T) {
	t.Parallel()
	pick := pacedPick(func(*worker) (int, bool) { return 7, true }, 100)
	start := time.Now()
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			for range 7 {
				if i, ok := pick(nil); i != 7 || !ok {
					t.Errorf("pick: got %d %v, want 7 true", i, ok)
				}
			}
		})
	}
	wg.Wait()
	if d := time.Since(start); d < 195*time.Millisecond {
		t.Errorf("21 picks at 100/s took %s, want at least 200ms", d)
	}

	// Slots missed while no worker asked are made up at once, not
	// skipped: 10 picks after a 100 ms pause (10 slots) take no longer.
	time.Sleep(100 * time.Millisecond)
	start = time.Now()
	for range 10 {
		pick(nil)
	}
	if d := time.Since(start); d > 50*time.Millisecond {
		t.Errorf("10 picks for missed slots took %s, want them at once", d)
	}
}

// Each scenario reads only things that exist: the imports scenarios read
// among the things that import templates (fewer than N when N is large),
// HISTORY_READ among the revisions of its thing.
func TestPickStaysWithinTheScenariosThings(t *testing.T) {
	t.Parallel()
	r := &runner{cfg: config{n: 100000}}
	w := newWorkers(1)[0]
	for _, sc := range []string{scImportsRead, scImportsChange} {
		pick := r.pick(sc)
		for range 10000 {
			if i, _ := pick(w); i >= r.importedThings() {
				t.Fatalf("%s picked thing %d of %d", sc, i, r.importedThings())
			}
		}
	}
	pick := r.pick(scHistoryRead)
	for range 10000 {
		if i, _ := pick(w); i >= r.historyRevisions() {
			t.Fatalf("%s picked revision %d of %d", scHistoryRead, i, r.historyRevisions())
		}
	}
}
