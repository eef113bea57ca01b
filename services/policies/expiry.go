package policies

import (
	"container/heap"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"

	"github.com/dittonats/dittonats/protocol"
	"github.com/dittonats/dittonats/protocol/jsonv"
	"github.com/dittonats/dittonats/services/internal/command"
	"github.com/dittonats/dittonats/services/internal/entity"
	"github.com/dittonats/dittonats/streams"
)

// Subject expiry and subject deletion announcements, as Ditto's
// PolicyAnnouncementManager and SubjectExpiryActor do them:
//
//   - A subject with an expiry is removed from its policy at the expiry
//     (an ordinary subjectDeleted event, so that everything enforcing with
//     the policy follows; enforcement ignores expired subjects before
//     that already).
//   - A subject whose announcement has beforeExpiry is announced that long
//     before its expiry (minus a random part of randomizationInterval, so
//     that subjects expiring together are not announced in one burst):
//     policies/announcements/subjectDeletion goes to the sessions
//     authenticated as the subject that asked for policy announcements.
//     When the announcement requests acknowledgements, it is sent again
//     with exponential back-off until they arrive, and the subject stays
//     (expired, so without effect) until they did or the grace period
//     after the expiry has passed.
//   - A subject whose announcement has whenDeleted is announced when it is
//     deleted, by expiry or by a change of the policy, unless an earlier
//     announcement of it was acknowledged.
//
// Policies need not be in memory for this: the owner of a policy's shard
// writes, after every change of a policy with expiring subjects, when it
// next has to act on it into the KV bucket PolicyExpiriesBucket. Every
// instance watches the bucket and, when the time comes for a policy of a
// shard it serves, sends the policy a sudo command (headerExpire) that
// does what is due. Which subjects were announced and acknowledged is
// kept in memory only, as Ditto keeps it: after a restart or a hand-over
// of the shard an announcement that is due or overdue is sent again.

// headerExpire marks the sudo command with which the service acts on a
// policy's expiring subjects. Only the service and the operator can send
// sudo commands; an operator sending it only makes due work happen now.
const headerExpire = "ditto-expire-subjects"

// expirySubject is whom the expiry commands are sent as (sudo commands
// name a subject; it is not written into events).
const expirySubject = "ditto:policies-subject-expiry"

// announceConfig is Ditto's ditto.policies.policy.announcement (Config's
// POLICY_ANNOUNCEMENT_* fields).
type announceConfig struct {
	GracePeriod, MaxTimeout, DefaultRandomization, BackoffMin, BackoffMax time.Duration
	WhenDeleted                                                           bool
	BackoffRandomFactor                                                   float64
}

// maxConcurrentExpiries bounds the expiry commands one instance has in
// flight: expiries are rounded to POLICY_SUBJECT_EXPIRY_GRANULARITY, so
// many fall due at the same moment.
const maxConcurrentExpiries = 16

// Retry and re-check intervals of the scheduler.
const (
	// expiryRetry is when a policy is looked at again after its expiry
	// command failed.
	expiryRetry = 10 * time.Second
	// ownerRecheck is when a due policy of a shard another instance
	// serves (or none yet, at start-up) is looked at again: the shard may
	// have come here. Only policies that are due wait like this.
	ownerRecheck = 2 * time.Second
	// expiryCommandTimeout bounds one expiry command.
	expiryCommandTimeout = 30 * time.Second
)

// expiries schedules the work on expiring subjects of one service
// instance and sends its announcements.
type expiries struct {
	cfg      announceConfig
	nc       *nats.Conn
	js       jetstream.JetStream
	names    streams.Names
	cmd      *command.Client
	owns     func(policyID string) bool
	log      *slog.Logger
	now      func() time.Time
	ackToken string // this instance's part of its acknowledgement addresses
	ackSeq   atomic.Uint64
	ctx      context.Context // the service's; set by run

	mu       sync.Mutex
	kv       jetstream.KeyValue     // nil until run opened it
	stored   map[string]time.Time   // what the bucket holds, by policy id
	due      map[string]time.Time   // when this instance looks at a policy next
	queue    dueQueue               // due, lazily: stale items are skipped
	busy     map[string]bool        // policies with an expiry command in flight
	subjects map[string]*announced  // by subjectKey
	waiting  map[string]chan ackMsg // acknowledgement waits by address id
	writes   map[string]*time.Time  // bucket writes to make: nil deletes
	wake     chan struct{}          // the queue changed
	written  chan struct{}          // writes has something
}

// announced is what this instance did about one subject's announcement.
type announced struct {
	started bool // an announcement was sent (or is being sent)
	acked   bool // it was acknowledged (or asked for no acknowledgement)
	done    bool // sending ended: acknowledged, or given up
}

// ackMsg is one acknowledgement of an announcement.
type ackMsg struct {
	label  string
	status int
}

func newExpiries(cfg announceConfig, nc *nats.Conn, js jetstream.JetStream, names streams.Names, cmd *command.Client,
	owns func(string) bool, log *slog.Logger, now func() time.Time) *expiries {
	return &expiries{
		cfg: cfg, nc: nc, js: js, names: names, cmd: cmd, owns: owns, log: log, now: now,
		ackToken: nuid.Next(),
		ctx:      context.Background(),
		stored:   map[string]time.Time{},
		due:      map[string]time.Time{},
		busy:     map[string]bool{},
		subjects: map[string]*announced{},
		waiting:  map[string]chan ackMsg{},
		writes:   map[string]*time.Time{},
		wake:     make(chan struct{}, 1),
		written:  make(chan struct{}, 1),
	}
}

// subjectKey names one subject of one policy with one expiry: a subject
// given a new expiry is announced anew.
func subjectKey(policyID, subjectID, expiry string) string {
	return policyID + "\x00" + subjectID + "\x00" + expiry
}

// bucketKey renders a policy id as a KV key (policy names may hold
// characters keys may not).
func bucketKey(policyID string) string { return base64.RawURLEncoding.EncodeToString([]byte(policyID)) }

func policyOfKey(key string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(key)
	return string(b), err == nil
}

// run watches the bucket, collects acknowledgements and sends the expiry
// commands until ctx ends.
func (x *expiries) run(ctx context.Context) error {
	x.mu.Lock()
	x.ctx = ctx
	x.mu.Unlock()
	kv, err := x.js.KeyValue(ctx, x.names.PolicyExpiriesBucket())
	if err != nil {
		return err
	}
	sub, err := x.nc.Subscribe(x.names.AcksOf(streams.PolicyAcksToken), x.deliverAck)
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	watcher, err := kv.WatchAll(ctx)
	if err != nil {
		return err
	}
	defer func() { _ = watcher.Stop() }()
	x.mu.Lock()
	x.kv = kv
	x.mu.Unlock()
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { x.writeLoop(ctx) })
	wg.Go(func() { x.scheduleLoop(ctx) })
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-watcher.Updates():
			if !ok {
				return nil
			}
			if e != nil {
				x.watched(e)
			}
		}
	}
}

// watched takes a change of the bucket.
func (x *expiries) watched(e jetstream.KeyValueEntry) {
	id, ok := policyOfKey(e.Key())
	if !ok {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if e.Operation() != jetstream.KeyValuePut {
		delete(x.stored, id)
		delete(x.due, id)
		return
	}
	t, err := time.Parse(time.RFC3339Nano, string(e.Value()))
	if err != nil {
		return
	}
	x.stored[id] = t
	x.scheduleLocked(id, t)
}

// scheduleLocked makes id due at t.
func (x *expiries) scheduleLocked(id string, t time.Time) {
	if cur, ok := x.due[id]; ok && cur.Equal(t) {
		return // queued already: a policy changed often queues once
	}
	x.due[id] = t
	heap.Push(&x.queue, dueItem{at: t, id: id})
	select {
	case x.wake <- struct{}{}:
	default:
	}
}

// poke makes id due now (an announcement ended).
func (x *expiries) poke(id string) {
	x.mu.Lock()
	x.scheduleLocked(id, x.now())
	x.mu.Unlock()
}

// scheduleLoop sends the expiry commands of the policies that are due.
func (x *expiries) scheduleLoop(ctx context.Context) {
	sem := make(chan struct{}, maxConcurrentExpiries)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		x.mu.Lock()
		now := x.now()
		var ready []string
		for x.queue.Len() > 0 {
			top := x.queue[0]
			if cur, ok := x.due[top.id]; !ok || !cur.Equal(top.at) {
				heap.Pop(&x.queue) // stale
				continue
			}
			if top.at.After(now) {
				break
			}
			heap.Pop(&x.queue)
			// Taken off the schedule: what the command leaves schedules it
			// again, also at the same time.
			delete(x.due, top.id)
			if x.busy[top.id] {
				continue // its command reschedules it
			}
			if !x.owns(top.id) {
				x.scheduleLocked(top.id, now.Add(ownerRecheck))
				continue
			}
			x.busy[top.id] = true
			ready = append(ready, top.id)
		}
		wait := time.Hour
		if x.queue.Len() > 0 {
			wait = x.queue[0].at.Sub(now)
		}
		x.mu.Unlock()
		for _, id := range ready {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			go func() {
				defer func() { <-sem }()
				x.expire(ctx, id)
			}()
		}
		if len(ready) > 0 {
			continue
		}
		timer.Reset(max(wait, time.Millisecond))
		select {
		case <-ctx.Done():
			return
		case <-x.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// expire sends the expiry command to policy id. The command's handling
// reschedules the policy (update); a failed one is tried again later.
func (x *expiries) expire(ctx context.Context, id string) {
	env := protocol.Envelope{
		Topic:   protocol.NewTopic(id, protocol.GroupPolicies, "", protocol.CriterionCommands, protocol.ActionModify).String(),
		Path:    "/",
		Headers: protocol.Headers{headerExpire: "true", protocol.HeaderCorrelationID: nuid.Next()},
	}
	reply, err := x.cmd.Request(ctx, command.Request{
		Envelope: env, EntityID: id, Group: protocol.GroupPolicies, Kind: streams.KindSudo,
		Auth: command.EncodeAuth([]string{expirySubject}), Timeout: expiryCommandTimeout,
	})
	if err == nil {
		if perr, isErr := reply.AsError(); isErr {
			err = perr
		}
	}
	x.mu.Lock()
	delete(x.busy, id)
	if err != nil && ctx.Err() == nil {
		x.log.Warn("subject expiry", "policy_id", id, "err", err)
		x.scheduleLocked(id, x.now().Add(expiryRetry))
	}
	x.mu.Unlock()
}

// writeLoop makes the bucket writes update asked for, the latest per
// policy, one at a time.
func (x *expiries) writeLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-x.written:
		}
		for {
			x.mu.Lock()
			var id string
			var at *time.Time
			for id, at = range x.writes {
				break
			}
			if id == "" {
				x.mu.Unlock()
				break
			}
			delete(x.writes, id)
			kv := x.kv
			x.mu.Unlock()
			var err error
			if at == nil {
				err = kv.Delete(ctx, bucketKey(id))
			} else {
				_, err = kv.Put(ctx, bucketKey(id), []byte(at.UTC().Format(time.RFC3339Nano)))
			}
			if err != nil && ctx.Err() == nil {
				x.log.Warn("record subject expiry", "policy_id", id, "err", err)
			}
		}
	}
}

// expiringSubject is one subject with an expiry or an announcement.
type expiringSubject struct {
	label, id string
	expiry    time.Time // zero: none
	expiryStr string
	ann       announcement
	hasAnn    bool
	value     jsonv.Value
}

// expiringSubjects lists the subjects of policy that have an expiry or an
// announcement, in entry and subject order.
func expiringSubjects(policy jsonv.Value) []expiringSubject {
	entries, _ := policy.Get(fieldEntries)
	var out []expiringSubject
	for _, e := range entries.Members() {
		subjects, _ := e.Value.Get(fieldSubjects)
		for _, s := range subjects.Members() {
			x, hasExpiry := s.Value.Get(fieldExpiry)
			a, hasAnn := s.Value.Get(fieldAnnouncement)
			if !hasExpiry && !hasAnn {
				continue
			}
			es := expiringSubject{label: e.Key, id: s.Key, hasAnn: hasAnn, value: s.Value}
			if hasExpiry {
				es.expiryStr, _ = x.Str()
				es.expiry, _ = time.Parse(time.RFC3339Nano, es.expiryStr)
			}
			if hasAnn {
				es.ann = parseAnnouncement(a)
			}
			out = append(out, es)
		}
	}
	return out
}

// announceAt is when the beforeExpiry announcement of s is due: its
// expiry less beforeExpiry less a part of the randomization interval that
// is random per subject but the same each time it is computed.
func (x *expiries) announceAt(policyID string, s expiringSubject) time.Time {
	interval := x.cfg.DefaultRandomization
	if s.ann.hasRandomization {
		interval = s.ann.randomization
	}
	var off time.Duration
	if interval > 0 {
		h := fnv.New64a()
		_, _ = h.Write([]byte(subjectKey(policyID, s.id, s.expiryStr)))
		off = time.Duration(h.Sum64() % uint64(interval))
	}
	return s.expiry.Add(-s.ann.before - off)
}

// waitsForAcks reports whether the deletion of expired s waits for the
// acknowledgement of its announcement (Ditto keeps the subject until then,
// or until the grace period is over).
func waitsForAcks(s expiringSubject, st *announced) bool {
	return s.hasAnn && s.ann.hasBefore && len(s.ann.labels) > 0 && (st == nil || !st.done)
}

// due decides what is to be done about policy at now: the subject to
// delete first (ok false for none), after announcing what is due.
func (x *expiries) dueNow(policyID string, policy jsonv.Value, now time.Time) (del expiringSubject, ok bool) {
	for _, s := range expiringSubjects(policy) {
		if s.expiry.IsZero() {
			continue
		}
		key := subjectKey(policyID, s.id, s.expiryStr)
		x.mu.Lock()
		st := x.subjects[key]
		x.mu.Unlock()
		if s.hasAnn && s.ann.hasBefore && (st == nil || !st.started) && !now.Before(x.announceAt(policyID, s)) {
			st = x.announce(policyID, s, s.expiry)
		}
		if !now.Before(s.expiry) && !ok && !waitsForAcks(s, st) {
			del, ok = s, true
		}
	}
	return del, ok
}

// update takes the state of policy id after a command: it announces the
// deletion of subjects the change removed, forgets them, and schedules
// the policy's next expiry work (or drops it when there is none). before
// is the policy before the command (null when it did not exist), after
// the policy now (null when it is gone).
func (x *expiries) update(id string, before, after jsonv.Value) {
	now := x.now()
	var left []expiringSubject
	if after.Kind() == jsonv.KindObject {
		left = expiringSubjects(after)
	}
	if before.Kind() == jsonv.KindObject {
		for _, s := range expiringSubjects(before) {
			if stillThere(s, left) {
				continue
			}
			key := subjectKey(id, s.id, s.expiryStr)
			x.mu.Lock()
			st := x.subjects[key]
			delete(x.subjects, key)
			// An announcement still being sent goes on (Ditto: "announcement
			// and backoff already active"); one acknowledged is not repeated.
			running := st != nil && st.started && !st.done
			x.mu.Unlock()
			// A subject given a new expiry or announcement is not deleted
			// (Ditto: another instance of the id took over).
			if x.cfg.WhenDeleted && s.hasAnn && s.ann.whenDeleted && (st == nil || !st.acked) && !running && !idRemains(s.id, left) {
				x.start(id, s, now, &announced{})
			}
		}
	}
	var next time.Time
	for _, s := range left {
		if s.expiry.IsZero() {
			continue
		}
		x.mu.Lock()
		st := x.subjects[subjectKey(id, s.id, s.expiryStr)]
		x.mu.Unlock()
		var t time.Time
		switch {
		case s.hasAnn && s.ann.hasBefore && (st == nil || !st.started):
			t = x.announceAt(id, s)
		case !now.Before(s.expiry) && waitsForAcks(s, st):
			continue // the announcement pokes the policy when it ends
		default:
			t = s.expiry
		}
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	stored, has := x.stored[id]
	switch {
	case next.IsZero():
		delete(x.due, id)
		if has || x.writes[id] != nil {
			delete(x.stored, id)
			x.queueWriteLocked(id, nil)
		}
	default:
		x.scheduleLocked(id, next)
		if !has || !stored.Equal(next) {
			x.stored[id] = next
			x.queueWriteLocked(id, &next)
		}
	}
}

func (x *expiries) queueWriteLocked(id string, at *time.Time) {
	x.writes[id] = at
	select {
	case x.written <- struct{}{}:
	default:
	}
}

// stillThere reports whether s is among left (same subject id, expiry and
// announcement in any entry).
func stillThere(s expiringSubject, left []expiringSubject) bool {
	for _, l := range left {
		if l.id == s.id && l.expiryStr == s.expiryStr && l.value.Equal(s.value) {
			return true
		}
	}
	return false
}

// idRemains reports whether a subject with id is among left.
func idRemains(id string, left []expiringSubject) bool {
	for _, l := range left {
		if l.id == id {
			return true
		}
	}
	return false
}

// announce sends the beforeExpiry announcement of s unless one was sent,
// and returns its state.
func (x *expiries) announce(policyID string, s expiringSubject, deleteAt time.Time) *announced {
	key := subjectKey(policyID, s.id, s.expiryStr)
	x.mu.Lock()
	st := x.subjects[key]
	if st == nil {
		st = &announced{}
		x.subjects[key] = st
	}
	x.mu.Unlock()
	x.start(policyID, s, deleteAt, st)
	return st
}

// start sends the announcement of s (deleteAt: when it is or was
// deleted) with state st, unless st says it was sent.
func (x *expiries) start(policyID string, s expiringSubject, deleteAt time.Time, st *announced) {
	x.mu.Lock()
	if st.started {
		x.mu.Unlock()
		return
	}
	st.started = true
	ctx := x.ctx
	x.mu.Unlock()
	if len(s.ann.labels) == 0 {
		// Nothing to wait for: sent is acknowledged (Ditto's
		// directlyAckMessage).
		if err := x.publish(policyID, s, deleteAt, "", ""); err != nil {
			x.log.Warn("subject deletion announcement", "policy_id", policyID, "err", err)
		}
		x.mu.Lock()
		st.acked, st.done = true, true
		x.mu.Unlock()
		return
	}
	go x.announceUntilAcked(ctx, policyID, s, deleteAt, st)
}

// announceUntilAcked sends the announcement and waits for its
// acknowledgements, again after a growing back-off while they fail or do
// not come, until they came or the grace period after the expiry (or the
// deletion) is over. The policy is looked at again when it ends.
func (x *expiries) announceUntilAcked(ctx context.Context, policyID string, s expiringSubject, deleteAt time.Time, st *announced) {
	timeout := x.cfg.MaxTimeout
	if s.ann.timeout > 0 && s.ann.timeout < timeout {
		timeout = s.ann.timeout
	}
	end := deleteAt
	if !s.expiry.IsZero() {
		end = s.expiry
	}
	end = end.Add(x.cfg.GracePeriod)
	backoff := x.cfg.BackoffMin
	acked := false
	for {
		if x.sendAndAwait(ctx, policyID, s, deleteAt, timeout) {
			acked = true
			break
		}
		backoff = x.nextBackoff(backoff)
		if !x.now().Add(backoff).Before(end) || ctx.Err() != nil {
			x.log.Info("subject deletion announcement not acknowledged in the grace period; giving up",
				"policy_id", policyID, "subject", s.id)
			break
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
	x.mu.Lock()
	st.acked, st.done = acked, true
	x.mu.Unlock()
	x.poke(policyID)
}

// nextBackoff is Ditto's SubjectExpiryActor.increaseBackOff.
func (x *expiries) nextBackoff(prev time.Duration) time.Duration {
	b := min(prev, x.cfg.BackoffMax)
	factor := 0.5 + 0.5*max(x.cfg.BackoffRandomFactor, 0)*rand.Float64()
	next := b + time.Duration(float64(b)*factor)
	if next < prev || next > x.cfg.BackoffMax {
		return x.cfg.BackoffMax
	}
	return next
}

// sendAndAwait sends the announcement once and reports whether its
// acknowledgements came in time and none asks for redelivery (408, 424
// or a server error, as Ditto's requiresRedelivery).
func (x *expiries) sendAndAwait(ctx context.Context, policyID string, s expiringSubject, deleteAt time.Time, timeout time.Duration) bool {
	id := x.ackToken + strconv.FormatUint(x.ackSeq.Add(1), 36)
	ch := make(chan ackMsg, 2*len(s.ann.labels))
	x.mu.Lock()
	x.waiting[id] = ch
	x.mu.Unlock()
	defer func() {
		x.mu.Lock()
		delete(x.waiting, id)
		x.mu.Unlock()
	}()
	if err := x.publish(policyID, s, deleteAt, x.names.Acks(streams.PolicyAcksToken, id), protocol.FormatDuration(timeout)); err != nil {
		x.log.Warn("subject deletion announcement", "policy_id", policyID, "err", err)
		return false
	}
	missing := map[string]bool{}
	for _, l := range s.ann.labels {
		missing[l] = true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for len(missing) > 0 {
		select {
		case <-ctx.Done():
			return false
		case <-timer.C:
			return false
		case a := <-ch:
			if !missing[a.label] {
				continue
			}
			if a.status == http.StatusRequestTimeout || a.status == http.StatusFailedDependency || a.status >= 500 {
				return false
			}
			delete(missing, a.label)
		}
	}
	return true
}

// deliverAck is the callback of the acknowledgement subscription.
func (x *expiries) deliverAck(m *nats.Msg) {
	id := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	x.mu.Lock()
	ch := x.waiting[id]
	x.mu.Unlock()
	if ch == nil {
		return
	}
	env, err := protocol.DecodeEnvelope(m.Data)
	if err != nil {
		return
	}
	topic, err := protocol.ParseTopic(env.Topic)
	if err != nil || topic.Criterion != protocol.CriterionAcks || topic.Action == "" {
		return
	}
	status := env.Status
	if status == 0 {
		status = http.StatusOK
	}
	select {
	case ch <- ackMsg{label: topic.Action, status: status}:
	default:
	}
}

// announcementSubjectDeletion is the name of Ditto's
// SubjectDeletionAnnouncement in its topic.
const announcementSubjectDeletion = "subjectDeletion"

// publish sends one subject deletion announcement. address and timeout
// are set when acknowledgements are requested.
func (x *expiries) publish(policyID string, s expiringSubject, deleteAt time.Time, address, timeout string) error {
	ns, _ := protocol.SplitID(policyID)
	value, err := json.Marshal(struct {
		DeleteAt   string   `json:"deleteAt"`
		SubjectIDs []string `json:"subjectIds"`
	}{protocol.FormatInstant(deleteAt), []string{s.id}})
	if err != nil {
		return err
	}
	h := protocol.Headers{protocol.HeaderCorrelationID: nuid.Next()}
	if address != "" {
		labels, _ := json.Marshal(s.ann.labels)
		h[protocol.HeaderRequestedAcks] = string(labels)
		h[protocol.HeaderTimeout] = timeout
		h[protocol.HeaderAckregatorAddress] = address
	}
	env := protocol.Envelope{
		Topic: protocol.NewTopic(policyID, protocol.GroupPolicies, "", protocol.CriterionAnnouncements, announcementSubjectDeletion).String(),
		Path:  "/", Headers: h, Value: value,
	}
	data, err := env.AppendJSONTrusted(nil)
	if err != nil {
		return err
	}
	readers, _ := json.Marshal([]string{s.id})
	msg := &nats.Msg{Subject: x.names.PolicyAnnouncements(ns), Data: data,
		Header: nats.Header{protocol.HeaderReadSubjects: []string{string(readers)}}}
	if err := x.nc.PublishMsg(msg); err != nil {
		return errors.Join(errors.New("publish announcement"), err)
	}
	return nil
}

// dueItem is one entry of the schedule.
type dueItem struct {
	at time.Time
	id string
}

// dueQueue is a min-heap of dueItems by time.
type dueQueue []dueItem

func (q dueQueue) Len() int           { return len(q) }
func (q dueQueue) Less(i, j int) bool { return q[i].at.Before(q[j].at) }
func (q dueQueue) Swap(i, j int)      { q[i], q[j] = q[j], q[i] }
func (q *dueQueue) Push(v any)        { *q = append(*q, v.(dueItem)) }
func (q *dueQueue) Pop() any {
	old := *q
	it := old[len(old)-1]
	*q = old[:len(old)-1]
	return it
}

// follow makes the outcome of a command that changes policy id (st, as
// it was) tell the scheduler about the change once it is applied.
func (x *expiries) follow(id string, st *entity.State, out entity.Outcome) entity.Outcome {
	before, err := st.Doc()
	if err != nil {
		before = jsonv.Null()
	}
	prev := out.After
	out.After = func(next *entity.State, resp *protocol.Envelope) {
		if prev != nil {
			prev(next, resp)
		}
		after, err := next.Doc()
		if err != nil {
			return
		}
		x.update(id, before, after)
	}
	return out
}

// expire is the command with which the scheduler has a policy do what is
// due about its expiring subjects: send the announcements that are due
// and delete the first expired subject that may go (one event; the
// scheduler sends the command again at once while more are due).
func (c *call) expire() (entity.Outcome, error) {
	id, x := c.cmd.EntityID, c.h.exp
	resp := c.response(http.StatusNoContent, jsonv.Null(), nil)
	if x == nil {
		return entity.Outcome{Response: resp}, nil
	}
	doc, err := c.st.Doc()
	if err != nil {
		return entity.Outcome{}, err
	}
	if !c.st.Exists() {
		doc = jsonv.Null()
	}
	ok := false
	var s expiringSubject
	if doc.Kind() == jsonv.KindObject {
		s, ok = x.dueNow(id, doc, c.norm.now)
	}
	if !ok {
		return entity.Outcome{Response: resp, After: func(*entity.State, *protocol.Envelope) { x.update(id, doc, doc) }}, nil
	}
	path := jsonv.Pointer{fieldEntries, s.label, fieldSubjects, s.id}
	next, _ := doc.Delete(path)
	if c.r, err = parseRoute("/" + fieldEntries + "/" + s.label + "/" + fieldSubjects + "/" + s.id); err != nil {
		return entity.Outcome{}, err
	}
	headers, err := c.eventHeaders(next)
	if err != nil {
		return entity.Outcome{}, err
	}
	// Nobody caused it: the sudo subject is not the event's originator.
	headers.Del(protocol.HeaderOriginator)
	return entity.Outcome{
		Event:    &entity.Event{Change: changeAt(entity.ActionDeleted, path, next), Headers: headers},
		Response: resp,
	}, nil
}
