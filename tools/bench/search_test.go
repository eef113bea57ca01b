package main

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

func testRunner(n int) *runner {
	const ns = "org.dittonats.bench"
	return &runner{cfg: config{n: n, namespace: ns}, corpus: newCorpus(ns, n)}
}

// The query paths must reach the search service as the filters and
// options they are meant to be: quotes, and the sort's "+" that a query
// string would read as a space, escaped.
func TestSearchPaths(t *testing.T) {
	t.Parallel()
	r := testRunner(10)
	tests := []struct {
		name string
		path string
		want url.Values
	}{
		{"SEARCH_THINGS", r.searchThingsOp().path(3), url.Values{
			"filter": {`eq(thingId,"org.dittonats.bench:bench-3")`}, "fields": {"thingId"}}},
		{"SEARCH_ATTRIBUTE", r.searchAttributeOp().path(42), url.Values{
			"filter": {`eq(attributes/serialNumber,"SN-00000042")`}, "fields": {"thingId"}}},
		{"SEARCH_SORTED", r.searchSortedOp().path(7), url.Values{
			"filter": {`eq(attributes/parity,"odd")`}, "namespaces": {"org.dittonats.bench"},
			"option": {"sort(+attributes/location/latitude),size(25)"}}},
		{"COUNT", r.countOp().path(8), url.Values{
			"filter": {`eq(attributes/parity,"even")`}, "namespaces": {"org.dittonats.bench"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := url.Parse(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			wantPath := "/api/2/search/things"
			if tt.name == "COUNT" {
				wantPath += "/count"
			}
			if u.Path != wantPath {
				t.Errorf("path %q, want %q", u.Path, wantPath)
			}
			got := u.Query()
			if len(got) != len(tt.want) {
				t.Errorf("query %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got.Get(k) != v[0] {
					t.Errorf("%s = %q, want %q", k, got.Get(k), v[0])
				}
			}
		})
	}
}

// Every thing has the attributes the queries look for, with the values
// the checks expect.
func TestThingSearchAttributes(t *testing.T) {
	t.Parallel()
	for _, i := range []int{0, 1, 42, 99999} {
		b := string(appendThing(nil, "ns", i, false))
		for _, want := range []string{`"serialNumber":"` + serialNumber(i) + `"`, `"parity":"` + parity(i) + `"`, `"latitude":`} {
			if !strings.Contains(b, want) {
				t.Errorf("thing %d has no %s: %s", i, want, b)
			}
		}
	}
	if parity(0) != "even" || parity(1) != "odd" {
		t.Errorf("parity(0), parity(1) = %s, %s", parity(0), parity(1))
	}
	for _, n := range []int{1, 2, 5, 100000} {
		if e, o := withParity(n, "even"), withParity(n, "odd"); e+o != n || e-o > 1 || e < o {
			t.Errorf("n=%d: %d even, %d odd", n, e, o)
		}
	}
}

func TestSearchChecks(t *testing.T) {
	t.Parallel()
	r := testRunner(100)
	item := func(id int, p string) string {
		return `{"thingId":"org.dittonats.bench:bench-` + strconv.Itoa(id) + `","attributes":{"parity":"` + p + `"}}`
	}
	page := func(items ...string) []byte { return []byte(`{"items":[` + strings.Join(items, ",") + `]}`) }
	full := func(p string, n int) []byte {
		var items []string
		for k := range n {
			items = append(items, item(2*k, p))
		}
		return page(items...)
	}
	tests := []struct {
		name   string
		check  func(int, []byte) error
		i      int
		body   []byte
		wantOK bool
	}{
		{"one: the thing", r.checkOne, 5, page(`{"thingId":"org.dittonats.bench:bench-5"}`), true},
		{"one: with cursor", r.checkOne, 5, []byte(`{"items":[{"thingId":"org.dittonats.bench:bench-5"}],"cursor":"x"}`), true},
		{"one: none", r.checkOne, 5, page(), false},
		{"one: two", r.checkOne, 5, page(`{"thingId":"org.dittonats.bench:bench-5"}`, `{"thingId":"org.dittonats.bench:bench-6"}`), false},
		{"one: another", r.checkOne, 5, page(`{"thingId":"org.dittonats.bench:bench-6"}`), false},
		{"one: not JSON", r.checkOne, 5, []byte("50"), false},
		{"sorted: full page", r.checkSorted, 2, full("even", 25), true},
		{"sorted: short page", r.checkSorted, 2, full("even", 24), false},
		{"sorted: other parity", r.checkSorted, 3, full("even", 25), false},
		{"count: right", r.countOp().check, 3, []byte("50"), true},
		{"count: wrong", r.countOp().check, 3, []byte("49"), false},
		{"count: not a number", r.countOp().check, 3, []byte(`{"items":[]}`), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.check(tt.i, tt.body)
			if (err == nil) != tt.wantOK {
				t.Fatalf("error %v, want ok %v", err, tt.wantOK)
			}
			var re resultError
			if err != nil && !errors.As(err, &re) {
				t.Errorf("error %v is no resultError", err)
			}
			if err != nil {
				if kind, _ := classify(err); !strings.HasPrefix(kind, "wrong result: ") {
					t.Errorf("classified as %q", kind)
				}
			}
		})
	}
	// A small namespace: the sorted page holds what there is.
	small := testRunner(3)
	if err := small.checkSorted(1, page(item(1, "odd"))); err != nil {
		t.Errorf("1 odd thing of 3: %v", err)
	}
}
