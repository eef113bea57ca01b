package things

import (
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
)

// kind is the resource of a thing a command addresses.
type kind int

const (
	kThing kind = iota
	kPolicyID
	kDefinition
	kAttributes
	kAttribute
	kFeatures
	kFeature
	kFeatureDefinition
	kProperties
	kProperty
	kDesiredProperties
	kDesiredProperty
)

// resource is an addressed part of a thing.
type resource struct {
	kind kind
	// path is the resource's pointer within the thing document.
	path jsonv.Pointer
	// feature is the feature id for feature resources.
	feature string
	// sub is the attribute or property pointer (below attributes,
	// properties or desiredProperties).
	sub jsonv.Pointer
}

// parseResource maps a command path to the resource it addresses.
func parseResource(path string) (resource, error) {
	p, err := jsonv.ParsePointer(path)
	if err != nil {
		return resource{}, err
	}
	r := resource{path: p}
	switch {
	case len(p) == 0:
		r.kind = kThing
	case p[0] == "policyId" && len(p) == 1:
		r.kind = kPolicyID
	case p[0] == "definition" && len(p) == 1:
		r.kind = kDefinition
	case p[0] == "attributes":
		r.kind, r.sub = kAttributes, p[1:]
		if len(p) > 1 {
			r.kind = kAttribute
		}
	case p[0] == "features":
		if len(p) == 1 {
			r.kind = kFeatures
			break
		}
		r.feature = p[1]
		switch {
		case len(p) == 2:
			r.kind = kFeature
		case p[2] == "definition" && len(p) == 3:
			r.kind = kFeatureDefinition
		case p[2] == "properties":
			r.kind, r.sub = kProperties, p[3:]
			if len(p) > 3 {
				r.kind = kProperty
			}
		case p[2] == "desiredProperties":
			r.kind, r.sub = kDesiredProperties, p[3:]
			if len(p) > 3 {
				r.kind = kDesiredProperty
			}
		default:
			return resource{}, protocol.ErrPathUnknown(path)
		}
	default:
		return resource{}, protocol.ErrPathUnknown(path)
	}
	for _, seg := range append(jsonv.Pointer{r.feature}, r.sub...) {
		if seg != "" && !validKey(seg) {
			return resource{}, protocol.ErrJSONKeyInvalid(seg)
		}
	}
	return r, nil
}

// validKey applies Ditto's rule for keys inside a thing (attribute and
// property keys, feature ids): no control characters and no slash. The
// excluded range is that of entity names (\x00-\x1F, \x7F-\xFF).
func validKey(k string) bool {
	for _, r := range k {
		if controlChar(r) || r == '/' {
			return false
		}
	}
	return true
}

// controlChar reports the characters Ditto's NoControlCharactersValidator
// refuses (RegexPatterns.CONTROL_CHARS).
func controlChar(r rune) bool { return r <= 0x1F || (r >= 0x7F && r <= 0xFF) }

// featureExists reports whether the resource lies below a feature that must
// exist for the command to apply.
func (r resource) needsFeature() bool {
	switch r.kind {
	case kFeatureDefinition, kProperties, kProperty, kDesiredProperties, kDesiredProperty:
		return true
	}
	return false
}

// notAccessible is Ditto's 404 for a resource that does not exist or that
// the caller may not read.
func (r resource) notAccessible(thingID string) *protocol.Error {
	switch r.kind {
	case kPolicyID:
		return protocol.ErrThingPolicyIDNotAccessible(thingID)
	case kDefinition:
		return protocol.ErrThingDefinitionNotAccessible(thingID)
	case kAttributes:
		return protocol.ErrAttributesNotAccessible(thingID)
	case kAttribute:
		return protocol.ErrAttributeNotAccessible(thingID, r.sub.String())
	case kFeatures:
		return protocol.ErrFeaturesNotAccessible(thingID)
	case kFeature:
		return protocol.ErrFeatureNotAccessible(thingID, r.feature)
	case kFeatureDefinition:
		return protocol.ErrFeatureDefinitionNotAccessible(thingID, r.feature)
	case kProperties:
		return protocol.ErrFeaturePropertiesNotAccessible(thingID, r.feature)
	case kProperty:
		return protocol.ErrFeaturePropertyNotAccessible(thingID, r.feature, r.sub.String())
	case kDesiredProperties:
		return protocol.ErrFeatureDesiredPropertiesNotAccessible(thingID, r.feature)
	case kDesiredProperty:
		return protocol.ErrFeatureDesiredPropertyNotAccessible(thingID, r.feature, r.sub.String())
	}
	return protocol.ErrThingNotAccessible(thingID)
}

// notModifiable is Ditto's 403 for a resource the caller may read but not
// write (Ditto's ThingCommandToModifyExceptionRegistry).
func (r resource) notModifiable(thingID, action string) *protocol.Error {
	switch r.kind {
	case kThing:
		if action == protocol.ActionDelete {
			return protocol.ErrThingNotDeletable(thingID)
		}
		return protocol.ErrThingNotModifiable(thingID)
	case kPolicyID:
		return protocol.ErrThingPolicyIDNotModifiable(thingID)
	case kDefinition:
		return protocol.ErrThingDefinitionNotModifiable(thingID)
	case kAttributes:
		return protocol.ErrAttributesNotModifiable(thingID)
	case kAttribute:
		return protocol.ErrAttributeNotModifiable(thingID, r.sub.String())
	case kFeatures:
		return protocol.ErrFeaturesNotModifiable(thingID)
	case kFeature:
		return protocol.ErrFeatureNotModifiable(thingID, r.feature)
	case kFeatureDefinition:
		return protocol.ErrFeatureDefinitionNotModifiable(thingID, r.feature)
	case kProperties:
		return protocol.ErrFeaturePropertiesNotModifiable(thingID, r.feature)
	case kProperty:
		return protocol.ErrFeaturePropertyNotModifiable(thingID, r.feature, r.sub.String())
	case kDesiredProperties:
		return protocol.ErrFeatureDesiredPropertiesNotModifiable(thingID, r.feature)
	case kDesiredProperty:
		return protocol.ErrFeatureDesiredPropertyNotModifiable(thingID, r.feature, r.sub.String())
	}
	return protocol.ErrThingNotModifiable(thingID)
}

// specialField reports whether a field selector segment names a computed
// field (Ditto's "_" fields) rather than stored data.
func specialField(key string) bool { return strings.HasPrefix(key, "_") }
