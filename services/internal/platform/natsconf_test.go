package platform

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"
	"go.yaml.in/yaml/v3"

	"github.com/dittonats/dittonats/streams"
)

var update = flag.Bool("update", false, "rewrite deploy/nats-server.conf from the roles")

// passwordVariable is the environment variable compose.yaml gives the NATS
// server with role r's password.
func passwordVariable(r streams.Role) string {
	return "DITTO_NATS_" + strings.ToUpper(strings.ReplaceAll(string(r), "-", "_")) + "_PASSWORD"
}

// deployConfig renders deploy/nats-server.conf: the roles of streams with
// passwords from the environment, and the message size the embedded server
// allows.
func deployConfig(t *testing.T) string {
	t.Helper()
	var users []streams.User
	for _, r := range streams.Roles {
		users = append(users, streams.User{Role: r, PasswordVariable: passwordVariable(r)})
	}
	auth, err := streams.New("").AuthorizationConfig(users)
	if err != nil {
		t.Fatal(err)
	}
	return `# NATS configuration of compose.yaml: only the platform's roles, each with
# the least permissions it needs. Generated from streams/roles.go by
#   go test ./services/internal/platform -run TestDeployNATSConfig -update
# Passwords come from the environment (compose.yaml passes them from .env).

max_payload: 8MB

` + auth
}

// deploy/nats-server.conf is what the roles say, parses as nats-server
// parses it, and compose.yaml gives the server every password and each
// service its role's.
func TestDeployNATSConfig(t *testing.T) {
	path := filepath.Join("..", "..", "..", "deploy", "nats-server.conf")
	want := deployConfig(t)
	if *update {
		if err := os.WriteFile(path, []byte(want), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != want {
		t.Fatalf("%s differs from the roles in streams/roles.go; rerun with -update", path)
	}
	for _, r := range streams.Roles {
		t.Setenv(passwordVariable(r), "pw-"+string(r))
	}
	opts, err := server.ProcessConfigFile(path)
	if err != nil {
		t.Fatalf("nats-server cannot parse %s: %v", path, err)
	}
	if len(opts.Users) != len(streams.Roles) {
		t.Fatalf("%d users, want one per role", len(opts.Users))
	}
	for _, u := range opts.Users {
		if u.Password != "pw-"+u.Username || u.Permissions == nil || u.Permissions.Publish == nil {
			t.Errorf("user %s: password from the environment %t, permissions %+v", u.Username, u.Password == "pw-"+u.Username, u.Permissions)
		}
	}

	data, err := os.ReadFile(filepath.Join("..", "..", "..", "compose.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatal(err)
	}
	nats := compose.Services["nats"]
	for _, r := range streams.Roles {
		if v := nats.Environment[passwordVariable(r)]; !strings.HasPrefix(v, "${"+passwordVariable(r)+":?") {
			t.Errorf("compose.yaml: the nats service gets %s as %q, want it required from .env", passwordVariable(r), v)
		}
	}
	if !strings.Contains(strings.Join(nats.Volumes, " "), "./deploy/nats-server.conf:") {
		t.Errorf("compose.yaml: the nats service does not mount deploy/nats-server.conf: %v", nats.Volumes)
	}
	for _, r := range []streams.Role{streams.RoleThings, streams.RolePolicies, streams.RoleGateway} {
		env := compose.Services[string(r)].Environment
		if env["NATS_USER"] != string(r) || !strings.HasPrefix(env["NATS_PASSWORD"], "${"+passwordVariable(r)+":?") {
			t.Errorf("compose.yaml: service %s connects as %q with %q, want its role and password", r, env["NATS_USER"], env["NATS_PASSWORD"])
		}
	}
}
