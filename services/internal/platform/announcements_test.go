package platform

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

// Subject expiry end to end: a subject with an announcement is announced
// over the WebSocket to the sessions authenticated as that subject that
// asked for policy announcements (and to no other), the session
// acknowledges it, and the subject is gone from the policy at its expiry,
// so that the subject loses its access.
func TestPolicyAnnouncementsOverWebSocket(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Policies.SubjectExpiryGranularity = time.Second
	cfg.Policies.AnnouncementGranularity = time.Second
	cfg.Policies.DefaultRandomization = 0
	pl := startPlatform(t, cfg)

	guest, _, err := pl.dial(t, "ditto2", http.Header{"declared-acks": {"guest:seen"}})
	if err != nil {
		t.Fatal(err)
	}
	guest.ack("START-SEND-POLICY-ANNOUNCEMENTS?namespaces=org.eclipse.ditto")
	owner := pl.mustDial(t, "ditto")
	owner.ack("START-SEND-POLICY-ANNOUNCEMENTS")
	idle := pl.mustDial(t, "ditto2") // authenticated as the subject, not subscribed
	other := pl.mustDial(t, "ditto2")
	other.ack("START-SEND-POLICY-ANNOUNCEMENTS?namespaces=com.example")

	const id = "org.eclipse.ditto:expiring"
	expiry := protocol.FormatInstant(time.Now().Add(4 * time.Second).Truncate(time.Second).Add(time.Second))
	pl.expect(t, "ditto", "PUT", "/api/2/policies/"+id, `{"entries":{
		"owner":{"subjects":{"nginx:ditto":{"type":"basic"}},"resources":{"policy:/":{"grant":["READ","WRITE"],"revoke":[]},"thing:/":{"grant":["READ","WRITE"],"revoke":[]}}},
		"guest":{"subjects":{"nginx:ditto2":{"type":"basic","expiry":"`+expiry+`","announcement":{"beforeExpiry":"2s","whenDeleted":true,
			"requestedAcks":{"labels":["guest:seen"],"timeout":"5s"}}}},"resources":{"thing:/":{"grant":["READ"],"revoke":[]}}}}}`, nil, 201, "")
	pl.expect(t, "ditto", "PUT", "/api/2/things/"+id, `{"policyId":"`+id+`","attributes":{"a":1}}`, nil, 201, "")
	pl.expect(t, "ditto2", "GET", "/api/2/things/"+id, "", nil, 200, "")

	a := guest.envelope()
	if a.Topic != "org.eclipse.ditto/expiring/policies/announcements/subjectDeletion" || a.Path != "/" {
		t.Fatalf("guest got %+v", a)
	}
	var v struct {
		DeleteAt   string   `json:"deleteAt"`
		SubjectIDs []string `json:"subjectIds"`
	}
	if err := json.Unmarshal(a.Value, &v); err != nil || v.DeleteAt != expiry || !slices.Equal(v.SubjectIDs, []string{"nginx:ditto2"}) {
		t.Errorf("announcement value %s, want deleteAt %s, subjectIds [nginx:ditto2]", a.Value, expiry)
	}
	if a.Headers[protocol.HeaderRequestedAcks] != `["guest:seen"]` || a.Headers[protocol.HeaderCorrelationID] == "" {
		t.Errorf("headers %v", a.Headers)
	}
	if _, leaked := a.Headers[protocol.HeaderAckregatorAddress]; leaked {
		t.Error("the internal acknowledgement address reached the client")
	}
	// Acknowledged on the policy's own topic.
	guest.send(`{"topic":"org.eclipse.ditto/expiring/policies/acks/guest:seen","headers":{"correlation-id":"` +
		a.Headers[protocol.HeaderCorrelationID] + `"},"path":"/","status":200}`)

	// Gone at the expiry: no access, and no longer in the policy.
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := pl.do(t, "ditto", "GET", "/api/2/policies/"+id+"/entries/guest/subjects", "", nil)
		if r.status == 200 && strings.TrimSpace(r.body) == "{}" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subject still in the policy: %d %s", r.status, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	pl.expect(t, "ditto2", "GET", "/api/2/things/"+id, "", nil, 404, "things:thing.notfound")

	// Acknowledged, it is not announced again when deleted; nobody else
	// got anything.
	guest.silent(300 * time.Millisecond)
	owner.silent(0)
	idle.silent(0)
	other.silent(0)
}
