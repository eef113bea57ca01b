package things

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// docStore serves raw policy documents to a cache.
type docStore struct {
	mu   sync.Mutex
	docs map[string]string
	// hold, when set, blocks fetches of that id until released.
	hold     string
	held     chan struct{}
	released chan struct{}
}

func (s *docStore) set(id, doc string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.docs[id] = doc
}

func (s *docStore) fetch(_ context.Context, id string) (jsonv.Value, error) {
	s.mu.Lock()
	doc, ok := s.docs[id]
	hold := s.hold == id
	s.mu.Unlock()
	if hold {
		close(s.held)
		<-s.released
	}
	if !ok {
		return jsonv.Value{}, errPolicyGone
	}
	return jsonv.MustParse(doc), nil
}

func importing(id, imported string) string {
	return `{"policyId":"` + id + `","imports":{"` + imported + `":{}},"entries":{"own":{"subjects":{"s:owner":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`
}

func template(id, subject string) string {
	return `{"policyId":"` + id + `","imports":{},"entries":{"role":{"subjects":{"` + subject + `":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`
}

func readsThing(t *testing.T, c *policyCache, id, subject string) bool {
	t.Helper()
	enf, err := c.get(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return enf.For("ns", []string{subject}).Has(enforcer.TypeThing, nil, enforcer.Read)
}

// A policy that imports another is enforced with the imported entries, and
// an event of the imported policy invalidates the importing one: the next
// get sees the change, while a policy that imports nothing costs one fetch.
func TestPolicyCacheFollowsImports(t *testing.T) {
	t.Parallel()
	store := &docStore{docs: map[string]string{}}
	store.set("ns:a", importing("ns:a", "ns:tmpl"))
	store.set("ns:tmpl", template("ns:tmpl", "s:alice"))
	c := newPolicyCache(store.fetch, 100, time.Hour)
	if !readsThing(t, c, "ns:a", "s:alice") || !readsThing(t, c, "ns:a", "s:owner") {
		t.Fatal("the imported entry does not apply")
	}
	store.set("ns:tmpl", template("ns:tmpl", "s:bob"))
	if !readsThing(t, c, "ns:a", "s:alice") {
		t.Fatal("cached entry dropped without an event")
	}
	c.invalidate("ns:tmpl") // the template's event
	if readsThing(t, c, "ns:a", "s:alice") || !readsThing(t, c, "ns:a", "s:bob") {
		t.Error("a change of the imported policy did not reach the importing one")
	}
	// The imported policy gone: its entries no longer apply.
	store.mu.Lock()
	delete(store.docs, "ns:tmpl")
	store.mu.Unlock()
	c.invalidate("ns:tmpl")
	if readsThing(t, c, "ns:a", "s:bob") || !readsThing(t, c, "ns:a", "s:owner") {
		t.Error("a deleted imported policy still grants")
	}
	c.mu.Lock()
	deps := len(c.dependents["ns:tmpl"])
	c.mu.Unlock()
	if deps != 1 {
		t.Errorf("dependents of the template: %d, want ns:a", deps)
	}
	c.invalidate("ns:a")
	c.mu.Lock()
	deps = len(c.dependents["ns:tmpl"])
	c.mu.Unlock()
	if deps != 0 {
		t.Errorf("dependents of the template after ns:a went: %d, want none", deps)
	}
}

// A load that read the imported policy before its event arrived serves the
// command that waited for it but is not kept.
func TestPolicyCacheLoadReadingAChangedImportIsNotKept(t *testing.T) {
	t.Parallel()
	store := &docStore{docs: map[string]string{}, held: make(chan struct{}), released: make(chan struct{})}
	store.set("ns:a", importing("ns:a", "ns:tmpl"))
	store.set("ns:tmpl", template("ns:tmpl", "s:alice"))
	store.hold = "ns:tmpl"
	c := newPolicyCache(store.fetch, 100, time.Hour)
	done := make(chan bool)
	go func() {
		enf, err := c.get(context.Background(), "ns:a")
		done <- err == nil && enf.For("ns", []string{"s:alice"}).Has(enforcer.TypeThing, nil, enforcer.Read)
	}()
	<-store.held // the load is reading the template
	store.mu.Lock()
	store.hold = ""
	store.mu.Unlock()
	c.invalidate("ns:tmpl")
	store.set("ns:tmpl", template("ns:tmpl", "s:bob"))
	close(store.released)
	if !<-done {
		t.Error("the waiting get did not get its load's result")
	}
	if !readsThing(t, c, "ns:a", "s:bob") {
		t.Error("the load from before the template's change was kept")
	}
}
