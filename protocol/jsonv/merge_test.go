package jsonv

import (
	"strings"
	"testing"
)

func TestMergePatch(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                  string
		target, patch, result string
	}{
		// RFC 7396 appendix A, in order.
		{"rfc replace member", `{"a":"b"}`, `{"a":"c"}`, `{"a":"c"}`},
		{"rfc add member", `{"a":"b"}`, `{"b":"c"}`, `{"a":"b","b":"c"}`},
		{"rfc delete member", `{"a":"b"}`, `{"a":null}`, `{}`},
		{"rfc delete one of two", `{"a":"b","b":"c"}`, `{"a":null}`, `{"b":"c"}`},
		{"rfc array replaced by string", `{"a":["b"]}`, `{"a":"c"}`, `{"a":"c"}`},
		{"rfc string replaced by array", `{"a":"c"}`, `{"a":["b"]}`, `{"a":["b"]}`},
		{"rfc nested", `{"a":{"b":"c"}}`, `{"a":{"b":"d","c":null}}`, `{"a":{"b":"d"}}`},
		{"rfc arrays not merged", `{"a":[{"b":"c"}]}`, `{"a":[1]}`, `{"a":[1]}`},
		{"rfc array patch replaces array", `["a","b"]`, `["c","d"]`, `["c","d"]`},
		{"rfc array patch replaces object", `{"a":"b"}`, `["c"]`, `["c"]`},
		{"rfc null patch replaces", `{"a":"foo"}`, `null`, `null`},
		{"rfc string patch replaces", `{"a":"foo"}`, `"bar"`, `"bar"`},
		{"rfc null in target kept", `{"e":null}`, `{"a":1}`, `{"e":null,"a":1}`},
		{"rfc object patch on array", `[1,2]`, `{"a":"b","c":null}`, `{"a":"b"}`},
		{"rfc nulls stripped at depth", `{}`, `{"a":{"bb":{"ccc":null}}}`, `{"a":{"bb":{}}}`},
		// Ordering and other edges.
		{"existing keys keep position", `{"a":1,"b":2,"c":3}`, `{"c":30,"a":10}`, `{"a":10,"b":2,"c":30}`},
		{"new keys in patch order", `{"a":1}`, `{"z":1,"b":2}`, `{"a":1,"z":1,"b":2}`},
		{"delete and add", `{"a":1,"b":2}`, `{"a":null,"c":3}`, `{"b":2,"c":3}`},
		{"delete missing key", `{"a":1}`, `{"x":null}`, `{"a":1}`},
		{"empty patch", `{"a":1}`, `{}`, `{"a":1}`},
		{"object patch on null", `null`, `{"a":{"b":null,"c":1}}`, `{"a":{"c":1}}`},
		{"object patch on number", `5`, `{"a":1}`, `{"a":1}`},
		{"object replaces scalar member", `{"a":1}`, `{"a":{"b":2}}`, `{"a":{"b":2}}`},
		{"nested null deletes nested", `{"a":{"b":1,"c":2}}`, `{"a":{"b":null}}`, `{"a":{"c":2}}`},
		{"array of objects with nulls kept", `{}`, `{"a":[{"b":null}]}`, `{"a":[{"b":null}]}`},
		{"thing update", `{"thingId":"ns:t","features":{"t":{"properties":{"v":1,"u":"C"}}}}`,
			`{"features":{"t":{"properties":{"v":2}}}}`, `{"thingId":"ns:t","features":{"t":{"properties":{"v":2,"u":"C"}}}}`},
		// Ditto's regex deletion extension.
		{"regex deletes matching keys", `{"2022-01":1,"2022-02":2,"2023-01":3}`, `{"{{ ~2022-.*~ }}":null,"2023-03":4}`,
			`{"2023-01":3,"2023-03":4}`},
		{"regex with slashes", `{"a1":1,"a2":2,"b":3}`, `{"{{ /a\\d/ }}":null}`, `{"b":3}`},
		{"regex without spaces", `{"a1":1,"b":3}`, `{"{{~a.~}}":null}`, `{"b":3}`},
		{"regex must match whole key", `{"xa1":1,"a1x":2,"a1":3}`, `{"{{ ~a1~ }}":null}`, `{"xa1":1,"a1x":2}`},
		{"regex then re-add", `{"f1":1,"f2":2,"g":0}`, `{"{{ ~f.*~ }}":null,"f1":10}`, `{"g":0,"f1":10}`},
		{"regex in nested object", `{"p":{"x1":1,"y":2},"x2":3}`, `{"p":{"{{ ~x.~ }}":null}}`, `{"p":{"y":2},"x2":3}`},
		{"regex key with value is ordinary", `{"a":1}`, `{"{{ ~a~ }}":1}`, `{"a":1,"{{ ~a~ }}":1}`},
		{"invalid regex is ordinary key", `{"a(":1,"{{ ~a(~ }}":2}`, `{"{{ ~a(~ }}":null}`, `{"a(":1}`},
		{"placeholder is not a regex", `{"a":1,"{{ a }}":2}`, `{"{{ a }}":null}`, `{"a":1}`},
		{"lone tilde is not a regex", `{"a":1}`, `{"{{ ~ }}":null}`, `{"a":1}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target, patch := MustParse(tt.target), MustParse(tt.patch)
			got := MergePatch(target, patch)
			if got.String() != tt.result {
				t.Errorf("MergePatch(%s, %s): got %s, want %s", tt.target, tt.patch, got, tt.result)
			}
			if target.String() != tt.target {
				t.Errorf("target changed: got %s, want %s", target, tt.target)
			}
			if patch.String() != tt.patch {
				t.Errorf("patch changed: got %s, want %s", patch, tt.patch)
			}
			if again := MergePatch(got, patch); !again.Equal(got) {
				t.Errorf("applying twice: got %s, want %s", again, got)
			}
		})
	}
}

func TestMergePatchLargeObjects(t *testing.T) {
	t.Parallel()
	// Past linearLimit members the lookups use maps; the result must not change.
	n := 3 * linearLimit
	var tm, pm []string
	for i := range n {
		tm = append(tm, `"k`+itoa(i)+`":`+itoa(i))
		switch i % 3 {
		case 0:
			pm = append(pm, `"k`+itoa(i)+`":null`)
		case 1:
			pm = append(pm, `"k`+itoa(i)+`":"p"`)
		}
		if i%10 == 0 {
			pm = append(pm, `"new`+itoa(i)+`":true`)
		}
	}
	target := MustParse("{" + strings.Join(tm, ",") + "}")
	got := MergePatch(target, MustParse("{"+strings.Join(pm, ",")+"}"))
	var want []Member
	for i := range n {
		switch i % 3 {
		case 1:
			want = append(want, Member{"k" + itoa(i), String("p")})
		case 2:
			want = append(want, Member{"k" + itoa(i), Int(int64(i))})
		}
	}
	for i := 0; i < n; i += 10 {
		want = append(want, Member{"new" + itoa(i), Bool(true)})
	}
	if w := Object(want...); got.String() != w.String() {
		t.Errorf("got %s, want %s", got, w)
	}
}
