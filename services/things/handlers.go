package things

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/nats-io/nats.go"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/protocol/rql"
	"github.com/dittonats/dittonats/services/internal/creation"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/services/internal/etag"
	"github.com/dittonats/dittonats/services/internal/tracing"
	"github.com/dittonats/dittonats/streams"
)

// handler is the things service's entity.Handler.
type handler struct {
	maxThingSize int
	creation     creation.Rules
	cache        *policyCache
	policies     *policyClient
	log          *slog.Logger
	// nc and names are where live signals are passed on (messages.go,
	// live.go).
	nc    *nats.Conn
	names streams.Names
	// resolveThingPolicy returns the policy id of another thing as the
	// caller may read it (for _copyPolicyFrom placeholders).
	resolveThingPolicy func(ctx context.Context, thingID string, auth []string) (string, error)
}

// call is one command in flight, with what enforcement needs.
type call struct {
	cmd  *entity.Command
	st   *entity.State
	res  resource
	view *enforcer.View // nil for sudo commands: everything is allowed
	// enf and pid are the thing's policy before the command, once
	// authorize loaded it (not for sudo commands); events reuse it.
	enf *enforcer.Enforcer
	pid string
	// meta is what the command's metadata headers ask for (metadata.go),
	// nil when it has none: most commands, which pay nothing for it.
	meta *metaHeaders
}

// Handle implements entity.Handler.
func (h *handler) Handle(ctx context.Context, cmd *entity.Command, st *entity.State) (entity.Outcome, error) {
	t := cmd.Topic
	switch {
	case isLiveMessage(t):
		return h.liveMessage(ctx, cmd, st)
	case isLiveCommand(t):
		return h.liveCommand(ctx, cmd, st) // live.go
	case isLiveEvent(t):
		return h.liveEvent(ctx, cmd, st)
	}
	if t.Group != protocol.GroupThings || t.Channel != protocol.ChannelTwin || t.Criterion != protocol.CriterionCommands {
		return entity.Outcome{}, errNotSupported(cmd.Envelope.Topic)
	}
	if err := protocol.ValidateThingID(cmd.EntityID); err != nil {
		return entity.Outcome{}, err
	}
	res, err := parseResource(cmd.Envelope.Path)
	if err != nil {
		return entity.Outcome{}, err
	}
	if t.Action == protocol.ActionCheckPermissions {
		return h.checkPermissions(ctx, &call{cmd: cmd, st: st, res: res}) // checkperms.go
	}
	meta, err := parseMetaHeaders(cmd.Envelope.Headers, t.Action == protocol.ActionRetrieve)
	if err != nil {
		return entity.Outcome{}, err
	}
	c := &call{cmd: cmd, st: st, res: res, meta: meta}
	out, err := h.handle(ctx, c)
	if err == nil && out.Event != nil {
		out.After = withRevision(out.After)
	}
	return out, err
}

// withRevision puts the revision a change produced into its response as
// Ditto's entity-revision header (AbstractCommandStrategy's
// createCommandResponseDittoHeaders), after what after does: the gateway
// waits for the search index to reach it (search-persisted).
func withRevision(after func(*entity.State, *protocol.Envelope)) func(*entity.State, *protocol.Envelope) {
	return func(st *entity.State, resp *protocol.Envelope) {
		if after != nil {
			after(st, resp)
		}
		if resp.Headers == nil {
			resp.Headers = protocol.Headers{}
		}
		resp.Headers[protocol.HeaderEntityRevision] = strconv.FormatInt(st.Revision, 10)
	}
}

// handle dispatches a command on its action.
func (h *handler) handle(ctx context.Context, c *call) (entity.Outcome, error) {
	cmd, st, res, t := c.cmd, c.st, c.res, c.cmd.Topic
	switch t.Action {
	case protocol.ActionCreate:
		if res.kind != kThing {
			return entity.Outcome{}, protocol.ErrPathUnknown(cmd.Envelope.Path)
		}
		if st.Exists() {
			return entity.Outcome{}, protocol.ErrThingConflict(cmd.EntityID)
		}
		return h.create(ctx, c)
	case protocol.ActionModify:
		if res.kind == kThing && !st.Exists() {
			return h.create(ctx, c)
		}
		return h.modify(ctx, c)
	case protocol.ActionRetrieve:
		return h.retrieve(ctx, c)
	case protocol.ActionMerge:
		return h.merge(ctx, c)
	case protocol.ActionDelete:
		return h.delete(ctx, c)
	}
	return entity.Outcome{}, errNotSupported(cmd.Envelope.Topic)
}

// policyID returns the policy id of the (existing) thing, memoized on the
// entity so that a plain read needs no parse.
func policyID(st *entity.State) (string, error) {
	if id, ok := st.Memo.(string); ok {
		return id, nil
	}
	doc, err := st.Doc()
	if err != nil {
		return "", err
	}
	pv, _ := doc.Get("policyId")
	id, _ := pv.Str()
	// Cloned: the string points into the parsed document, which the memo
	// would otherwise keep alive for as long as the thing is in memory.
	id = strings.Clone(id)
	st.Memo = id
	return id, nil
}

// keepsPolicyID reports whether a change at path leaves the thing's policyId
// (the memo policyID keeps) as it is: anything below the root other than
// policyId itself.
func keepsPolicyID(path jsonv.Pointer) bool {
	return len(path) > 0 && path[0] != "policyId"
}

// authorize loads the view of the thing's policy for the caller. The thing
// must exist.
func (h *handler) authorize(ctx context.Context, c *call, modifying bool) (err error) {
	if c.cmd.Sudo {
		return nil
	}
	ctx, span := tracing.Start(ctx, tracing.SpanEnforce)
	defer func() {
		span.Fail(err)
		span.End()
	}()
	pid, err := policyID(c.st)
	if err != nil {
		return err
	}
	if pid == "" {
		return protocol.ErrThingNotAccessible(c.cmd.EntityID)
	}
	enf, err := h.cache.get(ctx, pid)
	if errors.Is(err, errPolicyGone) {
		if modifying {
			return protocol.ErrThingNotModifiablePolicyDeleted(c.cmd.EntityID, pid)
		}
		return protocol.ErrThingNotAccessiblePolicyDeleted(c.cmd.EntityID, pid)
	}
	if err != nil {
		return err
	}
	ns, _ := protocol.SplitID(c.cmd.EntityID)
	c.view = enf.For(ns, c.cmd.Auth)
	c.enf, c.pid = enf, pid
	return nil
}

func (c *call) canReadPartially(p jsonv.Pointer) bool {
	return c.view == nil || c.view.HasPartial(enforcer.TypeThing, p, enforcer.Read)
}

func (c *call) canWrite(p jsonv.Pointer) bool {
	return c.view == nil || c.view.HasUnrestricted(enforcer.TypeThing, p, enforcer.Write)
}

// denyWrite is the answer to a write the policy does not grant: 403 when
// the caller can see the thing, 404 when it cannot even know it exists.
func (c *call) denyWrite() error {
	if c.canReadPartially(nil) {
		return c.res.notModifiable(c.cmd.EntityID, c.cmd.Topic.Action)
	}
	return protocol.ErrThingNotAccessible(c.cmd.EntityID)
}

// extended returns the thing document with the computed fields Ditto
// offers to field selectors and conditions.
func extended(st *entity.State, doc jsonv.Value) jsonv.Value {
	ns, _ := protocol.SplitID(st.ID)
	out := append([]jsonv.Member(nil), doc.Members()...)
	out = append(out,
		jsonv.Member{Key: "_namespace", Value: jsonv.String(ns)},
		jsonv.Member{Key: "_revision", Value: jsonv.Int(st.Revision)},
		jsonv.Member{Key: "_created", Value: jsonv.String(entity.FormatTime(st.Created()))},
		jsonv.Member{Key: "_modified", Value: jsonv.String(entity.FormatTime(st.Modified()))},
	)
	return jsonv.Object(out...)
}

// checkCondition applies the condition header: the caller must be able to
// read every field it names, and it must hold for the current thing.
func (c *call) checkCondition() error {
	cond, ok := c.cmd.Envelope.Headers[protocol.HeaderCondition]
	if !ok {
		return nil
	}
	node, err := rql.Parse(cond)
	if err != nil {
		var se *rql.SyntaxError
		if errors.As(err, &se) {
			return protocol.ErrThingConditionInvalid(cond, se.Reason)
		}
		perr := protocol.AsError(err)
		if perr != nil {
			return protocol.ErrThingConditionInvalid(cond, perr.Message)
		}
		return protocol.ErrThingConditionInvalid(cond, "")
	}
	if c.view != nil {
		for _, prop := range rql.Properties(node) {
			p, err := jsonv.ParsePointer(prop)
			if err != nil {
				return protocol.ErrThingConditionInvalid(cond, err.Error())
			}
			// A wildcard reaches every member at its level, so the
			// caller must be able to read all of them.
			for i, seg := range p {
				if seg == jsonv.Wildcard {
					p = p[:i]
					break
				}
			}
			if !c.view.HasUnrestricted(enforcer.TypeThing, p, enforcer.Read) {
				return protocol.ErrThingConditionFailedPermission()
			}
		}
	}
	doc, err := c.st.Doc()
	if err != nil {
		return err
	}
	if !rql.Matches(node, extended(c.st, doc)) {
		return protocol.ErrThingConditionFailed()
	}
	return nil
}

// checkPreconditions applies If-Match and If-None-Match to the addressed
// resource, whose current entity tag is tag ("" when it does not exist).
func (c *call) checkPreconditions(tag string, reading bool) error {
	return etag.Check(c.cmd.Envelope.Headers, tag, reading, preconditionErrors)
}

var preconditionErrors = etag.Errors{
	Failed:      protocol.ErrThingPreconditionFailed,
	NotModified: protocol.ErrThingPreconditionNotModified,
}

// response builds a reply to the command.
func (c *call) response(status int, value []byte, headers protocol.Headers) protocol.Envelope {
	if headers == nil {
		headers = protocol.Headers{}
	}
	return protocol.Envelope{Topic: c.cmd.Envelope.Topic, Headers: headers, Path: c.res.path.String(), Value: value, Status: status}
}

func (h *handler) retrieve(ctx context.Context, c *call) (entity.Outcome, error) {
	id := c.cmd.EntityID
	if !c.st.Exists() {
		return entity.Outcome{}, protocol.ErrThingNotAccessible(id)
	}
	if err := h.authorize(ctx, c, false); err != nil {
		return entity.Outcome{}, err
	}
	if past := c.cmd.History; past != nil {
		// A historical retrieve: enforced with the thing's policy as it
		// is now (above), answered from the thing as it was, as Ditto's
		// enforcement filters a historical response with the current
		// policy.
		c.st = past
		if !c.st.Exists() {
			return entity.Outcome{}, protocol.ErrThingNotAccessible(id)
		}
	}
	if !c.canReadPartially(c.res.path) {
		return entity.Outcome{}, c.res.notAccessible(id)
	}
	if err := c.checkCondition(); err != nil {
		return entity.Outcome{}, err
	}
	env := c.cmd.Envelope
	var hdrs protocol.Headers
	if c.meta != nil && c.meta.get != nil {
		md, err := c.dittoMetadata()
		if err != nil {
			return entity.Outcome{}, err
		}
		hdrs = protocol.Headers{protocol.HeaderDittoMetadata: md}
	}
	if c.res.kind == kThing && env.Fields == "" && (c.view == nil || c.view.ReadsAll(enforcer.TypeThing)) {
		// The common case: the whole thing for a caller who may read all
		// of it. The stored bytes are the answer; nothing is parsed.
		tag := tagOf(c.res, c.st.Revision, jsonv.Value{})
		if err := c.checkPreconditions(tag, true); err != nil {
			return entity.Outcome{}, err
		}
		return entity.Outcome{Response: c.response(http.StatusOK, c.st.Raw(), withHeader(hdrs, protocol.HeaderETag, tag))}, nil
	}
	doc, err := c.st.Doc()
	if err != nil {
		return entity.Outcome{}, err
	}
	val, ok := doc.At(c.res.path)
	if !ok {
		return entity.Outcome{}, c.res.notAccessible(id)
	}
	tag := tagOf(c.res, c.st.Revision, val)
	if err := c.checkPreconditions(tag, true); err != nil {
		return entity.Outcome{}, err
	}
	if env.Fields != "" && val.Kind() == jsonv.KindObject {
		fs, err := jsonv.ParseFieldSelector(env.Fields)
		if err != nil {
			return entity.Outcome{}, err
		}
		if c.res.kind == kThing {
			val, err = h.selectThing(ctx, c, doc, fs)
			if err != nil {
				return entity.Outcome{}, err
			}
		} else {
			val = val.Select(fs)
		}
	}
	if c.view != nil && val.Kind() == jsonv.KindObject {
		// _metadata is cut like any other field of the thing: by the
		// caller's READ on thing:/_metadata/... (metadata.go).
		val = c.viewOf(val)
		if c.res.kind != kThing && val.Kind() == jsonv.KindNull {
			return entity.Outcome{}, c.res.notAccessible(id)
		}
	}
	return entity.Outcome{Response: c.response(http.StatusOK, val.AppendJSON(nil), withHeader(hdrs, protocol.HeaderETag, tag))}, nil
}

// withHeader returns hs (a new map when nil) with k set to v.
func withHeader(hs protocol.Headers, k, v string) protocol.Headers {
	if hs == nil {
		return protocol.Headers{k: v}
	}
	hs[k] = v
	return hs
}

// allowlist names the thing fields every reader of a thing sees (Ditto's
// THING_QUERY_COMMAND_RESPONSE_ALLOWLIST): they carry no user data.
var allowlist = []string{"thingId", "_namespace", "_revision", "_modified", "_created"}

// viewOf filters an object at the call's resource path to what the caller
// may read; for the thing itself the allowlisted fields stay.
func (c *call) viewOf(val jsonv.Value) jsonv.Value {
	filtered, ok := c.view.View(enforcer.TypeThing, c.res.path, val, enforcer.Read)
	if c.res.kind != kThing {
		if !ok {
			return jsonv.Null()
		}
		return filtered
	}
	if !ok {
		filtered = jsonv.Object()
	}
	out := make([]jsonv.Member, 0, val.Len())
	for _, m := range val.Members() {
		if v, ok := filtered.Get(m.Key); ok {
			out = append(out, jsonv.Member{Key: m.Key, Value: v})
			continue
		}
		for _, a := range allowlist {
			if m.Key == a {
				out = append(out, m)
			}
		}
	}
	// _policy was retrieved as the caller and is theirs to see.
	if p, ok := val.Get("_policy"); ok {
		if _, seen := filtered.Get("_policy"); !seen {
			out = append(out, jsonv.Member{Key: "_policy", Value: p})
		}
	}
	return jsonv.Object(out...)
}

// selectThing applies a field selector to the thing, offering the computed
// fields (_revision, _created, _modified, _namespace) and _policy.
func (h *handler) selectThing(ctx context.Context, c *call, doc jsonv.Value, fs jsonv.FieldSelector) (jsonv.Value, error) {
	x := extended(c.st, doc)
	if c.st.HasMetadata() && selectsMetadata(fs) {
		md, err := c.st.Metadata()
		if err != nil {
			return jsonv.Value{}, err
		}
		x = x.Set(jsonv.Pointer{"_metadata"}, md)
	}
	for _, p := range fs {
		if len(p) > 0 && p[0] == "_policy" {
			pid := c.pid // the policy enforced with: the current one
			if pid == "" {
				pid, _ = policyID(c.st)
			}
			if pol, err := h.policies.retrieve(ctx, pid, c.cmd.Auth, c.cmd.Sudo); err == nil {
				x = x.Set(jsonv.Pointer{"_policy"}, pol)
			}
			break
		}
	}
	return x.Select(fs), nil
}

// value parses the command's value, which modify and merge require.
func (c *call) value() (jsonv.Value, error) {
	if c.cmd.Envelope.Value == nil {
		return jsonv.Value{}, errValueMissing()
	}
	return jsonv.Parse(c.cmd.Envelope.Value)
}

func (h *handler) modify(ctx context.Context, c *call) (entity.Outcome, error) {
	id := c.cmd.EntityID
	val, err := c.value()
	if err != nil {
		return entity.Outcome{}, err
	}
	if !c.st.Exists() {
		return entity.Outcome{}, protocol.ErrThingNotAccessible(id)
	}
	if err := h.authorize(ctx, c, true); err != nil {
		return entity.Outcome{}, err
	}
	if !c.canWrite(c.res.path) {
		return entity.Outcome{}, c.denyWrite()
	}
	if err := c.checkCondition(); err != nil {
		return entity.Outcome{}, err
	}
	doc, err := c.st.Doc()
	if err != nil {
		return entity.Outcome{}, err
	}
	if c.res.kind == kThing {
		if val, err = h.checkThingReplacement(c, doc, val); err != nil {
			return entity.Outcome{}, err
		}
	} else if val, err = checkValue(c.res, val); err != nil {
		return entity.Outcome{}, err
	}
	current, exists, err := c.target(doc)
	if err != nil {
		return entity.Outcome{}, err
	}
	if exists && c.cmd.Envelope.Headers[protocol.HeaderIfEqual] == protocol.IfEqualSkip && current.Equal(val) {
		return entity.Outcome{}, errSkippedEqual()
	}
	after := doc.Set(c.res.path, val)
	if err := h.checkDocument(after); err != nil {
		return entity.Outcome{}, err
	}
	headers, err := h.eventHeaders(ctx, c, after)
	if err != nil {
		return entity.Outcome{}, err
	}
	action, status, body := entity.ActionModified, http.StatusNoContent, []byte(nil)
	if !exists {
		action, status, body = entity.ActionCreated, http.StatusCreated, val.AppendJSON(nil)
	}
	ch := entity.Change{Action: action, Path: c.res.path, Value: val, KeepMemo: keepsPolicyID(c.res.path)}
	if err := c.withMetadata(&ch, val); err != nil {
		return entity.Outcome{}, err
	}
	out := entity.Outcome{
		Event:    &entity.Event{Change: ch, Headers: headers},
		Response: c.response(status, body, nil),
	}
	out.After = c.tagAfter(val)
	return out, nil
}

// target finds the value a modify or merge replaces, after checking that
// the feature it lies in exists and the caller's preconditions hold.
func (c *call) target(doc jsonv.Value) (current jsonv.Value, exists bool, err error) {
	if c.res.needsFeature() {
		if _, ok := doc.At(jsonv.Pointer{"features", c.res.feature}); !ok {
			return jsonv.Value{}, false, protocol.ErrFeatureNotAccessible(c.cmd.EntityID, c.res.feature)
		}
	}
	current, exists = doc.At(c.res.path)
	tag := ""
	if exists {
		tag = tagOf(c.res, c.st.Revision, current)
	}
	return current, exists, c.checkPreconditions(tag, false)
}

// tagAfter puts the resource's new entity tag on the response.
func (c *call) tagAfter(val jsonv.Value) func(*entity.State, *protocol.Envelope) {
	return func(st *entity.State, resp *protocol.Envelope) {
		resp.Headers[protocol.HeaderETag] = tagOf(c.res, st.Revision, val)
	}
}

// checkThingReplacement validates the body of a modify of the whole thing.
func (h *handler) checkThingReplacement(c *call, doc, val jsonv.Value) (jsonv.Value, error) {
	if val.Kind() == jsonv.KindObject {
		if _, ok := val.Get("_policy"); ok {
			return jsonv.Value{}, protocol.ErrThingPolicyNotAllowed(c.cmd.EntityID)
		}
		if _, ok := val.Get("_copyPolicyFrom"); ok {
			return jsonv.Value{}, protocol.ErrThingPolicyNotAllowed(c.cmd.EntityID)
		}
	}
	val, err := normalizeThing(val)
	if err != nil {
		return jsonv.Value{}, err
	}
	if tid, ok := val.Get("thingId"); ok {
		if s, _ := tid.Str(); s != c.cmd.EntityID {
			return jsonv.Value{}, protocol.ErrThingIDNotSettable()
		}
	}
	// The thing id and, unless the body changes it, the policy id stay.
	val = val.Set(jsonv.Pointer{"thingId"}, jsonv.String(c.cmd.EntityID))
	if _, ok := val.Get("policyId"); !ok {
		if pv, ok := doc.Get("policyId"); ok {
			val = val.Set(jsonv.Pointer{"policyId"}, pv)
		}
	}
	return normalizeThing(val)
}

// checkDocument refuses a thing the platform could not store and read
// back: one nested deeper than the parser reads (the path of a write nests
// its value deeper), or one larger than LIMITS_THINGS_MAX_SIZE.
func (h *handler) checkDocument(doc jsonv.Value) error {
	if doc.Depth() > jsonv.MaxDepth {
		return protocol.ErrJSONTooDeep(jsonv.MaxDepth)
	}
	return h.checkSize(doc)
}

func (h *handler) checkSize(doc jsonv.Value) error {
	if h.maxThingSize <= 0 {
		return nil
	}
	bp := sizeBufs.Get().(*[]byte)
	*bp = doc.AppendJSON((*bp)[:0])
	n := len(*bp)
	if cap(*bp) <= 2*h.maxThingSize {
		sizeBufs.Put(bp)
	}
	if n > h.maxThingSize {
		return protocol.ErrThingTooLarge(int64(n), int64(h.maxThingSize))
	}
	return nil
}

// sizeBufs holds buffers checkSize serializes things into to measure them.
var sizeBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (h *handler) delete(ctx context.Context, c *call) (entity.Outcome, error) {
	id := c.cmd.EntityID
	if !c.st.Exists() {
		return entity.Outcome{}, protocol.ErrThingNotAccessible(id)
	}
	if c.res.kind == kPolicyID {
		return entity.Outcome{}, protocol.ErrThingPolicyIDNotDeletable()
	}
	if err := h.authorize(ctx, c, true); err != nil {
		return entity.Outcome{}, err
	}
	doc, err := c.st.Doc()
	if err != nil {
		return entity.Outcome{}, err
	}
	current, exists := doc.At(c.res.path)
	if !exists {
		if !c.canReadPartially(nil) {
			return entity.Outcome{}, protocol.ErrThingNotAccessible(id)
		}
		return entity.Outcome{}, c.res.notAccessible(id)
	}
	if !c.canWrite(c.res.path) {
		return entity.Outcome{}, c.denyWrite()
	}
	if err := c.checkCondition(); err != nil {
		return entity.Outcome{}, err
	}
	if err := c.checkPreconditions(tagOf(c.res, c.st.Revision, current), false); err != nil {
		return entity.Outcome{}, err
	}
	after := jsonv.Null() // the thing is gone
	if !c.res.path.IsRoot() {
		after, _ = doc.Delete(c.res.path)
	}
	headers, err := h.eventHeaders(ctx, c, after)
	if err != nil {
		return entity.Outcome{}, err
	}
	return entity.Outcome{
		Event:    &entity.Event{Change: entity.Change{Action: entity.ActionDeleted, Path: c.res.path, KeepMemo: keepsPolicyID(c.res.path)}, Headers: headers},
		Response: c.response(http.StatusNoContent, nil, nil),
	}, nil
}

func (h *handler) merge(ctx context.Context, c *call) (entity.Outcome, error) {
	id := c.cmd.EntityID
	patch, err := c.value()
	if err != nil {
		return entity.Outcome{}, err
	}
	if !c.st.Exists() {
		return entity.Outcome{}, protocol.ErrThingNotAccessible(id)
	}
	if err := h.authorize(ctx, c, true); err != nil {
		return entity.Outcome{}, err
	}
	if !c.mayMerge(patch) {
		return entity.Outcome{}, c.denyWrite()
	}
	if err := c.checkCondition(); err != nil {
		return entity.Outcome{}, err
	}
	doc, err := c.st.Doc()
	if err != nil {
		return entity.Outcome{}, err
	}
	current, _, err := c.target(doc)
	if err != nil {
		return entity.Outcome{}, err
	}
	merged := jsonv.MergePatch(current, patch)
	var result jsonv.Value
	if patch.Kind() == jsonv.KindNull && !c.res.path.IsRoot() {
		result, _ = doc.Delete(c.res.path)
	} else {
		result = doc.Set(c.res.path, merged)
	}
	// The merged thing must still be a valid thing with the same id.
	normalized, err := normalizeThing(result)
	if err != nil {
		return entity.Outcome{}, err
	}
	if tid, _ := normalized.Get("thingId"); !tid.Equal(jsonv.String(id)) {
		return entity.Outcome{}, protocol.ErrThingIDNotSettable()
	}
	if !normalized.Equal(result) {
		return entity.Outcome{}, protocol.ErrJSONInvalid("The merge patch would make the thing invalid.")
	}
	switch c.cmd.Envelope.Headers[protocol.HeaderIfEqual] {
	case protocol.IfEqualSkip:
		if result.Equal(doc) {
			return entity.Outcome{}, errSkippedEqual()
		}
	case protocol.IfEqualSkipMinimizingMerge:
		if result.Equal(doc) {
			return entity.Outcome{}, errSkippedEqual()
		}
		patch = minimizePatch(current, patch)
	}
	if err := h.checkDocument(result); err != nil {
		return entity.Outcome{}, err
	}
	headers, err := h.eventHeaders(ctx, c, result)
	if err != nil {
		return entity.Outcome{}, err
	}
	headers[protocol.HeaderContentType] = protocol.MediaTypeMergePatchJSON
	ch := entity.Change{Action: entity.ActionMerged, Path: c.res.path, Value: patch, KeepMemo: keepsPolicyID(c.res.path)}
	// Wildcards of put-metadata expand against the patch, as Ditto's
	// MetadataFromCommand does for a MergeThing.
	if err := c.withMetadata(&ch, patch); err != nil {
		return entity.Outcome{}, err
	}
	return entity.Outcome{
		Event:    &entity.Event{Change: ch, Headers: headers},
		Response: c.response(http.StatusNoContent, nil, nil),
		After: func(st *entity.State, resp *protocol.Envelope) {
			if c.res.kind == kThing {
				resp.Headers[protocol.HeaderETag] = tagOf(c.res, st.Revision, jsonv.Value{})
			}
		},
	}, nil
}

// mayMerge is Ditto's enforcement of merge commands: unrestricted WRITE at
// the path, or partial WRITE there and unrestricted WRITE at every leaf the
// patch touches (a regex key deletes unknown members, so it needs the path).
func (c *call) mayMerge(patch jsonv.Value) bool {
	if c.view == nil || c.canWrite(c.res.path) {
		return true
	}
	if !c.view.HasPartial(enforcer.TypeThing, c.res.path, enforcer.Write) {
		return false
	}
	return c.leavesWritable(c.res.path, patch)
}

func (c *call) leavesWritable(p jsonv.Pointer, v jsonv.Value) bool {
	if v.Kind() != jsonv.KindObject || v.Len() == 0 {
		return c.canWrite(p)
	}
	for _, m := range v.Members() {
		if isRegexKey(m.Key) && m.Value.Kind() == jsonv.KindNull {
			if !c.canWrite(p) {
				return false
			}
			continue
		}
		if !c.leavesWritable(p.Append(m.Key), m.Value) {
			return false
		}
	}
	return true
}

// isRegexKey reports Ditto's "{{ /regex/ }}" merge keys.
func isRegexKey(k string) bool {
	if !strings.HasPrefix(k, "{{") || !strings.HasSuffix(k, "}}") {
		return false
	}
	inner := strings.TrimSpace(k[2 : len(k)-2])
	return len(inner) >= 2 && strings.HasPrefix(inner, "/") && strings.HasSuffix(inner, "/")
}

// minimizePatch keeps only the parts of patch that change current (Ditto's
// if-equal: skip-minimizing-merge).
func minimizePatch(current, patch jsonv.Value) jsonv.Value {
	if patch.Kind() != jsonv.KindObject || current.Kind() != jsonv.KindObject {
		return patch
	}
	var out []jsonv.Member
	for _, m := range patch.Members() {
		old, had := current.Get(m.Key)
		switch {
		case m.Value.Kind() == jsonv.KindNull:
			if had || isRegexKey(m.Key) {
				out = append(out, m)
			}
		case !had:
			out = append(out, m)
		case m.Value.Kind() == jsonv.KindObject && old.Kind() == jsonv.KindObject:
			if sub := minimizePatch(old, m.Value); sub.Len() > 0 {
				out = append(out, jsonv.Member{Key: m.Key, Value: sub})
			}
		case !old.Equal(m.Value):
			out = append(out, m)
		}
	}
	return jsonv.Object(out...)
}
