package node

// Named listeners and their security: listeners, advertised.listeners,
// listener.security.protocol.map and inter.broker.listener.name, and per
// listener the TLS files and SASL mechanisms (listener.name.<name>.<config>
// overrides the plain config for that listener, as in Kafka).

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/sluice-io/sluice/internal/auth"
	"github.com/sluice-io/sluice/internal/cluster"
	"github.com/sluice-io/sluice/internal/config"
	"github.com/sluice-io/sluice/internal/server"
)

// listenerSpec is one configured listener.
type listenerSpec struct {
	name, protocol string
	bind           string // host:port to listen on
	advertise      string // host:port to advertise; "" is the bound address
}

// listenerSettings holds the listener.name.<name>.<config> overrides,
// by lower-case listener name, and reads a config for a listener.
type listenerSettings struct {
	static   *config.Broker
	override map[string]map[string]string
}

const listenerPrefix = "listener.name."

// splitListenerSettings takes the listener.name.* settings out of
// settings (the broker config table does not know them) and checks that
// each names a known config.
func splitListenerSettings(settings map[string]string) (map[string]string, map[string]map[string]string, error) {
	rest := make(map[string]string, len(settings))
	over := map[string]map[string]string{}
	table := config.BrokerTable()
	for k, v := range settings {
		suffix, ok := strings.CutPrefix(k, listenerPrefix)
		if !ok {
			rest[k] = v
			continue
		}
		name, cfgName, ok := strings.Cut(suffix, ".")
		if !ok || name == "" {
			return nil, nil, fmt.Errorf("%s: want listener.name.<listener>.<config>", k)
		}
		check := cfgName
		// listener.name.<l>.<mechanism>.sasl.jaas.config, as in Kafka.
		if m, c, ok := strings.Cut(cfgName, "."); ok && strings.HasPrefix(c, "sasl.") && isMechanism(strings.ToUpper(m)) {
			check = c
		}
		if err := table.Validate(check, v); err != nil {
			return nil, nil, fmt.Errorf("%s: %w", k, err)
		}
		name = strings.ToLower(name)
		if over[name] == nil {
			over[name] = map[string]string{}
		}
		over[name][cfgName] = v
	}
	return rest, over, nil
}

func isMechanism(m string) bool {
	switch m {
	case auth.MechPlain, auth.MechScramSHA256, auth.MechScramSHA512, auth.MechOAuthBearer:
		return true
	}
	return false
}

// get returns the value of name for a listener: its override, else the
// broker's value ("" when null).
func (s *listenerSettings) get(listener, name string) string {
	if v, ok := s.override[strings.ToLower(listener)][name]; ok {
		return v
	}
	return s.static.String(name)
}

// list is get split at commas, empty entries dropped.
func (s *listenerSettings) list(listener, name string) []string {
	var out []string
	for _, v := range strings.Split(s.get(listener, name), ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

var listenerRE = regexp.MustCompile(`^([A-Za-z0-9_]+)://(.*)$`)

// parseListeners reads listeners and advertised.listeners; without
// listeners, the node has one PLAINTEXT listener at listen/advertise.
func parseListeners(s *listenerSettings, listen, advertise string) ([]listenerSpec, string, error) {
	if s.static.String("listeners") == "" {
		return []listenerSpec{{name: server.ProtocolPlaintext, protocol: server.ProtocolPlaintext, bind: listen, advertise: advertise}}, server.ProtocolPlaintext, nil
	}
	protocols, err := protocolMap(s)
	if err != nil {
		return nil, "", err
	}
	parse := func(config, entry string) (string, string, error) {
		m := listenerRE.FindStringSubmatch(strings.TrimSpace(entry))
		if m == nil {
			return "", "", fmt.Errorf("%s: %q is not NAME://host:port", config, entry)
		}
		if _, _, err := net.SplitHostPort(m[2]); err != nil {
			return "", "", fmt.Errorf("%s: %q: %w", config, entry, err)
		}
		return strings.ToUpper(m[1]), m[2], nil
	}
	var specs []listenerSpec
	for _, entry := range s.static.List("listeners") {
		name, addr, err := parse("listeners", entry)
		if err != nil {
			return nil, "", err
		}
		proto, ok := protocols[name]
		if !ok {
			return nil, "", fmt.Errorf("listeners: %s has no security protocol in listener.security.protocol.map", name)
		}
		if slices.ContainsFunc(specs, func(l listenerSpec) bool { return l.name == name }) {
			return nil, "", fmt.Errorf("listeners: %s listed twice", name)
		}
		specs = append(specs, listenerSpec{name: name, protocol: proto, bind: addr})
	}
	if len(specs) == 0 {
		return nil, "", fmt.Errorf("listeners: no listener")
	}
	for _, entry := range s.static.List("advertised.listeners") {
		name, addr, err := parse("advertised.listeners", entry)
		if err != nil {
			return nil, "", err
		}
		i := slices.IndexFunc(specs, func(l listenerSpec) bool { return l.name == name })
		if i < 0 {
			return nil, "", fmt.Errorf("advertised.listeners: %s is not in listeners", name)
		}
		specs[i].advertise = addr
	}
	inter := strings.ToUpper(s.static.String("inter.broker.listener.name"))
	if inter == "" {
		inter = specs[0].name
		want := s.static.String("security.inter.broker.protocol")
		if i := slices.IndexFunc(specs, func(l listenerSpec) bool { return l.protocol == want }); i >= 0 {
			inter = specs[i].name
		}
	} else if !slices.ContainsFunc(specs, func(l listenerSpec) bool { return l.name == inter }) {
		return nil, "", fmt.Errorf("inter.broker.listener.name %s is not in listeners", inter)
	}
	return specs, inter, nil
}

// protocolMap reads listener.security.protocol.map, by upper-case name.
func protocolMap(s *listenerSettings) (map[string]string, error) {
	protocols := map[string]string{}
	for _, kv := range s.static.List("listener.security.protocol.map") {
		name, proto, ok := strings.Cut(strings.TrimSpace(kv), ":")
		if !ok {
			return nil, fmt.Errorf("listener.security.protocol.map: %q is not NAME:PROTOCOL", kv)
		}
		switch proto {
		case server.ProtocolPlaintext, server.ProtocolSSL, server.ProtocolSASLPlaintext, server.ProtocolSASLSSL:
		default:
			return nil, fmt.Errorf("listener.security.protocol.map: %s: unknown security protocol %q", name, proto)
		}
		protocols[strings.ToUpper(name)] = proto
	}
	return protocols, nil
}

// controllerTLS is the mutual TLS of the controller (Raft) port: when
// controller.listener.names names a listener that listener.security.
// protocol.map maps to SSL, peers present and verify certificates from
// that listener's ssl.* files (listener.name.<name>.ssl.* or the plain
// ones). PLAINTEXT, or no controller listener name, is plain TCP.
func controllerTLS(s *listenerSettings, logger *slog.Logger) (serverCfg, client *tls.Config, err error) {
	names := s.static.List("controller.listener.names")
	if len(names) == 0 {
		return nil, nil, nil
	}
	name := strings.ToUpper(strings.TrimSpace(names[0]))
	protocols, err := protocolMap(s)
	if err != nil {
		return nil, nil, err
	}
	switch proto := protocols[name]; proto {
	case "", server.ProtocolPlaintext:
		return nil, nil, nil
	case server.ProtocolSSL:
	default:
		return nil, nil, fmt.Errorf("controller listener %s: protocol %s; the controller port speaks PLAINTEXT or SSL (mutual TLS)", name, proto)
	}
	files, err := s.tlsFiles(name)
	if err != nil {
		return nil, nil, err
	}
	files.ClientAuth = "required"
	st, err := auth.NewServerTLS(files, 0, logger.With("listener", name))
	if err != nil {
		return nil, nil, fmt.Errorf("controller listener %s: %w", name, err)
	}
	if client, err = auth.ClientTLS(files); err != nil {
		return nil, nil, fmt.Errorf("controller listener %s: %w", name, err)
	}
	if s.get(name, "ssl.endpoint.identification.algorithm") == "" {
		client.InsecureSkipVerify = true
		client.VerifyPeerCertificate = verifyChainOnly(client.RootCAs)
	}
	return st.Config(), client, nil
}

// tlsFiles are the PEM files and TLS versions a listener uses.
func (s *listenerSettings) tlsFiles(listener string) (auth.TLSFiles, error) {
	first := func(names ...string) string {
		for _, n := range names {
			if v := s.get(listener, n); v != "" {
				return v
			}
		}
		return ""
	}
	files := auth.TLSFiles{
		CertFile:   first("ssl.certificate.location", "ssl.keystore.location"),
		KeyFile:    first("ssl.key.location"),
		CAFile:     first("ssl.ca.location", "ssl.truststore.location"),
		ClientAuth: s.get(listener, "ssl.client.auth"),
		CertPEM:    first("ssl.keystore.certificate.chain"),
		KeyPEM:     first("ssl.keystore.key"),
		CAPEM:      first("ssl.truststore.certificates"),
	}
	minVer, err := minTLSVersion(s.list(listener, "ssl.enabled.protocols"))
	if err != nil {
		return files, fmt.Errorf("listener %s: %w", listener, err)
	}
	files.MinVersion = minVer
	return files, nil
}

// minTLSVersion is the oldest version ssl.enabled.protocols lists.
func minTLSVersion(protocols []string) (uint16, error) {
	var v uint16
	for _, p := range protocols {
		var pv uint16
		switch p {
		case "TLSv1.2":
			pv = tls.VersionTLS12
		case "TLSv1.3":
			pv = tls.VersionTLS13
		default:
			return 0, fmt.Errorf("ssl.enabled.protocols: %q is not supported (TLSv1.2, TLSv1.3)", p)
		}
		if v == 0 || pv < v {
			v = pv
		}
	}
	if v == 0 {
		return 0, errors.New("ssl.enabled.protocols is empty")
	}
	return v, nil
}

// securityFor builds the server side of a listener: its TLS
// configuration and SASL mechanisms.
func (n *Node) securityFor(ctx context.Context, s *listenerSettings, spec listenerSpec) (server.Listener, error) {
	l := server.Listener{Name: spec.name, Protocol: spec.protocol}
	logger := n.logger.With("listener", spec.name)
	if spec.protocol == server.ProtocolSSL || spec.protocol == server.ProtocolSASLSSL {
		files, err := s.tlsFiles(spec.name)
		if err != nil {
			return l, err
		}
		if spec.protocol == server.ProtocolSASLSSL {
			// As Kafka (KIP-684): on SASL_SSL the client authenticates
			// by SASL, and only listener.name.<l>.ssl.client.auth asks
			// for a certificate too; the broker-wide setting is for SSL
			// listeners.
			v, ok := s.override[strings.ToLower(spec.name)]["ssl.client.auth"]
			if !ok && files.ClientAuth != "" && files.ClientAuth != "none" {
				logger.Warn("ssl.client.auth does not apply to a SASL_SSL listener; set listener.name.<listener>.ssl.client.auth to ask its clients for certificates", "ssl.client.auth", files.ClientAuth)
			}
			files.ClientAuth = v
		}
		st, err := auth.NewServerTLS(files, 0, logger)
		if err != nil {
			return l, fmt.Errorf("listener %s: %w", spec.name, err)
		}
		l.TLS = st.Config()
		if l.Principals, err = auth.ParsePrincipalRules(s.get(spec.name, "ssl.principal.mapping.rules")); err != nil {
			return l, fmt.Errorf("listener %s: %w", spec.name, err)
		}
	}
	if spec.protocol != server.ProtocolSASLPlaintext && spec.protocol != server.ProtocolSASLSSL {
		return l, nil
	}
	usersFile := s.get(spec.name, "sasl.plain.users.file")
	jwks := s.get(spec.name, "sasl.oauthbearer.jwks.endpoint.url")
	mechs := s.list(spec.name, "sasl.enabled.mechanisms")
	if len(mechs) == 0 {
		mechs = []string{auth.MechScramSHA256, auth.MechScramSHA512}
		if usersFile != "" {
			mechs = append(mechs, auth.MechPlain)
		}
		if jwks != "" {
			mechs = append(mechs, auth.MechOAuthBearer)
		}
	}
	var list []auth.Mechanism
	for _, m := range mechs {
		switch m {
		case auth.MechPlain:
			if usersFile == "" {
				return l, fmt.Errorf("listener %s: PLAIN is enabled but sasl.plain.users.file is not set", spec.name)
			}
			users, err := auth.LoadPlainUsers(usersFile, 0, logger)
			if err != nil {
				return l, fmt.Errorf("listener %s: %w", spec.name, err)
			}
			list = append(list, users)
		case auth.MechScramSHA256, auth.MechScramSHA512:
			sc, err := auth.NewScram(m, n.scramLookup)
			if err != nil {
				return l, err
			}
			list = append(list, sc)
		case auth.MechOAuthBearer:
			if jwks == "" {
				return l, fmt.Errorf("listener %s: OAUTHBEARER is enabled but sasl.oauthbearer.jwks.endpoint.url is not set", spec.name)
			}
			o, err := auth.NewOAuthBearer(ctx, auth.OAuthConfig{
				JWKSURL:   jwks,
				Refresh:   ms(s.static.Int64("sasl.oauthbearer.jwks.endpoint.refresh.ms")),
				Audience:  s.list(spec.name, "sasl.oauthbearer.expected.audience"),
				Issuer:    s.get(spec.name, "sasl.oauthbearer.expected.issuer"),
				SubClaim:  s.get(spec.name, "sasl.oauthbearer.sub.claim.name"),
				ClockSkew: time.Duration(s.static.Int64("sasl.oauthbearer.clock.skew.seconds")) * time.Second,
				Logger:    logger,
			})
			if err != nil {
				return l, fmt.Errorf("listener %s: %w", spec.name, err)
			}
			list = append(list, o)
		default:
			return l, fmt.Errorf("listener %s: SASL mechanism %q is not supported (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER)", spec.name, m)
		}
	}
	l.SASL = auth.NewSASL(list...)
	reauth, err := strconv.ParseInt(s.get(spec.name, "connections.max.reauth.ms"), 10, 64)
	if err != nil {
		return l, fmt.Errorf("listener %s: connections.max.reauth.ms: %w", spec.name, err)
	}
	l.ReauthAfter = ms(reauth)
	maxRecv, err := strconv.ParseInt(s.get(spec.name, "sasl.server.max.receive.size"), 10, 32)
	if err != nil || maxRecv < 1 {
		return l, fmt.Errorf("listener %s: sasl.server.max.receive.size %q", spec.name, s.get(spec.name, "sasl.server.max.receive.size"))
	}
	l.MaxPreAuthRequest = int32(maxRecv)
	return l, nil
}

// scramLookup reads SCRAM credentials from the local metadata image.
func (n *Node) scramLookup(user, mechanism string) (auth.ScramCredential, bool) {
	c, ok := n.cluster.Image().ScramCredential(user, mechanism)
	if !ok {
		return auth.ScramCredential{}, false
	}
	return auth.ScramCredential{Salt: c.Salt, Iterations: c.Iterations, StoredKey: c.StoredKey, ServerKey: c.ServerKey}, true
}

// jaasRE finds username="..." and password="..." in a JAAS line.
var jaasRE = regexp.MustCompile(`(username|password)\s*=\s*"((?:[^"\\]|\\.)*)"`)

// parseJAAS reads the username and password of Kafka's JAAS syntax,
// `...LoginModule required username="u" password="p";`.
func parseJAAS(s string) (user, pass string, err error) {
	for _, m := range jaasRE.FindAllStringSubmatch(s, -1) {
		v := strings.NewReplacer(`\"`, `"`, `\\`, `\`).Replace(m[2])
		if m[1] == "username" {
			user = v
		} else {
			pass = v
		}
	}
	if user == "" {
		return "", "", fmt.Errorf("sasl.jaas.config: no username=\"...\" in it")
	}
	return user, pass, nil
}

// interBrokerOpts are the kgo options a broker's clients to other brokers
// (follower fetchers, peers) use: the inter-broker listener's TLS and SASL.
func interBrokerOpts(s *listenerSettings, spec listenerSpec) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if spec.protocol == server.ProtocolSSL || spec.protocol == server.ProtocolSASLSSL {
		files, err := s.tlsFiles(spec.name)
		if err != nil {
			return nil, err
		}
		cfg, err := auth.ClientTLS(files)
		if err != nil {
			return nil, fmt.Errorf("inter-broker TLS: %w", err)
		}
		if s.get(spec.name, "ssl.endpoint.identification.algorithm") == "" {
			// The chain is still verified, by hand: only the host name
			// check is skipped.
			cfg.InsecureSkipVerify = true
			cfg.VerifyPeerCertificate = verifyChainOnly(cfg.RootCAs)
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if spec.protocol == server.ProtocolSASLPlaintext || spec.protocol == server.ProtocolSASLSSL {
		mech := s.get(spec.name, "sasl.mechanism.inter.broker.protocol")
		jaas := s.get(spec.name, strings.ToLower(mech)+".sasl.jaas.config")
		if jaas == "" {
			jaas = s.get(spec.name, "sasl.jaas.config")
		}
		if jaas == "" {
			return nil, fmt.Errorf("inter-broker listener %s uses SASL but neither sasl.jaas.config nor listener.name.%s.%s.sasl.jaas.config gives this broker's credentials", spec.name, strings.ToLower(spec.name), strings.ToLower(mech))
		}
		user, pass, err := parseJAAS(jaas)
		if err != nil {
			return nil, err
		}
		var m sasl.Mechanism
		switch mech {
		case auth.MechPlain:
			m = plain.Auth{User: user, Pass: pass}.AsMechanism()
		case auth.MechScramSHA256:
			m = scram.Auth{User: user, Pass: pass}.AsSha256Mechanism()
		case auth.MechScramSHA512:
			m = scram.Auth{User: user, Pass: pass}.AsSha512Mechanism()
		default:
			return nil, fmt.Errorf("sasl.mechanism.inter.broker.protocol %q is not supported", mech)
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// endpoints are the advertised addresses of the listeners as bound.
func endpoints(specs []listenerSpec, lns []net.Listener) ([]cluster.Endpoint, error) {
	out := make([]cluster.Endpoint, len(specs))
	for i, spec := range specs {
		host, port, err := advertised(spec.advertise, lns[i].Addr())
		if err != nil {
			return nil, fmt.Errorf("listener %s: %w", spec.name, err)
		}
		out[i] = cluster.Endpoint{Name: spec.name, Host: host, Port: port, Protocol: spec.protocol}
	}
	return out, nil
}

// verifyChainOnly checks a peer's chain against pool without checking the
// host name (ssl.endpoint.identification.algorithm empty).
func verifyChainOnly(pool *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("the broker presented no certificate")
		}
		certs := make([]*x509.Certificate, len(raw))
		for i, der := range raw {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return err
			}
			certs[i] = c
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		_, err := certs[0].Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		return err
	}
}
