package test

// A client with many connections holds at most a fair share of the request
// budget (queued.max.request.bytes) across them (issue 13): an attacker
// leaving partial requests on dozens of connections cannot make a normal
// client's requests wait.

import (
	"encoding/binary"
	"fmt"
	"net"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// httpAddrOf waits for a process's "serving HTTP on" line and returns the
// address of the last one (a restarted process on port 0 moves).
func httpAddrOf(t testing.TB, p *process) string {
	t.Helper()
	re := regexp.MustCompile(`sluice: serving HTTP on (\S+)`)
	var addr string
	waitForErr(t, 10*time.Second, "the process's HTTP listener", func() error {
		if m := re.FindAllStringSubmatch(p.logs(), -1); m != nil {
			addr = m[len(m)-1][1]
			return nil
		}
		return fmt.Errorf("no HTTP listener in the logs:\n%s", p.logs())
	})
	return addr
}

// dialFrom opens a connection to addr from the local address ip (any of
// 127.0.0.0/8 reaches a loopback listener), so a test can play a second
// client machine.
func dialFrom(t testing.TB, ip, addr string) (net.Conn, error) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return d.Dial("tcp", addr)
}

// TestManyConnectionsOfOneClientHoldOnlyItsShare: an attacker at
// 127.0.0.2 opens 300 connections, each sending the size prefix of a
// 2 MiB request and its first 70 KB, then a byte every two seconds so that
// none is cut for stalling; with a 16 MiB budget, their first 64 KiB steps
// alone once held it all until the request read timeout. The attacker is
// held to its share (half the budget while two clients want it, and one
// request past it), so the normal client at 127.0.0.1 keeps producing and
// fetching within 2 s; meanwhile /metrics shows the budget in use and the
// broker's log names the attacker as the client waiting for its share.
func TestManyConnectionsOfOneClientHoldOnlyItsShare(t *testing.T) {
	const budget, maxRequest, conns = 16 << 20, 2 << 20, 300
	p := startProcess(t, t.TempDir(), "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
		"--config", "queued.max.request.bytes=16777216", "--config", "socket.request.max.bytes=2097152")
	httpAddr := httpAddrOf(t, p)
	if c, err := dialFrom(t, "127.0.0.2", p.addr); err != nil {
		t.Skipf("cannot dial from 127.0.0.2: %v", err) // not Linux loopback
	} else {
		c.Close()
	}
	if got, ok := scrapeMetrics(t, httpAddr).value("sluice_request_budget_limit_bytes"); !ok || got != budget {
		t.Fatalf("sluice_request_budget_limit_bytes = %v (%v), want %d", got, ok, budget)
	}
	normal := startProber(t, p.addr, "normal")

	head := binary.BigEndian.AppendUint32(nil, maxRequest)
	head = append(head, metadataFrame(40_000)[4:4+70_000]...) // a real header, then 70 KB of the body
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var mu sync.Mutex
	opened := 0
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				nc, err := dialFrom(t, "127.0.0.2", p.addr)
				if err != nil {
					return
				}
				mu.Lock()
				opened++
				mu.Unlock()
				_, err = nc.Write(head)
				tick := time.NewTicker(2 * time.Second)
				for err == nil {
					select {
					case <-stop:
						err = net.ErrClosed
					case <-tick.C:
						_, err = nc.Write([]byte{0})
					}
				}
				tick.Stop()
				nc.Close()
			}
		}()
	}

	// While the attack holds budget, the gauge shows it.
	var inUse float64
	waitForErr(t, 10*time.Second, "the attack to show in sluice_request_budget_in_use_bytes", func() error {
		if inUse, _ = scrapeMetrics(t, httpAddr).value("sluice_request_budget_in_use_bytes"); inUse < budget/2 {
			return fmt.Errorf("at %v, want at least the attacker's share %d", inUse, budget/2)
		}
		return nil
	})
	// The attack goes on for 8 s while the prober measures; the budget in
	// use stays within the attacker's share, one request past it, and the
	// normal client's small requests. The 8 s are the attack's length, and
	// the gauge is sampled through them.
	peak := inUse
	for end := time.Now().Add(8 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		v, _ := scrapeMetrics(t, httpAddr).value("sluice_request_budget_in_use_bytes")
		peak = max(peak, v)
	}
	t.Logf("request budget in use under the attack: peak %.1f MiB of %d MiB", peak/(1<<20), budget>>20)
	if peak > budget/2+maxRequest+1<<20 {
		t.Errorf("the attacker held up to %.1f MiB, want at most its share %d MiB and one request", peak/(1<<20), budget>>21)
	}
	close(stop)
	wg.Wait()
	t.Logf("attacker opened %d connections", opened)
	checkNormalClient(t, normal)
	if !strings.Contains(p.logs(), "client=127.0.0.2") {
		t.Errorf("no log line names the attacker waiting for its share:\n%s", p.logs())
	}
	// Once the attacker has left, the budget is given back.
	waitForErr(t, 10*time.Second, "the budget given back after the attacker left", func() error {
		if v, _ := scrapeMetrics(t, httpAddr).value("sluice_request_budget_in_use_bytes"); v >= maxRequest {
			return fmt.Errorf("sluice_request_budget_in_use_bytes still %v", v)
		}
		return nil
	})
}
