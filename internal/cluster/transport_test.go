package cluster

import (
	"errors"
	"io"
	"net"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/raft"
)

// refusingAddr returns a loopback address where nothing listens (a port
// just released).
func refusingAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// dialCounter is a mux whose dial attempts are counted and reported on a
// channel, through the test hook that can also refuse them.
func dialCounter(t *testing.T) (*mux, *atomic.Int64, <-chan struct{}) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m := newMux(ln, ln.Addr(), testLogger(t))
	t.Cleanup(func() { m.close() })
	var n atomic.Int64
	attempts := make(chan struct{}, 1000)
	m.dialFilter = func(string) bool {
		n.Add(1)
		select {
		case attempts <- struct{}{}:
		default:
		}
		return false
	}
	return m, &n, attempts
}

func waitAttempts(t *testing.T, attempts <-chan struct{}, n int) {
	t.Helper()
	for range n {
		select {
		case <-attempts:
		case <-time.After(10 * time.Second):
			t.Fatalf("fewer than %d dial attempts within 10s", n)
		}
	}
}

// A Raft dial refused by its peer (down, or restarting) tries again until
// its timeout, and connects as soon as the peer listens: hashicorp/raft
// backs off exponentially per failed RPC, so refusals returned at once
// would leave a restarted voter waiting seconds for the log it missed.
func TestRaftDialWaitsForARefusingPeer(t *testing.T) {
	t.Parallel()
	m, _, attempts := dialCounter(t)
	addr := refusingAddr(t)
	type result struct {
		c   net.Conn
		err error
	}
	done := make(chan result, 1)
	go func() {
		c, err := m.raft.Dial(raft.ServerAddress(addr), time.Minute)
		done <- result{c, err}
	}()
	waitAttempts(t, attempts, 2) // refused once, and trying again
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("the released port %s was taken meanwhile: %v", addr, err)
	}
	defer ln.Close()
	accepted := make(chan byte, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		var b [1]byte
		if _, err := io.ReadFull(c, b[:]); err == nil {
			accepted <- b[0]
		}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("dial after the peer listens: %v", r.err)
		}
		defer r.c.Close()
	case <-time.After(30 * time.Second):
		t.Fatal("dial did not connect within 30s of the peer listening")
	}
	select {
	case b := <-accepted:
		if b != muxRaft {
			t.Fatalf("protocol byte %q, want %q", b, muxRaft)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the peer got no protocol byte")
	}
}

// A peer that refuses for the whole timeout gets the refusal back, after
// the timeout and several attempts.
func TestRaftDialRefusedForItsTimeoutFails(t *testing.T) {
	t.Parallel()
	m, n, _ := dialCounter(t)
	addr := refusingAddr(t)
	const timeout = 400 * time.Millisecond
	start := time.Now()
	c, err := m.raft.Dial(raft.ServerAddress(addr), timeout)
	if err == nil {
		c.Close()
		t.Fatalf("something listens on the released port %s", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial error %v, want connection refused", err)
	}
	if took := time.Since(start); took < timeout {
		t.Fatalf("refusal returned after %v, before the %v timeout", took, timeout)
	}
	if n.Load() < 2 {
		t.Fatalf("%d dial attempts, want the refused dial tried again", n.Load())
	}
}

// Closing the node ends a dial waiting on a refusing peer at once: Raft's
// shutdown waits for its replication goroutines, which may be dialing.
func TestRaftDialWaitEndsWhenTheNodeCloses(t *testing.T) {
	t.Parallel()
	m, _, attempts := dialCounter(t)
	addr := refusingAddr(t)
	done := make(chan error, 1)
	go func() {
		c, err := m.raft.Dial(raft.ServerAddress(addr), time.Minute)
		if c != nil {
			c.Close()
		}
		done <- err
	}()
	waitAttempts(t, attempts, 2)
	m.raft.endRedials()
	select {
	case err := <-done:
		if !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("dial error %v, want connection refused", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("dial still waiting 10s after endRedials")
	}
}

// A voter back after being down for several seconds catches up with the
// metadata log at once. Before Raft dials waited for a refusing peer, the
// leader's replication to it had backed off to several seconds between
// tries by then (a voter down 12 s caught up about 10 s after its restart).
func TestQuorumVoterDownForSecondsCatchesUpPromptly(t *testing.T) {
	t.Parallel()
	q := newQuorum(t, 3, nil)
	f := q.follower()
	id := f.ID()
	q.kill(id)
	// Commit while it is down, so that it has entries to catch up on,
	// and keep it down long enough for an exponential backoff to grow
	// (eleven failures at once put the leader's next try 10 s away).
	l := q.leader()
	deadline := time.Now().Add(11 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		v := string(rune('a' + i%26))
		mustPropose(t, l, AlterConfigs{ResourceType: 4, Name: "", Set: map[string]*string{"k": &v}})
		time.Sleep(100 * time.Millisecond) // the down time is the point: no condition to wait for
	}
	start := time.Now()
	back := q.reopen(id) // returns once caught up, registered and unfenced
	took := time.Since(start)
	t.Logf("voter %d caught up %v after its restart", id, took)
	if took > 5*time.Second {
		t.Fatalf("voter %d took %v to catch up and register after its restart", id, took)
	}
	if back.Image().Brokers[id].Fenced {
		t.Fatal("restarted broker still fenced after Open")
	}
	q.sameImages()
}
