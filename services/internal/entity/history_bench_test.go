package entity

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// BenchmarkHistoricalRetrieve reads a thing with 10,000 events (a
// snapshot every 500, as THING_SNAPSHOT_THRESHOLD's default) at random
// revisions through the host, over NATS, on the embedded SQLite store:
// the target is p50 < 10 ms and p99 < 30 ms. It reports the
// latency percentiles of the reads.
//
//	go test ./internal/entity -run '^$' -bench HistoricalRetrieve -benchtime 2000x
func BenchmarkHistoricalRetrieve(b *testing.B) {
	const revisions, snapshotEvery = 10000, 500
	f := newFixture(b)
	f.hostOn(b, f.j, &docHandler{}, func(c *Config) {
		c.SnapshotEvery, c.MailboxSize = snapshotEvery, 100
		c.HistoricalHeaders = []string{protocol.HeaderOriginator, protocol.HeaderCorrelationID}
	})
	id := "org.eclipse.ditto:ten-thousand"
	// A thing of about 600 bytes; revision k sets attributes/n to k.
	filler := strings.Repeat("x", 400)
	start := time.Now()
	for rev := 1; rev <= revisions; rev++ {
		path, value := "/attributes/n", strconv.Itoa(rev)
		if rev == 1 {
			path, value = "/", `{"thingId":"`+id+`","attributes":{"n":1,"location":{"room":"kitchen","floor":2}},"features":{"lamp":{"properties":{"on":true,"note":"`+filler+`"}}}}`
		}
		env, err := f.request(id, "modify", path, value, protocol.Headers{"correlation-id": "w-" + value[:min(len(value), 8)]}, auth)
		if err != nil || env.Status != 204 {
			b.Fatalf("write revision %d: %v %s", rev, err, env.Value)
		}
	}
	b.Logf("wrote %d revisions in %s", revisions, time.Since(start).Round(time.Millisecond))

	rng := rand.New(rand.NewPCG(1, 2))
	var took []time.Duration
	for b.Loop() {
		rev := 1 + rng.IntN(revisions)
		t0 := time.Now()
		env, err := f.request(id, "retrieve", "/attributes/n", "", protocol.Headers{protocol.HeaderAtHistoricalRevision: strconv.Itoa(rev)}, auth)
		took = append(took, time.Since(t0))
		if err != nil || env.Status != 200 || string(env.Value) != strconv.Itoa(rev) {
			b.Fatalf("read revision %d: %v %d %s", rev, err, env.Status, env.Value)
		}
	}
	slices.Sort(took)
	pct := func(p float64) time.Duration { return took[min(len(took)-1, int(p*float64(len(took))))] }
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(pct(0.50)), "p50-ms")
	b.ReportMetric(ms(pct(0.99)), "p99-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	b.Logf("%d reads: p50 %s, p90 %s, p99 %s, max %s", len(took), pct(0.5), pct(0.9), pct(0.99), took[len(took)-1])
}

// BenchmarkRebuild is the rebuild alone (no NATS, no handler): the
// latest snapshot at or before the revision and up to 499 events.
func BenchmarkRebuild(b *testing.B) {
	const revisions, snapshotEvery = 2000, 500
	f := newFixture(b)
	h := f.hostOn(b, f.j, &docHandler{}, func(c *Config) { c.SnapshotEvery = snapshotEvery })
	id := "org.eclipse.ditto:rebuilt"
	filler := strings.Repeat("x", 400)
	for rev := 1; rev <= revisions; rev++ {
		path, value := "/attributes/n", strconv.Itoa(rev)
		if rev == 1 {
			path, value = "/", `{"attributes":{"n":1},"features":{"lamp":{"properties":{"note":"`+filler+`"}}}}`
		}
		if env, err := f.request(id, "modify", path, value, nil, auth); err != nil || env.Status != 204 {
			b.Fatalf("write revision %d: %v %s", rev, err, env.Value)
		}
	}
	for _, back := range []int64{1, 250, 499} {
		rev := int64(revisions) - back // 499 back from a snapshot is the worst case
		b.Run(fmt.Sprintf("events=%d", rev%snapshotEvery), func(b *testing.B) {
			for b.Loop() {
				if _, _, err := h.rebuild(b.Context(), id, rev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
