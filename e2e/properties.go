package e2e

import (
	"fmt"
	"strings"
)

// A Property is a named security or delivery property of a scheme. The names
// are stable identifiers: the harness report, the JSON output and the test
// vectors use them.
type Property string

// The properties a scheme claims and the harness measures. Each one names the
// harness scenario that decides it (see Property.Test).
const (
	// Confidentiality: no server on the path can read the protected content.
	Confidentiality Property = "confidentiality"
	// Integrity: a change to the protected payload is detected.
	Integrity Property = "integrity"
	// Authentication: the receiver can tell who sent an encrypted stanza.
	Authentication Property = "authentication"
	// ForwardSecrecy: long-term keys compromised after a session do not open
	// its recorded traffic.
	ForwardSecrecy Property = "forward-secrecy"
	// BackwardSecrecy: after a compromise of the current keys, later traffic
	// becomes secret again once the scheme has had a chance to recover
	// (post-compromise security).
	BackwardSecrecy Property = "backward-secrecy"
	// ReplayProtection: a stanza delivered again is rejected.
	ReplayProtection Property = "replay-protection"
	// MessageRepudiation: a third party can forge a message that verifies
	// like a real one, so a transcript proves nothing about its content.
	MessageRepudiation Property = "message-repudiation"
	// ParticipationRepudiation: the wire traffic does not prove that a party
	// took part at all.
	ParticipationRepudiation Property = "participation-repudiation"
	// WholeStanza: extension elements, not only the body, are protected.
	WholeStanza Property = "whole-stanza"
	// MetadataProtection: servers learn no more than addresses, sizes and
	// timing (no key IDs, subjects, thread IDs or other content).
	MetadataProtection Property = "metadata-protection"
	// AsyncDelivery: a stanza sent while the recipient is offline opens when
	// it comes online, without the sender being there.
	AsyncDelivery Property = "async-delivery"
	// MultiDevice: a recipient with two devices can read on both, and the
	// sender's other device (carbons) can read what it sent.
	MultiDevice Property = "multi-device"
	// OutOfOrder: stanzas delivered in another order than sent still open.
	OutOfOrder Property = "out-of-order"
	// DropResilience: after a dropped stanza, later ones still open.
	DropResilience Property = "drop-resilience"
	// PKIIndependence: no certificate authority or other third party is
	// needed to authenticate keys.
	PKIIndependence Property = "pki-independence"
	// SignOnly: Session.Sign produces a stanza whose origin and integrity the
	// receiver can verify without encryption.
	SignOnly Property = "sign-only"
)

// AllProperties lists every property in report order.
var AllProperties = []Property{
	Confidentiality, Integrity, Authentication, ForwardSecrecy, BackwardSecrecy,
	ReplayProtection, MessageRepudiation, ParticipationRepudiation, WholeStanza,
	MetadataProtection, AsyncDelivery, MultiDevice, OutOfOrder, DropResilience,
	PKIIndependence, SignOnly,
}

var propertyTests = map[Property]string{
	Confidentiality:          "exchange: no wiretap record on any hop contains the plaintext body or extension payload",
	Integrity:                "tamper: every sampled bit flip in every region of the protected payload is rejected and opens nothing",
	Authentication:           "exchange and tamper: the receiver reports the sender as Signer; a stanza encrypted by a third party to the recipient is not reported as the sender's",
	ForwardSecrecy:           "key-compromise: after the session, the long-term private keys of both parties are handed to an attacker holding the wiretap, who tries to open the recorded stanzas",
	BackwardSecrecy:          "post-compromise: the attacker takes the current session keys, then the parties exchange more stanzas; can the attacker open the later ones?",
	ReplayProtection:         "replay: the malicious server delivers an already delivered stanza again",
	MessageRepudiation:       "forgery: a third party builds, from material on the wire and public keys only, a stanza the receiver opens as from the sender",
	ParticipationRepudiation: "forgery: a third party builds, from public material only, a transcript that verifies as a session between the parties",
	WholeStanza:              "exchange: an extension element in the sent stanza is absent from the wiretap and present after opening",
	MetadataProtection:       "metadata: the wiretap records show no key IDs, subjects, threads or extension elements in the clear",
	AsyncDelivery:            "offline: the recipient is offline when the stanza is sent and opens it on login while the sender is offline",
	MultiDevice:              "two-devices and carbons: both devices of the recipient and the sender's second device open the stanza",
	OutOfOrder:               "reorder: the malicious server delivers two stanzas swapped; both open",
	DropResilience:           "drop: the malicious server drops one stanza; the next one opens",
	PKIIndependence:          "keys: sessions succeed with keys pinned by fingerprint and no certificate authority",
	SignOnly:                 "sign: a signed stanza verifies and names its signer; a stripped or altered signature is detected",
}

// Test describes the harness scenario that decides p.
func (p Property) Test() string { return propertyTests[p] }

// Valid reports whether p is one of AllProperties.
func (p Property) Valid() bool { _, ok := propertyTests[p]; return ok }

// A Level says how far a property holds.
type Level string

// The levels of a property, claimed or measured.
const (
	Holds         Level = "holds"
	Partial       Level = "partial"
	Fails         Level = "fails"
	NotApplicable Level = "n/a"
)

// ParseLevel parses a Level from its string.
func ParseLevel(s string) (Level, error) {
	switch l := Level(s); l {
	case Holds, Partial, Fails, NotApplicable:
		return l, nil
	}
	return "", fmt.Errorf("e2e: unknown level %q", s)
}

// Properties maps each property to its level. A property missing from the
// map is unknown (neither claimed nor denied).
type Properties map[Property]Level

// Get returns the level of p, or "" when p is not in the map.
func (ps Properties) Get(p Property) Level { return ps[p] }

// String lists the properties in report order as name=level pairs.
func (ps Properties) String() string {
	var parts []string
	for _, p := range AllProperties {
		if l, ok := ps[p]; ok {
			parts = append(parts, string(p)+"="+string(l))
		}
	}
	return strings.Join(parts, " ")
}
