package rql

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

func cmp(op CompareOp, prop string, vals ...Value) *Comparison {
	return &Comparison{Op: op, Property: prop, Values: vals}
}

func lg(op LogicalOp, children ...Node) *Logical {
	return &Logical{Op: op, Children: children}
}

func TestParseValid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		want Node
	}{
		{"eq int", `eq(attributes/count,123)`, cmp(Eq, "attributes/count", IntValue(123))},
		{"eq double quoted", `eq(thingId,"org.eclipse:thing")`, cmp(Eq, "thingId", StringValue("org.eclipse:thing"))},
		{"eq single quoted", `eq(thingId,'a"b')`, cmp(Eq, "thingId", StringValue(`a"b`))},
		{"escaped double quote", `eq(attributes/a,"te\"st")`, cmp(Eq, "attributes/a", StringValue(`te"st`))},
		{"escaped single quote", `eq(attributes/a,'te\'st')`, cmp(Eq, "attributes/a", StringValue(`te'st`))},
		{"escapes", `eq(attributes/a,"\\\/\b\f\n\r\t")`, cmp(Eq, "attributes/a", StringValue("\\/\b\f\n\r\t"))},
		{"unicode escape", `eq(attributes/a,"\u00e4\u20AC")`, cmp(Eq, "attributes/a", StringValue("ä€"))},
		{"surrogate pair escape", `eq(attributes/a,"\ud83d\ude00")`, cmp(Eq, "attributes/a", StringValue("😀"))},
		{"lone surrogate", `eq(attributes/a,"\ud83dx")`, cmp(Eq, "attributes/a", StringValue("\uFFFDx"))},
		{"special chars in string", `eq(attributes/complex,"!#$%&'()*+,/:;=?@[\\]{|} äaZ0")`,
			cmp(Eq, "attributes/complex", StringValue(`!#$%&'()*+,/:;=?@[\]{|} äaZ0`))},
		{"empty string", `eq(attributes/a,"")`, cmp(Eq, "attributes/a", StringValue(""))},
		{"ne", `ne(policyId,"p:1")`, cmp(Ne, "policyId", StringValue("p:1"))},
		{"gt", `gt(_revision,5)`, cmp(Gt, "_revision", IntValue(5))},
		{"ge", `ge(_modified,"2024-01-01T00:00:00Z")`, cmp(Ge, "_modified", StringValue("2024-01-01T00:00:00Z"))},
		{"lt", `lt(_created,time:now)`, cmp(Lt, "_created", Value{kind: KindPlaceholder, s: "time:now"})},
		{"le negative", `le(attributes/t,-40)`, cmp(Le, "attributes/t", IntValue(-40))},
		{"plus sign", `eq(attributes/t,+7)`, cmp(Eq, "attributes/t", IntValue(7))},
		{"zero", `eq(attributes/t,0)`, cmp(Eq, "attributes/t", IntValue(0))},
		{"plus zero", `eq(attributes/t,+0)`, cmp(Eq, "attributes/t", IntValue(0))},
		{"max int64", `eq(attributes/t,9223372036854775807)`, cmp(Eq, "attributes/t", IntValue(9223372036854775807))},
		{"min int64", `eq(attributes/t,-9223372036854775808)`, cmp(Eq, "attributes/t", IntValue(-9223372036854775808))},
		{"decimal", `eq(attributes/t,22.26)`, cmp(Eq, "attributes/t", FloatValue(22.26))},
		{"negative decimal", `eq(attributes/t,-0.7)`, cmp(Eq, "attributes/t", FloatValue(-0.7))},
		{"negative zero decimal", `eq(attributes/t,-0.0)`, cmp(Eq, "attributes/t", FloatValue(0))},
		{"true", `eq(attributes/on,true)`, cmp(Eq, "attributes/on", BoolValue(true))},
		{"false", `eq(attributes/on,false)`, cmp(Eq, "attributes/on", BoolValue(false))},
		{"null", `eq(attributes/on,null)`, cmp(Eq, "attributes/on", NullValue())},
		{"true as string", `eq(attributes/on,"true")`, cmp(Eq, "attributes/on", StringValue("true"))},
		{"like", `like(thingId,"org.eclipse*")`, cmp(Like, "thingId", StringValue("org.eclipse*"))},
		{"ilike", `ilike(attributes/name,'*LAMP?')`, cmp(ILike, "attributes/name", StringValue("*LAMP?"))},
		{"in mixed", `in(attributes/x,"test",1,true,null,2.5)`,
			cmp(In, "attributes/x", StringValue("test"), IntValue(1), BoolValue(true), NullValue(), FloatValue(2.5))},
		{"in single", `in(thingId,"a:b")`, cmp(In, "thingId", StringValue("a:b"))},
		{"exists feature", `exists(features/scanner)`, cmp(Exists, "features/scanner")},
		{"exists properties", `exists(features/scanner/properties)`, cmp(Exists, "features/scanner/properties")},
		{"exists desired properties", `exists(features/f/desiredProperties/)`, cmp(Exists, "features/f/desiredProperties/")},
		{"empty", `empty(attributes/tags)`, cmp(Empty, "attributes/tags")},
		{"and", `and(eq(attributes/a,1),eq(attributes/b,"x"))`,
			lg(And, cmp(Eq, "attributes/a", IntValue(1)), cmp(Eq, "attributes/b", StringValue("x")))},
		{"and single child", `and(eq(attributes/a,1))`, lg(And, cmp(Eq, "attributes/a", IntValue(1)))},
		{"or three", `or(exists(attributes/a),exists(attributes/b),exists(attributes/c))`,
			lg(Or, cmp(Exists, "attributes/a"), cmp(Exists, "attributes/b"), cmp(Exists, "attributes/c"))},
		{"not", `not(empty(attributes/tags))`, lg(Not, cmp(Empty, "attributes/tags"))},
		{"nested", `and(or(eq(attributes/a,1),ne(attributes/b,2)),not(like(thingId,"x*")))`,
			lg(And, lg(Or, cmp(Eq, "attributes/a", IntValue(1)), cmp(Ne, "attributes/b", IntValue(2))),
				lg(Not, cmp(Like, "thingId", StringValue("x*"))))},
		{"whitespace before expression", " \t\n eq(thingId,\"a:b\")", cmp(Eq, "thingId", StringValue("a:b"))},
		{"whitespace after literal", "eq(thingId,\"a:b\" \r\n)", cmp(Eq, "thingId", StringValue("a:b"))},
		{"whitespace after logical comma", `and(exists(attributes/a),   exists(attributes/b))`,
			lg(And, cmp(Exists, "attributes/a"), cmp(Exists, "attributes/b"))},
		{"whitespace after in values", `in(attributes/a,1 ,2 )`, cmp(In, "attributes/a", IntValue(1), IntValue(2))},
		{"leading slash", `eq(/attributes/a,1)`, cmp(Eq, "/attributes/a", IntValue(1))},
		{"space inside property", `eq(attributes/a b,1)`, cmp(Eq, "attributes/a b", IntValue(1))},
		{"paren in property", `eq(attributes/a(b,1)`, cmp(Eq, "attributes/a(b", IntValue(1))},
		{"escaped comma in property", `eq(attributes/a\u002cb,1)`, cmp(Eq, "attributes/a,b", IntValue(1))},
		{"escaped slash in property", `eq(attributes\/a,1)`, cmp(Eq, "attributes/a", IntValue(1))},
		{"feature property", `eq(features/f/properties/a/b,1)`, cmp(Eq, "features/f/properties/a/b", IntValue(1))},
		{"feature desired property", `eq(features/f/desiredProperties/a,1)`, cmp(Eq, "features/f/desiredProperties/a", IntValue(1))},
		{"feature definition", `like(features/*/definition,"ns:lamp:*")`, cmp(Like, "features/*/definition", StringValue("ns:lamp:*"))},
		{"metadata", `eq(_metadata/attributes/a/issuedBy,"x")`, cmp(Eq, "_metadata/attributes/a/issuedBy", StringValue("x"))},
		{"simple fields", `and(exists(thingId),exists(_namespace),exists(policyId),exists(_revision),exists(_created),exists(_modified),exists(definition),exists(_metadata))`,
			lg(And, cmp(Exists, "thingId"), cmp(Exists, "_namespace"), cmp(Exists, "policyId"), cmp(Exists, "_revision"),
				cmp(Exists, "_created"), cmp(Exists, "_modified"), cmp(Exists, "definition"), cmp(Exists, "_metadata"))},
		{"placeholder with range", `gt(_modified,time:now-1h[h])`, cmp(Gt, "_modified", Value{kind: KindPlaceholder, s: "time:now-1h[h]"})},
		{"placeholder unknown name parses", `eq(_modified,time:whenever)`, cmp(Eq, "_modified", Value{kind: KindPlaceholder, s: "time:whenever"})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): got error %v, want none", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Parse(%q):\n got %s\nwant %s", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		col  int // 1-based position the error reports
	}{
		{"empty input", ``, 1},
		{"only whitespace", `   `, 4},
		{"no operator", `(thingId,1)`, 1},
		{"unknown operator", `or(ASDF(thingId,1))`, 4},
		{"misspelled operator", `eaq(thingId,1)`, 1},
		{"uppercase operator", `EQ(thingId,1)`, 1},
		{"slash after operator", `eq/(thingId,1)`, 3},
		{"space before paren", `eq (thingId,1)`, 3},
		{"semicolon instead of comma", `eq(thingId;"a")`, 12},
		{"missing value", `eq(thingId,)`, 12},
		{"space before value", `eq(thingId, 1)`, 12},
		// Ditto allows white space after the comma between queries
		// (ws(',')), not after the comma between in() values.
		{"space after in comma", `in(thingId,"a", "b")`, 16},
		{"bare word value", `eq(thingId,test)`, 12},
		{"unknown placeholder prefix", `eq(thingId,foo:bar)`, 12},
		{"empty placeholder name", `eq(_modified,time:)`, 14},
		{"true prefix", `eq(attributes/a,trueish)`, 21},
		{"missing close", `eq(thingId,1`, 13},
		{"too many parens", `eq(thingId,"a"))`, 16},
		{"trailing whitespace", `eq(thingId,1) `, 14},
		{"trailing garbage", `eq(thingId,1)x`, 14},
		{"call after value", `eq(thingId,123())`, 15},
		{"decimal call after value", `eq(thingId,123.0())`, 17},
		{"comma with nothing after", `and(eq(thingId,1),)`, 19},
		{"comma with nothing before", `and(,eq(thingId,1))`, 5},
		{"junk after child", `and(eq(thingId,1)xx,eq(thingId,2))`, 18},
		{"space before logical comma", `and(eq(thingId,1) ,eq(thingId,2))`, 18},
		{"empty and", `and()`, 5},
		{"not with two children", `not(eq(thingId,1),eq(thingId,2))`, 18},
		{"in without values", `in(thingId)`, 11},
		{"exists with quotes", `exists("features/scanner")`, 8},
		{"exists with value", `exists(features/scanner,"test")`, 24},
		{"empty with quotes", `empty("attributes/tags")`, 7},
		{"minus zero", `eq(attributes/a,-0)`, 17},
		{"leading zero", `eq(attributes/a,0123)`, 18},
		{"negative leading zero", `eq(attributes/a,-0123)`, 17},
		{"leading zero decimal", `eq(attributes/a,012.7)`, 18},
		{"leading period", `eq(attributes/a,.7)`, 17},
		{"negative leading period", `eq(attributes/a,-.7)`, 18},
		{"only period", `eq(attributes/a,.)`, 17},
		{"two periods", `eq(attributes/a,12.7.8)`, 21},
		{"trailing period", `eq(attributes/a,127.)`, 20},
		{"exponent", `eq(attributes/a,1e5)`, 18},
		{"integer overflow", `eq(attributes/a,12356143287134097863590813406135981332472031847)`, 17},
		{"decimal overflow", `eq(attributes/a,1` + zeros(400) + `.0)`, 17},
		{"quote after string", `eq(attributes/a,"abc"")`, 22},
		{"unterminated string", `eq(attributes/a,"abc)`, 17},
		{"unterminated single quoted", `eq(attributes/a,'abc)`, 17},
		{"invalid escape", `eq(attributes/a,"a\x")`, 19},
		{"single quote escape in double quotes", `eq(attributes/a,"a\'")`, 19},
		{"double quote escape in single quotes", `eq(attributes/a,'a\"')`, 19},
		{"short unicode escape", `eq(attributes/a,"\u12")`, 18},
		{"bad escape in property", `eq(attributes/a\q,1)`, 16},
		{"unknown property", `eq(foo,1)`, 4},
		{"space inside property start", `eq( thingId,1)`, 4},
		{"attributes alone", `exists(attributes)`, 8},
		{"features alone", `exists(features)`, 8},
		{"feature in comparison", `eq(features/f,1)`, 4},
		{"feature properties in comparison", `eq(features/f/properties,1)`, 4},
		{"unknown feature child", `eq(features/f/foo,1)`, 4},
		{"empty property", `eq(,1)`, 4},
		{"consecutive slashes", `eq(attributes//a,1)`, 4},
		{"unknown property reported after syntax", `and(eq(foo,1),exists(attributes/a))`, 8},
		{"like with number", `like(attributes/a,123)`, 19},
		{"ilike with null", `ilike(attributes/a,null)`, 20},
		{"like with placeholder", `like(_modified,time:now)`, 16},
		{"multibyte position", `eq(attributes/ä,ü)`, 17},
		{"too deep", nested(MaxDepth + 1), MaxDepth*4 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			n, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q): got %s, want error", tt.in, n)
			}
			if !errors.Is(err, ErrInvalidExpression) {
				t.Errorf("Parse(%q): got error %v, want one matching ErrInvalidExpression", tt.in, err)
			}
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q): got error %T, want *SyntaxError", tt.in, err)
			}
			if se.Column != tt.col {
				t.Errorf("Parse(%q): got position %d (%s), want %d", tt.in, se.Column, se.Reason, tt.col)
			}
			wire := protocol.AsError(err)
			if wire == nil {
				t.Fatalf("Parse(%q): got no *protocol.Error in %v", tt.in, err)
			}
			if want := fmt.Sprintf("%s (at position %d)", se.Reason, se.Column); wire.Message != want {
				t.Errorf("Parse(%q): got message %q, want %q", tt.in, wire.Message, want)
			}
			if wire.Status != 400 {
				t.Errorf("Parse(%q): got status %d, want 400", tt.in, wire.Status)
			}
		})
	}
}

func zeros(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = '0'
	}
	return string(b)
}

// nested returns depth levels of not(...) around one comparison.
func nested(depth int) string {
	s := `exists(thingId)`
	for range depth {
		s = "not(" + s + ")"
	}
	return s
}

func TestParseMaxDepth(t *testing.T) {
	t.Parallel()
	// MaxDepth counts every operator, the comparison included.
	if _, err := Parse(nested(MaxDepth - 1)); err != nil {
		t.Errorf("Parse at depth %d: got error %v, want none", MaxDepth, err)
	}
	if _, err := Parse(nested(MaxDepth)); !errors.Is(err, ErrInvalidExpression) {
		t.Errorf("Parse at depth %d: got error %v, want ErrInvalidExpression", MaxDepth+1, err)
	}
}

func TestString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		node Node
		want string
	}{
		{"comparison", cmp(Eq, "thingId", StringValue("a:b")), `eq(thingId,"a:b")`},
		{"no values", cmp(Exists, "features/f"), `exists(features/f)`},
		{"in", cmp(In, "attributes/a", IntValue(1), FloatValue(2), FloatValue(-0.5), BoolValue(false), NullValue()),
			`in(attributes/a,1,2.0,-0.5,false,null)`},
		{"big decimal has no exponent", cmp(Eq, "attributes/a", FloatValue(1e21)), `eq(attributes/a,1000000000000000000000.0)`},
		{"small decimal has no exponent", cmp(Eq, "attributes/a", FloatValue(1e-7)), `eq(attributes/a,0.0000001)`},
		{"string escapes", cmp(Eq, "attributes/a", StringValue("q\"b\\n\n\x01\x7f'")), `eq(attributes/a,"q\"b\\n\n\u0001\u007f'")`},
		{"property escapes", cmp(Eq, `attributes/a,b)c"d\e`, IntValue(1)), `eq(attributes/a\u002cb\u0029c\"d\\e,1)`},
		{"placeholder", cmp(Lt, "_modified", Value{kind: KindPlaceholder, s: "time:now"}), `lt(_modified,time:now)`},
		{"logical", lg(And, lg(Not, cmp(Empty, "attributes/t")), lg(Or, cmp(Exists, "thingId"))),
			`and(not(empty(attributes/t)),or(exists(thingId)))`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.node.String(); got != tt.want {
				t.Errorf("String: got %s, want %s", got, tt.want)
			}
		})
	}
}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	inputs := []string{
		` and(eq(attributes/a,"x\ty" ),  or(ne(attributes/b,'it\'s'),in(thingId,"a:b" ,'c:d')),not(exists(features/f)))`,
		`eq(attributes/a\u002cb\u0029,1.50)`,
		`eq(attributes/a,"\ud83d\ude00 \u0000")`,
		`gt(features/*/properties/temp,-12.25)`,
		`le(_modified,time:now-1d[d] )`,
		`eq(attributes/n,-0.0)`,
		`eq(attributes/n,0.00000000000000000000000000001)`,
		`ilike(attributes/x\/y,"*a?b\\*")`,
	}
	for _, in := range inputs {
		t.Run(in, func(t *testing.T) {
			t.Parallel()
			n, err := Parse(in)
			if err != nil {
				t.Fatalf("Parse(%q): got error %v, want none", in, err)
			}
			checkRoundTrip(t, in, n)
		})
	}
}

func checkRoundTrip(t *testing.T, in string, n Node) {
	t.Helper()
	s := n.String()
	n2, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(String(Parse(%q))) = Parse(%q): got error %v, want none", in, s, err)
	}
	if !reflect.DeepEqual(n, n2) {
		t.Fatalf("round trip of %q via %q: got %s, want %s", in, s, n2, n)
	}
	if s2 := n2.String(); s2 != s {
		t.Fatalf("String not stable for %q: got %q, want %q", in, s2, s)
	}
}

func TestProperties(t *testing.T) {
	t.Parallel()
	n, err := Parse(`and(eq(attributes/a,1),or(exists(features/f),ne(attributes/a,2)),not(in(/thingId,"x")))`)
	if err != nil {
		t.Fatal(err)
	}
	got := Properties(n)
	want := []string{"attributes/a", "features/f", "/thingId"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Properties: got %q, want %q", got, want)
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`eq(thingId,"a:b")`,
		`and(or(eq(attributes/a,1),ne(attributes/b,2.5)),not(like(thingId,"x*")))`,
		`in(attributes/x,"test",1,true,null,-2.5)`,
		`exists(features/f/properties)`, `empty(attributes/tags)`,
		`gt(_modified,time:now-1h[h])`,
		`eq(attributes/a\u002cb,'it\'s \ud83d\ude00')`,
		` and(exists(thingId),  exists(policyId))`,
		`eq(attributes/a,-0)`, `eq(attributes/a,"\u12")`, nested(MaxDepth + 1),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		n, err := Parse(in)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || !errors.Is(err, ErrInvalidExpression) {
				t.Fatalf("Parse(%q): got %v, want a *SyntaxError matching ErrInvalidExpression", in, err)
			}
			if se.Column < 1 || se.Column > utf8.RuneCountInString(in)+1 {
				t.Fatalf("Parse(%q): got position %d, want within the input", in, se.Column)
			}
			return
		}
		checkRoundTrip(t, in, n)
	})
}

// ParseWith accepts the extra properties it is given, as written, and the
// evaluator looks them up as top-level members.
func TestParseWithExtraProperties(t *testing.T) {
	extra := func(p string) bool { return p == "topic:action" }
	n, err := ParseWith(`and(eq(topic:action,"modified"),gt(attributes/x,1))`, extra)
	if err != nil {
		t.Fatal(err)
	}
	thing := jsonv.MustParse(`{"topic:action":"modified","attributes":{"x":2}}`)
	if !Matches(n, thing) {
		t.Errorf("%v does not match %s", n, thing)
	}
	if Matches(n, jsonv.MustParse(`{"topic:action":"created","attributes":{"x":2}}`)) {
		t.Error("matches another action")
	}
	for _, s := range []string{`eq(topic:subject,"x")`, `eq(topic:action/x,"y")`} {
		if _, err := ParseWith(s, extra); err == nil || !strings.Contains(err.Error(), "Unknown property name") {
			t.Errorf("ParseWith(%q) = %v, want an unknown property", s, err)
		}
	}
	if _, err := Parse(`eq(topic:action,"modified")`); err == nil {
		t.Error("Parse accepts an extra property")
	}
}
