package platform

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

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
