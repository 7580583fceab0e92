package config

// secret is a read-only broker config whose value is never shown
// (DescribeConfigs reports it as sensitive, with no value).
func secret(name, doc string) *Def {
	d := ro(name, TypePassword, noDefault, nil, doc)
	d.Sensitive = true
	return d
}

// securityDefs are the listener, TLS and SASL configs, with Kafka's names
// where Kafka has one. TLS files are PEM; Sluice's own names
// (ssl.certificate.location, ssl.key.location, ssl.ca.location) are the
// clearer spelling of ssl.keystore.location and ssl.truststore.location.
// Each may also be set for one listener as listener.name.<name>.<config>
// (lower-case listener name), which wins over the plain name.
func securityDefs() []*Def {
	return []*Def{
		// Listeners.
		ro("listeners", TypeList, "", nil,
			"Listeners as NAME://host:port, separated by commas (PLAINTEXT://127.0.0.1:9092,SASL_SSL://0.0.0.0:9093); port 0 picks a free port. A name is a security protocol or is mapped to one by listener.security.protocol.map. Empty: one PLAINTEXT listener at --listen."),
		ro("advertised.listeners", TypeList, noDefault, nil,
			"Addresses clients are told to connect to, NAME://host:port per listener; a listener not named here advertises its own address. Each client is answered with the addresses of the listener it came in on."),
		ro("listener.security.protocol.map", TypeList, "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL", nil,
			"Security protocol of each listener name, NAME:PROTOCOL pairs (INTERNAL:SASL_SSL,EXTERNAL:SSL); protocols are PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL."),
		ro("inter.broker.listener.name", TypeString, noDefault, nil,
			"Listener other brokers connect to for replication and coordination, with its TLS and SASL. Empty: the listener whose protocol is security.inter.broker.protocol, else the first one."),
		ro("security.inter.broker.protocol", TypeString, "PLAINTEXT", oneOf("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"),
			"Security protocol between brokers when inter.broker.listener.name is not set."),
		ro("controller.listener.names", TypeList, noDefault, nil,
			"Name of the controller (Raft) listener; when listener.security.protocol.map maps it to SSL, the controller port (--controller-listen, controller.quorum.voters) uses mutual TLS with the broker's ssl.* files."),

		// TLS (SSL, SASL_SSL).
		ro("ssl.certificate.location", TypeString, noDefault, nil,
			"PEM file of the broker's certificate chain, leaf first (may hold the key too). Sluice's name for ssl.keystore.location."),
		ro("ssl.keystore.location", TypeString, noDefault, nil,
			"PEM file of the broker's certificate chain and, unless ssl.key.location is set, its unencrypted private key (ssl.keystore.type=PEM)."),
		ro("ssl.keystore.type", TypeString, "PEM", oneOf("PEM"),
			"Keystore format; Sluice reads PEM only."),
		secret("ssl.keystore.certificate.chain",
			"The broker's certificate chain as PEM in the config itself (ssl.keystore.type=PEM, KIP-651); wins over ssl.certificate.location."),
		secret("ssl.keystore.key",
			"The broker's unencrypted private key as PEM in the config itself (KIP-651); wins over ssl.key.location."),
		secret("ssl.truststore.certificates",
			"Trusted CA certificates as PEM in the config itself (KIP-651); wins over ssl.ca.location."),
		ro("ssl.key.location", TypeString, noDefault, nil,
			"PEM file of the broker's unencrypted private key, when the certificate file does not hold it."),
		ro("ssl.ca.location", TypeString, noDefault, nil,
			"PEM file of the CA certificates that client certificates (ssl.client.auth) and other brokers' certificates must chain to. Sluice's name for ssl.truststore.location."),
		ro("ssl.truststore.location", TypeString, noDefault, nil,
			"PEM file of trusted CA certificates (ssl.truststore.type=PEM); the same as ssl.ca.location."),
		ro("ssl.truststore.type", TypeString, "PEM", oneOf("PEM"),
			"Truststore format; Sluice reads PEM only."),
		ro("ssl.client.auth", TypeString, "none", oneOf("required", "requested", "none"),
			"Client certificates on SSL listeners: required, requested (verified when given) or none. A verified certificate's subject is the principal of an SSL connection."),
		ro("ssl.principal.mapping.rules", TypeString, "DEFAULT", nil,
			"Rules mapping a client certificate's subject (RFC 2253, CN=alice,O=Acme) to a principal name: RULE:pattern/replacement/[LU] entries and DEFAULT (the whole subject), separated by commas, tried in order."),
		ro("ssl.enabled.protocols", TypeList, "TLSv1.2,TLSv1.3", nil,
			"TLS versions listeners and inter-broker connections accept: TLSv1.2 and TLSv1.3 (older versions are refused)."),
		ro("ssl.endpoint.identification.algorithm", TypeString, "https", oneOf("https", ""),
			"https: a broker connecting to another checks that its certificate names the host it dialled; empty: only the chain is checked."),

		// SASL.
		ro("sasl.enabled.mechanisms", TypeList, "", nil,
			"SASL mechanisms of SASL listeners: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512, OAUTHBEARER. Empty: SCRAM-SHA-256 and SCRAM-SHA-512, plus PLAIN when sasl.plain.users.file is set and OAUTHBEARER when sasl.oauthbearer.jwks.endpoint.url is set."),
		ro("sasl.mechanism.inter.broker.protocol", TypeString, "SCRAM-SHA-512", oneOf("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"),
			"SASL mechanism brokers use with each other on a SASL inter-broker listener."),
		secret("sasl.jaas.config",
			`Credentials this broker uses towards other brokers, in Kafka's JAAS syntax (ScramLoginModule or PlainLoginModule required username="broker" password="...";), used with sasl.mechanism.inter.broker.protocol.`),
		ro("sasl.server.max.receive.size", TypeInt, "524288", atLeast(1),
			"Largest request accepted on a SASL listener before authentication completes."),
		ro("sasl.plain.users.file", TypeString, noDefault, nil,
			"File of PLAIN users, one user:hash line each, the hash bcrypt ($2a$/$2b$/$2y$) or an argon2id PHC string; plaintext passwords are refused. Re-read when it changes."),
		ro("connections.max.reauth.ms", TypeLong, "0", atLeast(0),
			"Longest a SASL session lasts before the client must re-authenticate (KIP-368); 0: sessions last as long as their credential. An OAUTHBEARER session ends with its token in any case."),
		ro("sasl.oauthbearer.jwks.endpoint.url", TypeString, noDefault, nil,
			"JSON Web Key Set that OAUTHBEARER tokens are verified with: file:///path or https://...; HS256 (oct), RS256 (RSA) and ES256 (P-256) keys."),
		ro("sasl.oauthbearer.jwks.endpoint.refresh.ms", TypeLong, "3600000", atLeast(1),
			"How often the key set is fetched again (also, at most every 10 s, when a token names an unknown key)."),
		ro("sasl.oauthbearer.expected.audience", TypeList, noDefault, nil,
			"Audiences a token's aud must name one of; empty: aud is not checked."),
		ro("sasl.oauthbearer.expected.issuer", TypeString, noDefault, nil,
			"Issuer a token's iss must equal; empty: iss is not checked."),
		ro("sasl.oauthbearer.sub.claim.name", TypeString, "sub", nil,
			"Claim whose value is the principal's name (User:<value>)."),
		ro("sasl.oauthbearer.clock.skew.seconds", TypeInt, "30", atLeast(0),
			"Clock difference tolerated when checking a token's exp and nbf."),
	}
}
