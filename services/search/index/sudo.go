package index

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol/rql"
)

// Sudo is a query of the whole index, whoever may read what: the search
// service's operator metrics count things as Ditto's SudoCountThings and
// its aggregation metrics do, without a caller's permissions.
type Sudo struct {
	// Filter selects the things; nil selects every thing.
	Filter rql.Node
	// Namespaces restricts the query; empty means all.
	Namespaces []string
	// Now resolves time placeholders; zero means time.Now().
	Now time.Time
}

// Group is one group of a grouped count: the things sharing a value at
// each group-by field.
type Group struct {
	// Values are the JSON of the things' value at each group-by field, in
	// the order of the fields; nil where they have none.
	Values []json.RawMessage
	Count  int64
}

// sudoVis stands for every visibility set, in the builder's vis
// conditions: rows are read whoever may read them. As a subquery the
// statement text stays the same while sets are added, and each leaves
// lookup seeks the (path, vis, value) key once per set rather than
// scanning the path.
const sudoVis = "SELECT id FROM sets"

func (ix *view) sudoBuilder(q Sudo) *builder {
	b := ix.newBuilder(sudoVis, q.Now)
	b.sudo = true
	return b
}

// SudoCount returns how many things match q.
func (ix *Index) SudoCount(ctx context.Context, q Sudo) (int64, error) {
	v, err := ix.view(ctx)
	if err != nil {
		return 0, err
	}
	defer v.close()
	b := v.sudoBuilder(q)
	b.sb.WriteString("SELECT count(*) FROM things t WHERE ")
	if err := b.where(Query{Filter: q.Filter, Namespaces: q.Namespaces}); err != nil {
		return 0, err
	}
	var n int64
	if err := v.queryRow(ctx, b.sb.String(), b.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("sudo count: %w", err)
	}
	return n, nil
}

// SudoGroupCount counts the things matching q per distinct combination of
// their values at the fields by (JSON pointers into the thing, like
// "attributes/Info/location", as Ditto's aggregation metrics group by
// them): one Group per combination, in no particular order. A thing
// without a value at a field is grouped with the others without one
// there; an object or array value is one value, compared as JSON.
//
// The values are read from the stored things by SQLite's JSON functions
// as the statement groups them, so nothing but the groups leaves SQLite.
func (ix *Index) SudoGroupCount(ctx context.Context, q Sudo, by []string) ([]Group, error) {
	if len(by) == 0 {
		return nil, errors.New("sudo group count: no group-by field")
	}
	paths := make([]string, len(by))
	for i, p := range by {
		jp, err := jsonPath(p)
		if err != nil {
			return nil, err
		}
		paths[i] = jp
	}
	v, err := ix.view(ctx)
	if err != nil {
		return nil, err
	}
	defer v.close()
	b := v.sudoBuilder(q)
	b.sb.WriteString("SELECT ")
	for _, p := range paths {
		b.sb.WriteString("t.doc -> ")
		b.arg(p)
		b.sb.WriteString(", ")
	}
	b.sb.WriteString("count(*) FROM things t WHERE ")
	if err := b.where(Query{Filter: q.Filter, Namespaces: q.Namespaces}); err != nil {
		return nil, err
	}
	b.sb.WriteString(" GROUP BY ")
	for i := range paths {
		if i > 0 {
			b.sb.WriteString(", ")
		}
		fmt.Fprintf(&b.sb, "%d", i+1)
	}
	rows, err := v.query(ctx, b.sb.String(), b.args...)
	if err != nil {
		return nil, fmt.Errorf("sudo group count: %w", err)
	}
	defer rows.Close()
	var out []Group
	vals := make([]*string, len(paths))
	dst := make([]any, len(paths)+1)
	for rows.Next() {
		var g Group
		for i := range vals {
			dst[i] = &vals[i]
		}
		dst[len(paths)] = &g.Count
		if err := rows.Scan(dst...); err != nil {
			return nil, fmt.Errorf("sudo group count: %w", err)
		}
		g.Values = make([]json.RawMessage, len(paths))
		for i, s := range vals {
			if s != nil {
				g.Values[i] = json.RawMessage(*s)
			}
		}
		out = append(out, g)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sudo group count: %w", err)
	}
	return out, nil
}

// ValidGroupField reports why a group-by field cannot be grouped by, if it
// cannot.
func ValidGroupField(field string) error {
	_, err := jsonPath(field)
	return err
}

// jsonPath turns a field ("attributes/Info/location", a leading slash
// allowed) into SQLite's JSON path of it ($."attributes"."Info"."location"):
// each key quoted, so that any key but one holding a double quote, which
// SQLite's paths cannot name, is read as the object key it is.
func jsonPath(field string) (string, error) {
	keys := strings.Split(strings.TrimPrefix(field, "/"), "/")
	var sb strings.Builder
	sb.WriteString("$")
	for _, k := range keys {
		switch {
		case k == "":
			return "", fmt.Errorf("group-by field %q: empty key", field)
		case strings.ContainsRune(k, '"'):
			return "", fmt.Errorf("group-by field %q: a key with a double quote is not supported", field)
		}
		sb.WriteString(`."`)
		sb.WriteString(k)
		sb.WriteString(`"`)
	}
	return sb.String(), nil
}
