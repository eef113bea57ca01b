package gateway

import (
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"github.com/dittonats/dittonats/protocol"
)

// A WebSocket session authenticated with a JSON Web Token lasts as long as
// the token, as in Ditto's StreamingSessionActor: at the token's expiry the
// session ends with gateway:websocket.session.expired, unless the client
// sent a fresh token first (JWT-TOKEN?jwtToken=<token>). A fresh token must
// be valid and authenticate the same subjects; otherwise the session ends
// with gateway:websocket.session.closed. (Ditto, when the subjects of a
// valid token cannot be resolved, only stops the session's timer; this
// gateway ends the session then too.)

// maxSessionLifetime is Ditto's MAX_SESSION_TIMEOUT: a token valid for
// longer keeps its session open indefinitely.
const maxSessionLifetime = 100 * 24 * time.Hour

// sessionEndGrace is how long the error that ends a session has to reach
// the client before the connection closes.
const sessionEndGrace = 500 * time.Millisecond

func errSessionExpired() *protocol.Error {
	return protocol.NewError(http.StatusUnauthorized, "gateway:websocket.session.expired",
		"The websocket session expired because the JWT used for authentication has expired.",
		"You need to periodically refresh your websocket session with a new JWT.")
}

func errSessionClosed(invalidToken bool) *protocol.Error {
	if invalidToken {
		return protocol.NewError(http.StatusForbidden, "gateway:websocket.session.closed",
			"The websocket session was closed because the JWT is invalid.", "")
	}
	return protocol.NewError(http.StatusForbidden, "gateway:websocket.session.closed",
		"The websocket session was closed because the authorization context changed.",
		"Changing the authorization context for an established websocket session isn't supported.")
}

// startExpiry arms the session's end at its token's expiry, if it has a
// token.
func (s *wsSession) startExpiry() {
	if s.caller.jwt != nil {
		s.expireAt(s.caller.jwt.expiry)
	}
}

// expireAt (re)arms the session's end at t; zero or far away: none.
func (s *wsSession) expireAt(t time.Time) {
	var next *time.Timer
	if !t.IsZero() {
		if d := time.Until(t); d < maxSessionLifetime {
			next = time.AfterFunc(max(d, 0), func() { s.endWith(errSessionExpired()) })
		} else {
			s.log.Warn("session lifetime beyond the maximum; keeping the session open", "lifetime", d)
		}
	}
	if old := s.expiry.Swap(next); old != nil {
		old.Stop()
	}
}

// refreshToken takes the token of a JWT-TOKEN message.
func (s *wsSession) refreshToken(token string) {
	if token == "" {
		return // nothing to refresh with, as Ditto ignores it
	}
	var p *principal
	var err error
	if s.g.auth.jwt != nil {
		p, err = s.g.auth.jwt.authenticate(s.ctx, "Bearer "+token)
	}
	switch {
	case s.g.auth.jwt == nil || err != nil:
		s.log.Info("websocket session ends: refreshed JWT invalid", "err", err)
		s.endWith(errSessionClosed(true))
	case !sameSubjects(p.subjects, s.caller.subjects):
		s.log.Info("websocket session ends: refreshed JWT authenticates other subjects")
		s.endWith(errSessionClosed(false))
	default:
		s.expireAt(p.jwt.expiry)
	}
}

func sameSubjects(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// endWith sends perr to the client and then closes the session.
func (s *wsSession) endWith(perr *protocol.Error) {
	s.reply(protocol.ErrorEnvelope(protocol.FallbackErrorTopic(), protocol.Headers{protocol.HeaderCorrelationID: s.id}, "/", perr))
	time.AfterFunc(sessionEndGrace, func() {
		_ = s.conn.WriteControl(websocket.CloseMessage,
			websocket.FormatCloseMessage(websocket.ClosePolicyViolation, perr.Code), time.Now().Add(time.Second))
		s.close()
	})
}
