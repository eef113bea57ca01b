package platform

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/services/internal/journal"
	"github.com/dittonats/dittonats/services/internal/journal/journaltest"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// storedSNs lists the SNs of the events and snapshots of pid in the
// process's journal called name.
func storedSNs(t *testing.T, pl *platform, name, pid string) (events, snaps []int64) {
	t.Helper()
	j, err := pl.p.store.Journal(name)
	if err != nil {
		t.Fatal(err)
	}
	return journaltest.StoredSNs(t, j, pid)
}

// cleanupCommand sends a piggyback command to the things service's
// cleanup, as an operator does, and returns the response.
func cleanupCommand(t *testing.T, pl *platform, selection, cmd string) string {
	t.Helper()
	r := pl.doDevOps(t, "POST", "/devops/piggyback/things?timeout=10s",
		`{"targetActorSelection":"`+selection+`","headers":{"aggregate":false},"piggybackCommand":`+cmd+`}`)
	if r.status != 200 {
		t.Fatalf("%s: %d %s", cmd, r.status, r.body)
	}
	return r.body
}

// Background cleanup in the running platform, driven as an operator
// drives it: with no retention, a thing of 20 revisions (a snapshot every
// 5) loses all but its latest snapshot and event, and is still the same
// thing (also after a restart, read from the journal) that takes new
// changes; a deleted thing goes entirely (CLEANUP_DELETE_FINAL_DELETED_SNAPSHOT)
// and is created again at revision 1; one thing is cleaned on request;
// the deletes are counted.
func TestBackgroundCleanup(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t) // a snapshot every 5 events
	retention, interval := time.Duration(0), 10*time.Millisecond
	cfg.Cleanup.HistoryRetention, cfg.Cleanup.Interval = &retention, &interval
	cfg.Cleanup.QuietPeriod = time.Hour // nothing runs until the operator says so
	cfg.Cleanup.CreditsPerBatch = 100
	cfg.Cleanup.DeleteFinalDeletedSnapshot = true
	cfg.Infra.EventsDupWindow = time.Second
	pl := startPlatform(t, cfg)
	const (
		cleanupSel = "/user/thingsRoot/persistenceCleanup"
		lamp       = "/api/2/things/org.eclipse.ditto:lamp"
		gone       = "/api/2/things/org.eclipse.ditto:gone"
	)
	pl.expect(t, "ditto", "PUT", lamp, `{"attributes":{"n":1}}`, nil, 201, "")
	for i := 2; i <= 20; i++ {
		pl.expect(t, "ditto", "PUT", lamp+"/attributes/n", fmt.Sprint(i), nil, 204, "")
	}
	pl.expect(t, "ditto", "PUT", gone, `{}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", gone+"/attributes/a", `1`, nil, 201, "")
	pl.expect(t, "ditto", "DELETE", gone, "", nil, 204, "")
	before := pl.expect(t, "ditto", "GET", lamp, "", nil, 200, "")
	if before.header.Get("ETag") != `"rev:20"` {
		t.Fatalf("ETag %s, want rev:20", before.header.Get("ETag"))
	}

	jsonEq(t, "retrieveHealth", cleanupCommand(t, pl, cleanupSel, `{"type":"status.commands:retrieveHealth"}`),
		`{"type":"status.responses:retrieveHealth","status":200,"statusInfo":{"status":"UP","details":[{"INFO":{"state":"IN_QUIET_PERIOD","pid":""}}]}}`)
	jsonEq(t, "retrieveConfig", cleanupCommand(t, pl, cleanupSel, `{"type":"common.commands:retrieveConfig"}`),
		`{"type":"common.responses:retrieveConfig","status":200,"config":{"enabled":true,"history-retention-duration":"0s",`+
			`"quiet-period":"1h","interval":"10ms","timer-threshold":"150ms","credits-per-batch":100,"reads-per-query":100,`+
			`"writes-per-credit":100,"delete-final-deleted-snapshot":true}}`)
	r := pl.doDevOps(t, "POST", "/devops/piggyback/policies?timeout=10s", `{"targetActorSelection":"/user/policiesRoot/persistenceCleanup",`+
		`"headers":{"aggregate":false},"piggybackCommand":{"type":"common.commands:retrieveConfig","path":"interval"}}`)
	jsonEq(t, "policies retrieveConfig", r.body, `{"type":"common.responses:retrieveConfig","status":200,"config":"10ms"}`)
	if e, s := storedSNs(t, pl, journal.Things, "thing:org.eclipse.ditto:lamp"); len(e) != 20 || !slices.Equal(s, []int64{5, 10, 15, 20}) {
		t.Fatalf("before cleanup: events %v, snapshots %v", e, s)
	}

	// Only DevOps may drive the cleanup: a user, however privileged on
	// the thing, is refused every one of its commands, and nothing is
	// deleted.
	for _, cmd := range []string{
		`{"targetActorSelection":"/system/sharding/thing","headers":{"aggregate":false},"piggybackCommand":{"type":"cleanup.sudo.commands:cleanupPersistence","entityId":"org.eclipse.ditto:lamp"}}`,
		`{"targetActorSelection":"` + cleanupSel + `","headers":{"aggregate":false},"piggybackCommand":{"type":"common.commands:modifyConfig","config":{"quiet-period":"1ms"}}}`,
		`{"targetActorSelection":"` + cleanupSel + `","headers":{"aggregate":false},"piggybackCommand":{"type":"status.commands:retrieveHealth"}}`,
	} {
		for _, user := range []string{"ditto", "ditto2", ""} {
			r := pl.do(t, user, "POST", "/devops/piggyback/things?timeout=10s", cmd, nil)
			if r.status != 401 && r.status != 403 {
				t.Errorf("piggyback as %q: %d %s, want refused", user, r.status, r.body)
			}
		}
	}
	if e, s := storedSNs(t, pl, journal.Things, "thing:org.eclipse.ditto:lamp"); len(e) != 20 || len(s) != 4 {
		t.Errorf("after refused cleanups: events %v, snapshots %v; want all 20 and 4", e, s)
	}

	// Start it now: a short quiet period.
	modified := cleanupCommand(t, pl, cleanupSel, `{"type":"common.commands:modifyConfig","config":{"quiet-period":"20ms"}}`)
	if !strings.Contains(modified, `"type":"common.responses:modifyConfig"`) || !strings.Contains(modified, `"quiet-period":"20ms"`) {
		t.Fatalf("modifyConfig: %s", modified)
	}
	streamstest.Eventually(t, 20*time.Second, func() error {
		e, s := storedSNs(t, pl, journal.Things, "thing:org.eclipse.ditto:lamp")
		ge, gs := storedSNs(t, pl, journal.Things, "thing:org.eclipse.ditto:gone")
		if !slices.Equal(e, []int64{20}) || !slices.Equal(s, []int64{20}) || len(ge)+len(gs) > 0 {
			return fmt.Errorf("lamp: events %v, snapshots %v; gone: events %v, snapshots %v", e, s, ge, gs)
		}
		return nil
	})
	// A revision the cleanup removed answers Ditto's error for it; the
	// one it kept reads.
	pl.expect(t, "ditto", "GET", lamp, "", map[string]string{"at-historical-revision": "3"}, 404, "things:thing.history.notfound")
	pl.expect(t, "ditto", "GET", lamp+"/attributes/n", "", map[string]string{"at-historical-revision": "20"}, 200, "")
	// The same thing, in memory and from the journal, which takes changes.
	after := pl.expect(t, "ditto", "GET", lamp, "", nil, 200, "")
	if after.body != before.body || after.header.Get("ETag") != `"rev:20"` {
		t.Errorf("after cleanup: %s %s, want %s rev:20", after.body, after.header.Get("ETag"), before.body)
	}
	pl.expect(t, "ditto", "PUT", lamp+"/attributes/n", `21`, nil, 204, "")
	// The deleted thing starts over.
	created := pl.expect(t, "ditto", "PUT", gone, `{"policyId":"org.eclipse.ditto:gone","attributes":{"again":true}}`, nil, 201, "")
	if created.header.Get("ETag") != `"rev:1"` {
		t.Errorf("created again: ETag %s, want rev:1", created.header.Get("ETag"))
	}
	m := scrape(t, pl)
	if v := sample(m, `cleanup_delete_events_total{service="things",type="thing"}`); v == "" || v == "0" {
		t.Errorf("cleanup_delete_events_total = %q, want the deletes counted", v)
	}
	if v := sample(m, `cleanup_delete_snapshots_total{service="things",type="thing"}`); v == "" || v == "0" {
		t.Errorf("cleanup_delete_snapshots_total = %q, want the deletes counted", v)
	}

	// Back to quiet; one thing on request.
	cleanupCommand(t, pl, cleanupSel, `{"type":"common.commands:modifyConfig","config":{"quiet-period":"1h"}}`)
	const manual = "/api/2/things/org.eclipse.ditto:manual"
	pl.expect(t, "ditto", "PUT", manual, `{}`, nil, 201, "")
	for i := range 11 {
		pl.expect(t, "ditto", "PUT", fmt.Sprintf("%s/attributes/a%d", manual, i), `1`, nil, 201, "")
	}
	resp := cleanupCommand(t, pl, "/system/sharding/thing",
		`{"type":"cleanup.sudo.commands:cleanupPersistence","entityId":"org.eclipse.ditto:manual"}`)
	jsonEq(t, "cleanupPersistence", resp,
		`{"type":"cleanup.sudo.responses:cleanupPersistence","status":200,"entityType":"thing","entityId":"org.eclipse.ditto:manual"}`)
	if e, s := storedSNs(t, pl, journal.Things, "thing:org.eclipse.ditto:manual"); !slices.Equal(e, []int64{10, 11, 12}) || !slices.Equal(s, []int64{10}) {
		t.Errorf("after cleanupPersistence: events %v, snapshots %v; want [10 11 12], [10]", e, s)
	}
	var h struct {
		StatusInfo struct {
			Details []map[string]map[string]string `json:"details"`
		} `json:"statusInfo"`
	}
	if err := json.Unmarshal([]byte(cleanupCommand(t, pl, cleanupSel, `{"type":"status.commands:retrieveHealth"}`)), &h); err != nil ||
		len(h.StatusInfo.Details) != 1 || h.StatusInfo.Details[0]["INFO"]["state"] != "IN_QUIET_PERIOD" {
		t.Errorf("retrieveHealth: %+v, %v", h, err)
	}

	// Read from the journal after a restart: the same things.
	lampNow := pl.expect(t, "ditto", "GET", lamp, "", nil, 200, "")
	manualNow := pl.expect(t, "ditto", "GET", manual, "", nil, 200, "")
	pl.stop(t)
	pl2 := startPlatform(t, cfg)
	for _, r := range []struct {
		path string
		want reply
	}{{lamp, lampNow}, {manual, manualNow}} {
		got := pl2.expect(t, "ditto", "GET", r.path, "", nil, 200, "")
		if got.body != r.want.body || got.header.Get("ETag") != r.want.header.Get("ETag") {
			t.Errorf("%s after restart: %s %s, want %s %s", r.path, got.body, got.header.Get("ETag"), r.want.body, r.want.header.Get("ETag"))
		}
	}
	pl2.expect(t, "ditto", "PUT", manual+"/attributes/after", `1`, nil, 201, "")
}

// The CLEANUP_* variables configure both entity services, at Ditto's keys
// of each; unset, the retention and interval are each service's own. A
// bad value stops the start, naming the variable.
func TestCleanupConfiguration(t *testing.T) {
	t.Parallel()
	cfg, err := LoadEnv([]string{"CLEANUP_HISTORY_RETENTION_DURATION=1d", "CLEANUP_CREDITS_PER_BATCH=7",
		"CLEANUP_DELETE_FINAL_DELETED_SNAPSHOT=true", "CLEANUP_QUIET_PERIOD=90s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{"thing", "policy"} {
		s := cfg.Cleanup.Settings(kind)
		if s.HistoryRetention != 24*time.Hour || s.CreditsPerBatch != 7 || !s.DeleteFinalDeletedSnapshot || s.QuietPeriod != 90*time.Second {
			t.Errorf("%s: %+v", kind, s)
		}
	}
	if s := cfg.Cleanup.Settings("policy"); s.Interval != 10*time.Second {
		t.Errorf("policy interval %v, want policies.conf's 10s", s.Interval)
	}
	for _, key := range []string{"ditto.things.thing.cleanup.credits-per-batch", "ditto.policies.policy.cleanup.credits-per-batch"} {
		if v, ok := cfg.ConfigTree().Get(key); !ok || fmt.Sprint(v) != "7" {
			t.Errorf("%s = %v, want 7", key, v)
		}
	}
	for _, key := range []string{"ditto.things.thing.cleanup.history-retention-duration", "ditto.policies.policy.cleanup.quiet-period"} {
		if v, ok := cfg.ConfigTree().Get(key); !ok || v == nil {
			t.Errorf("%s = %v, want the value set", key, v)
		}
	}

	// Unset, each service's key shows its own default.
	cfg, err = LoadEnv(nil)
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"ditto.things.thing.cleanup.history-retention-duration":    "3d",
		"ditto.things.thing.cleanup.interval":                      "3s",
		"ditto.policies.policy.cleanup.history-retention-duration": "30d",
		"ditto.policies.policy.cleanup.interval":                   "10s",
		"ditto.policies.policy.cleanup.quiet-period":               "5m",
	} {
		if v, ok := cfg.ConfigTree().Get(key); !ok || fmt.Sprint(v) != want {
			t.Errorf("%s = %v, want %s", key, v, want)
		}
	}

	bad := testConfig(t)
	bad.Cleanup.QuietPeriod = 0
	p, err := Start(context.Background(), bad, []string{Things}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil {
		stopProcess(t, p)
		t.Fatal("Start accepted CLEANUP_QUIET_PERIOD 0")
	}
	if !strings.Contains(err.Error(), "CLEANUP_QUIET_PERIOD") {
		t.Errorf("error %q does not name CLEANUP_QUIET_PERIOD", err)
	}
}
