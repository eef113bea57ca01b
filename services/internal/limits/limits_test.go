package limits

import "testing"

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		want ByteSize
		ok   bool
	}{
		{"100k", 102400, true},
		{"100K", 102400, true},
		{"250kB", 256000, true},
		{"1m", 1 << 20, true},
		{"1.5M", 3 << 19, true},
		{"2048", 2048, true},
		{" 10 b ", 10, true},
		{"1g", 1 << 30, true},
		{"", 0, false},
		{"k", 0, false},
		{"10x", 0, false},
		{"1.2.3k", 0, false},
		{"99999999999g", 0, false},
	}
	for _, tc := range tests {
		got, err := ParseByteSize(tc.in)
		if (err == nil) != tc.ok || (tc.ok && got != tc.want) {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d, ok=%v", tc.in, got, err, tc.want, tc.ok)
		}
	}
}

func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"100k", "1.5m", "2048", "x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseByteSize(s)
		if err == nil && n < 0 {
			t.Fatalf("ParseByteSize(%q) = %d, negative", s, n)
		}
	})
}
