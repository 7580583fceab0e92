package cluster

import (
	"testing"
	"time"
)

// TestPreviousLeaderTakenOnce: a term of leadership counts the previous
// controller's session from its last Raft contact; a later term of the
// same node must not, since that broker has heartbeated since. (A node
// that led, lost the leadership in an election nobody won, and led again
// fenced the healthy previous controller with a session counted from
// before its first term.)
func TestPreviousLeaderTakenOnce(t *testing.T) {
	var l liveness
	if _, _, ok := l.takePreviousLeader(); ok {
		t.Fatal("a previous leader before any was lost")
	}
	at := time.Now()
	l.leaderLost(2, at)
	id, contact, ok := l.takePreviousLeader()
	if !ok || id != 2 || !contact.Equal(at) {
		t.Fatalf("takePreviousLeader = %d, %v, %v; want 2, %v, true", id, contact, ok, at)
	}
	if id, _, ok := l.takePreviousLeader(); ok {
		t.Fatalf("the previous leader %d was taken twice", id)
	}
	l.leaderLost(3, at.Add(time.Second))
	if id, _, ok := l.takePreviousLeader(); !ok || id != 3 {
		t.Fatalf("after another leader was lost: %d, %v", id, ok)
	}
}

// TestPreviousLeaderConfirmedContact: a confirmation of the leader's
// leadership (confirm.go) is a contact with it: the new controller counts
// its session from the later of that and the last Raft contact, and only
// for the leader that asked.
func TestPreviousLeaderConfirmedContact(t *testing.T) {
	var l liveness
	raftContact := time.Now()
	l.leaderConfirmed(2, raftContact.Add(40*time.Millisecond))
	l.leaderLost(2, raftContact)
	if _, contact, _ := l.takePreviousLeader(); !contact.Equal(raftContact.Add(40 * time.Millisecond)) {
		t.Errorf("contact %v after the Raft contact, want the confirmation 40ms after it", contact.Sub(raftContact))
	}
	l.leaderLost(3, raftContact)
	if id, contact, _ := l.takePreviousLeader(); id != 3 || !contact.Equal(raftContact) {
		t.Errorf("leader 3 lost: %d, %v after the Raft contact; broker 2's confirmation must not count", id, contact.Sub(raftContact))
	}
	l.leaderLost(2, raftContact.Add(time.Second))
	if _, contact, _ := l.takePreviousLeader(); !contact.Equal(raftContact.Add(time.Second)) {
		t.Errorf("a Raft contact after the confirmation: %v, want it", contact.Sub(raftContact))
	}
}
