package mongostore

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
	"go.mongodb.org/mongo-driver/v2/mongo/readpref"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"
	"go.mongodb.org/mongo-driver/v2/x/mongo/driver/connstring"

	"github.com/dittonats/dittonats/services/internal/journal"
)

// DefaultDatabase is the database used when neither the URI nor
// Options.Database names one: the default of Ditto's ditto-mongo.conf.
const DefaultDatabase = "ditto"

// Options tune a Store; the zero value gives the defaults.
type Options struct {
	// Database is used when the URI has no database in its path; the URI
	// wins, as in Ditto, where MONGO_DB_DATABASE only fills the default URI.
	// Ditto's services default to their own: "things", "policies",
	// "connectivity". Empty means DefaultDatabase.
	Database string
	// MaxPoolSize caps the driver's connection pool
	// (MONGO_DB_CONNECTION_POOL_SIZE). 0 keeps the URI's or the driver's
	// default (100).
	MaxPoolSize uint64
	// WriteConcern applies to every write. nil keeps the URI's w and journal
	// options, and if it has none uses majority with j:true, so an Append
	// that returned nil survives a crash and a failover. Unacknowledged
	// writes are refused: they could not report a conflict.
	WriteConcern *writeconcern.WriteConcern
	// Timeout bounds each batched insert, snapshot write and index creation.
	// Default 10s (Ditto's journal-wtimeout).
	Timeout time.Duration
	// MaxBatch bounds how many appends one insert carries. Default 1000.
	MaxBatch int
	// MinPoolSize keeps this many connections open
	// (MONGO_DB_CONNECTION_MIN_POOL_SIZE); 0 keeps the URI's or none.
	MinPoolSize uint64
	// TLS connects with TLS (MONGO_DB_SSL_ENABLED), verified against the
	// system's roots or, when CAFile is set, the PEM file's
	// (MONGO_DB_CA_FILE). false keeps what the URI says.
	TLS    bool
	CAFile string
	// ReadPreference is one of Ditto's: primary, primaryPreferred,
	// secondary, secondaryPreferred, nearest (MONGO_DB_READ_PREFERENCE);
	// empty keeps the URI's or primary.
	ReadPreference string
	// JournalWriteConcern and SnapshotWriteConcern override WriteConcern
	// for the journal's and the snapshots' collections (Ditto's
	// PEKKO_PERSISTENCE_MONGO_JOURNAL_WRITE_CONCERN and
	// _SNAPS_WRITE_CONCERN); nil uses WriteConcern's.
	JournalWriteConcern, SnapshotWriteConcern *writeconcern.WriteConcern
	// SnapshotIndexPidID and SnapshotIndexPidSnID create the additional
	// snapshot indexes {pid, _id} and {pid, sn, _id} of Ditto's read
	// journal (MONGODB_READ_JOURNAL_SHOULD_CREATE_ADDITIONAL_SNAPSHOT_AGGREGATION_INDEX_PID_ID,
	// _PID_SN_ID); {pid, sn} exists always.
	SnapshotIndexPidID, SnapshotIndexPidSnID bool
	// AWSIAMRole, when set, authenticates with the MONGODB-AWS mechanism
	// as that role (MONGO_DB_USE_AWS_IAM_ROLE), replacing the URI's
	// credentials; nil keeps the URI's.
	AWSIAMRole *AWSIAMRole
}

// ParseReadPreference reads one of Ditto's read preference names.
func ParseReadPreference(name string) (*readpref.ReadPref, error) {
	mode, err := readpref.ModeFromString(name)
	if err != nil || name == "" {
		return nil, fmt.Errorf("%w: read preference %q: want primary, primaryPreferred, secondary, secondaryPreferred or nearest", journal.ErrInvalid, name)
	}
	return readpref.New(mode)
}

// ClientOptions are the driver options Open connects with: the URI's,
// then those o sets.
func ClientOptions(uri string, o Options) (*options.ClientOptions, error) {
	return clientOptions(context.Background(), uri, o)
}

// clientOptions is ClientOptions; ctx bounds loading the AWS configuration
// of o.AWSIAMRole.
func clientOptions(ctx context.Context, uri string, o Options) (*options.ClientOptions, error) {
	co := options.Client().ApplyURI(uri)
	if o.AWSIAMRole != nil {
		cred, err := o.AWSIAMRole.credential(ctx)
		if err != nil {
			return nil, err
		}
		co.SetAuth(cred)
	}
	if o.MaxPoolSize > 0 {
		co.SetMaxPoolSize(o.MaxPoolSize)
	}
	if o.MinPoolSize > 0 {
		co.SetMinPoolSize(o.MinPoolSize)
	}
	if o.TLS || o.CAFile != "" {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if o.CAFile != "" {
			pem, err := os.ReadFile(o.CAFile)
			if err != nil {
				return nil, fmt.Errorf("MONGO_DB_CA_FILE: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("MONGO_DB_CA_FILE %s: no PEM certificate in it", o.CAFile)
			}
			cfg.RootCAs = pool
		}
		co.SetTLSConfig(cfg)
	}
	if o.ReadPreference != "" {
		rp, err := ParseReadPreference(o.ReadPreference)
		if err != nil {
			return nil, err
		}
		co.SetReadPreference(rp)
	}
	switch {
	case o.WriteConcern != nil:
		co.SetWriteConcern(o.WriteConcern)
	case co.WriteConcern == nil:
		yes := true
		co.SetWriteConcern(&writeconcern.WriteConcern{W: writeconcern.WCMajority, Journal: &yes})
	case !co.WriteConcern.Acknowledged():
		return nil, errors.New("mongodb uri: w=0 (unacknowledged) writes cannot detect conflicts")
	}
	return co, nil
}

func (o Options) withDefaults() (Options, error) {
	var errs []error
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	for _, wc := range []*writeconcern.WriteConcern{o.WriteConcern, o.JournalWriteConcern, o.SnapshotWriteConcern} {
		if wc != nil && !wc.Acknowledged() {
			errs = append(errs, errors.New("write concern: unacknowledged writes cannot detect conflicts"))
		}
	}
	switch {
	case o.Timeout == 0:
		o.Timeout = 10 * time.Second
	case o.Timeout < 0:
		errs = append(errs, fmt.Errorf("timeout %v: want > 0", o.Timeout))
	}
	switch {
	case o.MaxBatch == 0:
		o.MaxBatch = 1000
	case o.MaxBatch < 0:
		errs = append(errs, fmt.Errorf("max batch %d: want at least 1", o.MaxBatch))
	}
	return o, errors.Join(errs...)
}

// ParseWriteConcern maps the write concern names of Ditto's configuration to a
// write concern, case-insensitively: MONGO_DB_WRITE_CONCERN's acknowledged,
// journaled, majority, w1, w2, w3, and the Pekko journal's
// ReplicaAcknowledged (= majority). Unacknowledged is refused (see
// Options.WriteConcern).
func ParseWriteConcern(name string) (*writeconcern.WriteConcern, error) {
	yes := true
	switch strings.ToLower(name) {
	case "acknowledged", "w1":
		return &writeconcern.WriteConcern{W: 1}, nil
	case "journaled":
		return &writeconcern.WriteConcern{W: 1, Journal: &yes}, nil
	case "majority", "replicaacknowledged":
		return &writeconcern.WriteConcern{W: writeconcern.WCMajority, Journal: &yes}, nil
	case "w2":
		return &writeconcern.WriteConcern{W: 2}, nil
	case "w3":
		return &writeconcern.WriteConcern{W: 3}, nil
	case "unacknowledged":
		return nil, fmt.Errorf("%w: write concern %q cannot detect conflicts", journal.ErrInvalid, name)
	}
	return nil, fmt.Errorf("%w: write concern %q: want acknowledged, journaled, majority, w1, w2 or w3", journal.ErrInvalid, name)
}

// Store is the MongoDB journal store. It implements journal.Store.
type Store struct {
	client *mongo.Client
	db     *mongo.Database
	opts   Options

	// mu guards closed, journals, and every send to a journal's queue, so
	// that Close can close the queues without racing a sender. Senders hold
	// it shared.
	mu       sync.RWMutex
	closed   bool
	journals map[string]*mongoJournal

	batches atomic.Uint64 // inserts sent
	writes  atomic.Uint64 // appends they carried
}

var _ journal.Store = (*Store)(nil)

// Open connects to the MongoDB at uri and checks that it answers. The Store
// must be closed to flush pending appends.
func Open(ctx context.Context, uri string, opts Options) (*Store, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, fmt.Errorf("mongo store options: %w", err)
	}
	cs, err := connstring.ParseAndValidate(uri)
	if err != nil {
		return nil, fmt.Errorf("mongodb uri: %w", err)
	}
	database := cs.Database
	if database == "" {
		database = opts.Database
	}

	co, err := clientOptions(ctx, uri, opts)
	if err != nil {
		return nil, err
	}
	client, err := mongo.Connect(co)
	if err != nil {
		return nil, fmt.Errorf("connect to mongodb: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, opts.Timeout)
	defer cancel()
	if err := client.Ping(pingCtx, nil); err != nil {
		_ = client.Disconnect(context.Background())
		return nil, fmt.Errorf("ping mongodb: %w", err)
	}
	return &Store{
		client:   client,
		db:       client.Database(database),
		opts:     opts,
		journals: make(map[string]*mongoJournal),
	}, nil
}

// collectionOptions gives a collection its own write concern; nil keeps
// the client's.
func collectionOptions(wc *writeconcern.WriteConcern) options.Lister[options.CollectionOptions] {
	co := options.Collection()
	if wc != nil {
		co.SetWriteConcern(wc)
	}
	return co
}

// Database returns the name of the database the store writes.
func (s *Store) Database() string { return s.db.Name() }

// Stats counts the inserts the store sent and the appends they carried:
// Appends/Batches is the mean group-commit batch size.
type Stats struct {
	Batches uint64
	Appends uint64
}

// Stats returns the counters since Open.
func (s *Store) Stats() Stats {
	return Stats{Batches: s.batches.Load(), Appends: s.writes.Load()}
}

// Journal returns the journal called name, creating its collections' indexes
// on first use: unique (pid, sn) on both, and (pid, ts) on the journal.
func (s *Store) Journal(name string) (journal.Journal, error) {
	if err := journal.CheckName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, journal.ErrClosed
	}
	if j, ok := s.journals[name]; ok {
		return j, nil
	}
	j, err := s.newJournal(name)
	if err != nil {
		return nil, err
	}
	s.journals[name] = j
	go j.runWriter()
	return j, nil
}

// newJournal returns the journal called name with its indexes created and
// its writer goroutine not yet started.
func (s *Store) newJournal(name string) (*mongoJournal, error) {
	j := &mongoJournal{
		store:  s,
		events: s.db.Collection(journal.JournalTable(name), collectionOptions(s.opts.JournalWriteConcern)),
		snaps:  s.db.Collection(journal.SnapshotTable(name), collectionOptions(s.opts.SnapshotWriteConcern)),
		reqs:   make(chan *appendReq, 4*s.opts.MaxBatch),
		done:   make(chan struct{}),
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	if err := j.createIndexes(ctx); err != nil {
		return nil, fmt.Errorf("create indexes of journal %s: %w", name, err)
	}
	return j, nil
}

// Close refuses new appends, waits until every queued one has been written
// and answered, then disconnects. It is idempotent.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, j := range s.journals {
		close(j.reqs)
	}
	s.mu.Unlock()

	for _, j := range s.journals {
		<-j.done
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.opts.Timeout)
	defer cancel()
	if err := s.client.Disconnect(ctx); err != nil {
		return fmt.Errorf("disconnect from mongodb: %w", err)
	}
	return nil
}

func (s *Store) isClosed() bool {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.closed
}
