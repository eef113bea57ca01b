package things

import (
	"context"
	"strings"

	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/namespaces"
)

// NamespaceHandler is the things service's part of namespace erasure, to
// be registered for devops.ComponentPubSub: it blocks and unblocks
// namespaces for every things instance (answering for resource type
// "namespaces"), drops a namespace's things and the policies cached to
// enforce them from this instance's memory on a shutdown with reason
// purge-namespace, and deletes the namespace's things from the journal on
// purgeNamespace (answering for resource type "thing"). It stays silent
// on every other command.
func (s *Service) NamespaceHandler() devops.Handler {
	return namespaces.Handler(namespaces.Options{
		Block:   s.host.BlockNamespace,
		Unblock: s.host.UnblockNamespace,
		Shutdown: func(ns string) {
			s.host.Unload(ns, false)
			s.cache.forgetNamespace(ns)
		},
		Purge: func(ctx context.Context, ns string) error {
			err := s.host.PurgeNamespace(ctx, ns)
			s.cache.forgetNamespace(ns)
			return err
		},
		ResourceType: namespaces.ResourceThing,
		Log:          s.deps.Log,
	})
}

// forgetNamespace drops the cached policies of namespace: after an
// erasure a policy of the same id is a new one. Loads in flight are not
// kept (as with invalidate).
func (c *policyCache) forgetNamespace(namespace string) {
	prefix := namespace + ":"
	c.mu.Lock()
	for id := range c.entries {
		if strings.HasPrefix(id, prefix) {
			delete(c.entries, id)
		}
	}
	c.mu.Unlock()
}
