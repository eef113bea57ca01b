package e2e_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/e2e/internal/harness"
)

// requireNodeEnv, when set, turns a missing node or missing node_modules
// into a failure: `make test` sets it (after installing the client with
// `npm ci`), so CI cannot skip TestJSClient silently.
const requireNodeEnv = "DITTO_E2E_REQUIRE_NODE"

// TestJSClient runs Eclipse Ditto's official JavaScript client, unchanged
// (@eclipse-ditto/ditto-javascript-client-node, pinned in
// jsclient/package-lock.json), against bin/ditto's /ws/2: thing commands
// and their responses, change notifications of another session's HTTP
// PUT, the policy over WebSocket and HTTP, and deletion. The script checks
// each step and exits 0 only if all of them checked out; its output (each
// step and every WebSocket frame) is logged.
func TestJSClient(t *testing.T) {
	t.Parallel()
	script, err := filepath.Abs(filepath.Join("jsclient", "client.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	clientPkg := filepath.Join(filepath.Dir(script), "node_modules", "@eclipse-ditto", "ditto-javascript-client-node", "package.json")
	node, nodeErr := exec.LookPath("node")
	_, modErr := os.Stat(clientPkg)
	if nodeErr != nil || modErr != nil {
		why := "node is not on PATH"
		if nodeErr == nil {
			why = "the client is not installed (" + clientPkg + " is missing)"
		}
		if os.Getenv(requireNodeEnv) == "" {
			t.Skipf("%s: run `make test` (which installs it with npm ci), or `npm ci --prefix e2e/jsclient`; %s=1 makes this a failure", why, requireNodeEnv)
		}
		t.Fatalf("%s, and %s is set", why, requireNodeEnv)
	}

	_, base, _ := allInOne(t, t.TempDir())
	p := harness.Start(t, "jsclient", node, []string{script, base}, map[string]string{
		"DITTO_USER":      "ditto",
		"DITTO_PASSWORD":  "ditto",
		"STEP_TIMEOUT_MS": "10000",
	})
	code := p.Wait(3 * time.Minute)
	out := p.Log()
	t.Logf("output of the JavaScript client:\n%s", out)
	if code != 0 {
		t.Fatalf("the JavaScript client exited with %d (its FAIL line says which step)", code)
	}
	if !strings.Contains(out, "\nPASS ") {
		t.Fatalf("the JavaScript client exited with 0 but printed no PASS line")
	}
}
