package server

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/sluice-io/sluice/internal/devcert"
)

// BenchmarkTLSResponseWrite writes 1 MiB responses over TLS on loopback
// TCP, each followed by a flush, with crypto/tls writing its records
// straight to the socket (direct) or gathered by coalescingConn: the
// client's reads and decryption run in the same process, so ns/op is the
// CPU of both ends per response.
func BenchmarkTLSResponseWrite(b *testing.B) {
	now := time.Now()
	ca, _ := devcert.NewCA("bench CA", now, time.Hour)
	pair, _ := ca.Server(now, time.Hour, "127.0.0.1")
	cert, _ := pair.TLS()
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(ca.CertPEM)
	resp := make([]byte, 1<<20)
	for _, coalesce := range []bool{false, true} {
		name := "direct"
		if coalesce {
			name = "coalesced"
		}
		b.Run(name, func(b *testing.B) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer ln.Close()
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{RootCAs: roots})
				if err != nil {
					return
				}
				defer c.Close()
				io.Copy(io.Discard, c)
			}()
			raw, err := ln.Accept()
			if err != nil {
				b.Fatal(err)
			}
			pool := &sync.Pool{New: newWireBuffer}
			wire := &coalescingConn{Conn: raw, pool: pool}
			tc := tls.Server(wire, &tls.Config{Certificates: []tls.Certificate{cert}})
			if err := tc.Handshake(); err != nil {
				b.Fatal(err)
			}
			if coalesce {
				wire.enable()
			}
			b.SetBytes(int64(len(resp)))
			b.ResetTimer()
			for range b.N {
				if _, err := tc.Write(resp); err != nil {
					b.Fatal(err)
				}
				if err := wire.Flush(); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			tc.Close()
			wg.Wait()
		})
	}
}
