// Package peers finds the independent implementations that interop tests run
// against (GnuPG, OpenSSL, python-potr, libotr, jwcrypto, Prosody, slixmpp,
// Node's jose) and skips a test that needs a missing one, with the reason.
//
// With XMPPE2E_INTEROP=require in the environment (CI sets it), a missing
// peer fails the test instead: an interop suite that silently skips proves
// nothing.
//
//	func TestGnuPGDecryptsOurs(t *testing.T) {
//		gpg := peers.Command(t, "gpg")
//		...
//	}
package peers

import (
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"
)

// Python is the interpreter that has Debian's python3-* packages. The python3
// first on PATH may be another one without them.
const Python = "/usr/bin/python3"

// Required reports whether XMPPE2E_INTEROP=require is set.
func Required() bool { return os.Getenv("XMPPE2E_INTEROP") == "require" }

// Missing skips t with reason, or fails it when peers are required.
func Missing(t testing.TB, reason string) {
	t.Helper()
	if Required() {
		t.Fatalf("interop peer missing and XMPPE2E_INTEROP=require: %s", reason)
	}
	t.Skipf("interop peer missing: %s (install it, see .ci/run)", reason)
}

// Command returns the path of the executable name, or skips t (fails it when
// required) when it is not installed.
func Command(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Missing(t, fmt.Sprintf("command %q not found", name))
	}
	return p
}

// PythonModule returns the path of Debian's Python after checking that it
// imports module, or skips t (fails it when required).
func PythonModule(t testing.TB, module string) string {
	t.Helper()
	if _, err := os.Stat(Python); err != nil {
		Missing(t, Python+" not found")
	}
	if out, err := exec.Command(Python, "-c", "import "+module).CombinedOutput(); err != nil {
		Missing(t, fmt.Sprintf("%s cannot import %s: %v: %s", Python, module, err, out))
	}
	return Python
}

// File returns path when it exists (a header, a library), or skips t (fails
// it when required).
func File(t testing.TB, path, what string) string {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		Missing(t, fmt.Sprintf("%s (%s) not found", what, path))
	}
	return path
}

// Wait waits for a started peer process to exit, and kills it when it has
// not exited after grace (a peer asked to stop by closing its stdin or by a
// signal, say).
func Wait(cmd *exec.Cmd, grace time.Duration) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		cmd.Process.Kill()
		<-done
	}
}
