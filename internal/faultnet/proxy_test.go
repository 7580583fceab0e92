package faultnet

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strconv"
	"testing"
	"time"
)

// server is a target that echoes each line back and reports what it
// received on got.
type server struct {
	ln  net.Listener
	got chan string
}

func startServer(t *testing.T) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &server{ln: ln, got: make(chan string, 100)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					s.got <- line
					if _, err := c.Write([]byte(line)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return s
}

func startProxy(t *testing.T, target string, opts ...Option) *Proxy {
	t.Helper()
	p, err := Listen(target, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

// roundTrip sends a line and waits up to wait for its echo.
func roundTrip(c net.Conn, r *bufio.Reader, line string, wait time.Duration) (string, error) {
	c.SetDeadline(time.Now().Add(wait))
	defer c.SetDeadline(time.Time{})
	if _, err := c.Write([]byte(line + "\n")); err != nil {
		return "", err
	}
	got, err := r.ReadString('\n')
	return got, err
}

func mustEcho(t *testing.T, c net.Conn, r *bufio.Reader, line string) {
	t.Helper()
	got, err := roundTrip(c, r, line, 5*time.Second)
	if err != nil || got != line+"\n" {
		t.Fatalf("echo of %q: %q, %v", line, got, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestPassAndDelay(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	c, r := dial(t, p.Addr())
	mustEcho(t, c, r, "hello")

	p.Set(Fault{Mode: Delay, Delay: 150 * time.Millisecond})
	start := time.Now()
	mustEcho(t, c, r, "slow")
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Fatalf("delayed round trip took %v, want at least 2x150ms", took)
	}
	p.Heal()
	mustEcho(t, c, r, "fast")
}

func TestDropBlackholesThenHeals(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	c, r := dial(t, p.Addr())
	mustEcho(t, c, r, "before")
	<-s.got

	p.Set(Fault{Mode: Drop})
	if _, err := roundTrip(c, r, "lost", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("a dropped line got an answer or error %v", err)
	}
	select {
	case line := <-s.got:
		t.Fatalf("target received %q through a blackhole", line)
	default:
	}
	// New connections are accepted and blackholed too.
	c2, r2 := dial(t, p.Addr())
	if _, err := roundTrip(c2, r2, "lost2", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("a new connection's line got an answer or error %v", err)
	}
	p.Heal()
	mustEcho(t, c, r, "after")
}

func TestCutClosesAndRefuses(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	c, r := dial(t, p.Addr())
	mustEcho(t, c, r, "before")

	p.Set(Fault{Mode: Cut})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("an open connection survived a cut: %v", err)
	}
	if p.Conns() != 0 {
		t.Fatalf("%d connections after a cut", p.Conns())
	}
	c2, r2 := dial(t, p.Addr())
	if _, err := roundTrip(c2, r2, "refused", 5*time.Second); err == nil || isTimeout(err) {
		t.Fatalf("a new connection was served during a cut: %v", err)
	}

	p.Heal()
	c3, r3 := dial(t, p.Addr())
	mustEcho(t, c3, r3, "healed")
}

func TestOneWayCuts(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	c, r := dial(t, p.Addr())
	mustEcho(t, c, r, "warm")
	<-s.got

	// Answers lost: the target still receives.
	p.Set(Fault{Mode: DropToClient})
	if _, err := roundTrip(c, r, "one", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("an answer crossed a cut toward the client: %v", err)
	}
	select {
	case line := <-s.got:
		if line != "one\n" {
			t.Fatalf("target got %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the target did not receive a request through a cut toward the client")
	}

	// Requests lost: nothing reaches the target.
	p.Set(Fault{Mode: DropToTarget})
	if _, err := roundTrip(c, r, "two", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("a request crossed a cut toward the target: %v", err)
	}
	select {
	case line := <-s.got:
		t.Fatalf("target received %q through a cut toward it", line)
	default:
	}
}

func TestFaultBySource(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SocketOwner reads /proc")
	}
	s := startServer(t)
	me := strconv.Itoa(os.Getpid())
	var owners Owners
	owners.Set(1, me) // replaced below: one process per label
	owners.Set(os.Getpid(), me)
	p := startProxy(t, s.ln.Addr().String(), WithSource(owners.Source))
	c, r := dial(t, p.Addr())
	mustEcho(t, c, r, "mine")

	// A cut for another source leaves this process's connection alone.
	p.SetFrom("1", Fault{Mode: Cut})
	mustEcho(t, c, r, "still")
	// A cut for this process closes it.
	p.SetFrom(me, Fault{Mode: Cut})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("this process's connection survived a cut of its source: %v", err)
	}
	if f := p.Fault(me); f.Mode != Cut {
		t.Fatalf("fault for this process %v", f.Mode)
	}
	p.Heal()
	c2, r2 := dial(t, p.Addr())
	mustEcho(t, c2, r2, "healed")
}

// TestFaultBySourceRegisteredLate: a connection opened before its process
// was registered is labelled when a fault is set, so a cut of its source
// closes it rather than letting it pass as a connection of no one.
func TestFaultBySourceRegisteredLate(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("SocketOwner reads /proc")
	}
	s := startServer(t)
	me := strconv.Itoa(os.Getpid())
	var owners Owners
	p := startProxy(t, s.ln.Addr().String(), WithSource(owners.Source))
	c, r := dial(t, p.Addr())
	mustEcho(t, c, r, "before")

	owners.Set(os.Getpid(), me)
	p.SetFrom(me, Fault{Mode: Cut})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("a connection opened before its process was registered survived a cut of its source: %v", err)
	}
	// A drop set for the process applies to a connection it opens later.
	p.Heal()
	c2, r2 := dial(t, p.Addr())
	mustEcho(t, c2, r2, "healed")
	p.SetFrom(me, Fault{Mode: Drop})
	if _, err := roundTrip(c2, r2, "dropped", 300*time.Millisecond); !isTimeout(err) {
		t.Fatalf("a dropped connection answered: %v", err)
	}
}

func TestHalfCloseAndClose(t *testing.T) {
	s := startServer(t)
	p := startProxy(t, s.ln.Addr().String())
	c, r := dial(t, p.Addr())
	mustEcho(t, c, r, "x")
	// The client's half-close reaches the target, which then closes.
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); !errors.Is(err, io.EOF) {
		t.Fatalf("after a half-close: %v, want EOF", err)
	}

	c2, r2 := dial(t, p.Addr())
	mustEcho(t, c2, r2, "y")
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	c2.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r2.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("a connection survived Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		t.Fatal("a closed proxy accepted a connection")
	}
}

func TestBadTarget(t *testing.T) {
	if _, err := Listen(""); err == nil {
		t.Fatal("an empty target was accepted")
	}
	// A target that refuses: the client's connection is closed, the proxy lives on.
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := ln.Addr().String()
	ln.Close()
	p := startProxy(t, dead, WithDialTimeout(time.Second))
	c, r := dial(t, p.Addr())
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.ReadString('\n'); err == nil || isTimeout(err) {
		t.Fatalf("a connection to a dead target stayed open: %v", err)
	}
}
