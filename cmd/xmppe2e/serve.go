package main

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/xmppe2e/xmppe2e/interop/server"
	"github.com/xmppe2e/xmppe2e/interop/server/sqlstore"
)

var serveCmd = &command{
	name:    "serve",
	args:    "--domain D --listen 127.0.0.1:PORT --users FILE [--data DIR] [--cert F --key F] [--s2s ADDR --peer DOMAIN=ADDR ...]",
	summary: "Run an XMPP server for external clients (STARTTLS, SCRAM/PLAIN, routing, presence, offline messages) until SIGINT or SIGTERM.",
	flags: func(fs *flag.FlagSet, e *env) func() error {
		domain := fs.String("domain", "", "the XMPP domain served")
		listen := fs.String("listen", "127.0.0.1:5222", "the c2s listen address")
		users := fs.String("users", "", "the accounts file: one 'localpart password' per line, # starts a comment")
		data := fs.String("data", "", "keep accounts and offline messages in DIR/xmppe2e.db (SQLite); in memory without it")
		certFile := fs.String("cert", "", "the certificate chain (PEM); a self-signed one without it")
		keyFile := fs.String("key", "", "the certificate's private key (PEM)")
		s2s := fs.String("s2s", "", "the s2s listen address (none without it)")
		var peers peerFlag
		fs.Var(&peers, "peer", "DOMAIN=HOST:PORT of a remote server's s2s listener (repeatable)")
		return func() error {
			if len(e.args) > 0 {
				return usagef("unexpected arguments %q", e.args)
			}
			if *domain == "" || *users == "" && *data == "" {
				return usagef("--domain and --users (or --data) are required")
			}
			if (*certFile == "") != (*keyFile == "") {
				return usagef("--cert and --key go together")
			}
			// main already stops on these; callers of run with another
			// context get the same behaviour. Installed before the
			// listener, so a signal after the "serving" line is handled.
			ctx, stop := signal.NotifyContext(e.ctx, os.Interrupt, syscall.SIGTERM)
			defer stop()
			accounts, err := readUsers(*users)
			if err != nil {
				return err
			}
			var cert tls.Certificate
			if *certFile != "" {
				cert, err = tls.LoadX509KeyPair(*certFile, *keyFile)
			} else {
				cert, err = server.SelfSigned(*domain)
			}
			if err != nil {
				return fmt.Errorf("certificate: %w", err)
			}
			var store server.Store = server.NewMemStore()
			if *data != "" {
				if err := os.MkdirAll(*data, 0o700); err != nil {
					return err
				}
				if store, err = sqlstore.Open(filepath.Join(*data, "xmppe2e.db")); err != nil {
					return err
				}
			}
			defer store.Close()
			var logMu sync.Mutex
			srv, err := server.New(server.Config{
				Domain: *domain, Certificate: cert, Store: store, Peers: peers.m,
				NoWiretap: true, InsecureS2S: true,
				Log: func(format string, args ...any) {
					logMu.Lock()
					defer logMu.Unlock()
					fmt.Fprintf(e.stderr, format+"\n", args...)
				},
			})
			if err != nil {
				return err
			}
			for _, a := range accounts {
				if err := srv.AddUser(a[0], a[1]); err != nil {
					srv.Close()
					return fmt.Errorf("%s: %w", *users, err)
				}
			}
			addr, err := srv.ListenC2S(*listen)
			if err != nil {
				srv.Close()
				return err
			}
			// Printed once listening: a failed start writes nothing on stdout.
			sum := sha256.Sum256(cert.Certificate[0])
			fmt.Fprintf(e.stdout, "certificate SHA-256 fingerprint: %s\n", colonHex(sum[:]))
			fmt.Fprintf(e.stdout, "serving %s on %s (%d accounts)\n", *domain, addr, len(accounts))
			if *s2s != "" {
				a, err := srv.ListenS2S(*s2s)
				if err != nil {
					srv.Close()
					return err
				}
				fmt.Fprintf(e.stdout, "s2s on %s\n", a)
			}
			<-ctx.Done()
			srv.Close()
			fmt.Fprintf(e.stdout, "stopped\n")
			return nil
		}
	},
}

// readUsers reads an accounts file: "localpart password" per line, blank
// lines and lines starting with # ignored. The password is the rest of the
// line after the first run of blanks.
func readUsers(path string) ([][2]string, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out [][2]string
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		user, pw, ok := strings.Cut(line, " ")
		if !ok {
			user, pw, ok = strings.Cut(line, "\t")
		}
		pw = strings.TrimSpace(pw)
		if !ok || user == "" || pw == "" {
			return nil, fmt.Errorf("%s:%d: want 'localpart password'", path, n)
		}
		out = append(out, [2]string{user, pw})
	}
	return out, sc.Err()
}

func colonHex(b []byte) string {
	parts := make([]string, len(b))
	for i, x := range b {
		parts[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(parts, ":")
}

// peerFlag collects --peer DOMAIN=ADDR.
type peerFlag struct{ m map[string]string }

func (p *peerFlag) String() string { return "" }

func (p *peerFlag) Set(v string) error {
	d, a, ok := strings.Cut(v, "=")
	if !ok || d == "" || a == "" {
		return fmt.Errorf("want DOMAIN=HOST:PORT")
	}
	if p.m == nil {
		p.m = map[string]string{}
	}
	p.m[d] = a
	return nil
}
