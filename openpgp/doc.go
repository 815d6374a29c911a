// Package openpgp implements XEP-0027, Current Jabber OpenPGP Usage: the
// body of a message encrypted with OpenPGP into <x xmlns='jabber:x:encrypted'/>,
// and presence (its <status/> text) signed into <x xmlns='jabber:x:signed'/>,
// interoperable with GnuPG 2.2 and the clients that shell out to it.
//
// Scheme is the e2e.Scheme; NewScheme(RSA3072) makes RSA keys instead of
// Ed25519/Cv25519 ones. Keys are ordinary OpenPGP keys: ParseIdentity reads
// what gpg --export-secret-keys --armor writes (without passphrase) and
// ParsePeer what gpg --export --armor writes; the JID of a key comes from a
// user ID "xmpp:<jid>" or "Name <jid>".
//
// A session encrypts to the key that last signed the recipient's presence,
// or else to the keys given for the recipient in e2e.Config.Peers, and
// always to the local key too, so the sender's other devices can read what
// it sent:
//
//	sess, _ := openpgp.Scheme.NewSession(e2e.Config{Local: juliet, JID: me, Peers: []e2e.Peer{romeo}})
//	wire, _ := sess.Sign(ctx, presence)   // jabber:x:signed over the status
//	wire, _ = sess.Encrypt(ctx, message)  // jabber:x:encrypted, clear fallback body
//	got, _ := sess.Receive(ctx, in)       // opens, verifies, reports the Signer
//
// XEP-0027 is obsolete and weak, and this package does not hide it: only
// the body and the status are protected, encrypted messages are not
// authenticated (anyone with the recipient's public key can write one),
// nothing protects against replay, and every message shows the recipients'
// key IDs to the servers. Scheme.Claims says so, and docs/openpgp.md has the
// details. Config.Sign adds a signature inside the encryption (not defined
// by XEP-0027, read by GnuPG), which Receive reports as the Signer.
//
// On input the package is strict where it matters and lenient where
// deployed clients differ: ciphertext without an MDC (tag 9) is refused, the
// armor CRC is checked when present (go-crypto does not), and indentation,
// CRLF line ends, extra armor headers, a missing CRC or the whole payload on
// one line are accepted.
package openpgp
