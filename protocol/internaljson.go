package protocol

import (
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/dittonats/dittonats/protocol/internal/jsonsyntax"
)

// Type prefixes of Ditto's thing and policy commands and their responses.
const (
	InternalThingCommandPrefix   = "things.commands:"
	InternalThingResponsePrefix  = "things.responses:"
	InternalPolicyCommandPrefix  = "policies.commands:"
	InternalPolicyResponsePrefix = "policies.responses:"
)

// CodeJSONTypeNotParsable is the code of ErrJSONTypeNotParsable.
const CodeJSONTypeNotParsable = "json.type.notparsable"

const (
	internalRetrieveThingsName     = "retrieveThings"
	descConsecutiveSlashesInPtr    = "Consecutive slashes in JSON pointers are not supported."
	reasonLabelNoSlashesOrControls = "Neither slashes nor any control characters are allowed."
)

// ErrJSONTypeNotParsable is Ditto's JsonTypeNotParsableException: a JSON
// "type" its command registry does not know.
func ErrJSONTypeNotParsable(typ string) *Error {
	return NewError(http.StatusBadRequest, CodeJSONTypeNotParsable,
		fmt.Sprintf("The JSON type '%s' is not supported by registry 'GlobalCommandRegistry'.", typ),
		"Check if you sent the JSON with the correct type.")
}

// InternalCommand is a thing or policy command read from Ditto's internal
// JSON: what the commands' static fromJson methods read and what piggyback
// commands carry ({"type":"things.commands:retrieveThing","thingId":...}),
// not the Ditto Protocol. ParseInternalCommand maps such a command onto the
// Envelope the services execute; Response maps the services' reply onto
// the internal JSON of the command's response, as the response's toJson
// writes it.
type InternalCommand struct {
	// Type is the command's type, e.g. "things.commands:modifyAttribute".
	Type string
	// Group is GroupThings or GroupPolicies.
	Group string
	// EntityID is the thing or policy the command addresses; empty for
	// things.commands:retrieveThings, which addresses ThingIDs.
	EntityID string
	// ThingIDs are the things retrieveThings retrieves, in order; each is
	// retrieved with RetrieveThingEnvelope.
	ThingIDs []string
	// Envelope is the command as Ditto Protocol message, carrying the
	// headers it was parsed with. For retrieveThings it is Ditto's
	// protocol form of that command ("_/_/things/twin/commands/retrieve"
	// with the ids as value), which no service executes.
	Envelope Envelope

	name      string
	spec      *internalSpec
	echo      []internalMember // response members before the value
	namespace string           // retrieveThings' namespace, "" when none
}

// internalMember is a member of a response object: its name and its JSON.
type internalMember struct {
	name string
	json []byte
}

// InternalCommandGroup returns the group (GroupThings or GroupPolicies) of
// a thing or policy command type ParseInternalCommand reads, "" for any
// other type.
func InternalCommandGroup(typ string) string {
	if name, ok := strings.CutPrefix(typ, InternalThingCommandPrefix); ok {
		if _, known := thingSpecs[name]; known {
			return GroupThings
		}
	}
	if name, ok := strings.CutPrefix(typ, InternalPolicyCommandPrefix); ok {
		if _, known := policySpecs[name]; known {
			return GroupPolicies
		}
	}
	return ""
}

// valueKind is the JSON type a command field must have.
type valueKind uint8

const (
	kindAny    valueKind = iota // any JSON value, null included
	kindObject                  // an object, or null
	kindArray                   // an array, or null
	kindString                  // a string; null is absent
)

// javaType names a kind as Ditto's type errors do.
func (k valueKind) javaType() string {
	switch k {
	case kindObject:
		return "JsonObject"
	case kindArray:
		return "JsonArray"
	case kindString:
		return "String"
	}
	return "JsonValue"
}

// paramKind says how a command field that names a part of the entity is
// checked and put into the path.
type paramKind uint8

const (
	// paramKey is a key: a feature id (no slash, no control character).
	paramKey paramKind = iota
	// paramLabel is a policy entry label (no slash, no control character).
	paramLabel
	// paramAttribute and paramPointer are JSON pointers to an attribute
	// resp. a (desired) property: not the root, no consecutive slashes.
	paramAttribute
	paramPointer
	// paramSubject and paramResource are a subject id resp. a resource
	// key: non-empty strings that take the rest of the path.
	paramSubject
	paramResource
	// paramPolicyID is an imported policy's id.
	paramPolicyID
)

// pathPart is a literal path segment or a command field that names a part
// of the entity.
type pathPart struct {
	lit   string
	field string
	kind  paramKind
}

func pathLit(s string) pathPart                    { return pathPart{lit: s} }
func pathParam(field string, k paramKind) pathPart { return pathPart{field: field, kind: k} }

// respKind says when a response carries the reply's value.
type respKind uint8

const (
	respNone    respKind = iota // never
	respAlways                  // always (null when the reply has none)
	respCreated                 // when the reply's status is 201 Created
	respOrNull                  // the value when created, else null
	respPlain                   // always, as a string holding its JSON
)

// internalSpec describes one command type: its path, the field with its
// value, whether it reads selectedFields, and how its response carries the
// reply's value.
type internalSpec struct {
	path      []pathPart
	value     string
	valueKind valueKind
	fields    bool
	resp      respKind
	respName  string
}

var (
	featurePath = []pathPart{pathLit("/features/"), pathParam("featureId", paramKey)}
	entryPath   = []pathPart{pathLit("/entries/"), pathParam("label", paramLabel)}
	importPath  = []pathPart{pathLit("/imports/"), pathParam("importedPolicyId", paramPolicyID)}
)

func pathUnder(base []pathPart, more ...pathPart) []pathPart {
	return append(append([]pathPart{}, base...), more...)
}

// thingSpecs are Ditto's ThingCommands by name (after "things.commands:").
// createThing, modifyThing, mergeThing and retrieveThings have more to
// them than the table says; see ParseInternalCommand.
var thingSpecs = map[string]*internalSpec{
	"createThing":    {value: "thing", valueKind: kindObject, resp: respAlways, respName: "thing"},
	"modifyThing":    {value: "thing", valueKind: kindObject, resp: respCreated, respName: "thing"},
	"retrieveThing":  {fields: true, resp: respPlain, respName: "thingPlainJson"},
	"retrieveThings": {fields: true, resp: respPlain, respName: "thingsPlainJson"},
	"deleteThing":    {},
	"mergeThing":     {value: "value"},

	"modifyAttributes":   {path: []pathPart{pathLit("/attributes")}, value: "attributes", valueKind: kindObject, resp: respOrNull, respName: "attributes"},
	"retrieveAttributes": {path: []pathPart{pathLit("/attributes")}, fields: true, resp: respAlways, respName: "attributes"},
	"deleteAttributes":   {path: []pathPart{pathLit("/attributes")}},
	"modifyAttribute":    {path: []pathPart{pathLit("/attributes"), pathParam("attribute", paramAttribute)}, value: "value", resp: respCreated, respName: "value"},
	"retrieveAttribute":  {path: []pathPart{pathLit("/attributes"), pathParam("attribute", paramAttribute)}, resp: respAlways, respName: "value"},
	"deleteAttribute":    {path: []pathPart{pathLit("/attributes"), pathParam("attribute", paramAttribute)}},

	"modifyDefinition":   {path: []pathPart{pathLit("/definition")}, value: "definition", valueKind: kindAny, resp: respCreated, respName: "definition"},
	"retrieveDefinition": {path: []pathPart{pathLit("/definition")}, resp: respAlways, respName: "definition"},
	"deleteDefinition":   {path: []pathPart{pathLit("/definition")}},

	"modifyPolicyId":   {path: []pathPart{pathLit("/policyId")}, value: "policyId", valueKind: kindString, resp: respCreated, respName: "policyId"},
	"retrievePolicyId": {path: []pathPart{pathLit("/policyId")}, resp: respAlways, respName: "policyId"},

	"modifyFeatures":   {path: []pathPart{pathLit("/features")}, value: "features", valueKind: kindObject, resp: respOrNull, respName: "features"},
	"retrieveFeatures": {path: []pathPart{pathLit("/features")}, fields: true, resp: respAlways, respName: "features"},
	"deleteFeatures":   {path: []pathPart{pathLit("/features")}},
	"modifyFeature":    {path: featurePath, value: "feature", valueKind: kindObject, resp: respOrNull, respName: "feature"},
	"retrieveFeature":  {path: featurePath, fields: true, resp: respAlways, respName: "feature"},
	"deleteFeature":    {path: featurePath},

	"modifyFeatureDefinition":   {path: pathUnder(featurePath, pathLit("/definition")), value: "definition", valueKind: kindArray, resp: respCreated, respName: "definition"},
	"retrieveFeatureDefinition": {path: pathUnder(featurePath, pathLit("/definition")), resp: respAlways, respName: "definition"},
	"deleteFeatureDefinition":   {path: pathUnder(featurePath, pathLit("/definition"))},

	"modifyFeatureProperties":   {path: pathUnder(featurePath, pathLit("/properties")), value: "properties", valueKind: kindObject, resp: respCreated, respName: "properties"},
	"retrieveFeatureProperties": {path: pathUnder(featurePath, pathLit("/properties")), fields: true, resp: respAlways, respName: "properties"},
	"deleteFeatureProperties":   {path: pathUnder(featurePath, pathLit("/properties"))},
	"modifyFeatureProperty":     {path: pathUnder(featurePath, pathLit("/properties"), pathParam("property", paramPointer)), value: "value", resp: respCreated, respName: "value"},
	"retrieveFeatureProperty":   {path: pathUnder(featurePath, pathLit("/properties"), pathParam("property", paramPointer)), resp: respAlways, respName: "value"},
	"deleteFeatureProperty":     {path: pathUnder(featurePath, pathLit("/properties"), pathParam("property", paramPointer))},

	"modifyFeatureDesiredProperties":   {path: pathUnder(featurePath, pathLit("/desiredProperties")), value: "desiredProperties", valueKind: kindObject, resp: respCreated, respName: "desiredProperties"},
	"retrieveFeatureDesiredProperties": {path: pathUnder(featurePath, pathLit("/desiredProperties")), fields: true, resp: respAlways, respName: "desiredProperties"},
	"deleteFeatureDesiredProperties":   {path: pathUnder(featurePath, pathLit("/desiredProperties"))},
	"modifyFeatureDesiredProperty":     {path: pathUnder(featurePath, pathLit("/desiredProperties"), pathParam("desiredProperty", paramPointer)), value: "desiredValue", resp: respCreated, respName: "desiredValue"},
	"retrieveFeatureDesiredProperty":   {path: pathUnder(featurePath, pathLit("/desiredProperties"), pathParam("desiredProperty", paramPointer)), resp: respAlways, respName: "desiredValue"},
	"deleteFeatureDesiredProperty":     {path: pathUnder(featurePath, pathLit("/desiredProperties"), pathParam("desiredProperty", paramPointer))},
}

// policySpecs are Ditto's PolicyCommands by name (after
// "policies.commands:"); createPolicy and modifyPolicy have more to them,
// see ParseInternalCommand.
var policySpecs = map[string]*internalSpec{
	"createPolicy":   {value: "policy", valueKind: kindObject, resp: respAlways, respName: "policy"},
	"modifyPolicy":   {value: "policy", valueKind: kindObject, resp: respCreated, respName: "policy"},
	"retrievePolicy": {fields: true, resp: respAlways, respName: "policy"},
	"deletePolicy":   {},

	"modifyPolicyEntries":   {path: []pathPart{pathLit("/entries")}, value: "policyEntries", valueKind: kindObject},
	"retrievePolicyEntries": {path: []pathPart{pathLit("/entries")}, resp: respAlways, respName: "policyEntries"},
	"modifyPolicyEntry":     {path: entryPath, value: "policyEntry", valueKind: kindObject, resp: respCreated, respName: "policyEntry"},
	"retrievePolicyEntry":   {path: entryPath, resp: respAlways, respName: "policyEntry"},
	"deletePolicyEntry":     {path: entryPath},

	"modifySubjects":   {path: pathUnder(entryPath, pathLit("/subjects")), value: "subjects", valueKind: kindObject},
	"retrieveSubjects": {path: pathUnder(entryPath, pathLit("/subjects")), resp: respAlways, respName: "subjects"},
	"modifySubject":    {path: pathUnder(entryPath, pathLit("/subjects/"), pathParam("subjectId", paramSubject)), value: "subject", valueKind: kindObject, resp: respCreated, respName: "subject"},
	"retrieveSubject":  {path: pathUnder(entryPath, pathLit("/subjects/"), pathParam("subjectId", paramSubject)), resp: respAlways, respName: "subject"},
	"deleteSubject":    {path: pathUnder(entryPath, pathLit("/subjects/"), pathParam("subjectId", paramSubject))},

	"modifyResources":   {path: pathUnder(entryPath, pathLit("/resources")), value: "resources", valueKind: kindObject},
	"retrieveResources": {path: pathUnder(entryPath, pathLit("/resources")), resp: respAlways, respName: "resources"},
	"modifyResource":    {path: pathUnder(entryPath, pathLit("/resources/"), pathParam("resourceKey", paramResource)), value: "resource", valueKind: kindObject, resp: respCreated, respName: "resource"},
	"retrieveResource":  {path: pathUnder(entryPath, pathLit("/resources/"), pathParam("resourceKey", paramResource)), resp: respAlways, respName: "resource"},
	"deleteResource":    {path: pathUnder(entryPath, pathLit("/resources/"), pathParam("resourceKey", paramResource))},

	"modifyPolicyEntryAllowedAdditions":   {path: pathUnder(entryPath, pathLit("/allowedAdditions")), value: "allowedAdditions", valueKind: kindArray},
	"retrievePolicyEntryAllowedAdditions": {path: pathUnder(entryPath, pathLit("/allowedAdditions")), resp: respAlways, respName: "allowedAdditions"},
	"deletePolicyEntryAllowedAdditions":   {path: pathUnder(entryPath, pathLit("/allowedAdditions"))},
	"modifyPolicyEntryReferences":         {path: pathUnder(entryPath, pathLit("/references")), value: "references", valueKind: kindArray, resp: respCreated, respName: "references"},
	"retrievePolicyEntryReferences":       {path: pathUnder(entryPath, pathLit("/references")), resp: respAlways, respName: "references"},
	"deletePolicyEntryReferences":         {path: pathUnder(entryPath, pathLit("/references"))},
	"modifyPolicyEntryNamespaces":         {path: pathUnder(entryPath, pathLit("/namespaces")), value: "namespaces", valueKind: kindArray},
	"retrievePolicyEntryNamespaces":       {path: pathUnder(entryPath, pathLit("/namespaces")), resp: respAlways, respName: "namespaces"},
	"modifyPolicyEntryImportable":         {path: pathUnder(entryPath, pathLit("/importable")), value: "importable", valueKind: kindString},
	"retrievePolicyEntryImportable":       {path: pathUnder(entryPath, pathLit("/importable")), resp: respAlways, respName: "importable"},

	"modifyPolicyImports":   {path: []pathPart{pathLit("/imports")}, value: "policyImports", valueKind: kindObject, resp: respCreated, respName: "policyImports"},
	"retrievePolicyImports": {path: []pathPart{pathLit("/imports")}, resp: respAlways, respName: "policyImports"},
	"deletePolicyImports":   {path: []pathPart{pathLit("/imports")}},
	"modifyPolicyImport":    {path: importPath, value: "policyImport", valueKind: kindObject, resp: respCreated, respName: "policyImport"},
	"retrievePolicyImport":  {path: importPath, resp: respAlways, respName: "policyImport"},
	"deletePolicyImport":    {path: importPath},

	"modifyPolicyImportEntries":             {path: pathUnder(importPath, pathLit("/entries")), value: "entries", valueKind: kindArray},
	"retrievePolicyImportEntries":           {path: pathUnder(importPath, pathLit("/entries")), resp: respAlways, respName: "entries"},
	"modifyPolicyImportTransitiveImports":   {path: pathUnder(importPath, pathLit("/transitiveImports")), value: "transitiveImports", valueKind: kindArray},
	"retrievePolicyImportTransitiveImports": {path: pathUnder(importPath, pathLit("/transitiveImports")), resp: respAlways, respName: "transitiveImports"},
}

// internalFields are the members of a command's JSON object; a later
// duplicate wins, as in Ditto.
type internalFields map[string]json.RawMessage

// objectFields reads the members of the JSON object raw (valid JSON).
func objectFields(raw []byte) internalFields {
	f := internalFields{}
	_ = eachMember(raw, skipSpace(raw, 0), func(key, value []byte) error {
		f[unquote(key)] = value
		return nil
	})
	return f
}

// str reads a string field; JSON null counts as absent, as in Ditto.
func (f internalFields) str(name string, required bool) (string, bool, error) {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		if required {
			return "", false, ErrJSONFieldMissing("/" + name)
		}
		return "", false, nil
	}
	if raw[0] != '"' {
		return "", false, typeError(raw, "/"+name, "String")
	}
	return unquote(raw), true, nil
}

// value reads a field of kind k. JSON null is a value of an object or
// array field (Ditto's null object or array), and absent for a string.
func (f internalFields) value(name string, k valueKind, required bool) (json.RawMessage, error) {
	raw, ok := f[name]
	if !ok || (k == kindString && isNull(raw)) {
		if required {
			return nil, ErrJSONFieldMissing("/" + name)
		}
		return nil, nil
	}
	switch {
	case k == kindObject && raw[0] != '{' && !isNull(raw),
		k == kindArray && raw[0] != '[' && !isNull(raw),
		k == kindString && raw[0] != '"':
		return nil, typeError(raw, "/"+name, k.javaType())
	}
	return compact(raw), nil
}

// ParseInternalCommand reads a thing or policy command in Ditto's internal
// JSON the way the command's fromJson does, and maps it onto the Ditto
// Protocol envelope the services execute, with headers as its headers
// (retrieveThing's snapshotRevision becomes at-historical-revision). It
// returns Ditto's errors: json.invalid for JSON that is not an object or a
// field of the wrong type, json.field.missing for a missing field,
// json.type.notparsable for a type that is no thing or policy command,
// and the entity's own errors for an invalid id, label, key or pointer.
//
// things.commands:migrateThingDefinition is not read (the things service
// does not execute it), nor are mergeThing's initialPolicy and
// policyIdOrPlaceholder.
func ParseInternalCommand(data []byte, headers Headers) (*InternalCommand, error) {
	if !jsonsyntax.Valid(data) {
		return nil, syntaxError(data)
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return nil, notAnObject(data[i:])
	}
	f := objectFields(data[i:])
	typ, _, err := f.str("type", true)
	if err != nil {
		return nil, err
	}
	c := &InternalCommand{Type: typ}
	switch {
	case strings.HasPrefix(typ, InternalThingCommandPrefix):
		c.Group, c.name = GroupThings, typ[len(InternalThingCommandPrefix):]
		c.spec = thingSpecs[c.name]
	case strings.HasPrefix(typ, InternalPolicyCommandPrefix):
		c.Group, c.name = GroupPolicies, typ[len(InternalPolicyCommandPrefix):]
		c.spec = policySpecs[c.name]
	}
	if c.spec == nil {
		return nil, ErrJSONTypeNotParsable(typ)
	}
	c.Envelope.Headers = headers
	switch c.name {
	case "createThing", "createPolicy":
		err = c.parseCreate(f)
	case "modifyThing", "modifyPolicy":
		err = c.parseModifyEntity(f)
	case internalRetrieveThingsName:
		err = c.parseRetrieveThings(f)
	default:
		err = c.parseAddressed(f)
	}
	if err != nil {
		return nil, err
	}
	if c.name != internalRetrieveThingsName {
		c.Envelope.Topic = NewTopic(c.EntityID, c.Group, ChannelTwin, CriterionCommands, c.action()).String()
	}
	return c, nil
}

// action is the Ditto Protocol action of the command: its name's verb.
func (c *InternalCommand) action() string {
	for _, a := range []string{ActionCreate, ActionModify, ActionRetrieve, ActionDelete, ActionMerge} {
		if strings.HasPrefix(c.name, a) {
			return a
		}
	}
	return ActionRetrieve // not reached: every name starts with its verb
}

// idField is the name of the field with the entity's id.
func (c *InternalCommand) idField() string {
	if c.Group == GroupThings {
		return "thingId"
	}
	return "policyId"
}

// validateID checks id as an id of the command's group.
func (c *InternalCommand) validateID(id string) error {
	if c.Group == GroupThings {
		return ValidateThingID(id)
	}
	return ValidatePolicyID(id)
}

// parseAddressed reads a command whose fields name the entity and the part
// of it addressed.
func (c *InternalCommand) parseAddressed(f internalFields) error {
	id, _, err := f.str(c.idField(), true)
	if err != nil {
		return err
	}
	if err := c.validateID(id); err != nil {
		return err
	}
	c.EntityID = id
	c.echo = append(c.echo, internalMember{c.idField(), appendJSONString(nil, id)})
	if c.name == "mergeThing" {
		return c.parseMerge(f)
	}
	var path strings.Builder
	for _, part := range c.spec.path {
		if part.field == "" {
			path.WriteString(part.lit)
			continue
		}
		s, _, err := f.str(part.field, true)
		if err != nil {
			return err
		}
		if s, err = checkParam(part.kind, s); err != nil {
			return err
		}
		path.WriteString(s)
		c.echo = append(c.echo, internalMember{part.field, appendJSONString(nil, s)})
	}
	c.Envelope.Path = path.String()
	if c.Envelope.Path == "" {
		c.Envelope.Path = "/"
	}
	if c.spec.value != "" {
		v, err := f.value(c.spec.value, c.spec.valueKind, true)
		if err != nil {
			return err
		}
		if err := c.checkValue(v); err != nil {
			return err
		}
		c.Envelope.Value = v
	}
	if c.spec.fields {
		if err := c.readSelectedFields(f); err != nil {
			return err
		}
	}
	if c.name == "retrieveThing" {
		return c.readSnapshotRevision(f)
	}
	return nil
}

// checkValue applies what a command's fromJson checks of its value beyond
// its JSON type.
func (c *InternalCommand) checkValue(v json.RawMessage) error {
	switch c.name {
	case "modifyPolicyId":
		return ValidatePolicyID(unquote(v))
	case "modifyDefinition":
		// Ditto reads the definition as a string (null deletes it).
		if v[0] != '"' && !isNull(v) {
			return typeError(v, "/definition", "String")
		}
	}
	return nil
}

func (c *InternalCommand) readSelectedFields(f internalFields) error {
	fields, ok, err := f.str("selectedFields", false)
	if err != nil || !ok {
		return err
	}
	c.Envelope.Fields = fields
	return nil
}

// readSnapshotRevision maps retrieveThing's snapshotRevision to the
// at-historical-revision header.
func (c *InternalCommand) readSnapshotRevision(f internalFields) error {
	raw, ok := f["snapshotRevision"]
	if !ok || isNull(raw) {
		return nil
	}
	n, integralOK := integral(raw, math.MinInt64, math.MaxInt64)
	if !integralOK {
		return typeError(raw, "/snapshotRevision", "Long")
	}
	c.Envelope.Headers = c.Envelope.Headers.Clone()
	if c.Envelope.Headers == nil {
		c.Envelope.Headers = Headers{}
	}
	c.Envelope.Headers[HeaderAtHistoricalRevision] = strconv.FormatInt(n, 10)
	return nil
}

// checkParam checks a field that names a part of the entity and returns it
// as it goes into the path and the response.
func checkParam(k paramKind, s string) (string, error) {
	switch k {
	case paramKey:
		if s == "" || hasSlashOrControl(s) {
			return "", ErrJSONKeyInvalid(s)
		}
	case paramLabel:
		if s == "" || hasSlashOrControl(s) {
			return "", ErrPolicyLabelCharsInvalid(s, reasonLabelNoSlashesOrControls)
		}
	case paramAttribute, paramPointer:
		p, err := normalizePointer(s)
		if err != nil {
			return "", err
		}
		if p == "/" {
			if k == paramAttribute {
				return "", ErrAttributePointerInvalid(p)
			}
			return "", ErrJSONPointerInvalid(s)
		}
		return p, nil
	case paramSubject:
		if s == "" {
			return "", ErrPolicySubjectIDInvalid(s)
		}
	case paramResource:
		if s == "" {
			return "", ErrJSONInvalid("The provided string was not in the expected format 'type:path'")
		}
	case paramPolicyID:
		if err := ValidatePolicyID(s); err != nil {
			return "", err
		}
	}
	return s, nil
}

// hasSlashOrControl reports whether s has a '/' or a control character,
// which a key or label must not have.
func hasSlashOrControl(s string) bool {
	for _, r := range s {
		if r == '/' || r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// normalizePointer reads a JSON pointer as Ditto's JsonFactory.newPointer
// does (leading and trailing slashes optional, consecutive slashes
// invalid) and renders it as Ditto does: "/" for the root, else "/a/b".
func normalizePointer(s string) (string, error) {
	if strings.Contains(s, "//") {
		e := ErrJSONPointerInvalid(s)
		e.Description = descConsecutiveSlashesInPtr
		return "", e
	}
	return "/" + strings.TrimSuffix(strings.TrimPrefix(s, "/"), "/"), nil
}

// parseMerge reads mergeThing's path and value.
func (c *InternalCommand) parseMerge(f internalFields) error {
	p, _, err := f.str("path", true)
	if err != nil {
		return err
	}
	if p, err = normalizePointer(p); err != nil {
		return err
	}
	v, err := f.value("value", kindAny, true)
	if err != nil {
		return err
	}
	c.Envelope.Path, c.Envelope.Value = p, v
	c.echo = append(c.echo, internalMember{"path", appendJSONString(nil, p)})
	return nil
}

// entityMembers reads the command's entity (its thing or policy JSON, an
// object or null) as members, with the id it names ("" for none).
func (c *InternalCommand) entityMembers(f internalFields) ([]objectMember, string, error) {
	entity, err := f.value(c.spec.value, kindObject, true)
	if err != nil {
		return nil, "", err
	}
	var members []objectMember
	if !isNull(entity) {
		members = orderedMembers(entity)
	}
	id, err := c.entityIDIn(members)
	return members, id, err
}

// parseCreate reads createThing (thing, initialPolicy,
// policyIdOrPlaceholder) and createPolicy (policy): the entity's id is
// the one in its JSON, which must name one.
func (c *InternalCommand) parseCreate(f internalFields) error {
	members, id, err := c.entityMembers(f)
	if err != nil {
		return err
	}
	if id == "" {
		if c.Group == GroupPolicies {
			e := ErrPolicyIDInvalid("")
			e.Message = "Policy ID must be present in 'CreatePolicy' payload"
			return e
		}
		return ErrJSONFieldMissing("/" + c.spec.value + "/" + c.idField())
	}
	c.EntityID = id
	if c.Group == GroupPolicies {
		c.echo = append(c.echo, internalMember{c.idField(), appendJSONString(nil, id)})
	}
	c.Envelope.Path = "/"
	if c.Group == GroupThings {
		members, err = c.withThingPolicy(f, members)
		if err != nil {
			return err
		}
	}
	c.Envelope.Value = appendObject(nil, members)
	return nil
}

// parseModifyEntity reads modifyThing (thingId, thing, initialPolicy,
// policyIdOrPlaceholder) and modifyPolicy (policyId, policy): the id is the
// command's, else the one in the entity's JSON; the JSON gets the id when
// it has none.
func (c *InternalCommand) parseModifyEntity(f internalFields) error {
	members, inner, err := c.entityMembers(f)
	if err != nil {
		return err
	}
	id, given, err := f.str(c.idField(), false)
	if err != nil {
		return err
	}
	switch {
	case !given && inner == "":
		return ErrJSONFieldMissing("/" + c.idField())
	case !given:
		id = inner
	}
	if err := c.validateID(id); err != nil {
		return err
	}
	if inner != "" && inner != id {
		if c.Group == GroupThings {
			return ErrThingIDNotSettable()
		}
		return ErrPolicyIDNotSettable()
	}
	if inner == "" {
		members = append([]objectMember{{key: c.idField(), value: appendJSONString(nil, id)}}, members...)
	}
	c.EntityID = id
	c.echo = append(c.echo, internalMember{c.idField(), appendJSONString(nil, id)})
	c.Envelope.Path = "/"
	if c.Group == GroupThings {
		if members, err = c.withThingPolicy(f, members); err != nil {
			return err
		}
	}
	c.Envelope.Value = appendObject(nil, members)
	return nil
}

// entityIDIn returns the id member ("thingId" or "policyId") of an
// entity's JSON, validated; "" when it has none.
func (c *InternalCommand) entityIDIn(members []objectMember) (string, error) {
	name := c.idField()
	var raw []byte
	for _, m := range members {
		if m.key == name {
			raw = m.value
		}
	}
	if raw == nil || isNull(raw) {
		return "", nil
	}
	if raw[0] != '"' {
		return "", typeError(raw, "/"+name, "String")
	}
	id := unquote(raw)
	if err := c.validateID(id); err != nil {
		return "", err
	}
	return id, nil
}

// withThingPolicy returns a thing's members as the Ditto Protocol carries
// them for a create or modify: the thing's own members (without the
// Protocol's policy members, which Ditto's thing JSON does not read), then
// initialPolicy as "_policy" and policyIdOrPlaceholder as
// "_copyPolicyFrom", which must not both be set.
func (c *InternalCommand) withThingPolicy(f internalFields, members []objectMember) ([]objectMember, error) {
	initial, err := f.value("initialPolicy", kindObject, false)
	if err != nil {
		return nil, err
	}
	if isNull(initial) {
		initial = nil
	}
	copyFrom, hasCopy, err := f.str("policyIdOrPlaceholder", false)
	if err != nil {
		return nil, err
	}
	if initial != nil && hasCopy {
		return nil, ErrThingPoliciesConflicting(c.EntityID)
	}
	out := members[:0:0]
	for _, m := range members {
		if m.key != "_policy" && m.key != "_copyPolicyFrom" {
			out = append(out, m)
		}
	}
	if initial != nil {
		out = append(out, objectMember{key: "_policy", value: initial})
	}
	if hasCopy {
		out = append(out, objectMember{key: "_copyPolicyFrom", value: appendJSONString(nil, copyFrom)})
	}
	return out, nil
}

// parseRetrieveThings reads retrieveThings: thingIds (non-string elements
// are skipped, as Ditto does), selectedFields and namespace, which all
// things must then be in.
func (c *InternalCommand) parseRetrieveThings(f internalFields) error {
	raw, err := f.value("thingIds", kindArray, true)
	if err != nil {
		return err
	}
	if !isNull(raw) {
		i := skipSpace(raw, 1)
		for i < len(raw) && raw[i] != ']' {
			end := skipValue(raw, i)
			if raw[i] == '"' {
				id := unquote(raw[i:end])
				if err := ValidateThingID(id); err != nil {
					return err
				}
				c.ThingIDs = append(c.ThingIDs, id)
			}
			i = skipSpace(raw, end)
			if i < len(raw) && raw[i] == ',' {
				i = skipSpace(raw, i+1)
			}
		}
	}
	if err := c.readSelectedFields(f); err != nil {
		return err
	}
	ns, hasNS, err := f.str("namespace", false)
	if err != nil {
		return err
	}
	topicNS := IDPlaceholder
	if hasNS {
		for _, id := range c.ThingIDs {
			if idNS, _ := SplitID(id); idNS != ns {
				return ErrJSONInvalid("The provided namespace must match the namespace of all things to retrieve.")
			}
		}
		if len(c.ThingIDs) == 0 {
			return ErrJSONInvalid("Retrieving multiple things is only supported if all things are in the same, non empty namespace")
		}
		c.namespace, topicNS = ns, ns
	}
	c.Envelope.Topic = Topic{Namespace: topicNS, EntityName: IDPlaceholder, Group: GroupThings, Channel: ChannelTwin,
		Criterion: CriterionCommands, Action: ActionRetrieve}.String()
	c.Envelope.Path = "/"
	ids := make([]objectMember, 0, 1)
	arr := []byte{'['}
	for i, id := range c.ThingIDs {
		if i > 0 {
			arr = append(arr, ',')
		}
		arr = appendJSONString(arr, id)
	}
	ids = append(ids, objectMember{key: "thingIds", value: append(arr, ']')})
	c.Envelope.Value = appendObject(nil, ids)
	return nil
}

// RetrieveThingEnvelope is the Ditto Protocol command retrieving one of a
// retrieveThings command's ThingIDs, with its headers and selected fields.
func (c *InternalCommand) RetrieveThingEnvelope(thingID string) Envelope {
	return Envelope{
		Topic:   NewTopic(thingID, GroupThings, ChannelTwin, CriterionCommands, ActionRetrieve).String(),
		Headers: c.Envelope.Headers,
		Path:    "/",
		Fields:  c.Envelope.Fields,
	}
}

// RetrieveThingsReply is the reply to a retrieveThings command that
// Response reads: the things retrieved, in order, as one array (Ditto's
// protocol form of a RetrieveThingsResponse).
func (c *InternalCommand) RetrieveThingsReply(things []json.RawMessage) Envelope {
	arr := []byte{'['}
	for i, t := range things {
		if i > 0 {
			arr = append(arr, ',')
		}
		arr = append(arr, t...)
	}
	return Envelope{Topic: c.Envelope.Topic, Headers: c.Envelope.Headers, Path: "/", Value: append(arr, ']'),
		Status: http.StatusOK}
}

// Response maps the services' reply to the command onto Ditto's internal
// JSON of the command's response, as the response's toJson writes it, and
// returns it with its HTTP status. An error reply is the Ditto error JSON
// as it is.
func (c *InternalCommand) Response(reply Envelope) (status int, body []byte) {
	if e, ok := reply.AsError(); ok {
		return e.Status, appendErrorJSON(nil, e)
	}
	status = reply.Status
	if status == 0 {
		switch c.action() {
		case ActionCreate:
			status = http.StatusCreated
		case ActionRetrieve:
			status = http.StatusOK
		default:
			status = http.StatusNoContent
		}
	}
	prefix := InternalThingResponsePrefix
	if c.Group == GroupPolicies {
		prefix = InternalPolicyResponsePrefix
	}
	body = append(body, `{"type":`...)
	body = appendJSONString(body, prefix+c.name)
	body = append(body, `,"status":`...)
	body = strconv.AppendInt(body, int64(status), 10)
	for _, m := range c.echo {
		body = appendMember(body, m.name, m.json)
	}
	value := reply.Value
	switch c.spec.resp {
	case respAlways:
		if value == nil {
			value = json.RawMessage("null")
		}
		body = appendMember(body, c.spec.respName, value)
	case respCreated:
		if status == http.StatusCreated && value != nil {
			body = appendMember(body, c.spec.respName, value)
		}
	case respOrNull:
		if status != http.StatusCreated || value == nil {
			value = json.RawMessage("null")
		}
		body = appendMember(body, c.spec.respName, value)
	case respPlain:
		plain := []byte("null")
		if value != nil {
			plain = compact(value)
		}
		body = appendMember(body, c.spec.respName, appendJSONString(nil, string(plain)))
	}
	if c.namespace != "" {
		body = appendMember(body, "namespace", appendJSONString(nil, c.namespace))
	}
	return status, append(body, '}')
}

func appendMember(dst []byte, name string, value []byte) []byte {
	dst = append(dst, ',')
	dst = appendJSONString(dst, name)
	dst = append(dst, ':')
	return append(dst, value...)
}

// objectMember is a member of a JSON object in order: its key and its
// (valid) JSON value.
type objectMember struct {
	key   string
	value []byte
}

// orderedMembers returns the members of the valid JSON object raw, in
// order; of duplicate keys the last is kept, in its place.
func orderedMembers(raw []byte) []objectMember {
	var out []objectMember
	_ = eachMember(raw, skipSpace(raw, 0), func(key, value []byte) error {
		k := unquote(key)
		for i := range out {
			if out[i].key == k {
				out = append(out[:i], out[i+1:]...)
				break
			}
		}
		out = append(out, objectMember{key: k, value: compact(value)})
		return nil
	})
	return out
}

// appendObject appends the JSON object of members to dst.
func appendObject(dst []byte, members []objectMember) []byte {
	dst = append(dst, '{')
	for i, m := range members {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendJSONString(dst, m.key)
		dst = append(dst, ':')
		dst = append(dst, m.value...)
	}
	return append(dst, '}')
}
