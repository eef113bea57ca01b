package search

import (
	"bytes"
	"testing"

	"github.com/dittonats/dittonats/protocol/jsonv"
)

var wholeDocs = []string{
	`{"thingId":"a:b","policyId":"a:b","attributes":{"x":1},"_created":"2026-01-01T00:00:00Z","_modified":"2026-01-02T00:00:00Z"}`,
	`{"thingId":"a:b","_metadata":{"attributes":{"x":{"issuedAt":"now"}}},"attributes":{"x":1}}`,
	`{"thingId":"a:b","attributes":{"s":"\"_created\":{[,]}","arr":[{"_created":1},[],{}],"e":"\\\\"},"features":{"f":{"properties":{"u":"\u00e9 \ud83d\ude00"}}},"_modified":"x"}`,
	`{"thingId":"a:b"}`,
	`{"thingId":"a:b","_created":"c"}`,
	`{"thingId":"a:b","definition":null,"attributes":{"n":-1.5e-7,"t":true,"f":false,"z":null}}`,
}

// The stored bytes cut to a hit are exactly what rendering the parsed
// document gives.
func TestAppendWholeAgreesWithRendering(t *testing.T) {
	for _, doc := range wholeDocs {
		// Stored as the index stores documents: encoded by jsonv.
		checkWhole(t, jsonv.MustParse(doc).AppendJSON(nil), true)
	}
	for _, doc := range []string{
		`{"policyId":"a:b","thingId":"a:b"}`, // thingId not first
		`{"thingId":"a:b","attributes":{"x":1}`,
		`{"thingId":"a:b","attributes":"unterminated}`,
		`{"thingId":`,
		``,
	} {
		if out, ok := appendWhole([]byte("x"), doc); ok || string(out) != "x" {
			t.Errorf("appendWhole(%s) = %q, %v; want the general path", doc, out, ok)
		}
	}
}

func checkWhole(t *testing.T, doc []byte, mustTake bool) {
	t.Helper()
	v, err := jsonv.ParseStored(doc)
	if err != nil {
		t.Fatalf("%s: %v", doc, err)
	}
	id, _ := v.Get("thingId")
	thingID, isString := id.Str()
	got, ok := appendWhole([]byte("prefix"), string(doc))
	if !ok {
		if mustTake {
			t.Errorf("appendWhole refused %s", doc)
		}
		if string(got) != "prefix" {
			t.Errorf("refusing appendWhole changed dst: %q", got)
		}
		return
	}
	if !isString {
		return // the index's thingId is a string; nothing to compare with
	}
	want := append([]byte("prefix"), jsonv.Object(visibleMembers(thingID, v, false)...).AppendJSON(nil)...)
	if !bytes.Equal(got, want) {
		t.Errorf("appendWhole(%s)\n got %s\nwant %s", doc, got, want)
	}
}

// FuzzAppendWhole feeds any JSON object, stored as the index stores it
// (compact, re-encoded), and compares with rendering; other input must not
// make it panic.
func FuzzAppendWhole(f *testing.F) {
	for _, d := range wholeDocs {
		f.Add([]byte(d))
	}
	f.Add([]byte(`{"thingId":"a","x":[1,{"y":"}"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = appendWhole(nil, string(data)) // must not panic
		v, err := jsonv.Parse(data)
		if err != nil || v.Kind() != jsonv.KindObject {
			return
		}
		checkWhole(t, v.AppendJSON(nil), false)
	})
}
