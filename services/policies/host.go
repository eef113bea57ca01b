package policies

import "github.com/dittonats/dittonats/services/internal/entity"

// Host is the entity host the service runs its entities on, for the
// process to run background work beside it (background cleanup asks it
// which shards this instance serves).
func (s *Service) Host() *entity.Host { return s.host }
