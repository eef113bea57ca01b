package search

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/services/internal/devops"
)

var testSettings = syncSettings{Enabled: true, QuietPeriod: 8 * time.Minute, Tolerance: 20 * time.Minute, KeepEvents: 50,
	Throughput: 100, Period: 10 * time.Second}

func TestApplyConfig(t *testing.T) {
	t.Parallel()
	got, ignored, err := applyConfig(testSettings, json.RawMessage(`{"enabled":"no","quiet-period":"240d","keep":{"events":"7"},
		"throttle.throughput":5,"throttle":{"period":1500},"tolerance-window":"1 minute","idle-timeout":"5m","throttle.x":1}`))
	if err != nil {
		t.Fatal(err)
	}
	want := syncSettings{QuietPeriod: 240 * 24 * time.Hour, Tolerance: time.Minute, KeepEvents: 7, Throughput: 5, Period: 1500 * time.Millisecond}
	if got != want || !slices.Equal(ignored, []string{"idle-timeout", "throttle.x"}) {
		t.Errorf("applyConfig = %+v %v", got, ignored)
	}
	// Absent keys stay.
	if got, _, err := applyConfig(testSettings, json.RawMessage(`{}`)); err != nil || got != testSettings {
		t.Errorf("empty config: %+v %v", got, err)
	}
	for _, bad := range []string{
		`{"quiet-period":"soon","enabled":false}`, `{"enabled":1}`, `{"enabled":null}`, `{"keep":5}`, `{"throttle":"fast"}`,
		`{"keep":{"events":-1}}`, `{"keep":{"events":1.5}}`, `{"throttle":{"throughput":0}}`, `{"throttle.period":"0s"}`,
		`{"tolerance-window":"-1m"}`, `{"quiet-period":true}`, `{"keep.events":"many"}`, `{"keep.events":99999999999}`,
	} {
		got, _, err := applyConfig(testSettings, json.RawMessage(bad))
		var perr *protocol.Error
		if err == nil || errors.As(err, &perr) || got != testSettings {
			t.Errorf("applyConfig(%s) = %+v, %v; want a plain error and no change", bad, got, err)
		}
	}
	for _, bad := range []string{`[]`, `null`, `"x"`, `5`} {
		var perr *protocol.Error
		if _, _, err := applyConfig(testSettings, json.RawMessage(bad)); !errors.As(err, &perr) || perr.Code != protocol.CodeJSONInvalid {
			t.Errorf("applyConfig(%s): %v, want json.invalid", bad, err)
		}
	}
}

func TestRenderConfigRoundTrip(t *testing.T) {
	t.Parallel()
	b, _ := json.Marshal(testSettings.render())
	if string(b) != `{"enabled":true,"keep":{"events":50},"quiet-period":"8m","throttle":{"period":"10s","throughput":100},"tolerance-window":"20m"}` {
		t.Errorf("render: %s", b)
	}
	got, _, err := applyConfig(syncSettings{Throughput: 1, Period: time.Second}, b)
	if err != nil || got != testSettings {
		t.Errorf("round trip: %+v %v", got, err)
	}
	if v, ok := configAt(testSettings.render(), "keep.events"); !ok || v != 50 {
		t.Errorf("configAt keep.events: %v %v", v, ok)
	}
	for _, p := range []string{"keep.events.x", "nope", "", "throttle."} {
		if v, ok := configAt(testSettings.render(), p); ok {
			t.Errorf("configAt %q: %v", p, v)
		}
	}
}

func TestParseNamespacesHeader(t *testing.T) {
	t.Parallel()
	for in, want := range map[string][]string{
		``: nil, `[]`: nil, `["a","org.acme",1,null,{"x":1}]`: {"a", "org.acme"}, `[""]`: {""},
	} {
		got, err := parseNamespacesHeader(in)
		if err != nil || !slices.Equal(got, want) {
			t.Errorf("parseNamespacesHeader(%q) = %q, %v", in, got, err)
		}
	}
	for _, in := range []string{`org.acme`, `"org.acme"`, `{"a":1}`, `["in valid"]`, `["a:b"]`, `[`} {
		if got, err := parseNamespacesHeader(in); err == nil || err.Code != protocol.CodeJSONInvalid {
			t.Errorf("parseNamespacesHeader(%q) = %q, %v; want json.invalid", in, got, err)
		}
	}
}

func TestNamespaceSpans(t *testing.T) {
	t.Parallel()
	got := namespaceSpans([]string{"org.acme", "com", "org.acme"})
	want := []span{{"com:", "com;"}, {"org.acme:", "org.acme;"}}
	if !slices.Equal(got, want) {
		t.Errorf("spans %v", got)
	}
	// Another namespace's ids never fall into a span.
	for _, id := range []string{"org.acme.sub:x", "org.acmex:y", "org.acm:z", "com.x:y"} {
		for _, sp := range got {
			if id > sp.after && id < sp.before {
				t.Errorf("%s in %v", id, sp)
			}
		}
	}
	for _, id := range []string{"org.acme:x", "org.acme:~", "com:a"} {
		if !slices.ContainsFunc(got, func(sp span) bool { return id > sp.after && id < sp.before }) {
			t.Errorf("%s in no span", id)
		}
	}
}

func TestParseSudoUpdateThing(t *testing.T) {
	t.Parallel()
	if id, err := parseSudoUpdateThing(json.RawMessage(`{"type":"thing-search.sudo.commands:sudoUpdateThing","thingId":"org.acme:x","invalidatePolicy":true}`)); err != nil || id != "org.acme:x" {
		t.Errorf("valid: %q %v", id, err)
	}
	for in, code := range map[string]string{
		`{"type":"x"}`: protocol.CodeJSONFieldMissing, `{"thingId":null}`: protocol.CodeJSONInvalid, `{"thingId":["a:b"]}`: protocol.CodeJSONInvalid,
		`{"thingId":"nons"}`: protocol.CodeThingIDInvalid, `{"thingId":"a:"}`: protocol.CodeThingIDInvalid, `[]`: protocol.CodeJSONInvalid,
	} {
		if _, err := parseSudoUpdateThing(json.RawMessage(in)); err == nil || err.Code != code {
			t.Errorf("parseSudoUpdateThing(%s): %v, want %s", in, err, code)
		}
	}
}

func TestEventsLevel(t *testing.T) {
	t.Parallel()
	info := syncEvent{level: devops.LevelInfo}
	warn := syncEvent{level: devops.LevelWarn}
	end := syncEvent{level: devops.LevelInfo, ended: true}
	warnEnd := syncEvent{level: devops.LevelWarn, ended: true}
	for i, c := range []struct {
		events []syncEvent
		want   devops.Level
	}{
		{nil, devops.LevelInfo},
		{[]syncEvent{info, end, info}, devops.LevelInfo},
		{[]syncEvent{info, warnEnd}, devops.LevelWarn},
		// Only the running and the last completed pass count.
		{[]syncEvent{info, end, info, end, warn, warnEnd}, devops.LevelInfo},
		{[]syncEvent{warn, end, info, end}, devops.LevelWarn},
	} {
		if got := eventsLevel(c.events); got != c.want {
			t.Errorf("%d: %s, want %s", i, got, c.want)
		}
	}
}

func TestSyncControlEvents(t *testing.T) {
	t.Parallel()
	c := newSyncControl(syncSettings{Enabled: true, KeepEvents: 2})
	for _, n := range []string{"a", "b", "c"} {
		c.record(syncEvent{name: n})
	}
	if len(c.events) != 2 || c.events[0].name != "c" || c.events[1].name != "b" {
		t.Errorf("events %+v", c.events)
	}
	canceled := false
	_, f, ok := c.begin(func() { canceled = true })
	if !ok || f != nil || !c.passing {
		t.Fatal("begin")
	}
	c.mu.Lock()
	c.next = &forceSpec{namespaces: []string{"x"}}
	aborted := c.abortLocked()
	c.mu.Unlock()
	if !aborted || !canceled {
		t.Error("abort")
	}
	c.end(context0Err, true)
	_, f, ok = c.begin(func() {})
	if !ok || f == nil || !slices.Equal(f.namespaces, []string{"x"}) || c.next != nil {
		t.Errorf("the forced pass: %+v", f)
	}
	c.end(nil, false)
	c.settings.Enabled = false
	if _, _, ok := c.begin(func() {}); ok || c.events[0].name != "Not waking up: I am disabled." {
		t.Errorf("disabled: %v %+v", ok, c.events)
	}
	if c.sleepFor() != -1 {
		t.Error("sleepFor disabled")
	}
}

var context0Err = errors.New("aborted")

// FuzzApplyConfig: any config either changes nothing (an error) or gives
// settings that are valid and that render and read back the same.
func FuzzApplyConfig(f *testing.F) {
	for _, s := range []string{
		`{"enabled":false,"quiet-period":"240d","keep":{"events":10},"throttle":{"throughput":5,"period":"1s"}}`,
		`{"keep.events":"3","throttle.period":1500,"tolerance-window":"1.5 hours"}`,
		`{"quiet-period":"soon"}`, `{"keep":5}`, `[]`, `{"a":{"b":{"c":{}}}}`, `{"enabled":"on","throttle":{"period":"-1s"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, _, err := applyConfig(testSettings, data)
		if err != nil {
			if got != testSettings {
				t.Fatalf("error %v changed the settings: %+v", err, got)
			}
			return
		}
		if got.QuietPeriod < 0 || got.Tolerance < 0 || got.Period <= 0 || got.Throughput < 1 || got.KeepEvents < 0 {
			t.Fatalf("invalid settings accepted: %+v from %s", got, data)
		}
		b, err := json.Marshal(got.render())
		if err != nil {
			t.Fatal(err)
		}
		back, _, err := applyConfig(syncSettings{Throughput: 1, Period: time.Second}, b)
		if err != nil || back != got {
			t.Fatalf("round trip of %s: %+v %v, want %+v", b, back, err, got)
		}
	})
}
