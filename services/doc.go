// Package services holds the platform's services (gateway, policies, things)
// and the runtime they share under internal/. Binaries live in cmd/.
package services
