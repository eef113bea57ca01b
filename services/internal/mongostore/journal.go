package mongostore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dittonats/dittonats/services/internal/journal"
)

// eventDoc is one document of <name>_journal. The event is binary, not a
// sub-document: user JSON may have keys with '.' or '$' that MongoDB (and
// FerretDB) would refuse or misread.
type eventDoc struct {
	PID   string        `bson:"pid"`
	SN    int64         `bson:"sn"`
	TS    bson.DateTime `bson:"ts"`
	Event []byte        `bson:"event"`
	// Headers is a sub-document of strings when every key is a safe field
	// name (queryable as headers.<key>), else the headers as a JSON string.
	Headers any `bson:"headers,omitempty"`
}

// storedEvent decodes an eventDoc, whose headers may have either form.
type storedEvent struct {
	SN      int64         `bson:"sn"`
	TS      bson.DateTime `bson:"ts"`
	Event   []byte        `bson:"event"`
	Headers bson.RawValue `bson:"headers"`
}

// snapDoc is one document of <name>_snaps.
type snapDoc struct {
	PID     string        `bson:"pid"`
	SN      int64         `bson:"sn"`
	TS      bson.DateTime `bson:"ts"`
	Payload []byte        `bson:"payload"`
	Deleted bool          `bson:"deleted"`
}

// mongoJournal implements journal.Journal on two collections. Appends are
// queued for its writer goroutine, which inserts everything pending with one
// unordered insert (group commit).
type mongoJournal struct {
	store         *Store
	events, snaps *mongo.Collection
	// reqs is closed by Store.Close, under store.mu.
	reqs chan *appendReq
	// done is closed when the writer goroutine has drained reqs and exited.
	done chan struct{}
}

type appendReq struct {
	doc  eventDoc
	done chan error // buffered: the writer never blocks on it
	// abandoned is set by a caller that stopped waiting; the writer then
	// skips the request if it has not sent it yet.
	abandoned atomic.Bool
}

func (j *mongoJournal) createIndexes(ctx context.Context) error {
	pidSN := bson.D{{Key: "pid", Value: 1}, {Key: "sn", Value: 1}}
	indexes := []struct {
		coll  *mongo.Collection
		index mongo.IndexModel
	}{
		{j.events, mongo.IndexModel{Keys: pidSN, Options: options.Index().SetName("pid_sn").SetUnique(true)}},
		{j.events, mongo.IndexModel{Keys: bson.D{{Key: "pid", Value: 1}, {Key: "ts", Value: 1}}, Options: options.Index().SetName("pid_ts")}},
		{j.events, mongo.IndexModel{Keys: bson.D{{Key: "ts", Value: 1}}, Options: options.Index().SetName("ts")}},
		{j.snaps, mongo.IndexModel{Keys: pidSN, Options: options.Index().SetName("pid_sn").SetUnique(true)}},
	}
	// The additional snapshot indexes of Ditto's read journal, for
	// aggregations over the snapshots (pid_sn is there always).
	if j.store.opts.SnapshotIndexPidID {
		indexes = append(indexes, struct {
			coll  *mongo.Collection
			index mongo.IndexModel
		}{j.snaps, mongo.IndexModel{Keys: bson.D{{Key: "pid", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("pid_id")}})
	}
	if j.store.opts.SnapshotIndexPidSnID {
		indexes = append(indexes, struct {
			coll  *mongo.Collection
			index mongo.IndexModel
		}{j.snaps, mongo.IndexModel{Keys: bson.D{{Key: "pid", Value: 1}, {Key: "sn", Value: 1}, {Key: "_id", Value: 1}}, Options: options.Index().SetName("pid_sn_id")}})
	}
	// One index per command: FerretDB 1.24 panics on a createIndexes whose
	// list holds more than one index that already exists.
	for _, ix := range indexes {
		if _, err := ix.coll.Indexes().CreateOne(ctx, ix.index); err != nil {
			return err
		}
	}
	return nil
}

// Append implements journal.Journal.
func (j *mongoJournal) Append(ctx context.Context, e journal.Event) error {
	if err := e.Check(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	headers, err := encodeHeaders(e.Headers)
	if err != nil {
		return fmt.Errorf("encode headers of %s/%d: %w", e.PID, e.SN, err)
	}
	r := &appendReq{
		doc: eventDoc{
			PID:     e.PID,
			SN:      e.SN,
			TS:      bson.NewDateTimeFromTime(e.Timestamp),
			Event:   nonNil(e.Payload),
			Headers: headers,
		},
		done: make(chan error, 1),
	}
	if err := j.enqueue(ctx, r); err != nil {
		return err
	}
	select {
	case err := <-r.done:
		if err != nil {
			return fmt.Errorf("append %s/%d: %w", e.PID, e.SN, err)
		}
		return nil
	case <-ctx.Done():
		r.abandoned.Store(true)
		return ctx.Err()
	}
}

func (j *mongoJournal) enqueue(ctx context.Context, r *appendReq) error {
	j.store.mu.RLock()
	defer j.store.mu.RUnlock()
	if j.store.closed {
		return journal.ErrClosed
	}
	// A full queue blocks: back pressure. Close waits for the lock meanwhile
	// and the writer keeps draining, so this ends.
	select {
	case j.reqs <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// runWriter is the journal's writer goroutine; it exits once Store.Close has
// closed reqs and every queued append has been answered.
func (j *mongoJournal) runWriter() {
	defer close(j.done)
	maxBatch := j.store.opts.MaxBatch
	batch := make([]*appendReq, 0, maxBatch)
	for r := range j.reqs {
		batch = append(batch[:0], r)
	fill:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-j.reqs:
				if !ok {
					break fill
				}
				batch = append(batch, r)
			default:
				break fill
			}
		}
		j.insert(batch)
		clear(batch)
	}
}

// insert writes batch with one unordered insert and answers every request: a
// duplicate key fails only its own append, with ErrConflict.
func (j *mongoJournal) insert(batch []*appendReq) {
	live := batch[:0:0]
	docs := make([]eventDoc, 0, len(batch))
	for _, r := range batch {
		if !r.abandoned.Load() {
			live = append(live, r)
			docs = append(docs, r.doc)
		}
	}
	if len(live) == 0 {
		return
	}
	// Bounded by the store's timeout, not by a caller's ctx: one caller
	// giving up must not fail the others.
	ctx, cancel := context.WithTimeout(context.Background(), j.store.opts.Timeout)
	defer cancel()
	_, err := j.events.InsertMany(ctx, docs, options.InsertMany().SetOrdered(false))
	j.store.batches.Add(1)
	j.store.writes.Add(uint64(len(live)))

	results := make([]error, len(live))
	var bwe mongo.BulkWriteException
	switch {
	case err == nil:
	case errors.As(err, &bwe):
		// Documents without a write error were written, but if the write
		// concern failed their durability is unknown: they get that error.
		if bwe.WriteConcernError != nil {
			for i := range results {
				results[i] = bwe.WriteConcernError
			}
		}
		for _, we := range bwe.WriteErrors {
			if we.Index < 0 || we.Index >= len(results) {
				continue
			}
			if isDuplicateKey(we.Code) {
				results[we.Index] = journal.ErrConflict
			} else {
				results[we.Index] = we.WriteError
			}
		}
	default:
		for i := range results {
			results[i] = err
		}
	}
	for i, r := range live {
		r.done <- results[i]
	}
}

// isDuplicateKey reports MongoDB's duplicate key error codes (the ones the
// driver's IsDuplicateKeyError knows).
func isDuplicateKey(code int) bool {
	return code == 11000 || code == 11001 || code == 12582
}

// EventsSince implements journal.Journal.
func (j *mongoJournal) EventsSince(ctx context.Context, since time.Time, fn func(journal.EventRef) error) error {
	if j.store.isClosed() {
		return journal.ErrClosed
	}
	filter := bson.D{{Key: "ts", Value: bson.D{{Key: "$gte", Value: bson.NewDateTimeFromTime(since)}}}}
	cur, err := j.events.Find(ctx, filter, options.Find().
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "pid", Value: 1}, {Key: "sn", Value: 1}, {Key: "ts", Value: 1}}))
	if err != nil {
		return j.wrapErr(err, "read events since %s", since)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	for cur.Next(ctx) {
		var d struct {
			PID string        `bson:"pid"`
			SN  int64         `bson:"sn"`
			TS  bson.DateTime `bson:"ts"`
		}
		if err := cur.Decode(&d); err != nil {
			return j.wrapErr(err, "read events since %s", since)
		}
		if err := fn(journal.EventRef{PID: d.PID, SN: d.SN, Timestamp: time.UnixMilli(int64(d.TS)).UTC()}); err != nil {
			return err
		}
	}
	if err := cur.Err(); err != nil {
		return j.wrapErr(err, "read events since %s", since)
	}
	return nil
}

// PIDs implements journal.Journal. Both collections are read in pid order
// from after on, through their (pid, sn) index, skipping the further
// events of a pid already taken; plain finds, which FerretDB serves too.
func (j *mongoJournal) PIDs(ctx context.Context, after string, limit int) ([]string, error) {
	if j.store.isClosed() {
		return nil, journal.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	seen := map[string]bool{}
	for _, coll := range []*mongo.Collection{j.events, j.snaps} {
		filter := bson.D{{Key: "pid", Value: bson.D{{Key: "$gt", Value: after}}}}
		cur, err := coll.Find(ctx, filter, options.Find().
			SetSort(bson.D{{Key: "pid", Value: 1}, {Key: "sn", Value: 1}}).
			SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "pid", Value: 1}}))
		if err != nil {
			return nil, j.wrapErr(err, "list pids after %q", after)
		}
		distinct := 0
		last := ""
		for distinct < limit && cur.Next(ctx) {
			var d struct {
				PID string `bson:"pid"`
			}
			if err := cur.Decode(&d); err != nil {
				cur.Close(context.WithoutCancel(ctx))
				return nil, j.wrapErr(err, "list pids after %q", after)
			}
			if d.PID != last {
				last = d.PID
				distinct++
				seen[d.PID] = true
			}
		}
		err = cur.Err()
		cur.Close(context.WithoutCancel(ctx))
		if err != nil {
			return nil, j.wrapErr(err, "list pids after %q", after)
		}
	}
	out := make([]string, 0, len(seen))
	for pid := range seen {
		out = append(out, pid)
	}
	slices.Sort(out)
	if len(out) > limit {
		out = out[:limit]
	}
	return out, nil
}

// Events implements journal.Journal.
func (j *mongoJournal) Events(ctx context.Context, pid string, fromSN, toSN int64) ([]journal.Event, error) {
	if j.store.isClosed() {
		return nil, journal.ErrClosed
	}
	if fromSN > toSN {
		return nil, nil
	}
	filter := bson.D{{Key: "pid", Value: pid}, {Key: "sn", Value: bson.D{{Key: "$gte", Value: fromSN}, {Key: "$lte", Value: toSN}}}}
	cur, err := j.events.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "sn", Value: 1}}).
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "pid", Value: 0}}))
	if err != nil {
		return nil, j.wrapErr(err, "read events of %s", pid)
	}
	var docs []storedEvent
	if err := cur.All(ctx, &docs); err != nil {
		return nil, j.wrapErr(err, "read events of %s", pid)
	}
	out := make([]journal.Event, 0, len(docs))
	for _, d := range docs {
		headers, err := decodeHeaders(d.Headers)
		if err != nil {
			return nil, fmt.Errorf("decode headers of %s/%d: %w", pid, d.SN, err)
		}
		out = append(out, journal.Event{
			PID:       pid,
			SN:        d.SN,
			Timestamp: time.UnixMilli(int64(d.TS)).UTC(),
			Payload:   nonNil(d.Event),
			Headers:   headers,
		})
	}
	return out, nil
}

// HighestSN implements journal.Journal.
func (j *mongoJournal) HighestSN(ctx context.Context, pid string) (int64, error) {
	if j.store.isClosed() {
		return 0, journal.ErrClosed
	}
	var highest int64
	for _, coll := range []*mongo.Collection{j.events, j.snaps} {
		var doc struct {
			SN int64 `bson:"sn"`
		}
		err := coll.FindOne(ctx, bson.D{{Key: "pid", Value: pid}}, options.FindOne().
			SetSort(bson.D{{Key: "sn", Value: -1}}).
			SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "sn", Value: 1}})).Decode(&doc)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return 0, j.wrapErr(err, "read highest sn of %s", pid)
		}
		highest = max(highest, doc.SN)
	}
	return highest, nil
}

// SNAt implements journal.Journal: the pid_sn index walked down from the
// highest sn, to the first event at or before at.
func (j *mongoJournal) SNAt(ctx context.Context, pid string, at time.Time) (int64, error) {
	if j.store.isClosed() {
		return 0, journal.ErrClosed
	}
	var doc struct {
		SN int64 `bson:"sn"`
	}
	filter := bson.D{{Key: "pid", Value: pid}, {Key: "ts", Value: bson.D{{Key: "$lte", Value: bson.NewDateTimeFromTime(at)}}}}
	err := j.events.FindOne(ctx, filter, options.FindOne().
		SetSort(bson.D{{Key: "sn", Value: -1}}).
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "sn", Value: 1}})).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return 0, nil
	}
	if err != nil {
		return 0, j.wrapErr(err, "read sn of %s at %s", pid, at)
	}
	return doc.SN, nil
}

// SaveSnapshot implements journal.Journal.
func (j *mongoJournal) SaveSnapshot(ctx context.Context, s journal.Snapshot) error {
	if err := s.Check(); err != nil {
		return err
	}
	if j.store.isClosed() {
		return journal.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, j.store.opts.Timeout)
	defer cancel()
	doc := snapDoc{PID: s.PID, SN: s.SN, TS: bson.NewDateTimeFromTime(s.Timestamp), Payload: nonNil(s.Payload), Deleted: s.Deleted}
	filter := bson.D{{Key: "pid", Value: s.PID}, {Key: "sn", Value: s.SN}}
	_, err := j.snaps.ReplaceOne(ctx, filter, doc, options.Replace().SetUpsert(true))
	if mongo.IsDuplicateKeyError(err) {
		// Two upserts of one new (pid, sn) raced and this one lost the
		// insert; the document exists now, so replacing it succeeds.
		_, err = j.snaps.ReplaceOne(ctx, filter, doc, options.Replace().SetUpsert(true))
	}
	if err != nil {
		return j.wrapErr(err, "save snapshot %s/%d", s.PID, s.SN)
	}
	return nil
}

// LatestSnapshot implements journal.Journal.
func (j *mongoJournal) LatestSnapshot(ctx context.Context, pid string, maxSN int64) (journal.Snapshot, bool, error) {
	if j.store.isClosed() {
		return journal.Snapshot{}, false, journal.ErrClosed
	}
	var doc snapDoc
	err := j.snaps.FindOne(ctx,
		bson.D{{Key: "pid", Value: pid}, {Key: "sn", Value: bson.D{{Key: "$lte", Value: maxSN}}}},
		options.FindOne().SetSort(bson.D{{Key: "sn", Value: -1}}).SetProjection(bson.D{{Key: "_id", Value: 0}}),
	).Decode(&doc)
	if errors.Is(err, mongo.ErrNoDocuments) {
		return journal.Snapshot{}, false, nil
	}
	if err != nil {
		return journal.Snapshot{}, false, j.wrapErr(err, "read snapshot of %s", pid)
	}
	return journal.Snapshot{
		PID:       pid,
		SN:        doc.SN,
		Timestamp: time.UnixMilli(int64(doc.TS)).UTC(),
		Payload:   nonNil(doc.Payload),
		Deleted:   doc.Deleted,
	}, true, nil
}

// PurgeNamespace implements journal.Journal: one DeleteMany per
// collection on the pid range of the namespace, which the (pid, sn)
// indexes serve; the server deletes document by document, so appends of
// other entities go on meanwhile. Events go before snapshots, as in the
// SQLite adapter. It is bounded by ctx alone: a large namespace takes
// longer than a query.
func (j *mongoJournal) PurgeNamespace(ctx context.Context, kind, namespace string) error {
	if err := journal.CheckNamespace(kind, namespace); err != nil {
		return err
	}
	if j.store.isClosed() {
		return journal.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	from := journal.NamespacePrefix(kind, namespace)
	filter := bson.D{{Key: "pid", Value: bson.D{{Key: "$gte", Value: from}, {Key: "$lt", Value: journal.PrefixEnd(from)}}}}
	for _, coll := range []*mongo.Collection{j.events, j.snaps} {
		if _, err := coll.DeleteMany(ctx, filter); err != nil {
			return j.wrapErr(err, "purge namespace %q of %s from %s", namespace, kind, coll.Name())
		}
	}
	return nil
}

// wrapErr wraps err, reporting journal.ErrClosed when the store was closed
// under the call.
func (j *mongoJournal) wrapErr(err error, format string, args ...any) error {
	if j.store.isClosed() {
		err = errors.Join(journal.ErrClosed, err)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// encodeHeaders gives the headers' stored form: nil for none, a bson.M when
// every key is a safe field name, else a JSON string.
func encodeHeaders(h map[string]string) (any, error) {
	if len(h) == 0 {
		return nil, nil
	}
	for k := range h {
		if !safeKey(k) {
			b, err := json.Marshal(h)
			if err != nil {
				return nil, err
			}
			return string(b), nil
		}
	}
	m := make(bson.M, len(h))
	for k, v := range h {
		m[k] = v
	}
	return m, nil
}

// safeKey reports whether k can be a field name MongoDB and FerretDB store and
// query as is: not empty, no '.', no leading '$', no NUL.
func safeKey(k string) bool {
	return k != "" && !strings.ContainsAny(k, ".\x00") && k[0] != '$'
}

// decodeHeaders reads either stored form of the headers back.
func decodeHeaders(v bson.RawValue) (map[string]string, error) {
	switch v.Type {
	case 0, bson.TypeNull, bson.TypeUndefined:
		return nil, nil
	case bson.TypeString:
		var h map[string]string
		if err := json.Unmarshal([]byte(v.StringValue()), &h); err != nil {
			return nil, err
		}
		return nonEmpty(h), nil
	case bson.TypeEmbeddedDocument:
		var h map[string]string
		if err := v.Unmarshal(&h); err != nil {
			return nil, err
		}
		return nonEmpty(h), nil
	}
	return nil, fmt.Errorf("headers stored as BSON type %v", v.Type)
}

func nonEmpty(h map[string]string) map[string]string {
	if len(h) == 0 {
		return nil
	}
	return h
}

// nonNil keeps an empty payload an empty binary: the driver writes a nil
// slice as null.
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}
