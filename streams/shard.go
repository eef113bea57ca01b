package streams

// DefaultShards is the number of shards entities are spread over unless
// configured otherwise (Ditto's cluster.number-of-shards default). Every
// service and gateway of one installation must use the same number.
const DefaultShards = 30

// Shard maps an entity id to its shard in [0, shards): FNV-1a (32 bit) of the
// id's bytes modulo shards. The function is part of the wire contract between
// gateways and services, pinned by golden vectors in the tests; changing it
// re-routes every entity.
func Shard(entityID string, shards int) int {
	const (
		offset32 = 2166136261
		prime32  = 16777619
	)
	h := uint32(offset32)
	for i := 0; i < len(entityID); i++ {
		h ^= uint32(entityID[i])
		h *= prime32
	}
	return int(h % uint32(shards))
}
