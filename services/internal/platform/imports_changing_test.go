package platform

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A change to a transitively imported template never takes away a grant
// the change does not touch: readers of the importing policies' things
// keep reading while the template changes (READ_IMPORTED_CHANGING of the
// bench saw 404s here).
func TestReadsWhileImportedTemplateChanges(t *testing.T) {
	t.Parallel()
	pl := startPlatform(t, testConfig(t))
	const ns = "org.eclipse.ditto.imp"
	owner := `"OWNER":{"subjects":{"nginx:ditto":{"type":"bench"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]}},"importable":"never"}`
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+ns+":base", `{"entries":{`+owner+`,"reader":{"subjects":{"nginx:ditto":{"type":"bench"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+ns+":middle", `{"imports":{"`+ns+`:base":{}},"entries":{`+owner+`,"operator":{"subjects":{"nginx:ditto":{"type":"bench"}},"resources":{"thing:/attributes":{"grant":["WRITE"],"revoke":[]}}}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+ns+":roles", `{"entries":{`+owner+`,"auditor":{"subjects":{"nginx:auditor":{"type":"bench"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`, nil, 201, "")
	const n = 40
	for i := range n {
		pl.expect(t, "ditto", "PUT", fmt.Sprintf("/api/2/policies/%s:p%d", ns, i), `{"imports":{"`+ns+`:roles":{},"`+ns+`:middle":{"transitiveImports":["`+ns+`:base"]}},"entries":{`+
			`"OWNER":{"subjects":{"nginx:ditto":{"type":"bench"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["WRITE"],"revoke":[]}}}}}`, nil, 201, "")
		pl.expect(t, "ditto", "PUT", fmt.Sprintf("/api/2/things/%s:t%d", ns, i), fmt.Sprintf(`{"policyId":"%s:p%d","attributes":{"n":%d}}`, ns, i, i), nil, 201, "")
	}
	var reads, failed atomic.Int64
	var first atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := pl.do(t, "ditto", "GET", fmt.Sprintf("/api/2/things/%s:t%d", ns, i%n), "", nil)
				reads.Add(1)
				if r.status != 200 {
					failed.Add(1)
					first.CompareAndSwap(nil, fmt.Sprintf("%d %s", r.status, r.body))
				}
			}
		})
	}
	for c := range 10 {
		if r := pl.do(t, "ditto", "PUT", "/api/2/policies/"+ns+":base/entries/other",
			fmt.Sprintf(`{"subjects":{"nginx:nobody-%d":{"type":"bench"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}`, c), nil); r.status >= 300 {
			t.Fatalf("change %d: %d %s", c, r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	if failed.Load() > 0 {
		t.Errorf("%d of %d reads failed while the template changed; first: %v", failed.Load(), reads.Load(), first.Load())
	}
}
