package rql

import (
	"math"
	"testing"
	"time"

	"github.com/dittonats/dittonats/protocol"
)

func TestParseDecimal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   string
		ok   bool
		want decimal
	}{
		{"0", true, decimal{}},
		{"-0.000", true, decimal{}},
		{"42", true, decimal{digits: "42", exp: 2}},
		{"+42", true, decimal{digits: "42", exp: 2}},
		{"042.50", true, decimal{digits: "425", exp: 2}},
		{"-0.0012", true, decimal{neg: true, digits: "12", exp: -2}},
		{".5", true, decimal{digits: "5", exp: 0}},
		{"5.", true, decimal{digits: "5", exp: 1}},
		{"1e3", true, decimal{digits: "1", exp: 4}},
		{"1.5E-3", true, decimal{digits: "15", exp: -2}},
		{"1e+2", true, decimal{digits: "1", exp: 3}},
		{"1e999999999", true, decimal{digits: "1", exp: 1000000000}},
		{"", false, decimal{}},
		{".", false, decimal{}},
		{"-", false, decimal{}},
		{"1e", false, decimal{}},
		{"1e+", false, decimal{}},
		{"1e99999999999", false, decimal{}},
		{" 1", false, decimal{}},
		{"1 ", false, decimal{}},
		{"0x10", false, decimal{}},
		{"1_000", false, decimal{}},
		{"NaN", false, decimal{}},
		{"Infinity", false, decimal{}},
		{"1/2", false, decimal{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, ok := parseDecimal(tt.in)
			if ok != tt.ok || got != tt.want {
				t.Errorf("parseDecimal(%q): got %+v, %t, want %+v, %t", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestCmpDecimal(t *testing.T) {
	t.Parallel()
	tests := []struct {
		a, b string
		want int
	}{
		{"1", "1.0", 0},
		{"0", "-0.0", 0},
		{"1", "2", -1},
		{"10", "9", 1},
		{"0.5", "0.51", -1},
		{"0.6", "0.51", 1},
		{"-1", "1", -1},
		{"-10", "-9", -1},
		{"-0.5", "-0.51", 1},
		{"0", "0.0001", -1},
		{"-0.0001", "0", -1},
		{"1e400", "9223372036854775807", 1},
		{"123456789012345678901234567890", "123456789012345678901234567891", -1},
	}
	for _, tt := range tests {
		t.Run(tt.a+" vs "+tt.b, func(t *testing.T) {
			t.Parallel()
			a, _ := parseDecimal(tt.a)
			b, _ := parseDecimal(tt.b)
			if got := cmpDecimal(a, b); got != tt.want {
				t.Errorf("cmpDecimal(%s, %s): got %d, want %d", tt.a, tt.b, got, tt.want)
			}
			if got := cmpDecimal(b, a); got != -tt.want {
				t.Errorf("cmpDecimal(%s, %s): got %d, want %d", tt.b, tt.a, got, -tt.want)
			}
		})
	}
}

func TestCompareUTF16(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "abc", "abc", 0},
		{"prefix shorter first", "ab", "abc", -1},
		{"ascii", "abd", "abc", 1},
		{"supplementary below private use", "😀", "\uffff", -1},
		{"supplementary vs supplementary", "😀", "😁", -1},
		{"bmp", "ä", "z", 1},
		{"empty", "", "a", -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := compareUTF16(tt.a, tt.b); got != tt.want {
				t.Errorf("compareUTF16(%q, %q): got %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

func TestJavaDouble(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   float64
		want string
	}{
		{22.26, "22.26"},
		{-0.5, "-0.5"},
		{100, "100.0"},
		{0, "0.0"},
		{math.Copysign(0, -1), "-0.0"},
		{0.001, "0.001"},
		{0.0001, "1.0E-4"},
		{1e7, "1.0E7"},
		{1.5e20, "1.5E20"},
		{9999999.5, "9999999.5"},
		{math.Inf(1), "Infinity"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			if got := javaDouble(tt.in); got != tt.want {
				t.Errorf("javaDouble(%v): got %s, want %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestCompareOperands(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		obj, val operand
		want     int
		ok       bool
	}{
		{"null obj", operand{}, intOperand(1), 0, false},
		{"null val", intOperand(1), operand{}, 0, false},
		{"int vs float", intOperand(3), floatOperand(2.5), 1, true},
		{"float vs numeric string", floatOperand(0.1), stringOperand("0.1"), 0, true},
		{"numeric string vs int", stringOperand("1e1"), intOperand(10), 0, true},
		{"bool vs bool", boolOperand(false), boolOperand(true), -1, true},
		{"bool vs string", boolOperand(true), stringOperand("true"), 0, true},
		{"bool vs number", boolOperand(true), intOperand(1), 1, true},
		{"string vs string numeric", stringOperand("10"), stringOperand("9"), -1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := compare(tt.obj, tt.val)
			if got != tt.want || ok != tt.ok {
				t.Errorf("compare: got %d, %t, want %d, %t", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestResolvePlaceholder(t *testing.T) {
	t.Parallel()
	// A Wednesday, with sub-millisecond precision.
	at := time.Date(2024, 5, 8, 13, 45, 30, 123456789, time.UTC)
	tests := []struct {
		name string
		in   string
		want string
		ok   bool
	}{
		{"now", "time:now", "2024-05-08T13:45:30.123456789Z", true},
		{"millis", "time:now_epoch_millis", "1715175930123", true},
		{"minus hours", "time:now-2h", "2024-05-08T11:45:30.123456789Z", true},
		{"plus days", "time:now+1d", "2024-05-09T13:45:30.123456789Z", true},
		{"implicit seconds", "time:now-30", "2024-05-08T13:45:00.123456789Z", true},
		{"milliseconds", "time:now+877ms", "2024-05-08T13:45:31.000456789Z", true},
		{"truncate hour", "time:now[h]", "2024-05-08T13:00:00Z", true},
		{"truncate ms", "time:now[ms]", "2024-05-08T13:45:30.123Z", true},
		{"truncate day after shift", "time:now-1d[d]", "2024-05-07T00:00:00Z", true},
		{"truncate week", "time:now[w]", "2024-05-06T00:00:00Z", true},
		{"truncate month", "time:now[mo]", "2024-05-01T00:00:00Z", true},
		{"truncate year", "time:now[y]", "2024-01-01T00:00:00Z", true},
		{"millis shifted", "time:now_epoch_millis-1s", "1715175929123", true},
		// A month is 2629746s (30d 10h29m06s), as Ditto estimates it.
		{"month estimate", "time:now-1mo", "2024-04-08T03:16:24.123456789Z", true},
		{"negative amount", "time:now--1h", "", false},
		{"no sign", "time:now1h", "", false},
		{"unknown unit", "time:now-1x", "", false},
		{"unknown truncation", "time:now[x]", "", false},
		{"unclosed truncation", "time:now[h", "", false},
		{"unknown name", "time:later", "", false},
		{"overflow", "time:now+99999999999y", "", false},
		{"other prefix", "header:now", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, ok := resolvePlaceholder(tt.in, at)
			if got != tt.want || ok != tt.ok {
				t.Errorf("resolvePlaceholder(%q): got %q, %t, want %q, %t", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestFormatInstant(t *testing.T) {
	t.Parallel()
	tests := []struct {
		ns   int
		want string
	}{
		{0, "2024-05-08T13:45:30Z"},
		{120_000_000, "2024-05-08T13:45:30.120Z"},
		{123_400_000, "2024-05-08T13:45:30.123400Z"},
		{5, "2024-05-08T13:45:30.000000005Z"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			t.Parallel()
			at := time.Date(2024, 5, 8, 13, 45, 30, tt.ns, time.UTC)
			if got := protocol.FormatInstant(at); got != tt.want {
				t.Errorf("formatInstant: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestValueAccessors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		v     Value
		kind  ValueKind
		str   string
		i     int64
		f     float64
		b     bool
		isNil bool
		lit   string
	}{
		{"null", NullValue(), KindNull, "", 0, 0, false, true, "null"},
		{"zero is null", Value{}, KindNull, "", 0, 0, false, true, "null"},
		{"string", StringValue("x"), KindString, "x", 0, 0, false, false, `"x"`},
		{"int", IntValue(-3), KindInt, "", -3, -3, false, false, "-3"},
		{"float", FloatValue(2.75), KindFloat, "", 2, 2.75, false, false, "2.75"},
		{"bool", BoolValue(true), KindBool, "", 0, 0, true, false, "true"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v := tt.v
			if v.Kind() != tt.kind || v.Str() != tt.str || v.Int() != tt.i || v.Float() != tt.f ||
				v.Bool() != tt.b || v.IsNull() != tt.isNil || v.String() != tt.lit {
				t.Errorf("got kind %s str %q int %d float %v bool %t null %t literal %s, want %s %q %d %v %t %t %s",
					v.Kind(), v.Str(), v.Int(), v.Float(), v.Bool(), v.IsNull(), v.String(),
					tt.kind, tt.str, tt.i, tt.f, tt.b, tt.isNil, tt.lit)
			}
		})
	}
}
