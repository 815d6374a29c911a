package jose

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"slices"

	gojose "github.com/go-jose/go-jose/v4"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// jwsHeader is the protected header this profile writes (-06 §4.4 order).
type jwsHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid,omitempty"`
}

// signCompact signs payload with an RSA key: RS256/RS384/RS512 are
// deterministic, PS* draw their salt from crypto/rand.
func signCompact(alg, kid string, priv *rsa.PrivateKey, payload []byte) (compact, error) {
	var h crypto.Hash
	pss := false
	switch alg {
	case "RS256", "PS256":
		h = crypto.SHA256
	case "RS384", "PS384":
		h = crypto.SHA384
	case "RS512", "PS512":
		h = crypto.SHA512
	default:
		return nil, fmt.Errorf("jose: %w: signature algorithm %q", e2e.ErrUnsupported, alg)
	}
	pss = alg[0] == 'P'
	hdr, err := marshalJSON(jwsHeader{Alg: alg, Kid: kid})
	if err != nil {
		return nil, err
	}
	c := compact{b64.EncodeToString(hdr), b64.EncodeToString(payload), ""}
	d := h.New()
	d.Write([]byte(c[0] + "." + c[1]))
	var sig []byte
	if pss {
		sig, err = rsa.SignPSS(rand.Reader, priv, h, d.Sum(nil), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	} else {
		sig, err = rsa.SignPKCS1v15(nil, priv, h, d.Sum(nil))
	}
	if err != nil {
		return nil, err
	}
	c[2] = b64.EncodeToString(sig)
	return c, nil
}

// verifyCompact verifies a compact JWS with k, accepting only the algorithms
// pinned for k, and returns the checked header and the payload.
func verifyCompact(c compact, k key) (h protectedHeader, payload []byte, err error) {
	if h, err = checkCompact(c, false); err != nil {
		return h, nil, err
	}
	algs := allowedAlgs(k, forSigning)
	if !slices.Contains(algs, h.Alg) {
		return h, nil, fmt.Errorf("jose: %w: algorithm %q is not allowed for this key", e2e.ErrBadSignature, h.Alg)
	}
	if pub, ok := publicOf(k.Key).(*rsa.PublicKey); ok {
		if err := verifyRSA(h.Alg, pub, c); err != nil {
			return h, nil, err
		}
		payload, _ = b64.DecodeString(c[1])
		return h, payload, nil
	}
	defer func() {
		if r := recover(); r != nil {
			payload, err = nil, fmt.Errorf("jose: %w", e2e.ErrBadSignature)
		}
	}()
	obj, err := gojose.ParseSignedCompact(c.String(), sigAlgs(algs))
	if err != nil {
		return h, nil, fmt.Errorf("jose: %w: %v", e2e.ErrMalformed, err)
	}
	payload, err = obj.Verify(publicOf(k.Key))
	if err != nil {
		return h, nil, fmt.Errorf("jose: %w", e2e.ErrBadSignature)
	}
	return h, payload, nil
}

func publicOf(k any) any {
	if s, ok := k.(interface{ Public() crypto.PublicKey }); ok {
		if _, sym := k.([]byte); !sym {
			return s.Public()
		}
	}
	return k
}

// verifyRSA verifies RS* and PS* itself: go-jose accepts any PSS salt
// length, RFC 7518 §3.5 fixes it to the hash size.
func verifyRSA(alg string, pub *rsa.PublicKey, c compact) error {
	var h crypto.Hash
	switch alg[2:] {
	case "256":
		h = crypto.SHA256
	case "384":
		h = crypto.SHA384
	case "512":
		h = crypto.SHA512
	}
	sig, _ := b64.DecodeString(c[2])
	d := h.New()
	d.Write([]byte(c[0] + "." + c[1]))
	var err error
	if alg[0] == 'P' {
		err = rsa.VerifyPSS(pub, h, d.Sum(nil), sig, &rsa.PSSOptions{SaltLength: h.Size(), Hash: h})
	} else {
		err = rsa.VerifyPKCS1v15(pub, h, d.Sum(nil), sig)
	}
	if err != nil {
		return fmt.Errorf("jose: %w", e2e.ErrBadSignature)
	}
	return nil
}
