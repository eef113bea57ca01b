package main

import (
	"errors"
	"os"
	"runtime"
	"testing"
	"time"
)

func TestParseVmRSS(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  string
		want    int64
		wantErr bool
	}{
		{"typical", "Name:\tditto\nVmPeak:\t  999 kB\nVmRSS:\t   12345 kB\nRssAnon:\t 1 kB\n", 12345 << 10, false},
		{"last line without newline", "Name:\tx\nVmRSS:\t1 kB", 1 << 10, false},
		{"missing", "Name:\tkthreadd\nState:\tS\n", 0, true},
		{"not a number", "VmRSS:\tlots kB\n", 0, true},
		{"wrong unit", "VmRSS:\t12 MB\n", 0, true},
		{"empty", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseVmRSS([]byte(tt.status))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestParseVmRSSMissingIsErrNoVmRSS(t *testing.T) {
	t.Parallel()
	if _, err := parseVmRSS([]byte("Name:\tx\n")); !errors.Is(err, errNoVmRSS) {
		t.Errorf("got %v, want errNoVmRSS", err)
	}
}

func TestParseStatCPU(t *testing.T) {
	t.Parallel()
	// Fields after the name: state ppid pgrp session tty tpgid flags minflt
	// cminflt majflt cmajflt utime stime ...
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"typical", "4242 (ditto) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0", 300 * clockTick, false},
		{"name with spaces and parens", "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0", 7 * clockTick, false},
		{"no name", "7 R 1 2 3", 0, true},
		{"too short", "7 (x) R 1 2", 0, true},
		{"bad number", "7 (x) R 1 7 7 0 -1 0 0 0 0 0 u 4 0 0", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// The live /proc files parse; skipped where there is no /proc.
func TestProcSelf(t *testing.T) {
	t.Parallel()
	if runtime.GOOS != "linux" {
		t.Skip("no /proc")
	}
	n, err := rss(os.Getpid())
	if err != nil || n <= 0 {
		t.Errorf("rss(self) = %d, %v, want > 0, nil", n, err)
	}
	if _, err := cpuTime("self"); err != nil {
		t.Errorf("cpuTime(self): %v", err)
	}
}

func FuzzParseVmRSS(f *testing.F) {
	f.Add([]byte("VmRSS:\t   12345 kB\n"))
	f.Add([]byte("Name:\tx\nVmRSS:\t1 kB"))
	f.Add([]byte("VmRSS:"))
	f.Fuzz(func(t *testing.T, b []byte) {
		n, err := parseVmRSS(b)
		if err != nil && n != 0 {
			t.Errorf("got %d with error %v, want 0", n, err)
		}
	})
}

func FuzzParseStatCPU(f *testing.F) {
	f.Add([]byte("4242 (ditto) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0"))
	f.Add([]byte("7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := parseStatCPU(b)
		if err != nil && d != 0 {
			t.Errorf("got %v with error %v, want 0", d, err)
		}
	})
}
