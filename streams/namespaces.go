package streams

import "strings"

// BlockedNamespacesBucket names the KV bucket that holds the namespaces
// blocked at service (Ditto's blockNamespace, the first step of erasing a
// namespace): one key per blocked namespace, the namespace itself (a
// namespace is always a valid key: letters, digits, '_', '-' and '.').
// Every instance of the service watches it, so a block reaches instances
// started later and survives restarts.
func (n Names) BlockedNamespacesBucket(service string) string {
	return n.upper + "_" + strings.ToUpper(service) + "_NAMESPACES"
}
