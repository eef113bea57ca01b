package search

import (
	"errors"
	"fmt"
	"time"

	"github.com/dittonats/dittonats/services/internal/limits"
)

// Config is the search service's configuration (environment variables).
// The BACKGROUND_SYNC_* variables are Ditto's (thingsearch's search.conf,
// same defaults). Ditto's configuration reads the throttle period from
// BACKGROUND_SYCN_THROTTLE_PERIOD (sic); both spellings are accepted, the
// correct one winning.
type Config struct {
	// IndexPath is the SQLite file of this instance's index; empty puts it
	// in the data directory.
	IndexPath string `envconfig:"SEARCH_INDEX_PATH" desc:"SQLite file of this things-search instance's index (default: things-search.db in DITTO_DATA_DIR); every instance needs its own"`
	// QueryTimeout bounds a query that carries no timeout.
	QueryTimeout time.Duration `envconfig:"SEARCH_QUERY_TIMEOUT" default:"10s" desc:"how long a search query may run when the request sets no timeout (408 thing-search:query.time.exceeded after)"`
	// Queries is how many queries run at once per instance; more wait.
	Queries int `envconfig:"SEARCH_QUERY_PARALLELISM" default:"8" desc:"search queries evaluated at once per instance"`
	// IndexReaders is how many read connections the index has (0: the
	// index's default).
	IndexReaders int `envconfig:"SEARCH_INDEX_READERS" default:"4" desc:"read connections of this instance's index: queries beyond them wait for one"`
	// Fetches is how many things the projector loads at once from the
	// things service (gaps, new index, repair).
	Fetches int `envconfig:"SEARCH_FETCH_PARALLELISM" default:"32" desc:"things loaded at once from the things service when filling or repairing the index"`
	// IndexedFields is ditto.search.namespace-indexed-fields as JSON.
	IndexedFields string `envconfig:"SEARCH_NAMESPACE_INDEXED_FIELDS" desc:"Ditto's ditto.search.namespace-indexed-fields as a JSON array of {\"namespace-pattern\":\"org.acme*\",\"indexed-fields\":[\"attributes\",\"features/info\"]}; first matching pattern wins; empty indexes every field"`

	// EventProcessing is Ditto's ditto.search.updater.event-processing-active.
	// Ditto 3 reads it and only warns when it is off; earlier Ditto stopped
	// following the thing events, which is what off does here (operators
	// pause indexing with it, and the bench measures writes without it).
	EventProcessing bool `envconfig:"EVENT_PROCESSING_ACTIVE" default:"true" desc:"follow the thing and policy events and apply them to the index; false leaves the index as it is (queries are answered from it, background sync still repairs it)"`

	SyncEnabled        bool          `envconfig:"BACKGROUND_SYNC_ENABLED" default:"true" desc:"walk things and index in the background and repair missing, stale and orphaned index entries"`
	SyncQuietPeriod    time.Duration `envconfig:"BACKGROUND_SYNC_QUIET_PERIOD" default:"8m" desc:"time from start-up to the first background sync pass, and from the end of a pass (or a restart by DevOps command) to the next"`
	SyncTolerance      time.Duration `envconfig:"BACKGROUND_SYNC_TOLERANCE_WINDOW" default:"20m" desc:"an index entry behind its thing is repaired only when the thing changed longer ago than this (younger differences are events in flight)"`
	SyncThroughput     int           `envconfig:"BACKGROUND_SYNC_THROTTLE_THROUGHPUT" default:"100" desc:"things checked per throttle period"`
	SyncPeriod         time.Duration `envconfig:"BACKGROUND_SYNC_THROTTLE_PERIOD" desc:"the throttle period of background sync (default 10s)"`
	SyncPeriodDitto    time.Duration `envconfig:"BACKGROUND_SYCN_THROTTLE_PERIOD" desc:"Ditto's misspelt name of BACKGROUND_SYNC_THROTTLE_PERIOD (read when that one is not set)"`
	SyncKeepEvents     int           `envconfig:"BACKGROUND_SYNC_KEEP_EVENTS" default:"50" desc:"how many background sync events (passes started and ended, restarts) its DevOps health report keeps"`
	PolicyCacheTTL     time.Duration `envconfig:"SEARCH_POLICY_CACHE_TTL" default:"1h" desc:"a policy the index was built with is loaded again after this long even without a policy event"`
	PolicyCacheEntries int           `envconfig:"SEARCH_POLICY_CACHE_SIZE" default:"1000000" desc:"policies remembered per instance, for indexing and for cutting hits down to what the caller may read; each refers to a compiled enforcer shared by every policy with the same entries (at most a tenth of this many are compiled at once)"`

	// OperatorMetricsEnabled and OperatorMetricsInterval are Ditto's
	// ditto.search.operator-metrics.enabled and .scrape-interval; the
	// metrics themselves are OperatorMetrics.
	OperatorMetricsEnabled  bool          `envconfig:"THINGS_SEARCH_OPERATOR_METRICS_ENABLED" default:"true" desc:"compute the operator's custom metrics and custom aggregation metrics (ditto.search.operator-metrics) and export them as Prometheus gauges"`
	OperatorMetricsInterval time.Duration `envconfig:"THINGS_SEARCH_OPERATOR_METRICS_SCRAPE_INTERVAL" default:"15m" desc:"how often an operator metric without a scrape-interval of its own is computed"`
	// OperatorMetrics are the custom metrics and custom aggregation
	// metrics of ditto.search.operator-metrics (OperatorMetricsFromTree).
	OperatorMetrics OperatorMetrics `ignored:"true"`

	// Limits are the platform's LIMITS_* settings (page sizes).
	Limits limits.Config `ignored:"true"`
	// NamespaceRoots are the namespace root policies (Ditto's
	// ditto.namespace-policies, from the configuration tree); nil: none.
	NamespaceRoots func(namespace string) []string `ignored:"true"`
	// DataDir is where IndexPath defaults to.
	DataDir string `ignored:"true"`
}

// throttlePeriod is the effective background sync throttle period.
func (c Config) throttlePeriod() time.Duration {
	switch {
	case c.SyncPeriod > 0:
		return c.SyncPeriod
	case c.SyncPeriodDitto > 0:
		return c.SyncPeriodDitto
	}
	return 10 * time.Second
}

// syncSettings are the background sync's settings from the configuration;
// DevOps commands change them at run time.
func (c Config) syncSettings() syncSettings {
	return syncSettings{Enabled: c.SyncEnabled, QuietPeriod: c.SyncQuietPeriod, Tolerance: c.SyncTolerance,
		KeepEvents: c.SyncKeepEvents, Throughput: c.SyncThroughput, Period: c.throttlePeriod()}
}

// Validate reports every setting that cannot work.
func (c Config) Validate() error {
	var errs []error
	if c.QueryTimeout <= 0 {
		errs = append(errs, fmt.Errorf("SEARCH_QUERY_TIMEOUT %s: must be positive", c.QueryTimeout))
	}
	if c.Queries < 1 {
		errs = append(errs, fmt.Errorf("SEARCH_QUERY_PARALLELISM %d: must be at least 1", c.Queries))
	}
	if c.IndexReaders < 0 {
		errs = append(errs, fmt.Errorf("SEARCH_INDEX_READERS %d: must not be negative (0: the index's default)", c.IndexReaders))
	}
	if c.Fetches < 1 {
		errs = append(errs, fmt.Errorf("SEARCH_FETCH_PARALLELISM %d: must be at least 1", c.Fetches))
	}
	if c.SyncThroughput < 1 {
		errs = append(errs, fmt.Errorf("BACKGROUND_SYNC_THROTTLE_THROUGHPUT %d: must be at least 1", c.SyncThroughput))
	}
	if c.SyncPeriod < 0 || c.SyncPeriodDitto < 0 {
		errs = append(errs, fmt.Errorf("BACKGROUND_SYNC_THROTTLE_PERIOD %s: must be positive", c.SyncPeriod))
	}
	if c.SyncKeepEvents < 0 {
		errs = append(errs, fmt.Errorf("BACKGROUND_SYNC_KEEP_EVENTS %d: must not be negative", c.SyncKeepEvents))
	}
	if c.SyncQuietPeriod < 0 || c.SyncTolerance < 0 {
		errs = append(errs, errors.New("BACKGROUND_SYNC_QUIET_PERIOD and BACKGROUND_SYNC_TOLERANCE_WINDOW must not be negative"))
	}
	if c.PolicyCacheTTL <= 0 || c.PolicyCacheEntries < 1 {
		errs = append(errs, errors.New("SEARCH_POLICY_CACHE_TTL and SEARCH_POLICY_CACHE_SIZE must be positive"))
	}
	if _, err := parseIndexedFields(c.IndexedFields); err != nil {
		errs = append(errs, fmt.Errorf("SEARCH_NAMESPACE_INDEXED_FIELDS: %w", err))
	}
	if _, err := c.operatorMetrics(); err != nil {
		errs = append(errs, err)
	}
	if err := c.Limits.Validate(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
