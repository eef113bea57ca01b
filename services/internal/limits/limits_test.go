package limits

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
)

func TestParseByteSize(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in    string
		want  ByteSize
		valid bool
	}{
		{"102400", 102400, true},
		{"100k", 102400, true},
		{"100K", 102400, true},
		{"100 KiB", 102400, true},
		{"100kB", 100000, true},
		{"2MiB", 2 << 20, true},
		{"1 gigabyte", 1e9, true},
		{" 7 bytes ", 7, true},
		{"0", 0, true},
		{"-1", -1, true},
		{"", 0, false},
		{"k", 0, false},
		{"1.5k", 0, false},
		{"10 parsecs", 0, false},
		{"9223372036854775807k", 0, false},
		{"-9223372036854775807G", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := ParseByteSize(tt.in)
			if (err == nil) != tt.valid {
				t.Fatalf("error %v, want valid=%v", err, tt.valid)
			}
			if got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

// FuzzParseByteSize checks that size parsing never panics and that what it
// accepts prints back to the same number of bytes.
func FuzzParseByteSize(f *testing.F) {
	for _, s := range []string{"100k", "2 MiB", "0", "-1", "1kB", "9223372036854775807", "k", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseByteSize(s)
		if err != nil {
			return
		}
		back, err := ParseByteSize(strconv.FormatInt(int64(v), 10))
		if err != nil || back != v {
			t.Fatalf("ParseByteSize(%q) = %d, which parses back as %d (%v)", s, v, back, err)
		}
	})
}

// The defaults are what the environment without any variable gives, 0 is
// valid everywhere (no limit) and a negative size is named.
func TestConfig(t *testing.T) {
	for _, v := range []string{"LIMITS_THINGS_MAX_SIZE", "LIMITS_POLICIES_MAX_SIZE", "LIMITS_MESSAGES_MAX_SIZE"} {
		t.Setenv(v, "") // restored after the test
		os.Unsetenv(v)
	}
	var got Config
	if err := envconfig.Process("", &got); err != nil {
		t.Fatal(err)
	}
	if got != DefaultConfig() {
		t.Errorf("from an empty environment: got %+v, want %+v", got, DefaultConfig())
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("all 0 (no limits): got %v, want valid", err)
	}
	err := Config{ThingsMaxSize: -1, MessagesMaxSize: -2}.Validate()
	for _, name := range []string{"LIMITS_THINGS_MAX_SIZE", "LIMITS_MESSAGES_MAX_SIZE"} {
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("negative sizes: got %v, want an error naming %s", err, name)
		}
	}
}
