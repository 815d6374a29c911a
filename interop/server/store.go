package server

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"errors"
	"hash"
	"sync"

	"golang.org/x/text/secure/precis"
	"mellium.im/sasl"
	"mellium.im/xmpp/jid"
)

// ErrNoUser is returned by a Store for an account that does not exist.
var ErrNoUser = errors.New("server: no such user")

// Credentials are what a server keeps of a password: for each SCRAM hash,
// the salt, the iteration count and the salted password (RFC 5802). PLAIN
// is checked against the SCRAM-SHA-256 values, so no password is stored.
type Credentials struct {
	Salt1, Salted1     []byte // SCRAM-SHA-1
	Salt256, Salted256 []byte // SCRAM-SHA-256
	Iterations         int
}

// NewCredentials derives the stored credentials of password with the given
// PBKDF2 iteration count (4096 when 0). The password is prepared with the
// OpaqueString profile (RFC 8265) as SCRAM clients prepare it.
func NewCredentials(password string, iterations int) (Credentials, error) {
	if iterations <= 0 {
		iterations = 4096
	}
	pw, err := precis.OpaqueString.String(password)
	if err != nil {
		return Credentials{}, err
	}
	c := Credentials{Iterations: iterations, Salt1: make([]byte, 16), Salt256: make([]byte, 16)}
	if _, err := rand.Read(c.Salt1); err != nil {
		return Credentials{}, err
	}
	if _, err := rand.Read(c.Salt256); err != nil {
		return Credentials{}, err
	}
	c.Salted1 = sasl.SCRAMSaltPassword(sha1.New, []byte(pw), c.Salt1, iterations)
	c.Salted256 = sasl.SCRAMSaltPassword(sha256.New, []byte(pw), c.Salt256, iterations)
	return c, nil
}

// Check reports whether password matches c (for PLAIN), in constant time.
func (c Credentials) Check(password string) bool {
	pw, err := precis.OpaqueString.String(password)
	if err != nil {
		return false
	}
	return hmac.Equal(sasl.SCRAMSaltPassword(sha256.New, []byte(pw), c.Salt256, c.Iterations), c.Salted256)
}

func (c Credentials) scram(mech string) (salt, salted []byte, h func() hash.Hash) {
	if mech == "SCRAM-SHA-1" {
		return c.Salt1, c.Salted1, sha1.New
	}
	return c.Salt256, c.Salted256, sha256.New
}

// A Store keeps a server's accounts and offline messages. Localparts are
// already normalized (PRECIS UsernameCaseMapped). Implementations must be
// safe for concurrent use.
type Store interface {
	// Credentials returns the stored credentials of the account, or
	// ErrNoUser.
	Credentials(localpart string) (Credentials, error)
	// SetCredentials creates or replaces the account.
	SetCredentials(localpart string, c Credentials) error
	// PushOffline stores one stanza (its XML) for the account's next login.
	PushOffline(localpart string, stanza []byte) error
	// PopOffline returns and removes the account's stored stanzas, oldest
	// first.
	PopOffline(localpart string) ([][]byte, error)
	// CountOffline returns how many stanzas are stored for the account.
	CountOffline(localpart string) (int, error)
	// Close releases the store.
	Close() error
}

// MemStore is a Store in memory.
type MemStore struct {
	mu      sync.Mutex
	creds   map[string]Credentials
	offline map[string][][]byte
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore {
	return &MemStore{creds: map[string]Credentials{}, offline: map[string][][]byte{}}
}

// Credentials implements Store.
func (m *MemStore) Credentials(local string) (Credentials, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.creds[local]
	if !ok {
		return Credentials{}, ErrNoUser
	}
	return c, nil
}

// SetCredentials implements Store.
func (m *MemStore) SetCredentials(local string, c Credentials) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.creds[local] = c
	return nil
}

// PushOffline implements Store.
func (m *MemStore) PushOffline(local string, st []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.offline[local] = append(m.offline[local], append([]byte(nil), st...))
	return nil
}

// PopOffline implements Store.
func (m *MemStore) PopOffline(local string) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := m.offline[local]
	delete(m.offline, local)
	return out, nil
}

// CountOffline implements Store.
func (m *MemStore) CountOffline(local string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.offline[local]), nil
}

// Close implements Store.
func (m *MemStore) Close() error { return nil }

// normLocal normalizes a localpart with PRECIS UsernameCaseMapped.
func normLocal(local, domain string) (string, error) {
	j, err := jid.New(local, domain, "")
	if err != nil {
		return "", err
	}
	if j.Localpart() == "" {
		return "", errors.New("empty localpart")
	}
	return j.Localpart(), nil
}
