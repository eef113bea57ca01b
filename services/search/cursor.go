package search

import (
	"encoding/base64"
	"encoding/json"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/search/index"
)

// cursor is where a page ended, with the query it belongs to, as Ditto's
// ThingsSearchCursor keeps it: filter (F), namespaces (N), correlation id
// (C), the sort option with +thingId last (S) and the sort values of the
// page's last hit (V). It travels as unpadded base64url of that JSON.
type cursor struct {
	Filter        *string         `json:"F,omitempty"`
	Namespaces    []string        `json:"N,omitempty"`
	CorrelationID string          `json:"C,omitempty"`
	Sort          string          `json:"S"`
	Values        json.RawMessage `json:"V"`
}

// errInvalidCursor is Ditto's answer to a cursor it cannot read.
func errInvalidCursor(description string) *protocol.Error {
	e := protocol.ErrSearchOptionInvalid("The option 'cursor' is not valid for the search request.")
	if description != "" {
		e.Description = description
	}
	return e
}

func (c cursor) encode() string {
	b, _ := json.Marshal(c) // strings and raw JSON always marshal
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor and returns it with its sort keys and values;
// anything that is not a cursor this service wrote is invalid.
func decodeCursor(s string) (cursor, []rql.SortKey, []jsonv.Value, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return cursor{}, nil, nil, errInvalidCursor("")
	}
	var c cursor
	if err := json.Unmarshal(b, &c); err != nil || c.Sort == "" || len(c.Values) == 0 {
		return cursor{}, nil, nil, errInvalidCursor("")
	}
	opts, err := rql.ParseOptions(c.Sort)
	if err != nil || len(opts.Sort) == 0 || opts.Limit != nil || opts.Cursor != "" || opts.Size != 0 {
		return cursor{}, nil, nil, errInvalidCursor("")
	}
	vals, err := jsonv.Parse(c.Values)
	if err != nil || vals.Kind() != jsonv.KindArray || vals.Len() != len(opts.Sort) {
		return cursor{}, nil, nil, errInvalidCursor("")
	}
	if c.Filter != nil {
		if _, err := rql.Parse(*c.Filter); err != nil {
			return cursor{}, nil, nil, errInvalidCursor("")
		}
	}
	return c, opts.Sort, vals.Elements(), nil
}

// sortPath is a sort property as a path without its leading slash.
func sortPath(p string) string { return strings.Join(rql.PropertyKeys(p), "/") }

// sortCompatible reports whether a query's sort option may continue a
// cursor's: it is absent, or equal up to the cursor's thingId key.
func sortCompatible(query, cur []rql.SortKey) bool {
	if len(query) == 0 {
		return true
	}
	q := index.EffectiveSort(query)
	if len(q) != len(cur) {
		return false
	}
	for i := range q {
		if sortPath(q[i].Property) != sortPath(cur[i].Property) || q[i].Descending != cur[i].Descending {
			return false
		}
	}
	return true
}
