package auth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"
)

// TLSFiles names the PEM files of a listener (or of a client to another
// broker) and how client certificates are treated.
type TLSFiles struct {
	// CertFile holds the certificate chain, leaf first
	// (ssl.certificate.location, or ssl.keystore.location as PEM).
	CertFile string
	// KeyFile holds the private key (ssl.key.location); empty when
	// CertFile holds the key too.
	KeyFile string
	// CAFile holds the CA certificates that client certificates (on a
	// server) or broker certificates (on a client) must chain to
	// (ssl.ca.location, or ssl.truststore.location as PEM); empty on a
	// client means the system roots.
	CAFile string
	// ClientAuth is ssl.client.auth: required, requested or none.
	ClientAuth string
	// MinVersion is the oldest TLS version accepted (ssl.enabled.protocols);
	// zero is TLS 1.2.
	MinVersion uint16
	// CertPEM, KeyPEM and CAPEM are PEM given in the config itself
	// (KIP-651: ssl.keystore.certificate.chain, ssl.keystore.key,
	// ssl.truststore.certificates); each wins over its file.
	CertPEM, KeyPEM, CAPEM string
}

// keyPair loads the certificate and key, inline PEM first.
func (f TLSFiles) keyPair() (tls.Certificate, error) {
	if f.CertPEM == "" {
		return LoadKeyPair(f.CertFile, f.KeyFile)
	}
	key := f.KeyPEM
	if key == "" {
		key = f.CertPEM
	}
	cert, err := tls.X509KeyPair(inlinePEM(f.CertPEM), inlinePEM(key))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("auth: ssl.keystore.certificate.chain with ssl.keystore.key: %w", err)
	}
	return cert, nil
}

// inlinePEM puts PEM given in a config value back on lines: a Java
// properties file joins continued lines, so Kafka configs carry
// "-----BEGIN CERTIFICATE-----MIIB... ...-----END CERTIFICATE-----" on one
// line, which Go's PEM decoder needs split at the armour.
func inlinePEM(s string) []byte {
	var b strings.Builder
	for {
		i := strings.Index(s, "-----")
		if i < 0 {
			b.WriteString(s)
			break
		}
		j := strings.Index(s[i+5:], "-----")
		if j < 0 {
			b.WriteString(s)
			break
		}
		armour := s[i : i+5+j+5]
		b.WriteString(s[:i])
		b.WriteString("\n" + armour + "\n")
		s = s[i+5+j+5:]
	}
	return []byte(b.String())
}

// caPool loads the CA certificates, inline PEM first; nil when none.
func (f TLSFiles) caPool() (*x509.CertPool, error) {
	switch {
	case f.CAPEM != "":
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(inlinePEM(f.CAPEM)) {
			return nil, errors.New("auth: ssl.truststore.certificates holds no PEM certificate")
		}
		return pool, nil
	case f.CAFile != "":
		return LoadCertPool(f.CAFile)
	}
	return nil, nil
}

func (f TLSFiles) minVersion() uint16 { return max(f.MinVersion, tls.VersionTLS12) }

// DefaultReloadCheck is how often certificate files are checked for
// changes, at most: a stat of each file on the next handshake after it.
const DefaultReloadCheck = 5 * time.Second

// ServerTLS serves a listener's TLS configuration, reloading the
// certificate, key and CA files when they change on disk: the next
// handshake after ReloadCheck stats them and, when one changed, loads them
// again. A reload that fails (a key not matching its certificate while an
// operator is halfway through replacing both) keeps the previous
// configuration and logs why.
type ServerTLS struct {
	files       TLSFiles
	logger      *slog.Logger
	reloadCheck time.Duration
	now         func() time.Time

	mu        sync.Mutex
	cur       *tls.Config
	stamps    [3]fileStamp
	lastCheck time.Time
}

type fileStamp struct {
	mod  time.Time
	size int64
}

// NewServerTLS loads files once, failing when they cannot be used, and
// returns the reloading configuration. reloadCheck <= 0 is
// DefaultReloadCheck.
func NewServerTLS(files TLSFiles, reloadCheck time.Duration, logger *slog.Logger) (*ServerTLS, error) {
	if files.CertFile == "" && files.CertPEM == "" {
		return nil, errors.New("auth: TLS listener without a certificate (ssl.certificate.location, ssl.keystore.location or ssl.keystore.certificate.chain)")
	}
	if _, err := clientAuthType(files.ClientAuth); err != nil {
		return nil, err
	}
	if reloadCheck <= 0 {
		reloadCheck = DefaultReloadCheck
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &ServerTLS{files: files, logger: logger, reloadCheck: reloadCheck, now: time.Now}
	cfg, stamps, err := s.load()
	if err != nil {
		return nil, err
	}
	s.cur, s.stamps, s.lastCheck = cfg, stamps, s.now()
	return s, nil
}

func clientAuthType(s string) (tls.ClientAuthType, error) {
	switch s {
	case "", "none":
		return tls.NoClientCert, nil
	case "requested":
		return tls.VerifyClientCertIfGiven, nil
	case "required":
		return tls.RequireAndVerifyClientCert, nil
	}
	return 0, fmt.Errorf("auth: ssl.client.auth %q: want required, requested or none", s)
}

func stamp(path string) (fileStamp, error) {
	if path == "" {
		return fileStamp{}, nil
	}
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{mod: fi.ModTime(), size: fi.Size()}, nil
}

func (s *ServerTLS) paths() [3]string {
	return [3]string{s.files.CertFile, s.files.KeyFile, s.files.CAFile}
}

// load reads the files into a fresh tls.Config.
func (s *ServerTLS) load() (*tls.Config, [3]fileStamp, error) {
	var stamps [3]fileStamp
	for i, p := range s.paths() {
		st, err := stamp(p)
		if err != nil {
			return nil, stamps, fmt.Errorf("auth: TLS file: %w", err)
		}
		stamps[i] = st
	}
	cert, err := s.files.keyPair()
	if err != nil {
		return nil, stamps, err
	}
	auth, _ := clientAuthType(s.files.ClientAuth)
	cfg := &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientAuth:   auth,
		MinVersion:   s.files.minVersion(),
	}
	pool, err := s.files.caPool()
	if err != nil {
		return nil, stamps, err
	}
	if pool != nil {
		cfg.ClientCAs = pool
	} else if auth != tls.NoClientCert {
		return nil, stamps, errors.New("auth: ssl.client.auth is set but no CA file (ssl.ca.location or ssl.truststore.location) verifies client certificates")
	}
	return cfg, stamps, nil
}

// Config is the listener's tls.Config: each handshake takes the current
// files' configuration through GetConfigForClient.
func (s *ServerTLS) Config() *tls.Config {
	return &tls.Config{
		MinVersion: s.files.minVersion(),
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			return s.Current(), nil
		},
	}
}

// Current returns the configuration of the files as last loaded, first
// reloading them if they changed and the last check is ReloadCheck old.
func (s *ServerTLS) Current() *tls.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	if now.Sub(s.lastCheck) < s.reloadCheck {
		return s.cur
	}
	s.lastCheck = now
	changed := false
	for i, p := range s.paths() {
		st, err := stamp(p)
		if err != nil {
			s.logger.Warn("TLS file unreadable; keeping the loaded certificates", "file", p, "err", err)
			return s.cur
		}
		if st != s.stamps[i] {
			changed = true
		}
	}
	if !changed {
		return s.cur
	}
	cfg, stamps, err := s.load()
	if err != nil {
		s.logger.Warn("TLS files changed but do not load; keeping the loaded certificates", "err", err)
		return s.cur
	}
	s.cur, s.stamps = cfg, stamps
	s.logger.Info("TLS certificates reloaded", "certificate", s.files.CertFile)
	return s.cur
}

// Certificate returns the current certificate, for clients that present
// the same one (inter-broker connections).
func (s *ServerTLS) Certificate() *tls.Certificate {
	c := s.Current()
	return &c.Certificates[0]
}

// LoadKeyPair reads a PEM certificate chain and key; keyFile "" means the
// key is in certFile.
func LoadKeyPair(certFile, keyFile string) (tls.Certificate, error) {
	if keyFile == "" {
		keyFile = certFile
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("auth: read certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("auth: read key: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("auth: certificate %s with key %s: %w", certFile, keyFile, err)
	}
	return cert, nil
}

// LoadCertPool reads PEM CA certificates.
func LoadCertPool(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("auth: read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("auth: CA file %s holds no PEM certificate", path)
	}
	return pool, nil
}

// ClientTLS is the configuration of a client connecting to another
// broker's TLS listener: the broker's CA verifies the peer, and the
// broker's own certificate (when files name one) is presented for mutual
// TLS. The server name is left for the dialer to fill in.
func ClientTLS(files TLSFiles) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: files.minVersion()}
	pool, err := files.caPool()
	if err != nil {
		return nil, err
	}
	cfg.RootCAs = pool
	if files.CertFile != "" || files.CertPEM != "" {
		// The certificate is reloaded when its files change, as the
		// listener's is.
		files.ClientAuth = ""
		st, err := NewServerTLS(files, 0, nil)
		if err != nil {
			return nil, err
		}
		cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return st.Certificate(), nil
		}
	}
	return cfg, nil
}
