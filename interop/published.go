package interop

import (
	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/report"
)

// Sources are the published comparisons the report holds measurements
// against.
var Sources = []report.Source{
	{Key: "SoK2015", Citation: "N. Unger, S. Dechand, J. Bonneau, S. Fahl, H. Perl, I. Goldberg, M. Smith: SoK: Secure Messaging. IEEE Symposium on Security and Privacy 2015, Table II (conversation security)",
		URL: "https://doi.org/10.1109/SP.2015.22"},
	{Key: "XEP-0210", Citation: "I. Paterson: XEP-0210 Requirements for Encrypted Sessions, version 0.2 (2007), the requirements an XMPP end-to-end session protocol must meet",
		URL: "https://xmpp.org/extensions/xep-0210.html"},
}

// A published expectation for one property of one scheme family.
type published struct {
	source string
	family string // the SoK row, or "requirement" for XEP-0210
	where  string
	level  e2e.Level
}

// sokRows maps scheme names to the SoK 2015 row that covers them. XTLS and
// the JOSE draft have no row.
var sokRows = map[string]string{
	"openpgp": "static asymmetric cryptography (OpenPGP, S/MIME)",
	"smime":   "static asymmetric cryptography (OpenPGP, S/MIME)",
	"otr":     "OTR",
}

// publishedLevels are the expectations encoded from the sources. Only
// entries the sources state plainly are listed; a missing entry means the
// source says nothing we could encode with confidence. The SoK entries were
// transcribed by hand from Table II (filled circle: holds, empty: fails);
// XEP-0210 lists requirements, so every entry is "holds".
var publishedLevels = map[e2e.Property][]published{
	e2e.Confidentiality: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Confidentiality", e2e.Holds},
		{"SoK2015", "OTR", "Table II, Confidentiality", e2e.Holds},
		{"XEP-0210", "requirement", "§2 Security Requirements: confidentiality", e2e.Holds},
	},
	e2e.Integrity: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Integrity", e2e.Holds},
		{"SoK2015", "OTR", "Table II, Integrity", e2e.Holds},
		{"XEP-0210", "requirement", "§2 Security Requirements: integrity", e2e.Holds},
	},
	e2e.Authentication: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Authentication (with signatures)", e2e.Holds},
		{"SoK2015", "OTR", "Table II, Authentication", e2e.Holds},
		{"XEP-0210", "requirement", "§2 Security Requirements: authentication", e2e.Holds},
	},
	e2e.ForwardSecrecy: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Forward Secrecy", e2e.Fails},
		{"SoK2015", "OTR", "Table II, Forward Secrecy", e2e.Holds},
		{"XEP-0210", "requirement", "§2 Security Requirements: perfect forward secrecy", e2e.Holds},
	},
	e2e.BackwardSecrecy: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Backward Secrecy", e2e.Fails},
		{"SoK2015", "OTR", "Table II, Backward Secrecy", e2e.Holds},
	},
	e2e.ReplayProtection: {
		{"XEP-0210", "requirement", "§2 Security Requirements: replay protection", e2e.Holds},
	},
	e2e.MessageRepudiation: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Message Repudiation (signed messages)", e2e.Fails},
		{"SoK2015", "OTR", "Table II, Message Repudiation", e2e.Holds},
		{"XEP-0210", "requirement", "§2 Security Requirements: repudiability", e2e.Holds},
	},
	e2e.ParticipationRepudiation: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Participation Repudiation (signed messages)", e2e.Fails},
	},
	e2e.WholeStanza: {
		{"XEP-0210", "requirement", "§3 Application Requirements: generality (every stanza type and its extensions)", e2e.Holds},
	},
	e2e.MetadataProtection: {
		{"XEP-0210", "requirement", "§2 Security Requirements: identity protection", e2e.Holds},
	},
	e2e.AsyncDelivery: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Asynchronicity", e2e.Holds},
		{"SoK2015", "OTR", "Table II, Asynchronicity", e2e.Fails},
	},
	e2e.MultiDevice: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Multi-Device Support", e2e.Holds},
		{"SoK2015", "OTR", "Table II, Multi-Device Support", e2e.Fails},
	},
	e2e.OutOfOrder: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Out-of-Order Resilient", e2e.Holds},
	},
	e2e.DropResilience: {
		{"SoK2015", "static asymmetric cryptography (OpenPGP, S/MIME)", "Table II, Dropped Message Resilient", e2e.Holds},
		{"SoK2015", "OTR", "Table II, Dropped Message Resilient", e2e.Holds},
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
