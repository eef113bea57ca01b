package main

import (
	"fmt"
	"strconv"
)

// The feature property MODIFY_THINGS writes, after Ditto's benchmark-tool
// (its coffee brewer counts brewed coffees).
const (
	benchFeature  = "coffee-brewer"
	benchProperty = "brewed-coffees"
)

// thingTemplate is a realistic device twin of about 500 bytes: a definition,
// nested attributes and three features with properties (the coffee brewer of
// Ditto's benchmark-tool among them). The search scenarios query three of
// its attributes: serialNumber is unique per thing, parity ("even" or
// "odd" by the index) splits the things in halves and location/latitude is
// a number to sort by (see search.go). The verbs are filled
// from the thing's index so that no two bodies are equal. It starts after the
// opening brace so that the baseline can put thingId and policyId first, as
// the platform's GET answers them.
const thingTemplate = `"definition":"org.eclipse.ditto:coffeebrewer:0.1.0",` +
	`"attributes":{"manufacturer":"ACME demo corp.","model":"Speaking coffee machine",` +
	`"serialNumber":"SN-%08d","parity":"%s","location":{"building":"B%02d","floor":%d,"room":"%d.%03d",` +
	`"latitude":%.4f,"longitude":%.4f}},` +
	`"features":{` +
	`"` + benchFeature + `":{"properties":{"` + benchProperty + `":%d,"water-level":%d,"status":"idle"}},` +
	`"thermostat":{"properties":{"temperature":%.1f,"target":21.5,"unit":"celsius"}},` +
	`"connectivity":{"properties":{"online":true,"rssi":%d,"lastSeen":"2024-%02d-%02dT08:00:00Z"}}` +
	`}}`

// thingID is the id of the i-th bench thing in namespace ns.
func thingID(ns string, i int) string {
	return ns + ":bench-" + strconv.Itoa(i)
}

// appendThing appends the JSON body of the i-th thing. With withIDs it also
// carries thingId and policyId (the default policy has the thing's id), which
// is what the platform answers to a GET and so what the baseline serves.
func appendThing(b []byte, ns string, i int, withIDs bool) []byte {
	b = append(b, '{')
	if withIDs {
		id := thingID(ns, i)
		b = append(b, `"thingId":`...)
		b = strconv.AppendQuote(b, id)
		b = append(b, `,"policyId":`...)
		b = strconv.AppendQuote(b, id)
		b = append(b, ',')
	}
	month, day := 1+i%12, 1+i%28
	return fmt.Appendf(b, thingTemplate,
		i, parity(i), i%40, i%12, i%12, i%1000,
		47.0+float64(i%10000)/10000, 9.0+float64(i%7919)/10000,
		i%5000, i%101,
		18.0+float64(i%70)/10,
		-40-i%50, month, day)
}

// serialNumber is the i-th thing's attributes/serialNumber.
func serialNumber(i int) string { return fmt.Sprintf("SN-%08d", i) }

// parity is the i-th thing's attributes/parity.
func parity(i int) string {
	if i%2 == 0 {
		return "even"
	}
	return "odd"
}

// withParity is how many of the things 0..n-1 have parity p.
func withParity(n int, p string) int {
	if p == "even" {
		return (n + 1) / 2
	}
	return n / 2
}

// corpus holds everything requests are built from, prepared once before any
// clock starts so that a request costs no formatting: the paths of the N
// bench things and the new values MODIFY_THINGS writes.
type corpus struct {
	ns       string
	thing    []string // /api/2/things/{id}
	property []string // .../features/{benchFeature}/properties/{benchProperty}
	// values are cycled through by each worker so that consecutive writes
	// really change the property.
	values [][]byte
}

func newCorpus(ns string, n int) *corpus {
	c := &corpus{ns: ns, thing: make([]string, n), property: make([]string, n), values: make([][]byte, 1000)}
	for i := range n {
		c.thing[i] = "/api/2/things/" + thingID(ns, i)
		c.property[i] = c.thing[i] + "/features/" + benchFeature + "/properties/" + benchProperty
	}
	for i := range c.values {
		c.values[i] = strconv.AppendInt(nil, int64(10000+i), 10)
	}
	return c
}
