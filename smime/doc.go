// Package smime implements RFC 3923, End-to-End Signing and Object
// Encryption for XMPP: S/MIME over XMPP, as an e2e.Scheme.
//
// A stanza is turned into an inner MIME object — Message/CPIM (RFC 3862) for
// a message, a PIDF document (RFC 3863) for directed presence,
// application/xmpp+xml for anything else — which is signed as
// multipart/signed with a detached CMS SignedData
// (application/pkcs7-signature), then encrypted as application/pkcs7-mime
// (EnvelopedData, or AuthEnvelopedData with AES-GCM per RFC 5083/5084). The
// resulting MIME entity travels as the text of
// <e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e'/> in a stanza that keeps only
// the routing attributes.
//
// Identities are an RSA key and an X.509 certificate naming the bare JID as
// an id-on-xmppAddr otherName (and im:/pres: URIs). Their format is PEM: the
// private key, then the certificate, then any issuer certificates, as
// OpenSSL writes them. A peer is a PEM certificate, pinned for the JID it
// names, or a bundle of CA certificates whose issued certificates are
// trusted for the JID they name.
//
//	sess, _ := smime.Scheme.NewSession(e2e.Config{
//		Local: juliet, JID: julietFull, Peers: []e2e.Peer{romeoCert},
//	})
//	wire, _ := sess.Encrypt(ctx, msg) // signed, then encrypted
//
// Receive decrypts, verifies the signature over the CRLF-canonical text,
// checks that the signer's certificate names the stanza's sender and is
// pinned or chains to a trusted CA, that the protected From/To are the
// stanza's (ErrBadSignature otherwise), that the timestamp is within
// MaxSkew of Config.Clock (ErrStale) and has not been seen before
// (ErrReplay). Inside an envelope, every failure before the signature has
// verified is ErrDecrypt, so nothing tells an attacker which step failed.
//
// Two profiles exist. Scheme (DefaultProfile) signs with SHA-256 and
// encrypts with AES-128-GCM AuthEnvelopedData when the recipient advertises
// AES-GCM (an S/MIME capabilities certificate extension, RFC 4262, or the
// smimeCapabilities attribute of a signature it sent), else AES-128-CBC.
// StrictScheme (StrictProfile) sends exactly RFC 3923's mandatory set:
// SHA-1, RSA PKCS #1 v1.5, AES-128-CBC. Both receive everything either
// sends, plus AES-256, 3DES and RSA-OAEP from other implementations.
//
// CMS signing and verification use github.com/smallstep/pkcs7 (guarded
// against its panics, never through its package-level algorithm settings);
// encryption and decryption are this package's own code. See docs/smime.md
// for the deviations from the RFC and the known weaknesses.
package smime
