package mongostore

import (
	"errors"
	"fmt"
	"maps"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/mongostore/ferrettest"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// ferret starts one FerretDB per test that needs it.
func ferret(t *testing.T) string {
	t.Helper()
	return ferrettest.Start(t)
}

// pending registers a journal whose writer is not running yet, so that
// appends pile up in its queue; start runs the writer.
func pending(t *testing.T, s *Store) (j *mongoJournal, start func()) {
	t.Helper()
	j, err := s.newJournal(journal.Things)
	if err != nil {
		t.Fatalf("newJournal: %v", err)
	}
	s.mu.Lock()
	s.journals[journal.Things] = j
	s.mu.Unlock()
	return j, func() { go j.runWriter() }
}

func waitQueued(t *testing.T, j *mongoJournal, n int) {
	t.Helper()
	streamstest.Eventually(t, 10*time.Second, func() error {
		if k := len(j.reqs); k < n {
			return fmt.Errorf("got %d queued appends, want %d", k, n)
		}
		return nil
	})
}

// TestGroupCommit queues appends, one of them a duplicate, before the writer
// runs: they must go out as one insert in which only the duplicate fails.
func TestGroupCommit(t *testing.T) {
	s := open(t, ferret(t), Options{Database: "group"})
	j, start := pending(t, s)
	const n = 40
	errs := make([]error, n+1)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = j.Append(t.Context(), journal.Event{PID: fmt.Sprintf("thing:ns:%d", i), SN: 1, Payload: []byte(`{}`)})
		})
	}
	wg.Go(func() {
		errs[n] = j.Append(t.Context(), journal.Event{PID: "thing:ns:7", SN: 1, Payload: []byte(`{"dup":true}`)})
	})
	waitQueued(t, j, n+1)
	start()
	wg.Wait()

	conflicts := 0
	for i, err := range errs {
		switch {
		case errors.Is(err, journal.ErrConflict):
			conflicts++
		case err != nil:
			t.Errorf("append %d: got %v, want nil or ErrConflict", i, err)
		}
	}
	if conflicts != 1 {
		t.Errorf("got %d conflicts, want 1", conflicts)
	}
	if got, want := s.Stats(), (Stats{Batches: 1, Appends: n + 1}); got != want {
		t.Errorf("got stats %+v, want %+v", got, want)
	}
	for i := range n {
		if sn, err := j.HighestSN(t.Context(), fmt.Sprintf("thing:ns:%d", i)); err != nil || sn != 1 {
			t.Errorf("thing:ns:%d: got HighestSN %d, %v, want 1", i, sn, err)
		}
	}
}

// TestCloseFlushesQueue closes while appends wait in the queue: Close must
// write them all, not refuse them.
func TestCloseFlushesQueue(t *testing.T) {
	uri := ferret(t)
	s := open(t, uri, Options{Database: "flush", MaxBatch: 7})
	j, start := pending(t, s)
	const n = 25 // several batches of MaxBatch
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = j.Append(t.Context(), journal.Event{PID: "thing:ns:q", SN: int64(i + 1), Payload: []byte(`{}`)})
		})
	}
	waitQueued(t, j, n)
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	streamstest.Eventually(t, 10*time.Second, func() error {
		if !s.isClosed() {
			return errors.New("Close has not begun")
		}
		return nil
	})
	if err := j.Append(t.Context(), journal.Event{PID: "thing:ns:q", SN: n + 1, Payload: []byte(`{}`)}); !errors.Is(err, journal.ErrClosed) {
		t.Errorf("Append after Close began: got %v, want ErrClosed", err)
	}
	start()
	if err := <-closed; err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("queued Append: got %v, want nil", err)
	}
	if got := s.Stats().Batches; got < n/7 {
		t.Errorf("got %d inserts, want at least %d", got, n/7)
	}

	j2, err := open(t, uri, Options{Database: "flush"}).Journal(journal.Things)
	if err != nil {
		t.Fatalf("Journal: %v", err)
	}
	if sn, err := j2.HighestSN(t.Context(), "thing:ns:q"); err != nil || sn != n {
		t.Errorf("after reopen: got HighestSN %d, %v, want %d", sn, err, n)
	}
}

func TestDatabase(t *testing.T) {
	uri := ferret(t)
	tests := []struct {
		name string
		uri  string
		opts Options
		want string
	}{
		{"default", uri, Options{}, DefaultDatabase},
		{"from options", uri, Options{Database: "things"}, "things"},
		{"uri wins", uri + "/policies", Options{Database: "things"}, "policies"},
		{"uri with options", uri + "/connectivity?maxPoolSize=5", Options{}, "connectivity"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := open(t, tt.uri, tt.opts).Database(); got != tt.want {
				t.Errorf("got database %q, want %q", got, tt.want)
			}
		})
	}
}

func TestOpenRefuses(t *testing.T) {
	uri := ferret(t)
	tests := []struct {
		name string
		uri  string
		opts Options
	}{
		{"not a mongodb uri", "http://localhost", Options{}},
		{"unacknowledged uri", uri + "/?w=0", Options{}},
		{"unacknowledged option", uri, Options{WriteConcern: writeconcern.Unacknowledged()}},
		{"negative timeout", uri, Options{Timeout: -time.Second}},
		{"negative batch", uri, Options{MaxBatch: -1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := Open(t.Context(), tt.uri, tt.opts)
			if err == nil {
				_ = s.Close()
				t.Fatal("got nil error, want one")
			}
		})
	}
}

func TestParseWriteConcern(t *testing.T) {
	yes := true
	tests := []struct {
		name string
		want *writeconcern.WriteConcern // nil: an error
	}{
		{"acknowledged", &writeconcern.WriteConcern{W: 1}},
		{"Acknowledged", &writeconcern.WriteConcern{W: 1}},
		{"w1", &writeconcern.WriteConcern{W: 1}},
		{"journaled", &writeconcern.WriteConcern{W: 1, Journal: &yes}},
		{"Journaled", &writeconcern.WriteConcern{W: 1, Journal: &yes}},
		{"majority", &writeconcern.WriteConcern{W: "majority", Journal: &yes}},
		{"ReplicaAcknowledged", &writeconcern.WriteConcern{W: "majority", Journal: &yes}},
		{"w2", &writeconcern.WriteConcern{W: 2}},
		{"w3", &writeconcern.WriteConcern{W: 3}},
		{"unacknowledged", nil},
		{"", nil},
		{"w4", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseWriteConcern(tt.name)
			if tt.want == nil {
				if !errors.Is(err, journal.ErrInvalid) {
					t.Fatalf("got %+v, %v, want ErrInvalid", got, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("got error %v, want nil", err)
			}
			if got.W != tt.want.W || (got.Journal == nil) != (tt.want.Journal == nil) || (got.Journal != nil && *got.Journal != *tt.want.Journal) {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseWriteConcern(f *testing.F) {
	for _, s := range []string{"acknowledged", "MAJORITY", "w3", "unacknowledged", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		wc, err := ParseWriteConcern(name)
		if err == nil && !wc.Acknowledged() {
			t.Fatalf("ParseWriteConcern(%q) = unacknowledged %+v, want an error", name, wc)
		}
		if err != nil && !errors.Is(err, journal.ErrInvalid) {
			t.Fatalf("ParseWriteConcern(%q): got %v, want ErrInvalid", name, err)
		}
	})
}

// roundTrip stores h the way an event document does and reads it back.
func roundTrip(t *testing.T, h map[string]string) (map[string]string, bson.Type) {
	t.Helper()
	enc, err := encodeHeaders(h)
	if err != nil {
		t.Fatalf("encodeHeaders(%v): %v", h, err)
	}
	raw, err := bson.Marshal(eventDoc{PID: "p", SN: 1, Headers: enc})
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	var doc storedEvent
	if err := bson.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	got, err := decodeHeaders(doc.Headers)
	if err != nil {
		t.Fatalf("decodeHeaders: %v", err)
	}
	return got, doc.Headers.Type
}

func TestHeaders(t *testing.T) {
	tests := []struct {
		name     string
		headers  map[string]string
		want     map[string]string
		wantType bson.Type
	}{
		{"none", nil, nil, 0},
		{"empty", map[string]string{}, nil, 0},
		{"safe keys", map[string]string{"correlation-id": "c", "ditto-originator": "nginx:ditto"}, nil, bson.TypeEmbeddedDocument},
		{"dotted key", map[string]string{"a.b": "1", "c": "2"}, nil, bson.TypeString},
		{"dollar key", map[string]string{"$set": "1"}, nil, bson.TypeString},
		{"empty key", map[string]string{"": "1"}, nil, bson.TypeString},
		{"NUL in key", map[string]string{"a\x00": "1"}, nil, bson.TypeString},
		{"dollar inside key", map[string]string{"a$": "1"}, nil, bson.TypeEmbeddedDocument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == nil && len(tt.headers) > 0 {
				want = tt.headers
			}
			got, typ := roundTrip(t, tt.headers)
			if !maps.Equal(got, want) || (got == nil) != (want == nil) {
				t.Errorf("got headers %v, want %v", got, want)
			}
			if typ != tt.wantType {
				t.Errorf("got stored as %v, want %v", typ, tt.wantType)
			}
		})
	}
}

func TestDecodeHeadersRejects(t *testing.T) {
	tests := []struct {
		name string
		doc  bson.D
	}{
		{"number", bson.D{{Key: "headers", Value: 42}}},
		{"bad JSON string", bson.D{{Key: "headers", Value: "{not json"}}},
		{"JSON array", bson.D{{Key: "headers", Value: `["a"]`}}},
		{"non-string value", bson.D{{Key: "headers", Value: bson.D{{Key: "a", Value: 1}}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := bson.Marshal(tt.doc)
			if err != nil {
				t.Fatalf("marshal: %v", err)
			}
			var doc storedEvent
			if err := bson.Unmarshal(raw, &doc); err != nil {
				t.Fatalf("unmarshal: %v", err)
			}
			if h, err := decodeHeaders(doc.Headers); err == nil {
				t.Errorf("got headers %v, want an error", h)
			}
		})
	}
}

// FuzzHeaders checks that any header map survives storage, and that
// decoding arbitrary stored strings never panics.
func FuzzHeaders(f *testing.F) {
	f.Add("correlation-id", "c", "a.b", "v", `{"x":"y"}`)
	f.Add("$x", "", "", "\x00", `not json`)
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2, stored string) {
		for _, s := range []string{k1, v1, k2, v2} {
			if !utf8.ValidString(s) {
				return // headers come from JSON, so they are valid UTF-8
			}
		}
		h := map[string]string{k1: v1, k2: v2}
		got, _ := roundTrip(t, h)
		if !maps.Equal(got, h) {
			t.Fatalf("got headers %q, want %q", got, h)
		}

		raw, err := bson.Marshal(bson.D{{Key: "headers", Value: stored}})
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		var doc storedEvent
		if err := bson.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("unmarshal: %v", err)
		}
		_, _ = decodeHeaders(doc.Headers)
	})
}
