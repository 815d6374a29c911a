package peers

import (
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"
)

// fakeTB records whether the helper skipped or failed the test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, a ...any) {
	f.skipped, f.msg = true, format
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, a ...any) {
	f.failed, f.msg = true, format
	runtime.Goexit()
}

func call(f func(tb testing.TB)) *fakeTB {
	tb := &fakeTB{}
	done := make(chan struct{})
	go func() { defer close(done); f(tb) }()
	<-done
	return tb
}

func TestMissingPeerSkipsOrFails(t *testing.T) {
	missing := func(tb testing.TB) { Command(tb, "xmppe2e-no-such-peer") }

	t.Setenv("XMPPE2E_INTEROP", "")
	if tb := call(missing); !tb.skipped || tb.failed {
		t.Errorf("without XMPPE2E_INTEROP a missing peer must skip: %+v", tb)
	}
	t.Setenv("XMPPE2E_INTEROP", "require")
	if tb := call(missing); !tb.failed || !strings.Contains(tb.msg, "require") {
		t.Errorf("with XMPPE2E_INTEROP=require a missing peer must fail: %+v", tb)
	}
	if tb := call(func(tb testing.TB) { File(tb, "/nonexistent/header.h", "a header") }); !tb.failed {
		t.Errorf("File of a missing path must fail when required")
	}
}

func TestPresentPeerPasses(t *testing.T) {
	t.Setenv("XMPPE2E_INTEROP", "require")
	tb := call(func(tb testing.TB) {
		if p := Command(tb, "go"); !strings.HasSuffix(p, "go") {
			tb.Fatalf("path %q", p)
		}
	})
	if tb.skipped || tb.failed {
		t.Errorf("an installed command must pass: %+v", tb)
	}
}

func TestWaitKillsAfterGrace(t *testing.T) {
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep command")
	}
	cmd := exec.Command(sleep, "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	Wait(cmd, 50*time.Millisecond)
	if cmd.ProcessState == nil || cmd.ProcessState.Success() {
		t.Fatalf("the process was not killed: %v", cmd.ProcessState)
	}
	cmd = exec.Command(sleep, "0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	Wait(cmd, time.Minute)
	if !cmd.ProcessState.Success() {
		t.Fatalf("a process that exits was killed: %v", cmd.ProcessState)
	}
}
