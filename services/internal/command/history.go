package command

import "encoding/json"

// EventsRange is what a request for a page of an entity's persisted events
// asks for (Ditto's SubscribeForPersistedEvents, paged): a retrieve of the
// entity, at the path whose read access it needs, with this range in
// streams.HeaderHistory. The service enforces the retrieve with the entity
// as it is now and answers with an EventsPage.
//
// The first page carries the client's values as given (the query
// parameters of Ditto's SSE route: from-historical-revision and so on);
// the service resolves them. The following pages carry the revisions the
// first answer resolved: From the page's Next, To the page's To.
type EventsRange struct {
	// From and To are revisions as decimal strings: From "0" is the first,
	// a negative one is relative to the current revision; To "" or "0" is
	// the current, a negative one relative to it.
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// FromTime and ToTime are ISO-8601 instants: the events after FromTime
	// and before ToTime (the current revision when ToTime is "").
	FromTime string `json:"fromTime,omitempty"`
	ToTime   string `json:"toTime,omitempty"`
	// Limit bounds the events of one page; the service may send fewer.
	Limit int `json:"limit,omitempty"`
}

// EventsPage is the value of the answer to an EventsRange: the events of
// the page, each an event envelope cut down to what the caller may read
// (events it may read nothing of are left out), with the historical
// headers journaled with it (historical-headers). To is the last revision
// of the range; Next the first revision of the next page, 0 when the range
// is done.
type EventsPage struct {
	To     int64             `json:"to"`
	Next   int64             `json:"next"`
	Events []json.RawMessage `json:"events"`
}
