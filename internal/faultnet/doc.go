/*
Package faultnet injects network faults between Sluice's parts, for tests,
without root: a Proxy listens on a loopback port, forwards every
connection to a target address, and applies a fault that a test switches
while traffic flows:

  - Pass forwards bytes both ways (the healed state);
  - Delay forwards them after a fixed latency, in order;
  - Drop is a blackhole: the proxy accepts connections and reads their
    bytes but forwards nothing, as a network that silently loses packets;
  - Cut closes every connection at once and refuses new ones (they are
    accepted and closed), as a host that is down or unreachable with
    resets;
  - DropToTarget and DropToClient drop one direction only: a one-way
    partition, where requests arrive but answers are lost, or the reverse.

A fault applies to every connection, or only to those from one source: a
Proxy built with a SourceFunc labels each connection it accepts (for
example with the process that opened it, see SocketOwner), and SetFrom
gives one label its own fault. A connection is labelled when it is
accepted, and a connection that got no label then (its process was not
yet registered) is asked again when a fault is first set after it. With
one proxy in front of each listener of each broker, and connections
labelled by the broker process that opened them, a test can isolate a
broker completely, or cut a leader off from its followers while clients
still reach it.
*/
package faultnet
