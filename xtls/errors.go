package xtls

import (
	"errors"
	"fmt"
	"os"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// Errors an XTLS session reports. Each wraps an e2e error class.
var (
	// ErrPeerNotTrusted: the certificate the peer presented in TLS is not
	// pinned in Config.Peers, not approved by Config.Trust, or names another
	// JID than the peer's.
	ErrPeerNotTrusted = fmt.Errorf("xtls: peer certificate not trusted: %w", e2e.ErrUntrustedKey)

	// ErrFingerprintMismatch: the certificate presented in TLS does not
	// match a fingerprint the peer advertised in its <security/> element.
	ErrFingerprintMismatch = fmt.Errorf("xtls: certificate does not match the advertised fingerprint: %w", e2e.ErrUntrustedKey)

	// ErrNoSecurity: a session-initiate or session-accept for the XML-stream
	// application came without the XTLS <security/> element (a downgrade:
	// XTLS never falls back to plaintext).
	ErrNoSecurity = fmt.Errorf("xtls: no <security/> element: %w", e2e.ErrNotEncrypted)

	// ErrUnsupportedMethod: the peer offers no method we support, or chose
	// one we did not offer (such as srp).
	ErrUnsupportedMethod = fmt.Errorf("xtls: unsupported authentication method: %w", e2e.ErrUnsupported)

	// ErrTimeout: the Jingle negotiation, the TLS handshake or the stream
	// header did not complete within Options.HandshakeTimeout.
	ErrTimeout = fmt.Errorf("xtls: handshake timed out: %w", os.ErrDeadlineExceeded)

	errClosed = errors.New("xtls: session closed")
)

// A TerminatedError reports that a Jingle session ended with a failure:
// either we sent session-terminate with Reason, or (Remote) the peer did.
type TerminatedError struct {
	Reason string // the <reason/> condition: "security-error", "timeout", "failed-transport", ...
	Text   string
	Remote bool
	Err    error // the cause; nil for a remote termination
}

func (e *TerminatedError) Error() string {
	who := "we"
	if e.Remote {
		who = "peer"
	}
	s := fmt.Sprintf("xtls: session terminated by %s with <%s/>", who, e.Reason)
	if e.Text != "" {
		s += " (" + e.Text + ")"
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause and, for a remote termination, an e2e class that
// matches the reason.
func (e *TerminatedError) Unwrap() []error {
	if e.Err != nil {
		return []error{e.Err}
	}
	switch e.Reason {
	case "security-error":
		return []error{e2e.ErrUntrustedKey}
	case "failed-transport", "connectivity-error", "general-error":
		return []error{e2e.ErrMalformed}
	case "timeout":
		return []error{os.ErrDeadlineExceeded}
	}
	return []error{e2e.ErrUnsupported}
}
