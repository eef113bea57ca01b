package cleanup

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// send runs a piggyback command on h as the DevOps responder would.
func send(t *testing.T, h devops.Handler, selection, cmd string) (devops.Answer, bool) {
	t.Helper()
	p, perr := devops.ParsePiggyback([]byte(`{"targetActorSelection":"` + selection + `","headers":{},"piggybackCommand":` + cmd + `}`))
	if perr != nil {
		t.Fatalf("%s: %v", cmd, perr)
	}
	return h(t.Context(), p)
}

const selection = "/user/thingsRoot/persistenceCleanup"

// expectJSON checks that an answer is status with body JSON-equal to want.
func expectJSON(t *testing.T, what string, a devops.Answer, ok bool, status int, want string) {
	t.Helper()
	if !ok {
		t.Fatalf("%s: not handled", what)
	}
	var got, exp any
	if err := json.Unmarshal(a.Body, &got); err != nil {
		t.Fatalf("%s: %s: %v", what, a.Body, err)
	}
	if err := json.Unmarshal([]byte(want), &exp); err != nil {
		t.Fatal(err)
	}
	if a.Status != status || !reflect.DeepEqual(got, exp) {
		t.Errorf("%s: %d %s\nwant %d %s", what, a.Status, a.Body, status, want)
	}
}

// defaultConfig is the configuration with every variable at its default.
func defaultConfig() Config {
	return Config{Enabled: true, QuietPeriod: 5 * time.Minute, TimerThreshold: 150 * time.Millisecond, CreditsPerBatch: 3,
		ReadsPerQuery: 100, WritesPerCredit: 100}
}

// The piggyback commands of Ditto's PersistenceCleanupActor answer as it
// does: health with state and pid, the configuration (whole or at a
// path), a modification (absent keys stay, bad values change nothing),
// and shutdown without a response.
func TestHandler(t *testing.T) {
	t.Parallel()
	c := newCleaner(t, defaultConfig().Settings("thing"), openJournal(t), &fakeHost{}, nil)
	h := c.Handler()

	a, ok := send(t, h, selection, `{"type":"status.commands:retrieveHealth"}`)
	expectJSON(t, "retrieveHealth", a, ok, 200, `{"type":"status.responses:retrieveHealth","status":200,`+
		`"statusInfo":{"status":"UP","details":[{"INFO":{"state":"IN_QUIET_PERIOD","pid":""}}]}}`)

	thingsDefaults := `{"enabled":true,"history-retention-duration":"3d","quiet-period":"5m","interval":"3s",` +
		`"timer-threshold":"150ms","credits-per-batch":3,"reads-per-query":100,"writes-per-credit":100,"delete-final-deleted-snapshot":false}`
	a, ok = send(t, h, selection, `{"type":"common.commands:retrieveConfig"}`)
	expectJSON(t, "retrieveConfig", a, ok, 200, `{"type":"common.responses:retrieveConfig","status":200,"config":`+thingsDefaults+`}`)
	a, ok = send(t, h, selection, `{"type":"common.commands:retrieveConfig","path":"quiet-period"}`)
	expectJSON(t, "retrieveConfig quiet-period", a, ok, 200, `{"type":"common.responses:retrieveConfig","status":200,"config":"5m"}`)
	a, ok = send(t, h, selection, `{"type":"common.commands:retrieveConfig","path":"nope"}`)
	expectJSON(t, "retrieveConfig nope", a, ok, 200, `{"type":"common.responses:retrieveConfig","status":200,`+
		`"config":{"error":"com.typesafe.config.ConfigException$Missing: No configuration setting found for key 'nope'"}}`)

	a, ok = send(t, h, selection, `{"type":"common.commands:modifyConfig","config":{"quiet-period":"240d","credits-per-batch":"5",`+
		`"enabled":"off","interval":1500,"unknown":1,"last-pid":"thing:namespace:PID-lower-bound"}}`)
	modified := `{"enabled":false,"history-retention-duration":"3d","quiet-period":"240d","interval":"1500ms",` +
		`"timer-threshold":"150ms","credits-per-batch":5,"reads-per-query":100,"writes-per-credit":100,"delete-final-deleted-snapshot":false}`
	expectJSON(t, "modifyConfig", a, ok, 200, `{"type":"common.responses:modifyConfig","status":200,"config":`+modified+`}`)
	a, ok = send(t, h, selection, `{"type":"status.commands:retrieveHealth"}`)
	expectJSON(t, "retrieveHealth after last-pid", a, ok, 200, `{"type":"status.responses:retrieveHealth","status":200,`+
		`"statusInfo":{"status":"UP","details":[{"INFO":{"state":"IN_QUIET_PERIOD","pid":"thing:namespace:PID-lower-bound"}}]}}`)

	// Refused values (Ditto's DefaultCleanupConfig) and values that do
	// not parse change nothing; the configuration in effect is answered.
	for _, bad := range []string{`{"quiet-period":"0s"}`, `{"interval":"-1s"}`, `{"timer-threshold":"0ms"}`,
		`{"reads-per-query":0}`, `{"writes-per-credit":0}`, `{"credits-per-batch":-1}`, `{"history-retention-duration":"-1d"}`,
		`{"enabled":"maybe"}`, `{"quiet-period":"soon","credits-per-batch":7}`, `{"credits-per-batch":1.5}`} {
		a, ok = send(t, h, selection, `{"type":"common.commands:modifyConfig","config":`+bad+`}`)
		expectJSON(t, "modifyConfig "+bad, a, ok, 200, `{"type":"common.responses:modifyConfig","status":200,"config":`+modified+`}`)
	}
	a, ok = send(t, h, selection, `{"type":"common.commands:modifyConfig","config":"quiet"}`)
	if !ok || a.Status != 400 || !strings.Contains(string(a.Body), `"error":"json.invalid"`) {
		t.Errorf("modifyConfig with a string config: %d %s, want 400 json.invalid", a.Status, a.Body)
	}
	a, ok = send(t, h, selection, `{"type":"common.commands:modifyConfig"}`)
	if !ok || a.Status != 400 || !strings.Contains(string(a.Body), `"error":"json.field.missing"`) {
		t.Errorf("modifyConfig without config: %d %s, want 400 json.field.missing", a.Status, a.Body)
	}

	if a, ok = send(t, h, selection, `{"type":"common.commands:shutdown"}`); !ok || a.Body != nil {
		t.Errorf("shutdown: %v %s, want handled without response", ok, a.Body)
	}
	if _, ok = send(t, h, selection, `{"type":"things.commands:retrieveThing","thingId":"a:b"}`); ok {
		t.Error("another type was handled")
	}

	// The policies' defaults differ (policies.conf).
	pc := defaultConfig().Settings("policy")
	if pc.HistoryRetention != 30*24*time.Hour || pc.Interval != 10*time.Second {
		t.Errorf("policy defaults: retention %v, interval %v; want 30d, 10s", pc.HistoryRetention, pc.Interval)
	}
}

// cleanupPersistence cleans one entity below its latest snapshot, now,
// whatever the retention, and answers as Ditto's
// CleanupPersistenceResponse; other commands go to the next handler.
func TestCleanupPersistence(t *testing.T) {
	t.Parallel()
	j := openJournal(t)
	host := &fakeHost{}
	c := newCleaner(t, defaultConfig().Settings("thing"), j, host, nil) // retention 3d
	now := time.Now()
	recent := func(sn int64) time.Time { return now.Add(time.Duration(sn-30) * time.Second) }
	history(t, j, "thing:ns:a", 20, 5, recent, false)
	history(t, j, "thing:ns:b", 20, 5, recent, false)
	var passed []string
	h := c.EntityHandler(func(_ context.Context, p devops.Piggyback) (devops.Answer, bool) {
		passed = append(passed, p.Type)
		return devops.Answer{}, true
	})
	const thingSelection = "/system/sharding/thing"

	a, ok := send(t, h, thingSelection, `{"type":"cleanup.sudo.commands:cleanupPersistence","entityId":"ns:a"}`)
	expectJSON(t, "cleanupPersistence", a, ok, 200,
		`{"type":"cleanup.sudo.responses:cleanupPersistence","status":200,"entityType":"thing","entityId":"ns:a"}`)
	expectStored(t, j, "thing:ns:a", []int64{20}, []int64{20})
	expectStored(t, j, "thing:ns:b", sns(1, 20), []int64{5, 10, 15, 20})

	// Events the publisher may still need stay: it cleans up to the
	// latest snapshot before the watermark.
	host.published = recent(16)
	a, ok = send(t, h, thingSelection, `{"type":"cleanup.sudo.commands:cleanupPersistence","entityId":"ns:b","entityType":"thing"}`)
	expectJSON(t, "cleanupPersistence behind the publisher", a, ok, 200,
		`{"type":"cleanup.sudo.responses:cleanupPersistence","status":200,"entityType":"thing","entityId":"ns:b"}`)
	expectStored(t, j, "thing:ns:b", sns(15, 20), []int64{15, 20})

	// Nothing to clean is a success too.
	a, ok = send(t, h, thingSelection, `{"type":"cleanup.sudo.commands:cleanupPersistence","entityId":"ns:none"}`)
	expectJSON(t, "cleanupPersistence of nothing", a, ok, 200,
		`{"type":"cleanup.sudo.responses:cleanupPersistence","status":200,"entityType":"thing","entityId":"ns:none"}`)

	for _, tt := range []struct{ cmd, code string }{
		{`{"type":"cleanup.sudo.commands:cleanupPersistence"}`, "json.field.missing"},
		{`{"type":"cleanup.sudo.commands:cleanupPersistence","entityId":7}`, "json.invalid"},
		{`{"type":"cleanup.sudo.commands:cleanupPersistence","entityId":"no id"}`, "things:id.invalid"},
		{`{"type":"cleanup.sudo.commands:cleanupPersistence","entityId":"ns:a","entityType":"policy"}`, "json.invalid"},
	} {
		a, ok := send(t, h, thingSelection, tt.cmd)
		var e struct {
			Status int    `json:"status"`
			Error  string `json:"error"`
		}
		_ = json.Unmarshal(a.Body, &e)
		if !ok || a.Status != 400 || e.Error != tt.code {
			t.Errorf("%s: %d %s, want 400 %s", tt.cmd, a.Status, a.Body, tt.code)
		}
	}
	if _, ok := send(t, h, thingSelection, `{"type":"things.commands:retrieveThing","thingId":"ns:a"}`); !ok ||
		!slices.Equal(passed, []string{"things.commands:retrieveThing"}) {
		t.Errorf("other commands reached the next handler: %v", passed)
	}
	// A failing journal: status 500.
	c.d.Journal = failing{j}
	a, ok = send(t, h, thingSelection, `{"type":"cleanup.sudo.commands:cleanupPersistence","entityId":"ns:a"}`)
	expectJSON(t, "cleanupPersistence failing", a, ok, 500,
		`{"type":"cleanup.sudo.responses:cleanupPersistence","status":500,"entityType":"thing","entityId":"ns:a"}`)
}

type failing struct{ journal.Journal }

func (failing) LatestSnapshot(context.Context, string, int64) (journal.Snapshot, bool, error) {
	return journal.Snapshot{}, false, fmt.Errorf("store down")
}

// recording records the pids deleted from, in order.
type recording struct {
	journal.Journal
	mu   sync.Mutex
	pids []string
}

func (r *recording) DeleteEvents(ctx context.Context, pid string, toSN int64, limit int) (int64, error) {
	r.mu.Lock()
	if len(r.pids) == 0 || r.pids[len(r.pids)-1] != pid {
		r.pids = append(r.pids, pid)
	}
	r.mu.Unlock()
	return r.Journal.DeleteEvents(ctx, pid, toSN, limit)
}

func (r *recording) deleted() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.pids)
}

// health is the cleaner's state and pid, as retrieveHealth answers.
func health(t *testing.T, c *Cleaner) (State, string) {
	t.Helper()
	a, _ := send(t, c.Handler(), selection, `{"type":"status.commands:retrieveHealth"}`)
	var r struct {
		StatusInfo struct {
			Details []map[string]struct {
				State State  `json:"state"`
				PID   string `json:"pid"`
			} `json:"details"`
		} `json:"statusInfo"`
	}
	if err := json.Unmarshal(a.Body, &r); err != nil || len(r.StatusInfo.Details) != 1 {
		t.Fatalf("retrieveHealth: %s", a.Body)
	}
	d := r.StatusInfo.Details[0]["INFO"]
	return d.State, d.PID
}

func runCleaner(t *testing.T, c *Cleaner) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// modifyConfig with last-pid aborts the running pass; the next starts,
// after the quiet period, after that pid; the one after it from the
// start again. The state and pid show in retrieveHealth.
func TestRunModifyConfigLastPID(t *testing.T) {
	t.Parallel()
	j := &recording{Journal: openJournal(t)}
	s := testSettings()
	s.CreditsPerBatch = 0 // the first pass gets no credit: it hangs, RUNNING
	s.QuietPeriod = time.Millisecond
	c := newCleaner(t, s, j, &fakeHost{}, nil)
	for _, p := range []string{"a", "b", "c"} {
		history(t, j, "thing:ns:"+p, 10, 5, longAgo, false)
	}
	runCleaner(t, c)
	streamstest.Eventually(t, 10*time.Second, func() error {
		if st, pid := health(t, c); st != StateRunning || pid != "" {
			return fmt.Errorf("state %s, pid %q; want RUNNING from the start", st, pid)
		}
		return nil
	})

	a, ok := send(t, c.Handler(), selection, `{"type":"common.commands:modifyConfig","config":{"credits-per-batch":100,"quiet-period":"20ms","last-pid":"thing:ns:b"}}`)
	if !ok || a.Status != 200 {
		t.Fatalf("modifyConfig: %d %s", a.Status, a.Body)
	}
	streamstest.Eventually(t, 10*time.Second, func() error {
		if got := j.deleted(); len(got) < 3 {
			return fmt.Errorf("deleted from %v so far", got)
		}
		return nil
	})
	// The pass from b cleans c; the next, from the start, a and b.
	if got := j.deleted(); !slices.Equal(got[:3], []string{"thing:ns:c", "thing:ns:a", "thing:ns:b"}) {
		t.Errorf("deleted from %v, want c (after the last-pid b), then a, b", got)
	}

	// shutdown aborts a hanging pass and keeps where it got to.
	a, ok = send(t, c.Handler(), selection, `{"type":"common.commands:modifyConfig","config":{"credits-per-batch":0,"quiet-period":"1h"}}`)
	if !ok || a.Status != 200 {
		t.Fatalf("modifyConfig: %d %s", a.Status, a.Body)
	}
	history(t, j, "thing:ns:d", 10, 5, longAgo, false)
	c.mu.Lock()
	c.lastPID = "thing:ns:c"
	c.mu.Unlock()
	if _, ok := send(t, c.Handler(), selection, `{"type":"common.commands:modifyConfig","config":{"quiet-period":"1ms"}}`); !ok {
		t.Fatal("modifyConfig not handled")
	}
	streamstest.Eventually(t, 10*time.Second, func() error {
		if st, _ := health(t, c); st != StateRunning {
			return fmt.Errorf("state %s, want RUNNING", st)
		}
		return nil
	})
	if _, ok := send(t, c.Handler(), selection, `{"type":"common.commands:modifyConfig","config":{"quiet-period":"1h"}}`); !ok {
		t.Fatal("modifyConfig not handled")
	}
	streamstest.Eventually(t, 10*time.Second, func() error {
		if st, pid := health(t, c); st != StateQuiet || pid != "thing:ns:c" {
			return fmt.Errorf("state %s, pid %q; want IN_QUIET_PERIOD at thing:ns:c", st, pid)
		}
		return nil
	})
	if a, ok := send(t, c.Handler(), selection, `{"type":"common.commands:shutdown"}`); !ok || a.Body != nil {
		t.Errorf("shutdown: %v %s", ok, a.Body)
	}
	if st, pid := health(t, c); st != StateQuiet || pid != "thing:ns:c" {
		t.Errorf("after shutdown: state %s, pid %q; want IN_QUIET_PERIOD at thing:ns:c", st, pid)
	}
}

// Disabled, the cleaner never leaves the quiet period; enabled again it
// runs after the quiet period.
func TestRunDisabled(t *testing.T) {
	t.Parallel()
	j := &recording{Journal: openJournal(t)}
	s := testSettings()
	s.Enabled, s.QuietPeriod = false, time.Millisecond
	c := newCleaner(t, s, j, &fakeHost{}, nil)
	history(t, j, "thing:ns:a", 10, 5, longAgo, false)
	runCleaner(t, c)
	// A negative check, so a wait: the quiet period passes 50 times over.
	time.Sleep(50 * time.Millisecond)
	if got := j.deleted(); len(got) != 0 {
		t.Fatalf("disabled, yet deleted from %v", got)
	}
	if _, ok := send(t, c.Handler(), selection, `{"type":"common.commands:modifyConfig","config":{"enabled":true}}`); !ok {
		t.Fatal("modifyConfig not handled")
	}
	streamstest.Eventually(t, 10*time.Second, func() error {
		if got := j.deleted(); len(got) != 1 {
			return fmt.Errorf("deleted from %v", got)
		}
		return nil
	})
}
