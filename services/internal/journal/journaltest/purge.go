package journaltest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/dittonats/dittonats/services/internal/journal"
)

// testPurgeNamespace erases one namespace of one kind: its events and
// snapshots go, every other entity (other namespaces, namespaces that
// share its prefix, other kinds, other journals) stays; it is idempotent,
// leaves the namespace usable, and refuses what cannot name a namespace.
func testPurgeNamespace(t *testing.T, open OpenFunc) {
	s := open(t, "purge")
	j := journalOf(t, s, journal.Things)
	other := journalOf(t, s, journal.Policies)
	purged := []string{"thing:org.acme:a", "thing:org.acme:b", "thing:org.acme:c:d"}
	kept := []string{"thing:org.acme2:a", "thing:org.acme.x:a", "thing:org:acme", "thing::a", "thing:org.acm:e",
		"policy:org.acme:a", "thingx:org.acme:a"}
	for _, p := range append(slices.Clone(purged), kept...) {
		appendAll(t, j, event(p, 1, `{"a":1}`), event(p, 2, `{"a":2}`), event(p, 3, `{"a":3}`))
		if err := j.SaveSnapshot(t.Context(), journal.Snapshot{PID: p, SN: 2, Timestamp: base, Payload: []byte(`{}`)}); err != nil {
			t.Fatalf("SaveSnapshot(%s): %v", p, err)
		}
	}
	// A snapshot without events, as cleanup leaves entities behind.
	if err := j.SaveSnapshot(t.Context(), journal.Snapshot{PID: "thing:org.acme:snap-only", SN: 7, Timestamp: base, Payload: []byte(`{}`), Deleted: true}); err != nil {
		t.Fatal(err)
	}
	purged = append(purged, "thing:org.acme:snap-only")
	appendAll(t, other, event("thing:org.acme:a", 1, `{}`))

	for i := range 2 { // the second purge finds nothing and succeeds
		if err := j.PurgeNamespace(t.Context(), "thing", "org.acme"); err != nil {
			t.Fatalf("PurgeNamespace #%d: %v", i+1, err)
		}
	}
	for _, p := range purged {
		if evs := readAll(t, j, p); len(evs) != 0 {
			t.Errorf("%s: %d events left", p, len(evs))
		}
		if snap, ok := latest(t, j, p, math.MaxInt64); ok {
			t.Errorf("%s: snapshot %d left", p, snap.SN)
		}
		if h := highest(t, j, p); h != 0 {
			t.Errorf("%s: HighestSN %d, want 0", p, h)
		}
	}
	for _, p := range kept {
		if evs := readAll(t, j, p); len(evs) != 3 {
			t.Errorf("%s: %d events, want 3", p, len(evs))
		}
		if _, ok := latest(t, j, p, math.MaxInt64); !ok {
			t.Errorf("%s: snapshot gone", p)
		}
	}
	if evs := readAll(t, other, "thing:org.acme:a"); len(evs) != 1 {
		t.Errorf("the policies journal lost its event: %d left", len(evs))
	}
	pids, err := j.PIDs(t.Context(), "", 100)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(kept))
	if !slices.Equal(pids, want) {
		t.Errorf("PIDs after the purge: got %q, want %q", pids, want)
	}
	var since []string
	if err := j.EventsSince(t.Context(), base, func(r journal.EventRef) error {
		if slices.Contains(purged, r.PID) {
			since = append(since, r.PID)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(since) > 0 {
		t.Errorf("EventsSince still finds %q", since)
	}

	// The namespace is used again from revision 1.
	appendAll(t, j, event(purged[0], 1, `{"new":true}`))
	if evs := readAll(t, j, purged[0]); len(evs) != 1 || string(evs[0].Payload) != `{"new":true}` {
		t.Errorf("after the purge: got %d events, want the new one", len(evs))
	}

	// The empty namespace is a namespace too.
	if err := j.PurgeNamespace(t.Context(), "thing", ""); err != nil {
		t.Fatal(err)
	}
	if evs := readAll(t, j, "thing::a"); len(evs) != 0 {
		t.Errorf("thing::a: %d events left after purging the empty namespace", len(evs))
	}
	if evs := readAll(t, j, "thing:org:acme"); len(evs) != 3 {
		t.Errorf("thing:org:acme: %d events left after purging the empty namespace, want 3", len(evs))
	}

	for _, tt := range []struct{ kind, ns string }{{"", "org"}, {"thing:x", "org"}, {"thing", "org:acme"}} {
		if err := j.PurgeNamespace(t.Context(), tt.kind, tt.ns); !errors.Is(err, journal.ErrInvalid) {
			t.Errorf("PurgeNamespace(%q, %q): got %v, want ErrInvalid", tt.kind, tt.ns, err)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := j.PurgeNamespace(ctx, "thing", "org"); !errors.Is(err, context.Canceled) {
		t.Errorf("PurgeNamespace with a canceled context: got %v, want context.Canceled", err)
	}
	if evs := readAll(t, j, "thing:org:acme"); len(evs) != 3 {
		t.Errorf("a canceled purge deleted: %d events left, want 3", len(evs))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.PurgeNamespace(t.Context(), "thing", "org"); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("PurgeNamespace after Close: got %v, want ErrClosed", err)
	}
}

// testPurgeNamespaceLarge purges more entities than one chunk of any
// adapter holds, beside a neighbour that must keep all of its.
func testPurgeNamespaceLarge(t *testing.T, open OpenFunc, n int) {
	j := journalOf(t, open(t, "purgelarge"), journal.Things)
	errs := make(chan error, 16)
	sem := make(chan struct{}, 16)
	for i := range n {
		sem <- struct{}{}
		go func() {
			defer func() { <-sem }()
			for _, ns := range []string{"big", "neighbour"} {
				if i%10 != 0 && ns == "neighbour" {
					continue
				}
				p := fmt.Sprintf("thing:%s:%05d", ns, i)
				if err := j.Append(t.Context(), event(p, 1, `{}`)); err != nil {
					errs <- err
					return
				}
				if err := j.SaveSnapshot(t.Context(), journal.Snapshot{PID: p, SN: 1, Timestamp: base, Payload: []byte(`{}`)}); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for range cap(sem) {
		sem <- struct{}{}
	}
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := j.PurgeNamespace(t.Context(), "thing", "big"); err != nil {
		t.Fatal(err)
	}
	pids, err := j.PIDs(t.Context(), "", 2*n)
	if err != nil {
		t.Fatal(err)
	}
	if want := (n + 9) / 10; len(pids) != want {
		t.Fatalf("got %d pids after the purge, want the neighbour's %d", len(pids), want)
	}
	for _, p := range pids {
		if !strings.HasPrefix(p, "thing:neighbour:") {
			t.Fatalf("%s survived the purge", p)
		}
	}
}
