package gateway

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/dittonats/dittonats/protocol"
)

// Authentication as Ditto's stock deployment does it: nginx checks basic
// auth against an htpasswd file and forwards "x-ditto-pre-authenticated:
// nginx:<user>". The gateway does both halves itself, so a user u of the
// users file is the subject "nginx:u".

// subjectIssuer prefixes basic-auth users, as nginx does in Ditto's stock
// deployment.
const subjectIssuer = "nginx:"

// realmAPI is the basic-auth realm nginx announces for /api in Ditto's
// stock deployment.
const realmAPI = "Authentication required"

// realmStatus is Ditto's realm for /status (DevOpsOAuth2AuthenticationDirective.REALM_STATUS).
const realmStatus = "DITTO-STATUS"

// headerPreAuthenticated is Ditto's pre-authentication header and query
// parameter (HttpHeader.X_DITTO_PRE_AUTH).
const headerPreAuthenticated = "x-ditto-pre-authenticated"

// devOpsUser is the one user of the DevOps and status resources.
const devOpsUser = "devops"

// defaultUsers are the users of Ditto's stock deployment, used when no users
// file is configured: ditto/ditto and ditto2/ditto2 (bcrypt, cost 10,
// hashed once when this file was written so start-up stays fast).
const defaultUsers = `ditto:$2a$10$p6.oPBmG0Y8tQHSDCjt56egNaQgtftO49UME1JV4ASzM1LpQDfRve
ditto2:$2a$10$Qh.1LckU0swSieRvumy3ueuFVok/a5nyrmZBMUG1I8men8VDp6HdC
`

// ErrUsersFile is the error of a users file that cannot be used.
var ErrUsersFile = errors.New("invalid users file")

// maxUserLine bounds one line of the users file.
const maxUserLine = 4096

// ParseUsers reads an htpasswd-style users file: one "user:hash" per line,
// where hash is a bcrypt hash ($2a$, $2b$ or $2y$). Blank lines and lines
// starting with '#' are skipped; surrounding white space is ignored. Any
// other line, a repeated user or a hash of another scheme (htpasswd's crypt,
// MD5 or SHA variants) is an error wrapping ErrUsersFile that names the
// line, never the hash.
func ParseUsers(r io.Reader) (map[string][]byte, error) {
	users := make(map[string][]byte)
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 256), maxUserLine)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || text[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(text, ":")
		switch {
		case !ok:
			return nil, fmt.Errorf("%w: line %d: want user:hash", ErrUsersFile, line)
		case user == "":
			return nil, fmt.Errorf("%w: line %d: empty user name", ErrUsersFile, line)
		case !isBcrypt(hash):
			return nil, fmt.Errorf("%w: line %d: user %q: not a bcrypt hash ($2a$, $2b$ or $2y$)", ErrUsersFile, line, user)
		}
		if _, dup := users[user]; dup {
			return nil, fmt.Errorf("%w: line %d: user %q repeated", ErrUsersFile, line, user)
		}
		users[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%w: line %d: %w", ErrUsersFile, line+1, err)
	}
	return users, nil
}

// isBcrypt reports whether h looks like a bcrypt hash: "$2x$NN$" and 53
// characters of salt and digest.
func isBcrypt(h string) bool {
	if len(h) != 60 || h[0] != '$' || h[1] != '2' || h[3] != '$' || h[6] != '$' {
		return false
	}
	switch h[2] {
	case 'a', 'b', 'y':
	default:
		return false
	}
	if _, err := bcrypt.Cost([]byte(h)); err != nil {
		return false
	}
	return true
}

// principal is an authenticated caller.
type principal struct {
	subjects []string
	// auth is subjects as the JSON array services read from
	// streams.HeaderAuth, encoded once.
	auth string
	// jwt is the token a caller authenticated with (jwt.go); nil for
	// basic and pre-authentication.
	jwt *jsonWebToken
}

func newPrincipal(subjects ...string) *principal {
	b, err := json.Marshal(subjects)
	if err != nil { // a []string always marshals
		panic(err)
	}
	return &principal{subjects: subjects, auth: string(b)}
}

// maxCachedLogins bounds the login cache; beyond it the cache starts over.
const maxCachedLogins = 10000

// authenticator checks the credentials of API requests.
//
// bcrypt costs tens of milliseconds per check, far too much per request, so
// a successful check is remembered under the SHA-256 of "user:password":
// the next request with the same credentials costs one hash and a map
// look-up. Neither the password nor anything that is not a one-way hash of
// it is kept; failed checks are not cached.
type authenticator struct {
	users   map[string][]byte // read-only after construction
	preAuth bool
	// jwt verifies bearer tokens; nil refuses them (see jwt.go).
	jwt *jwtAuthenticator

	mu     sync.RWMutex // guards logins
	logins map[[sha256.Size]byte]*principal
}

func newAuthenticator(users map[string][]byte, preAuth bool) *authenticator {
	return &authenticator{users: users, preAuth: preAuth, logins: make(map[[sha256.Size]byte]*principal)}
}

// withJWT lets a verify bearer tokens with j.
func (a *authenticator) withJWT(j *jwtAuthenticator) *authenticator {
	a.jwt = j
	return a
}

// errNoCredentials and errBadCredentials both answer Ditto's
// "Unauthorized." 401; they differ only for logs and tests.
var (
	errNoCredentials  = errors.New("no credentials")
	errBadCredentials = errors.New("invalid credentials")
)

// authenticate returns the caller of r. Pre-authentication (when enabled)
// wins over a bearer token and basic auth, as the header of a trusted
// proxy is meant to; then a bearer token, as Ditto's authentication chain
// orders its providers. When pre-authentication is disabled the header is
// ignored, as in Ditto, where its provider is then not part of the
// authentication chain.
func (a *authenticator) authenticate(r *http.Request, query func(string) (string, bool)) (*principal, error) {
	if a.preAuth {
		if v, ok := preAuthenticated(r, query); ok {
			return parsePreAuthenticated(v)
		}
	}
	h := r.Header.Get("Authorization")
	if h == "" && strings.HasPrefix(r.URL.Path, "/ws/") {
		// Ditto's WebSocketJwtExtractor: browsers cannot set headers
		// on a WebSocket upgrade, so the token may come as access_token.
		if t, ok := query("access_token"); ok && t != "" {
			h = "Bearer " + t
		}
	}
	if isBearer(h) {
		if a.jwt == nil {
			return nil, errJWTNotVerified("JWT authentication is not configured.")
		}
		return a.jwt.authenticate(r.Context(), h)
	}
	return a.basicLogin(h)
}

// isBearer reports whether h is an Authorization header value of Ditto's
// JWT provider (HttpUtils.containsAuthorizationForPrefix "Bearer").
func isBearer(h string) bool {
	return strings.HasPrefix(h, "Bearer ")
}

func preAuthenticated(r *http.Request, query func(string) (string, bool)) (string, bool) {
	if vs, ok := r.Header[http.CanonicalHeaderKey(headerPreAuthenticated)]; ok && len(vs) > 0 {
		return vs[0], true
	}
	return query(headerPreAuthenticated)
}

// parsePreAuthenticated reads Ditto's pre-authenticated header value: one
// or more comma-separated "issuer:subject" subjects.
func parsePreAuthenticated(v string) (*principal, error) {
	var subjects []string
	for s := range strings.SplitSeq(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			subjects = append(subjects, s)
		}
	}
	if len(subjects) == 0 {
		return nil, protocol.ErrGatewayAuthenticationFailed(
			fmt.Sprintf("Failed to extract AuthorizationSubjects from pre-authenticated header value <%s>!", v))
	}
	return newPrincipal(subjects...), nil
}

// maxCredentials bounds decoded basic credentials; longer ones are refused.
const maxCredentials = 512

// decodeBasic decodes the credentials of an "Authorization: Basic ..."
// header into buf and returns their length and the index of the ':' that
// separates user and password.
func decodeBasic(h string, buf *[maxCredentials]byte) (n, colon int, ok bool) {
	const prefix = "Basic "
	if len(h) < len(prefix) || !strings.EqualFold(h[:len(prefix)], prefix) {
		return 0, 0, false
	}
	enc := strings.TrimSpace(h[len(prefix):])
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return 0, 0, false
	}
	n, err := base64.StdEncoding.Decode(buf[:], []byte(enc))
	if err != nil {
		return 0, 0, false
	}
	colon = bytes.IndexByte(buf[:n], ':')
	return n, colon, colon >= 0
}

// basicLogin checks the basic credentials of header h. The credentials are
// decoded into a stack buffer and hashed there, so a cached login allocates
// nothing that holds the password.
func (a *authenticator) basicLogin(h string) (*principal, error) {
	var buf [maxCredentials]byte
	n, colon, ok := decodeBasic(h, &buf)
	if !ok {
		return nil, errNoCredentials
	}
	key := sha256.Sum256(buf[:n])
	a.mu.RLock()
	p := a.logins[key]
	a.mu.RUnlock()
	if p != nil {
		return p, nil
	}
	user := string(buf[:colon])
	hash, known := a.users[user]
	if !known || bcrypt.CompareHashAndPassword(hash, buf[colon+1:n]) != nil {
		return nil, errBadCredentials
	}
	p = newPrincipal(subjectIssuer + user)
	a.mu.Lock()
	if len(a.logins) >= maxCachedLogins {
		clear(a.logins)
	}
	a.logins[key] = p
	a.mu.Unlock()
	return p, nil
}

// devOpsAuth checks the basic credentials of the devops user against any of
// passwords, in constant time per password.
func devOpsAuth(r *http.Request, passwords ...string) (ok, given bool) {
	var buf [maxCredentials]byte
	n, colon, given := decodeBasic(r.Header.Get("Authorization"), &buf)
	if !given {
		return false, r.Header.Get("Authorization") != ""
	}
	if string(buf[:colon]) != devOpsUser {
		return false, true
	}
	for _, p := range passwords {
		if subtle.ConstantTimeCompare(buf[colon+1:n], []byte(p)) == 1 {
			return true, true
		}
	}
	return false, true
}
