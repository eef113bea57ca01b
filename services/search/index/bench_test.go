package index

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/enforcer"
)

const benchThings = 100_000

// Two policies: the owner reads every thing, nginx:half the even ones.
var benchPolicies = []string{
	`{"entries":{"OWNER":{"subjects":{"nginx:owner":{"type":"t"}},"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}},
	  "HALF":{"subjects":{"nginx:half":{"type":"t"}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]},
	    "thing:/attributes/secret":{"grant":[],"revoke":["READ"]}}}}}`,
	`{"entries":{"OWNER":{"subjects":{"nginx:owner":{"type":"t"}},"resources":{"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}}}}`,
}

var benchColors = []string{"red", "green", "blue", "black", "white", "grey", "orange", "pink"}

func benchDoc(enf []*enforcer.Enforcer, i, rev int) Doc {
	id := fmt.Sprintf("bench:t%06d", i)
	pol := i % 2
	thing := jsonv.MustParse(fmt.Sprintf(`{"thingId":"%s","policyId":"bench:p%d","definition":"bench:def:1",
	  "_created":"2024-01-01T00:00:00Z","_modified":"2024-06-01T00:00:%02dZ",
	  "attributes":{"serial":%d,"group":%d,"name":"thing-%d","color":"%s","rev":%d,
	    "location":{"city":"city-%d","zip":"%05d"},"tags":["t%d","t%d"],"secret":{"pin":%d}},
	  "features":{"temp":{"properties":{"value":%d.5,"unit":"C"}},
	    "lamp":{"properties":{"on":%t,"brightness":%d},"desiredProperties":{"brightness":%d}}}}`,
		id, pol, rev%60, i, i%10, i, benchColors[i%8], rev, i%100, i%100000, i%7, i%13, i, i%50, i%4 < 2, i%100, (i+rev)%100))
	return Doc{ThingID: id, PolicyID: fmt.Sprintf("bench:p%d", pol), Revision: int64(rev), Thing: thing,
		Access: enf[pol].Readers("bench", time.Now())}
}

// compileBenchPolicies compiles benchPolicies, in order.
func compileBenchPolicies() ([]*enforcer.Enforcer, error) {
	var enf []*enforcer.Enforcer
	for _, p := range benchPolicies {
		e, err := enforcer.Compile(jsonv.MustParse(p))
		if err != nil {
			return nil, err
		}
		enf = append(enf, e)
	}
	return enf, nil
}

// benchEnforcers is compileBenchPolicies for a test.
func benchEnforcers(t testing.TB) []*enforcer.Enforcer {
	t.Helper()
	enf, err := compileBenchPolicies()
	if err != nil {
		t.Fatal(err)
	}
	return enf
}

var bench struct {
	once sync.Once
	ix   *Index
	enf  []*enforcer.Enforcer
	err  error
}

// benchIndex builds the 100k-thing index once per process, with pages of
// INDEX_BENCH_PAGE_SIZE bytes when set (to compare page sizes).
func benchIndex(b *testing.B) (*Index, []*enforcer.Enforcer) {
	b.Helper()
	bench.once.Do(func() {
		if s := os.Getenv("INDEX_BENCH_PAGE_SIZE"); s != "" {
			if _, err := fmt.Sscan(s, &pageSize); err != nil {
				bench.err = fmt.Errorf("INDEX_BENCH_PAGE_SIZE: %w", err)
				return
			}
		}
		if bench.enf, bench.err = compileBenchPolicies(); bench.err != nil {
			return
		}
		// INDEX_BENCH_FILE names an index to build once and reuse in later
		// runs (of query benchmarks: the write benchmarks change it).
		file := os.Getenv("INDEX_BENCH_FILE")
		if file == "" {
			dir, err := os.MkdirTemp("", "index-bench")
			if err != nil {
				bench.err = err
				return
			}
			file = filepath.Join(dir, "index.db")
		}
		bench.ix, bench.err = Open(file, Options{})
		if bench.err != nil {
			return
		}
		if n, err := bench.ix.Len(context.Background()); err != nil || n == benchThings {
			bench.err = err
			return
		}
		dir := filepath.Dir(file)
		start := time.Now()
		for i := 0; i < benchThings; i += 1000 {
			var batch Batch
			for j := i; j < i+1000; j++ {
				batch.Put = append(batch.Put, benchDoc(bench.enf, j, 1))
			}
			if bench.err = bench.ix.Write(context.Background(), batch); bench.err != nil {
				return
			}
		}
		fmt.Fprintf(os.Stderr, "built %d things in %v (%s)\n", benchThings, time.Since(start), dir)
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.ix, bench.enf
}

func runQueries(b *testing.B, mk func(r *rand.Rand) Query, count bool) {
	ix, _ := benchIndex(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(1, 2))
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		q := mk(r)
		start := time.Now()
		var err error
		var n int
		// As the search service asks: with the query's timeout.
		qctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if count {
			var c int64
			c, err = ix.Count(qctx, q)
			n = int(c)
		} else {
			var hits []Hit
			hits, err = ix.Query(qctx, q)
			n = len(hits)
		}
		cancel()
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
		if n == 0 {
			b.Fatalf("no hits for %v", q.Filter)
		}
	}
	b.StopTimer()
	reportP50(b, lat)
}

func reportP50(b *testing.B, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	b.ReportMetric(float64(s[len(s)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(s[len(s)*99/100].Microseconds()), "p99-µs")
}

func mustParse(s string) rql.Node {
	n, err := rql.Parse(s)
	if err != nil {
		panic(err)
	}
	return n
}

func BenchmarkQueryThingID(b *testing.B) {
	runQueries(b, func(r *rand.Rand) Query {
		i := r.IntN(benchThings)
		return Query{Filter: mustParse(fmt.Sprintf(`eq(thingId,"bench:t%06d")`, i)), Subjects: []string{"nginx:owner"}, Limit: 25}
	}, false)
}

func BenchmarkQueryAttributeEq(b *testing.B) {
	runQueries(b, func(r *rand.Rand) Query {
		i := r.IntN(benchThings/2) * 2
		return Query{Filter: mustParse(fmt.Sprintf(`eq(attributes/serial,%d)`, i)), Subjects: []string{"nginx:half"}, Limit: 25}
	}, false)
}

// BenchmarkQueryCount50k counts the 50k things nginx:half sees.
func BenchmarkQueryCount50k(b *testing.B) {
	runQueries(b, func(*rand.Rand) Query { return Query{Subjects: []string{"nginx:half"}} }, true)
}

// BenchmarkQueryCountFilter50k counts a filter matching the 50k things the
// owner sees half of.
func BenchmarkQueryCountFilter50k(b *testing.B) {
	runQueries(b, func(*rand.Rand) Query {
		return Query{Filter: mustParse(`eq(features/lamp/properties/on,true)`), Subjects: []string{"nginx:owner"}}
	}, true)
}

// BenchmarkQuerySortedPage is a page of 25 of a half-matching filter sorted
// by an attribute.
func BenchmarkQuerySortedPage(b *testing.B) {
	runQueries(b, func(*rand.Rand) Query {
		return Query{Filter: mustParse(`eq(features/lamp/properties/on,true)`), Subjects: []string{"nginx:owner"},
			Sort: []rql.SortKey{{Property: "attributes/serial", Descending: true}}, Limit: 25}
	}, false)
}

// BenchmarkQueryPage is a page of 25 of a half-matching filter in thingId
// order.
func BenchmarkQueryPage(b *testing.B) {
	runQueries(b, func(*rand.Rand) Query {
		return Query{Filter: mustParse(`eq(features/lamp/properties/on,true)`), Subjects: []string{"nginx:owner"}, Limit: 25}
	}, false)
}

// BenchmarkWrite rewrites batches of 256 things with two changed values.
func BenchmarkWrite(b *testing.B) {
	ix, enf := benchIndex(b)
	ctx := context.Background()
	r := rand.New(rand.NewPCG(3, 4))
	rev := 2
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		var batch Batch
		for range 256 {
			batch.Put = append(batch.Put, benchDoc(enf, r.IntN(benchThings), rev))
		}
		rev++
		if err := ix.Write(ctx, batch); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(256*b.N)/time.Since(start).Seconds(), "things/s")
}

// BenchmarkQuerySortedPageAsc is BenchmarkQuerySortedPage ascending: things
// without the value would come first, so the index first makes sure there
// are none.
func BenchmarkQuerySortedPageAsc(b *testing.B) {
	runQueries(b, func(*rand.Rand) Query {
		return Query{Filter: mustParse(`eq(features/lamp/properties/on,true)`), Subjects: []string{"nginx:owner"},
			Sort: []rql.SortKey{{Property: "attributes/serial"}}, Limit: 25}
	}, false)
}

// BenchmarkWriteProperty changes one property of random things in batches
// of several sizes, as the projector applies events: the entry read with
// GetMany, the event applied with Set, the put naming the entry it
// replaces.
func BenchmarkWriteProperty(b *testing.B) {
	ix, enf := benchIndex(b)
	ctx := context.Background()
	for _, size := range []int{16, 64, 256} {
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			r := rand.New(rand.NewPCG(5, uint64(size)))
			start := time.Now()
			for range b.N {
				ids := make([]string, size)
				for k := range ids {
					ids[k] = fmt.Sprintf("bench:t%06d", r.IntN(benchThings))
				}
				prev, err := ix.GetMany(ctx, ids)
				if err != nil {
					b.Fatal(err)
				}
				var batch Batch
				seen := map[string]bool{}
				for _, id := range ids {
					e, ok := prev[id]
					if !ok || seen[id] {
						continue
					}
					seen[id] = true
					pol := 0
					if e.PolicyID == "bench:p1" {
						pol = 1
					}
					thing := e.Thing.Set(jsonv.Pointer{"features", "lamp", "desiredProperties", "brightness"}, jsonv.Int(int64(r.IntN(1000))))
					batch.Put = append(batch.Put, Doc{ThingID: id, PolicyID: e.PolicyID, Revision: e.Revision + 1, Thing: thing,
						Access: enf[pol].Readers("bench", time.Now()), Prev: e})
				}
				if err := ix.Write(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(size*b.N)/time.Since(start).Seconds(), "things/s")
		})
	}
}
