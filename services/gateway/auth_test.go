package gateway

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/streams"
)

func TestParseUsers(t *testing.T) {
	t.Parallel()
	hash := func(pw string) string {
		h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		return string(h)
	}
	a, b := hash("a"), hash("b")
	y := "$2y$" + b[4:] // htpasswd -B writes $2y$
	tests := []struct {
		name    string
		in      string
		want    []string // users
		wantErr bool
	}{
		{name: "two users", in: "alice:" + a + "\nbob:" + b + "\n", want: []string{"alice", "bob"}},
		{name: "comments, blanks, CRLF, spaces", in: "# users\r\n\r\n  alice:" + a + "  \r\n", want: []string{"alice"}},
		{name: "2y prefix", in: "bob:" + y, want: []string{"bob"}},
		{name: "empty file", in: "", want: []string{}},
		{name: "no colon", in: "alice", wantErr: true},
		{name: "empty user", in: ":" + a, wantErr: true},
		{name: "crypt hash", in: "ditto:A6BgmB8IEtPTs", wantErr: true},
		{name: "apr1 hash", in: "ditto:$apr1$x$abcdefghijklmnopqrstuv", wantErr: true},
		{name: "sha hash", in: "ditto:{SHA}qUqP5cyxm6YcTAhz05Hph5gvu9M=", wantErr: true},
		{name: "repeated user", in: "alice:" + a + "\nalice:" + b, wantErr: true},
		{name: "truncated bcrypt", in: "alice:" + a[:59], wantErr: true},
		{name: "line too long", in: "alice:" + strings.Repeat("x", maxUserLine+1), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			users, err := ParseUsers(strings.NewReader(tt.in))
			if tt.wantErr {
				if !errors.Is(err, ErrUsersFile) {
					t.Fatalf("got error %v, want ErrUsersFile", err)
				}
				for _, secret := range []string{a[7:], b[7:], "A6BgmB8IEtPTs", "qUqP5cyx"} {
					if err != nil && strings.Contains(err.Error(), secret) {
						t.Errorf("error %q repeats a hash", err)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want none", err)
			}
			if len(users) != len(tt.want) {
				t.Fatalf("got %d users, want %d", len(users), len(tt.want))
			}
			for _, u := range tt.want {
				if _, ok := users[u]; !ok {
					t.Errorf("user %q missing", u)
				}
			}
		})
	}
}

// FuzzParseUsers checks that no input crashes the parser and that every
// accepted hash is one bcrypt reads.
func FuzzParseUsers(f *testing.F) {
	f.Add("alice:$2a$04$L85AHftUGEoEBGm4Q61Ko.a4loy5iyHHw2ykX/Sa0igj5kQB/i8rq\n")
	f.Add("# c\n\nbob:$2y$10$abcdefghijklmnopqrstuuabcdefghijklmnopqrstuvwxyz01234")
	f.Add("x")
	f.Add(":\n:")
	f.Fuzz(func(t *testing.T, in string) {
		users, err := ParseUsers(strings.NewReader(in))
		if err != nil {
			if !errors.Is(err, ErrUsersFile) {
				t.Fatalf("error %v does not wrap ErrUsersFile", err)
			}
			return
		}
		for u, h := range users {
			if u == "" {
				t.Fatal("accepted an empty user name")
			}
			if _, err := bcrypt.Cost(h); err != nil {
				t.Fatalf("accepted hash %q of %q that bcrypt refuses: %v", h, u, err)
			}
		}
	})
}

// TestAuthentication covers the ways a request is (not) authenticated and
// the subject the services then see.
func TestAuthentication(t *testing.T) {
	t.Parallel()
	off := newHarness(t, nil)
	on := newHarness(t, func(c *Config) { c.PreAuthentication = true })
	tests := []struct {
		name    string
		h       *harness
		header  map[string]string
		target  string
		status  int
		subject string // the Ditto-Auth header the service sees, when 200
		message string // the error message, when 401
	}{
		{name: "no credentials", h: off, header: map[string]string{"Authorization": ""},
			status: 401, message: "Unauthorized."},
		{name: "wrong password", h: off, header: map[string]string{"Authorization": "Basic " + enc("ditto:wrong")},
			status: 401, message: "Unauthorized."},
		{name: "unknown user", h: off, header: map[string]string{"Authorization": "Basic " + enc("mallory:mallory-pw")},
			status: 401, message: "Unauthorized."},
		{name: "devops is no API user", h: off, header: map[string]string{"Authorization": "Basic " + enc("devops:foobar")},
			status: 401, message: "Unauthorized."},
		{name: "garbage basic", h: off, header: map[string]string{"Authorization": "Basic %%%"},
			status: 401, message: "Unauthorized."},
		{name: "right credentials", h: off, status: 200, subject: `["nginx:ditto"]`},
		{name: "other user", h: off, header: map[string]string{"Authorization": basic("alice")},
			status: 200, subject: `["nginx:alice"]`},
		{name: "lower-case scheme", h: off, header: map[string]string{"Authorization": "basic " + enc("ditto:ditto-pw")},
			status: 200, subject: `["nginx:ditto"]`},
		{name: "pre-auth header ignored while disabled", h: off,
			header: map[string]string{"Authorization": "", "X-Ditto-Pre-Authenticated": "nginx:admin"},
			status: 401, message: "Unauthorized."},
		{name: "pre-auth query ignored while disabled", h: off, target: thingURL + "?x-ditto-pre-authenticated=nginx:admin",
			header: map[string]string{"Authorization": ""}, status: 401, message: "Unauthorized."},
		{name: "spoofing while disabled keeps the basic subject", h: off,
			header: map[string]string{"X-Ditto-Pre-Authenticated": "nginx:admin", "Ditto-Auth": `["nginx:admin"]`},
			status: 200, subject: `["nginx:ditto"]`},
		{name: "pre-auth header", h: on, header: map[string]string{"Authorization": "", "X-Ditto-Pre-Authenticated": "nginx:admin"},
			status: 200, subject: `["nginx:admin"]`},
		{name: "pre-auth several subjects", h: on,
			header: map[string]string{"Authorization": "", "X-Ditto-Pre-Authenticated": " google:a ,nginx:b,"},
			status: 200, subject: `["google:a","nginx:b"]`},
		{name: "pre-auth query parameter", h: on, target: thingURL + "?x-ditto-pre-authenticated=nginx:q",
			header: map[string]string{"Authorization": ""}, status: 200, subject: `["nginx:q"]`},
		{name: "pre-auth wins over basic", h: on, header: map[string]string{"X-Ditto-Pre-Authenticated": "nginx:proxy"},
			status: 200, subject: `["nginx:proxy"]`},
		{name: "pre-auth without subject", h: on, header: map[string]string{"Authorization": "", "X-Ditto-Pre-Authenticated": " , "},
			status: 401, message: "Failed to extract AuthorizationSubjects from pre-authenticated header value < , >!"},
		{name: "basic still works with pre-auth enabled", h: on, status: 200, subject: `["nginx:ditto"]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			target := tt.target
			if target == "" {
				target = thingURL
			}
			w := tt.h.do(req{method: "GET", target: target, header: tt.header})
			if w.Code != tt.status {
				t.Fatalf("status: got %d, want %d; body %s", w.Code, tt.status, w.Body)
			}
			if tt.status == http.StatusUnauthorized {
				if g := w.Header().Get("WWW-Authenticate"); g != `Basic realm="Authentication required"` {
					t.Errorf("WWW-Authenticate: got %q", g)
				}
				var e protocol.Error
				if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil {
					t.Fatal(err)
				}
				if e.Code != protocol.CodeGatewayAuthenticationFailed || e.Message != tt.message {
					t.Errorf("error: got %s %q, want %s %q", e.Code, e.Message, protocol.CodeGatewayAuthenticationFailed, tt.message)
				}
				if got := tt.h.commands(); len(got) != 0 {
					t.Errorf("sent %d commands, want none", len(got))
				}
				return
			}
			c := tt.h.waitCommands(1)[0]
			if g := c.header.Get(streams.HeaderAuth); g != tt.subject {
				t.Errorf("%s: got %s, want %s", streams.HeaderAuth, g, tt.subject)
			}
		})
	}
}

func enc(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// TestLoginCache checks that a successful login is remembered (a second
// request does not consult the hash) and a failed one is not.
func TestLoginCache(t *testing.T) {
	t.Parallel()
	hash, err := bcrypt.GenerateFromPassword([]byte("pw"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a := newAuthenticator(map[string][]byte{"u": hash}, false)
	if _, err := a.basicLogin("Basic " + enc("u:wrong")); !errors.Is(err, errBadCredentials) {
		t.Fatalf("wrong password: got %v, want errBadCredentials", err)
	}
	if len(a.logins) != 0 {
		t.Errorf("failed login cached: %d entries, want 0", len(a.logins))
	}
	p, err := a.basicLogin("Basic " + enc("u:pw"))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	// Break the stored hash: only the cache can authenticate now.
	a.users["u"] = []byte("broken")
	p2, err := a.basicLogin("Basic " + enc("u:pw"))
	if err != nil {
		t.Fatalf("cached login: %v", err)
	}
	if p2 != p {
		t.Errorf("cached login returned another principal")
	}
	if _, err := a.basicLogin("Basic " + enc("u:pw2")); !errors.Is(err, errBadCredentials) {
		t.Errorf("other password after caching: got %v, want errBadCredentials", err)
	}
	for k := range a.logins {
		if strings.Contains(string(k[:]), "pw") {
			t.Errorf("cache key holds the password")
		}
	}
}

// TestDefaultUsers checks the built-in users of Ditto's stock deployment.
func TestDefaultUsers(t *testing.T) {
	t.Parallel()
	users, err := loadUsers("")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ditto", "ditto2"} {
		if err := bcrypt.CompareHashAndPassword(users[u], []byte(u)); err != nil {
			t.Errorf("%s/%s: %v", u, u, err)
		}
	}
	if len(users) != 2 {
		t.Errorf("got %d default users, want 2", len(users))
	}
}

func TestUsersFileErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("ditto:A6BgmB8IEtPTs\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadUsers(bad); !errors.Is(err, ErrUsersFile) {
		t.Errorf("crypt users file: got %v, want ErrUsersFile", err)
	}
	if _, err := loadUsers(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing users file: got %v, want os.ErrNotExist", err)
	}
}
