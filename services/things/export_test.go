package things

// Hooks for the tests of package things_test, which run the service as a
// whole.

// HoldPolicyEvents stops the handling of policy events until release is
// called: the entity host's dispatcher waits in the cache's observer, so
// the messages that arrive meanwhile fill its inbox, and then NATS drops
// them.
func (s *Service) HoldPolicyEvents() (release func()) {
	s.cache.mu.Lock()
	return s.cache.mu.Unlock
}

// PolicyEventGaps is the count of gaps in the policy events the service
// has seen (reconnects and dropped events).
func (s *Service) PolicyEventGaps() uint64 {
	n, _ := s.cache.gaps()
	return n
}

// WithInboxSize returns cfg with the entity host's inbox bounded to n
// messages: a test overflows it with a few thousand policy events, each
// of which has to pass through the events stream first.
func WithInboxSize(cfg Config, n int) Config {
	cfg.inboxSize = n
	return cfg
}
