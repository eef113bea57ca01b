// Package entity hosts event-sourced entities (things, policies) for one
// service instance: it is the "one writer per entity" of DESIGN.md.
//
// Commands arrive on the shard subjects this instance owns, one per command
// kind (streams.CommandKind: commands of an authenticated caller, an
// operator's sudo commands, services' internal commands). One dispatcher
// goroutine reads every subscribed message in the order the NATS connection
// delivered it and hands commands to the addressed entity's bounded mailbox;
// it never does I/O. Messages of observed subjects (e.g. policy events that
// invalidate an enforcement cache) are handled inline by the same goroutine,
// so a command that reached this instance after an invalidation is always
// handled after it. A full mailbox answers at once with Ditto's
// "too many modifying requests" error.
//
// Each entity with queued commands is run by one worker of a fixed pool at a
// time (long-lived workers keep their grown stacks), which loads the entity
// from the journal on first use (latest snapshot, then the events after it),
// runs the service's Handler, appends the resulting event to the journal
// with SN = revision, applies it, publishes it to JetStream with
// Nats-Msg-Id "<entity id>:<revision>", writes a snapshot every N events and
// on deletion, and replies. A journal conflict (another instance wrote that
// revision) reloads the entity and runs the command again, so an update is
// neither lost nor applied twice.
//
// Every journaled event reaches its stream at least once and in revision
// order per entity, also when JetStream fails for a while or the process
// dies between append and publish: see publish.go. Subjects served:
// <p>.<service>.{commands,sudo,internal}.<shard>; KV written:
// <P>_<SERVICE>_PUBLISHED (a watermark per shard).
//
// History (history.go): a retrieve with at-historical-revision or
// at-historical-timestamp is answered from a past state the host rebuilds
// from the journal (the nearest snapshot and the events after it), apart
// from the live entity and beside its mailbox, enforced with the entity as
// it is now; the configured historical headers are journaled with each
// event and returned as historical-headers. A retrieve with
// streams.HeaderHistory (historyevents.go) is answered with a page of the
// entity's journaled events instead, each cut down by the Handler (a
// HistoryViewer) to what the caller may read now: the gateway pages
// through a range this way to stream it over SSE.
//
// Namespace erasure (namespaces.go): the dispatcher refuses every command
// to a blocked namespace with Ditto's namespace.blocked before it reaches
// a mailbox; the blocked namespaces are read from, and watched in, KV
// <P>_<SERVICE>_NAMESPACES (package namespaces), before any command is
// dispatched. Unload drops a namespace's entities from memory,
// PurgeNamespace from the journal.
package entity
