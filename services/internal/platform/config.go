package platform

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"go.mongodb.org/mongo-driver/v2/mongo/writeconcern"

	"github.com/dittonats/dittonats/services/gateway"
	"github.com/dittonats/dittonats/services/internal/cleanup"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/dittoconf"
	"github.com/dittonats/dittonats/services/internal/limits"
	"github.com/dittonats/dittonats/services/internal/logging"
	"github.com/dittonats/dittonats/services/internal/mongostore"
	"github.com/dittonats/dittonats/services/internal/telemetry"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/services/policies"
	"github.com/dittonats/dittonats/services/search"
	"github.com/dittonats/dittonats/services/things"
)

// Infra configures what every service runs on.
type Infra struct {
	NATSURL         string        `envconfig:"NATS_URL" desc:"NATS server(s) to use; empty starts an embedded nats-server (ditto only)"`
	NATSUser        string        `envconfig:"NATS_USER" desc:"user name to connect to NATS_URL with (with NATS_PASSWORD): the service's role (things, policies, gateway)"`
	NATSPassword    string        `envconfig:"NATS_PASSWORD" desc:"password of NATS_USER"`
	NATSCreds       string        `envconfig:"NATS_CREDS" desc:"credentials file (JWT and nkey) to connect to NATS_URL with"`
	NATSNkey        string        `envconfig:"NATS_NKEY" desc:"nkey seed file to connect to NATS_URL with"`
	NATSListen      string        `envconfig:"DITTO_NATS_LISTEN" default:"127.0.0.1:4222" desc:"client address of the embedded nats-server, for the nats CLI; \"off\" opens none"`
	SubjectPrefix   string        `envconfig:"DITTO_SUBJECT_PREFIX" default:"ditto" desc:"first token of every NATS subject"`
	Shards          int           `envconfig:"CLUSTER_NUMBER_OF_SHARDS" default:"30" desc:"shards entities are spread over; the same in every service and gateway"`
	Instance        string        `envconfig:"DITTO_INSTANCE_ID" desc:"this process's instance id in shard leases and DevOps subjects, unique among running processes; a stable id lets a restarted process take its shards back at once (default: host name, pid and a random suffix)"`
	LeaseTTL        time.Duration `envconfig:"DITTO_SHARD_LEASE_TTL" default:"5s" desc:"how long a shard lease of a stopped instance blocks its shards; the same in every instance of a service"`
	StreamReplicas  int           `envconfig:"NATS_STREAM_REPLICAS" default:"1" desc:"replicas of the event streams and lease buckets (3 on a NATS cluster)"`
	EventsMaxAge    time.Duration `envconfig:"DITTO_EVENTS_MAX_AGE" default:"24h" desc:"how long events stay in the JetStream event streams"`
	EventsMaxBytes  int64         `envconfig:"DITTO_EVENTS_MAX_BYTES" default:"1073741824" desc:"size bound of each event stream (-1: none)"`
	EventsDupWindow time.Duration `envconfig:"DITTO_EVENTS_DUPLICATE_WINDOW" default:"15s" desc:"how long JetStream drops a republished event (by its <entity id>:<revision> message id)"`
	DataDir         string        `envconfig:"DITTO_DATA_DIR" default:"./data" desc:"directory of the embedded store and embedded nats-server"`
	SQLiteSync      string        `envconfig:"DITTO_SQLITE_SYNCHRONOUS" default:"FULL" desc:"SQLite synchronous mode of the embedded store: FULL (an acknowledged write survives power loss), NORMAL or OFF"`
	MongoURI        string        `envconfig:"MONGO_DB_URI" desc:"MongoDB to use as journal store; empty uses the embedded store"`
	MongoDatabase   string        `envconfig:"MONGO_DB_DATABASE" default:"ditto" desc:"database used when MONGO_DB_URI names none"`
	MongoPoolSize   uint64        `envconfig:"MONGO_DB_CONNECTION_POOL_SIZE" default:"100" desc:"MongoDB connection pool size"`
	MongoWriteConc  string        `envconfig:"MONGO_DB_WRITE_CONCERN" desc:"MongoDB write concern (acknowledged, journaled, majority, ...); default majority and journaled"`
	MongoQueryLimit time.Duration `envconfig:"MONGO_DB_QUERY_TIMEOUT" default:"60s" desc:"timeout of one MongoDB operation"`
	MongoMinPool    uint64        `envconfig:"MONGO_DB_CONNECTION_MIN_POOL_SIZE" default:"0" desc:"MongoDB connections kept open at least"`
	MongoTLS        bool          `envconfig:"MONGO_DB_SSL_ENABLED" default:"false" desc:"connect to MongoDB with TLS (also when MONGO_DB_URI does not say tls=true)"`
	MongoCAFile     string        `envconfig:"MONGO_DB_CA_FILE" desc:"PEM file of the certificate authorities MongoDB's TLS certificate is checked against (default: the system's)"`
	MongoReadPref   string        `envconfig:"MONGO_DB_READ_PREFERENCE" desc:"MongoDB read preference: primary, primaryPreferred, secondary, secondaryPreferred or nearest (default: the URI's, else primary)"`
	MongoJournalWC  string        `envconfig:"PEKKO_PERSISTENCE_MONGO_JOURNAL_WRITE_CONCERN" desc:"write concern of the journal collections, as MONGO_DB_WRITE_CONCERN (Ditto's Acknowledged, Journaled, ReplicaAcknowledged too); default MONGO_DB_WRITE_CONCERN's"`
	MongoSnapsWC    string        `envconfig:"PEKKO_PERSISTENCE_MONGO_SNAPS_WRITE_CONCERN" desc:"write concern of the snapshot collections, as PEKKO_PERSISTENCE_MONGO_JOURNAL_WRITE_CONCERN"`
	MongoIxPidID    bool          `envconfig:"MONGODB_READ_JOURNAL_SHOULD_CREATE_ADDITIONAL_SNAPSHOT_AGGREGATION_INDEX_PID_ID" default:"false" desc:"create the snapshot index {pid, _id} of Ditto's read journal"`
	MongoIxPidSn    bool          `envconfig:"MONGODB_READ_JOURNAL_SHOULD_CREATE_ADDITIONAL_SNAPSHOT_AGGREGATION_INDEX_PID_SN" default:"false" desc:"accepted for Ditto compatibility: the snapshot index {pid, sn} is always created (it is unique)"`
	MongoIxPidSnID  bool          `envconfig:"MONGODB_READ_JOURNAL_SHOULD_CREATE_ADDITIONAL_SNAPSHOT_AGGREGATION_INDEX_PID_SN_ID" default:"true" desc:"create the snapshot index {pid, sn, _id} of Ditto's read journal"`
	MongoAWSIAM     bool          `envconfig:"MONGO_DB_USE_AWS_IAM_ROLE" default:"false" desc:"authenticate at MongoDB with AWS IAM (MONGODB-AWS) as the role MONGO_DB_AWS_ROLE_ARN, assumed with the process's AWS credentials"`
	MongoAWSRegion  string        `envconfig:"MONGO_DB_AWS_REGION" desc:"AWS region of STS for MONGO_DB_USE_AWS_IAM_ROLE (default: AWS_REGION, the shared config's or the instance's)"`
	MongoAWSRole    string        `envconfig:"MONGO_DB_AWS_ROLE_ARN" desc:"ARN of the AWS IAM role to assume for MongoDB authentication; required with MONGO_DB_USE_AWS_IAM_ROLE"`
	MongoAWSSession string        `envconfig:"MONGO_DB_AWS_SESSION_NAME" default:"dittoSession" desc:"AWS session name used when assuming MONGO_DB_AWS_ROLE_ARN"`
	LogLevel        string        `envconfig:"LOG_LEVEL" default:"INFO" desc:"level of each service's ROOT logger, which /devops/logging changes at runtime: OFF, ERROR, WARN, INFO, DEBUG, TRACE or ALL"`
	LogLevelApp     string        `envconfig:"LOG_LEVEL_APPLICATION" desc:"level of each service's org.eclipse.ditto logger (the platform's own code), as LOG_LEVEL (default: LOG_LEVEL)"`
	PprofListen     string        `envconfig:"DITTO_PPROF_LISTEN" desc:"address to serve Go's /debug/pprof profiles on (e.g. 127.0.0.1:6060); empty serves none"`
}

// Config is the whole configuration of a process.
type Config struct {
	Infra
	// Limits are read once; setLimits hands them to the sections that
	// apply them, which do not read them themselves.
	Limits   limits.Config
	Things   things.Config
	Policies policies.Config
	Gateway  gateway.Config
	Search   search.Config
	// Logging is where log lines go (Main builds the sinks from it).
	Logging logging.Config
	// Metrics is the Prometheus section (PROMETHEUS_*).
	Metrics telemetry.Config
	// Tracing is the OpenTelemetry section (DITTO_TRACING_*, OTEL_*).
	Tracing tracing.Config
	// Cleanup is the background cleanup of the entity services
	// (CLEANUP_*).
	Cleanup cleanup.Config

	// Tree is the effective configuration keyed by Ditto's paths: every
	// variable's value at its keys (ditto.gateway.authentication.devops.password,
	// ditto.limits.things.max-size, ...), every other key the HOCON file
	// and the -D properties set (ditto.search.operator-metrics, ...), and
	// ditto.info, the process's environment and options. Load builds it
	// and nothing changes it after, so it may be read from any goroutine;
	// nil in a Config that was not loaded (an empty tree to read). Print
	// or return Tree.Masked(), never Tree.
	Tree *dittoconf.Tree
	// Warnings are what Load skipped (include directives of the HOCON
	// file), for the caller to log.
	Warnings []string
}

// ConfigTree returns the effective configuration tree, for a service to
// read the structured settings no variable carries:
//
//	var fields []indexedFields
//	found, err := cfg.ConfigTree().Decode("ditto.search.namespace-indexed-fields", &fields)
//
// It is never nil.
func (c Config) ConfigTree() *dittoconf.Tree {
	if c.Tree == nil {
		return dittoconf.NewTree()
	}
	return c.Tree
}

// setLimits makes l the limits of the process and of every section that
// applies them: the gateway on request bodies, the services on entities.
func (c *Config) setLimits(l limits.Config) {
	c.Limits = l
	c.Things.Limits = l
	c.Policies.Limits = l
	c.Gateway.Limits = l
	c.Search.Limits = l
}

// validate reports every problem of the settings the process itself
// applies (the services check their own sections when they start).
func (c Config) validate() error {
	return errors.Join(c.Infra.Validate(), c.Metrics.Validate(), c.Logging.Validate(), c.Tracing.Validate())
}

// Validate reports every problem of the infrastructure settings.
func (c Infra) Validate() error {
	var errs []error
	if c.Shards < 1 || c.Shards > 10000 {
		errs = append(errs, fmt.Errorf("CLUSTER_NUMBER_OF_SHARDS %d: must be 1..10000", c.Shards))
	}
	if c.LeaseTTL < time.Second {
		errs = append(errs, fmt.Errorf("DITTO_SHARD_LEASE_TTL %s: must be at least 1s", c.LeaseTTL))
	}
	if c.DataDir == "" && c.MongoURI == "" {
		errs = append(errs, errors.New("DITTO_DATA_DIR: must be set when MONGO_DB_URI is not"))
	}
	switch strings.ToUpper(c.SQLiteSync) {
	case "FULL", "NORMAL", "OFF":
	default:
		errs = append(errs, fmt.Errorf("DITTO_SQLITE_SYNCHRONOUS %q: must be FULL, NORMAL or OFF", c.SQLiteSync))
	}
	if _, _, err := c.logLevels(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateCredential()...)
	if _, err := c.mongoOptions(); err != nil {
		errs = append(errs, err)
	}
	if c.Instance != "" && !validInstance(c.Instance) {
		errs = append(errs, fmt.Errorf("DITTO_INSTANCE_ID %q: only letters, digits, '-', '_' and '=', not starting with '_'", c.Instance))
	}
	return errors.Join(errs...)
}

// logLevels returns the levels of the ROOT and org.eclipse.ditto loggers.
func (c Infra) logLevels() (root, app slog.Level, err error) {
	if root, err = devops.ParseLevel(c.LogLevel); err != nil {
		return 0, 0, fmt.Errorf("LOG_LEVEL: %w", err)
	}
	if c.LogLevelApp == "" {
		return root, root, nil
	}
	if app, err = devops.ParseLevel(c.LogLevelApp); err != nil {
		return 0, 0, fmt.Errorf("LOG_LEVEL_APPLICATION: %w", err)
	}
	return root, app, nil
}

// validInstance reports whether s can be an instance id: one NATS subject
// token of letters, digits, '-', '_' and '=', not starting with '_' (the
// DevOps subjects of a service end in "_any" for one of its instances).
func validInstance(s string) bool {
	if strings.HasPrefix(s, "_") {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '=' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return s != ""
}

// instanceID returns the configured instance id or derives one from the
// host name, unique per process.
func (c Infra) instanceID() string {
	if c.Instance != "" {
		return c.Instance
	}
	host, _ := os.Hostname()
	var b strings.Builder
	for _, r := range host {
		if validInstance(string(r)) {
			b.WriteRune(r)
		} else {
			b.WriteByte('-')
		}
	}
	if b.Len() == 0 {
		b.WriteString("ditto")
	}
	return fmt.Sprintf("%s-%d-%04x", b.String(), os.Getpid(), time.Now().UnixNano()&0xffff)
}

// validateCredential checks the NATS credential settings: at most one
// kind, complete, with readable files, and only for an external NATS (the
// embedded server makes its own).
func (c Infra) validateCredential() []error {
	var errs []error
	var set []string
	if c.NATSUser != "" || c.NATSPassword != "" {
		set = append(set, "NATS_USER/NATS_PASSWORD")
		if c.NATSUser == "" {
			errs = append(errs, errors.New("NATS_PASSWORD: set without NATS_USER"))
		}
		if c.NATSPassword == "" {
			errs = append(errs, errors.New("NATS_USER: set without NATS_PASSWORD"))
		}
	}
	for _, f := range []struct{ name, path string }{{"NATS_CREDS", c.NATSCreds}, {"NATS_NKEY", c.NATSNkey}} {
		if f.path == "" {
			continue
		}
		set = append(set, f.name)
		if file, err := os.Open(f.path); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", f.name, err))
		} else {
			file.Close()
		}
	}
	if len(set) > 1 {
		errs = append(errs, fmt.Errorf("%s: set only one NATS credential", strings.Join(set, ", ")))
	}
	if len(set) > 0 && c.NATSURL == "" {
		errs = append(errs, fmt.Errorf("%s: only with NATS_URL; the embedded nats-server generates its credentials into DITTO_DATA_DIR", strings.Join(set, ", ")))
	}
	return errs
}

// natsCredential is the connection option of the configured credential,
// nil without one (a NATS server that admits anonymous clients).
func (c Infra) natsCredential() (nats.Option, error) {
	switch {
	case c.NATSUser != "":
		return nats.UserInfo(c.NATSUser, c.NATSPassword), nil
	case c.NATSCreds != "":
		return nats.UserCredentials(c.NATSCreds), nil
	case c.NATSNkey != "":
		opt, err := nats.NkeyOptionFromSeed(c.NATSNkey)
		if err != nil {
			return nil, fmt.Errorf("NATS_NKEY: %w", err)
		}
		return opt, nil
	}
	return nil, nil
}

// credentialsDir is where the embedded nats-server's role credentials live.
func (c Infra) credentialsDir() string { return filepath.Join(c.DataDir, "secrets") }

// mongoOptions are the MongoDB store's options from the MONGO_DB_* and
// PEKKO_PERSISTENCE_MONGO_* settings.
func (c Infra) mongoOptions() (mongostore.Options, error) {
	o := mongostore.Options{Database: c.MongoDatabase, MaxPoolSize: c.MongoPoolSize, MinPoolSize: c.MongoMinPool,
		Timeout: c.MongoQueryLimit, TLS: c.MongoTLS, CAFile: c.MongoCAFile, ReadPreference: c.MongoReadPref,
		SnapshotIndexPidID: c.MongoIxPidID, SnapshotIndexPidSnID: c.MongoIxPidSnID}
	for _, wc := range []struct {
		name, value string
		into        **writeconcern.WriteConcern
	}{
		{"MONGO_DB_WRITE_CONCERN", c.MongoWriteConc, &o.WriteConcern},
		{"PEKKO_PERSISTENCE_MONGO_JOURNAL_WRITE_CONCERN", c.MongoJournalWC, &o.JournalWriteConcern},
		{"PEKKO_PERSISTENCE_MONGO_SNAPS_WRITE_CONCERN", c.MongoSnapsWC, &o.SnapshotWriteConcern},
	} {
		if wc.value == "" {
			continue
		}
		parsed, err := mongostore.ParseWriteConcern(wc.value)
		if err != nil {
			return mongostore.Options{}, fmt.Errorf("%s: %w", wc.name, err)
		}
		*wc.into = parsed
	}
	if c.MongoReadPref != "" {
		if _, err := mongostore.ParseReadPreference(c.MongoReadPref); err != nil {
			return mongostore.Options{}, fmt.Errorf("MONGO_DB_READ_PREFERENCE: %w", err)
		}
	}
	if c.MongoAWSIAM {
		role, err := c.awsIAMRole()
		if err != nil {
			return mongostore.Options{}, err
		}
		o.AWSIAMRole = role
	}
	return o, nil
}

// awsSessionName is what STS accepts as a role session name, awsRegion
// what a region name looks like (us-east-1, us-gov-west-1).
var (
	awsSessionName = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	awsRegion      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// awsIAMRole is the role of MONGO_DB_USE_AWS_IAM_ROLE. The region may be
// empty: the AWS SDK then finds it, as Ditto's does.
func (c Infra) awsIAMRole() (*mongostore.AWSIAMRole, error) {
	var errs []error
	if !strings.HasPrefix(c.MongoAWSRole, "arn:") {
		errs = append(errs, fmt.Errorf("MONGO_DB_AWS_ROLE_ARN %q: must be a role ARN (arn:aws:iam::<account>:role/<name>) when MONGO_DB_USE_AWS_IAM_ROLE is true", c.MongoAWSRole))
	}
	if !awsSessionName.MatchString(c.MongoAWSSession) {
		errs = append(errs, fmt.Errorf("MONGO_DB_AWS_SESSION_NAME %q: must be 2 to 64 letters, digits or +=,.@_-", c.MongoAWSSession))
	}
	if c.MongoAWSRegion != "" && !awsRegion.MatchString(c.MongoAWSRegion) {
		errs = append(errs, fmt.Errorf("MONGO_DB_AWS_REGION %q: must be a region name such as eu-central-1", c.MongoAWSRegion))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &mongostore.AWSIAMRole{Region: c.MongoAWSRegion, RoleARN: c.MongoAWSRole, SessionName: c.MongoAWSSession}, nil
}
