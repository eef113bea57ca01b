package policies

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/streams"
	"github.com/dittonats/dittonats/streams/streamstest"
)

// expiryConfig is testConfig with exact expiries, beforeExpiry kept as
// given, no randomization and short back-offs.
func expiryConfig() Config {
	cfg := testConfig()
	cfg.SubjectExpiryGranularity = 0
	cfg.AnnouncementGranularity = time.Millisecond
	cfg.GracePeriod, cfg.MaxTimeout, cfg.WhenDeleted = time.Hour, time.Minute, true
	cfg.BackoffMin, cfg.BackoffMax, cfg.BackoffRandomFactor = 200*time.Millisecond, 400*time.Millisecond, 1
	return cfg
}

// withTemp is basePolicy with an entry "temp" holding subject.
func withTemp(subject string) string {
	return strings.Replace(basePolicy, `"entries":{`,
		`"entries":{"temp":{"subjects":{`+subject+`},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}},`, 1)
}

// announcements subscribes to every policy announcement.
func (f *fixture) announcements(t *testing.T) *nats.Subscription {
	t.Helper()
	sub, err := f.nc.SubscribeSync(f.names.PolicyAnnouncementsAll())
	if err != nil {
		t.Fatal(err)
	}
	if err := f.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	return sub
}

// announcement is a received subject deletion announcement.
type announcementMsg struct {
	env     protocol.Envelope
	readers string
	at      time.Time
	value   struct {
		DeleteAt   string   `json:"deleteAt"`
		SubjectIDs []string `json:"subjectIds"`
	}
}

func nextAnnouncement(t *testing.T, sub *nats.Subscription, within time.Duration) announcementMsg {
	t.Helper()
	m, err := sub.NextMsg(within)
	if err != nil {
		t.Fatalf("no announcement within %s: %v", within, err)
	}
	a := announcementMsg{readers: m.Header.Get(protocol.HeaderReadSubjects), at: time.Now()}
	if a.env, err = protocol.DecodeEnvelope(m.Data); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(a.env.Value, &a.value); err != nil {
		t.Fatalf("announcement value %s: %v", a.env.Value, err)
	}
	return a
}

// hasSubject reports whether entry label of policy id has subject s.
func (f *fixture) hasSubject(t *testing.T, id, label, s string) bool {
	t.Helper()
	_, ok := f.retrieve(t, id).At(jsonv.Pointer{"entries", label, "subjects", s})
	return ok
}

// awaitRemoved waits until the subject of withTemp is gone from policy id.
func (f *fixture) awaitRemoved(t *testing.T, id string, within time.Duration) {
	t.Helper()
	start := time.Now()
	streamstest.Eventually(t, within, func() error {
		if f.hasSubject(t, id, "temp", "nginx:temp") {
			return fmt.Errorf("subject still there %s after the wait began", time.Since(start))
		}
		return nil
	})
}

// A subject is announced beforeExpiry before it expires, to the subject
// only, and removed from the policy at its expiry by an ordinary event;
// its announcement was acknowledged (it requested nothing), so its
// deletion is not announced again.
func TestSubjectAnnouncedThenRemovedAtExpiry(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, expiryConfig())
	sub := f.announcements(t)
	id := f.newID()
	start := time.Now()
	expiry := protocol.FormatInstant(start.Add(4 * time.Second))
	f.must(t, id, "create", "/", withTemp(`"nginx:temp":{"type":"t","expiry":"`+expiry+`","announcement":{"beforeExpiry":"2s","whenDeleted":true,"randomizationInterval":"0s"}}`))
	if !f.hasSubject(t, id, "temp", "nginx:temp") {
		t.Fatal("subject missing right after creation")
	}

	a := nextAnnouncement(t, sub, 10*time.Second)
	// It can be late under load, never early.
	if early := start.Add(time.Second); a.at.Before(early) {
		t.Errorf("announced %s after creation, want about 2s", a.at.Sub(start))
	}
	ns, name := protocol.SplitID(id)
	if want := ns + "/" + name + "/policies/announcements/subjectDeletion"; a.env.Topic != want || a.env.Path != "/" {
		t.Errorf("topic %q path %q, want %q /", a.env.Topic, a.env.Path, want)
	}
	if a.value.DeleteAt != expiry || !slices.Equal(a.value.SubjectIDs, []string{"nginx:temp"}) {
		t.Errorf("value %s, want deleteAt %s and subjectIds [nginx:temp]", a.env.Value, expiry)
	}
	if a.readers != `["nginx:temp"]` {
		t.Errorf("announcement for %s, want only the subject", a.readers)
	}
	if a.env.Headers[protocol.HeaderCorrelationID] == "" {
		t.Error("announcement without correlation-id")
	}
	if !f.hasSubject(t, id, "temp", "nginx:temp") {
		t.Error("subject removed before its expiry")
	}

	f.awaitRemoved(t, id, 10*time.Second)
	if gone := time.Now(); gone.Before(start.Add(4 * time.Second)) {
		t.Errorf("removed %s after creation, before its expiry", gone.Sub(start))
	}
	// The rest of the policy is untouched.
	if !f.hasSubject(t, id, "owner", "nginx:ditto") || !f.hasSubject(t, id, "reader", "nginx:reader") {
		t.Error("other subjects lost")
	}
	if m, err := sub.NextMsg(500 * time.Millisecond); err == nil {
		t.Errorf("announced again after an acknowledged announcement: %s", m.Data)
	}
}

// whenDeleted: a subject deleted by a change of the policy is announced
// at once; one without whenDeleted is not. A whole policy's deletion
// deletes its subjects.
func TestWhenDeletedAnnouncements(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, expiryConfig())
	sub := f.announcements(t)
	id := f.newID()
	f.must(t, id, "create", "/", withTemp(`"nginx:temp":{"type":"t","announcement":{"whenDeleted":true}},"nginx:quiet":{"type":"t","announcement":{"whenDeleted":false}}`))
	if got := f.retrieve(t, id); !strings.Contains(got.String(), `"nginx:quiet":{"type":"t","announcement":{"whenDeleted":false}}`) {
		t.Errorf("stored %s", got)
	}

	// A new announcement (or expiry) is no deletion.
	f.must(t, id, "modify", "/entries/temp/subjects/nginx:temp", `{"type":"t","announcement":{"whenDeleted":true,"randomizationInterval":"1m"}}`)
	if m, err := sub.NextMsg(500 * time.Millisecond); err == nil {
		t.Fatalf("announced a subject that was only changed: %s", m.Data)
	}
	before := time.Now()
	f.must(t, id, "delete", "/entries/temp/subjects/nginx:quiet", "")
	if m, err := sub.NextMsg(500 * time.Millisecond); err == nil {
		t.Fatalf("announced a subject without whenDeleted: %s", m.Data)
	}
	f.must(t, id, "delete", "/entries/temp/subjects/nginx:temp", "")
	a := nextAnnouncement(t, sub, 5*time.Second)
	if !slices.Equal(a.value.SubjectIDs, []string{"nginx:temp"}) || a.readers != `["nginx:temp"]` {
		t.Errorf("announced %s for %s", a.env.Value, a.readers)
	}
	deleteAt, err := time.Parse(time.RFC3339Nano, a.value.DeleteAt)
	if err != nil || deleteAt.Before(before.Add(-time.Second)) || deleteAt.After(time.Now().Add(time.Second)) {
		t.Errorf("deleteAt %q, want about now", a.value.DeleteAt)
	}

	id2 := f.newID()
	f.must(t, id2, "create", "/", withTemp(`"nginx:gone":{"type":"t","announcement":{"whenDeleted":true}}`))
	f.must(t, id2, "delete", "/", "")
	if a := nextAnnouncement(t, sub, 5*time.Second); !slices.Equal(a.value.SubjectIDs, []string{"nginx:gone"}) {
		t.Errorf("policy deletion announced %s", a.env.Value)
	}
}

// An announcement requesting acknowledgements is sent again until they
// come, and the expired subject stays until then (without effect: the
// enforcer ignores expired subjects); acknowledged, the subject goes.
func TestAnnouncementAwaitsAcknowledgements(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.start(t, expiryConfig())
	sub := f.announcements(t)
	id := f.newID()
	start := time.Now()
	expiry := start.Add(2 * time.Second)
	f.must(t, id, "create", "/", withTemp(`"nginx:temp":{"type":"t","expiry":"`+protocol.FormatInstant(expiry)+
		`","announcement":{"beforeExpiry":"1s","randomizationInterval":"0s","requestedAcks":{"labels":["conn:ack"],"timeout":"300ms"}}}`))

	first := nextAnnouncement(t, sub, 10*time.Second)
	if got := first.env.Headers[protocol.HeaderRequestedAcks]; got != `["conn:ack"]` {
		t.Errorf("requested-acks %q", got)
	}
	if got := first.env.Headers[protocol.HeaderTimeout]; got != "300ms" {
		t.Errorf("timeout %q", got)
	}
	// Not acknowledged: sent again, with a new correlation-id, past the
	// expiry, and the subject stays.
	var last announcementMsg
	for last = first; time.Now().Before(expiry.Add(time.Second)); {
		last = nextAnnouncement(t, sub, 5*time.Second)
	}
	if last.env.Headers[protocol.HeaderCorrelationID] == first.env.Headers[protocol.HeaderCorrelationID] {
		t.Error("resent with the same correlation-id")
	}
	if !f.hasSubject(t, id, "temp", "nginx:temp") {
		t.Fatal("subject removed although its announcement was not acknowledged")
	}

	// Acknowledge the next one at the address it names.
	a := nextAnnouncement(t, sub, 5*time.Second)
	addr := a.env.Headers[protocol.HeaderAckregatorAddress]
	if !strings.HasPrefix(addr, f.names.Prefix()+".acks."+streams.PolicyAcksToken+".") {
		t.Fatalf("ack address %q", addr)
	}
	ns, name := protocol.SplitID(id)
	ack := protocol.Envelope{Topic: ns + "/" + name + "/things/twin/acks/conn:ack", Path: "/", Status: 200,
		Headers: protocol.Headers{protocol.HeaderCorrelationID: a.env.Headers[protocol.HeaderCorrelationID]}}
	data, err := ack.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if err := f.nc.Publish(addr, data); err != nil {
		t.Fatal(err)
	}
	f.awaitRemoved(t, id, 10*time.Second)
}

// Without acknowledgements the subject goes when the grace period after
// its expiry is over.
func TestAnnouncementGivesUpAfterGracePeriod(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	cfg := expiryConfig()
	cfg.GracePeriod = 1500 * time.Millisecond
	f.start(t, cfg)
	id := f.newID()
	start := time.Now()
	expiry := start.Add(2 * time.Second)
	f.must(t, id, "create", "/", withTemp(`"nginx:temp":{"type":"t","expiry":"`+protocol.FormatInstant(expiry)+
		`","announcement":{"beforeExpiry":"1s","randomizationInterval":"0s","requestedAcks":{"labels":["conn:ack"],"timeout":"200ms"}}}`))
	f.awaitRemoved(t, id, 15*time.Second)
	if gone := time.Now(); gone.Before(expiry.Add(500 * time.Millisecond)) {
		t.Errorf("removed %s after its expiry, want after most of the grace period", gone.Sub(expiry))
	}
}

// A policy need not be in memory, nor its instance the one that saw it
// change: a new instance removes the subject at its expiry from what the
// bucket of expiries says.
func TestExpiryAfterRestart(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	stop := f.start(t, expiryConfig())
	id := f.newID()
	expiry := time.Now().Add(3 * time.Second)
	f.must(t, id, "create", "/", withTemp(`"nginx:temp":{"type":"t","expiry":"`+protocol.FormatInstant(expiry)+`"}`))
	stop()
	f.start(t, expiryConfig())
	f.awaitRemoved(t, id, 15*time.Second)
	if time.Now().Before(expiry) {
		t.Error("removed before its expiry")
	}
	// Nothing is left to do for the policy: its entry is gone.
	streamstest.Eventually(t, 5*time.Second, func() error {
		kv, err := f.js.KeyValue(t.Context(), f.names.PolicyExpiriesBucket())
		if err != nil {
			return err
		}
		if _, err := kv.Get(t.Context(), bucketKey(id)); err == nil {
			return fmt.Errorf("bucket still holds %s", id)
		}
		return nil
	})
}

// Announcements are parsed as Ditto parses them and stored in Ditto's
// canonical form; beforeExpiry is rounded up to the granularity.
func TestAnnouncementNormalized(t *testing.T) {
	t.Parallel()
	cases := []struct {
		in, want, code string
	}{
		{in: `{}`, want: `{"whenDeleted":false}`},
		{in: `{"beforeExpiry":"30s"}`, want: `{"beforeExpiry":"60s","whenDeleted":false}`},
		{in: `{"beforeExpiry":"90s","whenDeleted":true}`, want: `{"beforeExpiry":"120s","whenDeleted":true}`},
		{in: `{"beforeExpiry":"2h","requestedAcks":{"labels":["a:b",1],"timeout":"10s"},"randomizationInterval":"1m","x":1}`,
			want: `{"beforeExpiry":"2h","whenDeleted":false,"requestedAcks":{"labels":["a:b"],"timeout":"10s"},"randomizationInterval":"1m"}`},
		{in: `{"beforeExpiry":"3600"}`, want: `{"beforeExpiry":"3600","whenDeleted":false}`},
		{in: `{"beforeExpiry":"1d"}`, code: "policies:subjectannouncement.invalid"},
		{in: `{"beforeExpiry":"500ms"}`, code: "policies:subjectannouncement.invalid"},
		{in: `{"beforeExpiry":"-1s"}`, code: "policies:subjectannouncement.invalid"},
		{in: `{"beforeExpiry":"soon"}`, code: "policies:subjectannouncement.invalid"},
		{in: `{"beforeExpiry":1}`, code: protocol.CodeJSONInvalid},
		{in: `{"whenDeleted":"yes"}`, code: protocol.CodeJSONInvalid},
		{in: `{"requestedAcks":{"labels":["not valid"]}}`, code: protocol.CodeAckLabelInvalid},
		{in: `{"requestedAcks":{"timeout":"x"}}`, code: "policies:subjectannouncement.invalid"},
		{in: `{"randomizationInterval":"x"}`, code: "policies:subjectannouncement.invalid"},
	}
	for _, c := range cases {
		got, err := normalizeAnnouncement(jsonv.MustParse(c.in), time.Minute)
		if c.code != "" {
			var perr *protocol.Error
			if err == nil || !errors.As(err, &perr) || perr.Code != c.code {
				t.Errorf("%s: got %v, %v, want %s", c.in, got, err, c.code)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("%s: got %s, %v, want %s", c.in, got, err, c.want)
		}
	}
}

// The scheduler's back-off grows like Ditto's and stays within its
// bounds.
func TestAnnouncementBackoff(t *testing.T) {
	t.Parallel()
	x := &expiries{cfg: announceConfig{BackoffMin: time.Second, BackoffMax: time.Minute, BackoffRandomFactor: 1}}
	b := x.cfg.BackoffMin
	for i := 0; i < 20; i++ {
		next := x.nextBackoff(b)
		if next < b || next > time.Minute || (b < 20*time.Second && next < b+b/2) {
			t.Fatalf("back-off %s after %s", next, b)
		}
		b = next
	}
	if b != time.Minute {
		t.Errorf("back-off ends at %s, want the maximum", b)
	}
}
