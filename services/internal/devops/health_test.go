package devops

import (
	"encoding/json"
	"testing"
)

func TestStatusMerge(t *testing.T) {
	t.Parallel()
	up, down, unknown := StatusUp, StatusDown, StatusUnknown
	for _, c := range []struct{ a, b, want Status }{
		{up, up, up}, {up, unknown, up}, {unknown, up, up}, {unknown, unknown, unknown},
		{up, down, down}, {down, up, down}, {unknown, down, down}, {down, unknown, down}, {down, down, down},
	} {
		if got := c.a.Merge(c.b); got != c.want {
			t.Errorf("%s merged with %s: got %s, want %s", c.a, c.b, got, c.want)
		}
	}
}

// Composite statuses and details as Ditto's StatusInfo.composite writes
// them.
func TestComposite(t *testing.T) {
	t.Parallel()
	up := func(label string) StatusInfo { return StatusInfo{Label: label, Status: StatusUp} }
	for _, c := range []struct {
		name     string
		children []StatusInfo
		want     string
	}{
		{"no children is UP", nil, `{"label":"x","status":"UP"}`},
		{"all up", []StatusInfo{up("a"), up("b")},
			`{"label":"x","status":"UP","children":[{"label":"a","status":"UP"},{"label":"b","status":"UP"}]}`},
		{"unknown alone stays unknown", []StatusInfo{{Status: StatusUnknown}},
			`{"label":"x","status":"UNKNOWN","children":[{"status":"UNKNOWN"}]}`},
		{"one error makes it DOWN and is named", []StatusInfo{up("a"), FromDetail("b", LevelError, "broken")},
			`{"label":"x","status":"DOWN","details":[{"ERROR":"See detailed messages for: b."}],` +
				`"children":[{"label":"a","status":"UP"},{"label":"b","status":"DOWN","details":[{"ERROR":"broken"}]}]}`},
		{"warnings stay UP; ERROR before WARN; unlabelled by index; INFO not named",
			[]StatusInfo{FromDetail("", LevelWarn, "slow"), FromDetail("i", LevelInfo, "fine"), FromDetail("e", LevelError, 1), FromDetail("w", LevelWarn, "slow")},
			`{"label":"x","status":"DOWN","details":[{"ERROR":"See detailed messages for: e."},{"WARN":"See detailed messages for: [0], w."}],` +
				`"children":[{"status":"UP","details":[{"WARN":"slow"}]},{"label":"i","status":"UP","details":[{"INFO":"fine"}]},` +
				`{"label":"e","status":"DOWN","details":[{"ERROR":1}]},{"label":"w","status":"UP","details":[{"WARN":"slow"}]}]}`},
	} {
		b, err := json.Marshal(Composite("x", c.children))
		if err != nil {
			t.Fatal(err)
		}
		if string(b) != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, b, c.want)
		}
	}
}

func TestDetailJSON(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in  string
		ok  bool
		out Level
	}{
		{`{"INFO":{"state":"RUNNING"}}`, true, LevelInfo},
		{`{"ERROR":"x"}`, true, LevelError},
		{`{"WARN":null}`, true, LevelWarn},
		{`{"DEBUG":"x"}`, false, ""},
		{`{"INFO":"a","WARN":"b"}`, false, ""},
		{`{}`, false, ""},
		{`"INFO"`, false, ""},
	} {
		var d Detail
		err := json.Unmarshal([]byte(c.in), &d)
		if (err == nil) != c.ok || d.Level != c.out {
			t.Errorf("%s: level %q, err %v; want level %q, ok %v", c.in, d.Level, err, c.out, c.ok)
			continue
		}
		if c.ok {
			if b, _ := json.Marshal(d); !jsonEqual(string(b), c.in) {
				t.Errorf("%s written back as %s", c.in, b)
			}
		}
	}
}

func FuzzStatusInfo(f *testing.F) {
	for _, s := range []string{`{"status":"UP"}`, `{"label":"a","status":"DOWN","details":[{"ERROR":"x"}],"children":[{"status":"UP"}]}`, `{"details":[{}]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var info StatusInfo
		if json.Unmarshal([]byte(s), &info) != nil {
			return
		}
		b, err := json.Marshal(info)
		if err != nil {
			t.Fatalf("%s read, then not written: %v", s, err)
		}
		var again StatusInfo
		if err := json.Unmarshal(b, &again); err != nil {
			t.Fatalf("%s written as %s, which does not read back: %v", s, b, err)
		}
	})
}
