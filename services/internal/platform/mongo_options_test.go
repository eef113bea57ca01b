package platform

import (
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
)

// The guide's MongoDB settings reach the store's options; a bad one stops
// start-up naming its variable.
func TestMongoOptions(t *testing.T) {
	t.Parallel()
	cfg, err := LoadEnv([]string{"MONGO_DB_CONNECTION_MIN_POOL_SIZE=4", "MONGO_DB_SSL_ENABLED=true",
		"MONGO_DB_READ_PREFERENCE=nearest", "MONGO_DB_WRITE_CONCERN=acknowledged",
		"PEKKO_PERSISTENCE_MONGO_JOURNAL_WRITE_CONCERN=ReplicaAcknowledged", "PEKKO_PERSISTENCE_MONGO_SNAPS_WRITE_CONCERN=Journaled"})
	if err != nil {
		t.Fatal(err)
	}
	o, err := cfg.Infra.mongoOptions()
	if err != nil {
		t.Fatal(err)
	}
	if o.MinPoolSize != 4 || !o.TLS || o.ReadPreference != "nearest" || o.WriteConcern.W != 1 ||
		o.JournalWriteConcern.W != writeconcern.WCMajority || o.SnapshotWriteConcern.Journal == nil || !*o.SnapshotWriteConcern.Journal {
		t.Errorf("options %+v", o)
	}
	for env, want := range map[string]string{
		"MONGO_DB_READ_PREFERENCE=fastest":                           "MONGO_DB_READ_PREFERENCE",
		"PEKKO_PERSISTENCE_MONGO_SNAPS_WRITE_CONCERN=Unacknowledged": "PEKKO_PERSISTENCE_MONGO_SNAPS_WRITE_CONCERN",
		"PEKKO_PERSISTENCE_MONGO_JOURNAL_WRITE_CONCERN=whenever":     "PEKKO_PERSISTENCE_MONGO_JOURNAL_WRITE_CONCERN",
	} {
		cfg, err := LoadEnv([]string{env})
		if err == nil {
			err = cfg.Infra.Validate()
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error naming %s", env, err, want)
		}
	}
}
