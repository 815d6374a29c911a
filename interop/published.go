package interop

import (
	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/report"
)

// Sources are the published comparisons the report holds measurements
// against.
var Sources = []report.Source{
	{Key: "SoK2015", Citation: "N. Unger, S. Dechand, J. Bonneau, S. Fahl, H. Perl, I. Goldberg, M. Smith: SoK: Secure Messaging. 2015 IEEE Symposium on Security and Privacy, pp. 232–249; Table II (conversation security protocols and their usability and adoption implications), p. 239",
		URL: "https://doi.org/10.1109/SP.2015.22"},
	{Key: "XEP-0210", Citation: "I. Paterson: XEP-0210 Requirements for Encrypted Sessions, version 0.2 (2007-05-30, Deferred), §3 Security Requirements and §4 Application Requirements",
		URL: "https://xmpp.org/extensions/xep-0210.html"},
}

// A published expectation for one property of one scheme family.
type published struct {
	source string
	family string // the SoK Table II row, or "requirement" for XEP-0210
	where  string
	level  e2e.Level
}

// The SoK 2015 Table II rows that cover our schemes, as the paper labels
// them. A row starting with "+" adds its mechanism to the row above it:
// "+DH Ratchet" is Authenticated DH with a Diffie-Hellman ratchet, and its
// example is OTR. XTLS and the JOSE draft have no row.
const (
	sokStatic = "Static Asymmetric Crypto"
	sokOTR    = "+DH Ratchet"
)

// sokExamples are the table's "Example" entries of the rows we use.
var sokExamples = map[string]string{
	sokStatic: "OpenPGP, S/MIME",
	sokOTR:    "OTR",
}

// sokRows maps scheme names to the SoK 2015 row that covers them.
var sokRows = map[string]string{
	"openpgp":      sokStatic,
	"smime":        sokStatic,
	"smime-strict": sokStatic,
	"otr":          sokOTR,
}

// sok is the expectation of one Table II cell: row and column as the paper
// prints them; ● is Holds, ◐ Partial and "-" Fails.
func sok(row, column string, l e2e.Level) published {
	return published{"SoK2015", row, "Table II, " + row + " (" + sokExamples[row] + "), column " + column, l}
}

// xep is an XEP-0210 requirement: section number, title and the keyword
// the section states it with.
func xep(section string) published {
	return published{"XEP-0210", "requirement", section, e2e.Holds}
}

// publishedLevels are the expectations encoded from the sources.
//
// SoK 2015: verified cell by cell against Table II on p. 239 of the IEEE
// S&P 2015 paper (the PDF at https://oaklandsok.github.io/papers/unger2014.pdf,
// which prints DOI 10.1109/SP.2015.22), legend "● = provides property;
// ◐ = partially provides property; - = does not provide property". The two
// rows read, in the table's column order:
//
//	                          Security and Privacy                 Adoption
//	Static Asymmetric Crypto  ●●● --- -●- --- --                 ●●● ●●
//	+DH Ratchet (OTR)         ●●● ●●◐ ●●◐ ◐-● ●◐                 ◐◐- -●
//
// with the columns Confidentiality, Integrity, Authentication, Participant
// Consistency, Destination Validation, Forward Secrecy, Backward Secrecy,
// Anonymity Preserving, Speaker Consistency, Causality Preserving, Global
// Transcript, Message Unlinkability, Message Repudiation, Particip.
// Repudiation; Out-of-Order Resilient, Dropped Message Resilient,
// Asynchronicity, Multi-Device Support, No Additional Service. Every column
// that names one of our properties is encoded for both rows. Left out, as
// no e2e.Property measures them: Participant Consistency, Destination
// Validation, Speaker Consistency, Causality Preserving, Global Transcript,
// Message Unlinkability, No Additional Service, and Anonymity Preserving
// (the transport's anonymity not undermined by the conversation layer, e.g.
// by linkable key identifiers: narrower than MetadataProtection, which also
// counts subjects, threads and extension elements, so holding one against
// the other would mislead). The paper's text on the DH ratchet (§IV-C6)
// says it "lacks out-of-order resilience", while the table gives OTR ◐
// for Out-of-Order Resilient; the table is encoded.
//
// XEP-0210: verified against version 0.2 (xep-0210.xml in the XSF's xeps
// repository), whose §3 lists Confidentiality, Integrity, Replay
// Protection, Perfect Forward Secrecy, PKI Independence, Authentication,
// Identity Protection, Repudiability, Robustness and Upgradability, and
// whose §4 lists Generality, Implementability, Usability, Efficiency,
// Flexibility, Offline Sessions, Interoperability and Object Encryption.
// A requirement is encoded as "holds" where it names one of our
// properties; Robustness, Upgradability, Implementability, Usability,
// Efficiency, Flexibility, Interoperability and Object Encryption (encrypt
// and sign one stanza without a session, not SignOnly) name none.
var publishedLevels = map[e2e.Property][]published{
	e2e.Confidentiality: {
		sok(sokStatic, "Confidentiality", e2e.Holds),
		sok(sokOTR, "Confidentiality", e2e.Holds),
		xep("§3.1 Confidentiality (MUST)"),
	},
	e2e.Integrity: {
		sok(sokStatic, "Integrity", e2e.Holds),
		sok(sokOTR, "Integrity", e2e.Holds),
		xep("§3.2 Integrity (MUST)"),
	},
	e2e.Authentication: {
		sok(sokStatic, "Authentication", e2e.Holds),
		sok(sokOTR, "Authentication", e2e.Holds),
		xep("§3.6 Authentication (MUST)"),
	},
	e2e.ForwardSecrecy: {
		sok(sokStatic, "Forward Secrecy", e2e.Fails),
		sok(sokOTR, "Forward Secrecy", e2e.Partial),
		xep("§3.4 Perfect Forward Secrecy (MUST)"),
	},
	e2e.BackwardSecrecy: {
		sok(sokStatic, "Backward Secrecy", e2e.Fails),
		sok(sokOTR, "Backward Secrecy", e2e.Holds),
	},
	e2e.ReplayProtection: {
		xep("§3.3 Replay Protection (MUST)"),
	},
	e2e.MessageRepudiation: {
		sok(sokStatic, "Message Repudiation", e2e.Fails),
		sok(sokOTR, "Message Repudiation", e2e.Holds),
		xep("§3.8 Repudiability (MUST)"),
	},
	e2e.ParticipationRepudiation: {
		sok(sokStatic, "Particip. Repudiation", e2e.Fails),
		sok(sokOTR, "Particip. Repudiation", e2e.Partial),
	},
	e2e.WholeStanza: {
		xep("§4.1 Generality (MUST)"),
	},
	e2e.MetadataProtection: {
		xep("§3.7 Identity Protection (MUST)"),
	},
	e2e.AsyncDelivery: {
		sok(sokStatic, "Asynchronicity", e2e.Holds),
		sok(sokOTR, "Asynchronicity", e2e.Fails),
		xep("§4.6 Offline Sessions (SHOULD)"),
	},
	e2e.MultiDevice: {
		sok(sokStatic, "Multi-Device Support", e2e.Holds),
		sok(sokOTR, "Multi-Device Support", e2e.Fails),
	},
	e2e.OutOfOrder: {
		sok(sokStatic, "Out-of-Order Resilient", e2e.Holds),
		sok(sokOTR, "Out-of-Order Resilient", e2e.Partial),
	},
	e2e.DropResilience: {
		sok(sokStatic, "Dropped Message Resilient", e2e.Holds),
		sok(sokOTR, "Dropped Message Resilient", e2e.Partial),
	},
	e2e.PKIIndependence: {
		xep("§3.5 PKI Independence (MUST)"),
	},
}

// expectations returns the published expectations for a scheme's property.
func expectations(scheme string, p e2e.Property) []published {
	row := sokRows[scheme]
	var out []published
	for _, x := range publishedLevels[p] {
		if x.family == "requirement" || (row != "" && x.family == row) {
			out = append(out, x)
		}
	}
	return out
}

// specRefs points each known scheme's properties into its specification;
// the scheme's Spec() is used where no entry exists.
var specRefs = map[string]map[e2e.Property]string{
	"openpgp": {
		e2e.ReplayProtection:   "XEP-0027 §4 (security considerations: no replay protection)",
		e2e.WholeStanza:        "XEP-0027 §3 (only the body is encrypted)",
		e2e.SignOnly:           "XEP-0027 §2 (signed presence)",
		e2e.Authentication:     "XEP-0027 §3 (encrypted messages are not signed)",
		e2e.MetadataProtection: "RFC 4880 §5.1 (PKESK carries the recipient key ID)",
	},
	"smime": {
		e2e.ReplayProtection: "RFC 3923 §6.9 (timestamps)",
		e2e.Authentication:   "RFC 3923 §6.7 (sign what is encrypted)",
		e2e.WholeStanza:      "RFC 3923 §5, §10 (application/xmpp+xml)",
		e2e.PKIIndependence:  "RFC 3923 §6.1–6.3 (certificates)",
		e2e.SignOnly:         "RFC 3923 §3.2 (multipart/signed)",
	},
	"otr": {
		e2e.ForwardSecrecy:     "OTR v3 (key rotation with fresh D-H keys)",
		e2e.BackwardSecrecy:    "OTR v3 (key rotation with fresh D-H keys)",
		e2e.MessageRepudiation: "OTR v3 (revealing old MAC keys)",
		e2e.ReplayProtection:   "OTR v3 (data message counter)",
		e2e.AsyncDelivery:      "OTR v3 (AKE needs both parties); XEP-0364",
	},
	"xtls": {
		e2e.Authentication:     "draft-meyer-xmpp-e2e-encryption-02 §7 (x509, srp)",
		e2e.MetadataProtection: "draft-meyer-xmpp-e2e-encryption-02 §12 (Jingle signalling in the clear)",
		e2e.AsyncDelivery:      "draft-meyer-xmpp-e2e-encryption-02 §3 (Jingle session)",
	},
	"jose": {
		e2e.ReplayProtection: "draft-miller-xmpp-e2e-06 §7 (timestamps)",
		e2e.WholeStanza:      "draft-miller-xmpp-e2e-06 §3 (whole stanza encryption)",
		e2e.SignOnly:         "draft-miller-xmpp-e2e-06 §4 (signed stanza)",
		e2e.ForwardSecrecy:   "draft-miller-xmpp-e2e-06 §5 (session master keys)",
	},
}

func specRef(s e2e.Scheme, p e2e.Property) string {
	if r, ok := specRefs[s.Name()][p]; ok {
		return r
	}
	return s.Spec()
}
