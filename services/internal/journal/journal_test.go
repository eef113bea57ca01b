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

func TestNamespacePrefix(t *testing.T) {
	tests := []struct {
		name, kind, ns, want string
	}{
		{"namespace", "thing", "org.acme", "thing:org.acme:"},
		{"empty namespace", "policy", "", "policy::"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NamespacePrefix(tt.kind, tt.ns)
			if p != tt.want {
				t.Fatalf("got %q, want %q", p, tt.want)
			}
			end := PrefixEnd(p)
			for _, pid := range []string{p + "x", p + "\U0010FFFF", p} {
				if !(pid >= p && pid < end) {
					t.Errorf("%q is outside [%q, %q)", pid, p, end)
				}
			}
			for _, pid := range []string{tt.kind + ":" + tt.ns + "2:x", tt.kind + ":" + tt.ns + ".b:x", tt.kind + ":" + tt.ns} {
				if pid >= p && pid < end {
					t.Errorf("%q is inside [%q, %q)", pid, p, end)
				}
			}
		})
	}
}

func TestCheckNamespace(t *testing.T) {
	tests := []struct {
		name, kind, ns string
		ok             bool
	}{
		{"namespace", "thing", "org.acme", true},
		{"empty namespace", "thing", "", true},
		{"empty kind", "", "org", false},
		{"kind with colon", "thing:x", "org", false},
		{"namespace with colon", "thing", "org:x", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckNamespace(tt.kind, tt.ns)
			if tt.ok && err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			if !tt.ok && !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %v, want ErrInvalid", err)
			}
		})
	}
}
