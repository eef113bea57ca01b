// Package cleanup is the background cleanup of an entity service's
// journal (Ditto's "Managing background cleanup"): a Cleaner per entity
// type and service instance deletes, slowly and in the background, the
// events and snapshots that neither the history retention
// (CLEANUP_HISTORY_RETENTION_DURATION) nor the entity's current state
// needs, for the entities of the shards the instance serves; every
// instance walks all entities in persistence-id order and skips the
// others', as Ditto's instances skip the pids they are not responsible
// for. It is throttled with Ditto's credits: every CLEANUP_INTERVAL a
// batch of CLEANUP_CREDITS_PER_BATCH deletes of up to
// CLEANUP_WRITES_PER_CREDIT documents, none while deletes take
// CLEANUP_TIMER_THRESHOLD or longer.
//
// Operators read and change it at run time with the piggyback commands
// of Ditto's PersistenceCleanupActor (Handler, at
// /user/<service>Root/persistenceCleanup) and clean one entity with
// cleanup.sudo.commands:cleanupPersistence (EntityHandler, at the
// service's shard region). It deletes from the <name>_journal and
// <name>_snaps collections of its journal and serves no subject of its
// own; it exports cleanup_delete_events_total and
// cleanup_delete_snapshots_total.
package cleanup
