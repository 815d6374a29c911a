package smime

import (
	"errors"

	"github.com/xmppe2e/xmppe2e/e2e"
)

const nsStanzas = "urn:ietf:params:xml:ns:xmpp-stanzas"

// ErrorReply returns the error stanza RFC 3923 §7 lets a receiver send back
// when Receive failed on in with err, or nil when none should be sent.
//
// To deny an attacker any decryption oracle (RFC 3923 §7 distinguishes
// decryption, signature and timestamp failures), the reply depends only on
// what the stanza claimed to be, never on which check failed: every failure
// of a stanza whose payload is encrypted is answered with
// <bad-request/><decryption-failed/> (also when there is no local key to
// decrypt with, §7 case 5), and every failure of a signed-only stanza with
// <not-acceptable/><unverified-signature/>. The one exception is ErrStale,
// which only an authentic stanza can reach and which is answered with
// <not-acceptable/><bad-timestamp/> (RFC 3923 §6.9). Replays and errors
// outside the RFC's cases (ErrNotEncrypted, ...) get no reply, except that
// an IQ request (get or set) is always answered (RFC 6120 §8.2.3), with
// <service-unavailable/> when RFC 3923 names no condition; an IQ response
// (result or error) never is. The original payload is never echoed.
// Applications should still rate-limit replies.
func ErrorReply(in *e2e.Stanza, err error) *e2e.Stanza {
	if in == nil || err == nil || in.Type == "error" {
		return nil
	}
	request := in.Kind == e2e.IQ && (in.Type == "get" || in.Type == "set")
	if in.Kind == e2e.IQ && !request {
		return nil
	}
	payload := in.Child(NS, "e2e")
	cond, app, typ := "", "", "modify"
	switch {
	case payload == nil:
	case errors.Is(err, e2e.ErrStale):
		cond, app = "not-acceptable", "bad-timestamp"
	case errors.Is(err, e2e.ErrDecrypt), errors.Is(err, e2e.ErrBadSignature),
		errors.Is(err, e2e.ErrUntrustedKey), errors.Is(err, e2e.ErrMalformed),
		errors.Is(err, e2e.ErrNoKey):
		if looksEncrypted(payload.Text()) {
			cond, app = "bad-request", "decryption-failed"
		} else if !errors.Is(err, e2e.ErrNoKey) {
			cond, app = "not-acceptable", "unverified-signature"
		}
	}
	if cond == "" {
		if !request {
			return nil
		}
		cond, typ = "service-unavailable", "cancel"
	}
	out := &e2e.Stanza{Kind: in.Kind, NS: in.NS, From: in.To, To: in.From, ID: in.ID, Type: "error"}
	e := e2e.NewElement(out.NS, "error", "")
	if e.Name.Space == "" {
		e.Name.Space = e2e.NSClient
	}
	e.SetAttr("type", typ)
	e.AppendChild(e2e.NewElement(nsStanzas, cond, ""))
	if app != "" {
		e.AppendChild(e2e.NewElement(NS, app, ""))
	}
	if payload != nil {
		out.Children = append(out.Children, e2e.NewElement(NS, "e2e", ""))
	}
	out.Children = append(out.Children, e)
	return out
}

// looksEncrypted reports whether a payload claims to be an envelope: its
// media type is pkcs7-mime, or it is a bare base64 blob.
func looksEncrypted(text string) bool {
	var s session
	ent, err := s.parseOuter(canonical([]byte(trimLeft(text))))
	if err != nil {
		return true
	}
	mt, _, err := ent.mediaType()
	return err != nil || mt == "application/pkcs7-mime" || mt == "application/x-pkcs7-mime"
}

func trimLeft(s string) string {
	for len(s) > 0 && (s[0] == ' ' || s[0] == '\t' || s[0] == '\r' || s[0] == '\n') {
		s = s[1:]
	}
	return s
}

// ErrorCondition returns the RFC 3923 application condition of an error
// stanza: "decryption-failed", "bad-timestamp" or "unverified-signature"
// (also for the <signature-unverified/> spelling of the RFC's Appendix A
// schema, and in the misspelt namespace urn:ietf:params:xml:xmpp-e2e of its
// §7 examples), or "" when st carries none.
func ErrorCondition(st *e2e.Stanza) string {
	if st == nil || st.Type != "error" {
		return ""
	}
	for _, c := range st.Children {
		if c.Name.Local != "error" {
			continue
		}
		for _, a := range c.Elements() {
			if a.Name.Space != NS && a.Name.Space != nsTypo {
				continue
			}
			switch a.Name.Local {
			case "decryption-failed", "bad-timestamp", "unverified-signature":
				return a.Name.Local
			case "signature-unverified":
				return "unverified-signature"
			}
		}
	}
	return ""
}
