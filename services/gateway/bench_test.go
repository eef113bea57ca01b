package gateway

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkRetrieveThing measures GET /api/2/things/{id} through the
// handler, NATS request/reply to a scripted responder, and back, with a
// cached basic-auth login. Report figures only; nothing is asserted.
func BenchmarkRetrieveThing(b *testing.B) {
	h := newHarness(b, nil)
	h.discard = true
	r := newRequest("GET", thingURL, "")
	r.Header.Set("Correlation-Id", "bench")
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			w := httptest.NewRecorder()
			h.gw.ServeHTTP(w, r.Clone(r.Context()))
			if w.Code != http.StatusOK {
				b.Errorf("status %d", w.Code)
				return
			}
		}
	})
}
