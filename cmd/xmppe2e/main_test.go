package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/toy"
	"github.com/xmppe2e/xmppe2e/interop/report"
)

// The scripts run the CLI with the real schemes plus the test-only toy
// scheme, so the generic plumbing is checked whatever codecs exist.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"xmppe2e": func() {
			list := append(append([]e2e.Scheme(nil), schemes...), &toy.Scheme{})
			os.Exit(run(context.Background(), os.Args[1:], os.Stdin, quietStdout(), os.Stderr, list, os.Getenv))
		},
	})
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// jsonmarks REPORT OUT: write the scheme, property, result and
			// scenario of every mark of a compare report to OUT: the part a
			// seed must reproduce.
			"jsonmarks": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: jsonmarks REPORT OUT")
				}
				f, err := os.Open(ts.MkAbs(args[0]))
				ts.Check(err)
				defer f.Close()
				rep, err := report.ReadJSON(f)
				ts.Check(err)
				var b strings.Builder
				for _, s := range rep.Schemes {
					for _, p := range s.Properties {
						fmt.Fprintf(&b, "%s %s %s %s\n", s.Name, p.Name, p.Result, p.Scenario)
					}
					for _, a := range s.Attacks {
						fmt.Fprintf(&b, "%s attack %s %s\n", s.Name, a.Name, a.Outcome)
					}
				}
				ts.Check(os.WriteFile(ts.MkAbs(args[1]), []byte(b.String()), 0o644))
			},
			// status CODE COMMAND [ARGS...]: run the command like exec and
			// require exit status CODE; stdout and stderr are kept for the
			// checks that follow.
			"status": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) < 2 {
					ts.Fatalf("usage: status CODE COMMAND [ARGS...]")
				}
				want, err := strconv.Atoi(args[0])
				ts.Check(err)
				err = ts.Exec(args[1], args[2:]...)
				got := 0
				var exit *exec.ExitError
				switch {
				case errors.As(err, &exit):
					got = exit.ExitCode()
				case err != nil:
					ts.Fatalf("%s: %v", args[1], err)
				}
				if got != want {
					ts.Fatalf("%s: exit status %d, want %d", args[1], got, want)
				}
			},
			// mode FILE PERM: the file's permission bits are PERM (octal).
			"mode": func(ts *testscript.TestScript, neg bool, args []string) {
				if len(args) != 2 {
					ts.Fatalf("usage: mode FILE PERM")
				}
				fi, err := os.Stat(ts.MkAbs(args[0]))
				ts.Check(err)
				if got := fmt.Sprintf("%04o", fi.Mode().Perm()); (got == args[1]) == neg {
					ts.Fatalf("%s has mode %s", args[0], got)
				}
			},
		},
		Setup: func(env *testscript.Env) error {
			env.Setenv("XMPPE2E_INTEROP", os.Getenv("XMPPE2E_INTEROP"))
			return nil
		},
	})
}

// An interrupted command (SIGINT, SIGTERM: the context ends) says so in one
// line, rather than "context canceled", and writes nothing on stdout.
func TestInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var stdout, stderr strings.Builder
	code := run(ctx, []string{"compare", "--schemes", "toy", "--network", "memory", "--out", t.TempDir()},
		strings.NewReader(""), &stdout, &stderr, []e2e.Scheme{&toy.Scheme{}}, func(string) string { return "" })
	if code != 1 || stderr.String() != "xmppe2e compare: interrupted\n" || stdout.Len() != 0 {
		t.Errorf("exit %d, stdout %q, stderr %q; want 1, nothing, one line saying interrupted", code, stdout.String(), stderr.String())
	}
}
