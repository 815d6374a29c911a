package e2etest

import (
	"fmt"

	"github.com/xmppe2e/xmppe2e/internal/toy"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// recorder is a T that records failures instead of failing the test, so the
// kit can be shown to fail broken schemes.
type recorder struct {
	name string
	mu   *sync.Mutex
	errs *[]string
}

func newRecorder() *recorder { return &recorder{mu: new(sync.Mutex), errs: new([]string)} }

func (r *recorder) Helper()             {}
func (r *recorder) Logf(string, ...any) {}
func (r *recorder) Errorf(format string, a ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	*r.errs = append(*r.errs, r.name+": "+fmt.Sprintf(format, a...))
}
func (r *recorder) Fatalf(format string, a ...any) {
	r.Errorf(format, a...)
	runtime.Goexit()
}
func (r *recorder) Run(name string, f func(T)) bool {
	c := &recorder{name: r.name + "/" + name, mu: r.mu, errs: r.errs}
	before := r.count()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f(c)
	}()
	<-done
	return r.count() == before
}
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(*r.errs)
}

// failures runs the battery against s and returns what it reported.
func failures(t *testing.T, s *toy.Scheme) []string {
	t.Helper()
	r := newRecorder()
	run(r, s, WithFlips(24), WithConcurrentPairs(3))
	return *r.errs
}

func TestKitPassesSoundScheme(t *testing.T) {
	TestScheme(t, &toy.Scheme{}, WithFlips(32))
}

func TestKitFailsBrokenSchemes(t *testing.T) {
	for _, c := range []struct {
		name string
		s    *toy.Scheme
		want string // a failure naming this subtest must be reported
	}{
		{"leaks plaintext on tamper", &toy.Scheme{LeakOnTamper: true}, "/Tamper: "},
		{"accepts replays it claims to reject", &toy.Scheme{AcceptReplays: true}, "/Replay: "},
		{"rejects replays it claims to accept", &toy.Scheme{ClaimNoReplay: true}, "/Replay: "},
		{"drops bad stanzas silently", &toy.Scheme{DropSilently: true}, "silently dropped"},
		{"panics on bad input", &toy.Scheme{PanicOnBadInput: true}, "panicked"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := failures(t, c.s)
			for _, f := range got {
				if strings.Contains(f, c.want) {
					return
				}
			}
			t.Errorf("the kit did not report %q; it reported %d failures:\n%s", c.want, len(got), strings.Join(got, "\n"))
		})
	}
}

func TestRecorderSeesSoundSchemePass(t *testing.T) {
	if got := failures(t, &toy.Scheme{}); len(got) != 0 {
		t.Fatalf("sound toy scheme failed the battery:\n%s", strings.Join(got, "\n"))
	}
}
