// Package jose implements draft-miller-xmpp-e2e-06, "End-to-End Object
// Encryption and Signatures for XMPP", with the -07 additions, on the JOSE
// standards (RFC 7515-7518) through github.com/go-jose/go-jose/v4.
//
// A sender protects each whole stanza: it wraps the stanza in a
// <forwarded/> envelope with a <delay/> timestamp and encrypts it as a JWE
// whose content key (the draft's CMK, RFC 7516's CEK) is fresh per stanza
// and wrapped with a Session Master Key (SMK) that the sender keeps per
// recipient. The five parts of the compact JWE travel as the children of
//
//	<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e:6' type='enc' id='SID'>
//	  <encheader/><cmk/><iv/><data/><mac/>
//	</e2e>
//
// A receiving device that lacks the SMK named by the SID asks the sending
// device for it with a <keyreq/> IQ carrying its public keys; the sender
// releases the SMK, as a JWK encrypted to one of those keys, only to a key it
// trusts (pinned in e2e.Config.Peers or approved by e2e.Config.Trust) of the
// bare JID the SMK was made for. Session does all of this: Receive holds the
// stanza, returns the request in Received.Replies, answers requests, and
// releases the held stanza in Received.Opened when the key arrives. Signed
// stanzas (<e2e type='sig'/>, a compact JWS) work the same way without the
// key exchange.
//
// Identities are RSA JWKs whose "kid" is the bare JID; key files may be JWK
// Sets that also hold pre-placed SMKs (kty "oct", kid = SID), which open
// stanzas offline. Algorithms carry their RFC 7518 names (the draft's
// examples use the pre-RFC "A256CBC+HS512", readable with OpenLegacy06) and
// are pinned per key. See docs/jose.md for the profile, the deviations from
// the draft and its known weaknesses.
package jose
