package e2e_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"

	"github.com/dittonats/dittonats/e2e/internal/harness"
	"github.com/dittonats/dittonats/streams"
)

const shards = 30 // CLUSTER_NUMBER_OF_SHARDS' default

// cluster is the compose topology without containers: nats-server,
// FerretDB, policies, two things instances and the gateway, each a process.
type cluster struct {
	nats              *harness.NATS
	natsURL, mongoURI string
	policies          *harness.Proc
	things            map[string]*harness.Proc // by instance id
	gateway           *harness.Proc
	api               *harness.API
}

func startCluster(t *testing.T, thingsInstances ...string) *cluster {
	t.Helper()
	c := &cluster{things: map[string]*harness.Proc{}}
	c.nats = harness.NATSServer(t)
	c.natsURL = c.nats.URL
	_, c.mongoURI = harness.FerretDB(t)
	// Each process authenticates as its role, as in compose.yaml.
	common := func(instance string, role streams.Role) map[string]string {
		return map[string]string{
			"NATS_URL":          c.natsURL,
			"NATS_NKEY":         c.nats.Seeds[role],
			"MONGO_DB_URI":      c.mongoURI,
			"DITTO_INSTANCE_ID": instance,
		}
	}
	c.policies = harness.Start(t, "policies", harness.Bin(t, "policies"), nil, common("policies-1", streams.RolePolicies))
	for _, id := range thingsInstances {
		env := common(id, streams.RoleThings)
		// Leases of a killed instance block its shards this long.
		env["DITTO_SHARD_LEASE_TTL"] = "2s"
		c.things[id] = harness.Start(t, id, harness.Bin(t, "things"), nil, env)
	}
	port := harness.FreePort(t)
	c.gateway = harness.Start(t, "gateway", harness.Bin(t, "gateway"), nil, map[string]string{
		"NATS_URL":          c.natsURL,
		"NATS_USER":         string(streams.RoleGateway),
		"NATS_PASSWORD":     c.nats.Passwords[streams.RoleGateway],
		"HTTP_PORT":         strconv.Itoa(port),
		"BIND_HOSTNAME":     "127.0.0.1",
		"DITTO_INSTANCE_ID": "gateway-1",
	})
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	harness.WaitHealthy(t, base, 30*time.Second)
	c.api = harness.NewAPI(base, "ditto", "ditto", 30*time.Second)
	return c
}

// leases reads the things service's shard leases: shard -> instance id.
// Each key is read by name: listing keys takes a consumer, which the
// operator role may create but not delete (its cleanup would wait for a
// timeout).
func leases(ctx context.Context, kv jetstream.KeyValue) (map[int]string, error) {
	out := map[int]string{}
	for s := range shards {
		e, err := kv.Get(ctx, "shard."+strconv.Itoa(s))
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			continue // expired or handed back
		}
		if err != nil {
			return nil, err
		}
		out[s] = string(e.Value())
	}
	return out, nil
}

func owners(l map[int]string) map[string]int {
	o := map[string]int{}
	for _, id := range l {
		o[id]++
	}
	return o
}

// TestOneWriterPerEntity runs two things instances as separate processes,
// writes to the same things concurrently through the gateway (so through
// both instances), SIGKILLs one mid-way and restarts it, and checks that no
// acknowledged write is lost and every thing's journal has revisions 1..N
// without gaps, N being the thing's _revision.
func TestOneWriterPerEntity(t *testing.T) {
	const a, b = "things-a", "things-b"
	c := startCluster(t, a, b)
	ctx := harness.Context(t, 3*time.Minute)

	nc := harness.ConnectAs(t, c.natsURL, streams.RoleOperator, c.nats.Seeds[streams.RoleOperator])
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var kv jetstream.KeyValue
	harness.Eventually(t, 30*time.Second, "lease bucket exists", func() error {
		kv, err = js.KeyValue(ctx, streams.New("").ShardLeaseBucket(streams.ServiceThings))
		return err
	})
	// Both instances must serve shards before the writes start: that is what
	// makes the writes go through both of them.
	// bothServe holds once every shard is leased and both instances hold
	// some.
	bothServe := func() error {
		l, err := leases(ctx, kv)
		if err != nil {
			return err
		}
		if o := owners(l); len(l) != shards || o[a] == 0 || o[b] == 0 {
			return fmt.Errorf("leases %v", o)
		}
		return nil
	}
	harness.Eventually(t, 30*time.Second, "both things instances hold leases", bothServe)

	const nThings = 20
	ids := make([]string, nThings)
	for i := range ids {
		ids[i] = fmt.Sprintf("e2e.onewriter:t%02d", i)
		harness.Eventually(t, 30*time.Second, "create "+ids[i], func() error {
			r, err := c.api.Do(http.MethodPut, "/api/2/things/"+ids[i], `{"features":{"f":{"properties":{}}}}`)
			if err != nil {
				return err
			}
			if r.Status != http.StatusCreated {
				return fmt.Errorf("status %d: %s", r.Status, r.Body)
			}
			return nil
		})
	}
	before, err := leases(ctx, kv)
	if err != nil {
		t.Fatal(err)
	}
	servedBy := map[string]int{}
	for _, id := range ids {
		servedBy[before[streams.Shard(id, shards)]]++
	}
	if servedBy[a] == 0 || servedBy[b] == 0 {
		t.Fatalf("the things are not spread over both instances: %v", servedBy)
	}
	t.Logf("things per instance before the kill: %v; leases %v", servedBy, owners(before))

	// Writers: each PUTs properties of its own name to random things and
	// records what was acknowledged.
	const writers = 16
	const cmdTimeout = 5 * time.Second
	var (
		mu       sync.Mutex
		acked    = map[string][]string{} // thing -> property names
		failures = map[int]int{}         // status -> count (0: transport error)
		bad      []string                // failures that break the contract
		longest  time.Duration
		stop     atomic.Bool
		nAcked   atomic.Int64
		wg       sync.WaitGroup
	)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for seq := 0; !stop.Load(); seq++ {
				id := ids[rng.IntN(nThings)]
				prop := fmt.Sprintf("w%02d_%d", w, seq)
				start := time.Now()
				r, err := c.api.Do(http.MethodPut, "/api/2/things/"+id+"/features/f/properties/"+prop, "true",
					"timeout", cmdTimeout.String())
				took := time.Since(start)
				mu.Lock()
				if took > longest {
					longest = took
				}
				switch {
				case err != nil:
					failures[0]++
					bad = append(bad, fmt.Sprintf("PUT %s/%s: %v", id, prop, err))
				case r.Status == http.StatusCreated:
					acked[id] = append(acked[id], prop)
					nAcked.Add(1)
				default:
					failures[r.Status]++
					if _, derr := r.AsDittoError(); derr != nil {
						bad = append(bad, derr.Error())
					} else if r.Status != http.StatusServiceUnavailable && r.Status != http.StatusRequestTimeout {
						bad = append(bad, fmt.Sprintf("PUT %s/%s: unexpected status %d: %s", id, prop, r.Status, r.Body))
					}
				}
				mu.Unlock()
				if err != nil || (r != nil && r.Status >= 300) {
					time.Sleep(20 * time.Millisecond) // a back-off, not a wait: do not spin on an outage
				}
			}
		}()
	}
	waitAcked := func(n int64, what string) {
		t.Helper()
		target := nAcked.Load() + n
		harness.Eventually(t, 60*time.Second, what, func() error {
			if got := nAcked.Load(); got < target {
				return fmt.Errorf("%d of %d writes acknowledged", got, target)
			}
			return nil
		})
	}
	waitAcked(1500, "writes through both instances")

	// SIGKILL: no release of leases, no draining. Its shards stay blocked
	// until the leases expire, then things-a takes them over.
	killedAt := time.Now()
	ackedBeforeKill := nAcked.Load()
	c.things[b].Signal(syscall.SIGKILL)
	if code := c.things[b].Wait(10 * time.Second); code != -1 {
		t.Logf("killed things-b exited with %d", code)
	}
	harness.Eventually(t, 30*time.Second, "things-a takes over every shard", func() error {
		l, err := leases(ctx, kv)
		if err != nil {
			return err
		}
		if o := owners(l); o[a] != shards {
			return fmt.Errorf("leases %v", o)
		}
		return nil
	})
	takeover := time.Since(killedAt)
	waitAcked(1000, "writes through things-a alone")

	// Restart under the same instance id, as a StatefulSet pod comes back:
	// rendezvous hashing gives it its shards again, so things-a hands them
	// over (drain, release) while the writes go on.
	c.things[b].Restart()
	harness.Eventually(t, 30*time.Second, "things-b serves shards again", bothServe)
	restartedAt := time.Since(killedAt)
	waitAcked(1500, "writes after the restart")
	stop.Store(true)
	wg.Wait()

	mu.Lock()
	defer mu.Unlock()
	var nFailed int
	for _, n := range failures {
		nFailed += n
	}
	t.Logf("writes: %d acknowledged (%d before the kill), %d failed %v; all shards on things-a %s after the kill, things-b serving again after %s; slowest request %s",
		nAcked.Load(), ackedBeforeKill, nFailed, failures, takeover.Round(time.Millisecond), restartedAt.Round(time.Millisecond), longest.Round(time.Millisecond))
	for i, s := range bad {
		if i == 10 {
			t.Errorf("... and %d more", len(bad)-10)
			break
		}
		t.Errorf("failed write outside the contract (a 503 or 408 Ditto error): %s", s)
	}
	if limit := cmdTimeout + 3*time.Second; longest > limit {
		t.Errorf("a request took %s, longer than its timeout %s allows", longest, cmdTimeout)
	}

	// (a) Every acknowledged write is in the thing.
	revisions := map[string]int64{}
	for _, id := range ids {
		r, err := c.api.Do(http.MethodGet, "/api/2/things/"+id+"?fields=_revision,features", "")
		if err != nil || r.Status != http.StatusOK {
			t.Fatalf("GET %s: %v %v", id, err, r)
		}
		var thing struct {
			Revision int64 `json:"_revision"`
			Features struct {
				F struct {
					Properties map[string]bool `json:"properties"`
				} `json:"f"`
			} `json:"features"`
		}
		if err := r.JSON(&thing); err != nil {
			t.Fatal(err)
		}
		revisions[id] = thing.Revision
		var lost []string
		for _, p := range acked[id] {
			if !thing.Features.F.Properties[p] {
				lost = append(lost, p)
			}
		}
		if len(lost) > 0 {
			t.Errorf("%s lost %d acknowledged writes, e.g. %v", id, len(lost), lost[:min(5, len(lost))])
		}
		// Revision 1 created the thing; each property added one more.
		if got, want := thing.Revision, int64(len(thing.Features.F.Properties))+1; got != want {
			t.Errorf("%s: _revision %d, but %d properties were written after its creation", id, got, want-1)
		}
	}

	// (b) The journal: revisions 1..N, no gap, no duplicate, N = _revision.
	mc, err := mongo.Connect(options.Client().ApplyURI(c.mongoURI))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = mc.Disconnect(context.Background()) }()
	cur, err := mc.Database("ditto").Collection("things_journal").Find(ctx,
		bson.D{{Key: "pid", Value: bson.D{{Key: "$regex", Value: "^thing:e2e\\.onewriter:"}}}},
		options.Find().SetProjection(bson.D{{Key: "pid", Value: 1}, {Key: "sn", Value: 1}}))
	if err != nil {
		t.Fatal(err)
	}
	var docs []struct {
		PID string `bson:"pid"`
		SN  int64  `bson:"sn"`
	}
	if err := cur.All(ctx, &docs); err != nil {
		t.Fatal(err)
	}
	sns := map[string][]int64{}
	for _, d := range docs {
		id := strings.TrimPrefix(d.PID, "thing:")
		sns[id] = append(sns[id], d.SN)
	}
	for _, id := range ids {
		s := sns[id]
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		for i, sn := range s {
			if sn != int64(i+1) {
				t.Errorf("%s: journal sequence numbers are not 1..%d without gaps or duplicates: position %d holds %d", id, len(s), i+1, sn)
				break
			}
		}
		if int64(len(s)) != revisions[id] {
			t.Errorf("%s: %d journal entries, _revision %d", id, len(s), revisions[id])
		}
	}
	if len(docs) < int(nAcked.Load())+nThings {
		t.Errorf("journal holds %d events, fewer than the %d acknowledged writes and %d creations", len(docs), nAcked.Load(), nThings)
	}

	// (c) The event stream holds every journaled revision: also those
	// things-b journaled and never published before SIGKILL, which its
	// shards' next owner republished from the journal.
	inStream := map[string]map[int64]bool{}
	harness.Eventually(t, 60*time.Second, "every journaled revision in the event stream", func() error {
		clear(inStream)
		if err := readEvents(ctx, js, "e2e.onewriter", func(id string, rev int64) {
			if inStream[id] == nil {
				inStream[id] = map[int64]bool{}
			}
			inStream[id][rev] = true
		}); err != nil {
			return err
		}
		for _, id := range ids {
			for _, sn := range sns[id] {
				if !inStream[id][sn] {
					return fmt.Errorf("%s revision %d is journaled but not in the stream", id, sn)
				}
			}
		}
		return nil
	})
}

// readEvents calls fn with the entity id and revision of every event of
// namespace ns in the thing events stream.
func readEvents(ctx context.Context, js jetstream.JetStream, ns string, fn func(id string, rev int64)) error {
	names := streams.New("")
	cons, err := js.OrderedConsumer(ctx, names.ThingEventsStream(), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{names.ThingEvents(ns)},
	})
	if err != nil {
		return err
	}
	s, err := js.Stream(ctx, names.ThingEventsStream())
	if err != nil {
		return err
	}
	info, err := s.Info(ctx, jetstream.WithSubjectFilter(names.ThingEvents(ns)))
	if err != nil {
		return err
	}
	total := info.State.Subjects[names.ThingEvents(ns)]
	for n := uint64(0); n < total; {
		batch, err := cons.Fetch(1000, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			return err
		}
		got := 0
		for m := range batch.Messages() {
			got++
			rev, err := strconv.ParseInt(m.Headers().Get(streams.HeaderRevision), 10, 64)
			if err != nil {
				return fmt.Errorf("event without revision header: %v", m.Headers())
			}
			fn(streams.DecodeEntityHeader(m.Headers().Get(streams.HeaderEntity)), rev)
		}
		if err := batch.Error(); err != nil {
			return fmt.Errorf("after %d of %d events: %w", n, total, err)
		}
		if got == 0 {
			return fmt.Errorf("stream ended after %d of %d events", n, total)
		}
		n += uint64(got)
	}
	return nil
}
