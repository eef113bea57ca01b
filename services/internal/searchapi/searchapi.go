// Package searchapi is the NATS contract of the things-search service:
// what a caller (the gateway, the nats CLI) sends on
// streams.Names.SearchQueries and what comes back.
//
// A request is one JSON object (Request) with the caller's authenticated
// subjects in the streams.HeaderAuth header, as for commands; a request
// without them is refused. The reply carries the HTTP status in the
// HeaderStatus header and, as its body, exactly the HTTP body Ditto's
// search API answers with: a Result, a count (a bare JSON number), nothing
// (a wait that succeeded) or Ditto's error JSON.
package searchapi

import "encoding/json"

// Request types, Ditto's command type names where Ditto has one.
const (
	// TypeQuery is a search: Result back.
	TypeQuery = "thing-search.commands:queryThings"
	// TypeCount counts the hits of Filter: a JSON number back.
	TypeCount = "thing-search.commands:countThings"
	// TypeAwait waits until the answering instance's index holds ThingID
	// at Revision or later (or no longer holds it, when Deleted): the
	// built-in acknowledgement search-persisted. 204 when it does, 408
	// when Timeout passes first.
	TypeAwait = "thing-search.commands:awaitIndexed"
)

// HeaderStatus is the reply header with the HTTP status of the answer.
const HeaderStatus = "Ditto-Status"

// Request is one request to the search service.
type Request struct {
	Type string `json:"type"`
	// Filter is the RQL filter, "" for all things.
	Filter string `json:"filter,omitempty"`
	// Options is the option parameter as given ("sort(+thingId),size(3)");
	// the search service parses and checks it.
	Options string `json:"options,omitempty"`
	// Fields is the field selector of the items ("" for whole things).
	Fields string `json:"fields,omitempty"`
	// Namespaces restricts the search to these namespaces; empty for all.
	Namespaces []string `json:"namespaces,omitempty"`
	// TimeoutMillis bounds the work; 0 for the service's default. A query
	// that takes longer answers 408 thing-search:query.time.exceeded.
	TimeoutMillis int64 `json:"timeoutMillis,omitempty"`
	// ThingID, Revision and Deleted are what TypeAwait waits for.
	ThingID  string `json:"thingId,omitempty"`
	Revision int64  `json:"revision,omitempty"`
	Deleted  bool   `json:"deleted,omitempty"`
}

// Result is the body of a query's answer, Ditto's SearchResult: the items
// of one page, and how to get the next one (NextPageOffset with limit(...),
// Cursor otherwise; neither on the last page).
type Result struct {
	Items          []json.RawMessage `json:"items"`
	NextPageOffset *int64            `json:"nextPageOffset,omitempty"`
	Cursor         string            `json:"cursor,omitempty"`
}
