package index

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
)

// Fast paths for the two shapes of query that the general statement
// answers slowly on a large index: a count of one condition, and a page
// sorted by one field. Both rest on one fact: a caller who may read a leaf
// also sees its thing (the subject whose grant reads the leaf reads part of
// the thing alone), so rows readable at a path need no check of the
// thing's visibility.

// leafComparison returns the filter's single comparison when the count
// fast path applies to it: one condition that only a readable row at a
// plain path can satisfy.
func leafComparison(q Query) (*rql.Comparison, bool) {
	if len(q.Namespaces) > 0 { // see coveredNamespaces
		return nil, false
	}
	return filterComparison(q.Filter)
}

// filterComparison returns filter when it is one comparison that only a
// readable row at a plain path can satisfy.
func filterComparison(filter rql.Node) (*rql.Comparison, bool) {
	c, ok := filter.(*rql.Comparison)
	if !ok {
		return nil, false
	}
	switch c.Op {
	case rql.Eq, rql.In, rql.Gt, rql.Ge, rql.Lt, rql.Le, rql.Like, rql.ILike, rql.Exists:
	default:
		return nil, false // ne, empty: also about other rows, or none
	}
	f := fieldOf(c.Property)
	if _, col := thingColumns[f.path]; col {
		return nil, false
	}
	return c, true
}

// countLeaves counts the things with a readable row satisfying c: the
// distinct things of an index range, without touching the things table.
func (ix *view) countLeaves(ctx context.Context, b *builder, c *rql.Comparison) (int64, error) {
	f := fieldOf(c.Property)
	multi := true
	if !f.wildcard && c.Op != rql.Exists {
		var err error
		if multi, err = ix.multiValuedCached(ctx, b.vis, f.path); err != nil {
			return 0, err
		}
	}
	if values, ok := b.equalValues(c, f); ok && !multi {
		return ix.countEqual(ctx, b, f, values)
	}
	cond, args, never, err := b.leafCond(c)
	if err != nil || never {
		return 0, err
	}
	if multi {
		b.sb.WriteString("SELECT count(DISTINCT thing) FROM leaves WHERE ")
	} else {
		// One row per thing at most: the rows are the things.
		b.sb.WriteString("SELECT count(*) FROM leaves WHERE ")
	}
	b.sb.WriteString(cond)
	b.args = append(b.args, args...)
	var n int64
	if err := ix.queryRow(ctx, b.sb.String(), b.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count search: %w", err)
	}
	return n, nil
}

// leafCond returns the condition on leaves rows (and its arguments) of a
// comparison the fast paths serve: the comparison writes "t.id IN (SELECT
// thing FROM leaves WHERE <cond>)", and only <cond> is wanted. never
// reports that nothing can match.
func (b *builder) leafCond(c *rql.Comparison) (cond string, args []any, never bool, err error) {
	var inner builder = *b
	inner.sb = strings.Builder{}
	inner.args = nil
	inner.idColumn = false // the rows, not the things' column
	inner.comparison(c)
	if inner.sb.String() == "0" {
		return "", nil, true, nil
	}
	cond, ok := strings.CutPrefix(inner.sb.String(), "t.id IN (SELECT thing FROM leaves WHERE ")
	if !ok || !strings.HasSuffix(cond, ")") {
		return "", nil, false, fmt.Errorf("search fast path: unexpected condition %q", inner.sb.String())
	}
	return strings.TrimSuffix(cond, ")"), inner.args, false, nil
}

// leavesAtLeast reports whether at least k readable rows satisfy c,
// reading no more than k of them.
func (ix *view) leavesAtLeast(ctx context.Context, b *builder, c *rql.Comparison, k int) (bool, error) {
	cond, args, never, err := b.leafCond(c)
	if err != nil || never {
		return false, err
	}
	b.sb.WriteString("SELECT count(*) FROM (SELECT 1 FROM leaves WHERE " + cond + " LIMIT ?)")
	b.args = append(append(b.args, args...), k)
	var n int
	if err := ix.queryRow(ctx, b.sb.String(), b.args...).Scan(&n); err != nil {
		return false, fmt.Errorf("search: %w", err)
	}
	return n >= k, nil
}

// coveredNamespaces returns the namespaces a query is restricted to, or
// none when they cover every thing the caller sees (see namespacesCover).
func (ix *view) coveredNamespaces(ctx context.Context, b *builder, q Query) ([]string, error) {
	if len(q.Namespaces) == 0 {
		return nil, nil
	}
	cover, err := ix.namespacesCover(ctx, b, q.Namespaces, nil)
	if err != nil || cover {
		return nil, err
	}
	// They may still hold every thing the filter can match: things of
	// other namespaces are often of another kind, without its fields.
	if c, ok := filterComparison(q.Filter); ok {
		if cover, err = ix.namespacesCover(ctx, b, q.Namespaces, c); err != nil || cover {
			return nil, err
		}
	}
	return q.Namespaces, nil
}

// namespacesCover reports whether every thing the caller sees (that
// satisfies c, when c is not nil) lies in one of the namespaces: then
// restricting to them changes nothing, and the fast paths, which do not
// look at things' namespaces, apply. It probes the (namespace, vis) index
// in the ranges between the namespaces (and each thing there for a row
// satisfying c); the answer holds until the next write.
func (ix *view) namespacesCover(ctx context.Context, b *builder, namespaces []string, c *rql.Comparison) (bool, error) {
	vis := b.vis
	var cond string
	var condArgs []any
	if c != nil {
		var never bool
		var err error
		if cond, condArgs, never, err = b.leafCond(c); err != nil || never {
			return never, err
		}
	}
	ns := slices.Compact(slices.Sorted(slices.Values(namespaces)))
	key := "ns\x00" + strings.Join(ns, "\x00") + "\x00" + vis + "\x00" + cond + "\x00" + argsKey(condArgs)
	return ix.untilWrite(&ix.complete, key, func() (bool, error) {
		return ix.noneOutside(ctx, vis, ns, cond, condArgs)
	})
}

// noneOutside reports whether no thing the caller sees (with a row
// satisfying cond, when given) lies outside the sorted namespaces ns.
func (ix *view) noneOutside(ctx context.Context, vis string, ns []string, cond string, condArgs []any) (bool, error) {
	// One range of the (namespace, vis) index per gap between the
	// namespaces; the planner would otherwise scan things by visibility.
	var sb strings.Builder
	var args []any
	probe := func(rng string, vals ...any) {
		if len(args) > 0 {
			sb.WriteString(" OR ")
		}
		sb.WriteString("EXISTS (SELECT 1 FROM things t INDEXED BY things_ns WHERE " + rng + " AND t.vis IN (" + vis + ")")
		args = append(args, vals...)
		if cond != "" {
			sb.WriteString(" AND EXISTS (SELECT 1 FROM leaves WHERE thing = t.id AND " + cond + ")")
			args = append(args, condArgs...)
		}
		sb.WriteString(")")
	}
	sb.WriteString("SELECT ")
	probe("namespace < ?", ns[0])
	for i := 1; i < len(ns); i++ {
		probe("namespace > ? AND namespace < ?", ns[i-1], ns[i])
	}
	probe("namespace > ?", ns[len(ns)-1])
	var outside bool
	if err := ix.queryRow(ctx, sb.String(), args...).Scan(&outside); err != nil {
		return false, fmt.Errorf("search: %w", err)
	}
	return !outside, nil
}

// sortField returns the field of a query sorted by one plain leaf path
// (then thingId), the shape the sorted fast path serves.
func sortField(keys []rql.SortKey) (field, bool) {
	if len(keys) != 2 || fieldOf(keys[1].Property).path != "thingId" || keys[1].Descending {
		return field{}, false
	}
	f := fieldOf(keys[0].Property)
	if _, col := thingColumns[f.path]; col || f.wildcard || f.path == "thingId" {
		return field{}, false
	}
	return f, true
}

// sortable is the condition on rows that give a thing its sort value:
// readable, not null, not a structure marker.
const sortable = " AND value <> x'' AND value NOT IN (x'02', x'03', x'04')"

// sortedByLeaf answers a page sorted by one leaf path by walking that
// path's rows in value order (the primary key orders them so within one
// visibility set) and checking each candidate thing against the filter in
// small batches, instead of computing every matching thing's sort value.
// Things without a value sort first ascending, last descending; they are
// looked for only when some visible thing can lack the value.
func (ix *view) sortedByLeaf(ctx context.Context, q Query, keys []rql.SortKey, f field) ([]Hit, error) {
	want := q.Offset + q.Limit + 1
	desc := keys[0].Descending
	var after jsonv.Value
	var afterID string
	afterMissing := false
	if q.After != nil {
		after, afterID = q.After[0], ""
		if s, ok := q.After[1].Str(); ok {
			afterID = s
		}
		afterMissing = after.Kind() == jsonv.KindNull
	}
	var hits []Hit
	// Missing values first (ascending): before any cursor with a value.
	if !desc && (q.After == nil || afterMissing) {
		h, err := ix.missing(ctx, q, f, afterID, want)
		if err != nil {
			return nil, err
		}
		hits = append(hits, h...)
		if len(hits) >= want {
			return cut(hits, q.Offset, want), nil
		}
	}
	if !(desc && afterMissing) {
		var start *jsonv.Value
		if q.After != nil && !afterMissing {
			start = &after
		}
		h, ok, err := ix.mergedOrder(ctx, q, f, desc, start, afterID, want-len(hits))
		if err != nil {
			return nil, err
		}
		if !ok {
			if h, err = ix.valueOrder(ctx, q, f, desc, start, afterID, want-len(hits)); err != nil {
				return nil, err
			}
		}
		hits = append(hits, h...)
	}
	if desc && len(hits) < want {
		id := ""
		if afterMissing {
			id = afterID
		}
		h, err := ix.missing(ctx, q, f, id, want-len(hits))
		if err != nil {
			return nil, err
		}
		hits = append(hits, h...)
	}
	return cut(hits, q.Offset, want), nil
}

func cut(hits []Hit, offset, want int) []Hit {
	if len(hits) > want {
		hits = hits[:want]
	}
	if offset >= len(hits) {
		return nil
	}
	return hits[offset:]
}

// missing returns up to n things matching q with no sortable readable
// value at f, in thingId order after afterID.
func (ix *view) missing(ctx context.Context, q Query, f field, afterID string, n int) ([]Hit, error) {
	b, err := ix.builder(ctx, q)
	if err != nil {
		return nil, err
	}
	none, err := ix.noneMissing(ctx, b, f)
	if err != nil || none {
		return nil, err
	}
	// Namespaces only narrow the things this looks for: ignored here.
	if c, ok := filterComparison(q.Filter); ok {
		if none, err = ix.noneMissingMatch(ctx, b, c, f); err != nil || none {
			return nil, err
		}
	}
	b.sb.WriteString("SELECT t.id, t.thing_id, t.policy_id, t.revision, t.doc FROM things t WHERE ")
	if err := b.where(q); err != nil {
		return nil, err
	}
	b.sb.WriteString(" AND NOT EXISTS (SELECT 1 FROM leaves WHERE thing = t.id AND path = ")
	b.arg(f.path)
	b.sb.WriteString(" AND vis IN (" + b.vis + ")" + sortable + ")")
	if afterID != "" {
		b.sb.WriteString(" AND t.thing_id > ")
		b.arg(afterID)
	}
	b.sb.WriteString(" ORDER BY t.thing_id LIMIT ")
	b.arg(n)
	rows, err := ix.query(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var out []Hit
	for rows.Next() {
		var id int64
		var h Hit
		if err := rows.Scan(&id, &h.ThingID, &h.PolicyID, &h.Revision, &h.Raw); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		h.SortValues = []jsonv.Value{jsonv.Null(), jsonv.String(h.ThingID)}
		out = append(out, h)
	}
	return out, rows.Err()
}

// noneMissing reports whether every thing the caller sees has exactly one
// sortable readable row at f, so that none can be missing its value: no
// arrays or values across arrays at f, and as many such rows as visible
// things. Two index range counts instead of a check of every thing.
func (ix *view) noneMissing(ctx context.Context, b *builder, f field) (bool, error) {
	return ix.untilWrite(&ix.complete, f.path+"\x00"+b.vis, func() (bool, error) {
		return ix.countNoneMissing(ctx, b, f)
	})
}

// noneMissingMatch reports whether no thing that lacks a sortable
// readable row at f satisfies the single comparison c, so that a sorted
// page needs no things without a sort value even though some visible
// things lack one (things of another kind, as a rule). It reads the rows
// satisfying c and probes each one's thing for f: far less than walking
// every visible thing against the filter, which the query of missing does.
// A thing matching c has such a row, so "none" is never wrong. Like
// noneMissing, the answer holds until the next write.
func (ix *view) noneMissingMatch(ctx context.Context, b *builder, c *rql.Comparison, f field) (bool, error) {
	cond, args, never, err := b.leafCond(c)
	if err != nil || never {
		return never, err
	}
	key := "match\x00" + f.path + "\x00" + b.vis + "\x00" + cond + "\x00" + argsKey(args)
	return ix.untilWrite(&ix.complete, key, func() (bool, error) {
		var found bool
		err := ix.queryRow(ctx, "SELECT EXISTS (SELECT 1 FROM leaves WHERE "+cond+
			" AND NOT EXISTS (SELECT 1 FROM leaves s WHERE s.thing = leaves.thing AND s.path = ? AND s.vis IN ("+b.vis+")"+
			strings.ReplaceAll(sortable, "value", "s.value")+"))", append(args, f.path)...).Scan(&found)
		if err != nil {
			return false, fmt.Errorf("search: %w", err)
		}
		return !found, nil
	})
}

// argsKey names the arguments of a statement in a key of remembered
// answers: each written with its type (writeTyped), so that the number 42
// and the string "42" (which fmt.Sprint writes alike) never share an
// answer, and after its length, so that "a","b" is not "ab".
func argsKey(args []any) string {
	var b, one strings.Builder
	for _, a := range args {
		one.Reset()
		writeTyped(&one, a)
		b.WriteString(strconv.Itoa(one.Len()))
		b.WriteByte(':')
		b.WriteString(one.String())
	}
	return b.String()
}

// untilWrite returns the answer remembered under key in c for the view's
// generation, or computes and remembers it: an answer computed in a view
// holds for every view of the same state.
func (ix *view) untilWrite(c *stateCache[bool], key string, compute func() (bool, error)) (bool, error) {
	if v, ok := c.load(key, ix.gen); ok {
		return v, nil
	}
	v, err := compute()
	if err == nil {
		c.store(key, ix.gen, v)
	}
	return v, err
}

func (ix *view) countNoneMissing(ctx context.Context, b *builder, f field) (bool, error) {
	multi, err := ix.multiValuedCached(ctx, b.vis, f.path)
	if err != nil || multi {
		return false, err
	}
	var rowsN, thingsN int64
	err = ix.queryRow(ctx, `SELECT
		(SELECT count(*) FROM leaves WHERE path = ?1 AND vis IN (`+b.vis+`)`+sortable+`),
		(SELECT coalesce(sum(n), 0) FROM thing_counts WHERE vis IN (`+b.vis+`))`, f.path).Scan(&rowsN, &thingsN)
	if err != nil {
		return false, fmt.Errorf("search: %w", err)
	}
	return rowsN == thingsN, nil
}

// multiValued reports whether a thing may have several rows at path that
// the visibility sets vis read: an array at the path or above it (objects
// in arrays make rows across them). Each level is one primary key probe
// per set for the array marker.
func (ix *view) multiValued(ctx context.Context, vis, path string) (bool, error) {
	var sb strings.Builder
	var args []any
	sb.WriteString("SELECT EXISTS (SELECT 1 FROM leaves WHERE path IN (")
	for i, k := 0, 0; ; k++ {
		j := strings.IndexByte(path[i:], '/')
		end := len(path)
		if j >= 0 {
			end = i + j
		}
		if k > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('?')
		args = append(args, path[:end])
		if j < 0 {
			break
		}
		i = end + 1
	}
	sb.WriteString(") AND vis IN (" + vis + ") AND value = x'04')")
	var multi bool
	if err := ix.queryRow(ctx, sb.String(), args...).Scan(&multi); err != nil {
		return false, fmt.Errorf("search: %w", err)
	}
	return multi, nil
}

// mergedOrder answers what valueOrder does when each thing has at most one
// sortable readable row at f (see multiValued), in one statement: one arm
// per visibility set walks the set's rows at f in value order (the
// primary key's), joins each to its thing and tests the filter there,
// and SQLite merges the arms in order. Rows are read only as far as the
// page needs, a thing that fails the filter never leaves SQLite, and only
// the things of the page are parsed. ok is false when a thing may have
// several rows at f.
func (ix *view) mergedOrder(ctx context.Context, q Query, f field, desc bool, after *jsonv.Value, afterID string, n int) ([]Hit, bool, error) {
	b, err := ix.builder(ctx, q)
	if err != nil {
		return nil, false, err
	}
	if !strings.Contains(b.vis, ",") {
		return nil, true, nil // no readable set: nothing to walk
	}
	if multi, err := ix.multiValuedCached(ctx, b.vis, f.path); err != nil || multi {
		return nil, false, err
	}
	sets, err := ix.setsAt(ctx, b.vis, f.path)
	if err != nil {
		return nil, false, err
	}
	if len(sets) == 0 {
		return nil, true, nil // no readable row at f
	}
	if err := b.mergedWalk(q, f, desc, after, sets); err != nil {
		return nil, false, err
	}
	if len(b.args) > maxMergedArgs {
		return nil, false, nil // a long filter in every arm: walk in Go
	}
	rows, err := ix.query(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	// A row is a thing of the walk and its sort value; the page's hits are
	// made of the first n only.
	type row struct {
		hit Hit
		val any
	}
	out := make([]row, 0, n+1)
	var run []row
	// flush ends a run of equal values: its things in thingId order.
	flush := func() {
		slices.SortFunc(run, func(a, b row) int { return strings.Compare(a.hit.ThingID, b.hit.ThingID) })
		out = append(out, run...)
		run = run[:0]
	}
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.val, &r.hit.ThingID, &r.hit.PolicyID, &r.hit.Revision, &r.hit.Raw); err != nil {
			return nil, false, fmt.Errorf("search: %w", err)
		}
		if len(run) > 0 && !sameColumn(r.val, run[0].val) {
			flush()
			if len(out) >= n {
				break
			}
		}
		if after != nil && toColumnEqual(r.val, *after) && r.hit.ThingID <= afterID {
			continue // at the cursor's value: only things after it
		}
		run = append(run, r)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	flush()
	out = out[:min(len(out), n)]
	hits := make([]Hit, len(out))
	for i, r := range out {
		hits[i] = r.hit
		hits[i].SortValues = []jsonv.Value{fromColumn(r.val), jsonv.String(r.hit.ThingID)}
	}
	return hits, true, nil
}

// maxMergedArgs bounds the arguments of mergedOrder's statement, well
// below SQLite's limit of 32766.
const maxMergedArgs = 8192

// mergedWalk writes mergedOrder's statement: per readable set with rows
// at f (sets), its sortable rows at f from the cursor's value on, joined
// (in that order: CROSS JOIN) to their things, which must match q; ordered
// by value, so that SQLite merges the arms, each already in order, without
// sorting.
func (b *builder) mergedWalk(q Query, f field, desc bool, after *jsonv.Value, sets []string) error {
	b.correlated = true
	cmp, order := ">=", ""
	if desc {
		cmp, order = "<=", " DESC"
	}
	for i, vis := range sets {
		if i > 0 {
			b.sb.WriteString(" UNION ALL ")
		}
		b.sb.WriteString("SELECT l.value, t.thing_id, t.policy_id, t.revision, t.doc FROM leaves l CROSS JOIN things t ON t.id = l.thing WHERE l.path = ")
		b.arg(f.path)
		b.sb.WriteString(" AND l.vis = " + vis + " AND l.value <> x'' AND l.value NOT IN (x'02', x'03', x'04')")
		if after != nil {
			b.sb.WriteString(" AND l.value " + cmp + " ")
			b.arg(toColumn(*after))
		}
		b.sb.WriteString(" AND ")
		if err := b.whereRows(q); err != nil {
			return err
		}
	}
	b.sb.WriteString(" ORDER BY 1" + order)
	return nil
}

// setsAt returns those of the readable sets vis (an SQL list, the -1
// sentinel first) that have rows at path in the view: one primary key
// probe each, remembered for views of the same generation (the view knows
// exactly which state it reads). A caller who belongs to many sets
// (one per combination of subjects in the policies) reads a path through
// few of them; an arm per set without rows cost the sorted walk as much
// as the rows it read (18 sets: 1,200 pages/s instead of 1,800).
func (ix *view) setsAt(ctx context.Context, vis, path string) ([]string, error) {
	all := strings.Split(vis, ",")[1:]
	if len(all) <= fewSets && !ix.opt.askSets {
		return all, nil
	}
	key := path + "\x00" + vis
	if sets, ok := ix.armSets.load(key, ix.gen); ok {
		return sets, nil
	}
	var sb strings.Builder
	sb.WriteString("SELECT ")
	for i, s := range all {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString("EXISTS (SELECT 1 FROM leaves WHERE path = ?1 AND vis = " + s + ")")
	}
	has := make([]bool, len(all))
	dst := make([]any, len(all))
	for i := range has {
		dst[i] = &has[i]
	}
	if err := ix.queryRow(ctx, sb.String(), path).Scan(dst...); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	var out []string
	for i, ok := range has {
		if ok {
			out = append(out, all[i])
		}
	}
	ix.armSets.store(key, ix.gen, out)
	return out, nil
}

// fewSets is how many readable sets a caller may have for setsAt to
// return all of them without asking which have rows at the path: for so
// few, the probes cost about what they save (Options.askSets asks anyway).
const fewSets = 4

// multiValuedCached is multiValued, remembered until the next write.
func (ix *view) multiValuedCached(ctx context.Context, vis, path string) (bool, error) {
	return ix.untilWrite(&ix.multi, path+"\x00"+vis, func() (bool, error) {
		return ix.multiValued(ctx, vis, path)
	})
}

// valueOrder walks f's sortable readable rows in value order from the
// cursor on and returns up to n things matching q, each at its first row
// (its least value ascending, its greatest descending: MongoDB's order of
// arrays); equal values are ordered by thingId.
func (ix *view) valueOrder(ctx context.Context, q Query, f field, desc bool, after *jsonv.Value, afterID string, n int) ([]Hit, error) {
	b, err := ix.builder(ctx, q)
	if err != nil {
		return nil, err
	}
	visIDs := strings.Split(b.vis, ",")[1:] // the first is the -1 sentinel
	next := mergeRows(ctx, ix, f.path, visIDs, desc, after)
	seen := map[int64]bool{}
	var out []Hit
	// Candidates are collected run by run (a run holds the things of one
	// value) and checked a batch of runs at a time, with one statement; a
	// batch ends only where a run does.
	type run struct {
		val any
		ids []int64
	}
	var runs []run
	pending, batch := 0, max(16, 2*n)
	check := func() error {
		if pending == 0 {
			return nil
		}
		var all []int64
		for _, r := range runs {
			all = append(all, r.ids...)
		}
		var extreme map[int64]any
		if after != nil {
			// Resuming: a thing with several values at f sorts at its
			// extreme one, which may lie before the cursor (on an earlier
			// page): it belongs to the run of that value only.
			var err error
			if extreme, err = ix.extremes(ctx, b.vis, f, desc, all); err != nil {
				return err
			}
		}
		byRow, err := ix.matching(ctx, q, all)
		if err != nil {
			return err
		}
		for _, r := range runs {
			v := fromColumn(r.val)
			var hits []Hit
			for _, id := range r.ids {
				if extreme != nil && !sameColumn(extreme[id], r.val) {
					continue
				}
				if h, ok := byRow[id]; ok {
					hits = append(hits, h)
				}
			}
			slices.SortFunc(hits, func(a, b Hit) int { return strings.Compare(a.ThingID, b.ThingID) })
			for _, h := range hits {
				if after != nil && toColumnEqual(r.val, *after) && h.ThingID <= afterID {
					continue // at the cursor's value: only things after it
				}
				h.SortValues = []jsonv.Value{v, jsonv.String(h.ThingID)}
				out = append(out, h)
			}
		}
		runs, pending = runs[:0], 0
		batch = min(batch*2, 1024)
		return nil
	}
	for {
		thing, val, ok, err := next()
		if err != nil {
			return nil, err
		}
		if !ok {
			break
		}
		newRun := len(runs) == 0 || !sameColumn(val, runs[len(runs)-1].val)
		if newRun && pending >= batch {
			if err := check(); err != nil {
				return nil, err
			}
			if len(out) >= n {
				return out[:n], nil
			}
		}
		if seen[thing] {
			continue
		}
		seen[thing] = true
		if newRun {
			runs = append(runs, run{val: val})
		}
		runs[len(runs)-1].ids = append(runs[len(runs)-1].ids, thing)
		pending++
	}
	if err := check(); err != nil {
		return nil, err
	}
	if len(out) > n {
		out = out[:n]
	}
	return out, nil
}

// maxMergedSets bounds the visibility sets whose rows the sorted fast path
// merges; a caller reading more takes the general statement.
const maxMergedSets = 32

// mergeRows returns an iterator over the sortable rows at path of the
// visibility sets, in value order (desc: reversed), ties in row order: one
// primary key walk per set, read in batches from the cursor's value on and
// merged here.
func mergeRows(ctx context.Context, ix *view, path string, visIDs []string, desc bool, after *jsonv.Value) func() (int64, any, bool, error) {
	type stream struct {
		vis       string
		buf       []leafRow
		lastVal   any
		lastThing int64
		started   bool
		done      bool
	}
	batch := 64
	streams := make([]*stream, len(visIDs))
	for i, v := range visIDs {
		streams[i] = &stream{vis: v}
	}
	order, cmp := "ASC", ">"
	if desc {
		order, cmp = "DESC", "<"
	}
	fill := func(st *stream) error {
		var sb strings.Builder
		args := []any{path}
		sb.WriteString("SELECT thing, value FROM leaves WHERE path = ? AND vis = " + st.vis + sortable)
		switch {
		case st.started:
			sb.WriteString(" AND (value, thing) " + cmp + " (?, ?)")
			args = append(args, st.lastVal, st.lastThing)
		case after != nil:
			sb.WriteString(" AND value " + cmp + "= ?")
			args = append(args, toColumn(*after))
		}
		sb.WriteString(" ORDER BY value " + order + ", thing " + order + " LIMIT ?")
		args = append(args, batch)
		rows, err := ix.query(ctx, sb.String(), args...)
		if err != nil {
			return fmt.Errorf("search: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var r leafRow
			if err := rows.Scan(&r.thing, &r.value); err != nil {
				return fmt.Errorf("search: %w", err)
			}
			st.buf = append(st.buf, r)
		}
		if err := rows.Err(); err != nil {
			return fmt.Errorf("search: %w", err)
		}
		st.started = true
		if len(st.buf) < batch {
			st.done = true
		}
		if len(st.buf) > 0 {
			last := st.buf[len(st.buf)-1]
			st.lastVal, st.lastThing = last.value, last.thing
		}
		return nil
	}
	return func() (int64, any, bool, error) {
		var best *stream
		for _, st := range streams {
			if len(st.buf) == 0 && !st.done {
				if err := fill(st); err != nil {
					return 0, nil, false, err
				}
			}
			if len(st.buf) == 0 {
				continue
			}
			if best == nil {
				best = st
				continue
			}
			c := compareColumn(st.buf[0].value, best.buf[0].value)
			if desc {
				c = -c
			}
			if c < 0 {
				best = st
			}
		}
		if best == nil {
			return 0, nil, false, nil
		}
		r := best.buf[0]
		best.buf = best.buf[1:]
		if batch < 1024 {
			batch *= 2 // a long walk reads in larger steps
		}
		return r.thing, r.value, true, nil
	}
}

type leafRow struct {
	thing int64
	value any
}

// compareColumn orders column values as SQLite does: numbers (by value)
// before text (by bytes) before blobs (by bytes).
func compareColumn(a, b any) int {
	rank := func(v any) int {
		switch v.(type) {
		case int64, float64:
			return 0
		case string:
			return 1
		}
		return 2
	}
	ra, rb := rank(a), rank(b)
	if ra != rb {
		return ra - rb
	}
	switch a := a.(type) {
	case int64:
		if bi, ok := b.(int64); ok {
			switch {
			case a < bi:
				return -1
			case a > bi:
				return 1
			}
			return 0
		}
		return compareFloat(float64(a), b.(float64))
	case float64:
		if bi, ok := b.(int64); ok {
			return compareFloat(a, float64(bi))
		}
		return compareFloat(a, b.(float64))
	case string:
		return strings.Compare(a, b.(string))
	case []byte:
		bb, _ := b.([]byte)
		return strings.Compare(string(a), string(bb))
	}
	return 0
}

func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// extremes returns the least (desc: greatest) sortable readable value at f
// of each of the things.
func (ix *view) extremes(ctx context.Context, vis string, f field, desc bool, ids []int64) (map[int64]any, error) {
	agg := "min"
	if desc {
		agg = "max"
	}
	out := make(map[int64]any, len(ids))
	for chunk := range slices.Chunk(ids, 256) {
		var sb strings.Builder
		args := []any{f.path}
		sb.WriteString("SELECT thing, " + agg + "(value) FROM leaves WHERE path = ? AND vis IN (" + vis + ")" + sortable + " AND thing IN (")
		for i, id := range chunk {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteByte('?')
			args = append(args, id)
		}
		sb.WriteString(") GROUP BY thing")
		rows, err := ix.query(ctx, sb.String(), args...)
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		for rows.Next() {
			var id int64
			var v any
			if err := rows.Scan(&id, &v); err != nil {
				rows.Close()
				return nil, fmt.Errorf("search: %w", err)
			}
			out[id] = v
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	return out, nil
}

// matching returns those of the things (by row id) that match q and that
// the caller sees, by row id.
func (ix *view) matching(ctx context.Context, q Query, ids []int64) (map[int64]Hit, error) {
	out := make(map[int64]Hit, len(ids))
	for chunk := range slices.Chunk(ids, 256) {
		b, err := ix.builder(ctx, q)
		if err != nil {
			return nil, err
		}
		b.correlated = true
		b.sb.WriteString("SELECT t.id, t.thing_id, t.policy_id, t.revision, t.doc FROM things t WHERE t.id IN (")
		argList(b, chunk)
		b.sb.WriteString(") AND ")
		q2 := q
		if err := b.whereRows(q2); err != nil {
			return nil, err
		}
		rows, err := ix.query(ctx, b.sb.String(), b.args...)
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		for rows.Next() {
			var h Hit
			var id int64
			if err := rows.Scan(&id, &h.ThingID, &h.PolicyID, &h.Revision, &h.Raw); err != nil {
				rows.Close()
				return nil, fmt.Errorf("search: %w", err)
			}
			out[id] = h
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
	}
	return out, nil
}

// sameColumn reports whether two column values are the same value.
func sameColumn(a, b any) bool {
	switch a := a.(type) {
	case int64:
		switch b := b.(type) {
		case int64:
			return a == b
		case float64:
			return float64(a) == b
		}
	case float64:
		switch b := b.(type) {
		case int64:
			return a == float64(b)
		case float64:
			return a == b
		}
	case string:
		bs, ok := b.(string)
		return ok && a == bs
	case []byte:
		bb, ok := b.([]byte)
		return ok && string(a) == string(bb)
	}
	return false
}

func toColumnEqual(col any, v jsonv.Value) bool { return sameColumn(col, toColumn(v)) }
