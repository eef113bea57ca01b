package protocol

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestValidateThingID(t *testing.T) {
	t.Parallel()
	// 254 ASCII chars and one rune outside the BMP (two UTF-16 units) make
	// 256 units; one more ASCII char makes 257 units but only 256 runes.
	astral := "😀"
	atLimit := "ns:" + strings.Repeat("a", 251) + astral
	tests := []struct {
		name  string
		id    string
		valid bool
	}{
		{"simple", "org.eclipse.ditto:fancy-thing", true},
		{"empty namespace", ":fancy-thing", true},
		{"name with colon", "ns:a:b", true},
		{"name with specials", "ns:a b%20?#&=+~@!$'()*,;[]", true},
		{"namespace parts", "a1_b-c2.d_e:n", true},
		{"name above Latin-1", "ns:Ā", true},
		{"name with CJK", "ns:事物", true},
		{"name outside BMP", "ns:" + astral, true},
		{"at length limit", atLimit, true},
		{"over length limit only in UTF-16", "ns:" + strings.Repeat("a", 252) + astral, false},
		{"over length limit", "ns:" + strings.Repeat("a", 254), false},
		{"no colon", "fancy-thing", false},
		{"empty", "", false},
		{"empty name", "ns:", false},
		{"only colon", ":", false},
		{"slash in name", "ns:a/b", false},
		{"control char", "ns:a\tb", false},
		{"DEL", "ns:a\x7fb", false},
		{"Latin-1 letter", "ns:café", false},
		{"NBSP", "ns:a\u00a0b", false},
		{"C1 control", "ns:a\u0085b", false},
		{"invalid UTF-8", "ns:a\xffb", false},
		{"namespace starts with digit", "1ns:n", false},
		{"namespace starts with dot", ".ns:n", false},
		{"namespace ends with dot", "ns.:n", false},
		{"namespace double dot", "a..b:n", false},
		{"namespace part starts with underscore", "a._b:n", false},
		{"namespace with space", "a b:n", false},
		{"namespace non-ASCII", "näm:n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidateThingID(tt.id)
			if tt.valid {
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			var wire *Error
			if !errors.As(err, &wire) {
				t.Fatalf("got %v, want *Error", err)
			}
			want := ErrThingIDInvalid(tt.id)
			if !reflect.DeepEqual(*wire, *want) {
				t.Errorf("got %+v, want %+v", wire, want)
			}
			perr := AsError(ValidatePolicyID(tt.id))
			if perr == nil || perr.Code != CodePolicyIDInvalid || perr.Message != "Policy ID '"+tt.id+"' is not valid!" {
				t.Errorf("ValidatePolicyID got %+v, want %s", perr, CodePolicyIDInvalid)
			}
		})
	}
}

func TestThingIDInvalidMatchesDitto(t *testing.T) {
	t.Parallel()
	err := AsError(ValidateThingID("invalid id"))
	if err == nil {
		t.Fatalf("got nil, want an error")
	}
	want := Error{
		Status:      400,
		Code:        "things:id.invalid",
		Message:     "Thing ID 'invalid id' is not valid!",
		Description: "It must conform to the namespaced entity ID notation (see Ditto documentation)",
		Href:        "https://www.eclipse.dev/ditto/basic-namespaces-and-names.html#namespaced-id",
	}
	if !reflect.DeepEqual(*err, want) {
		t.Errorf("got %+v, want %+v", *err, want)
	}
}

func TestValidateNamespace(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ns   string
		want bool
	}{
		{"", true}, {"a", true}, {"org.eclipse.ditto", true}, {"my-ns_1.x2", true}, {"A.B-C", true},
		{"1", false}, {"_a", false}, {"a.", false}, {"a-", false}, {"-a", false}, {"a.1", false},
		{"a/b", false}, {"a:b", false}, {"a b", false},
	}
	for _, tt := range tests {
		if got := ValidateNamespace(tt.ns); got != tt.want {
			t.Errorf("ValidateNamespace(%q) got %v, want %v", tt.ns, got, tt.want)
		}
	}
}

func TestSplitID(t *testing.T) {
	t.Parallel()
	tests := []struct{ id, ns, name string }{
		{"org.eclipse.ditto:fancy-thing", "org.eclipse.ditto", "fancy-thing"},
		{"ns:a:b", "ns", "a:b"},
		{":n", "", "n"},
		{"no-colon", "", "no-colon"},
	}
	for _, tt := range tests {
		ns, name := SplitID(tt.id)
		if ns != tt.ns || name != tt.name {
			t.Errorf("SplitID(%q) got %q, %q; want %q, %q", tt.id, ns, name, tt.ns, tt.name)
		}
	}
	if got := JoinID("ns", "a:b"); got != "ns:a:b" {
		t.Errorf("JoinID got %q, want ns:a:b", got)
	}
}

func TestUTF16Len(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		want int
	}{
		{"", 0}, {"abc", 3}, {"é", 1}, {"事", 1}, {"😀", 2}, {"a😀b", 4}, {"\xff", 1},
	}
	for _, tt := range tests {
		if got := utf16Len(tt.s); got != tt.want {
			t.Errorf("utf16Len(%q) got %d, want %d", tt.s, got, tt.want)
		}
	}
}

func BenchmarkValidateThingID(b *testing.B) {
	for b.Loop() {
		if err := ValidateThingID("org.eclipse.ditto:fancy-thing_53"); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzValidateThingID(f *testing.F) {
	for _, s := range []string{"org.eclipse.ditto:fancy-thing", ":n", "ns:a:b", "ns:café", "a..b:n", "ns:😀", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		err := ValidateThingID(id)
		if err != nil {
			if !HasCode(err, CodeThingIDInvalid) {
				t.Fatalf("ValidateThingID(%q) error %v is not %s", id, err, CodeThingIDInvalid)
			}
			return
		}
		ns, name := SplitID(id)
		if JoinID(ns, name) != id {
			t.Fatalf("JoinID(SplitID(%q)) got %q", id, JoinID(ns, name))
		}
		if !ValidateNamespace(ns) || !ValidEntityName(name) {
			t.Fatalf("valid id %q split into invalid parts %q, %q", id, ns, name)
		}
		if strings.Contains(ns, ":") || strings.Contains(name, "/") {
			t.Fatalf("valid id %q split into %q, %q", id, ns, name)
		}
		if utf16Len(id) > MaxEntityIDLength {
			t.Fatalf("valid id %q is %d UTF-16 units long", id, utf16Len(id))
		}
		// A valid thing id makes a topic that parses back to it.
		topic := NewTopic(id, GroupThings, ChannelTwin, CriterionCommands, ActionRetrieve)
		back, err := ParseTopic(topic.String())
		if err != nil {
			t.Fatalf("ParseTopic(%q) of valid id %q: %v", topic.String(), id, err)
		}
		if back.EntityID() != id {
			t.Fatalf("topic of %q gives back id %q", id, back.EntityID())
		}
	})
}
