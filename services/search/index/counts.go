package index

import (
	"context"
	"database/sql"
	"fmt"
	"strings"

	"github.com/dittonats/dittonats/protocol/rql"
)

// Counts from the count tables (countsSchema): the shapes of count that
// would otherwise read one index entry per thing counted.

// countThings counts the things the caller sees, in the namespaces if any:
// the sum of the per-set counts, one row per visibility set and namespace.
func (ix *view) countThings(ctx context.Context, b *builder, namespaces []string) (int64, error) {
	b.sb.WriteString("SELECT coalesce(sum(n), 0) FROM thing_counts WHERE vis IN (" + b.vis + ")")
	if len(namespaces) > 0 {
		b.sb.WriteString(" AND namespace IN (")
		argList(b, namespaces)
		b.sb.WriteString(")")
	}
	var n int64
	if err := ix.queryRow(ctx, b.sb.String(), b.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count search: %w", err)
	}
	return n, nil
}

// maxCountedValues bounds the values of an in that countEqual answers.
const maxCountedValues = 16

// equalValues returns the column values an eq or in compares with, when
// countEqual can count them: a few values, none a string that may have
// been cut (those are compared by ditto_cut_equal, not by key).
func (b *builder) equalValues(c *rql.Comparison, f field) ([]any, bool) {
	if (c.Op != rql.Eq && c.Op != rql.In) || f.wildcard || len(c.Values) == 0 || len(c.Values) > maxCountedValues {
		return nil, false
	}
	out := make([]any, 0, len(c.Values))
	seen := map[string]bool{}
	for _, v := range c.Values {
		x := b.operand(v)
		if s, ok := x.(string); ok && b.maybeTruncated(f, s) {
			return nil, false
		}
		if k := rowKey("", 0, x, 0); !seen[k] {
			seen[k] = true
			out = append(out, x)
		}
	}
	return out, true
}

// countEqual counts the things with a readable row at f equal to one of
// values, where a thing has at most one readable row at f (so that rows
// are things): the count rows of the (set, value) pairs that have one,
// and the rows of the others, which are few.
func (ix *view) countEqual(ctx context.Context, b *builder, f field, values []any) (int64, error) {
	var sb strings.Builder
	args := []any{f.path}
	sb.WriteString("SELECT vis, value, n FROM leaf_counts WHERE path = ? AND vis IN (" + b.vis + ") AND value IN (")
	for i, v := range values {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('?')
		args = append(args, v)
	}
	sb.WriteString(")")
	rows, err := ix.query(ctx, sb.String(), args...)
	if err != nil {
		return 0, fmt.Errorf("count search: %w", err)
	}
	var total int64
	counted := map[string]map[string]bool{} // value key -> sets with a count row
	for rows.Next() {
		var vis string
		var val any
		var n int64
		if err := rows.Scan(&vis, &val, &n); err != nil {
			rows.Close()
			return 0, fmt.Errorf("count search: %w", err)
		}
		k := rowKey("", 0, val, 0)
		if counted[k] == nil {
			counted[k] = map[string]bool{}
		}
		counted[k][vis] = true
		total += n
	}
	err = rows.Err()
	rows.Close()
	if err != nil {
		return 0, fmt.Errorf("count search: %w", err)
	}
	n, err := ix.countUncounted(ctx, b.vis, f, values, counted)
	return total + n, err
}

// countUncounted counts the rows at f equal to each of values in the sets
// of vis that have no count row for it, and asks for the count rows of
// the (set, value) pairs that hold many.
func (ix *view) countUncounted(ctx context.Context, vis string, f field, values []any, counted map[string]map[string]bool) (int64, error) {
	var total int64
	for _, v := range values {
		done := counted[rowKey("", 0, v, 0)]
		var rest []string
		for _, s := range strings.Split(vis, ",")[1:] { // the first is the -1 sentinel
			if !done[s] {
				rest = append(rest, s)
			}
		}
		if len(rest) == 0 {
			continue
		}
		rows, err := ix.query(ctx, "SELECT vis, count(*) FROM leaves WHERE path = ? AND vis IN ("+strings.Join(rest, ",")+") AND value = ? GROUP BY vis", f.path, v)
		if err != nil {
			return 0, fmt.Errorf("count search: %w", err)
		}
		for rows.Next() {
			var set, n int64
			if err := rows.Scan(&set, &n); err != nil {
				rows.Close()
				return 0, fmt.Errorf("count search: %w", err)
			}
			total += n
			if n >= countedRows {
				ix.requestCount(countKey{f.path, set, v})
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return 0, fmt.Errorf("count search: %w", err)
		}
	}
	ix.startCounts()
	return total, nil
}

// countedRows is how many rows of one (path, vis, value) make a count that
// read them ask for their count row: counting fewer rows costs about as
// much as reading it.
const countedRows = 64

// maxCountWant bounds the count rows asked for and not created yet.
const maxCountWant = 1024

// countKey names a leaf count row.
type countKey struct {
	path  string
	vis   int64
	value any
}

func (k countKey) String() string { return rowKey(k.path, k.vis, k.value, 0) }

// requestCount asks for the count row of k.
func (ix *Index) requestCount(k countKey) {
	n := 0
	ix.countWant.Range(func(any, any) bool { n++; return n < maxCountWant })
	if n < maxCountWant {
		ix.countWant.Store(k.String(), k)
	}
}

// startCounts creates the count rows asked for in the background, unless
// that runs already (a row asked for meanwhile is asked for again by the
// next count that needs it). They are counted in a write transaction, so
// from the rows of one commit, and the triggers keep them from there. No
// query's answer changes: the write generation stays.
func (ix *Index) startCounts() {
	empty := true
	ix.countWant.Range(func(any, any) bool { empty = false; return false })
	if empty || !ix.countBusy.CompareAndSwap(false, true) {
		return
	}
	ix.countJob.Add(1)
	go func() {
		defer ix.countJob.Done()
		defer ix.countBusy.Store(false)
		ix.wmu.Lock()
		defer ix.wmu.Unlock()
		_ = ix.createCounts()
	}()
}

// createCounts creates the count rows asked for, and lets the writer know
// them; the caller holds wmu. An error leaves them to be asked for again.
func (ix *Index) createCounts() (err error) {
	tx, err := ix.write.Begin()
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	var done []string
	ix.countWant.Range(func(name, v any) bool {
		k := v.(countKey)
		_, err = tx.Exec(`INSERT OR IGNORE INTO leaf_counts(path, vis, value, n)
			SELECT ?1, ?2, ?3, count(*) FROM leaves WHERE path = ?1 AND vis = ?2 AND value = ?3`, k.path, k.vis, k.value)
		done = append(done, name.(string))
		return err == nil
	})
	for _, name := range done {
		ix.countWant.Delete(name)
	}
	if err != nil {
		return err
	}
	if err = tx.Commit(); err != nil {
		return err
	}
	ix.changes.Add(1)
	ix.readers.endStale()
	for _, name := range done {
		ix.counted[name] = true
	}
	return nil
}

// loadCounted reads the keys of the leaf count rows.
func (ix *Index) loadCounted() error {
	rows, err := ix.write.Query(`SELECT path, vis, value FROM leaf_counts`)
	if err != nil {
		return fmt.Errorf("load leaf counts: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k countKey
		if err := rows.Scan(&k.path, &k.vis, &k.value); err != nil {
			return fmt.Errorf("load leaf counts: %w", err)
		}
		ix.counted[k.String()] = true
	}
	return rows.Err()
}

// countDeltas are the changes one write makes to the count tables, applied
// before it commits.
type countDeltas struct {
	things map[thingCountKey]int64
	leaves map[string]leafDelta
}

type thingCountKey struct {
	vis int64
	ns  string
}

type leafDelta struct {
	key countKey
	n   int64
}

func (c *countDeltas) thing(vis int64, ns string, d int64) {
	if c.things == nil {
		c.things = map[thingCountKey]int64{}
	}
	c.things[thingCountKey{vis, ns}] += d
}

// leaf records d rows more of k, if k has a count row.
func (w *writer) leaf(k countKey, d int64) {
	name := k.String()
	if !w.ix.counted[name] {
		return
	}
	if b, ok := k.value.([]byte); ok && len(b) == 0 {
		k.value = blobNull // read back as nil, which would bind as NULL
	}
	c := &w.counts
	if c.leaves == nil {
		c.leaves = map[string]leafDelta{}
	}
	ld := c.leaves[name]
	ld.key, ld.n = k, ld.n+d
	c.leaves[name] = ld
}

// countLeaf records the row a statement inserted (d 1) or deleted (d -1),
// if it did.
func (w *writer) countLeaf(res sql.Result, path string, vis int64, value any, d int64) error {
	if len(w.ix.counted) == 0 {
		return nil
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 {
		return err
	}
	w.leaf(countKey{path, vis, value}, d)
	return nil
}

// countThingLeaves records the rows of a thing about to be deleted.
func (w *writer) countThingLeaves(thingID string, thing int64) error {
	if len(w.ix.counted) == 0 {
		return nil
	}
	rows, err := w.stmt(w.ix.stmts.leavesOf).Query(thing)
	if err != nil {
		return fmt.Errorf("read leaves of %q: %w", thingID, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k countKey
		var flags int64
		if err := rows.Scan(&k.path, &k.vis, &k.value, &flags); err != nil {
			return fmt.Errorf("read leaves of %q: %w", thingID, err)
		}
		w.leaf(k, -1)
	}
	return rows.Err()
}

// countNamespaceLeaves records the rows of a namespace about to be erased.
func (w *writer) countNamespaceLeaves(namespace string) error {
	if len(w.ix.counted) == 0 {
		return nil
	}
	rows, err := w.tx.QueryContext(w.ctx, `SELECT path, vis, value, count(*) FROM leaves
		WHERE thing IN (SELECT id FROM things WHERE namespace = ?) GROUP BY path, vis, value`, namespace)
	if err != nil {
		return fmt.Errorf("read leaves of namespace %q: %w", namespace, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k countKey
		var n int64
		if err := rows.Scan(&k.path, &k.vis, &k.value, &n); err != nil {
			return fmt.Errorf("read leaves of namespace %q: %w", namespace, err)
		}
		w.leaf(k, -n)
	}
	return rows.Err()
}

// flush applies the changes.
func (c *countDeltas) flush(w *writer) error {
	for k, n := range c.things {
		if n == 0 {
			continue
		}
		if _, err := w.tx.ExecContext(w.ctx, `INSERT INTO thing_counts(vis, namespace, n) VALUES(?,?,?)
			ON CONFLICT(vis, namespace) DO UPDATE SET n = n + excluded.n`, k.vis, k.ns, n); err != nil {
			return fmt.Errorf("write thing counts: %w", err)
		}
	}
	for _, d := range c.leaves {
		if d.n == 0 {
			continue
		}
		if _, err := w.tx.ExecContext(w.ctx, `UPDATE leaf_counts SET n = n + ? WHERE path = ? AND vis = ? AND value = ?`,
			d.n, d.key.path, d.key.vis, d.key.value); err != nil {
			return fmt.Errorf("write leaf counts: %w", err)
		}
	}
	return nil
}
