package telemetry

import (
	"strings"
	"testing"
)

func TestRequestPath(t *testing.T) {
	tests := []struct{ path, want string }{
		// Ditto's TraceInformationGeneratorTest.
		{"/api/2/things/abc:1a4ed3df-308b-462e-9cfc-b78891f18c39/features/Vehicle/properties/Engine/max-speed", "/api/2/things/x/features/x"},
		{"/api/2/things/abc:1a4ed3df-308b-462e-9cfc-b78891f18c39/features/Vehicle/definition", "/api/2/things/x/features/x"},
		{"/api/2/things/ns:1", "/api/2/things/x"},
		{"/api/2/search/things", "/api/2/search/things"},
		{"/api/2/search/things/count", "/api/2/search/things/count"},
		{"/status", "/status"},
		{"/status/health", "/status/health"},
		{"/status/bumlux", "/other"},
		{"/status1", "/other"},
		{"/status/healthTest", "/other"},
		{"/api/9/search/things", "/other"},
		{"/api/9/search/thingsX", "/other"},
		{"/bumlux", "/other"},
		// More.
		{"/api/2/things", "/api/2/things"},
		{"/api/2/things/", "/api/2/things"},
		{"//api//2/things//ns:1//attributes/a", "/api/2/things/x/attributes/x"},
		{"/api/2/things/ns:1/attributes", "/api/2/things/x/attributes/x"},
		{"/api/2/policies/ns:p/entries/owner/subjects", "/api/2/policies/x/entries/x"},
		{"/api/2/things/ns:1/inbox/messages/hello", "/api/2/things/messages"},
		{"/api/2/things/ns:1/features/f/outbox/messages/hello", "/api/2/things/messages"},
		{"/api/2/things/ns:1/inbox/claim", "/api/2/things/messages"},
		{"/api/2/things/ns:1/unknown/y", "/api/2/things/x/unknown/x"},
		{"/ws/2", "/ws/2"},
		{"/ws/2/", "/ws/2"},
		{"/devops/logging", "/devops/logging"},
		{"/devops/logging/things", "/other"},
		{"/devops/piggyback", "/other"},
		{"", "/other"},
		{"/", "/other"},
	}
	for _, tt := range tests {
		if got := RequestPath(tt.path); got != tt.want {
			t.Errorf("RequestPath(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}

func TestChannel(t *testing.T) {
	tests := []struct{ path, header, query, want string }{
		{"/api/2/things/ns:1", "", "", "twin"},
		{"/api/2/things/ns:1", "live", "", "live"},
		{"/api/2/things/ns:1", "", "live", "live"},
		{"/api/2/things/ns:1/inbox/messages/x", "", "", "live"},
		{"/api/2/things/ns:1/inbox/claim", "", "", "live"},
		{"/api/2/things/ns:1", "twin", "", "twin"},
	}
	for _, tt := range tests {
		if got := Channel(tt.path, tt.header, tt.query); got != tt.want {
			t.Errorf("Channel(%q, %q, %q) = %q, want %q", tt.path, tt.header, tt.query, got, tt.want)
		}
	}
}

// TestRequestPathAllocations: the labels of Ditto's own resources cost no
// allocation on the request path.
func TestRequestPathAllocations(t *testing.T) {
	for _, p := range []string{"/api/2/things/ns:1", "/api/2/things/ns:1/attributes/a/b", "/api/2/policies/ns:1/entries/e",
		"/api/2/search/things", "/api/2/things/ns:1/inbox/messages/m"} {
		if n := testing.AllocsPerRun(100, func() { RequestPath(p) }); n != 0 {
			t.Errorf("RequestPath(%q): %v allocations, want 0", p, n)
		}
	}
}

// FuzzRequestPath: any path gets a label, and labels stay within the
// bounded shapes.
func FuzzRequestPath(f *testing.F) {
	for _, s := range []string{"/api/2/things/a:b/features/f", "//", "/api/2/policies/x/entries", "/ws/2", "/api/2/things/x/inbox/claim"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		l := RequestPath(path)
		if l == OtherPath || l == "/api/2/things" || l == "/api/2/policies" || strings.HasSuffix(l, "/messages") {
			return
		}
		if _, ok := exactPaths[strings.TrimPrefix(l, "/")]; ok {
			return
		}
		if !strings.HasPrefix(l, "/api/2/things/x") && !strings.HasPrefix(l, "/api/2/policies/x") {
			t.Fatalf("RequestPath(%q) = %q: not a label shape", path, l)
		}
		if strings.Count(l, "/") > 6 {
			t.Fatalf("RequestPath(%q) = %q: deeper than /api/2/<type>/x/<sub>/x", path, l)
		}
	})
}
