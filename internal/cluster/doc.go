// Package cluster owns Sluice's cluster metadata: brokers, topics, their
// partitions (replicas, leader, leader epoch, ISR), topic and broker
// configs, and the cluster ID. The metadata is a state machine replicated
// with hashicorp/raft; the Raft leader is the controller.
//
// Roles, one per file:
//
//   - node.go: Node, this process's member of the quorum. Open starts Raft,
//     joins (a non-voter asks to be added), catches up with the leader's
//     log, gives a new cluster its ID and registers this broker. Propose
//     sends a command to the leader and returns once the local image shows
//     it (read-your-writes).
//   - commands.go: the commands and their envelope in the Raft log (type,
//     version, ignore-if-unknown flag, JSON payload).
//   - fsm.go: the raft.FSM. Apply decodes a command and calls its apply
//     function from a table built in newFSM; Snapshot and Restore move the
//     whole state as JSON.
//   - election.go: the apply functions that change leaders and ISRs:
//     fencing, unfencing, controlled shutdown, AlterPartition, Reassign,
//     ElectLeaders. All election logic is here, deterministic.
//   - controller.go: the controller loop that runs on the Raft leader
//     (heartbeat liveness, fencing, preferred-leader rebalancing) and the
//     heartbeat sender that runs on every node.
//   - placement.go: PlaceReplicas, rack-aware replica placement.
//   - image.go: immutable Images, built copy-on-write and published through
//     an atomic pointer, with a Changed channel closed on every change.
//     The topic maps are persistent (internal/pmap), so a command costs
//     what it changes, not a copy of every topic.
//   - raft.go: Raft's wiring: timing, transport (in-memory for one voter,
//     TCP with Voters), stores, bootstrap. hclog.go routes Raft's logs to
//     slog. Raft's log and stable store is hashicorp/raft-wal in
//     <Dir>/wal; snapshots live in <Dir>/snapshots (two kept).
//   - transport.go: one TCP listener per node, multiplexed by the first
//     byte of each connection: 'R' Raft, 'C' the control RPC.
//   - rpc.go: the control RPC (propose, join, heartbeat, barrier), served
//     by the leader and forwarded to it once by any other node.
//
// Guarantees:
//
//   - Apply is deterministic: every node, and every replay, turns the same
//     log into the same images and the same command errors. Nothing in it
//     reads the clock, randomness or local configuration; IDs are chosen by
//     the proposer (Propose fills in a missing topic ID).
//   - An Image is never modified after it is published; readers share it
//     without locks. To wait for a change without missing one, take
//     Changed() before Image().
//   - A command's error (ErrTopicExists, ErrUnknownTopic, ...) comes back
//     from Propose, and a failed command leaves the image unchanged.
//   - After Close, Open on the same directory recovers the same state: from
//     the latest snapshot plus the log entries after it.
//
// What this package never does: validate config names or values (the
// broker does, before proposing, with internal/config), touch partition
// data, or import the broker. It offers replica placement (PlaceReplicas)
// but never applies it on its own.
package cluster
