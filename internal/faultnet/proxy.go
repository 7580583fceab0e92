package faultnet

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"
)

// Mode is what a fault does to a connection's bytes.
type Mode int

const (
	Pass         Mode = iota // forward both ways
	Delay                    // forward after Fault.Delay
	Drop                     // forward nothing, either way
	Cut                      // close connections, refuse new ones
	DropToTarget             // forward nothing from the client to the target
	DropToClient             // forward nothing from the target to the client
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Delay:
		return "delay"
	case Drop:
		return "drop"
	case Cut:
		return "cut"
	case DropToTarget:
		return "drop-to-target"
	case DropToClient:
		return "drop-to-client"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Fault is a Mode and, for Delay, the latency added to every chunk of
// bytes in each direction.
type Fault struct {
	Mode  Mode
	Delay time.Duration
}

// SourceFunc labels a connection the proxy accepted; "" is no label.
type SourceFunc func(c net.Conn) string

// Option configures a Proxy.
type Option func(*Proxy)

// WithSource labels every accepted connection with f, for SetFrom.
func WithSource(f SourceFunc) Option { return func(p *Proxy) { p.source = f } }

// WithDialTimeout bounds the dial to the target (default 5s).
func WithDialTimeout(d time.Duration) Option { return func(p *Proxy) { p.dialTimeout = d } }

// Proxy forwards connections from a loopback port to a target address,
// applying the current fault. Its methods are safe for concurrent use.
type Proxy struct {
	target      string
	ln          net.Listener
	source      SourceFunc
	dialTimeout time.Duration

	mu       sync.Mutex
	all      Fault
	bySource map[string]Fault
	links    map[*link]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// Listen starts a proxy on 127.0.0.1 (an ephemeral port) to target.
func Listen(target string, opts ...Option) (*Proxy, error) {
	return ListenAt("127.0.0.1:0", target, opts...)
}

// ListenAt is Listen on a chosen address, for a proxy that must keep its
// address across restarts of a test's processes.
func ListenAt(addr, target string, opts ...Option) (*Proxy, error) {
	if target == "" {
		return nil, errors.New("faultnet: empty target address")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultnet: listen: %w", err)
	}
	p := &Proxy{target: target, ln: ln, dialTimeout: 5 * time.Second, bySource: map[string]Fault{}, links: map[*link]struct{}{}}
	for _, o := range opts {
		o(p)
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's listen address, to give clients instead of the target's.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Target is the address the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Set applies f to connections from every source without a fault of its own.
func (p *Proxy) Set(f Fault) {
	p.mu.Lock()
	p.all = f
	p.mu.Unlock()
	p.enforce()
}

// SetFrom applies f to connections labelled source, whatever Set says.
func (p *Proxy) SetFrom(source string, f Fault) {
	p.mu.Lock()
	p.bySource[source] = f
	p.mu.Unlock()
	p.enforce()
}

// Heal removes every fault: bytes flow again on the connections that
// survived, and new connections are forwarded.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.all = Fault{}
	clear(p.bySource)
	p.mu.Unlock()
}

// Fault is the fault that applies now to connections from source.
func (p *Proxy) Fault(source string) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faultLocked(source)
}

func (p *Proxy) faultLocked(source string) Fault {
	if f, ok := p.bySource[source]; ok {
		return f
	}
	return p.all
}

// Conns is the number of connections the proxy forwards now.
func (p *Proxy) Conns() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// linkFault is the fault that applies now to l.
func (p *Proxy) linkFault(l *link) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.faultLocked(l.source)
}

// enforce labels the connections that had no label when they were
// accepted, then closes those a Cut now applies to. A connection opened
// by a process before the test registered it (a broker dialling its peers
// while it starts) would otherwise pass every per-source fault for as
// long as it lives.
func (p *Proxy) enforce() {
	p.relabel()
	p.mu.Lock()
	var cut []*link
	for l := range p.links {
		if p.faultLocked(l.source).Mode == Cut {
			cut = append(cut, l)
			delete(p.links, l)
		}
	}
	p.mu.Unlock()
	for _, l := range cut {
		l.close()
	}
}

// relabel asks the SourceFunc again, once, for each connection that got
// no label when it was accepted. Once is enough: a process registered
// after it connected is registered by the time a test sets a fault, and
// asking again at every fault for the test's own clients (which never get
// a label) made a test's series of SetFrom calls take seconds, faults
// applying that much late.
func (p *Proxy) relabel() {
	if p.source == nil {
		return
	}
	p.mu.Lock()
	var unlabelled []*link
	for l := range p.links {
		if l.source == "" && !l.relabelled {
			l.relabelled = true
			unlabelled = append(unlabelled, l)
		}
	}
	p.mu.Unlock()
	for _, l := range unlabelled {
		if src := p.source(l.client); src != "" {
			p.mu.Lock()
			l.source = src
			p.mu.Unlock()
		}
	}
}

// Close stops the proxy and closes every connection through it.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			time.Sleep(10 * time.Millisecond) // a temporary error such as EMFILE
			continue
		}
		var source string
		if p.source != nil {
			source = p.source(c)
		}
		if p.Fault(source).Mode == Cut {
			c.Close()
			continue
		}
		p.wg.Add(1)
		go p.serve(c, source)
	}
}

// serve dials the target for client c and forwards until either side ends.
func (p *Proxy) serve(c net.Conn, source string) {
	defer p.wg.Done()
	up, err := net.DialTimeout("tcp", p.target, p.dialTimeout)
	if err != nil {
		c.Close()
		return
	}
	l := &link{client: c, target: up, source: source, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
		l.close()
	}()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pump(l, c, up, DropToTarget) }()
	go func() { defer wg.Done(); p.pump(l, up, c, DropToClient) }()
	wg.Wait()
}

// link is one client connection and its connection to the target.
type link struct {
	client, target net.Conn
	source         string // guarded by the proxy's mu
	relabelled     bool   // asked for a label again; guarded by the proxy's mu
	once           sync.Once
	done           chan struct{}
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		l.client.Close()
		l.target.Close()
	})
}

// chunk is bytes read at a time, to be written once the delay has passed.
type chunk struct {
	b  []byte
	at time.Time
}

// pump copies src to dst under the link's fault; oneWay is the Mode that
// drops this direction. Reading never waits on writing, so a delay adds
// latency without limiting throughput; a slow dst backs the queue up to
// its bound, then the reader. A clean EOF is passed on as a half-close
// unless the direction is dropped; any other end closes the link.
func (p *Proxy) pump(l *link, src, dst net.Conn, oneWay Mode) {
	queue := make(chan chunk, 256)
	written := make(chan struct{})
	go func() {
		defer close(written)
		for ch := range queue {
			if wait := time.Until(ch.at); wait > 0 {
				t := time.NewTimer(wait)
				select {
				case <-t.C:
				case <-l.done:
					t.Stop()
					return
				}
			}
			if _, err := dst.Write(ch.b); err != nil {
				l.close()
				return
			}
		}
	}()
	eof := p.read(l, src, queue, oneWay)
	close(queue)
	<-written
	if !eof {
		l.close()
		return
	}
	if m := p.linkFault(l).Mode; m == Drop || m == oneWay {
		return
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
}

// read queues what src sends until it ends; eof reports a clean end.
func (p *Proxy) read(l *link, src net.Conn, queue chan<- chunk, oneWay Mode) (eof bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			f := p.linkFault(l)
			switch f.Mode {
			case Cut:
				return false
			case Drop, oneWay:
				// blackholed
			default:
				ch := chunk{b: append([]byte(nil), buf[:n]...), at: time.Now()}
				if f.Mode == Delay {
					ch.at = ch.at.Add(f.Delay)
				}
				select {
				case queue <- ch:
				case <-l.done:
					return false
				}
			}
		}
		if err != nil {
			return errors.Is(err, io.EOF)
		}
	}
}
