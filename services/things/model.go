package things

import (
	"fmt"
	"net/url"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/etag"
)

// Fields of a thing document, in the order Ditto writes them.
var thingFieldOrder = []string{"thingId", "policyId", "definition", "attributes", "features"}

// normalizeThing checks a thing JSON object and returns it with the fields
// Ditto keeps, in Ditto's order. Unknown top-level fields are dropped, as
// Ditto's model does; "_"-fields of the create command are read by the
// caller before.
func normalizeThing(v jsonv.Value) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, protocol.ErrJSONInvalid(fmt.Sprintf("The thing must be a JSON object, not %s.", v.Kind()))
	}
	var out []jsonv.Member
	for _, key := range thingFieldOrder {
		f, ok := v.Get(key)
		if !ok {
			continue
		}
		var err error
		switch key {
		case "thingId":
			if _, ok := f.Str(); !ok {
				err = fieldType("thingId", "string", f)
			}
		case "policyId":
			s, ok := f.Str()
			if !ok {
				err = fieldType("policyId", "string", f)
			} else {
				err = protocol.ValidatePolicyID(s)
			}
		case "definition":
			err = checkThingDefinition(f)
		case "attributes":
			err = checkObjectKeys("attributes", f)
		case "features":
			f, err = normalizeFeatures(f)
		}
		if err != nil {
			return jsonv.Value{}, err
		}
		out = append(out, jsonv.Member{Key: key, Value: f})
	}
	return jsonv.Object(out...), nil
}

func fieldType(field, want string, got jsonv.Value) *protocol.Error {
	return protocol.ErrJSONNotOfType(clip(got.String()), field, want)
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:61] + "..."
	}
	return s
}

// checkThingDefinition accepts null or a definition identifier.
func checkThingDefinition(v jsonv.Value) error {
	if v.Kind() == jsonv.KindNull {
		return nil
	}
	s, ok := v.Str()
	if !ok {
		return fieldType("definition", "string", v)
	}
	if !validDefinition(s) {
		return protocol.ErrDefinitionIdentifierInvalid(s)
	}
	return nil
}

// validDefinition is Ditto's definition identifier: namespace:name:version
// of [_a-zA-Z0-9-.] characters each, or an http(s) URL.
func validDefinition(s string) bool {
	parts := 0
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == ':':
			if n == 0 {
				return validDefinitionURL(s)
			}
			parts++
			n = 0
		case c == '_' || c == '-' || c == '.' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9':
			n++
		default:
			return validDefinitionURL(s)
		}
	}
	if parts == 2 && n > 0 {
		return true
	}
	return validDefinitionURL(s)
}

func validDefinitionURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// checkObjectKeys requires an object whose keys, at every depth, are valid
// thing keys.
func checkObjectKeys(field string, v jsonv.Value) error {
	if v.Kind() != jsonv.KindObject {
		return fieldType(field, "JsonObject", v)
	}
	return checkKeys(v)
}

func checkKeys(v jsonv.Value) error {
	for _, m := range v.Members() {
		if !validKey(m.Key) {
			return protocol.ErrJSONKeyInvalid(m.Key)
		}
		if m.Value.Kind() == jsonv.KindObject {
			if err := checkKeys(m.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// normalizeFeatures checks a features object.
func normalizeFeatures(v jsonv.Value) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, fieldType("features", "JsonObject", v)
	}
	out := make([]jsonv.Member, 0, v.Len())
	for _, m := range v.Members() {
		if !validKey(m.Key) {
			return jsonv.Value{}, protocol.ErrJSONKeyInvalid(m.Key)
		}
		f, err := normalizeFeature(m.Value)
		if err != nil {
			return jsonv.Value{}, err
		}
		out = append(out, jsonv.Member{Key: m.Key, Value: f})
	}
	return jsonv.Object(out...), nil
}

var featureFieldOrder = []string{"definition", "properties", "desiredProperties"}

// normalizeFeature checks a feature object and keeps Ditto's fields in
// Ditto's order.
func normalizeFeature(v jsonv.Value) (jsonv.Value, error) {
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, fieldType("feature", "JsonObject", v)
	}
	var out []jsonv.Member
	for _, key := range featureFieldOrder {
		f, ok := v.Get(key)
		if !ok {
			continue
		}
		var err error
		switch key {
		case "definition":
			err = checkFeatureDefinition(f)
		default:
			err = checkObjectKeys(key, f)
		}
		if err != nil {
			return jsonv.Value{}, err
		}
		out = append(out, jsonv.Member{Key: key, Value: f})
	}
	return jsonv.Object(out...), nil
}

// checkFeatureDefinition requires a non-empty array of definition
// identifiers.
func checkFeatureDefinition(v jsonv.Value) error {
	if v.Kind() != jsonv.KindArray {
		return fieldType("definition", "JsonArray", v)
	}
	if v.Len() == 0 {
		return protocol.ErrFeatureDefinitionEmpty()
	}
	for _, e := range v.Elements() {
		s, ok := e.Str()
		if !ok {
			return fieldType("definition", "string", e)
		}
		if !validDefinition(s) {
			return protocol.ErrDefinitionIdentifierInvalid(s)
		}
	}
	return nil
}

// checkValue validates the value a modify command writes at a resource and
// returns it as it will be stored.
func checkValue(r resource, v jsonv.Value) (jsonv.Value, error) {
	switch r.kind {
	case kThing:
		return normalizeThing(v)
	case kPolicyID:
		s, ok := v.Str()
		if !ok {
			return jsonv.Value{}, fieldType("policyId", "string", v)
		}
		return v, protocol.ValidatePolicyID(s)
	case kDefinition:
		return v, checkThingDefinition(v)
	case kAttributes:
		return v, checkObjectKeys("attributes", v)
	case kFeatures:
		return normalizeFeatures(v)
	case kFeature:
		return normalizeFeature(v)
	case kFeatureDefinition:
		return v, checkFeatureDefinition(v)
	case kProperties, kDesiredProperties:
		return v, checkObjectKeys(r.path.Last(), v)
	case kAttribute, kProperty, kDesiredProperty:
		if v.Kind() == jsonv.KindObject {
			return v, checkKeys(v)
		}
		return v, nil
	}
	return v, nil
}

// tagOf renders the entity tag of a resource: "rev:N" for the thing,
// "hash:..." for a sub-resource, as Ditto does.
func tagOf(r resource, revision int64, v jsonv.Value) string {
	if r.kind == kThing {
		return etag.Revision(revision)
	}
	return etag.Value(v)
}

// jsonUnmarshalString reads a JSON string.
func jsonUnmarshalString(data []byte, s *string) error {
	v, err := jsonv.Parse(data)
	if err != nil {
		return err
	}
	str, ok := v.Str()
	if !ok {
		return fieldType("value", "string", v)
	}
	*s = str
	return nil
}
