package auth

import (
	"bufio"
	"bytes"
	"context"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/bcrypt"
)

// PlainUsers are the PLAIN mechanism's users from sasl.plain.users.file:
// one "user:hash" line each, the hash a bcrypt hash ($2a$, $2b$, $2y$) or
// an argon2id PHC string ($argon2id$v=19$m=...,t=...,p=...$salt$hash).
// Blank lines and lines starting with '#' are skipped. A line whose hash
// is neither (a plaintext password) fails the load: passwords are never
// stored in clear. The file is read again when it changes, checked at most
// every ReloadCheck on an authentication.
type PlainUsers struct {
	path        string
	logger      *slog.Logger
	reloadCheck time.Duration
	now         func() time.Time

	// dummy is a bcrypt hash checked for unknown users when the file
	// names nobody (standIn).
	dummy string
	// verifying bounds the password checks that run at once, one per
	// processor: each costs a bcrypt's CPU time or an argon2id hash's
	// memory (64 MiB with HashArgon2id's parameters), and clients that
	// have not authenticated yet must not multiply them at will.
	verifying chan struct{}

	mu    sync.Mutex
	users map[string]string
	// standIn is the hash an unknown user's password is checked against
	// (standInOf).
	standIn   string
	st        fileStamp
	lastCheck time.Time
}

// LoadPlainUsers reads the users file.
func LoadPlainUsers(path string, reloadCheck time.Duration, logger *slog.Logger) (*PlainUsers, error) {
	if reloadCheck <= 0 {
		reloadCheck = DefaultReloadCheck
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	p := &PlainUsers{path: path, logger: logger, reloadCheck: reloadCheck, now: time.Now,
		verifying: make(chan struct{}, max(runtime.GOMAXPROCS(0), 1))}
	users, st, err := readPlainUsers(path)
	if err != nil {
		return nil, err
	}
	p.users, p.st, p.lastCheck = users, st, p.now()
	dummy, err := bcrypt.GenerateFromPassword([]byte("sluice"), bcrypt.DefaultCost)
	if err != nil {
		return nil, fmt.Errorf("sasl.plain.users.file: %w", err)
	}
	p.dummy = string(dummy)
	p.standIn = standInOf(users, p.dummy)
	return p, nil
}

func readPlainUsers(path string) (map[string]string, fileStamp, error) {
	st, err := stamp(path)
	if err != nil {
		return nil, st, fmt.Errorf("sasl.plain.users.file: %w", err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, st, fmt.Errorf("sasl.plain.users.file: %w", err)
	}
	users := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(s, ":")
		if !ok || user == "" {
			return nil, st, fmt.Errorf("sasl.plain.users.file %s:%d: want user:hash", path, line)
		}
		if err := checkHashFormat(hash); err != nil {
			return nil, st, fmt.Errorf("sasl.plain.users.file %s:%d: user %q: %w", path, line, user, err)
		}
		if _, dup := users[user]; dup {
			return nil, st, fmt.Errorf("sasl.plain.users.file %s:%d: user %q listed twice", path, line, user)
		}
		users[user] = hash
	}
	return users, st, sc.Err()
}

func checkHashFormat(hash string) error {
	switch {
	case strings.HasPrefix(hash, "$2a$"), strings.HasPrefix(hash, "$2b$"), strings.HasPrefix(hash, "$2y$"):
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return fmt.Errorf("bad bcrypt hash: %w", err)
		}
		return nil
	case strings.HasPrefix(hash, "$argon2id$"):
		_, err := parseArgon2id(hash)
		return err
	}
	return errors.New("not a bcrypt or argon2id hash; plaintext passwords are refused (hash one with `htpasswd -nbB user password` or argon2)")
}

type argon2idHash struct {
	memory  uint32
	time    uint32
	threads uint8
	salt    []byte
	key     []byte
}

// parseArgon2id parses "$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>"
// with unpadded standard base64, as the reference implementation writes.
func parseArgon2id(s string) (argon2idHash, error) {
	var h argon2idHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return h, errors.New("bad argon2id PHC string: want $argon2id$v=19$m=...,t=...,p=...$salt$hash")
	}
	if parts[2] != "v=19" {
		return h, fmt.Errorf("argon2id version %q, want v=19", parts[2])
	}
	for _, kv := range strings.Split(parts[3], ",") {
		k, v, _ := strings.Cut(kv, "=")
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return h, fmt.Errorf("argon2id parameter %q: %w", kv, err)
		}
		switch k {
		case "m":
			h.memory = uint32(n)
		case "t":
			h.time = uint32(n)
		case "p":
			if n == 0 || n > 255 {
				return h, fmt.Errorf("argon2id parallelism %d out of range", n)
			}
			h.threads = uint8(n)
		default:
			return h, fmt.Errorf("argon2id parameter %q unknown", k)
		}
	}
	if h.memory == 0 || h.time == 0 || h.threads == 0 {
		return h, errors.New("argon2id string lacks m, t or p")
	}
	if h.memory > 4<<20 {
		return h, fmt.Errorf("argon2id memory %d KiB is above the 4 GiB Sluice accepts", h.memory)
	}
	var err error
	if h.salt, err = base64.RawStdEncoding.DecodeString(parts[4]); err != nil {
		return h, fmt.Errorf("argon2id salt: %w", err)
	}
	if h.key, err = base64.RawStdEncoding.DecodeString(parts[5]); err != nil || len(h.key) == 0 {
		return h, fmt.Errorf("argon2id hash: bad base64")
	}
	return h, nil
}

// verifyPassword checks password against a bcrypt hash or an argon2id PHC
// string.
func verifyPassword(hash, password string) bool {
	if strings.HasPrefix(hash, "$argon2id$") {
		h, err := parseArgon2id(hash)
		if err != nil {
			return false
		}
		key := argon2.IDKey([]byte(password), h.salt, h.time, h.memory, h.threads, uint32(len(h.key)))
		return subtle.ConstantTimeCompare(key, h.key) == 1
	}
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// HashArgon2id returns an argon2id PHC string of password, with
// moderate parameters (64 MiB, 1 pass, 4 lanes), for tools and tests.
func HashArgon2id(password string, salt []byte) string {
	const memory, passes, lanes = 64 << 10, 1, 4
	key := argon2.IDKey([]byte(password), salt, passes, memory, lanes, 32)
	return fmt.Sprintf("$argon2id$v=19$m=%d,t=%d,p=%d$%s$%s", memory, passes, lanes,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// lookup returns the hash of user, reloading the file if it changed.
func (p *PlainUsers) lookup(user string) (string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if now := p.now(); now.Sub(p.lastCheck) >= p.reloadCheck {
		p.lastCheck = now
		if st, err := stamp(p.path); err == nil && st != p.st {
			users, st, err := readPlainUsers(p.path)
			if err != nil {
				p.logger.Warn("users file changed but does not load; keeping the loaded users", "err", err)
			} else {
				p.users, p.st = users, st
				p.standIn = standInOf(users, p.dummy)
				p.logger.Info("PLAIN users reloaded", "file", p.path, "users", len(users))
			}
		}
	}
	if h, ok := p.users[user]; ok {
		return h, true
	}
	return p.standIn, false
}

// standInOf is the hash an unknown user's password is checked against, so
// that the check takes as long as a known user's: one of the file's own
// (the first user's, by name), with its kind and cost, or dummy when the
// file names nobody.
func standInOf(users map[string]string, dummy string) string {
	first := ""
	for u := range users {
		if first == "" || u < first {
			first = u
		}
	}
	if first == "" {
		return dummy
	}
	return users[first]
}

// verify checks password against hash in one of the verifying slots.
func (p *PlainUsers) verify(ctx context.Context, hash, password string) (bool, error) {
	select {
	case p.verifying <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	}
	defer func() { <-p.verifying }()
	return verifyPassword(hash, password), nil
}

// Name implements Mechanism.
func (p *PlainUsers) Name() string { return MechPlain }

// Start implements Mechanism.
func (p *PlainUsers) Start() Exchange { return &plainExchange{users: p} }

type plainExchange struct {
	users     *PlainUsers
	principal string
}

// Step checks the one PLAIN message, authzid NUL user NUL password
// (RFC 4616); an authzid other than the user is refused, as in Kafka.
func (e *plainExchange) Step(ctx context.Context, token []byte) ([]byte, bool, error) {
	parts := strings.Split(string(token), "\x00")
	if len(parts) != 3 {
		return nil, false, fail("", "invalid SASL/PLAIN message: want authzid NUL user NUL password")
	}
	authzid, user, password := parts[0], parts[1], parts[2]
	if user == "" {
		return nil, false, fail("", "SASL/PLAIN user name is empty")
	}
	if authzid != "" && authzid != user {
		return nil, false, fail(user, "SASL/PLAIN authorization id %q differs from the user name", authzid)
	}
	// An unknown user's password is checked against a stand-in hash, so
	// that timing does not tell known names from unknown ones.
	hash, ok := e.users.lookup(user)
	matched, err := e.users.verify(ctx, hash, password)
	if err != nil {
		return nil, false, err
	}
	if !matched || !ok {
		return nil, false, fail(user, "Invalid username or password")
	}
	e.principal = "User:" + user
	return nil, true, nil
}

func (e *plainExchange) Principal() string { return e.principal }
func (e *plainExchange) Expiry() time.Time { return time.Time{} }
