package protocol

import (
	"errors"
	"testing"
)

func TestParseTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Topic
		// wantString is the formatted topic when it differs from in.
		wantString string
	}{
		{"thing command", "org.eclipse.ditto/fancy-thing/things/twin/commands/modify",
			Topic{"org.eclipse.ditto", "fancy-thing", GroupThings, ChannelTwin, CriterionCommands, ActionModify}, ""},
		{"live event", "ns/n/things/live/events/merged",
			Topic{"ns", "n", GroupThings, ChannelLive, CriterionEvents, ActionMerged}, ""},
		{"thing error", "ns/n/things/twin/errors",
			Topic{"ns", "n", GroupThings, ChannelTwin, CriterionErrors, ""}, ""},
		{"policy command", "ns/p/policies/commands/create",
			Topic{"ns", "p", GroupPolicies, "", CriterionCommands, ActionCreate}, ""},
		{"policy error", "ns/p/policies/errors",
			Topic{"ns", "p", GroupPolicies, "", CriterionErrors, ""}, ""},
		{"policy announcement", "ns/p/policies/announcements/subjectDeletion",
			Topic{"ns", "p", GroupPolicies, "", CriterionAnnouncements, "subjectDeletion"}, ""},
		{"connection announcement", "_/the_connection_id/connections/announcements/opened",
			Topic{"_", "the_connection_id", GroupConnections, "", CriterionAnnouncements, "opened"}, ""},
		{"search subscribe", "_/_/things/twin/search/subscribe",
			Topic{"_", "_", GroupThings, ChannelTwin, CriterionSearch, ActionSubscribe}, ""},
		{"search created", "_/_/things/twin/search/created",
			Topic{"_", "_", GroupThings, ChannelTwin, CriterionSearch, ActionCreated}, ""},
		{"search error as Ditto sends it", "_/_/things/search/error",
			Topic{"_", "_", GroupThings, "", CriterionSearch, ActionError}, ""},
		{"search error as Ditto documents it", "_/_/things/search/errors",
			Topic{"_", "_", GroupThings, "", CriterionSearch, ActionSearchErrors}, ""},
		{"streaming", "ns/n/things/twin/streaming/subscribeForPersistedEvents",
			Topic{"ns", "n", GroupThings, ChannelTwin, CriterionStreaming, ActionSubscribeForPersistedEvents}, ""},
		{"message subject with slashes", "ns/n/things/live/messages/a/b/c",
			Topic{"ns", "n", GroupThings, ChannelLive, CriterionMessages, "a/b/c"}, ""},
		{"message subject with empty segment", "ns/n/things/live/messages/a//b",
			Topic{"ns", "n", GroupThings, ChannelLive, CriterionMessages, "a//b"}, ""},
		{"message without subject", "ns/n/things/live/messages",
			Topic{"ns", "n", GroupThings, ChannelLive, CriterionMessages, ""}, ""},
		{"ack label", "ns/n/things/twin/acks/custom-ack",
			Topic{"ns", "n", GroupThings, ChannelTwin, CriterionAcks, "custom-ack"}, ""},
		{"aggregated acks", "ns/n/things/twin/acks",
			Topic{"ns", "n", GroupThings, ChannelTwin, CriterionAcks, ""}, ""},
		{"empty namespace", "/n/things/twin/commands/retrieve",
			Topic{"", "n", GroupThings, ChannelTwin, CriterionCommands, ActionRetrieve}, ""},
		{"trailing segments ignored like Ditto", "ns/n/things/twin/commands/create/extra/parts",
			Topic{"ns", "n", GroupThings, ChannelTwin, CriterionCommands, ActionCreate}, "ns/n/things/twin/commands/create"},
		{"trailing slash dropped like Ditto", "ns/n/things/live/messages/s/",
			Topic{"ns", "n", GroupThings, ChannelLive, CriterionMessages, "s"}, "ns/n/things/live/messages/s"},
		{"check permissions action", "ns/n/things/twin/commands/checkPermissions",
			Topic{"ns", "n", GroupThings, ChannelTwin, CriterionCommands, ActionCheckPermissions}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTopic(tt.in)
			if err != nil {
				t.Fatalf("ParseTopic(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
			wantString := tt.wantString
			if wantString == "" {
				wantString = tt.in
			}
			if s := got.String(); s != wantString {
				t.Errorf("String() got %q, want %q", s, wantString)
			}
		})
	}
}

func TestParseTopicErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, in, wantDescription string
	}{
		{"empty", "", "The topic path has no namespace part."},
		{"slash", "/", "The topic path has no entity name part."},
		{"no group", "ns/n", "The topic path has no group part."},
		{"empty name", "ns//things/twin/commands/create", "The topic path has no group part."},
		{"unknown group", "ns/n/thing/twin/commands/create", "Group name <thing> is unknown."},
		{"no channel", "ns/n/things", "The topic path has no channel part."},
		{"unknown channel", "ns/n/things/none/commands/create", "Channel name <none> is unknown."},
		{"channel-less command", "ns/n/things/commands/create", "Channel name <commands> is unknown."},
		{"no criterion", "ns/n/things/twin", "The topic path has no criterion part."},
		{"policy with channel", "ns/p/policies/twin/commands/create", "Criterion name <twin> is unknown."},
		{"unknown criterion", "ns/n/things/twin/command/create", "Criterion name <command> is unknown."},
		{"no action", "ns/n/things/twin/commands", "The topic path has no action part."},
		{"unknown action", "ns/n/things/twin/commands/put", "Action name <put> is unknown."},
		{"event action case", "ns/n/things/twin/events/Created", "Action name <Created> is unknown."},
		{"no search action", "_/_/things/twin/search", "The topic path has no search action part."},
		{"unknown search action", "_/_/things/twin/search/subscribeForPersistedEvents", "Search action name <subscribeForPersistedEvents> is unknown."},
		{"unknown streaming action", "ns/n/things/twin/streaming/subscribe", "Streaming action name <subscribe> is unknown."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTopic(tt.in)
			var wire *Error
			if !errors.As(err, &wire) {
				t.Fatalf("got %v, want *Error", err)
			}
			if !errors.Is(err, &Error{Code: CodeUnknownTopicPath}) {
				t.Errorf("code got %q, want %q", wire.Code, CodeUnknownTopicPath)
			}
			if wire.Status != 400 {
				t.Errorf("status got %d, want 400", wire.Status)
			}
			if want := "The topic path '" + tt.in + "' is not supported."; wire.Message != want {
				t.Errorf("message got %q, want %q", wire.Message, want)
			}
			if wire.Description != tt.wantDescription {
				t.Errorf("description got %q, want %q", wire.Description, tt.wantDescription)
			}
		})
	}
}

func TestTopicEntityID(t *testing.T) {
	t.Parallel()
	tests := []struct{ topic, want string }{
		{"org.eclipse.ditto/fancy-thing/things/twin/commands/create", "org.eclipse.ditto:fancy-thing"},
		{"/n/things/twin/commands/create", ":n"},
		{"_/_/things/twin/search/subscribe", "_:_"},
	}
	for _, tt := range tests {
		top, err := ParseTopic(tt.topic)
		if err != nil {
			t.Fatalf("ParseTopic(%q): %v", tt.topic, err)
		}
		if got := top.EntityID(); got != tt.want {
			t.Errorf("EntityID of %q got %q, want %q", tt.topic, got, tt.want)
		}
	}
}

func TestNewTopic(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                                  string
		id, group, channel, criterion, action string
		want                                  string
	}{
		{"thing", "org.eclipse.ditto:fancy-thing", GroupThings, ChannelTwin, CriterionEvents, ActionModified,
			"org.eclipse.ditto/fancy-thing/things/twin/events/modified"},
		{"policy drops channel", "ns:p", GroupPolicies, ChannelTwin, CriterionCommands, ActionDelete,
			"ns/p/policies/commands/delete"},
		{"name with colon", "ns:a:b", GroupThings, ChannelLive, CriterionMessages, "hello",
			"ns/a:b/things/live/messages/hello"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := NewTopic(tt.id, tt.group, tt.channel, tt.criterion, tt.action)
			if got.String() != tt.want {
				t.Errorf("got %q, want %q", got.String(), tt.want)
			}
			if got.EntityID() != tt.id {
				t.Errorf("EntityID got %q, want %q", got.EntityID(), tt.id)
			}
		})
	}
}

func BenchmarkParseTopic(b *testing.B) {
	for b.Loop() {
		if _, err := ParseTopic("org.eclipse.ditto/fancy-thing/things/twin/commands/modify"); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParseTopic(f *testing.F) {
	for _, s := range []string{
		"org.eclipse.ditto/fancy-thing/things/twin/commands/modify",
		"_/_/things/twin/search/subscribe",
		"_/_/things/search/errors",
		"ns/n/things/live/messages/a//b/",
		"/n/things/twin/acks",
		"ns/p/policies/announcements/subjectDeletion",
		"//",
		"a/b/c",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		t1, err := ParseTopic(s)
		if err != nil {
			if !HasCode(err, CodeUnknownTopicPath) {
				t.Fatalf("ParseTopic(%q) error %v is not %s", s, err, CodeUnknownTopicPath)
			}
			return
		}
		s1 := t1.String()
		t2, err := ParseTopic(s1)
		if err != nil {
			t.Fatalf("ParseTopic(String(ParseTopic(%q))) = ParseTopic(%q): %v", s, s1, err)
		}
		if t2 != t1 {
			t.Fatalf("reparse of %q got %+v, want %+v", s1, t2, t1)
		}
		if s2 := t2.String(); s2 != s1 {
			t.Fatalf("String not stable: %q then %q", s1, s2)
		}
	})
}
