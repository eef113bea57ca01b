package platform

import "strings"

// dittoKeys maps each environment variable to the configuration keys that
// set it, Ditto's where Ditto's configuration files read the variable
// (`key = ${?VARIABLE}` in gateway.conf, things.conf, policies.conf,
// search.conf, ditto-*.conf) or have the same setting, else keys of this
// platform's own under ditto. A HOCON file or a -D property sets a
// variable through its first key that is set; the environment variable
// itself still wins. The effective configuration tree carries the
// variable's value at every one of its keys.
//
// A variable not listed here gets ditto.<its name in lower kebab-case>
// (see dittoKeysOf), so that every variable has a key; the test of this
// table asks for a row for each.
var dittoKeys = map[string][]string{
	// Ditto's settings (internal/utils/config ditto-*.conf).
	"CLUSTER_NUMBER_OF_SHARDS":                      {"ditto.cluster.number-of-shards"},
	"MONGO_DB_URI":                                  {"ditto.mongodb.uri"},
	"MONGO_DB_DATABASE":                             {"ditto.mongodb.database"},
	"MONGO_DB_CONNECTION_POOL_SIZE":                 {"ditto.mongodb.pool.maxSize"},
	"MONGO_DB_WRITE_CONCERN":                        {"ditto.mongodb.options.writeConcern"},
	"MONGO_DB_QUERY_TIMEOUT":                        {"ditto.mongodb.maxQueryTime"},
	"MONGO_DB_CONNECTION_MIN_POOL_SIZE":             {"ditto.mongodb.pool.minSize"},
	"MONGO_DB_SSL_ENABLED":                          {"ditto.mongodb.options.ssl"},
	"MONGO_DB_CA_FILE":                              {"ditto.mongodb.options.sslCAFile"},
	"MONGO_DB_READ_PREFERENCE":                      {"ditto.mongodb.options.readPreference"},
	"MONGO_DB_USE_AWS_IAM_ROLE":                     {"ditto.mongodb.options.useAwsIamRole"},
	"MONGO_DB_AWS_REGION":                           {"ditto.mongodb.options.awsRegion"},
	"MONGO_DB_AWS_ROLE_ARN":                         {"ditto.mongodb.options.awsRoleArn"},
	"MONGO_DB_AWS_SESSION_NAME":                     {"ditto.mongodb.options.awsSessionName"},
	"PEKKO_PERSISTENCE_MONGO_JOURNAL_WRITE_CONCERN": {"pekko.contrib.persistence.mongodb.mongo.journal-write-concern"},
	"PEKKO_PERSISTENCE_MONGO_SNAPS_WRITE_CONCERN":   {"pekko.contrib.persistence.mongodb.mongo.snaps-write-concern"},
	"MONGODB_READ_JOURNAL_SHOULD_CREATE_ADDITIONAL_SNAPSHOT_AGGREGATION_INDEX_PID_ID":    {"ditto.mongodb.read-journal.should-create-additional-snapshot-aggregation-index-pid-id"},
	"MONGODB_READ_JOURNAL_SHOULD_CREATE_ADDITIONAL_SNAPSHOT_AGGREGATION_INDEX_PID_SN":    {"ditto.mongodb.read-journal.should-create-additional-snapshot-aggregation-index-pid-sn"},
	"MONGODB_READ_JOURNAL_SHOULD_CREATE_ADDITIONAL_SNAPSHOT_AGGREGATION_INDEX_PID_SN_ID": {"ditto.mongodb.read-journal.should-create-additional-snapshot-aggregation-index-pid-sn-id"},

	// ditto-tracing.conf and ditto-kamon.conf.
	"DITTO_TRACING_ENABLED":                     {"ditto.tracing.enabled"},
	"DITTO_TRACING_OTEL_TRACE_REPORTER_ENABLED": {"kamon.modules.otel-trace-reporter.enabled"},
	"DITTO_TRACING_SAMPLER":                     {"kamon.trace.sampler"},
	"DITTO_TRACING_RANDOM_SAMPLER_PROBABILITY":  {"kamon.trace.random-sampler.probability"},
	"DITTO_TRACING_ADAPTIVE_SAMPLER_THROUGHPUT": {"kamon.trace.adaptive-sampler.throughput"},
	"DITTO_TRACING_TICK_INTERVAL":               {"kamon.trace.tick-interval"},
	"DITTO_TRACING_REPORTER_QUEUE_SIZE":         {"kamon.trace.reporter-queue-size"},
	"OTEL_BSP_SCHEDULE_DELAY":                   {"ditto.tracing.otel-bsp-schedule-delay"},
	"OTEL_BSP_MAX_QUEUE_SIZE":                   {"ditto.tracing.otel-bsp-max-queue-size"},
	"OTEL_EXPORTER_OTLP_ENDPOINT":               {"kamon.otel.endpoint"},

	// ditto-metrics.conf.
	"PROMETHEUS_ENABLED":                                   {"ditto.metrics.prometheus.enabled"},
	"PROMETHEUS_HOSTNAME":                                  {"ditto.metrics.prometheus.hostname"},
	"PROMETHEUS_PORT":                                      {"ditto.metrics.prometheus.port"},
	"SYSTEM_METRICS_ENABLED":                               {"ditto.metrics.systemMetrics.enabled"},
	"DITTO_METRICS_METRIC_PREFIX":                          {"ditto.metrics.metric-prefix"},
	"DITTO_METRICS_LIVE_ENTITIES_METRICS_ENABLED":          {"ditto.metrics.live-entities-metrics.enabled"},
	"DITTO_METRICS_LIVE_ENTITIES_METRICS_REFRESH_INTERVAL": {"ditto.metrics.live-entities-metrics.refresh-interval"},

	"LIMITS_THINGS_MAX_SIZE":                 {"ditto.limits.things.max-size"},
	"LIMITS_POLICIES_MAX_SIZE":               {"ditto.limits.policies.max-size"},
	"LIMITS_POLICIES_MAX_IMPORTS":            {"ditto.limits.policies.imports-limit"},
	"LIMITS_MESSAGES_MAX_SIZE":               {"ditto.limits.messages.max-size"},
	"LIMITS_THINGS_SEARCH_DEFAULT_PAGE_SIZE": {"ditto.limits.search.default-page-size"},
	"LIMITS_THINGS_SEARCH_MAX_PAGE_SIZE":     {"ditto.limits.search.max-page-size"},

	// gateway.conf.
	"BIND_HOSTNAME":                         {"ditto.gateway.http.hostname"},
	"HTTP_PORT":                             {"ditto.gateway.http.port"},
	"REQUEST_TIMEOUT":                       {"ditto.gateway.http.request-timeout", "ditto.gateway.command.default-timeout"},
	"COORDINATED_SHUTDOWN_REQUEST_TIMEOUT":  {"ditto.gateway.http.coordinated-shutdown-timeout"},
	"ENABLE_CORS":                           {"ditto.gateway.http.enablecors"},
	"ADDITIONAL_ACCEPTED_MEDIA_TYPES":       {"ditto.gateway.http.additional-accepted-media-types"},
	"IDLE_TIMEOUT":                          {"pekko.http.server.idle-timeout"},
	"ENABLE_PRE_AUTHENTICATION":             {"ditto.gateway.authentication.pre-authentication.enabled"},
	"DEVOPS_SECURED":                        {"ditto.gateway.authentication.devops.secured"},
	"DEVOPS_PASSWORD":                       {"ditto.gateway.authentication.devops.password"},
	"DEVOPS_STATUS_SECURED":                 {"ditto.gateway.authentication.devops.status-secured"},
	"STATUS_PASSWORD":                       {"ditto.gateway.authentication.devops.statusPassword"},
	"HEALTH_CHECK_SERVICE_TIMEOUT":          {"ditto.gateway.health-check.service.timeout"},
	"HEALTH_CHECK_ROLES_ENABLED":            {"ditto.gateway.health-check.cluster-roles.enabled"},
	"WS_SUBSCRIBER_BACKPRESSURE":            {"ditto.gateway.streaming.websocket.subscriber.backpressure-queue-size"},
	"WS_PUBLISHER_BACKPRESSURE":             {"ditto.gateway.streaming.websocket.publisher.backpressure-buffer-size"},
	"GATEWAY_WEBSOCKET_THROTTLING_ENABLED":  {"ditto.gateway.streaming.websocket.throttling.enabled"},
	"GATEWAY_WEBSOCKET_THROTTLING_INTERVAL": {"ditto.gateway.streaming.websocket.throttling.interval"},
	"GATEWAY_WEBSOCKET_THROTTLING_LIMIT":    {"ditto.gateway.streaming.websocket.throttling.limit"},
	"GATEWAY_WEBSOCKET_PING_INTERVAL":       {"pekko.http.server.websocket.periodic-keep-alive-max-idle"},
	"GATEWAY_SSE_PUBLISHER_BACKPRESSURE":    {"ditto.gateway.streaming.sse.publisher.backpressure-buffer-size"},
	"GATEWAY_STREAMING_SEARCH_IDLE_TIMEOUT": {"ditto.gateway.streaming.search-idle-timeout"},
	// gateway.conf's oauth section; the issuers have no variable in
	// Ditto (a HOCON map), here also their JSON form.
	"OAUTH_OPENID_CONNECT_ISSUERS":    {"ditto.gateway.authentication.oauth.openid-connect-issuers"},
	"OAUTH_PROTOCOL":                  {"ditto.gateway.authentication.oauth.protocol"},
	"OAUTH_ALLOWED_CLOCK_SKEW":        {"ditto.gateway.authentication.oauth.allowed-clock-skew"},
	"OAUTH_TOKEN_INTEGRATION_SUBJECT": {"ditto.gateway.authentication.oauth.token-integration-subject"},

	// things.conf, policies.conf and the policy enforcer cache
	// (policies/enforcement reference.conf).
	"THING_SNAPSHOT_THRESHOLD":          {"ditto.things.thing.snapshot.threshold"},
	"THINGS_POLICY_CACHE_SIZE":          {"ditto.policies-enforcer-cache.maximum-size"},
	"THINGS_POLICY_CACHE_TTL":           {"ditto.policies-enforcer-cache.expire-after-write"},
	"POLICY_SNAPSHOT_THRESHOLD":         {"ditto.policies.policy.snapshot.threshold"},
	"POLICY_SUBJECT_EXPIRY_GRANULARITY": {"ditto.policies.policy.subject-expiry-granularity"},
	// Subject deletion announcements (policies.conf).
	"POLICY_SUBJECT_DELETION_ANNOUNCEMENT_GRANULARITY":   {"ditto.policies.policy.subject-deletion-announcement-granularity"},
	"POLICY_ANNOUNCEMENT_GRACE_PERIOD":                   {"ditto.policies.policy.announcement.grace-period"},
	"POLICY_ANNOUNCEMENT_MAX_TIMEOUT":                    {"ditto.policies.policy.announcement.max-timeout"},
	"POLICY_ENABLE_ANNOUNCEMENTS_WHEN_DELETED":           {"ditto.policies.policy.announcement.enable-announcements-when-deleted"},
	"POLICY_ANNOUNCEMENT_DEFAULT_RANDOMIZATION_INTERVAL": {"ditto.policies.policy.announcement.default-randomization-interval"},
	"POLICY_ANNOUNCEMENT_BACKOFF_MIN":                    {"ditto.policies.policy.announcement.exponential-backoff.min"},
	"POLICY_ANNOUNCEMENT_BACKOFF_MAX":                    {"ditto.policies.policy.announcement.exponential-backoff.max"},
	"POLICY_ANNOUNCEMENT_BACKOFF_RANDOM_FACTOR":          {"ditto.policies.policy.announcement.exponential-backoff.random-factor"},
	// History: the headers journaled with each event.
	"THING_EVENT_HISTORICAL_HEADERS_TO_PERSIST":  {"ditto.things.thing.event.historical-headers-to-persist"},
	"POLICY_EVENT_HISTORICAL_HEADERS_TO_PERSIST": {"ditto.policies.policy.event.historical-headers-to-persist"},
	// Background cleanup: one variable for both services, as in Ditto.
	"CLEANUP_ENABLED":                       cleanupKeys("enabled"),
	"CLEANUP_HISTORY_RETENTION_DURATION":    cleanupKeys("history-retention-duration"),
	"CLEANUP_QUIET_PERIOD":                  cleanupKeys("quiet-period"),
	"CLEANUP_INTERVAL":                      cleanupKeys("interval"),
	"CLEANUP_TIMER_THRESHOLD":               cleanupKeys("timer-threshold"),
	"CLEANUP_CREDITS_PER_BATCH":             cleanupKeys("credits-per-batch"),
	"CLEANUP_READS_PER_QUERY":               cleanupKeys("reads-per-query"),
	"CLEANUP_WRITES_PER_CREDIT":             cleanupKeys("writes-per-credit"),
	"CLEANUP_DELETE_FINAL_DELETED_SNAPSHOT": cleanupKeys("delete-final-deleted-snapshot"),

	// search.conf. Ditto reads the throttle period from the misspelt
	// variable only; both name the same key.
	"EVENT_PROCESSING_ACTIVE":             {"ditto.search.updater.event-processing-active"},
	"BACKGROUND_SYNC_ENABLED":             {"ditto.search.updater.background-sync.enabled"},
	"BACKGROUND_SYNC_QUIET_PERIOD":        {"ditto.search.updater.background-sync.quiet-period"},
	"BACKGROUND_SYNC_TOLERANCE_WINDOW":    {"ditto.search.updater.background-sync.tolerance-window"},
	"BACKGROUND_SYNC_KEEP_EVENTS":         {"ditto.search.updater.background-sync.keep.events"},
	"BACKGROUND_SYNC_THROTTLE_THROUGHPUT": {"ditto.search.updater.background-sync.throttle.throughput"},
	"BACKGROUND_SYNC_THROTTLE_PERIOD":     {"ditto.search.updater.background-sync.throttle.period"},
	"BACKGROUND_SYCN_THROTTLE_PERIOD":     {"ditto.search.updater.background-sync.throttle.period"},
	"SEARCH_NAMESPACE_INDEXED_FIELDS":     {"ditto.search.namespace-indexed-fields"},
	"SEARCH_POLICY_CACHE_SIZE":            {"ditto.search.updater.stream.policy-cache.maximum-size"},
	"SEARCH_POLICY_CACHE_TTL":             {"ditto.search.updater.stream.policy-cache.expire-after-write"},

	// search.conf's operator metrics (the metrics themselves are read
	// from the tree at ditto.search.operator-metrics).
	"THINGS_SEARCH_OPERATOR_METRICS_ENABLED":         {"ditto.search.operator-metrics.enabled"},
	"THINGS_SEARCH_OPERATOR_METRICS_SCRAPE_INTERVAL": {"ditto.search.operator-metrics.scrape-interval"},

	// This platform's own settings.
	"NATS_URL":                      {"ditto.nats.url"},
	"NATS_USER":                     {"ditto.nats.user"},
	"NATS_PASSWORD":                 {"ditto.nats.password"},
	"NATS_CREDS":                    {"ditto.nats.creds"},
	"NATS_NKEY":                     {"ditto.nats.nkey"},
	"DITTO_NATS_LISTEN":             {"ditto.nats.listen"},
	"DITTO_SUBJECT_PREFIX":          {"ditto.nats.subject-prefix"},
	"NATS_STREAM_REPLICAS":          {"ditto.nats.stream-replicas"},
	"DITTO_INSTANCE_ID":             {"ditto.instance-id"},
	"DITTO_SHARD_LEASE_TTL":         {"ditto.cluster.shard-lease-ttl"},
	"DITTO_EVENTS_MAX_AGE":          {"ditto.events.max-age"},
	"DITTO_EVENTS_MAX_BYTES":        {"ditto.events.max-bytes"},
	"DITTO_EVENTS_DUPLICATE_WINDOW": {"ditto.events.duplicate-window"},
	"DITTO_DATA_DIR":                {"ditto.data-dir"},
	"DITTO_SQLITE_SYNCHRONOUS":      {"ditto.sqlite.synchronous"},
	"LOG_LEVEL":                     {"ditto.logging.level"},
	"LOG_LEVEL_APPLICATION":         {"ditto.logging.level-application"},
	// logback.xml's variables, which no HOCON key of Ditto's reads.
	"DITTO_LOGGING_DISABLE_SYSOUT_LOG":      {"ditto.logging.disable-sysout-log"},
	"DITTO_LOGGING_LOGSTASH_SERVER":         {"ditto.logging.logstash-server"},
	"LOGSTASH_WRITE_BUFFER_SIZE":            {"ditto.logging.logstash-write-buffer-size"},
	"LOGSTASH_RING_BUFFER_SIZE":             {"ditto.logging.logstash-ring-buffer-size"},
	"DITTO_LOGGING_FILE_APPENDER":           {"ditto.logging.file-appender"},
	"DITTO_LOGGING_FILE_APPENDER_THRESHOLD": {"ditto.logging.file-appender-threshold"},
	"DITTO_LOGGING_FILE_NAME_PATTERN":       {"ditto.logging.file-name-pattern"},
	"DITTO_LOGGING_MAX_LOG_FILE_HISTORY":    {"ditto.logging.max-log-file-history"},
	"DITTO_LOGGING_TOTAL_LOG_FILE_SIZE":     {"ditto.logging.total-log-file-size"},
	"DITTO_LOGGING_CLEAN_HISTORY_ON_START":  {"ditto.logging.clean-history-on-start"},
	// ditto-headers.conf.
	"DITTO_HEADERS_REDACTED_IN_LOG": {"ditto.headers.redacted-in-log"},
	"DITTO_PPROF_LISTEN":            {"ditto.pprof.listen"},

	"GATEWAY_HTTP_READ_HEADER_TIMEOUT": {"ditto.gateway.http.read-header-timeout"},
	"GATEWAY_HTTP_READ_TIMEOUT":        {"ditto.gateway.http.read-timeout"},
	"GATEWAY_HTTP_WRITE_TIMEOUT":       {"ditto.gateway.http.write-timeout"},
	"GATEWAY_USERS_FILE":               {"ditto.gateway.authentication.users-file"},
	"DITTO_DEFAULT_NAMESPACE":          {"ditto.gateway.default-namespace"},
	"GATEWAY_WEBSOCKET_IDLE_TIMEOUT":   {"ditto.gateway.streaming.websocket.idle-timeout"},
	"GATEWAY_WEBSOCKET_WRITE_TIMEOUT":  {"ditto.gateway.streaming.websocket.write-timeout"},

	"THINGS_MAILBOX_SIZE":             {"ditto.things.mailbox-size"},
	"THINGS_MAX_IN_MEMORY":            {"ditto.things.max-in-memory"},
	"THINGS_DEFAULT_TIMEOUT":          {"ditto.things.default-timeout"},
	"POLICIES_MAILBOX_SIZE":           {"ditto.policies.mailbox-size"},
	"POLICIES_MAX_ENTITIES_IN_MEMORY": {"ditto.policies.max-entities-in-memory"},

	"SEARCH_INDEX_PATH":        {"ditto.search.index-path"},
	"SEARCH_QUERY_TIMEOUT":     {"ditto.search.query-timeout"},
	"SEARCH_QUERY_PARALLELISM": {"ditto.search.query-parallelism"},
	"SEARCH_INDEX_READERS":     {"ditto.search.index-readers"},
	"SEARCH_FETCH_PARALLELISM": {"ditto.search.fetch-parallelism"},
}

// cleanupKeys are the keys of a background cleanup setting in the things
// and the policies service.
func cleanupKeys(name string) []string {
	return []string{"ditto.things.thing.cleanup." + name, "ditto.policies.policy.cleanup." + name}
}

// dittoKeysOf returns the configuration keys of an environment variable:
// its row of dittoKeys, else ditto.<name in lower kebab-case> without a
// DITTO_ prefix (DITTO_FOO_BAR: ditto.foo-bar).
func dittoKeysOf(name string) []string {
	if keys, ok := dittoKeys[name]; ok {
		return keys
	}
	return []string{"ditto." + strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, "DITTO_"), "_", "-"))}
}
