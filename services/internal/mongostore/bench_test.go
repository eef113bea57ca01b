package mongostore

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/mongostore/ferrettest"
)

// BenchmarkAppend appends ~600 B events from 64 goroutines, each its own pid,
// to FerretDB (or to MONGO_DB_URI's MongoDB when set), and reports appends/s
// and the mean batch size. FerretDB is slow: keep -benchtime small (~2000x).
func BenchmarkAppend(b *testing.B) {
	uri, database := os.Getenv("MONGO_DB_URI"), "bench_"+rand.Text()[:8]
	if uri == "" {
		uri = ferrettest.Start(b)
	}
	uri = withoutDatabase(uri)
	s := open(b, uri, Options{Database: database})
	b.Cleanup(func() { _ = s.db.Drop(context.Background()) })
	j, err := s.Journal(journal.Things)
	if err != nil {
		b.Fatalf("Journal: %v", err)
	}
	payload := []byte(`{"topic":"org.eclipse.ditto/bench/things/twin/events/modified","headers":{"correlation-id":"x"},"path":"/attributes/a","value":"` + strings.Repeat("x", 480) + `","revision":1}`)
	headers := map[string]string{"correlation-id": "3f2a6a0e-1b1c-4cde-9f0e-8ad7c1f4f1d2"}
	const workers = 64
	next := make(chan struct{})
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for w := range workers {
		wg.Go(func() {
			pid := fmt.Sprintf("thing:bench:%d", w)
			sn := int64(0)
			for range next {
				sn++
				if err := j.Append(context.Background(), journal.Event{PID: pid, SN: sn, Timestamp: time.Now(), Payload: payload, Headers: headers}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	for range b.N {
		next <- struct{}{}
	}
	close(next)
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	st := s.Stats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(st.Appends)/float64(max(1, st.Batches)), "events/batch")
}
