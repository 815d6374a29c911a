package jose

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	gojose "github.com/go-jose/go-jose/v4"
	"mellium.im/xmpp/jid"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// The multi-recipient extension (Options.GeneralJSON). The draft carries
// exactly one wrapped CEK per <e2e/>; this extension carries a JWE General
// JSON Serialization (RFC 7516 §7.2.1) instead, one recipient entry per
// recipient SMK, in
//
//	<e2e xmlns='urn:ietf:params:xml:ns:xmpp-e2e:6' type='enc'>
//	  <general xmlns='urn:xmppe2e:jose:general:0'>BASE64URL(JSON)</general>
//	</e2e>
//
// Each entry's header is {"alg":"A256KW","kid":SID}; the shared protected
// header is {"enc":...}. A receiver that lacks its SMK asks the sender for
// every SID in the object (it cannot tell which one is its own); the sender
// releases only the one made for it. Draft-only receivers cannot read it.

// wrapAlgs are the key-management algorithms a General JSON object may
// name for its recipients (each key still opens only its pinned ones).
var wrapAlgs = []string{"A128KW", "A192KW", "A256KW", "RSA-OAEP", "RSA-OAEP-256", "RSA1_5", "ECDH-ES+A128KW", "ECDH-ES+A192KW", "ECDH-ES+A256KW", "A128GCMKW", "A192GCMKW", "A256GCMKW"}

type generalJWE struct {
	Protected  string             `json:"protected"`
	Recipients []generalRecipient `json:"recipients"`
	IV         string             `json:"iv"`
	Ciphertext string             `json:"ciphertext"`
	Tag        string             `json:"tag"`
}

type generalRecipient struct {
	Header       generalHeader `json:"header"`
	EncryptedKey string        `json:"encrypted_key"`
}

type generalHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// EncryptGeneral encrypts st once for all the recipients to (the
// extension; Options.GeneralJSON must be set). The stanza keeps its own
// addressing (typically a multicast address or the first recipient).
func (s *Session) EncryptGeneral(ctx context.Context, st *e2e.Stanza, to []jid.JID) ([]*e2e.Stanza, error) {
	if !s.o.GeneralJSON {
		return nil, fmt.Errorf("jose: %w: the General JSON extension is off (Options.GeneralJSON)", e2e.ErrUnsupported)
	}
	if len(to) == 0 || len(to) > gojose.MaxRecipients {
		return nil, fmt.Errorf("jose: %w: %d recipients (want 1 to %d)", e2e.ErrUnsupported, len(to), gojose.MaxRecipients)
	}
	st, err := s.prepare(st)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	inner := st
	if s.cfg.Sign {
		if inner, err = s.sign(st); err != nil {
			return nil, err
		}
	}
	now := s.stamp()
	cek := make([]byte, cekSize(s.o.Content))
	if _, err := io.ReadFull(s.random(), cek); err != nil {
		return nil, err
	}
	aead, err := newAEAD(s.o.Content, cek)
	if err != nil {
		return nil, err
	}
	hdr, err := marshalJSON(struct {
		Enc string `json:"enc"`
	}{s.o.Content})
	if err != nil {
		return nil, err
	}
	g := generalJWE{Protected: b64.EncodeToString(hdr)}
	var entries []*smkEntry
	for _, r := range to {
		e, err := s.smkFor(r.Bare(), now)
		if err != nil {
			return nil, err
		}
		ek, err := wrapCEK(s.random(), e.alg, e.key, cek)
		if err != nil {
			return nil, err
		}
		entries = append(entries, e)
		g.Recipients = append(g.Recipients, generalRecipient{generalHeader{e.alg, e.sid}, b64.EncodeToString(ek)})
	}
	iv := make([]byte, aead.NonceSize())
	if _, err := io.ReadFull(s.random(), iv); err != nil {
		return nil, err
	}
	sealed := aead.Seal(nil, iv, envelope(inner, now), []byte(g.Protected))
	tagLen := tagSize(s.o.Content)
	g.IV = b64.EncodeToString(iv)
	g.Ciphertext = b64.EncodeToString(sealed[:len(sealed)-tagLen])
	g.Tag = b64.EncodeToString(sealed[len(sealed)-tagLen:])
	js, err := marshalJSON(g)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		e.uses++
	}
	out, err := s.outer(st)
	if err != nil {
		return nil, err
	}
	e := e2e.NewElement(NS, "e2e", "")
	e.SetAttr("type", "enc")
	e.AppendChild(e2e.NewElement(NSGeneral, "general", b64.EncodeToString(js)))
	out.Children = []*e2e.Element{e}
	return []*e2e.Stanza{out}, nil
}

// openGeneral opens the extension's <e2e type='enc'><general/></e2e>.
func (s *Session) openGeneral(st *e2e.Stanza, e *e2e.Element, depth int, checks []pendingCheck) (*e2e.Opened, []*e2e.Stanza, error) {
	if len(e.Elements()) != 1 {
		return nil, nil, fmt.Errorf("jose: %w: <general/> must be the only child of <e2e/>", e2e.ErrMalformed)
	}
	txt, err := b64Text(e.Child(NSGeneral, "general").Text())
	if err != nil {
		return nil, nil, fmt.Errorf("jose: %w: <general/>: %v", e2e.ErrMalformed, err)
	}
	js, err := b64.DecodeString(txt)
	if err != nil {
		return nil, nil, fmt.Errorf("jose: %w: <general/> is not base64url", e2e.ErrMalformed)
	}
	if err := uniqueNames(js); err != nil {
		return nil, nil, err
	}
	var g generalJWE
	d := json.NewDecoder(bytes.NewReader(js))
	if err := d.Decode(&g); err != nil || d.More() {
		return nil, nil, fmt.Errorf("jose: %w: <general/> is not a JWE General JSON object", e2e.ErrMalformed)
	}
	if len(g.Recipients) == 0 || len(g.Recipients) > gojose.MaxRecipients {
		return nil, nil, fmt.Errorf("jose: %w: %d recipients", e2e.ErrMalformed, len(g.Recipients))
	}
	var ph protectedHeader
	raw, err := b64.DecodeString(g.Protected)
	if err != nil || decodeHeader(raw, &ph) != nil {
		return nil, nil, fmt.Errorf("jose: %w: protected header", e2e.ErrMalformed)
	}
	if ph.Zip != nil || ph.Crit != nil || ph.Alg != "" || !slices.Contains(contentAlgs, ph.Enc) {
		return nil, nil, fmt.Errorf("jose: %w: protected header must hold only an accepted enc", e2e.ErrMalformed)
	}
	var wanted []inKey
	for _, r := range g.Recipients {
		if r.Header.Kid == "" {
			return nil, nil, fmt.Errorf("jose: %w: recipient without kid", e2e.ErrMalformed)
		}
		ik := inKey{st.From.String(), r.Header.Kid}
		k, ok := s.smk(ik)
		if !ok {
			if !slices.Contains(wanted, ik) {
				wanted = append(wanted, ik)
			}
			continue
		}
		algs := allowedAlgs(k, forKeyWrap)
		if !slices.Contains(algs, r.Header.Alg) {
			return nil, nil, fmt.Errorf("jose: %w: algorithm %q is not allowed for SID %q", e2e.ErrDecrypt, r.Header.Alg, ik.sid)
		}
		pt, err := decryptGeneral(string(js), k, algs, r.Header.Kid)
		if err != nil {
			return nil, nil, err
		}
		return s.finish(st, pt, "enc:"+r.Header.Kid+"."+r.EncryptedKey, true, nil, depth, checks, false)
	}
	if depth > 0 {
		return nil, nil, fmt.Errorf("jose: %w: nested General JSON layer under unknown SIDs", e2e.ErrNoKey)
	}
	replies, err := s.hold(st, e, wanted)
	return nil, replies, err
}

func decryptGeneral(js string, k key, algs []string, kid string) (pt []byte, err error) {
	defer func() {
		if r := recover(); r != nil {
			pt, err = nil, errDecrypt
		}
	}()
	// Other recipients may use other algorithms; the entry this key opens
	// must use one pinned for the key.
	obj, err := gojose.ParseEncryptedJSON(js, keyAlgs(wrapAlgs), encAlgs(contentAlgs))
	if err != nil {
		return nil, fmt.Errorf("jose: %w: %v", e2e.ErrMalformed, err)
	}
	_, h, pt, err := obj.DecryptMulti(k.Key)
	if err != nil || h.KeyID != kid || !slices.Contains(algs, h.Algorithm) {
		return nil, errDecrypt
	}
	return pt, nil
}

// uniqueNames refuses JSON in which an object names a member twice, also in
// spellings that differ only in case. encoding/json matches struct fields
// case-insensitively and go-jose's decoder exactly; with one spelling per
// name both read the same members (RFC 7516 §7.2.1 names are exact).
func uniqueNames(b []byte) error {
	bad := fmt.Errorf("jose: %w: General JSON with a repeated member name", e2e.ErrMalformed)
	d := json.NewDecoder(bytes.NewReader(b))
	type frame struct {
		obj   bool
		names []string
		key   bool // the next token of an object is a member name
	}
	var stack []*frame
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("jose: %w: General JSON: %v", e2e.ErrMalformed, err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.obj && top.key {
			if name, ok := tok.(string); ok {
				for _, n := range top.names {
					if strings.EqualFold(n, name) {
						return bad
					}
				}
				top.names = append(top.names, name)
				top.key = false
				continue
			}
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if top != nil && top.obj {
				top.key = true
			}
			if len(stack) >= 16 {
				return fmt.Errorf("jose: %w: General JSON nested too deep", e2e.ErrMalformed)
			}
			stack = append(stack, &frame{obj: tok == json.Delim('{'), key: true})
		case json.Delim('}'), json.Delim(']'):
			stack = stack[:len(stack)-1]
		default:
			if top != nil && top.obj {
				top.key = true
			}
		}
	}
}
