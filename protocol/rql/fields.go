package rql

import (
	"strings"
)

// fieldUse says where a property appears; Ditto accepts different feature
// paths in each place (ThingsFieldExpressionFactoryImpl).
type fieldUse uint8

const (
	useFilter fieldUse = iota // eq, ne, gt, ..., in: a value inside a thing
	useExists                 // exists, empty: also whole features and property objects
	useSort                   // sort(...): only values
)

// simpleFields are the top-level thing fields a property may name directly
// (ModelBasedThingsFieldExpressionFactory).
var simpleFields = map[string]bool{
	"thingId":    true,
	"_namespace": true,
	"policyId":   true,
	"_revision":  true,
	"_created":   true,
	"_modified":  true,
	"definition": true,
	"_metadata":  true,
}

// checkField validates a property against the thing model and returns the
// reason it is invalid, or "" when it is fine.
func checkField(property string, use fieldUse) string {
	p := strings.TrimPrefix(property, "/")
	if strings.Contains(p, "//") {
		return "Consecutive slashes in JSON pointers are not supported: " + property
	}
	if kind, ok := featureField(p); ok {
		switch kind {
		case featureValue:
			return ""
		case featureDefinition:
			if use != useSort {
				return ""
			}
		default:
			if use == useExists {
				return ""
			}
		}
	}
	if strings.HasPrefix(p, "attributes/") || strings.HasPrefix(p, "_metadata/") || simpleFields[p] {
		return ""
	}
	return "Unknown property name: " + p
}

type featureKind uint8

const (
	featureWhole      featureKind = iota // features/<id>
	featureObject                        // features/<id>/properties or desiredProperties
	featureDefinition                    // features/<id>/definition
	featureValue                         // features/<id>/properties/<path> or desiredProperties/<path>
)

// featureField classifies p (without leading slash) if it is one of the
// feature paths Ditto knows; anything else under features/ is unknown.
func featureField(p string) (featureKind, bool) {
	rest, ok := strings.CutPrefix(p, "features/")
	if !ok {
		return 0, false
	}
	id, tail, more := strings.Cut(rest, "/")
	if id == "" {
		return 0, false
	}
	if !more {
		return featureWhole, true
	}
	for _, obj := range []string{"properties", "desiredProperties"} {
		if sub, ok := strings.CutPrefix(tail, obj+"/"); ok && sub != "" {
			return featureValue, true
		}
		if tail == obj || tail == obj+"/" {
			return featureObject, true
		}
	}
	if tail == "definition" || tail == "definition/" {
		return featureDefinition, true
	}
	return 0, false
}

// pointerKeys splits a property into the JSON keys it addresses from the
// thing root, the way Ditto's JsonPointer does: the leading slash is
// optional, empty segments are dropped and "~0" stands for "~" (Ditto does
// not decode "~1").
func pointerKeys(property string) []string {
	parts := strings.Split(property, "/")
	keys := parts[:0]
	for _, k := range parts {
		if k == "" {
			continue
		}
		keys = append(keys, strings.ReplaceAll(k, "~0", "~"))
	}
	return keys
}
