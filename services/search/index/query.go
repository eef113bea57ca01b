package index

import (
	"context"
	"database/sql/driver"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"modernc.org/sqlite"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

// Query is one search.
type Query struct {
	// Filter selects the things; nil selects every visible thing.
	Filter rql.Node
	// Sort orders the hits; +thingId is always the last (tie-breaking)
	// key, added if missing; keys after a thingId key are ignored.
	Sort []rql.SortKey
	// Namespaces restricts the search; empty means all.
	Namespaces []string
	// Subjects are the caller's authenticated subjects.
	Subjects []string
	// After is the cursor: the sort values (one per effective sort key,
	// thingId last) of the last hit of the previous page; nil is the first
	// page.
	After []jsonv.Value
	// Offset and Limit are limit(offset,count); the index returns up to
	// Limit+1 hits so the caller knows whether there is more.
	Offset, Limit int
	// Now resolves time placeholders; zero means time.Now().
	Now time.Time
	// NoDocuments lets hits come without their stored document (Raw may
	// be empty): for a caller that renders only ids and revisions.
	NoDocuments bool
}

// Hit is one thing found, with its value per effective sort key (Null when
// missing): the cursor of the next page. Its Entry's Thing is not set: Raw
// holds the stored document, which Document parses, so that a caller who
// may read all of it can answer with the bytes. It is a string, as the
// driver reads a TEXT column: no copy is made of it.
type Hit struct {
	Entry
	SortValues []jsonv.Value
	Raw        string
}

// Document parses the hit's stored document.
func (h Hit) Document() (jsonv.Value, error) {
	v, err := jsonv.ParseStoredString(h.Raw)
	if err != nil {
		return v, fmt.Errorf("search: thing %q: %w", h.ThingID, err)
	}
	return v, nil
}

// EffectiveSort returns the sort keys q runs with: q.Sort up to its first
// thingId key, then +thingId if there was none.
func EffectiveSort(sort []rql.SortKey) []rql.SortKey {
	out := make([]rql.SortKey, 0, len(sort)+1)
	for _, k := range sort {
		out = append(out, k)
		if strings.Join(rql.PropertyKeys(k.Property), "/") == "thingId" {
			return out
		}
	}
	return append(out, rql.SortKey{Property: "thingId"})
}

// Count returns how many visible things match q (ignoring sort, cursor and
// limit).
func (ix *Index) Count(ctx context.Context, q Query) (int64, error) {
	v, err := ix.callerView(ctx, q)
	if err != nil {
		return 0, err
	}
	defer v.close()
	return v.count(ctx, q)
}

func (ix *view) count(ctx context.Context, q Query) (int64, error) {
	b, err := ix.builder(ctx, q)
	if err != nil {
		return 0, err
	}
	if !ix.opt.NoFastPaths {
		if q.Namespaces, err = ix.coveredNamespaces(ctx, b, q); err != nil {
			return 0, err
		}
	}
	if c, ok := leafComparison(q); ok && !ix.opt.NoFastPaths {
		return ix.countLeaves(ctx, b, c)
	}
	if q.Filter == nil && !ix.opt.NoFastPaths {
		return ix.countThings(ctx, b, q.Namespaces)
	}
	if b.nsDrive, err = ix.namespacesDrive(ctx, b, q); err != nil {
		return 0, err
	}
	b.setsAt = func(path string) ([]string, error) { return ix.setsAt(ctx, b.vis, path) }
	b.sb.WriteString("SELECT count(*) FROM things t WHERE ")
	if err := b.where(q); err != nil {
		return 0, err
	}
	var n int64
	if err := ix.queryRow(ctx, b.sb.String(), b.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count search: %w", err)
	}
	return n, nil
}

// Query returns a page of the visible things matching q, in sort order.
func (ix *Index) Query(ctx context.Context, q Query) ([]Hit, error) {
	v, err := ix.callerView(ctx, q)
	if err != nil {
		return nil, err
	}
	defer v.close()
	return v.page(ctx, q)
}

func (ix *view) page(ctx context.Context, q Query) ([]Hit, error) {
	b, err := ix.builder(ctx, q)
	if err != nil {
		return nil, err
	}
	keys := EffectiveSort(q.Sort)
	if q.After != nil && len(q.After) != len(keys) {
		return nil, fmt.Errorf("cursor has %d sort values, want %d", len(q.After), len(keys))
	}
	if f, ok := sortField(keys); ok && !ix.opt.NoFastPaths && strings.Count(b.vis, ",") <= maxMergedSets {
		if q.Namespaces, err = ix.coveredNamespaces(ctx, b, q); err != nil {
			return nil, err
		}
		return ix.sortedByLeaf(ctx, q, keys, f)
	}
	if c, ok := leafComparison(q); ok && len(keys) == 1 && !ix.opt.NoFastPaths && strings.Count(b.vis, ",") < maxMergedSets &&
		!(fieldOf(c.Property).path == "thingId" && (c.Op == rql.Eq || c.Op == rql.In)) { // ids are unique: few matches
		// One condition matching many things: walk the things in order.
		// A selective one is answered faster by its own rows: few of
		// them name the things of the page, and up to denseMatches the
		// general statement collects and sorts them.
		eb, err := ix.builder(ctx, q)
		if err != nil {
			return nil, err
		}
		eb.setsAt = func(path string) ([]string, error) { return ix.setsAt(ctx, eb.vis, path) }
		if ids, few, err := ix.fewMatches(ctx, eb, c, min(fewMatchesMax, ix.denseMatches())); err != nil || few {
			if err != nil || len(ids) == 0 {
				return nil, err
			}
			return ix.pageOf(ctx, q, keys, ids)
		}
		dense, err := ix.leavesAtLeast(ctx, eb, c, ix.denseMatches())
		if err != nil {
			return nil, err
		}
		if dense {
			hits, ok, err := ix.byThingID(ctx, q, keys[0].Descending)
			if err != nil || ok {
				return hits, err
			}
		}
	}
	b.sortedSelect(keys, q.NoDocuments)
	if b.nsDrive, err = ix.namespacesDrive(ctx, b, q); err != nil {
		return nil, err
	}
	b.setsAt = func(path string) ([]string, error) { return ix.setsAt(ctx, b.vis, path) }
	if b.byIDs(q) {
		// A few things by id: their rows' sets are checked here rather
		// than by the statement, which would build a table of the
		// caller's sets on every run (4.5 of 14 µs for a caller of 22
		// sets), and whose text then serves every caller.
		b.visAfter = &ix.callerSets
		ctx = bounded(ctx)
	}
	if err := b.where(q); err != nil {
		return nil, err
	}
	return ix.sortedRows(ctx, b, q, keys)
}

// byIDs reports whether q's statement names its things by id: no
// namespaces, and a filter of eq or in on thingId with at most inChunk
// values, written as a condition on thing_id (see thingIDIn). It matches
// at most as many things as it names.
func (b *builder) byIDs(q Query) bool {
	c, ok := q.Filter.(*rql.Comparison)
	return ok && b.idColumn && len(q.Namespaces) == 0 && (c.Op == rql.Eq || c.Op == rql.In) &&
		len(c.Values) <= inChunk && fieldOf(c.Property) == field{path: "thingId"}
}

// fewMatchesMax is how many rows fewMatches reads at most.
const fewMatchesMax = 32

// fewMatches returns the things with a readable row satisfying c, when
// fewer than k rows do (few): a condition such as a serial number or a name
// names the things of the page at once. Otherwise it reads k rows and
// reports not few.
func (ix *view) fewMatches(ctx context.Context, b *builder, c *rql.Comparison, k int) (ids []int64, few bool, err error) {
	cond, args, never, err := b.leafCond(c)
	if err != nil || never {
		return nil, never, err
	}
	rows, err := ix.query(bounded(ctx), "SELECT thing FROM leaves WHERE "+cond+" LIMIT ?", append(args, k)...)
	if err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, false, fmt.Errorf("search: %w", err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, false, fmt.Errorf("search: %w", err)
	}
	if len(ids) >= k {
		return nil, false, nil
	}
	slices.Sort(ids)
	return slices.Compact(ids), true, nil
}

// pageOf is the page of q among the things ids, each of which has a row
// the caller may read that satisfies q's filter (so the caller sees it, see
// the fast paths): the general statement with the things named instead of
// searched for.
func (ix *view) pageOf(ctx context.Context, q Query, keys []rql.SortKey, ids []int64) ([]Hit, error) {
	b, err := ix.builder(ctx, q)
	if err != nil {
		return nil, err
	}
	b.sortedSelect(keys, q.NoDocuments)
	// As many arguments as the next power of two, the last id repeated:
	// a few statement texts serve every count.
	for len(ids)&(len(ids)-1) != 0 {
		ids = append(ids, ids[len(ids)-1])
	}
	b.sb.WriteString("t.id IN (")
	argList(b, ids)
	b.sb.WriteString(")")
	return ix.sortedRows(bounded(ctx), b, q, keys)
}

// bounded is the context of a statement that reads a few rows by key, for
// the view's own statements: without a deadline, so that neither the
// driver nor database/sql start a goroutine and a timer to interrupt it
// (a search's statements otherwise each do). Such a statement ends within
// microseconds, and the view's other statements still watch ctx.
func bounded(context.Context) context.Context { return context.Background() }

// sortedSelect writes the start of a page's statement: the things' columns
// and sort values, up to the things' WHERE.
func (b *builder) sortedSelect(keys []rql.SortKey, noDocs bool) {
	b.sb.WriteString("SELECT id, thing_id, policy_id, revision, vis, doc")
	for i := range keys {
		fmt.Fprintf(&b.sb, ", s%d", i)
	}
	if noDocs {
		b.sb.WriteString(" FROM (SELECT t.id, t.thing_id, t.policy_id, t.revision, t.vis, '' AS doc")
	} else {
		b.sb.WriteString(" FROM (SELECT t.id, t.thing_id, t.policy_id, t.revision, t.vis, t.doc")
	}
	for i, k := range keys {
		b.sb.WriteString(", ")
		b.sortExpr(k)
		fmt.Fprintf(&b.sb, " AS s%d", i)
	}
	b.sb.WriteString(" FROM things t WHERE ")
}

// sortedRows ends a page's statement (the conditions written) with the
// cursor, order and limits of q, and reads its hits.
func (ix *view) sortedRows(ctx context.Context, b *builder, q Query, keys []rql.SortKey) ([]Hit, error) {
	b.sb.WriteString(")")
	if q.After != nil {
		b.sb.WriteString(" WHERE ")
		b.keyset(keys, q.After, 0)
	}
	b.sb.WriteString(" ORDER BY ")
	for i, k := range keys {
		if i > 0 {
			b.sb.WriteString(", ")
		}
		fmt.Fprintf(&b.sb, "s%d", i)
		if k.Descending {
			b.sb.WriteString(" DESC")
		}
	}
	b.sb.WriteString(" LIMIT ? OFFSET ?")
	skip := 0 // rows to skip here: the offset, when the sets are checked here
	if b.visAfter != nil {
		// The statement has as many rows as things named (byIDs).
		b.args = append(b.args, -1, 0)
		skip = q.Offset
	} else {
		b.args = append(b.args, q.Limit+1, q.Offset)
	}

	rows, err := ix.query(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	defer rows.Close()
	var hits []Hit
	dst := make([]any, 6+len(keys))
	vals := make([]any, len(keys))
	var id, vis int64
	var doc string
	for rows.Next() && len(hits) <= q.Limit {
		var h Hit
		dst[0], dst[1], dst[2], dst[3], dst[4], dst[5] = &id, &h.ThingID, &h.PolicyID, &h.Revision, &vis, &doc
		for i := range vals {
			dst[6+i] = &vals[i]
		}
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("search: %w", err)
		}
		if b.visAfter != nil {
			if !b.visAfter.has(vis) {
				continue
			}
			if skip > 0 {
				skip--
				continue
			}
		}
		h.Raw = doc
		h.SortValues = make([]jsonv.Value, len(keys))
		for i, v := range vals {
			h.SortValues[i] = fromColumn(v)
		}
		hits = append(hits, h)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("search: %w", err)
	}
	return hits, nil
}

// fromColumn converts a sort value back to JSON.
func fromColumn(v any) jsonv.Value {
	switch v := v.(type) {
	case int64:
		return jsonv.Int(v)
	case float64:
		return jsonv.Float(v)
	case string:
		return jsonv.String(v)
	case []byte:
		if len(v) == 1 && v[0] <= 1 {
			return jsonv.Bool(v[0] == 1)
		}
	}
	return jsonv.Null()
}

// toColumn converts a JSON scalar to its column value (nil for null, which
// sorts as SQL NULL).
func toColumn(v jsonv.Value) any {
	if v.Kind() == jsonv.KindNull {
		return nil
	}
	c, ok := jsonValue(v)
	if !ok {
		return nil
	}
	return c
}

// builder accumulates one statement.
type builder struct {
	sb   strings.Builder
	args []any
	// vis is the caller's readable set ids as an SQL list.
	vis    string
	now    time.Time
	maxOvh int
	// idColumn writes eq and in on thingId as a condition on the things'
	// thing_id (see thingIDIn).
	idColumn bool
	// correlated writes conditions as probes of the current thing's rows,
	// for statements that name a few things (by id) rather than search.
	correlated bool
	// setsAt, when set, gives the readable sets with rows at a path (see
	// view.setsAt), to seek only those for a filter's rows.
	setsAt func(path string) ([]string, error)
	// nsDrive lets the namespaces of a filtered query choose the things
	// (their index on namespace) rather than the filter's rows; set where
	// the namespaces hold few things (see namespacesDrive).
	nsDrive bool
	// sudo reads every thing and row, whoever may read them (see Sudo):
	// no condition on things' visibility, and vis is every set.
	sudo bool
	// visAfter, when set, leaves the things' visibility out of the
	// statement: the rows read are checked against these sets instead
	// (see page).
	visAfter *readableSets
}

// callerView opens a view for q's caller and reads the caller's readable
// sets in it. Their answer is remembered for the sets generation loaded
// before the view began, whose state holds every commit that ended before
// (see view), so at least those sets. Sets are never deleted, so
// remembered ids newer than a later view's state only name rows it does
// not have.
func (ix *Index) callerView(ctx context.Context, q Query) (*view, error) {
	setsGen := ix.setsGen.Load()
	v, err := ix.view(ctx)
	if err != nil {
		return nil, err
	}
	if v.callerSets, err = v.readable(ctx, q.Subjects, setsGen); err != nil {
		v.close()
		return nil, err
	}
	return v, nil
}

func (ix *view) builder(ctx context.Context, q Query) (*builder, error) {
	return ix.newBuilder(ix.callerSets.list, q.Now), nil
}

// newBuilder is a builder reading the sets vis, with time placeholders
// resolved at now (time.Now() when zero).
func (ix *view) newBuilder(vis string, now time.Time) *builder {
	if now.IsZero() {
		now = time.Now()
	}
	maxOvh := int(ix.maxOvh.Load())
	return &builder{vis: vis, now: now, maxOvh: maxOvh, idColumn: !ix.opt.NoFastPaths && idsWhole(maxOvh)}
}

func (b *builder) arg(v any) {
	b.sb.WriteByte('?')
	b.args = append(b.args, v)
}

// argList writes xs as arguments, separated by commas.
func argList[T any](b *builder, xs []T) {
	for i, x := range xs {
		if i > 0 {
			b.sb.WriteByte(',')
		}
		b.arg(x)
	}
}

func (b *builder) where(q Query) error {
	return b.whereWith(q, true)
}

// whereRows is where for a statement that already names the rows (by id).
func (b *builder) whereRows(q Query) error {
	return b.whereWith(q, false)
}

func (b *builder) whereWith(q Query, search bool) error {
	if b.sudo || b.visAfter != nil {
		b.sb.WriteString("1")
		return b.restrict(q)
	}
	if q.Filter != nil || !search {
		// A filter drives the query through its leaves subqueries, and a
		// statement naming its rows by id looks them up; the unary + keeps
		// the planner from scanning things_vis instead and testing the
		// rest per row.
		b.sb.WriteByte('+')
	}
	b.sb.WriteString("t.vis IN (")
	b.sb.WriteString(b.vis)
	b.sb.WriteString(")")
	return b.restrict(q)
}

// restrict writes the namespaces and the filter of q, each after " AND ".
func (b *builder) restrict(q Query) error {
	if len(q.Namespaces) > 0 {
		if q.Filter != nil && !b.nsDrive {
			// The filter's rows find the things; the unary + keeps the
			// planner from walking every thing of the namespaces and
			// testing the filter on each (30 ms instead of 0.1 for a
			// filter matching nothing in a namespace of 100,000 things).
			b.sb.WriteString(" AND +t.namespace IN (")
		} else {
			b.sb.WriteString(" AND t.namespace IN (")
		}
		argList(b, q.Namespaces)
		b.sb.WriteString(")")
	}
	if q.Filter != nil {
		b.sb.WriteString(" AND ")
		return b.node(q.Filter)
	}
	return nil
}

func (b *builder) node(n rql.Node) error {
	switch n := n.(type) {
	case *rql.Logical:
		if len(n.Children) == 0 {
			return fmt.Errorf("%s without operands", n.Op)
		}
		if n.Op == rql.Not {
			b.sb.WriteString("NOT ")
		}
		b.sb.WriteByte('(')
		for i, c := range n.Children {
			if i > 0 {
				if n.Op == rql.Or {
					b.sb.WriteString(" OR ")
				} else {
					b.sb.WriteString(" AND ")
				}
			}
			if err := b.node(c); err != nil {
				return err
			}
		}
		b.sb.WriteByte(')')
		return nil
	case *rql.Comparison:
		b.comparison(n)
		return nil
	}
	return fmt.Errorf("unknown filter node %T", n)
}

// field is a property as the index addresses it.
type field struct {
	path string
	// wildcard: features/*/suffix, any feature.
	wildcard bool
	suffix   string
}

func fieldOf(property string) field {
	keys := rql.PropertyKeys(property)
	if len(keys) >= 2 && keys[0] == "features" && keys[1] == "*" {
		return field{path: strings.Join(keys, "/"), wildcard: true, suffix: strings.Join(keys[2:], "/")}
	}
	return field{path: strings.Join(keys, "/")}
}

// pathCond writes the condition on the path column: exactly the field, or
// (under) the field or anything below it.
func (b *builder) pathCond(f field, under bool) {
	mode := 0
	if under {
		mode = 1
	}
	if f.wildcard {
		b.sb.WriteString("path >= 'features/' AND path < 'features0' AND ditto_feature_path(path, ")
		b.arg(f.suffix)
		fmt.Fprintf(&b.sb, ", %d)", mode)
		return
	}
	if !under {
		b.sb.WriteString("path = ")
		b.arg(f.path)
		return
	}
	b.sb.WriteString("(path = ")
	b.arg(f.path)
	b.sb.WriteString(" OR (path >= ")
	b.arg(f.path + "/")
	b.sb.WriteString(" AND path < ")
	b.arg(f.path + "0")
	b.sb.WriteString("))")
}

// leaves writes "the thing has a readable row at f satisfying cond".
func (b *builder) leaves(f field, under bool, cond func()) {
	if col, ok := thingColumns[f.path]; ok && !f.wildcard {
		// A column of the thing's row, seen by whoever sees the thing: the
		// row's value as the one "leaf" at its path.
		b.sb.WriteString("EXISTS (SELECT 1 FROM (SELECT " + col + " AS value, 0 AS flags, ")
		b.arg(f.path)
		b.sb.WriteString(" AS path) WHERE value IS NOT NULL")
		if cond != nil {
			b.sb.WriteString(" AND (")
			cond()
			b.sb.WriteString(")")
		}
		b.sb.WriteString(")")
		return
	}
	vis := " AND vis IN ("
	if b.correlated {
		// Probing the rows of one thing at a time: the (thing, path) index
		// answers, nothing is materialized. The unary + makes it one seek
		// to the thing's rows at the path, whose visibility and value are
		// then tested, instead of one seek per readable set and value
		// (a thing has few rows at a path).
		b.sb.WriteString("EXISTS (SELECT 1 FROM leaves WHERE thing = t.id AND ")
		vis = " AND +vis IN ("
	} else {
		b.sb.WriteString("t.id IN (SELECT thing FROM leaves WHERE ")
	}
	b.pathCond(f, under)
	b.sb.WriteString(vis)
	if list, ok := b.setsAtPath(f, under); ok && !b.correlated {
		// One seek per set: only the sets with rows at the path.
		b.sb.WriteString(list)
	} else {
		b.sb.WriteString(b.vis)
	}
	b.sb.WriteString(")")
	if cond != nil {
		b.sb.WriteString(" AND (")
		cond()
		b.sb.WriteString(")")
	}
	b.sb.WriteString(")")
}

// operand is a filter literal as a column value; null is blobNull, and an
// unresolvable placeholder is null, as in the evaluator.
func (b *builder) operand(v rql.Value) any {
	switch v.Kind() {
	case rql.KindString:
		return v.Str()
	case rql.KindInt:
		return v.Int()
	case rql.KindFloat:
		return numberValue(v.Float())
	case rql.KindBool:
		if v.Bool() {
			return blobTrue
		}
		return blobFalse
	case rql.KindPlaceholder:
		if s, ok := rql.ResolvePlaceholder(v.Str(), b.now); ok {
			return s
		}
	}
	return blobNull
}

func (b *builder) comparison(c *rql.Comparison) {
	f := fieldOf(c.Property)
	switch c.Op {
	case rql.Exists:
		b.leaves(f, true, nil)
	case rql.Empty:
		// Empty unless a readable row shows a non-empty value: anything
		// below the field, a row reached across an array, or a value
		// other than null, "", [] and {}.
		b.sb.WriteString("NOT ")
		b.leaves(f, true, func() {
			b.sb.WriteString("NOT (")
			b.pathCond(f, false)
			b.sb.WriteString(") OR flags & 1 <> 0 OR value NOT IN (x'', '', x'02', x'03')")
		})
	case rql.Eq, rql.In:
		if f.path == "thingId" && !f.wildcard && b.idColumn {
			b.thingIDIn(c.Values)
			return
		}
		b.leaves(f, false, func() { b.anyEqual(f, c.Values) })
	case rql.Ne:
		b.sb.WriteByte('(')
		b.leaves(f, true, nil)
		b.sb.WriteString(" AND NOT ")
		b.leaves(f, false, func() { b.anyEqual(f, c.Values) })
		b.sb.WriteByte(')')
	case rql.Gt, rql.Ge, rql.Lt, rql.Le:
		if len(c.Values) == 0 {
			b.sb.WriteString("0")
			return
		}
		cond, ok := b.rangeCond(c.Op, b.operand(c.Values[0]))
		if !ok {
			b.sb.WriteString("0")
			return
		}
		b.leaves(f, false, cond)
	case rql.Like, rql.ILike:
		if len(c.Values) == 0 || c.Values[0].Kind() != rql.KindString {
			b.sb.WriteString("0")
			return
		}
		pattern := c.Values[0].Str()
		b.leaves(f, false, func() {
			prefix := rql.LikePrefix(pattern)
			if c.Op == rql.Like && prefix != "" && utf8.ValidString(prefix) {
				b.sb.WriteString("value >= ")
				b.arg(prefix)
				if upper, ok := successor(prefix); ok {
					b.sb.WriteString(" AND value < ")
					b.arg(upper)
				} else {
					b.sb.WriteString(" AND value < x''")
				}
			} else {
				b.sb.WriteString("value >= '' AND value < x''")
			}
			if c.Op == rql.Like {
				b.sb.WriteString(" AND ditto_like(value, ")
			} else {
				b.sb.WriteString(" AND ditto_ilike(value, ")
			}
			b.arg(pattern)
			b.sb.WriteString(")")
		})
	default:
		b.sb.WriteString("0")
	}
}

// idsWhole reports whether every indexed thing's thingId row holds its
// whole id, for things whose key overhead is at most maxOvh: an id takes at
// most 3 UTF-8 bytes per UTF-16 unit of the overhead it adds, and is cut
// only past its budget. It holds while every id, counted with its namespace
// once more, has at most 203 UTF-16 units.
func idsWhole(maxOvh int) bool {
	return 3*(maxOvh-subjectsOverhead) <= budget("thingId", maxOvh)
}

// thingIDIn writes eq and in on thingId as a condition on the thing's row:
// its thingId row has the thing's own visibility set (see flatten), which
// the statement already requires of t.vis, and holds the whole id (see
// idsWhole), so both say the same; the row's unique index on thing_id
// answers with one seek per id instead of one per readable set. Only a
// string can equal an id.
func (b *builder) thingIDIn(values []rql.Value) {
	var ids []any
	for _, v := range values {
		if s, ok := b.operand(v).(string); ok {
			ids = append(ids, s)
		}
	}
	if len(ids) == 0 {
		b.sb.WriteString("0")
		return
	}
	b.sb.WriteByte('(')
	sep := ""
	for chunk := range slices.Chunk(ids, inChunk) {
		b.sb.WriteString(sep + "t.thing_id IN (")
		argList(b, chunk)
		b.sb.WriteString(")")
		sep = " OR "
	}
	b.sb.WriteByte(')')
}

// successor returns the least string greater than every string with prefix
// p, in byte order.
func successor(p string) (string, bool) {
	s := []byte(p)
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] < 0xff {
			s[i]++
			return string(s[:i+1]), true
		}
	}
	return "", false
}

// inChunk bounds the values of one IN list.
const inChunk = 500

// anyEqual writes "value equals one of values" for eq and in.
func (b *builder) anyEqual(f field, values []rql.Value) {
	var plain []any
	var terms []func()
	for _, v := range values {
		x := b.operand(v)
		if s, ok := x.(string); ok && b.maybeTruncated(f, s) {
			terms = append(terms, func() { b.truncatedEqual(f, s) })
			continue
		}
		plain = append(plain, x)
	}
	for chunk := range slices.Chunk(plain, inChunk) {
		terms = append(terms, func() {
			b.sb.WriteString("value IN (")
			argList(b, chunk)
			b.sb.WriteString(")")
		})
	}
	if len(terms) == 0 {
		b.sb.WriteString("0")
		return
	}
	for i, t := range terms {
		if i > 0 {
			b.sb.WriteString(" OR ")
		}
		b.sb.WriteByte('(')
		t()
		b.sb.WriteByte(')')
	}
}

// maybeTruncated reports whether s may have been cut for some thing at f.
// Every indexed string keeps at least minValueLength bytes.
func (b *builder) maybeTruncated(f field, s string) bool {
	if _, col := thingColumns[f.path]; col {
		return false // a column of the thing's row is stored whole
	}
	if f.wildcard {
		return len(s) > minValueLength
	}
	n := budget(f.path, b.maxOvh)
	return n < 0 || len(s) > n
}

// truncatedEqual matches a stored string that is x as cut for its thing: a
// prefix of x no shorter than the least budget at f minus a character.
func (b *builder) truncatedEqual(f field, x string) {
	lo := 1
	if !f.wildcard {
		lo = max(lo, budget(f.path, b.maxOvh)-utf8.UTFMax+1)
	}
	b.sb.WriteString("value >= ")
	b.arg(x[:min(lo, len(x))])
	b.sb.WriteString(" AND value <= ")
	b.arg(x)
	b.sb.WriteString(" AND ditto_cut_equal(value, ")
	b.arg(x)
	b.sb.WriteString(", path, (SELECT ovh FROM things WHERE id = leaves.thing))")
}

// rangeCond returns the condition of gt, ge, lt or le against x within its
// type bracket; ok is false when nothing can match (null).
func (b *builder) rangeCond(op rql.CompareOp, x any) (func(), bool) {
	sqlOp := map[rql.CompareOp]string{rql.Gt: ">", rql.Ge: ">=", rql.Lt: "<", rql.Le: "<="}[op]
	switch x := x.(type) {
	case int64, float64:
		return func() {
			b.sb.WriteString("value " + sqlOp + " ")
			b.arg(x)
			if op == rql.Gt || op == rql.Ge {
				b.sb.WriteString(" AND value < ''")
			}
		}, true
	case string:
		return func() {
			b.sb.WriteString("value " + sqlOp + " ")
			b.arg(x)
			if op == rql.Gt || op == rql.Ge {
				b.sb.WriteString(" AND value < x''")
			} else {
				b.sb.WriteString(" AND value >= ''")
			}
		}, true
	case []byte:
		if len(x) == 0 {
			return nil, false // null has no order
		}
		return func() {
			b.sb.WriteString("value " + sqlOp + " ")
			b.arg(x)
			if op == rql.Gt || op == rql.Ge {
				b.sb.WriteString(" AND value <= x'01'")
			} else {
				b.sb.WriteString(" AND value >= x'00'")
			}
		}, true
	}
	return nil, false
}

// sortExpr writes the value a thing sorts by at key: the least readable
// value at the path ascending, the greatest descending (MongoDB's rule for
// arrays), null when missing; structure markers do not sort.
func (b *builder) sortExpr(k rql.SortKey) {
	f := fieldOf(k.Property)
	if f.path == "thingId" {
		b.sb.WriteString("t.thing_id")
		return
	}
	if col, ok := thingColumns[f.path]; ok {
		b.sb.WriteString(col)
		return
	}
	b.sb.WriteString("(SELECT nullif(value, x'') FROM leaves WHERE thing = t.id AND path = ")
	b.arg(f.path)
	b.sb.WriteString(" AND vis IN (")
	b.sb.WriteString(b.vis)
	b.sb.WriteString(") AND value NOT IN (x'02', x'03', x'04') ORDER BY ")
	if k.Descending {
		b.sb.WriteString("value = x'', value DESC")
	} else {
		b.sb.WriteString("value <> x'', value")
	}
	b.sb.WriteString(" LIMIT 1)")
}

// keyset writes "the row sorts after the cursor" from key i on: greater in
// key i, or equal in it and after the cursor in the following keys. SQL NULL
// (missing or null) sorts first ascending and last descending.
func (b *builder) keyset(keys []rql.SortKey, after []jsonv.Value, i int) {
	col := "s" + strconv.Itoa(i)
	x := toColumn(after[i])
	b.sb.WriteByte('(')
	switch {
	case x == nil && !keys[i].Descending:
		b.sb.WriteString(col + " IS NOT NULL")
	case x == nil:
		b.sb.WriteString("0")
	case !keys[i].Descending:
		b.sb.WriteString(col + " > ")
		b.arg(x)
	default:
		b.sb.WriteString("(" + col + " < ")
		b.arg(x)
		b.sb.WriteString(" OR " + col + " IS NULL)")
	}
	if i+1 < len(keys) {
		b.sb.WriteString(" OR (" + col + " IS ")
		b.arg(x)
		b.sb.WriteString(" AND ")
		b.keyset(keys, after, i+1)
		b.sb.WriteByte(')')
	}
	b.sb.WriteByte(')')
}

// readable returns the ids of the visibility sets the subjects may read:
// thing-level sets that name one of them, and leaf sets whose grants
// enforcer.LeafReadable accepts for them; remembered for the sets
// generation gen, which the caller loaded before the view began.
func (ix *view) readable(ctx context.Context, subjects []string, gen uint64) (readableSets, error) {
	subjects = slices.Compact(slices.Sorted(slices.Values(subjects)))
	key := strings.Join(subjects, "\x00")
	if sets, ok := ix.callers.load(key, gen); ok {
		return sets, nil
	}
	if len(subjects) == 0 {
		return readableSets{list: "-1"}, nil
	}
	var sb strings.Builder
	sb.WriteString("SELECT DISTINCT s.id, s.key FROM set_members m JOIN sets s ON s.id = m.set_id WHERE m.subject IN (")
	args := make([]any, len(subjects))
	for i, s := range subjects {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteByte('?')
		args[i] = s
	}
	sb.WriteString(")")
	rows, err := ix.query(ctx, sb.String(), args...)
	if err != nil {
		return readableSets{}, fmt.Errorf("read visibility sets: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		var k string
		if err := rows.Scan(&id, &k); err != nil {
			return readableSets{}, fmt.Errorf("read visibility sets: %w", err)
		}
		if rest, ok := strings.CutPrefix(k, leafKeyPrefix); ok {
			grants, err := enforcer.DecodeLeafKey(rest)
			if err != nil || !enforcer.LeafReadable(grants, subjects) {
				continue
			}
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return readableSets{}, fmt.Errorf("read visibility sets: %w", err)
	}
	slices.Sort(ids)
	parts := make([]string, 0, len(ids)+1)
	parts = append(parts, "-1")
	for _, id := range ids {
		parts = append(parts, strconv.FormatInt(id, 10))
	}
	sets := readableSets{list: strings.Join(parts, ","), ids: slices.Compact(ids)}
	ix.callers.store(key, gen, sets)
	return sets, nil
}

// readableSets are the visibility sets a caller may read.
type readableSets struct {
	// list is their ids as an SQL list, led by the sentinel -1 (no set)
	// so that it is never empty.
	list string
	// ids are their ids, ascending.
	ids []int64
}

// has reports whether the set vis is one of them.
func (r readableSets) has(vis int64) bool {
	_, ok := slices.BinarySearch(r.ids, vis)
	return ok
}

// likeCache holds compiled like patterns; it is cleared when it grows past
// likeCacheSize, as patterns come from callers.
type likeCache struct {
	mu sync.Mutex
	m  map[string]func(string) bool
}

const likeCacheSize = 1024

func (c *likeCache) matcher(pattern string, fold bool) func(string) bool {
	key := pattern
	if fold {
		key = "i" + pattern
	} else {
		key = "c" + pattern
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.m[key]; ok {
		return m
	}
	if c.m == nil || len(c.m) >= likeCacheSize {
		c.m = map[string]func(string) bool{}
	}
	m := rql.LikeMatcher(pattern, fold)
	c.m[key] = m
	return m
}

// registerFunctions installs the SQL functions queries use on drv.
func (ix *Index) registerFunctions(drv *sqlite.Driver) error {
	boolean := func(b bool) driver.Value {
		if b {
			return int64(1)
		}
		return int64(0)
	}
	like := func(fold bool) func(*sqlite.FunctionContext, []driver.Value) (driver.Value, error) {
		return func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
			s, ok := args[0].(string)
			p, ok2 := args[1].(string)
			if !ok || !ok2 {
				return int64(0), nil
			}
			return boolean(ix.likes.matcher(p, fold)(s)), nil
		}
	}
	if err := drv.RegisterDeterministicScalarFunction("ditto_like", 2, like(false)); err != nil {
		return err
	}
	if err := drv.RegisterDeterministicScalarFunction("ditto_ilike", 2, like(true)); err != nil {
		return err
	}
	// ditto_feature_path(path, suffix, under): path is features/<id>/suffix
	// (suffix "" : features/<id>), or below it when under is 1.
	if err := drv.RegisterDeterministicScalarFunction("ditto_feature_path", 3, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		path, _ := args[0].(string)
		suffix, _ := args[1].(string)
		under, _ := args[2].(int64)
		rest, ok := strings.CutPrefix(path, "features/")
		if !ok {
			return int64(0), nil
		}
		id, tail, hasTail := strings.Cut(rest, "/")
		if id == "" {
			return int64(0), nil
		}
		if suffix == "" {
			return boolean(!hasTail || under == 1), nil
		}
		if !hasTail {
			return int64(0), nil
		}
		return boolean(tail == suffix || (under == 1 && strings.HasPrefix(tail, suffix+"/"))), nil
	}); err != nil {
		return err
	}
	// ditto_cut_equal(value, x, path, ovh): value is x as indexed at path
	// of a thing with key overhead ovh.
	return drv.RegisterDeterministicScalarFunction("ditto_cut_equal", 4, func(_ *sqlite.FunctionContext, args []driver.Value) (driver.Value, error) {
		v, ok := args[0].(string)
		x, _ := args[1].(string)
		path, _ := args[2].(string)
		ovh, _ := args[3].(int64)
		if !ok {
			return int64(0), nil
		}
		n := budget(path, int(ovh))
		return boolean(n >= 0 && truncate(x, n) == v), nil
	})
}

// smallNamespaces is how many visible things the namespaces of a filtered
// query may hold for them to choose the things the filter is tested on:
// testing that many costs about what a selective filter's own rows do.
const smallNamespaces = 1000

// namespacesDrive reports whether q's namespaces hold so few things the
// caller sees (thing_counts) that walking them beats the filter's rows.
func (ix *view) namespacesDrive(ctx context.Context, b *builder, q Query) (bool, error) {
	if len(q.Namespaces) == 0 || q.Filter == nil || b.sudo {
		return false, nil
	}
	// A builder of its own: b holds the statement being written.
	n, err := ix.countThings(ctx, &builder{vis: b.vis}, q.Namespaces)
	if err != nil {
		return false, err
	}
	return n <= smallNamespaces, nil
}

// setsAtPath returns the SQL list of the readable sets with rows at f, the
// -1 sentinel first, when b knows them and f is one exact path.
func (b *builder) setsAtPath(f field, under bool) (string, bool) {
	if b.setsAt == nil || under || f.wildcard || b.sudo {
		return "", false
	}
	sets, err := b.setsAt(f.path)
	if err != nil {
		return "", false // the general list is right too
	}
	return strings.Join(append([]string{"-1"}, sets...), ","), true
}
