package devops

import (
	"encoding/json"
	"testing"
)

// ParsePiggyback never panics, and what it accepts names a known
// component and carries a command with a type.
func FuzzParsePiggyback(f *testing.F) {
	f.Add([]byte(`{"targetActorSelection":"/system/sharding/thing","headers":{"ditto-sudo":true},"piggybackCommand":{"type":"things.commands:retrieveThing"}}`))
	f.Add([]byte(`{"targetActorSelection":"/system/distributedPubSubMediator","piggybackCommand":{"type":"common.commands:shutdown","reason":{}}}`))
	f.Add([]byte(`{"targetActorSelection":1}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParsePiggyback(data)
		if err != nil {
			if err.Status != 400 {
				t.Fatalf("status %d for %q", err.Status, data)
			}
			return
		}
		if Selections[p.Selection] != p.Component || p.Component == "" || !json.Valid(p.Command) {
			t.Fatalf("accepted %q as %+v", data, p)
		}
		_ = p.Timeout(0)
		_ = p.Sudo()
	})
}
