package mongostore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dittonats/dittonats/services/internal/journal"
)

// NewestSnapshots implements journal.Journal with a plain find in the
// order of the (pid, sn) index, which FerretDB serves too: the highest
// sn of a pid is the last of its group. Sorting by sn descending instead
// would not match the index and make MongoDB sort everything after
// after in memory. It reads one group past the last one it returns, to
// know that group is complete.
func (j *mongoJournal) NewestSnapshots(ctx context.Context, after string, before time.Time, limit int) ([]journal.SnapshotRef, error) {
	if j.store.isClosed() {
		return nil, journal.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	filter := bson.D{
		{Key: "pid", Value: bson.D{{Key: "$gt", Value: after}}},
		{Key: "ts", Value: bson.D{{Key: "$lt", Value: bson.NewDateTimeFromTime(before)}}},
	}
	cur, err := j.snaps.Find(ctx, filter, options.Find().
		SetSort(bson.D{{Key: "pid", Value: 1}, {Key: "sn", Value: 1}}).
		SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "pid", Value: 1}, {Key: "sn", Value: 1}, {Key: "ts", Value: 1}, {Key: "deleted", Value: 1}}))
	if err != nil {
		return nil, j.wrapErr(err, "list snapshots after %q", after)
	}
	defer cur.Close(context.WithoutCancel(ctx))
	var out []journal.SnapshotRef
	var group *journal.SnapshotRef // the highest snapshot of the pid being read
	for len(out) < limit && cur.Next(ctx) {
		var d struct {
			PID     string        `bson:"pid"`
			SN      int64         `bson:"sn"`
			TS      bson.DateTime `bson:"ts"`
			Deleted bool          `bson:"deleted"`
		}
		if err := cur.Decode(&d); err != nil {
			return nil, j.wrapErr(err, "list snapshots after %q", after)
		}
		if group != nil && group.PID != d.PID {
			out = append(out, *group)
		}
		group = &journal.SnapshotRef{PID: d.PID, SN: d.SN, Timestamp: time.UnixMilli(int64(d.TS)).UTC(), Deleted: d.Deleted}
	}
	if err := cur.Err(); err != nil {
		return nil, j.wrapErr(err, "list snapshots after %q", after)
	}
	if group != nil && len(out) < limit {
		// The cursor ended: the last group is complete.
		out = append(out, *group)
	}
	return out, nil
}

// LowestSN implements journal.Journal: the first entry of the pid in each
// collection's (pid, sn) index.
func (j *mongoJournal) LowestSN(ctx context.Context, pid string) (event, snapshot int64, err error) {
	if j.store.isClosed() {
		return 0, 0, journal.ErrClosed
	}
	var lowest [2]int64
	for i, coll := range []*mongo.Collection{j.events, j.snaps} {
		var doc struct {
			SN int64 `bson:"sn"`
		}
		err := coll.FindOne(ctx, bson.D{{Key: "pid", Value: pid}}, options.FindOne().
			SetSort(bson.D{{Key: "sn", Value: 1}}).
			SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "sn", Value: 1}})).Decode(&doc)
		if errors.Is(err, mongo.ErrNoDocuments) {
			continue
		}
		if err != nil {
			return 0, 0, j.wrapErr(err, "read lowest sn of %s", pid)
		}
		lowest[i] = doc.SN
	}
	return lowest[0], lowest[1], nil
}

// DeleteEvents implements journal.Journal.
func (j *mongoJournal) DeleteEvents(ctx context.Context, pid string, toSN int64, limit int) (int64, error) {
	n, err := j.deleteUpTo(ctx, j.events, pid, toSN, limit)
	if err != nil {
		return 0, j.wrapErr(err, "delete events of %s up to %d", pid, toSN)
	}
	return n, nil
}

// DeleteSnapshots implements journal.Journal.
func (j *mongoJournal) DeleteSnapshots(ctx context.Context, pid string, toSN int64, limit int) (int64, error) {
	n, err := j.deleteUpTo(ctx, j.snaps, pid, toSN, limit)
	if err != nil {
		return 0, j.wrapErr(err, "delete snapshots of %s up to %d", pid, toSN)
	}
	return n, nil
}

// deleteUpTo finds the sns of the lowest limit documents of pid at or
// below toSN, then deletes the sn range they span (a DeleteMany has no
// limit). No other document can be in that range: cleanup deletes below
// a snapshot, where nothing is written any more.
func (j *mongoJournal) deleteUpTo(ctx context.Context, coll *mongo.Collection, pid string, toSN int64, limit int) (int64, error) {
	if err := journal.CheckDelete(pid, limit); err != nil {
		return 0, err
	}
	if j.store.isClosed() {
		return 0, journal.ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(ctx, j.store.opts.Timeout)
	defer cancel()
	cur, err := coll.Find(ctx, bson.D{{Key: "pid", Value: pid}, {Key: "sn", Value: bson.D{{Key: "$lte", Value: toSN}}}},
		options.Find().SetSort(bson.D{{Key: "sn", Value: 1}}).SetLimit(int64(limit)).
			SetProjection(bson.D{{Key: "_id", Value: 0}, {Key: "sn", Value: 1}}))
	if err != nil {
		return 0, err
	}
	var docs []struct {
		SN int64 `bson:"sn"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		return 0, err
	}
	if len(docs) == 0 {
		return 0, nil
	}
	first, last := docs[0].SN, docs[len(docs)-1].SN
	res, err := coll.DeleteMany(ctx, bson.D{{Key: "pid", Value: pid},
		{Key: "sn", Value: bson.D{{Key: "$gte", Value: first}, {Key: "$lte", Value: last}}}})
	if err != nil {
		return 0, fmt.Errorf("delete sns %d..%d: %w", first, last, err)
	}
	return res.DeletedCount, nil
}
