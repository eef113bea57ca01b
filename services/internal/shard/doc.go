// Package shard shares a fixed number of shards among the running instances
// of one service, so that every entity (which hashes to one shard) has one
// owner at a time.
//
// Instances coordinate through one JetStream KV bucket (streams.Names
// ShardLeaseBucket) whose TTL is the lease time:
//
//	member.<instance>   heartbeat of a live instance
//	shard.<n>           lease of shard n; the value is the owner's instance id
//
// Every instance computes the same desired assignment by rendezvous hashing
// over the live members, acquires the free shards it is the desired owner of
// (KV create: only one can win) and hands back shards it owns but is not the
// desired owner of, after draining them. A crashed owner's leases expire
// after the TTL and are then taken over. Leases only route work: the journal's
// unique (pid, sn) index still guards correctness when two instances briefly
// both believe they own a shard.
package shard
