package harness

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// API is a client of the HTTP API as one basic-auth user.
type API struct {
	Base       string // e.g. http://127.0.0.1:8080
	User, Pass string
	Client     *http.Client
}

// NewAPI returns a client of base for user:pass with its own connection
// pool and the given overall request timeout.
func NewAPI(base, user, pass string, timeout time.Duration) *API {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 64
	return &API{Base: base, User: user, Pass: pass, Client: &http.Client{Timeout: timeout, Transport: tr}}
}

// Response is a read HTTP response.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v.
func (r *Response) JSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return fmt.Errorf("decode %q: %w", r.Body, err)
	}
	return nil
}

// DittoError is the JSON body of a Ditto error response.
type DittoError struct {
	Status  int    `json:"status"`
	Error   string `json:"error"`
	Message string `json:"message"`
}

// AsDittoError decodes the body as a Ditto error and checks that it is one
// whose status matches the HTTP status.
func (r *Response) AsDittoError() (DittoError, error) {
	var e DittoError
	if err := json.Unmarshal(r.Body, &e); err != nil {
		return e, fmt.Errorf("status %d with a body that is no Ditto error: %q", r.Status, r.Body)
	}
	if e.Status != r.Status || e.Error == "" || e.Message == "" {
		return e, fmt.Errorf("status %d with an incomplete Ditto error: %q", r.Status, r.Body)
	}
	return e, nil
}

// Do sends a request with an optional body (sent as application/json) and
// headers given as name, value pairs.
func (a *API) Do(method, path, body string, header ...string) (*Response, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, a.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if a.User != "" {
		req.SetBasicAuth(a.User, a.Pass)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := a.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}
