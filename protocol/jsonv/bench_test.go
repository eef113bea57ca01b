package jsonv

import (
	"bytes"
	"encoding/json"
	"os"
	"runtime"
	"testing"
)

// benchThing returns testdata/thing.json compacted: a ~550 B thing.
func benchThing(b *testing.B) []byte {
	b.Helper()
	raw, err := os.ReadFile("testdata/thing.json")
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		b.Fatal(err)
	}
	return buf.Bytes()
}

func BenchmarkParse(b *testing.B) {
	data := benchThing(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseStdlib is the yardstick: encoding/json into any.
func BenchmarkParseStdlib(b *testing.B) {
	data := benchThing(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		var v any
		if err := json.Unmarshal(data, &v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	v, err := Parse(benchThing(b))
	if err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		buf = v.AppendJSON(buf[:0])
	}
	b.SetBytes(int64(len(buf)))
}

// BenchmarkAppendJSONStdlib is the yardstick: encoding/json from any.
func BenchmarkAppendJSONStdlib(b *testing.B) {
	var v any
	if err := json.Unmarshal(benchThing(b), &v); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(v); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSet(b *testing.B) {
	v, err := Parse(benchThing(b))
	if err != nil {
		b.Fatal(err)
	}
	p := MustParsePointer("/features/temperature/properties/value")
	x := Float(22.5)
	b.ReportAllocs()
	for b.Loop() {
		_ = v.Set(p, x)
	}
}

func BenchmarkAt(b *testing.B) {
	v, err := Parse(benchThing(b))
	if err != nil {
		b.Fatal(err)
	}
	p := MustParsePointer("/features/battery/properties/level")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := v.At(p); !ok {
			b.Fatal("not found")
		}
	}
}

func BenchmarkMergePatch(b *testing.B) {
	v, err := Parse(benchThing(b))
	if err != nil {
		b.Fatal(err)
	}
	patch := MustParse(`{"features":{"temperature":{"properties":{"value":22.5}}},"attributes":{"serial":null}}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = MergePatch(v, patch)
	}
}

func BenchmarkEqual(b *testing.B) {
	data := benchThing(b)
	v, w := MustParse(string(data)), MustParse(string(data))
	b.ReportAllocs()
	for b.Loop() {
		if !v.Equal(w) {
			b.Fatal("not equal")
		}
	}
}

func BenchmarkHash(b *testing.B) {
	v := MustParse(string(benchThing(b)))
	b.ReportAllocs()
	for b.Loop() {
		_ = v.Hash()
	}
}

func BenchmarkSelect(b *testing.B) {
	v := MustParse(string(benchThing(b)))
	fs, err := ParseFieldSelector("thingId,attributes(location,manufacturer),features/*/properties/value")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		_ = v.Select(fs)
	}
}

// BenchmarkRetained reports the heap a parsed twin keeps alive, against the
// same twin held as raw bytes and as encoding/json's map[string]any. It
// measures once per run of the function, whatever b.N is.
func BenchmarkRetained(b *testing.B) {
	data := benchThing(b)
	const n = 10000
	measure := func(b *testing.B, hold func(i int)) {
		b.Helper()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for i := range n {
			hold(i)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		for b.Loop() {
		}
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/n, "B/twin")
	}
	b.Run("jsonv", func(b *testing.B) {
		vs := make([]Value, n)
		measure(b, func(i int) { vs[i], _ = Parse(data) })
		runtime.KeepAlive(vs)
	})
	b.Run("raw", func(b *testing.B) {
		vs := make([][]byte, n)
		measure(b, func(i int) { vs[i] = bytes.Clone(data) })
		runtime.KeepAlive(vs)
	})
	b.Run("stdlib-any", func(b *testing.B) {
		vs := make([]any, n)
		measure(b, func(i int) { _ = json.Unmarshal(data, &vs[i]) })
		runtime.KeepAlive(vs)
	})
}

// BenchmarkString renders a thing as a string: one allocation, the string.
func BenchmarkString(b *testing.B) {
	v, err := Parse(benchThing(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	var s string
	for b.Loop() {
		s = v.String()
	}
	b.SetBytes(int64(len(s)))
}
