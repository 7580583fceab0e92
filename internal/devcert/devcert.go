// Package devcert makes the certificates of a local TLS setup: a
// certificate authority, a server certificate for the loopback names and
// client certificates signed by the CA. `sluice serve --dev-security` keeps
// them in its data directory; the integration tests make them per test.
//
// It is for development and tests, never for production: the CA key sits
// beside the certificates it signs. Keys are ECDSA P-256 in PKCS#8 PEM
// ("PRIVATE KEY"), which Go, OpenSSL (librdkafka, kafka-python), Node
// (kafkajs) and the Java client's PEM key stores (KIP-651) all read.
package devcert

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// CA is a certificate authority that signs server and client certificates.
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
	// CertPEM is Cert as PEM, what clients trust (ssl.ca.location,
	// ssl.truststore.location with ssl.truststore.type=PEM).
	CertPEM []byte
}

// Pair is a certificate and its private key, both PEM.
type Pair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// TLS returns the pair as a tls.Certificate.
func (p Pair) TLS() (tls.Certificate, error) { return tls.X509KeyPair(p.CertPEM, p.KeyPEM) }

// NewCA makes a self-signed CA valid from an hour before now for validity.
func NewCA(commonName string, now time.Time, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devcert: generate CA key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Sluice development"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devcert: create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devcert: parse CA certificate: %w", err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der)}, nil
}

// Leaf describes a certificate for the CA to sign.
type Leaf struct {
	// CommonName is the subject's CN; for a client certificate it becomes
	// the principal under the DEFAULT ssl.principal.mapping.rules
	// (User:CN=name).
	CommonName string
	// Hosts are the DNS names and IP addresses a server certificate is
	// valid for.
	Hosts []string
	// Server and Client set the extended key usages.
	Server, Client bool
	NotBefore      time.Time
	NotAfter       time.Time
}

// Sign issues a certificate for leaf.
func (ca *CA) Sign(leaf Leaf) (Pair, error) {
	if !leaf.Server && !leaf.Client {
		return Pair{}, errors.New("devcert: a certificate needs Server or Client usage")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Pair{}, fmt.Errorf("devcert: generate key: %w", err)
	}
	serial, err := serialNumber()
	if err != nil {
		return Pair{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: leaf.CommonName},
		NotBefore:    leaf.NotBefore,
		NotAfter:     leaf.NotAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	if leaf.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if leaf.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, h := range leaf.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return Pair{}, fmt.Errorf("devcert: sign certificate for %s: %w", leaf.CommonName, err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return Pair{}, fmt.Errorf("devcert: encode key: %w", err)
	}
	return Pair{CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("PRIVATE KEY", keyDER)}, nil
}

// Server issues a server certificate for hosts, valid for validity.
func (ca *CA) Server(now time.Time, validity time.Duration, hosts ...string) (Pair, error) {
	return ca.Sign(Leaf{CommonName: hosts[0], Hosts: hosts, Server: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity)})
}

// Client issues a client certificate with subject CN=commonName.
func (ca *CA) Client(now time.Time, validity time.Duration, commonName string) (Pair, error) {
	return ca.Sign(Leaf{CommonName: commonName, Client: true, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(validity)})
}

// KeyPEM returns the CA's private key as PKCS#8 PEM.
func (ca *CA) KeyPEM() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(ca.Key)
	if err != nil {
		return nil, fmt.Errorf("devcert: encode CA key: %w", err)
	}
	return pemBlock("PRIVATE KEY", der), nil
}

// Files names the PEM files of a local TLS setup in one directory.
type Files struct {
	Dir        string
	CA         string // ca.pem: the CA certificate clients and brokers trust
	CAKey      string // ca-key.pem
	ServerCert string // server.pem: for the Hosts given to Ensure
	ServerKey  string // server-key.pem
	ClientCert string // client.pem: CN=ClientName, for mutual TLS
	ClientKey  string // client-key.pem
}

// FilesIn returns the file names Ensure uses in dir.
func FilesIn(dir string) Files {
	return Files{
		Dir:        dir,
		CA:         filepath.Join(dir, "ca.pem"),
		CAKey:      filepath.Join(dir, "ca-key.pem"),
		ServerCert: filepath.Join(dir, "server.pem"),
		ServerKey:  filepath.Join(dir, "server-key.pem"),
		ClientCert: filepath.Join(dir, "client.pem"),
		ClientKey:  filepath.Join(dir, "client-key.pem"),
	}
}

// Validity is how long Ensure's certificates are valid.
const Validity = 825 * 24 * time.Hour

// Ensure makes a CA, a server certificate for hosts and a client
// certificate for clientName in dir, unless dir already holds all of them,
// which are then reused as they are. created says whether it wrote them.
// Keys are written 0600, and dir is created 0700.
func Ensure(dir string, now time.Time, clientName string, hosts ...string) (f Files, created bool, err error) {
	f = FilesIn(dir)
	all := []string{f.CA, f.CAKey, f.ServerCert, f.ServerKey, f.ClientCert, f.ClientKey}
	have := 0
	for _, p := range all {
		if _, err := os.Stat(p); err == nil {
			have++
		}
	}
	if have == len(all) {
		return f, false, nil
	}
	if have != 0 {
		return f, false, fmt.Errorf("devcert: %s holds only some of the certificate files; remove them to generate new ones", dir)
	}
	if len(hosts) == 0 {
		return f, false, errors.New("devcert: no hosts for the server certificate")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return f, false, fmt.Errorf("devcert: %w", err)
	}
	ca, err := NewCA("Sluice development CA", now, Validity)
	if err != nil {
		return f, false, err
	}
	server, err := ca.Server(now, Validity, hosts...)
	if err != nil {
		return f, false, err
	}
	client, err := ca.Client(now, Validity, clientName)
	if err != nil {
		return f, false, err
	}
	caKey, err := ca.KeyPEM()
	if err != nil {
		return f, false, err
	}
	// Keys first and the CA certificate last, so an interrupted run
	// leaves a partial set that the next run reports instead of reusing.
	for _, w := range []struct {
		path string
		data []byte
		perm os.FileMode
	}{
		{f.CAKey, caKey, 0o600},
		{f.ServerKey, server.KeyPEM, 0o600},
		{f.ClientKey, client.KeyPEM, 0o600},
		{f.ServerCert, server.CertPEM, 0o644},
		{f.ClientCert, client.CertPEM, 0o644},
		{f.CA, ca.CertPEM, 0o644},
	} {
		if err := writeFile(w.path, w.data, w.perm); err != nil {
			return f, false, err
		}
	}
	return f, true, nil
}

// writeFile writes data to a new file and syncs it.
func writeFile(path string, data []byte, perm os.FileMode) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return fmt.Errorf("devcert: %w", err)
	}
	if _, err := fh.Write(data); err != nil {
		fh.Close()
		return fmt.Errorf("devcert: write %s: %w", path, err)
	}
	if err := fh.Sync(); err != nil {
		fh.Close()
		return fmt.Errorf("devcert: sync %s: %w", path, err)
	}
	return fh.Close()
}

func serialNumber() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("devcert: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
