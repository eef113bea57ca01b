// Package rql owns Ditto's Resource Query Language: the filter grammar of the
// condition header and of search (Parse, a hand-written recursive-descent
// parser over Ditto's normalized RQL), the search options sort, limit,
// cursor and size (ParseOptions), canonical rendering of both (String
// methods, which parse back to the same value), and in-memory evaluation of
// a filter against a thing's JSON (Matches), with Ditto's comparison rules.
//
// Errors are *SyntaxError values that carry the position of the problem and
// unwrap to the wire error: rql.expression.invalid for filters,
// thing-search:search.option.invalid for options.
//
// Translating a filter into a database query is the search service's job;
// this package only parses, renders and evaluates.
package rql
