package mongostore

import (
	"context"
	"crypto/rand"
	"os"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/journal/journaltest"
	"github.com/dittonats/dittonats/services/internal/mongostore/ferrettest"
)

func TestConformanceFerretDB(t *testing.T) {
	uri := ferrettest.Start(t)
	// Every FerretDB query scans the whole collection, so checking each of
	// 200 pids over 8000 documents takes minutes; 40 pids keep the races
	// (still 64 goroutines, two appends per sn) at a fraction of the time;
	// 300 entities purged at once for the same reason.
	journaltest.RunWith(t, opener(uri, "jt"), journaltest.Config{PIDs: 40, PurgeEntities: 300})
}

// TestConformanceMongoDB runs the suite on the MongoDB at MONGO_DB_URI, in
// databases named for this run and dropped afterwards.
func TestConformanceMongoDB(t *testing.T) {
	uri := os.Getenv("MONGO_DB_URI")
	if uri == "" {
		t.Skip("MONGO_DB_URI is not set")
	}
	uri = withoutDatabase(uri)
	run := "jt_" + rand.Text()[:8]
	client, err := mongo.Connect(options.Client().ApplyURI(uri))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() {
		ctx := context.Background()
		names, err := client.ListDatabaseNames(ctx, map[string]any{"name": map[string]any{"$regex": "^" + run}})
		if err != nil {
			t.Errorf("list databases: %v", err)
		}
		for _, name := range names {
			if err := client.Database(name).Drop(ctx); err != nil {
				t.Errorf("drop %s: %v", name, err)
			}
		}
		_ = client.Disconnect(ctx)
	})
	journaltest.Run(t, opener(uri, run))
}

// opener opens each key as its own database, prefix_key.
func opener(uri, prefix string) journaltest.OpenFunc {
	return func(t *testing.T, key string) journal.Store {
		return open(t, uri, Options{Database: prefix + "_" + key})
	}
}

func open(t testing.TB, uri string, opts Options) *Store {
	t.Helper()
	s, err := Open(t.Context(), uri, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// withoutDatabase strips the database from a mongodb:// URI's path, keeping
// its options, so that tests choose the database.
func withoutDatabase(uri string) string {
	scheme, rest, ok := strings.Cut(uri, "://")
	if !ok {
		return uri
	}
	hosts, path, _ := strings.Cut(rest, "/")
	_, query, hasQuery := strings.Cut(path, "?")
	if hasQuery {
		return scheme + "://" + hosts + "/?" + query
	}
	return scheme + "://" + hosts
}
