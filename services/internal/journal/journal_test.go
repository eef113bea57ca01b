package journal

import (
	"errors"
	"testing"
)

func TestCheckName(t *testing.T) {
	tests := []struct {
		name  string
		input string
		ok    bool
	}{
		{"things", Things, true},
		{"policies", Policies, true},
		{"connection", Connections, true},
		{"digits and underscore", "a_1", true},
		{"32 characters", "abcdefghijklmnopqrstuvwxyzabcdef", true},
		{"empty", "", false},
		{"33 characters", "abcdefghijklmnopqrstuvwxyzabcdefg", false},
		{"leading digit", "1things", false},
		{"leading underscore", "_things", false},
		{"uppercase", "Things", false},
		{"dot", "things.x", false},
		{"sql injection", "t; DROP TABLE x", false},
		{"dash", "a-b", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckName(tt.input)
			if tt.ok && err != nil {
				t.Fatalf("CheckName(%q) = %v, want nil", tt.input, err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("CheckName(%q) = %v, want ErrInvalid", tt.input, err)
			}
		})
	}
}

func TestTables(t *testing.T) {
	if got, want := JournalTable(Things), "things_journal"; got != want {
		t.Errorf("JournalTable(things) = %q, want %q", got, want)
	}
	if got, want := SnapshotTable(Connections), "connection_snaps"; got != want {
		t.Errorf("SnapshotTable(connection) = %q, want %q", got, want)
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		pid  string
		sn   int64
		ok   bool
	}{
		{"first revision", "thing:a:b", 1, true},
		{"empty pid", "", 1, false},
		{"zero sn", "thing:a:b", 0, false},
		{"negative sn", "thing:a:b", -3, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for kind, err := range map[string]error{
				"event":    Event{PID: tt.pid, SN: tt.sn}.Check(),
				"snapshot": Snapshot{PID: tt.pid, SN: tt.sn}.Check(),
			} {
				if tt.ok && err != nil {
					t.Errorf("%s check = %v, want nil", kind, err)
				}
				if !tt.ok && !errors.Is(err, ErrInvalid) {
					t.Errorf("%s check = %v, want ErrInvalid", kind, err)
				}
			}
		})
	}
}
