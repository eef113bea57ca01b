package policies

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/creation"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/internal/etag"
	"github.com/dittonats/dittonats/services/internal/policyresolve"
)

// routeKind is the policy resource a command path addresses.
type routeKind uint8

const (
	routePolicy routeKind = iota
	routeEntries
	routeEntry
	routeSubjects
	routeSubject
	routeResources
	routeResource
	// routeEntryField is an entry's namespaces, importable,
	// allowedAdditions or references (field); routeImports the imports,
	// routeImport one (key: the imported policy's id), routeImportField
	// its entries or transitiveImports (field). See subresources.go.
	routeEntryField
	routeImports
	routeImport
	routeImportField
	// routeUnsupported is a resource Ditto has that this service does not
	// implement (actions).
	routeUnsupported
)

// route is a parsed command path.
type route struct {
	kind  routeKind
	field string // of routeEntryField and routeImportField
	label string
	// key is the subject id or the normalised resource key.
	key string
	// doc is where the resource lives in the policy JSON; a subject id or
	// resource key is one segment there.
	doc jsonv.Pointer
	// auth is the policy resource path permissions are checked on: the
	// command path read as a JSON pointer, as Ditto reads it, so the
	// resource "thing:/a/b" of entry "l" is
	// policy:/entries/l/resources/thing:/a/b.
	auth jsonv.Pointer
}

// resourcePath is the command's resource path as Ditto prints it in the
// errors of a resource command.
func (r route) resourcePath() string {
	return "/" + fieldEntries + "/" + r.label + "/" + fieldResources + "/" + r.key
}

// parseRoute reads a command path (normalised by protocol.DecodeEnvelope):
//
//	/  /entries  /entries/{label}  /entries/{label}/subjects
//	/entries/{label}/subjects/{subjectId}  /entries/{label}/resources
//	/entries/{label}/resources/{resourceKey}
//
// Everything after "/subjects/" is the subject id and everything after
// "/resources/" the resource key, slashes included. Labels, subject ids and
// resource keys are validated with Ditto's errors; a path naming no policy
// resource is Ditto's unknown-path error.
func parseRoute(path string) (route, error) {
	rest := strings.TrimPrefix(path, "/")
	if rest == "" {
		return route{kind: routePolicy}, nil
	}
	head, rest, _ := strings.Cut(rest, "/")
	switch head {
	case fieldEntries:
	case fieldImports:
		return parseImportRoute(path, rest)
	case "actions":
		return route{kind: routeUnsupported}, nil
	default:
		return route{}, errUnknownPath(path)
	}
	if rest == "" {
		return route{kind: routeEntries, doc: jsonv.Pointer{fieldEntries}, auth: jsonv.Pointer{fieldEntries}}, nil
	}
	label, rest, hasField := strings.Cut(rest, "/")
	if err := validateLabel(label); err != nil {
		return route{}, err
	}
	entry := jsonv.Pointer{fieldEntries, label}
	if !hasField || rest == "" {
		return route{kind: routeEntry, label: label, doc: entry, auth: entry}, nil
	}
	field, key, hasKey := strings.Cut(rest, "/")
	r := route{label: label, doc: entry.Append(field), auth: entry.Append(field)}
	switch field {
	case fieldSubjects:
		if !hasKey || key == "" {
			r.kind = routeSubjects
			return r, nil
		}
		if err := validateSubjectID(key); err != nil {
			return route{}, err
		}
		r.kind, r.key = routeSubject, key
	case fieldResources:
		if !hasKey || key == "" {
			r.kind = routeResources
			return r, nil
		}
		norm, err := normalizeResourceKey(key)
		if err != nil {
			return route{}, err
		}
		r.kind, r.key = routeResource, norm
	case fieldNamespaces, fieldImportable, fieldAllowedAdditions, fieldReferences:
		if hasKey {
			return route{}, errUnknownPath(path)
		}
		r.kind, r.field = routeEntryField, field
		return r, nil
	case "actions":
		return route{kind: routeUnsupported}, nil
	default:
		return route{}, errUnknownPath(path)
	}
	r.doc = r.doc.Append(r.key)
	r.auth = r.auth.Append(pointerSegments(r.key)...)
	return r, nil
}

// pointerSegments splits s at '/' into the segments of a JSON pointer,
// dropping empty ones as a pointer's leading and trailing slash are.
func pointerSegments(s string) []string {
	var segs []string
	for seg := range strings.SplitSeq(s, "/") {
		if seg != "" {
			segs = append(segs, strings.ReplaceAll(seg, "~0", "~"))
		}
	}
	return segs
}

// handler is the policies service's entity behaviour.
type handler struct {
	maxSize     int64 // bytes; 0 is unlimited
	granularity time.Duration
	now         func() time.Time
	creation    creation.Rules
	// load reads the policies an effective policy is computed from;
	// roots are the namespace root policies (nil: none). See resolve.go.
	load  policyresolve.Loader
	roots func(namespace string) []string
	// maxImports is LIMITS_POLICIES_MAX_IMPORTS.
	maxImports int
	// announcementGranularity is POLICY_SUBJECT_DELETION_ANNOUNCEMENT_GRANULARITY.
	announcementGranularity time.Duration
	// exp schedules the work on expiring subjects; nil: none (tests).
	exp *expiries
}

// call is one command being decided.
type call struct {
	ctx context.Context
	// loaded are the policies the command read (resolve.go).
	loaded map[string]loadedPolicy
	h      *handler
	cmd    *entity.Command
	st     *entity.State
	r      route
	norm   normalizer
	topic  string
	path   string
}

// Handle implements entity.Handler. Every change of a policy goes past
// the subject expiry scheduler (expiry.go), once applied.
func (h *handler) Handle(ctx context.Context, cmd *entity.Command, st *entity.State) (entity.Outcome, error) {
	out, err := h.handle(ctx, cmd, st)
	if err != nil || h.exp == nil || out.Event == nil {
		return out, err
	}
	return h.exp.follow(cmd.EntityID, st, out), nil
}

func (h *handler) handle(ctx context.Context, cmd *entity.Command, st *entity.State) (entity.Outcome, error) {
	if err := protocol.ValidatePolicyID(cmd.EntityID); err != nil {
		return entity.Outcome{}, err
	}
	t := cmd.Topic
	if t.Group != protocol.GroupPolicies || t.Criterion != protocol.CriterionCommands {
		return entity.Outcome{}, protocol.ErrUnknownTopicPath(cmd.Envelope.Topic, "")
	}
	r, err := parseRoute(cmd.Envelope.Path)
	if err != nil {
		return entity.Outcome{}, err
	}
	c := &call{
		ctx: ctx, h: h, cmd: cmd, st: st, r: r,
		norm: normalizer{now: h.now(), granularity: h.granularity, maxImports: h.maxImports,
			announcementGranularity: h.announcementGranularity},
		topic: cmd.Envelope.Topic, path: cmd.Envelope.Path,
	}
	if label, name, ok := actionPath(c.path); ok && t.Action == protocol.ActionModify {
		return c.policyAction(label, name) // actions.go
	}
	if cmd.Sudo && cmd.Envelope.Headers[headerExpire] == "true" && t.Action == protocol.ActionModify {
		return c.expire() // expiry.go
	}
	if r.kind == routeUnsupported {
		return entity.Outcome{}, errUnsupported(c.topic, c.path)
	}
	switch t.Action {
	case protocol.ActionCheckPermissions:
		return c.checkPermissions() // checkperms.go
	case protocol.ActionCreate:
		if r.kind != routePolicy {
			return entity.Outcome{}, errUnsupported(c.topic, c.path)
		}
		return c.create()
	case protocol.ActionModify:
		if r.kind == routePolicy && !st.Exists() {
			return c.create()
		}
		if r.isSubresource() {
			return c.modifySub() // subresources.go
		}
		return c.modify()
	case protocol.ActionRetrieve:
		return c.retrieve()
	case protocol.ActionDelete:
		if r.isSubresource() {
			return c.deleteSub()
		}
		return c.delete()
	}
	return entity.Outcome{}, errUnsupported(c.topic, c.path)
}

// value returns the command's value, which must be a JSON object.
func (c *call) value() (jsonv.Value, error) {
	raw := c.cmd.Envelope.Value
	if raw == nil {
		return jsonv.Value{}, errValueMissing()
	}
	v, err := jsonv.Parse(raw)
	if err != nil {
		return jsonv.Value{}, err
	}
	if v.Kind() != jsonv.KindObject {
		return jsonv.Value{}, errNotAnObject(v.String())
	}
	return v, nil
}

// view compiles the effective policy of the stored one, doc, for the
// caller.
func (c *call) view(doc jsonv.Value) (*enforcer.View, error) {
	eff, err := c.effective(c.cmd.EntityID, doc)
	if err != nil {
		return nil, err
	}
	return callerView(eff, c.cmd.EntityID, c.cmd.Auth)
}

// viewUnlessSudo is view, or nil for a sudo command, which nothing
// restricts.
func (c *call) viewUnlessSudo(doc jsonv.Value) (*enforcer.View, error) {
	if c.cmd.Sudo {
		return nil, nil
	}
	return c.view(doc)
}

// response is the reply envelope of the command with status and value.
func (c *call) response(status int, value jsonv.Value, headers protocol.Headers) protocol.Envelope {
	env := protocol.Envelope{Topic: c.topic, Path: c.path, Status: status, Headers: headers}
	if value.Kind() != jsonv.KindNull {
		env.Value = value.AppendJSON(nil)
	}
	return env
}

// eventHeaders are the headers events of this command carry: its
// correlation, and who may read the event (ditto-read-subjects) as policy,
// the policy after the change (before it, when the whole policy is
// deleted), has it.
func (c *call) eventHeaders(policy jsonv.Value) (protocol.Headers, error) {
	h := protocol.Headers{}
	if cid, ok := c.cmd.Envelope.Headers.Lookup(protocol.HeaderCorrelationID); ok {
		h.Set(protocol.HeaderCorrelationID, cid)
	}
	if len(c.cmd.Auth) > 0 {
		h.Set(protocol.HeaderOriginator, c.cmd.Auth[0])
	}
	eff, err := c.effective(c.cmd.EntityID, policy)
	if err != nil {
		return nil, err
	}
	subjects, err := readSubjects(eff, c.cmd.EntityID, c.r.auth, c.norm.now)
	if err != nil {
		return nil, err
	}
	h.Set(protocol.HeaderReadSubjects, subjects)
	return h, nil
}

// tagHeaders returns an After hook that puts the new revision, and the
// entity tag (tag, or the revision's when tag is ""), into the response.
func tagHeaders(tag string) func(st *entity.State, resp *protocol.Envelope) {
	return func(st *entity.State, resp *protocol.Envelope) {
		if resp.Headers == nil {
			resp.Headers = protocol.Headers{}
		}
		if tag == "" {
			resp.Headers.Set(protocol.HeaderETag, etag.Revision(st.Revision))
		} else {
			resp.Headers.Set(protocol.HeaderETag, tag)
		}
		resp.Headers.Set(protocol.HeaderEntityRevision, strconv.FormatInt(st.Revision, 10))
	}
}

// allowsLockout reports whether the command sets allow-policy-lockout.
func (c *call) allowsLockout() bool {
	v, _ := c.cmd.Envelope.Headers.Lookup(protocol.HeaderAllowPolicyLockout)
	return strings.EqualFold(v, "true")
}

// checkDocument rejects a policy the platform could not store and read
// back: one nested deeper than the parser reads (a resource's path nests
// the value written there), or one larger than the configured limit.
func (c *call) checkDocument(doc jsonv.Value) error {
	if doc.Depth() > jsonv.MaxDepth {
		return protocol.ErrJSONTooDeep(jsonv.MaxDepth)
	}
	return c.checkSize(doc)
}

// checkSize rejects a policy larger than the configured limit.
func (c *call) checkSize(doc jsonv.Value) error {
	if c.h.maxSize <= 0 {
		return nil
	}
	if n := int64(len(doc.AppendJSON(nil))); n > c.h.maxSize {
		return protocol.ErrPolicyTooLarge(n, c.h.maxSize)
	}
	return nil
}

// create handles CreatePolicy, and ModifyPolicy of a policy that does not
// exist (Ditto's ModifyToCreatePolicyTransformer).
func (c *call) create() (entity.Outcome, error) {
	id := c.cmd.EntityID
	v, err := c.value()
	if err != nil {
		return entity.Outcome{}, err
	}
	doc, err := c.norm.policy(v, id)
	if err != nil {
		return entity.Outcome{}, err
	}
	if !c.cmd.Sudo && !c.st.Exists() {
		// Ditto's creation restriction runs before enforcement, which
		// ditto-sudo commands skip.
		ns, _ := protocol.SplitID(id)
		if perr := c.h.creation.Check(creation.Request{ResourceType: creation.Policy, EntityID: id, Namespace: ns,
			Subjects: c.cmd.Auth}); perr != nil {
			return entity.Outcome{}, perr
		}
	}
	// Enforcement is against the new policy: Ditto builds the enforcer of
	// a CreatePolicy from the command, so this also precedes the conflict.
	// A sudo command (an operator's piggyback) is not enforced at all.
	if !c.cmd.Sudo && !c.allowsLockout() {
		eff, err := c.effective(id, doc)
		if err != nil {
			return entity.Outcome{}, err
		}
		ok, err := mayCreate(eff, id, c.cmd.Auth)
		if err != nil {
			return entity.Outcome{}, err
		}
		if !ok {
			return entity.Outcome{}, protocol.ErrPolicyNotCreatable(id)
		}
	}
	current := ""
	if c.st.Exists() {
		current = etag.Revision(c.st.Revision)
	}
	if err := checkPreconditions(c.cmd.Envelope.Headers, current, false, false); err != nil {
		return entity.Outcome{}, err
	}
	if c.st.Exists() {
		return entity.Outcome{}, protocol.ErrPolicyConflict(id)
	}
	if err := c.checkDocument(doc); err != nil {
		return entity.Outcome{}, err
	}
	if err := checkReferences(id, doc); err != nil {
		return entity.Outcome{}, err
	}
	if err := c.checkImportAccess(c.ctx, doc, true, entryLabels(doc)); err != nil {
		return entity.Outcome{}, err
	}
	// Ditto does not apply the lockout rule to a policy with imports.
	if reason, ok := lockoutReason(doc); !ok && !hasImports(doc) {
		return entity.Outcome{}, errPolicyInvalid(id, reason)
	}
	headers, err := c.eventHeaders(doc)
	if err != nil {
		return entity.Outcome{}, err
	}
	return entity.Outcome{
		Event: &entity.Event{
			Change:  entity.Change{Action: entity.ActionCreated, Value: doc},
			Headers: headers,
		},
		Response: c.response(201, doc, nil),
		After:    tagHeaders(""),
	}, nil
}

// writable returns the document of the existing policy a modify or delete
// (del) changes and whether the addressed resource exists, once the caller
// may write it and its preconditions hold.
func (c *call) writable(del bool) (doc jsonv.Value, existed bool, err error) {
	if !c.st.Exists() {
		return jsonv.Value{}, false, protocol.ErrPolicyNotAccessible(c.cmd.EntityID)
	}
	if doc, err = c.st.Doc(); err != nil {
		return jsonv.Value{}, false, err
	}
	if err := c.mayWrite(doc); err != nil {
		return jsonv.Value{}, false, err
	}
	_, existed = doc.At(c.r.doc)
	if err := checkPreconditions(c.cmd.Envelope.Headers, c.currentTag(doc), false, del); err != nil {
		return jsonv.Value{}, false, err
	}
	return doc, existed, nil
}

// modify handles the Modify* commands of an existing policy.
func (c *call) modify() (entity.Outcome, error) {
	id := c.cmd.EntityID
	v, err := c.value()
	if err != nil {
		return entity.Outcome{}, err
	}
	// Parse the payload before anything else, as Ditto's protocol adapter
	// does: a malformed command is a 400 whoever sends it.
	var val jsonv.Value
	switch c.r.kind {
	case routePolicy:
		val, err = c.norm.policy(v, id)
	case routeEntries:
		val, err = c.norm.entries(v, errNotAnObject)
	case routeEntry:
		val, err = c.norm.entry(c.r.label, v)
	case routeSubjects:
		val, err = c.norm.subjects(v)
	case routeSubject:
		val, err = c.norm.subject(c.r.key, v)
	case routeResources:
		val, err = canonicalResources(v)
	case routeResource:
		val, err = canonicalResource(c.r.key, v)
	}
	if err != nil {
		return entity.Outcome{}, err
	}
	doc, existed, err := c.writable(false)
	if err != nil {
		return entity.Outcome{}, err
	}
	if c.r.kind >= routeSubjects {
		if _, ok := doc.At(jsonv.Pointer{fieldEntries, c.r.label}); !ok {
			return entity.Outcome{}, protocol.ErrPolicyEntryNotAccessible(id, c.r.label)
		}
	}
	next := doc.Set(c.r.doc, val)
	if err := c.checkDocument(next); err != nil {
		return entity.Outcome{}, err
	}
	if err := checkReferences(id, next); err != nil {
		return entity.Outcome{}, err
	}
	switch c.r.kind {
	case routePolicy, routeEntries:
		err = c.checkImportAccess(c.ctx, next, c.r.kind == routePolicy, entryLabels(next))
	case routeEntry:
		err = c.checkImportAccess(c.ctx, next, false, []string{c.r.label})
	}
	if err != nil {
		return entity.Outcome{}, err
	}
	if err := c.checkLockout(next); err != nil {
		return entity.Outcome{}, err
	}

	action := entity.ActionModified
	created := !existed && (c.r.kind == routeEntry || c.r.kind == routeSubject || c.r.kind == routeResource)
	if created {
		action = entity.ActionCreated
	}
	tag := ""
	if c.r.kind != routePolicy {
		tag = etag.Value(val)
	}
	resp := c.response(204, jsonv.Null(), nil)
	if created {
		resp = c.response(201, val, nil)
	}
	headers, err := c.eventHeaders(next)
	if err != nil {
		return entity.Outcome{}, err
	}
	return entity.Outcome{
		Event:    &entity.Event{Change: changeAt(action, c.r.doc, next), Headers: headers},
		Response: resp,
		After:    tagHeaders(tag),
	}, nil
}

// currentTag is the entity tag of the addressed resource in doc, "" when
// it does not exist: the revision for the whole policy, a hash otherwise.
func (c *call) currentTag(doc jsonv.Value) string {
	if c.r.kind == routePolicy {
		return etag.Revision(c.st.Revision)
	}
	if v, ok := doc.At(c.r.doc); ok {
		return etag.Value(v)
	}
	return ""
}

// mayWrite enforces WRITE on all of the addressed resource (sudo commands
// are trusted).
func (c *call) mayWrite(doc jsonv.Value) error {
	if c.cmd.Sudo {
		return nil
	}
	v, err := c.view(doc)
	if err != nil {
		return err
	}
	if !v.HasUnrestricted(enforcer.TypePolicy, c.r.auth, enforcer.Write) {
		return notModifiable(c.cmd.EntityID, c.r)
	}
	return nil
}

// checkLockout applies the lockout rule to the policy a change leaves; the
// error names the entry when an entry or a part of it was changed.
func (c *call) checkLockout(next jsonv.Value) error {
	reason, ok := lockoutReason(next)
	if ok || hasImports(next) { // Ditto does not apply it to a policy with imports
		return nil
	}
	if c.r.kind == routePolicy || c.r.kind == routeEntries {
		return errPolicyInvalid(c.cmd.EntityID, reason)
	}
	return errEntryInvalid(c.cmd.EntityID, c.r.label, reason)
}

// delete handles the Delete* commands.
func (c *call) delete() (entity.Outcome, error) {
	id := c.cmd.EntityID
	switch c.r.kind {
	case routeEntries, routeSubjects, routeResources:
		// Ditto has no command deleting these collections.
		return entity.Outcome{}, errUnsupported(c.topic, c.path)
	}
	doc, existed, err := c.writable(true)
	if err != nil {
		return entity.Outcome{}, err
	}
	resp := c.response(204, jsonv.Null(), nil)
	if c.r.kind == routePolicy {
		headers, err := c.eventHeaders(doc)
		if err != nil {
			return entity.Outcome{}, err
		}
		return entity.Outcome{
			Event:    &entity.Event{Change: entity.Change{Action: entity.ActionDeleted}, Headers: headers},
			Response: resp,
			After:    revisionHeader,
		}, nil
	}
	if !existed {
		return entity.Outcome{}, notFound(id, c.r, doc)
	}
	if c.r.kind == routeEntry {
		if referrer, ok := localReferrer(doc, c.r.label); ok && referrer != c.r.label {
			return entity.Outcome{}, errEntryReferenced(id, c.r.label, referrer)
		}
	}
	next, _ := doc.Delete(c.r.doc)
	if err := c.checkLockout(next); err != nil {
		return entity.Outcome{}, err
	}
	headers, err := c.eventHeaders(next)
	if err != nil {
		return entity.Outcome{}, err
	}
	return entity.Outcome{
		Event:    &entity.Event{Change: changeAt(entity.ActionDeleted, c.r.doc, next), Headers: headers},
		Response: resp,
		After:    revisionHeader,
	}, nil
}

// revisionHeader puts the new revision into a response that has no entity
// tag (deletions).
func revisionHeader(st *entity.State, resp *protocol.Envelope) {
	if resp.Headers == nil {
		resp.Headers = protocol.Headers{}
	}
	resp.Headers.Set(protocol.HeaderEntityRevision, strconv.FormatInt(st.Revision, 10))
}

// retrieve handles the Retrieve* commands, and SudoRetrievePolicy.
func (c *call) retrieve() (entity.Outcome, error) {
	id := c.cmd.EntityID
	var fields jsonv.FieldSelector
	if c.r.kind == routePolicy && c.cmd.Envelope.Fields != "" {
		var err error
		if fields, err = jsonv.ParseFieldSelector(c.cmd.Envelope.Fields); err != nil {
			return entity.Outcome{}, err
		}
	}
	if !c.st.Exists() {
		return entity.Outcome{}, protocol.ErrPolicyNotAccessible(id)
	}
	doc, err := c.st.Doc()
	if err != nil {
		return entity.Outcome{}, err
	}
	view, err := c.viewUnlessSudo(doc)
	if err != nil {
		return entity.Outcome{}, err
	}
	if view != nil && !view.HasPartial(enforcer.TypePolicy, c.r.auth, enforcer.Read) {
		return entity.Outcome{}, notAccessible(id, c.r)
	}
	if past := c.cmd.History; past != nil {
		// A historical retrieve: enforced with the policy as it is now
		// (above), answered from the policy as it was.
		c.st = past
		if !c.st.Exists() {
			return entity.Outcome{}, protocol.ErrPolicyNotAccessible(id)
		}
		if doc, err = c.st.Doc(); err != nil {
			return entity.Outcome{}, err
		}
	}
	if c.r.kind == routePolicy && c.cmd.History == nil && strings.EqualFold(c.cmd.Envelope.Headers[protocol.HeaderPolicyView], policyViewResolved) {
		return c.retrieveResolved(doc, view, fields)
	}
	val, ok := doc.At(c.r.doc)
	current := c.currentTag(doc)
	if !ok {
		if val, ok = c.r.subDefault(doc); ok {
			current = etag.Value(val)
		}
	}
	if err := checkPreconditions(c.cmd.Envelope.Headers, current, true, false); err != nil {
		return entity.Outcome{}, err
	}
	if !ok {
		return entity.Outcome{}, notFound(id, c.r, doc)
	}
	headers := protocol.Headers{
		protocol.HeaderETag:           current,
		protocol.HeaderEntityRevision: strconv.FormatInt(c.st.Revision, 10),
	}
	_, hasImports := doc.Get(fieldImports)
	if c.r.kind == routePolicy && !hasImports {
		val = withImports(val) // stored before imports were written
	}
	if fields != nil {
		val = c.withSpecialFields(val).Select(fields)
	} else if c.r.kind == routePolicy && hasImports && (view == nil || view.ReadsAll(enforcer.TypePolicy)) {
		// The stored bytes are the answer: skip re-encoding them.
		env := c.response(200, jsonv.Null(), headers)
		env.Value = c.st.Raw()
		return entity.Outcome{Response: env}, nil
	}
	if view != nil {
		val = readableView(view, c.r, val)
	}
	return entity.Outcome{Response: c.response(200, val, headers)}, nil
}

// policyViewResolved is the policy-view that asks for the effective
// policy (Ditto 3.9's "Effective policy view"); "original", the default,
// is the policy as stored.
const policyViewResolved = "resolved"

// retrieveResolved answers GET /policies/{id} with policy-view=resolved:
// the effective policy (own entries with references resolved, imported
// and namespace root entries under their imported-/nsimported- labels),
// cut down to what the caller may read of it and selected by fields. It
// has no ETag and ignores If-Match and If-None-Match: the policy's
// revision does not follow the policies it is computed from.
func (c *call) retrieveResolved(doc jsonv.Value, view *enforcer.View, fields jsonv.FieldSelector) (entity.Outcome, error) {
	eff, err := c.effective(c.cmd.EntityID, withImports(doc))
	if err != nil {
		return entity.Outcome{}, err
	}
	val := eff
	if fields != nil {
		val = c.withSpecialFields(val).Select(fields)
	}
	if view != nil {
		val = readableView(view, c.r, val)
	}
	headers := protocol.Headers{protocol.HeaderEntityRevision: strconv.FormatInt(c.st.Revision, 10)}
	return entity.Outcome{Response: c.response(200, val, headers)}, nil
}

// withSpecialFields adds the fields Ditto writes only when a field selector
// asks for them. "_metadata" is not among them: a policy in Ditto never has
// metadata (AbstractPolicyCommandStrategy.calculateRelativeMetadata is
// empty, CreatePolicyStrategy sets that on the new policy), so
// fields=_metadata selects nothing.
func (c *call) withSpecialFields(policy jsonv.Value) jsonv.Value {
	ns, _ := protocol.SplitID(c.cmd.EntityID)
	members := append([]jsonv.Member{
		{Key: fieldRevision, Value: jsonv.Int(c.st.Revision)},
		{Key: fieldModified, Value: jsonv.String(protocol.FormatInstant(c.st.Modified()))},
		{Key: fieldCreated, Value: jsonv.String(protocol.FormatInstant(c.st.Created()))},
		{Key: fieldNamespace, Value: jsonv.String(ns)},
	}, policy.Members()...)
	return jsonv.Object(members...)
}

// changeAt is the change of a command at path leaving the policy next. A
// resource key or subject id is one segment of path even when it contains
// '/'; parseEventPath reads such paths back on recovery.
func changeAt(action string, path jsonv.Pointer, next jsonv.Value) entity.Change {
	if action == entity.ActionDeleted {
		return entity.Change{Action: action, Path: path}
	}
	v, _ := next.At(path)
	return entity.Change{Action: action, Path: path, Value: v}
}

// parseEventPath reads the path of a policy event: like a command path,
// everything after "/subjects/" or "/resources/" is one key.
func parseEventPath(path string) (jsonv.Pointer, error) {
	r, err := parseRoute(path)
	if err != nil {
		return nil, err
	}
	return r.doc, nil
}
