// Package journaltest is the conformance suite every journal adapter must
// pass: an adapter's test calls [Run] with a function that opens its store.
//
// It checks what the services rely on: exact bytes, headers and millisecond
// timestamps back; SN ranges; ErrConflict on a taken (pid, sn) with the stored
// event left alone, also when many goroutines race; snapshots by maximum SN,
// overwrite and the deleted flag; journals that do not see each other; Close
// that finishes pending appends; data that survives a reopen.
package journaltest
