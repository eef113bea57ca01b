package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/dittonats/dittonats/protocol"
)

// JSON Web Token authentication as Ditto's gateway does it
// (JwtAuthenticationProvider, DefaultJwtValidator, DittoPublicKeyProvider,
// DittoJwtAuthorizationSubjectsProvider): a request with
// "Authorization: Bearer <jwt>" is authenticated by the token when its
// issuer ("iss") is one of the configured OpenID Connect issuers
// (ditto.gateway.authentication.oauth.openid-connect-issuers), its
// signature verifies with a key of the issuer's JWKS (found through the
// issuer's /.well-known/openid-configuration) and exp and nbf hold, with
// the allowed clock skew. The caller's subjects are the issuer's
// auth-subjects templates resolved against the token's claims, each
// prefixed with the issuer's key in the configuration: issuer "myissuer"
// with the default template {{ jwt:sub }} makes the token of sub "alice"
// the subject "myissuer:alice".

// OIDCIssuer is one entry of Ditto's openid-connect-issuers map; the map's
// key is the subject issuer (the prefix of the subjects it authenticates).
type OIDCIssuer struct {
	// Issuer and Issuers are the token issuers ("iss") accepted, without
	// protocol (accounts.google.com); the discovery document is read from
	// <protocol>://<issuer>/.well-known/openid-configuration.
	Issuer  string   `json:"issuer"`
	Issuers []string `json:"issuers"`
	// AuthSubjects are the templates of the subjects a token becomes,
	// {{ jwt:sub }} when empty.
	AuthSubjects []string `json:"auth-subjects"`
	// Ditto's inject-claims-into-headers and prerequisite-conditions, not
	// supported: a configuration setting them is refused rather than
	// silently weakened.
	InjectClaimsIntoHeaders map[string]string `json:"inject-claims-into-headers"`
	PrerequisiteConditions  []string          `json:"prerequisite-conditions"`
}

// ParseOIDCIssuers reads the JSON form of openid-connect-issuers: an
// object of subject issuer to OIDCIssuer. Empty text is no issuer.
func ParseOIDCIssuers(s string) (map[string]OIDCIssuer, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var m map[string]OIDCIssuer
	dec := json.NewDecoder(strings.NewReader(s))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("not a JSON object of <subject issuer>: {\"issuer\", \"auth-subjects\"}: %w", err)
	}
	for prefix, c := range m {
		switch {
		case prefix == "" || strings.Contains(prefix, ":"):
			return nil, fmt.Errorf("%q: a subject issuer must be non-empty and without ':'", prefix)
		case c.Issuer == "" && len(c.Issuers) == 0:
			return nil, fmt.Errorf("%s: issuer is missing", prefix)
		case len(c.InjectClaimsIntoHeaders) > 0:
			return nil, fmt.Errorf("%s: inject-claims-into-headers is not supported", prefix)
		case len(c.PrerequisiteConditions) > 0:
			return nil, fmt.Errorf("%s: prerequisite-conditions are not supported", prefix)
		}
		for _, t := range c.AuthSubjects {
			if _, err := parseTemplate(t); err != nil {
				return nil, fmt.Errorf("%s: auth-subjects: %w", prefix, err)
			}
		}
	}
	return m, nil
}

// jsonWebToken is a verified token.
type jsonWebToken struct {
	claims map[string]any // numbers as json.Number
	// expiry is exp; zero when the token has none.
	expiry time.Time
}

// oidcIssuer is one configured issuer, compiled.
type oidcIssuer struct {
	prefix   string
	issuers  []string
	subjects []template
}

// maxCachedTokens bounds the cache of verified tokens.
const maxCachedTokens = 10000

// jwtAuthenticator verifies bearer tokens.
//
// Keys are fetched once per issuer and kept (go-oidc's RemoteKeySet
// fetches the JWKS again when a token names a key it does not have, which
// follows the issuer's key rotation). A verified token is remembered under
// its SHA-256 until it expires, so a client sending the same token again
// costs no signature check.
type jwtAuthenticator struct {
	protocol string
	skew     time.Duration
	issuers  []oidcIssuer // read-only after construction, sorted by prefix
	client   *http.Client
	now      func() time.Time

	mu     sync.Mutex // guards keys, discoveries and tokens
	keys   map[string]*oidc.RemoteKeySet
	tokens map[[sha256.Size]byte]*principal
	// discoveries are the discovery requests in flight or failed lately,
	// by endpoint: tokens naming an issuer whose keys are being fetched
	// wait for that one fetch, and for discoveryBackoff after a failed
	// one get 503 without another. Without this, anyone could make the
	// gateway send a request to a configured issuer per token it sends
	// (the default google issuer included).
	discoveries map[string]*discovery
}

// discovery is one read of an issuer's discovery document.
type discovery struct {
	done   chan struct{}
	err    error
	failed time.Time // when it failed; zero while in flight
}

// discoveryBackoff is how long a failed discovery is not tried again.
const discoveryBackoff = 5 * time.Second

func newJWTAuthenticator(issuers map[string]OIDCIssuer, protocol string, skew time.Duration) (*jwtAuthenticator, error) {
	a := &jwtAuthenticator{protocol: protocol, skew: skew, client: &http.Client{Timeout: 10 * time.Second},
		now: time.Now, keys: map[string]*oidc.RemoteKeySet{}, tokens: map[[sha256.Size]byte]*principal{},
		discoveries: map[string]*discovery{}}
	for prefix, c := range issuers {
		is := oidcIssuer{prefix: prefix}
		if c.Issuer != "" {
			is.issuers = append(is.issuers, c.Issuer)
		}
		is.issuers = append(is.issuers, c.Issuers...)
		subjects := c.AuthSubjects
		if len(subjects) == 0 {
			subjects = []string{"{{ jwt:sub }}"}
		}
		for _, s := range subjects {
			t, err := parseTemplate(s)
			if err != nil {
				return nil, fmt.Errorf("%s: auth-subjects: %w", prefix, err)
			}
			is.subjects = append(is.subjects, t)
		}
		a.issuers = append(a.issuers, is)
	}
	sort.Slice(a.issuers, func(i, j int) bool { return a.issuers[i].prefix < a.issuers[j].prefix })
	return a, nil
}

// errJWTInvalid is Ditto's JwtInvalidException (400).
func errJWTInvalid(description string) *protocol.Error {
	return protocol.NewError(http.StatusBadRequest, "jwt:invalid", "The JSON Web Token is not valid.", description)
}

// errJWTNotVerified is what Ditto's JwtAuthenticationProvider answers for
// a token that fails validation.
func errJWTNotVerified(description string) *protocol.Error {
	e := protocol.ErrGatewayAuthenticationFailed("The JWT could not be verified.")
	e.Description = description
	return e
}

// errPublicKeyProviderUnavailable is Ditto's
// PublicKeyProviderUnavailableException (503).
func errPublicKeyProviderUnavailable() *protocol.Error {
	return protocol.NewError(http.StatusServiceUnavailable, "gateway:publickey.provider.unavailable",
		"The public key provider is not available.",
		"If after retry it is still unavailable, please contact the service team.")
}

// authenticate verifies the token of the Authorization header value h
// ("Bearer <jwt>") and returns its caller.
func (a *jwtAuthenticator) authenticate(ctx context.Context, h string) (*principal, error) {
	// Ditto's ImmutableJsonWebToken.fromAuthorization: two words.
	parts := strings.Split(h, " ")
	if len(parts) != 2 {
		return nil, errJWTInvalid("The Authorization Header is invalid!")
	}
	raw := parts[1]
	key := sha256.Sum256([]byte(raw))
	a.mu.Lock()
	p := a.tokens[key]
	a.mu.Unlock()
	if p != nil && (p.jwt.expiry.IsZero() || a.now().Before(p.jwt.expiry.Add(a.skew))) {
		return p, nil
	}
	segs := strings.Split(raw, ".")
	if len(segs) != 3 {
		return nil, errJWTInvalid("The token is expected to have three parts: header, payload and signature.")
	}
	claims, err := decodeJWTPart(segs[1])
	if err != nil {
		return nil, errJWTInvalid(err.Error())
	}
	iss, _ := claims["iss"].(string)
	issuer, configured, ok := a.issuer(iss)
	if !ok {
		return nil, protocol.ErrGatewayJWTIssuerNotSupported(iss)
	}
	keys, err := a.keySet(ctx, configured)
	if err != nil {
		return nil, err
	}
	if _, err := keys.VerifySignature(ctx, raw); err != nil {
		if errors.Unwrap(err) != nil { // "fetching keys": the JWKS could not be read
			return nil, errPublicKeyProviderUnavailable()
		}
		return nil, errJWTNotVerified("JWT signature does not match locally computed signature. JWT validity cannot be asserted and should not be trusted.")
	}
	tok := &jsonWebToken{claims: claims}
	if err := a.checkTimes(tok); err != nil {
		return nil, err
	}
	var subjects []string
	for _, t := range issuer.subjects {
		vals, _ := t.resolve("jwt", claims)
		for _, v := range vals {
			if s := issuer.prefix + ":" + v; !slices.Contains(subjects, s) {
				subjects = append(subjects, s)
			}
		}
	}
	if len(subjects) == 0 {
		return nil, errJWTNotVerified("The JWT's claims resolve none of the auth-subjects configured for its issuer.")
	}
	p = newPrincipal(subjects...)
	p.jwt = tok
	a.mu.Lock()
	if len(a.tokens) >= maxCachedTokens {
		clear(a.tokens)
	}
	a.tokens[key] = p
	a.mu.Unlock()
	return p, nil
}

// decodeJWTPart decodes a base64url JSON object of a token.
func decodeJWTPart(s string) (map[string]any, error) {
	b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "="))
	if err != nil {
		return nil, fmt.Errorf("The token part <%s> is not valid base64url.", clipToken(s))
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil || m == nil {
		return nil, fmt.Errorf("The token part <%s> is not a JSON object.", clipToken(s))
	}
	return m, nil
}

func clipToken(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// issuer returns the configured issuer of the token issuer iss, which
// may carry the protocol (JwtSubjectIssuersConfig.getConfigItem), and the
// configured issuer name it matched.
func (a *jwtAuthenticator) issuer(iss string) (oidcIssuer, string, bool) {
	if iss == "" {
		return oidcIssuer{}, "", false
	}
	for _, is := range a.issuers {
		for _, c := range is.issuers {
			if c == iss || a.protocol+"://"+c == iss {
				return is, c, true
			}
		}
	}
	return oidcIssuer{}, "", false
}

// keySet returns the key set of a configured issuer, reading its
// discovery document the first time: once for all tokens that need it at
// the same time, and not again for discoveryBackoff after it failed.
func (a *jwtAuthenticator) keySet(ctx context.Context, issuer string) (*oidc.RemoteKeySet, error) {
	endpoint := a.protocol + "://" + strings.TrimSuffix(issuer, "/") + "/.well-known/openid-configuration"
	a.mu.Lock()
	if ks := a.keys[endpoint]; ks != nil {
		a.mu.Unlock()
		return ks, nil
	}
	d := a.discoveries[endpoint]
	if d != nil && !d.failed.IsZero() && a.now().Sub(d.failed) >= discoveryBackoff {
		d = nil // failed long enough ago: try again
	}
	if d != nil {
		a.mu.Unlock()
		select {
		case <-d.done:
		case <-ctx.Done():
			return nil, errPublicKeyProviderUnavailable()
		}
		if d.err != nil {
			return nil, errPublicKeyProviderUnavailable()
		}
		return a.keySet(ctx, issuer)
	}
	d = &discovery{done: make(chan struct{})}
	a.discoveries[endpoint] = d
	a.mu.Unlock()
	// One fetch for every waiting token: not ended by the first one's client.
	jwksURI, err := a.discover(context.WithoutCancel(ctx), endpoint)
	a.mu.Lock()
	defer a.mu.Unlock()
	defer close(d.done)
	if err != nil {
		d.err, d.failed = err, a.now()
		return nil, errPublicKeyProviderUnavailable()
	}
	delete(a.discoveries, endpoint)
	ks := oidc.NewRemoteKeySet(oidc.ClientContext(context.Background(), a.client), jwksURI)
	a.keys[endpoint] = ks
	return ks, nil
}

// discover reads jwks_uri from an OpenID Connect discovery document.
func (a *jwtAuthenticator) discover(ctx context.Context, endpoint string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return "", err
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return "", fmt.Errorf("discovery %s: status %d", endpoint, resp.StatusCode)
	}
	var doc struct {
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&doc); err != nil {
		return "", fmt.Errorf("discovery %s: %w", endpoint, err)
	}
	if doc.JWKSURI == "" {
		return "", fmt.Errorf("discovery %s: no jwks_uri", endpoint)
	}
	return doc.JWKSURI, nil
}

// jjwtTime is how jjwt prints instants in its messages.
const jjwtTime = "2006-01-02T15:04:05.000Z07:00"

// checkTimes applies exp and nbf with the allowed clock skew, with jjwt's
// messages (which Ditto passes on as the error's description).
func (a *jwtAuthenticator) checkTimes(tok *jsonWebToken) error {
	now := a.now().UTC()
	skewMs := a.skew.Milliseconds()
	if exp, ok := numericDate(tok.claims["exp"]); ok {
		tok.expiry = exp
		if !now.Before(exp.Add(a.skew)) {
			return errJWTNotVerified(fmt.Sprintf("JWT expired %d milliseconds ago at %s. Current time: %s. Allowed clock skew: %d milliseconds.",
				now.Sub(exp).Milliseconds(), exp.Format(jjwtTime), now.Format(jjwtTime), skewMs))
		}
	}
	if nbf, ok := numericDate(tok.claims["nbf"]); ok && now.Add(a.skew).Before(nbf) {
		return errJWTNotVerified(fmt.Sprintf("JWT early by %d milliseconds before %s. Current time: %s. Allowed clock skew: %d milliseconds.",
			nbf.Sub(now).Milliseconds(), nbf.Format(jjwtTime), now.Format(jjwtTime), skewMs))
	}
	return nil
}

// numericDate reads a JWT NumericDate (seconds since the epoch).
func numericDate(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(int64(f * 1000)).UTC(), true
}

// template is a string with Ditto placeholders: literal text and
// {{ prefix:name }} parts.
type template []templatePart

type templatePart struct {
	literal      string
	prefix, name string // of a placeholder
}

var placeholderRE = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)

// parseTemplate splits s into literal text and placeholders. Pipelines
// (| fn:...) are not supported.
func parseTemplate(s string) (template, error) {
	var t template
	last := 0
	for _, m := range placeholderRE.FindAllStringSubmatchIndex(s, -1) {
		if m[0] > last {
			t = append(t, templatePart{literal: s[last:m[0]]})
		}
		expr := s[m[2]:m[3]]
		if strings.Contains(expr, "|") {
			return nil, fmt.Errorf("%q: placeholder functions (|) are not supported", s)
		}
		prefix, name, ok := strings.Cut(expr, ":")
		if !ok || prefix == "" || name == "" {
			return nil, fmt.Errorf("%q: placeholder {{ %s }} is not prefix:name", s, expr)
		}
		t = append(t, templatePart{prefix: strings.TrimSpace(prefix), name: strings.TrimSpace(name)})
		last = m[1]
	}
	if last < len(s) {
		t = append(t, templatePart{literal: s[last:]})
	}
	return t, nil
}

// resolve resolves the placeholders of prefix against claims as Ditto's
// JwtPlaceholder does (the name is a JSON pointer into the claims; arrays
// give one value each) and keeps other placeholders as written. A
// placeholder with several values gives one result per value; one
// without a value gives no result, and its name as unresolved.
func (t template) resolve(prefix string, claims map[string]any) (out []string, unresolved string) {
	out = []string{""}
	for _, p := range t {
		var vals []string
		switch {
		case p.prefix == "":
			vals = []string{p.literal}
		case p.prefix != prefix:
			vals = []string{"{{ " + p.prefix + ":" + p.name + " }}"}
		default:
			vals = claimValues(claims, strings.Split(strings.Trim(p.name, "/"), "/"))
			if len(vals) == 0 {
				return nil, p.prefix + ":" + p.name
			}
		}
		next := make([]string, 0, len(out)*len(vals))
		for _, o := range out {
			for _, v := range vals {
				next = append(next, o+v)
			}
		}
		out = next
	}
	return out, ""
}

// claimValues returns the values at path in v: arrays are walked into,
// strings are themselves, anything else its JSON.
func claimValues(v any, path []string) []string {
	if arr, ok := v.([]any); ok {
		var out []string
		for _, el := range arr {
			for _, s := range claimValues(el, path) {
				if !slices.Contains(out, s) {
					out = append(out, s)
				}
			}
		}
		return out
	}
	if len(path) == 0 {
		switch x := v.(type) {
		case string:
			return []string{x}
		case nil:
			return []string{"null"}
		default:
			b, err := json.Marshal(x)
			if err != nil {
				return nil
			}
			return []string{string(b)}
		}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	child, ok := obj[path[0]]
	if !ok {
		return nil
	}
	return claimValues(child, path[1:])
}
