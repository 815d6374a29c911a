package gen

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
)

// A tool runs one independent implementation in a scratch directory.
type tool struct {
	bin string
	dir string
	env []string
}

// newTool finds bin on PATH (or takes an absolute path) and makes a scratch
// directory. It reports ok false, after saying why on stderr, when the
// peer is not installed: recording goes on without it.
func newTool(scheme, bin string) (t *tool, ok bool, err error) {
	path, lerr := exec.LookPath(bin)
	if lerr != nil {
		fmt.Fprintf(os.Stderr, "vectors/gen: %s: %s not installed, no records from it (%v)\n", scheme, bin, lerr)
		return nil, false, nil
	}
	// A short path: gpg-agent's socket path is length-limited.
	dir, err := os.MkdirTemp("", "vgen")
	if err != nil {
		return nil, false, err
	}
	return &tool{bin: path, dir: dir}, true, nil
}

func (t *tool) close() { os.RemoveAll(t.dir) }

func (t *tool) path(name string) string { return t.dir + string(os.PathSeparator) + name }

func (t *tool) write(name, content string) error {
	return os.WriteFile(t.path(name), []byte(content), 0o600)
}

func (t *tool) read(name string) (string, error) {
	b, err := os.ReadFile(t.path(name))
	return string(b), err
}

// run runs the tool in its directory with stdin and returns its stdout.
func (t *tool) run(ctx context.Context, stdin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, t.bin, args...)
	cmd.Dir = t.dir
	cmd.Env = append(os.Environ(), t.env...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s %s: %v\n%s", t.bin, strings.Join(args, " "), err, errb.String())
	}
	return out.String(), nil
}

// peerFlags returns flags, led by Peer when r was made by an independent
// implementation.
func peerFlags(r Record, flags ...string) []string {
	if r.Producer != "xmppe2e" {
		return append([]string{"Peer"}, flags...)
	}
	return flags
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
