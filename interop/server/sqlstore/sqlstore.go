// Package sqlstore is a server.Store in an embedded SQLite database
// (modernc.org/sqlite, pure Go: no cgo), so that accounts and offline
// messages survive a restart of `xmppe2e serve --data DIR`.
//
//	st, err := sqlstore.Open(filepath.Join(dir, "xmppe2e.db"))
//	srv, err := server.New(server.Config{Domain: d, Certificate: c, Store: st})
package sqlstore

import (
	"database/sql"
	"errors"
	"fmt"

	"github.com/xmppe2e/xmppe2e/interop/server"
	_ "modernc.org/sqlite" // the database/sql driver "sqlite"
)

// Store is a server.Store backed by SQLite.
type Store struct{ db *sql.DB }

var _ server.Store = (*Store)(nil)

const schema = `
CREATE TABLE IF NOT EXISTS accounts (
	localpart TEXT PRIMARY KEY,
	salt1 BLOB NOT NULL, salted1 BLOB NOT NULL,
	salt256 BLOB NOT NULL, salted256 BLOB NOT NULL,
	iterations INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS offline (
	seq INTEGER PRIMARY KEY AUTOINCREMENT,
	localpart TEXT NOT NULL,
	stanza BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS offline_user ON offline(localpart, seq);
`

// Open opens or creates the database at path.
func Open(path string) (*Store, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)")
	if err != nil {
		return nil, fmt.Errorf("sqlstore: %w", err)
	}
	db.SetMaxOpenConns(1) // one writer: SQLite serializes anyway
	if _, err := db.Exec(schema); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlstore: %s: %w", path, err)
	}
	return &Store{db: db}, nil
}

// Credentials implements server.Store.
func (s *Store) Credentials(local string) (server.Credentials, error) {
	var c server.Credentials
	err := s.db.QueryRow(`SELECT salt1, salted1, salt256, salted256, iterations FROM accounts WHERE localpart = ?`, local).
		Scan(&c.Salt1, &c.Salted1, &c.Salt256, &c.Salted256, &c.Iterations)
	if errors.Is(err, sql.ErrNoRows) {
		return c, server.ErrNoUser
	}
	return c, err
}

// SetCredentials implements server.Store.
func (s *Store) SetCredentials(local string, c server.Credentials) error {
	_, err := s.db.Exec(`INSERT INTO accounts (localpart, salt1, salted1, salt256, salted256, iterations) VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT(localpart) DO UPDATE SET salt1 = excluded.salt1, salted1 = excluded.salted1,
		salt256 = excluded.salt256, salted256 = excluded.salted256, iterations = excluded.iterations`,
		local, c.Salt1, c.Salted1, c.Salt256, c.Salted256, c.Iterations)
	return err
}

// PushOffline implements server.Store.
func (s *Store) PushOffline(local string, st []byte) error {
	_, err := s.db.Exec(`INSERT INTO offline (localpart, stanza) VALUES (?, ?)`, local, st)
	return err
}

// PopOffline implements server.Store.
func (s *Store) PopOffline(local string) ([][]byte, error) {
	tx, err := s.db.Begin()
	if err != nil {
		return nil, err
	}
	defer tx.Rollback()
	rows, err := tx.Query(`SELECT stanza FROM offline WHERE localpart = ? ORDER BY seq`, local)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for rows.Next() {
		var b []byte
		if err := rows.Scan(&b); err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, b)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if _, err := tx.Exec(`DELETE FROM offline WHERE localpart = ?`, local); err != nil {
		return nil, err
	}
	return out, tx.Commit()
}

// CountOffline implements server.Store.
func (s *Store) CountOffline(local string) (int, error) {
	var n int
	err := s.db.QueryRow(`SELECT COUNT(*) FROM offline WHERE localpart = ?`, local).Scan(&n)
	return n, err
}

// Close implements server.Store.
func (s *Store) Close() error { return s.db.Close() }
