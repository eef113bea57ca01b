package dittoconf

import (
	"encoding"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// Decode stores the value at path into v, a non-nil pointer, the way
// Typesafe Config reads typed values: strings, numbers and booleans
// convert into each other where the text allows (-D properties are all
// strings), a time.Duration is read with ParseDuration ("15m"), an object
// whose keys are indexes fills a slice, and a struct's fields are matched
// by their json tag name, else by their name as kebab-case
// (ScrapeInterval: scrape-interval) or in any case; keys without a field
// are ignored. A value implementing encoding.TextUnmarshaler gets the
// text of a scalar, a json.Unmarshaler the JSON of the value.
//
// It reports false with a nil error when path is not set, so that a
// service can keep its defaults:
//
//	var m metricsConfig
//	if _, err := tree.Decode("ditto.search.operator-metrics", &m); err != nil { ... }
func (t *Tree) Decode(path string, v any) (bool, error) {
	segs, err := ParsePath(path)
	if err != nil {
		return false, err
	}
	val, ok := t.lookup(segs)
	if !ok {
		return false, nil
	}
	return true, DecodeValue(path, val, v)
}

// DecodeValue stores a tree value into v, a non-nil pointer, as Decode
// does; path names the value in errors.
func DecodeValue(path string, val any, v any) error {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return fmt.Errorf("decode %s: need a non-nil pointer, got %T", path, v)
	}
	return decode(path, val, rv.Elem())
}

var (
	durationType  = reflect.TypeFor[time.Duration]()
	textUnmarshal = reflect.TypeFor[encoding.TextUnmarshaler]()
	jsonUnmarshal = reflect.TypeFor[json.Unmarshaler]()
)

func decode(path string, val any, rv reflect.Value) error {
	fail := func(want string) error {
		return fmt.Errorf("%s: %s %s is not %s", path, kindName(val), shortText(val), want)
	}
	if rv.Kind() == reflect.Pointer {
		if val == nil {
			rv.Set(reflect.Zero(rv.Type()))
			return nil
		}
		if rv.IsNil() {
			rv.Set(reflect.New(rv.Type().Elem()))
		}
		return decode(path, val, rv.Elem())
	}
	if rv.CanAddr() {
		p := rv.Addr()
		if p.Type().Implements(jsonUnmarshal) {
			b, err := marshal(val)
			if err == nil {
				err = p.Interface().(json.Unmarshaler).UnmarshalJSON(b)
			}
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		}
		if p.Type().Implements(textUnmarshal) {
			if _, isObj := val.(map[string]any); isObj {
				return fail("text")
			}
			if _, isArr := val.([]any); isArr {
				return fail("text")
			}
			if err := p.Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(Text(val))); err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			return nil
		}
	}
	if rv.Type() == durationType {
		switch x := val.(type) {
		case string:
			d, err := ParseDuration(x)
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			rv.SetInt(int64(d))
			return nil
		case json.Number:
			d, err := ParseDuration(x.String()) // milliseconds
			if err != nil {
				return fmt.Errorf("%s: %w", path, err)
			}
			rv.SetInt(int64(d))
			return nil
		}
		return fail("a duration")
	}
	switch rv.Kind() {
	case reflect.Interface:
		if rv.NumMethod() != 0 {
			return fmt.Errorf("%s: cannot decode into %s", path, rv.Type())
		}
		if val == nil {
			rv.Set(reflect.Zero(rv.Type()))
		} else {
			rv.Set(reflect.ValueOf(clone(val)))
		}
		return nil
	case reflect.String:
		switch val.(type) {
		case string, json.Number, bool:
			rv.SetString(Text(val))
			return nil
		}
		return fail("a string")
	case reflect.Bool:
		switch x := val.(type) {
		case bool:
			rv.SetBool(x)
			return nil
		case string:
			switch strings.ToLower(x) {
			case "true", "yes", "on":
				rv.SetBool(true)
				return nil
			case "false", "no", "off":
				rv.SetBool(false)
				return nil
			}
		}
		return fail("a boolean")
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, err := strconv.ParseInt(scalarText(val), 10, rv.Type().Bits())
		if err != nil {
			return fail("an integer of " + rv.Type().String())
		}
		rv.SetInt(n)
		return nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, err := strconv.ParseUint(scalarText(val), 10, rv.Type().Bits())
		if err != nil {
			return fail("an integer of " + rv.Type().String())
		}
		rv.SetUint(n)
		return nil
	case reflect.Float32, reflect.Float64:
		f, err := strconv.ParseFloat(scalarText(val), rv.Type().Bits())
		if err != nil {
			return fail("a number")
		}
		rv.SetFloat(f)
		return nil
	case reflect.Slice:
		arr, ok := val.([]any)
		if m, isObj := val.(map[string]any); isObj {
			arr, ok = arrayOf(m)
			if len(m) == 0 {
				arr, ok = []any{}, true
			}
		}
		if !ok {
			return fail("an array")
		}
		out := reflect.MakeSlice(rv.Type(), len(arr), len(arr))
		for i, e := range arr {
			if err := decode(path+"."+strconv.Itoa(i), e, out.Index(i)); err != nil {
				return err
			}
		}
		rv.Set(out)
		return nil
	case reflect.Map:
		m, ok := val.(map[string]any)
		if !ok || rv.Type().Key().Kind() != reflect.String {
			return fail("an object")
		}
		out := reflect.MakeMapWithSize(rv.Type(), len(m))
		for k, e := range m {
			ev := reflect.New(rv.Type().Elem()).Elem()
			if err := decode(JoinPath(path, k), e, ev); err != nil {
				return err
			}
			out.SetMapIndex(reflect.ValueOf(k).Convert(rv.Type().Key()), ev)
		}
		rv.Set(out)
		return nil
	case reflect.Struct:
		m, ok := val.(map[string]any)
		if !ok {
			return fail("an object")
		}
		return decodeStruct(path, m, rv)
	}
	return fmt.Errorf("%s: cannot decode into %s", path, rv.Type())
}

// decodeStruct fills the exported fields of rv from m.
func decodeStruct(path string, m map[string]any, rv reflect.Value) error {
	t := rv.Type()
	for i := range t.NumField() {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "-" {
			continue
		}
		if f.Anonymous && name == "" && f.Type.Kind() == reflect.Struct {
			if err := decodeStruct(path, m, rv.Field(i)); err != nil {
				return err
			}
			continue
		}
		key, ok := fieldKey(m, f, name)
		if !ok {
			continue
		}
		if err := decode(path+"."+key, m[key], rv.Field(i)); err != nil {
			return err
		}
	}
	return nil
}

// fieldKey finds the key of m that fills field f.
func fieldKey(m map[string]any, f reflect.StructField, tag string) (string, bool) {
	if tag != "" {
		_, ok := m[tag]
		return tag, ok
	}
	if _, ok := m[kebab(f.Name)]; ok {
		return kebab(f.Name), true
	}
	for k := range m {
		if strings.EqualFold(k, f.Name) || strings.EqualFold(strings.ReplaceAll(k, "-", ""), f.Name) {
			return k, true
		}
	}
	return "", false
}

// kebab writes a Go name in kebab-case: ScrapeInterval is scrape-interval,
// HTTPPort http-port.
func kebab(name string) string {
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		upper := r >= 'A' && r <= 'Z'
		if upper && i > 0 {
			prevLower := rs[i-1] >= 'a' && rs[i-1] <= 'z' || rs[i-1] >= '0' && rs[i-1] <= '9'
			nextLower := i+1 < len(rs) && rs[i+1] >= 'a' && rs[i+1] <= 'z'
			if prevLower || nextLower && rs[i-1] >= 'A' && rs[i-1] <= 'Z' {
				b.WriteByte('-')
			}
		}
		if upper {
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// scalarText is the text of a number, or of a string that may hold one.
func scalarText(v any) string {
	switch v := v.(type) {
	case json.Number:
		return v.String()
	case string:
		return strings.TrimSpace(v)
	}
	return "\x00" // not a number
}

// shortText quotes a value for an error message, cut to a readable
// length.
func shortText(v any) string {
	s := Text(v)
	if len(s) > 40 {
		s = s[:37] + "..."
	}
	return strconv.Quote(s)
}
