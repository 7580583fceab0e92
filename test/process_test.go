package test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The sluice binary, built once per test run by TestMain.
var sluiceBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sluice-test-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	sluiceBin = filepath.Join(dir, "sluice")
	build := exec.Command("go", "build", "-o", sluiceBin, "../cmd/sluice")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build sluice:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// process is a sluice broker running as a separate process.
type process struct {
	t       testing.TB
	cmd     *exec.Cmd
	addr    string
	dataDir string
	args    []string
	bin     string   // the binary; empty is sluiceBin
	env     []string // added to the test's environment
	done    chan struct{}
	ready   chan string // the listen address, once serving
	mu      sync.Mutex
	output  strings.Builder
}

// startProcess runs `sluice serve` on dataDir with extra args and waits
// until it listens. listen may be "127.0.0.1:0".
func startProcess(t testing.TB, dataDir, listen string, args ...string) *process {
	t.Helper()
	p := &process{t: t, dataDir: dataDir, args: args}
	p.start(listen)
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	return p
}

func (p *process) start(listen string) {
	p.t.Helper()
	p.launch(listen)
	p.waitReady()
}

// launch starts the process without waiting for it to listen; waitReady
// waits. Brokers of a cluster are launched together, since none is ready
// before the metadata quorum has formed.
func (p *process) launch(listen string) {
	p.t.Helper()
	args := append([]string{"serve", "--listen", listen, "--data-dir", p.dataDir, "--log-level", "info"}, p.args...)
	bin := sluiceBin
	if p.bin != "" {
		bin = p.bin
	}
	cmd := exec.Command(bin, args...)
	if len(p.env) > 0 {
		cmd.Env = append(os.Environ(), p.env...)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start sluice: %v", err)
	}
	p.cmd, p.done = cmd, make(chan struct{})
	addrCh := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			p.mu.Lock()
			p.output.WriteString(line + "\n")
			p.mu.Unlock()
			addr := ""
			if rest, ok := strings.CutPrefix(line, "sluice: serving Kafka on "); ok {
				addr, _, _ = strings.Cut(rest, " ")
			} else if strings.HasPrefix(line, "{") {
				// --log-format json logs it: msg "serving Kafka", addr.
				var rec struct{ Msg, Addr string }
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "serving Kafka" {
					addr = rec.Addr
				}
			}
			if addr != "" {
				select {
				case addrCh <- addr:
				default:
				}
			}
		}
	}()
	go func() { cmd.Wait(); close(p.done) }()
	p.ready = addrCh
}

func (p *process) waitReady() {
	p.t.Helper()
	select {
	case p.addr = <-p.ready:
	case <-p.done:
		p.t.Fatalf("sluice exited before listening:\n%s", p.logs())
	case <-time.After(30 * time.Second):
		p.t.Fatalf("sluice did not start listening in 30s:\n%s", p.logs())
	}
}

func (p *process) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.output.String()
}

// kill sends sig and waits for the process to exit.
func (p *process) kill(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
		return
	default:
	}
	p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// signal sends sig (SIGSTOP, SIGCONT) without waiting.
func (p *process) signal(sig syscall.Signal) {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(sig)
	}
}

// restart starts the process again on the same data directory and port.
func (p *process) restart() {
	p.t.Helper()
	p.start(p.addr)
}

var _ = context.Background
