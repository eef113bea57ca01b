package e2e_test

import (
	"errors"
	"fmt"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/e2e/internal/harness"
	"github.com/dittonats/dittonats/streams"
)

// startSearch runs a things-search process with its own index file.
func (c *cluster) startSearch(t *testing.T, id, dir string) *harness.Proc {
	t.Helper()
	return harness.Start(t, id, harness.Bin(t, "things-search"), nil, map[string]string{
		"NATS_URL":                     c.natsURL,
		"NATS_NKEY":                    c.nats.Seeds[streams.RoleSearch],
		"DITTO_INSTANCE_ID":            id,
		"SEARCH_INDEX_PATH":            filepath.Join(dir, id+".db"),
		"BACKGROUND_SYNC_QUIET_PERIOD": "1h",
	})
}

// count asks the search for the number of things matching filter; the
// answering instance is whichever NATS picks.
func (c *cluster) count(filter string) (int, error) {
	r, err := c.api.Do("GET", "/api/2/search/things/count?filter="+url.QueryEscape(filter), "")
	if err != nil {
		return 0, err
	}
	if r.Status != 200 {
		return 0, fmt.Errorf("count %s: %d %s", filter, r.Status, r.Body)
	}
	return strconv.Atoi(string(r.Body))
}

// Two things-search processes serve one platform: each fills its own index
// from the things service and answers the same queries alike; one killed
// during a write load catches up when it comes back, from its durable
// consumers, and answers with the final state alone.
func TestSearchScaleOut(t *testing.T) {
	c := startCluster(t, "things-1")
	dir := t.TempDir()
	const things = 24
	for i := range things {
		r, err := c.api.Do("PUT", fmt.Sprintf("/api/2/things/org.acme:s-%02d", i), fmt.Sprintf(`{"attributes":{"n":%d,"v":0}}`, i))
		if err != nil || r.Status != 201 {
			t.Fatalf("create thing %d: %v %v", i, r, err)
		}
	}
	// Both start after the things exist: each fills its index from the
	// things service.
	s1 := c.startSearch(t, "search-1", dir)
	s2 := c.startSearch(t, "search-2", dir)
	harness.Eventually(t, 60*time.Second, "both indexes hold every thing", func() error {
		// Answers come from either instance; ten in a row that agree
		// leave little chance that one of them is behind.
		for range 10 {
			n, err := c.count("exists(attributes/n)")
			if err != nil {
				return err
			}
			if n != things {
				return fmt.Errorf("count %d, want %d", n, things)
			}
		}
		return nil
	})
	page := func() (string, error) {
		r, err := c.api.Do("GET", "/api/2/search/things?filter="+url.QueryEscape("lt(attributes/n,10)")+"&option="+url.QueryEscape("sort(-attributes/n),size(4)")+"&fields=thingId,attributes/n", "")
		if err != nil {
			return "", err
		}
		if r.Status != 200 {
			return "", fmt.Errorf("%d %s", r.Status, r.Body)
		}
		return string(r.Body), nil
	}
	first, err := page()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(first, `"org.acme:s-09"`) || !strings.Contains(first, `"cursor"`) {
		t.Fatalf("first page: %s", first)
	}
	for range 10 {
		if got, err := page(); err != nil || got[:strings.Index(got, `"cursor"`)] != first[:strings.Index(first, `"cursor"`)] {
			t.Fatalf("instances disagree: %s vs %s (%v)", got, first, err)
		}
	}

	// A write load; search-1 is killed in the middle of it and restarted.
	var mu sync.Mutex
	last := map[int]int{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var writeErr error
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for v := 1; ; v++ {
				select {
				case <-stop:
					return
				default:
				}
				i := w + 4*(v%(things/4))
				r, err := c.api.Do("PUT", fmt.Sprintf("/api/2/things/org.acme:s-%02d/attributes/v", i), strconv.Itoa(v))
				if err != nil || r.Status != 204 {
					mu.Lock()
					writeErr = errors.Join(writeErr, fmt.Errorf("modify %d: %v %v", i, r, err))
					mu.Unlock()
					return
				}
				mu.Lock()
				last[i] = v
				mu.Unlock()
			}
		}()
	}
	time.Sleep(time.Second)
	s1.Kill()
	time.Sleep(2 * time.Second)
	s1.Restart()
	time.Sleep(time.Second)
	close(stop)
	wg.Wait()
	if writeErr != nil {
		t.Fatal(writeErr)
	}
	mu.Lock()
	var terms []string
	for i, v := range last {
		terms = append(terms, fmt.Sprintf(`and(eq(thingId,"org.acme:s-%02d"),eq(attributes/v,%d))`, i, v))
	}
	wantFinal := len(terms)
	mu.Unlock()
	final := "or(" + strings.Join(terms, ",") + ")"

	// Each instance alone shows the final state.
	for _, alone := range []struct {
		name       string
		up, down   *harness.Proc
		restartAll bool
	}{{"search-1 (restarted)", s1, s2, false}, {"search-2", s2, s1, true}} {
		alone.down.Kill()
		harness.Eventually(t, 60*time.Second, alone.name+" alone has every last write", func() error {
			n, err := c.count(final)
			if err != nil {
				return err
			}
			if n != wantFinal {
				return fmt.Errorf("%d of %d things at their last value", n, wantFinal)
			}
			if n, err := c.count("exists(attributes/n)"); err != nil || n != things {
				return fmt.Errorf("count %d, %v; want %d", n, err, things)
			}
			return nil
		})
		if alone.restartAll {
			break
		}
		alone.down.Restart()
	}
}
