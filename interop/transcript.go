package interop

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// A transcript is the evidence of one scenario: what the engine did, what
// every session said, and the wiretap of every server.
type transcript struct {
	scheme, scenario string
	t0               time.Time

	mu    sync.Mutex
	lines []string
}

func newTranscript(scheme, scenario string) *transcript {
	return &transcript{scheme: scheme, scenario: scenario, t0: time.Now()}
}

func (t *transcript) logf(format string, args ...any) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.lines = append(t.lines, fmt.Sprintf(format, args...))
}

// path is the transcript's file name relative to the output directory.
func (t *transcript) path() string {
	return filepath.ToSlash(filepath.Join(t.scheme, t.scenario+".txt"))
}

// write stores the transcript with the wiretap under dir and returns its
// relative path.
func (t *transcript) write(dir string, verdict string, tap []Record) (string, error) {
	rel := t.path()
	var b bytes.Buffer
	fmt.Fprintf(&b, "# xmppe2e compare: scheme %s, scenario %s\n", t.scheme, t.scenario)
	fmt.Fprintf(&b, "# outcome: %s\n\n## steps\n", verdict)
	t.mu.Lock()
	for _, l := range t.lines {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	t.mu.Unlock()
	fmt.Fprintf(&b, "\n## wiretap (%d records)\n", len(tap))
	for _, r := range tap {
		fmt.Fprintf(&b, "[%d] %s %s %s -> %s (%d bytes)\n%s\n", r.Seq, r.Server, r.Hop, r.From, r.To, len(r.Bytes), r.Bytes)
	}
	if dir == "" {
		return rel, nil
	}
	full := filepath.Join(dir, filepath.FromSlash(rel))
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return rel, err
	}
	return rel, os.WriteFile(full, b.Bytes(), 0o644)
}
