package sqlitestore

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/dittonats/dittonats/services/internal/journal"
)

// cleanupStmts are the statements of background cleanup's reads and
// deletes; every one walks a (pid, sn) key.
type cleanupStmts struct {
	newest, lowest            *sql.Stmt
	deleteEvents, deleteSnaps *sql.Stmt
}

func (c *cleanupStmts) prepare(d *db, jt, st string) error {
	stmts := []struct {
		dst  **sql.Stmt
		pool *sql.DB
		sql  string
	}{
		// GROUP BY walks the (pid, sn) key of the snapshots from after on
		// and stops after limit groups; with MAX(sn) SQLite takes ts and
		// deleted from the row with the highest sn.
		{&c.newest, d.read, `SELECT pid, MAX(sn), ts, deleted FROM ` + st + ` WHERE pid > ?1 AND ts < ?2
			GROUP BY pid ORDER BY pid LIMIT ?3`},
		{&c.lowest, d.read, `SELECT COALESCE((SELECT MIN(sn) FROM ` + jt + ` WHERE pid = ?1), 0),
			COALESCE((SELECT MIN(sn) FROM ` + st + ` WHERE pid = ?1), 0)`},
		{&c.deleteEvents, d.write, `DELETE FROM ` + jt + ` WHERE rowid IN
			(SELECT rowid FROM ` + jt + ` WHERE pid = ?1 AND sn <= ?2 ORDER BY sn LIMIT ?3)`},
		{&c.deleteSnaps, d.write, `DELETE FROM ` + st + ` WHERE rowid IN
			(SELECT rowid FROM ` + st + ` WHERE pid = ?1 AND sn <= ?2 ORDER BY sn LIMIT ?3)`},
	}
	for _, s := range stmts {
		stmt, err := d.prepare(s.pool, s.sql)
		if err != nil {
			return err
		}
		*s.dst = stmt
	}
	return nil
}

// NewestSnapshots implements journal.Journal.
func (j *sqliteJournal) NewestSnapshots(ctx context.Context, after string, before time.Time, limit int) ([]journal.SnapshotRef, error) {
	if j.db.isClosed() {
		return nil, journal.ErrClosed
	}
	if limit <= 0 {
		return nil, nil
	}
	rows, err := j.cleanup.newest.QueryContext(ctx, after, before.UnixMilli(), limit)
	if err != nil {
		return nil, j.readErr(err, "list snapshots after %q", after)
	}
	defer rows.Close()
	var out []journal.SnapshotRef
	for rows.Next() {
		var r journal.SnapshotRef
		var ts int64
		if err := rows.Scan(&r.PID, &r.SN, &ts, &r.Deleted); err != nil {
			return nil, j.readErr(err, "list snapshots after %q", after)
		}
		r.Timestamp = time.UnixMilli(ts).UTC()
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, j.readErr(err, "list snapshots after %q", after)
	}
	return out, nil
}

// LowestSN implements journal.Journal.
func (j *sqliteJournal) LowestSN(ctx context.Context, pid string) (event, snapshot int64, err error) {
	if j.db.isClosed() {
		return 0, 0, journal.ErrClosed
	}
	if err := j.cleanup.lowest.QueryRowContext(ctx, pid).Scan(&event, &snapshot); err != nil {
		return 0, 0, j.readErr(err, "read lowest sn of %s", pid)
	}
	return event, snapshot, nil
}

// DeleteEvents implements journal.Journal: one write request of the
// group commit, so appends of other entities wait for at most limit rows.
func (j *sqliteJournal) DeleteEvents(ctx context.Context, pid string, toSN int64, limit int) (int64, error) {
	n, err := j.deleteUpTo(ctx, j.cleanup.deleteEvents, pid, toSN, limit)
	if err != nil {
		return 0, fmt.Errorf("delete events of %s up to %d: %w", pid, toSN, err)
	}
	return n, nil
}

// DeleteSnapshots implements journal.Journal.
func (j *sqliteJournal) DeleteSnapshots(ctx context.Context, pid string, toSN int64, limit int) (int64, error) {
	n, err := j.deleteUpTo(ctx, j.cleanup.deleteSnaps, pid, toSN, limit)
	if err != nil {
		return 0, fmt.Errorf("delete snapshots of %s up to %d: %w", pid, toSN, err)
	}
	return n, nil
}

func (j *sqliteJournal) deleteUpTo(ctx context.Context, stmt *sql.Stmt, pid string, toSN int64, limit int) (int64, error) {
	if err := journal.CheckDelete(pid, limit); err != nil {
		return 0, err
	}
	var n int64
	err := j.db.exec(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.StmtContext(ctx, stmt).ExecContext(ctx, pid, toSN, limit)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		// n is not read: the writer may still be running fn.
		return 0, err
	}
	return n, nil
}
