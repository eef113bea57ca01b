package e2e_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/e2e/internal/harness"
	"github.com/dittonats/dittonats/streams"
)

// A service binary with a missing, wrong or unusable NATS credential stops
// at start and says why, naming the variable or the server's refusal, and
// never the secret.
func TestNATSCredentialsAreChecked(t *testing.T) {
	n := harness.NATSServer(t)
	const secret = "not-the-gateway-password-1234"
	unreadable := filepath.Join(t.TempDir(), "gateway.nk")
	if err := os.WriteFile(unreadable, []byte("x"), 0o000); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  map[string]string
		code int
		want string
	}{
		{"no credential", map[string]string{}, 1, "Authorization Violation"},
		{"wrong password", map[string]string{"NATS_USER": "gateway", "NATS_PASSWORD": secret}, 1, "Authorization Violation"},
		{"user without password", map[string]string{"NATS_USER": "gateway"}, 2, "NATS_USER: set without NATS_PASSWORD"},
		{"missing nkey file", map[string]string{"NATS_NKEY": "/nonexistent/gateway.nk"}, 2, "NATS_NKEY: open /nonexistent/gateway.nk"},
		{"two credentials", map[string]string{"NATS_NKEY": n.Seeds[streams.RoleThings], "NATS_USER": "gateway", "NATS_PASSWORD": secret}, 2, "set only one NATS credential"},
	}
	if os.Getuid() != 0 { // root reads any file
		tests = append(tests, struct {
			name string
			env  map[string]string
			code int
			want string
		}{"unreadable nkey file", map[string]string{"NATS_NKEY": unreadable}, 2, "NATS_NKEY: open " + unreadable})
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"NATS_URL": n.URL, "HTTP_PORT": "0", "BIND_HOSTNAME": "127.0.0.1"}
			for k, v := range tc.env {
				env[k] = v
			}
			p := harness.Start(t, "gateway", harness.Bin(t, "gateway"), nil, env)
			code := p.Wait(30 * time.Second)
			log := p.Log()
			if code != tc.code || !strings.Contains(log, tc.want) {
				t.Errorf("exit %d, want %d; log lacks %q:\n%s", code, tc.code, tc.want, log)
			}
			if strings.Contains(log, secret) {
				t.Errorf("the log shows the secret:\n%s", log)
			}
		})
	}
}
