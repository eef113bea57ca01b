// Command bench measures a running platform through its public HTTP API only,
// after the scenarios of Ditto's own benchmark-tool (READ_THINGS,
// MODIFY_THINGS and the WARMUP that reads every thing once), and compares it
// with a BASELINE: the same reads served by a bare net/http server that asks
// an in-memory map behind an embedded nats-server. The baseline is the ceiling
// of "HTTP in, one NATS request/reply, JSON out" on the same machine, so the
// ratio says how much of that ceiling the platform reaches.
//
// One invocation runs, in order and as selected by -scenarios:
//
//	BASELINE       bench re-executes itself with -serve-baseline and loads it like READ_THINGS
//	CREATE         PUT N things (each gets its own default policy), C at a time
//	WARMUP         GET every thing once, then the server's RSS is the RSS with N hot things
//	READ_THINGS    GET random things with C keep-alive connections for D
//	MODIFY_THINGS  PUT one feature property of random things for D
//	SEARCH_LAG, MODIFY_THINGS_ACKED, SEARCH_THINGS, SEARCH_ATTRIBUTE, SEARCH_SORTED, COUNT
//	               the things-search scenarios, each for D (see search.go); before WARMUP an
//	               INDEX_CATCHUP row waits until search counts all N things
//	DEVICE_LIVE_MESSAGES  POST a message to random things' inboxes, answered by a WebSocket device session
//	EVENT_FANOUT   MODIFY_THINGS at -fanout-rate with -subscribers WebSocket sessions following the
//	               events: events received, latency from send to receipt (and, in the note, from
//	               the modify's answer to receipt), lost and reordered events
//	WS_IDLE        -idle-sessions authenticated WebSocket sessions held: the server's RSS per session
//	RESTART        SIGTERM, start again on the same data, time until the first GET answers 200
//	MODIFY_THINGS_UNINDEXED  start again with EVENT_PROCESSING_ACTIVE=false, GET every thing once
//	               (unmeasured), then MODIFY_THINGS: the writes without the search index following
//	               them; its note gives MODIFY_THINGS' rate as a share of this one
//
// Unless -url names a running platform, bench starts `ditto` itself with a
// fresh data directory, a free HTTP port and no NATS port, writes its output
// to a log file in a temporary directory and stops it at the end (Ctrl-C
// included).
//
// Every row reports the successful operations, their rate, the p50 and p99 of
// their latencies (every one recorded, no sampling), the errors (any non-2xx
// answer or transport failure, warm-up included; their kinds are listed under
// the table), the rate relative to BASELINE, the CPU the server and the load
// generator used (in cores) and the server's RSS after the row. The two
// share the machine, which is why the generator is kept lean: each worker
// owns one keep-alive connection and speaks HTTP/1.1 on it itself (see
// client.go: net/http's client cost about twice the CPU per request),
// requests are written into a reused buffer, bodies built before the clock
// starts, latencies appended to per-worker slices that are reused across
// scenarios.
//
// Run with errors, bench exits with status 2 after printing the table; a run
// that could not complete exits with 1 and names the log file to read.
package main
