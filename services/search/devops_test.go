package search_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/search"
	"github.com/dittonats/dittonats/services/search/index"
	"github.com/dittonats/dittonats/streams/streamstest"
)

const (
	selectionSync    = "/user/thingsWildcardSearchRoot/searchUpdaterRoot/backgroundSync/singleton"
	selectionProxy   = "/user/thingsWildcardSearchRoot/searchUpdaterRoot/backgroundSyncProxy"
	selectionUpdater = "/user/thingsWildcardSearchRoot/searchUpdaterRoot/thingsUpdater"
)

// piggyback sends an ExecutePiggybackCommand, as the DevOps endpoint
// delivers it, to a component's handler.
func piggyback(t *testing.T, h devops.Handler, selection, headers, command string) (devops.Answer, bool) {
	t.Helper()
	if headers == "" {
		headers = "{}"
	}
	p, perr := devops.ParsePiggyback([]byte(`{"targetActorSelection":"` + selection + `","headers":` + headers +
		`,"piggybackCommand":` + command + `}`))
	if perr != nil {
		t.Fatalf("piggyback %s: %v", command, perr)
	}
	return h(t.Context(), p)
}

// answer sends a command that must be answered and decodes the answer.
func answer(t *testing.T, h devops.Handler, selection, headers, command string, wantStatus int) map[string]any {
	t.Helper()
	a, ok := piggyback(t, h, selection, headers, command)
	if !ok || a.Body == nil {
		t.Fatalf("%s: no answer (handled %v)", command, ok)
	}
	if a.Status != wantStatus {
		t.Fatalf("%s: status %d %s, want %d", command, a.Status, a.Body, wantStatus)
	}
	var out map[string]any
	if err := json.Unmarshal(a.Body, &out); err != nil {
		t.Fatalf("%s: answer %s: %v", command, a.Body, err)
	}
	return out
}

// syncReport returns background sync's health detail.
func syncReport(t *testing.T, s *search.Service) map[string]any {
	t.Helper()
	a, ok := piggyback(t, s.BackgroundSyncHandler(), selectionSync, "", `{"type":"status.commands:retrieveHealth"}`)
	if !ok || a.Status != 200 {
		t.Fatalf("retrieveHealth: %v %d %s", ok, a.Status, a.Body)
	}
	var resp struct {
		Type       string            `json:"type"`
		Status     int               `json:"status"`
		StatusInfo devops.StatusInfo `json:"statusInfo"`
	}
	if err := json.Unmarshal(a.Body, &resp); err != nil {
		t.Fatalf("retrieveHealth %s: %v", a.Body, err)
	}
	if resp.Type != "status.responses:retrieveHealth" || resp.Status != 200 || resp.StatusInfo.Status != devops.StatusUp ||
		len(resp.StatusInfo.Details) != 1 {
		t.Fatalf("retrieveHealth: %s", a.Body)
	}
	m, ok := resp.StatusInfo.Details[0].Message.(map[string]any)
	if !ok {
		t.Fatalf("retrieveHealth detail: %s", a.Body)
	}
	return m
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// The background sync's configuration is read and changed at run time:
// Ditto's keys and duration notation, absent keys unchanged, bad values
// change nothing, and its health reports what it did.
func TestSearchDevOpsSyncConfig(t *testing.T) {
	f := newFixture(t)
	s, _ := f.startSearch(t, f.searchConfig("config.db"))
	h := s.BackgroundSyncHandler()

	got := answer(t, h, selectionSync, "", `{"type":"common.commands:retrieveConfig"}`, 200)
	want := `{"config":{"enabled":true,"keep":{"events":0},"quiet-period":"1h","throttle":{"period":"10ms","throughput":1000},"tolerance-window":"0s"},"status":200,"type":"common.responses:retrieveConfig"}`
	if jsonOf(got) != want {
		t.Errorf("retrieveConfig:\n%s\nwant\n%s", jsonOf(got), want)
	}
	got = answer(t, h, selectionSync, "", `{"type":"common.commands:retrieveConfig","path":"throttle.period"}`, 200)
	if got["config"] != "10ms" {
		t.Errorf("retrieveConfig throttle.period: %v", got)
	}
	got = answer(t, h, selectionSync, "", `{"type":"common.commands:retrieveConfig","path":"no.such"}`, 200)
	if c, _ := got["config"].(map[string]any); c["error"] == nil {
		t.Errorf("retrieveConfig of a missing path: %v", got)
	}

	got = answer(t, h, selectionProxy, `{"aggregate":false,"is-group-topic":true}`,
		`{"type":"common.commands:modifyConfig","config":{"quiet-period":"240d","keep":{"events":10},"throttle.throughput":"50","min-backoff":"1s"}}`, 200)
	want = `{"config":{"enabled":true,"keep":{"events":10},"quiet-period":"240d","throttle":{"period":"10ms","throughput":50},"tolerance-window":"0s"},"status":200,"type":"common.responses:modifyConfig"}`
	if jsonOf(got) != want {
		t.Errorf("modifyConfig:\n%s\nwant\n%s", jsonOf(got), want)
	}
	got = answer(t, h, selectionSync, "", `{"type":"common.commands:retrieveConfig"}`, 200)
	if c := jsonOf(got["config"]); c != jsonOf(map[string]any{"enabled": true, "keep": map[string]any{"events": 10}, "quiet-period": "240d",
		"throttle": map[string]any{"period": "10ms", "throughput": 50}, "tolerance-window": "0s"}) {
		t.Errorf("config after modifyConfig: %s", c)
	}

	// Any bad value: nothing changes, the effective config is answered.
	for _, bad := range []string{
		`{"enabled":false,"quiet-period":"soon"}`,
		`{"enabled":false,"throttle":{"throughput":0}}`,
		`{"enabled":false,"keep":5}`,
		`{"enabled":"maybe"}`,
		`{"enabled":false,"throttle.period":"-1s"}`,
		`{"enabled":false,"tolerance-window":null}`,
	} {
		got = answer(t, h, selectionSync, "", `{"type":"common.commands:modifyConfig","config":`+bad+`}`, 200)
		if c, _ := got["config"].(map[string]any); c["enabled"] != true || c["quiet-period"] != "240d" {
			t.Errorf("modifyConfig %s changed the config: %v", bad, got)
		}
	}
	// An invalid command: Ditto's JSON errors.
	for cmd, code := range map[string]string{
		`{"type":"common.commands:modifyConfig"}`:                  "json.field.missing",
		`{"type":"common.commands:modifyConfig","config":[1]}`:     "json.invalid",
		`{"type":"common.commands:retrieveConfig","path":{"a":1}}`: "json.invalid",
	} {
		got = answer(t, h, selectionSync, "", cmd, 400)
		if got["error"] != code {
			t.Errorf("%s: %v, want %s", cmd, got, code)
		}
	}
	got = answer(t, h, selectionSync, `{"force-update":true,"namespaces":"not json"}`, `{"type":"common.commands:shutdown"}`, 400)
	if got["error"] != "json.invalid" {
		t.Errorf("shutdown with a bad namespaces header: %v", got)
	}
	if r := syncReport(t, s); r["nextForceUpdate"] != nil {
		t.Errorf("a rejected shutdown forced the next pass: %v", r)
	}
	// Types the component does not know: the responder answers Ditto's
	// json.type.notparsable.
	if _, ok := piggyback(t, h, selectionSync, "", `{"type":"common.commands:nope"}`); ok {
		t.Error("unknown type handled")
	}
	if _, ok := piggyback(t, s.ThingsUpdaterHandler(), selectionUpdater, "", `{"type":"common.commands:retrieveConfig"}`); ok {
		t.Error("things updater handled retrieveConfig")
	}

	// A pass: health counts it, logs its events.
	f.put(t, "org.acme:h1", `{"attributes":{"k":"v"}}`)
	before := syncReport(t, s)
	if before["enabled"] != true || before["state"] != "SLEEPING" || before["progressPersisted"] != ":_" || before["nextPass"] == nil {
		t.Errorf("health before a pass: %v", before)
	}
	s.TriggerSync()
	streamstest.Eventually(t, 20*time.Second, func() error {
		r := syncReport(t, s)
		if r["passes"].(float64) <= before["passes"].(float64) || r["state"] != "SLEEPING" {
			return fmt.Errorf("pass not done: %v", r)
		}
		events := jsonOf(r["events"])
		var evs []map[string]string
		_ = json.Unmarshal([]byte(events), &evs)
		if len(evs) < 2 || !slices.ContainsFunc(evs, func(m map[string]string) bool { return slices.Contains(mapValues(m), "WOKE_UP") }) {
			return fmt.Errorf("events %s", events)
		}
		return nil
	})

	// Disabled: a pass is not started; enabled again it restarts after
	// the quiet period.
	got = answer(t, h, selectionSync, "", `{"type":"common.commands:modifyConfig","config":{"enabled":"off"}}`, 200)
	if c, _ := got["config"].(map[string]any); c["enabled"] != false {
		t.Fatalf("disable: %v", got)
	}
	passes := syncReport(t, s)["passes"]
	s.TriggerSync()
	streamstest.Eventually(t, 10*time.Second, func() error {
		r := syncReport(t, s)
		if evs := jsonOf(r["events"]); !strings.Contains(evs, "Not waking up: I am disabled.") {
			return fmt.Errorf("events %s", evs)
		}
		return nil
	})
	got = answer(t, h, selectionSync, "", `{"type":"common.commands:modifyConfig","config":{"enabled":true,"quiet-period":"50ms"}}`, 200)
	if c, _ := got["config"].(map[string]any); c["enabled"] != true {
		t.Fatalf("enable: %v", got)
	}
	streamstest.Eventually(t, 20*time.Second, func() error {
		if r := syncReport(t, s); r["passes"].(float64) <= passes.(float64) {
			return fmt.Errorf("no pass after enabling: %v", r)
		}
		return nil
	})
}

func mapValues(m map[string]string) []string {
	var out []string
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

// A forced update of one namespace rewrites every entry of that
// namespace from its thing, also those a normal pass leaves (the index
// holds the thing's revision), and no entry of another namespace;
// sudoUpdateThing repairs a single entry at once.
func TestSearchDevOpsForcedUpdate(t *testing.T) {
	f := newFixture(t)
	cfg := f.searchConfig("forced.db")
	_, r := f.startSearch(t, cfg)
	revs := map[string]int64{}
	for _, id := range []string{"org.acme:a", "org.acme:b", "org.acme:c", "org.acme.sub:d", "com.other:e"} {
		revs[id] = f.put(t, id, `{"attributes":{"k":"v"}}`)
	}
	all := []string{"com.other:e", "org.acme.sub:d", "org.acme:a", "org.acme:b", "org.acme:c"}
	f.eventuallyIDs(t, ditto, `eq(attributes/k,"v")`, all...)
	r.stop()

	// Behind the service's back: entries with the thing's revision but
	// other content and nobody allowed to read them, and one removed.
	ix, err := index.Open(cfg.IndexPath, index.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var b index.Batch
	for _, id := range []string{"org.acme:a", "org.acme.sub:d", "com.other:e"} {
		b.Put = append(b.Put, index.Doc{ThingID: id, PolicyID: id, Revision: revs[id],
			Thing: jsonv.MustParse(`{"thingId":"` + id + `","policyId":"` + id + `","attributes":{"k":"corrupt"}}`)})
	}
	b.Delete = []string{"org.acme:b"}
	if err := ix.Write(t.Context(), b); err != nil {
		t.Fatal(err)
	}
	ix.Close()

	s, _ := f.startSearch(t, cfg)
	h := s.BackgroundSyncHandler()
	answer(t, h, selectionSync, "", `{"type":"common.commands:modifyConfig","config":{"keep":{"events":20}}}`, 200)
	if got := f.ids(t, ditto, `eq(attributes/k,"v")`, ""); !slices.Equal(got, []string{"org.acme:c"}) {
		t.Fatalf("before: %v", got)
	}
	// A normal pass adds the removed entry and leaves the others.
	passes := syncReport(t, s)["passes"].(float64)
	s.TriggerSync()
	f.eventuallyIDs(t, ditto, `eq(attributes/k,"v")`, "org.acme:b", "org.acme:c")
	streamstest.Eventually(t, 20*time.Second, func() error {
		if r := syncReport(t, s); r["passes"].(float64) <= passes || r["state"] != "SLEEPING" {
			return fmt.Errorf("pass not done: %v", r)
		}
		return nil
	})
	if got := f.ids(t, ditto, `eq(attributes/k,"v")`, ""); !slices.Equal(got, []string{"org.acme:b", "org.acme:c"}) {
		t.Fatalf("after a normal pass: %v", got)
	}

	// Forced, org.acme only, started by the quiet period (no response).
	answer(t, h, selectionSync, "", `{"type":"common.commands:modifyConfig","config":{"quiet-period":"100ms"}}`, 200)
	if a, ok := piggyback(t, h, selectionProxy, `{"aggregate":false,"is-group-topic":false,"force-update":true,"namespaces":["org.acme"]}`,
		`{"type":"common.commands:shutdown"}`); !ok || a.Body != nil {
		t.Fatalf("shutdown: %v %s", ok, a.Body)
	}
	f.eventuallyIDs(t, ditto, `eq(attributes/k,"v")`, "org.acme:a", "org.acme:b", "org.acme:c")
	// Until the forced pass is over and normal passes follow.
	streamstest.Eventually(t, 20*time.Second, func() error {
		r := syncReport(t, s)
		if r["nextForceUpdate"] != nil || r["forceUpdate"] != nil || r["rewritten"].(float64) < 2 {
			return fmt.Errorf("forced pass not over: %v", r)
		}
		return nil
	})
	passes = syncReport(t, s)["passes"].(float64)
	streamstest.Eventually(t, 20*time.Second, func() error {
		if r := syncReport(t, s); r["passes"].(float64) < passes+2 {
			return fmt.Errorf("no normal passes: %v", r)
		}
		return nil
	})
	if got := f.ids(t, ditto, `eq(attributes/k,"v")`, ""); !slices.Equal(got, []string{"org.acme:a", "org.acme:b", "org.acme:c"}) {
		t.Fatalf("after the forced pass: %v", got)
	}
	answer(t, h, selectionSync, "", `{"type":"common.commands:modifyConfig","config":{"quiet-period":"1h"}}`, 200)

	// sudoUpdateThing: one entry, at once, without a pass.
	u := s.ThingsUpdaterHandler()
	if a, ok := piggyback(t, u, selectionUpdater, `{"aggregate":false,"is-group-topic":true}`,
		`{"type":"thing-search.sudo.commands:sudoUpdateThing","thingId":"com.other:e"}`); !ok || a.Body != nil {
		t.Fatalf("sudoUpdateThing: %v %s", ok, a.Body)
	}
	f.eventuallyIDs(t, ditto, `eq(attributes/k,"v")`, "com.other:e", "org.acme:a", "org.acme:b", "org.acme:c")
	if got := f.ids(t, ditto, `eq(attributes/k,"v")`, ""); slices.Contains(got, "org.acme.sub:d") {
		t.Fatalf("org.acme.sub:d repaired without being asked: %v", got)
	}
	// A thing that is gone: its entry is removed.
	f.send(t, ditto, protocol.GroupThings, protocol.ActionDelete, "org.acme.sub:d", "/", "", nil)
	f.eventuallyIDs(t, ditto, `exists(thingId)`, "com.other:e", "org.acme:a", "org.acme:b", "org.acme:c")

	// Invalid commands: Ditto's errors, nothing done.
	for cmd, code := range map[string]string{
		`{"type":"thing-search.sudo.commands:sudoUpdateThing"}`:                      "json.field.missing",
		`{"type":"thing-search.sudo.commands:sudoUpdateThing","thingId":5}`:          "json.invalid",
		`{"type":"thing-search.sudo.commands:sudoUpdateThing","thingId":"no-colon"}`: "things:id.invalid",
	} {
		got := answer(t, u, selectionUpdater, "", cmd, 400)
		if got["error"] != code {
			t.Errorf("%s: %v, want %s", cmd, got, code)
		}
	}
}
