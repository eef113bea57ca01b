package search

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

// TestPrefetchLoadsSideBySide checks that prefetch fetches the missing
// policies concurrently (each fetch here waits until four are in flight)
// and that a later get finds them cached, as the apply loop does.
func TestPrefetchLoadsSideBySide(t *testing.T) {
	t.Parallel()
	const n = 4
	var mu sync.Mutex
	fetched := map[string]int{}
	inFlight := 0
	all := make(chan struct{})
	fetch := func(ctx context.Context, id string) (jsonv.Value, error) {
		mu.Lock()
		fetched[id]++
		inFlight++
		if inFlight == n {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-time.After(5 * time.Second):
			return jsonv.Value{}, fmt.Errorf("fetch of %s: never %d in flight", id, n)
		}
		return jsonv.MustParse(`{"policyId":"` + id + `","entries":{"E":{"subjects":{"nginx:a":{"type":"t"}},
		  "resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`), nil
	}
	c := newPolicyCache(fetch, time.Hour, 100)
	ids := []string{"p:1", "p:2", "p:1", "", "p:3", "p:4"}
	c.prefetch(context.Background(), ids, n)
	for _, id := range []string{"p:1", "p:2", "p:3", "p:4"} {
		enf, err := c.get(context.Background(), id)
		if err != nil || enf == nil {
			t.Fatalf("get %s after prefetch: %v %v", id, enf, err)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, id := range []string{"p:1", "p:2", "p:3", "p:4"} {
		if fetched[id] != 1 {
			t.Errorf("fetches of %s: got %d, want 1", id, fetched[id])
		}
	}
}
