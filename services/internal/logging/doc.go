// Package logging owns where a process's log lines go, as Ditto's
// logback.xml and its operating guide configure it with environment
// variables: stdout (slog's text format, unless
// DITTO_LOGGING_DISABLE_SYSOUT_LOG), a Logstash server over TCP
// (DITTO_LOGGING_LOGSTASH_SERVER) and daily rolled files
// (DITTO_LOGGING_FILE_APPENDER), the last two as JSON lines in
// logstash-logback-encoder's layout. Header values named by
// DITTO_HEADERS_REDACTED_IN_LOG are written as "***" in every sink.
//
// New builds a Sinks whose Handler is the process's base slog handler: it
// admits every level, and the devops registries in front of it filter at
// the levels /devops/logging sets; only the file sink has a threshold of
// its own. No sink ever blocks a caller on the network: Logstash lines go
// through a bounded queue that drops (and counts) when full.
//
// Goroutines: one per Logstash sink (connect, write, reconnect; plus a
// reader per connection that notices a closed connection) and one per file
// sink (compression and history cleanup after a rollover); Close stops and
// waits for all of them.
//
// It depends on the standard library and services/internal/devops (the
// level names).
package logging
