// Package sqlitewal keeps the write-ahead log of a SQLite database with one
// writer small, in the background. A checkpointer copies committed WAL
// frames into the database file on its own connection (PASSIVE: it waits
// for neither the writer nor readers), so that no commit runs a checkpoint
// (one inside a commit held the writer, and everything queued behind it,
// for up to 290 ms). Under a steady stream of writes the WAL is never
// wholly copied when a write begins, so SQLite never starts it over and it
// grows without end: past Limit the writer starts it over (RESTART),
// between two transactions, when little is left to copy. (Truncating at any
// moment copied up to a whole interval of frames and held the writer for
// ~90 ms.)
package sqlitewal

import (
	"database/sql"
	"sync"
	"sync/atomic"
	"time"
)

// Interval is how often the checkpointer of a store or index copies the
// WAL into the file. A write changes a few pages, some of them again and
// again (the journal's last page, the upper levels of the trees); a page
// changed again before the next checkpoint is copied once. During
// MODIFY_THINGS with search the process wrote ~24 KB per modify in ~5.6
// write calls with 1 s, against ~29 KB in ~7 calls with 100 ms.
const Interval = time.Second

// Limit is the WAL size past which the writer starts it over.
const Limit = 64 << 20

// Checkpointer is a running checkpointer (see the package comment).
type Checkpointer struct {
	db        *sql.DB
	every     time.Duration
	frameSize int64
	due       atomic.Bool
	runs      atomic.Uint64 // checkpoints run
	errs      atomic.Uint64 // checkpoints and restarts that failed
	restarts  atomic.Uint64 // restarts by the writer
	stop      chan struct{}
	done      chan struct{}
	stopOnce  sync.Once
}

// Start starts checkpointing on db, a connection to the database other
// than the writer's, whose pages are pageSize bytes, every interval (the
// store and the index pass Interval; tests check more often).
func Start(db *sql.DB, pageSize int, every time.Duration) *Checkpointer {
	c := &Checkpointer{db: db, every: every, frameSize: int64(pageSize) + 24, stop: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

func (c *Checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(c.every)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			// The result row: busy flag, frames in the WAL, frames copied.
			var busy, frames, copied int64
			if err := c.db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
				c.errs.Add(1)
				continue // the next tick tries again
			}
			c.runs.Add(1)
			if frames*c.frameSize >= Limit {
				c.due.Store(true)
			}
		}
	}
}

// RestartIfDue starts the WAL over on the writer's connection when the
// checkpointer found it past Limit: what is left is copied, and the next
// transaction writes from the WAL's start. The writer calls it between
// transactions. RESTART rather than TRUNCATE: shrinking the file and
// syncing that took most of the time the writer waited.
func (c *Checkpointer) RestartIfDue(writer *sql.DB) error {
	if !c.due.CompareAndSwap(true, false) {
		return nil
	}
	if _, err := writer.Exec("PRAGMA wal_checkpoint(RESTART)"); err != nil {
		c.errs.Add(1)
		return err
	}
	c.restarts.Add(1)
	return nil
}

// Due reports whether the checkpointer found the WAL past Limit, so that
// the writer's next RestartIfDue starts it over.
func (c *Checkpointer) Due() bool { return c.due.Load() }

// MarkDue has the writer's next RestartIfDue start the WAL over, as when
// the checkpointer finds it past Limit (tests of a restart).
func (c *Checkpointer) MarkDue() { c.due.Store(true) }

// Runs counts the checkpoints run, Restarts the WAL's restarts by the
// writer, and Errors the checkpoints and restarts that failed.
func (c *Checkpointer) Runs() uint64     { return c.runs.Load() }
func (c *Checkpointer) Restarts() uint64 { return c.restarts.Load() }
func (c *Checkpointer) Errors() uint64   { return c.errs.Load() }

// Stop stops the checkpointer and waits for it; later calls do nothing.
func (c *Checkpointer) Stop() {
	c.stopOnce.Do(func() { close(c.stop) })
	<-c.done
}
