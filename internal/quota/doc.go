// Package quota holds what bounds how much of the broker one client may
// use: byte budgets shared by every connection (Budget: decompression
// output, request bytes), and client quotas with Kafka's semantics
// (KIP-13, KIP-55, KIP-124, KIP-546): rates measured over sample windows,
// the quota that applies to a (user, client ID) pair resolved in Kafka's
// order, and the throttle time a client that went over is given. It also
// holds the broker's replication throttles (Replication, KIP-73): the rate
// of throttled replicas' bytes and whether it is over its bound.
//
// The package keeps no global state: every budget and quota manager is made
// by its owner (the node; the replica manager for replication throttles)
// and passed down. It knows no wire types and imports nothing of Sluice's.
package quota
