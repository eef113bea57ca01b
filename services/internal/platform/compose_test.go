package platform

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/kelseyhightower/envconfig"
	"go.yaml.in/yaml/v3"
)

// Every variable compose.yaml sets on a platform container must be one the
// binaries read: a typo there would silently run with a default.
func TestComposeSetsOnlyKnownVariables(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Build       any               `yaml:"build"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	known := knownVariables(t)
	checked := 0
	for name, svc := range compose.Services {
		if svc.Build == nil {
			continue // third-party images (nats, mongodb)
		}
		if len(svc.Environment) == 0 {
			t.Errorf("service %s sets no environment", name)
		}
		for key := range svc.Environment {
			checked++
			if !known[key] {
				t.Errorf("compose.yaml: service %s sets %s, which no binary reads", name, key)
			}
		}
	}
	if checked < 10 {
		t.Errorf("only %d variables checked; did the compose file lose its services?", checked)
	}
}

func knownVariables(t *testing.T) map[string]bool {
	t.Helper()
	var b strings.Builder
	if err := Usage(&b); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, line := range strings.Split(b.String(), "\n")[1:] {
		if f := strings.Fields(line); len(f) > 0 {
			known[f[0]] = true
		}
	}
	return known
}

// The README's configuration table lists exactly the variables the
// binaries read.
func TestReadmeDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "| `") {
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "| `"), "`")
			if documented[name] {
				t.Errorf("README.md documents %s twice", name)
			}
			documented[name] = true
		}
	}
	known := knownVariables(t)
	var missing, extra []string
	for k := range known {
		if !documented[k] {
			missing = append(missing, k)
		}
	}
	for k := range documented {
		if !known[k] && strings.ToUpper(k) == k {
			extra = append(extra, k)
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	if len(missing) > 0 {
		t.Errorf("README.md does not document %v", missing)
	}
	if len(extra) > 0 {
		t.Errorf("README.md documents variables no binary reads: %v", extra)
	}
}

// Every variable is read by one configuration section only, so that it
// means the same in every binary: the limits, which the gateway and both
// services apply, are their own section.
func TestEveryVariableReadOnce(t *testing.T) {
	t.Parallel()
	var cfg Config
	sections := map[string]int{}
	for _, part := range cfg.parts() {
		var b strings.Builder
		if err := envconfig.Usagef("", part, &b, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
			t.Fatal(err)
		}
		for _, key := range strings.Fields(b.String()) {
			sections[key]++
		}
	}
	for key, n := range sections {
		if n > 1 {
			t.Errorf("%s is read by %d configuration sections", key, n)
		}
	}
	if sections["LIMITS_THINGS_MAX_SIZE"] != 1 {
		t.Error("LIMITS_THINGS_MAX_SIZE is read by no section")
	}
}

// Load hands the limits it read to every section that applies them, and
// 0 (no limit) is valid everywhere. It sets variables, so it runs alone.
func TestLoadSharesLimits(t *testing.T) {
	t.Setenv("LIMITS_THINGS_MAX_SIZE", "0")
	t.Setenv("LIMITS_POLICIES_MAX_SIZE", "2m")
	cfg, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := cfg.Limits
	if want.ThingsMaxSize != 0 || want.PoliciesMaxSize != 2<<20 {
		t.Fatalf("limits %+v, want things 0 and policies 2 MiB", want)
	}
	for name, got := range map[string]any{"things": cfg.Things.Limits, "policies": cfg.Policies.Limits, "gateway": cfg.Gateway.Limits} {
		if got != want {
			t.Errorf("%s limits %+v, want %+v", name, got, want)
		}
	}
	if err := cfg.Things.Validate(); err != nil {
		t.Errorf("things with no size limit: %v", err)
	}
	if err := cfg.Gateway.Validate(); err != nil {
		t.Errorf("gateway with no size limit: %v", err)
	}
	t.Setenv("LIMITS_THINGS_MAX_SIZE", "-1")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "LIMITS_THINGS_MAX_SIZE") {
		t.Errorf("LIMITS_THINGS_MAX_SIZE=-1: got %v, want an error naming it", err)
	}
}
