package policies

import (
	"github.com/dittonats/dittonats/services/internal/devops"
	"github.com/dittonats/dittonats/services/internal/namespaces"
)

// NamespaceHandler is the policies service's part of namespace erasure,
// to be registered for devops.ComponentPubSub: it blocks and unblocks
// namespaces for every policies instance (answering for resource type
// "namespaces"), drops a namespace's policies from this instance's memory
// on a shutdown with reason purge-namespace, and deletes them from the
// journal on purgeNamespace (answering for resource type "policy"). It
// stays silent on every other command.
func (s *Service) NamespaceHandler() devops.Handler {
	return namespaces.Handler(namespaces.Options{
		Block:        s.host.BlockNamespace,
		Unblock:      s.host.UnblockNamespace,
		Shutdown:     func(ns string) { s.host.Unload(ns, false) },
		Purge:        s.host.PurgeNamespace,
		ResourceType: namespaces.ResourcePolicy,
		Log:          s.d.Log,
	})
}
