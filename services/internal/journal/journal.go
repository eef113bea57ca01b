package journal

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Well-known journal names: the entity types of Ditto's event-sourced services.
// They select the tables or collections <name>_journal and <name>_snaps.
const (
	Things      = "things"
	Policies    = "policies"
	Connections = "connection"
)

var (
	// ErrConflict reports that an event with the same PID and SN is already
	// stored: another writer got there first.
	ErrConflict = errors.New("journal: sequence number already taken")
	// ErrClosed reports a call on a Store (or one of its journals) after Close.
	ErrClosed = errors.New("journal: store closed")
	// ErrInvalid reports an argument no adapter can store (empty PID, SN < 1,
	// a bad journal name); it is a programming error, never a transient one.
	ErrInvalid = errors.New("journal: invalid argument")
)

// Event is one persisted event of one entity.
type Event struct {
	// PID is the persistence id: "thing:<id>", "policy:<id>", "connection:<id>".
	PID string
	// SN is the sequence number, equal to the entity revision: 1-based and
	// gap-free per PID.
	SN int64
	// Timestamp is when the event happened. Adapters keep it to the
	// millisecond and return it in UTC.
	Timestamp time.Time
	// Payload is the event as a Ditto Protocol envelope (JSON), stored and
	// returned byte for byte.
	Payload []byte
	// Headers are the configured historical headers kept with the event. An
	// empty map is returned as nil.
	Headers map[string]string
}

// EventRef names one stored event.
type EventRef struct {
	PID       string
	SN        int64
	Timestamp time.Time
}

// Snapshot is the state of one entity as of one revision.
type Snapshot struct {
	PID string
	// SN is the revision the snapshot represents.
	SN        int64
	Timestamp time.Time
	// Payload is the entity JSON, stored and returned byte for byte.
	Payload []byte
	// Deleted reports that the entity is deleted as of SN.
	Deleted bool
}

// Journal is one entity type's journal and snapshots. All methods are safe for
// concurrent use.
type Journal interface {
	// Append persists e durably before returning nil. It returns an error that
	// errors.Is ErrConflict when (e.PID, e.SN) is already taken; the stored
	// event is left unchanged. This holds across processes sharing the store.
	// Appends from many goroutines are committed together (group commit).
	//
	// If ctx ends while the event waits for its batch, Append returns ctx.Err()
	// and the event may or may not have been stored: the caller must read
	// HighestSN to find out. A ctx that has already ended stores nothing.
	Append(ctx context.Context, e Event) error
	// Events returns the events of pid with fromSN <= SN <= toSN in ascending
	// SN order; none (and no error) if there are none.
	Events(ctx context.Context, pid string, fromSN, toSN int64) ([]Event, error)
	// EventsSince calls fn with every event whose Timestamp is at or after
	// since, without its payload and headers, in no particular order; an
	// error from fn stops the walk and is returned. Adapters index the
	// timestamp, so the cost follows the events found, not the journal's
	// size: it is how an entity host finds events that may not have
	// reached their stream.
	EventsSince(ctx context.Context, since time.Time, fn func(EventRef) error) error
	// PIDs returns up to limit distinct persistence ids greater than after
	// (in byte order), ascending, of every entity with events or
	// snapshots, deleted ones included: how a service lists all its
	// entities page by page (a new search index is filled so).
	PIDs(ctx context.Context, after string, limit int) ([]string, error)
	// HighestSN returns the highest SN stored for pid among its events and
	// snapshots, 0 if none. Counting snapshots keeps the next SN right after
	// events covered by a snapshot have been cleaned up.
	HighestSN(ctx context.Context, pid string) (int64, error)
	// SNAt returns the highest SN among the events of pid whose Timestamp
	// is at or before at (to the millisecond), 0 if there is none: the
	// revision the entity had at that time (at-historical-timestamp).
	// Snapshots do not count. The cost follows the events after at, not
	// all of pid's events.
	SNAt(ctx context.Context, pid string, at time.Time) (int64, error)
	// SaveSnapshot stores s durably; saving the same (PID, SN) twice is not an
	// error (the last one wins).
	SaveSnapshot(ctx context.Context, s Snapshot) error
	// LatestSnapshot returns the snapshot of pid with the highest SN <= maxSN;
	// ok is false if there is none.
	LatestSnapshot(ctx context.Context, pid string, maxSN int64) (s Snapshot, ok bool, err error)
	// PurgeNamespace deletes every event and snapshot of the entities of
	// kind ("thing", "policy") in namespace: those whose pid starts with
	// NamespacePrefix(kind, namespace). Namespace erasure (Ditto's
	// purgeNamespace) calls it once the namespace is blocked, so nothing
	// is appended there meanwhile. Other entities' appends are not held
	// up behind a large namespace (the SQLite adapter deletes in bounded
	// chunks). A purge that fails part-way has deleted some of it;
	// calling it again finishes it (it is idempotent).
	PurgeNamespace(ctx context.Context, kind, namespace string) error

	// The methods below serve background cleanup (package cleanup), which
	// deletes what neither the history retention nor the current state
	// needs. It only ever deletes SNs at or below a snapshot of the
	// entity, where its one writer never appends, so deletes need no
	// coordination with appends.

	// NewestSnapshots returns up to limit snapshots without their
	// payload, one per persistence id greater than after (in byte order),
	// ascending: for each pid, of its snapshots whose Timestamp is before
	// before, the one with the highest SN. Pids without such a snapshot
	// are skipped (they take no place in limit). It is how cleanup walks
	// the entities page by page (Ditto's getNewestSnapshotsAbove).
	NewestSnapshots(ctx context.Context, after string, before time.Time, limit int) ([]SnapshotRef, error)
	// LowestSN returns the lowest SN among the events of pid and among
	// its snapshots, each 0 if there is none.
	LowestSN(ctx context.Context, pid string) (event, snapshot int64, err error)
	// DeleteEvents deletes the events of pid with SN <= toSN, at most
	// limit of them, lowest SN first, and returns how many it deleted:
	// fewer than limit means none is left at or below toSN. limit must be
	// at least 1.
	DeleteEvents(ctx context.Context, pid string, toSN int64, limit int) (int64, error)
	// DeleteSnapshots is DeleteEvents for the snapshots of pid. Deleting
	// the latest snapshot of an entity whose events it covers were
	// deleted lowers HighestSN.
	DeleteSnapshots(ctx context.Context, pid string, toSN int64, limit int) (int64, error)
}

// SnapshotRef names one stored snapshot.
type SnapshotRef struct {
	PID       string
	SN        int64
	Timestamp time.Time
	// Deleted reports that the entity is deleted as of SN.
	Deleted bool
}

// CheckDelete reports whether DeleteEvents and DeleteSnapshots can take
// pid and limit.
func CheckDelete(pid string, limit int) error {
	if pid == "" {
		return fmt.Errorf("%w: delete without pid", ErrInvalid)
	}
	if limit < 1 {
		return fmt.Errorf("%w: delete limit %d, want >= 1", ErrInvalid, limit)
	}
	return nil
}

// Store opens journals by entity type. It is safe for concurrent use.
type Store interface {
	// Journal returns the journal called name ([Things], [Policies],
	// [Connections]), creating its tables or collections and indexes if they
	// do not exist. name must be a lowercase identifier (see [CheckName]).
	Journal(name string) (Journal, error)
	// Close flushes pending appends (each pending Append gets its result),
	// then releases the store. Later calls return ErrClosed; Close itself may
	// be called again and returns nil.
	Close() error
}

// CheckName reports whether name can name a journal: 1 to 32 characters of
// [a-z0-9_] starting with a letter. Adapters put it into table and collection
// names, so nothing else is allowed.
func CheckName(name string) error {
	if name == "" || len(name) > 32 || name[0] < 'a' || name[0] > 'z' {
		return fmt.Errorf("%w: journal name %q", ErrInvalid, name)
	}
	for i := 1; i < len(name); i++ {
		c := name[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return fmt.Errorf("%w: journal name %q", ErrInvalid, name)
		}
	}
	return nil
}

// JournalTable returns the name of the events table or collection of the
// journal called name (Ditto's <name>_journal).
func JournalTable(name string) string { return name + "_journal" }

// SnapshotTable returns the name of the snapshots table or collection of the
// journal called name (Ditto's <name>_snaps).
func SnapshotTable(name string) string { return name + "_snaps" }

// NamespacePrefix is the prefix of the persistence ids of the entities
// of kind in namespace: "thing:org.acme:" for kind "thing" and namespace
// "org.acme". The ':' after the namespace keeps it from matching longer
// namespaces ("org.acme2").
func NamespacePrefix(kind, namespace string) string { return kind + ":" + namespace + ":" }

// CheckNamespace reports whether PurgeNamespace can take kind and
// namespace: a kind that is a nonempty identifier without ':' (it names
// an entity type), a namespace without ':' (it may be empty: entity ids
// like ":name" have the empty namespace).
func CheckNamespace(kind, namespace string) error {
	if kind == "" || strings.ContainsRune(kind, ':') || strings.ContainsRune(namespace, ':') {
		return fmt.Errorf("%w: purge kind %q namespace %q", ErrInvalid, kind, namespace)
	}
	return nil
}

// PrefixEnd is the least string greater than every string with prefix
// p, for a range query pid >= p AND pid < PrefixEnd(p); p must end in a
// byte below 0xFF (NamespacePrefix ends in ':').
func PrefixEnd(p string) string {
	b := []byte(p)
	b[len(b)-1]++
	return string(b)
}

// Check reports whether e can be appended: a PID and an SN of at least 1.
func (e Event) Check() error {
	if e.PID == "" {
		return fmt.Errorf("%w: event without pid", ErrInvalid)
	}
	if e.SN < 1 {
		return fmt.Errorf("%w: event %s has sn %d, want >= 1", ErrInvalid, e.PID, e.SN)
	}
	return nil
}

// Check reports whether s can be saved: a PID and an SN of at least 1.
func (s Snapshot) Check() error {
	if s.PID == "" {
		return fmt.Errorf("%w: snapshot without pid", ErrInvalid)
	}
	if s.SN < 1 {
		return fmt.Errorf("%w: snapshot %s has sn %d, want >= 1", ErrInvalid, s.PID, s.SN)
	}
	return nil
}
