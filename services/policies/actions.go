package policies

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/enforcer"
	"github.com/dittonats/dittonats/services/internal/entity"
)

// Policy actions, Ditto's PolicyActionCommands: activateTokenIntegration
// adds subjects derived from the caller's JSON Web Token (with the token's
// expiry) to policy entries, deactivateTokenIntegration removes them.
// Ditto's protocol has no topic for them; here they are modify commands
// at the action's path, which only the gateway's HTTP route builds from a
// verified token (its WebSocket refuses them):
//
//	/actions/{action}                  every entry the caller may act on
//	/entries/{label}/actions/{action}  that entry
//
// The value is Ditto's command JSON: {"subjectIds": [...], "expiry": "...",
// "announcement": {...}} (expiry and announcement for activation only). A subject id may contain
// {{ policy-entry:label }}, resolved per entry, as Ditto's
// DefaultSubjectIdFromActionResolver does.
//
// The strategies are Ditto's ActivateTokenIntegrationStrategy,
// DeactivateTokenIntegrationStrategy and TopLevelPolicyActionCommandStrategy,
// with PolicyCommandEnforcement's check: EXECUTE on
// policy:/entries/{label}/actions/{action}.

// The actions Ditto defines.
const (
	actionActivateTokenIntegration   = "activateTokenIntegration"
	actionDeactivateTokenIntegration = "deactivateTokenIntegration"
)

// permExecute is the permission policy actions need; permRead the one
// activation wants an entry to grant on things.
const (
	permExecute = "EXECUTE"
	permRead    = "READ"
)

// actionPath reads a policy action's command path: the entry's label ("" for
// the top-level action) and the action's name.
func actionPath(path string) (label, name string, ok bool) {
	rest := strings.Trim(path, "/")
	if name, ok = strings.CutPrefix(rest, "actions/"); ok {
		return "", name, name != "" && !strings.Contains(name, "/")
	}
	rest, ok = strings.CutPrefix(rest, fieldEntries+"/")
	if !ok {
		return "", "", false
	}
	label, name, ok = strings.Cut(rest, "/actions/")
	if !ok || label == "" || strings.Contains(label, "/") || name == "" || strings.Contains(name, "/") {
		return "", "", false
	}
	return label, name, true
}

// errActionFailed is Ditto's PolicyActionFailedException.
func errActionFailed(action string, status int, description string) *protocol.Error {
	return protocol.NewError(status, "policies:action.failed",
		fmt.Sprintf("Failed to execute action '%s'.", action), description)
}

// errActionNotPermitted is PolicyCommandToActionsExceptionRegistry's answer
// to a caller without EXECUTE.
func errActionNotPermitted(action string) *protocol.Error {
	return errActionFailed(action, http.StatusForbidden, "The requester has insufficient permissions. 'EXECUTE' is required.")
}

// errActionNotApplicable is the action's getNotApplicableException: no
// entry (or not the addressed one) the action applies to.
func errActionNotApplicable(action string, topLevel bool) *protocol.Error {
	switch {
	case topLevel:
		return errActionFailed(action, http.StatusNotFound, "No policy entry found for which the top level action could be applied.")
	case action == actionActivateTokenIntegration:
		return errActionFailed(action, http.StatusNotFound, "No policy entry found containing one of the authorized subjects and with any READ permission for things.")
	}
	return errActionFailed(action, http.StatusNotFound, "No policy entry found containing one of the authorized subjects.")
}

// entryLabelPlaceholder is Ditto's {{ policy-entry:label }}.
var entryLabelPlaceholder = regexp.MustCompile(`\{\{\s*policy-entry:label\s*\}\}`)

// actionCommand is the value of an action command.
type actionCommand struct {
	subjectIDs []string
	// expiry and announcement are activation's.
	expiry       string
	announcement jsonv.Value
}

// parseActionCommand reads the command's value.
func (c *call) parseActionCommand(name string) (actionCommand, error) {
	v, err := c.value()
	if err != nil {
		return actionCommand{}, err
	}
	var cmd actionCommand
	ids, ok := v.Get("subjectIds")
	if !ok {
		return actionCommand{}, protocol.ErrJSONFieldMissing("/subjectIds")
	}
	if ids.Kind() != jsonv.KindArray {
		return actionCommand{}, errWrongType(ids.String(), "/subjectIds", "JsonArray")
	}
	for _, el := range ids.Elements() {
		s, isStr := el.Str()
		if !isStr {
			return actionCommand{}, errWrongType(el.String(), "/subjectIds", "String")
		}
		cmd.subjectIDs = append(cmd.subjectIDs, s)
	}
	if len(cmd.subjectIDs) == 0 {
		return actionCommand{}, errActionFailed(name, http.StatusBadRequest, "No subject IDs to apply the action with.")
	}
	if name == actionActivateTokenIntegration {
		x, ok := v.Get(fieldExpiry)
		if !ok {
			return actionCommand{}, protocol.ErrJSONFieldMissing("/" + fieldExpiry)
		}
		if cmd.expiry, ok = x.Str(); !ok {
			return actionCommand{}, errWrongType(x.String(), "/"+fieldExpiry, "String")
		}
		cmd.announcement, _ = v.Get(fieldAnnouncement)
	}
	return cmd, nil
}

// applicable reports whether the action applies to entry for a caller with
// auth: the entry names one of the caller's subjects and, for activation,
// grants READ on some thing resource it does not also revoke.
func actionApplicable(name string, entry jsonv.Value, auth []string) bool {
	subjects, _ := entry.Get(fieldSubjects)
	named := false
	for _, a := range auth {
		if _, ok := subjects.Get(a); ok {
			named = true
			break
		}
	}
	if !named || name != actionActivateTokenIntegration {
		return named
	}
	resources, _ := entry.Get(fieldResources)
	for _, r := range resources.Members() {
		if !strings.HasPrefix(r.Key, enforcer.TypeThing+":") {
			continue
		}
		if containsString(r.Value, fieldGrant, permRead) && !containsString(r.Value, fieldRevoke, permRead) {
			return true
		}
	}
	return false
}

// policyAction handles a policy action command (see the top of this file).
func (c *call) policyAction(label, name string) (entity.Outcome, error) {
	id := c.cmd.EntityID
	if name != actionActivateTokenIntegration && name != actionDeactivateTokenIntegration {
		return entity.Outcome{}, errUnsupported(c.topic, c.path)
	}
	cmd, err := c.parseActionCommand(name)
	if err != nil {
		return entity.Outcome{}, err
	}
	if !c.st.Exists() {
		return entity.Outcome{}, protocol.ErrPolicyNotAccessible(id)
	}
	doc, err := c.st.Doc()
	if err != nil {
		return entity.Outcome{}, err
	}
	// Enforcement first, as PolicyCommandEnforcement runs before the
	// strategy: the labels the caller may execute the action on.
	view, err := c.viewUnlessSudo(doc)
	if err != nil {
		return entity.Outcome{}, err
	}
	mayExecute := func(l string) bool {
		return view == nil || view.HasUnrestricted(enforcer.TypePolicy, jsonv.Pointer{fieldEntries, l, "actions", name}, permExecute)
	}
	entries, _ := doc.Get(fieldEntries)
	var labels []string
	if label != "" {
		if !mayExecute(label) {
			return entity.Outcome{}, errActionNotPermitted(name)
		}
		if e, ok := entries.Get(label); ok && actionApplicable(name, e, c.cmd.Auth) {
			labels = []string{label}
		} else {
			return entity.Outcome{}, errActionNotApplicable(name, false)
		}
	} else {
		authorized := false
		for _, m := range entries.Members() {
			if !mayExecute(m.Key) {
				continue
			}
			authorized = true
			if actionApplicable(name, m.Value, c.cmd.Auth) {
				labels = append(labels, m.Key)
			}
		}
		if !authorized {
			return entity.Outcome{}, errActionNotPermitted(name)
		}
		if len(labels) == 0 {
			return entity.Outcome{}, errActionNotApplicable(name, true)
		}
	}

	// The subject activation writes: Ditto's type names the action and
	// when it ran; the expiry is rounded up and must not be past.
	var subject jsonv.Value
	if name == actionActivateTokenIntegration {
		members := []jsonv.Member{
			{Key: fieldType, Value: jsonv.String(fmt.Sprintf("added via action <%s> at <%s>", name, protocol.FormatInstant(c.norm.now)))},
			{Key: fieldExpiry, Value: jsonv.String(cmd.expiry)},
		}
		if cmd.announcement.Kind() != jsonv.KindNull {
			members = append(members, jsonv.Member{Key: fieldAnnouncement, Value: cmd.announcement})
		}
		raw := jsonv.Object(members...)
		// The id is validated per entry below; a fixed valid one here.
		if subject, err = c.norm.subject("integration:x", raw); err != nil {
			return entity.Outcome{}, err
		}
	}

	next := doc
	type changed struct {
		label, subject string
		existed        bool
	}
	var changes []changed
	for _, l := range labels {
		for _, tmpl := range cmd.subjectIDs {
			sid := entryLabelPlaceholder.ReplaceAllLiteralString(tmpl, l)
			if hasPlaceholder(sid) {
				return entity.Outcome{}, errActionFailed(name, http.StatusBadRequest,
					fmt.Sprintf("Mandatory placeholders could not be resolved, in detail: The placeholder in <%s> could not be resolved.", tmpl))
			}
			if err := validateSubjectID(sid); err != nil {
				return entity.Outcome{}, err
			}
			at := jsonv.Pointer{fieldEntries, l, fieldSubjects, sid}
			old, existed := next.At(at)
			if name == actionDeactivateTokenIntegration {
				if existed {
					next, _ = next.Delete(at)
					changes = append(changes, changed{l, sid, true})
				}
				continue
			}
			if existed && old.Equal(subject) {
				continue
			}
			next = next.Set(at, subject)
			changes = append(changes, changed{l, sid, existed})
		}
		if name == actionActivateTokenIntegration {
			if reason, ok := lockoutReason(next); !ok && !hasImports(next) {
				return entity.Outcome{}, errEntryInvalid(id, l, reason)
			}
		}
	}
	resp := c.response(http.StatusNoContent, jsonv.Null(), nil)
	if len(changes) == 0 {
		// Nothing to write: the subjects were not there (deactivation).
		return entity.Outcome{Response: resp}, nil
	}
	if err := c.checkDocument(next); err != nil {
		return entity.Outcome{}, err
	}

	// One event: at the subject when one subject changed, else at the
	// entry's subjects, else at the entries, so that every consumer sees
	// an ordinary policy change.
	var path jsonv.Pointer
	action := entity.ActionModified
	switch {
	case len(changes) == 1:
		ch := changes[0]
		path = jsonv.Pointer{fieldEntries, ch.label, fieldSubjects, ch.subject}
		c.r.auth = append(jsonv.Pointer{fieldEntries, ch.label, fieldSubjects}, pointerSegments(ch.subject)...)
		switch {
		case name == actionDeactivateTokenIntegration:
			action = entity.ActionDeleted
		case !ch.existed:
			action = entity.ActionCreated
		}
	case oneEntry(len(changes), func(i int) string { return changes[i].label }):
		path = jsonv.Pointer{fieldEntries, changes[0].label, fieldSubjects}
		c.r.auth = path
	default:
		path = jsonv.Pointer{fieldEntries}
		c.r.auth = path
	}
	headers, err := c.eventHeaders(next)
	if err != nil {
		return entity.Outcome{}, err
	}
	return entity.Outcome{
		Event:    &entity.Event{Change: changeAt(action, path, next), Headers: headers},
		Response: resp,
	}, nil
}

// oneEntry reports whether the n changes, whose labels label gives, are
// all of the same entry.
func oneEntry(n int, label func(i int) string) bool {
	for i := 1; i < n; i++ {
		if label(i) != label(0) {
			return false
		}
	}
	return true
}
