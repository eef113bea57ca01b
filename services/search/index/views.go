package index

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
)

type rowScanner interface{ Scan(dest ...any) error }

// view is one reading of the index: a Count's or Query's, or one of the
// Index's lookups. Its statements run in one read transaction, so they all
// see the state of one commit: a page is computed from candidates read by
// one statement and checked by the next (the sorted and thingId-ordered
// walks), and a writer committing between the two would otherwise make a
// candidate vanish or change under the check. In WAL mode the read
// transaction does not hold up the writer.
type view struct {
	*Index
	r *reader
	// gen is the number of the last commit the view's state holds (see
	// Index.commits): answers remembered for a generation (untilWrite,
	// setsAt) are valid for every view of the same gen.
	gen uint64
	// callerSets are the caller's readable sets (see callerView).
	callerSets readableSets
}

// commitKey is the meta row holding the number of the index's last
// commit.
const commitKey = "index.commit"

// commitQuery reads the number of the index's last commit: NULL on an
// index never written.
const commitQuery = "SELECT (SELECT value FROM meta WHERE key = '" + commitKey + "')"

// scanCommit reads commitQuery's answer; 0 for an index never written.
func scanCommit(r rowScanner) (uint64, error) {
	var commit sql.NullString
	if err := r.Scan(&commit); err != nil || !commit.Valid {
		return 0, err
	}
	return strconv.ParseUint(commit.String, 10, 64)
}

// maxViewTries bounds how often view begins again on a stale snapshot.
const maxViewTries = 5

// view begins a reading of the index whose state holds at least every
// commit that ended before the call: it reads the commit number the
// state holds (SQLite takes the snapshot at the first read) and begins
// again when that is older. A brand-new pool connection's first snapshot
// was seen to be older (the state before a commit that had ended, while a
// second transaction on the same connection saw it; SQLite 3.54.1 through
// modernc, not reproduced outside the index), which hid a caller's things
// and broke search-persisted's promise that an acknowledged change is
// found.
func (ix *Index) view(ctx context.Context) (*view, error) {
	want := ix.commits.Load()
	for try := 1; ; try++ {
		// The wait for a connection ends with ctx; the transaction lives
		// until close, and neither its BEGIN nor the read of the commit
		// number (one row) watch ctx: with a ctx that can end, the driver
		// starts a goroutine per statement to interrupt it. The view's
		// queries watch theirs.
		r, err := ix.readers.get(ctx)
		if err != nil {
			return nil, err
		}
		if r.tx {
			// Kept by the connection's last view (see readPool), which
			// read its commit number.
			if r.txGen >= want {
				return &view{Index: ix, r: r, gen: r.txGen}, nil
			}
			if err := r.endTx(); err != nil {
				ix.readers.put(r, true)
				return nil, fmt.Errorf("search: %w", err)
			}
		}
		// Loaded before the snapshot is taken, which holds at least these
		// changes (see readPool).
		seen := ix.changes.Load()
		if err := r.exec(context.Background(), "BEGIN"); err != nil {
			ix.readers.put(r, true)
			return nil, fmt.Errorf("search: %w", err)
		}
		r.tx, r.txSeen = true, seen
		v := &view{Index: ix, r: r}
		if v.gen, err = scanCommit(v.queryRow(context.Background(), commitQuery)); err != nil {
			v.close()
			return nil, fmt.Errorf("search: read index commit number: %w", err)
		}
		r.txGen = v.gen
		if v.gen >= want {
			return v, nil
		}
		v.close()
		ix.staleViews.Add(1)
		if try == maxViewTries {
			return nil, fmt.Errorf("search: index state %d older than commit %d after %d tries", v.gen, want, try)
		}
	}
}

// StaleViews returns how often a reading of the index found its snapshot
// older than a commit that had ended before it, and began again.
func (ix *Index) StaleViews() int64 { return ix.staleViews.Load() }

// inView runs fn in a view: the Index's lookups outside queries see every
// commit that ended before them, as queries do.
func (ix *Index) inView(ctx context.Context, fn func(v *view) error) error {
	v, err := ix.view(ctx)
	if err != nil {
		return err
	}
	defer v.close()
	return fn(v)
}

// close gives the view's connection back, which ends its read transaction
// (it changed nothing: rolling back is the cheap way out) unless the pool
// keeps it for the next view (see readPool). A connection whose rollback
// failed is not used again.
func (v *view) close() {
	v.readers.put(v.r, false)
}

// query runs a read of the view.
func (v *view) query(ctx context.Context, text string, args ...any) (*rows, error) {
	return v.r.query(ctx, text, args...)
}

// queryRow is query for one row; errors come from Scan.
func (v *view) queryRow(ctx context.Context, text string, args ...any) rowScanner {
	return v.r.queryRow(ctx, text, args...)
}
