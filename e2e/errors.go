package e2e

import "errors"

// The error classes every codec reports. Codecs wrap them, usually with
// fmt.Errorf("scheme: %w: detail", e2e.ErrX), so callers test the class with
// errors.Is whatever scheme produced the error.
//
// A codec never returns plaintext together with an error: when Receive fails,
// nothing in its result was opened.
var (
	// ErrUnsupported: the scheme does not offer this operation or stanza kind
	// (for example Sign in a scheme without signatures).
	ErrUnsupported = errors.New("e2e: unsupported by this scheme")

	// ErrNoKey: no usable key for the peer, the recipient or the key ID named
	// in the stanza.
	ErrNoKey = errors.New("e2e: no key")

	// ErrUntrustedKey: a key was found but is neither pinned in Config.Peers
	// nor approved by Config.Trust.
	ErrUntrustedKey = errors.New("e2e: untrusted key")

	// ErrDecrypt covers every failure to decrypt: a wrong key, a failed MAC
	// or tag, bad padding. Codecs report all of them as this one error, with
	// no detail that distinguishes them, so that no padding or MAC oracle
	// reaches the sender of a hostile stanza.
	ErrDecrypt = errors.New("e2e: cannot decrypt")

	// ErrBadSignature: a signature or MAC did not verify, or it verified but
	// binds the content to other addresses than the stanza's.
	ErrBadSignature = errors.New("e2e: bad signature")

	// ErrReplay: a stanza already delivered was seen again.
	ErrReplay = errors.New("e2e: replayed stanza")

	// ErrStale: a protected timestamp is outside the accepted window or goes
	// backwards.
	ErrStale = errors.New("e2e: stale timestamp")

	// ErrMalformed: the input does not parse: bad XML, bad encoding, bad
	// armor, missing elements, sizes beyond the documented limits.
	ErrMalformed = errors.New("e2e: malformed input")

	// ErrNotEncrypted: a stanza arrived in the clear where the policy requires
	// encryption.
	ErrNotEncrypted = errors.New("e2e: not encrypted")
)

// Classes lists every error class above, in a stable order. Tools that print
// an error class (the CLI, the harness, the test vectors) name it with
// ClassOf.
var Classes = []error{
	ErrUnsupported, ErrNoKey, ErrUntrustedKey, ErrDecrypt, ErrBadSignature,
	ErrReplay, ErrStale, ErrMalformed, ErrNotEncrypted,
}

var classNames = map[error]string{
	ErrUnsupported:  "unsupported",
	ErrNoKey:        "no-key",
	ErrUntrustedKey: "untrusted-key",
	ErrDecrypt:      "decrypt",
	ErrBadSignature: "bad-signature",
	ErrReplay:       "replay",
	ErrStale:        "stale",
	ErrMalformed:    "malformed",
	ErrNotEncrypted: "not-encrypted",
}

// ClassOf returns the stable name of err's class ("decrypt", "replay", ...),
// "" for a nil error and "other" for an error outside the classes.
func ClassOf(err error) string {
	if err == nil {
		return ""
	}
	for _, c := range Classes {
		if errors.Is(err, c) {
			return classNames[c]
		}
	}
	return "other"
}

// ClassByName is the inverse of ClassOf: it returns the class error for a name
// such as "decrypt", or nil when the name is unknown.
func ClassByName(name string) error {
	for err, n := range classNames {
		if n == name {
			return err
		}
	}
	return nil
}
