// Command xmppe2e runs the XMPP end-to-end encryption toolkit: it compares
// the schemes over a built-in XMPP network, and encrypts, decrypts, signs and
// verifies single stanzas with any scheme's own key formats, so that other
// implementations can be checked against ours.
//
// Usage:
//
//	xmppe2e schemes
//	xmppe2e keygen  --scheme S --jid JID --out PREFIX
//	xmppe2e encrypt --scheme S --key MY.key --to PEER.pub [--to PEER2.pub] [--sign] < stanza.xml > wire.xml
//	xmppe2e decrypt --scheme S --key MY.key [--from PEER.pub] < wire.xml > opened.xml
//	xmppe2e sign    --scheme S --key MY.key < stanza.xml > wire.xml
//	xmppe2e verify  --scheme S --from PEER.pub < wire.xml > opened.xml
//	xmppe2e compare [flags]
//	xmppe2e vectors verify [--scheme S] [DIR]
//	xmppe2e vectors generate [--record] [--scheme S] [--recordings DIR] [DIR]
//	xmppe2e serve   --domain D --users FILE [flags]
//
// Every subcommand takes --help. Timestamp checks use the clock given by
// --now RFC3339 or the environment variable XMPPE2E_NOW, else the system
// clock. On failure xmppe2e prints one line naming the cause on stderr,
// nothing on stdout, and exits 1; a mistake in the command line is one
// line too, pointing at --help, with exit status 2.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/xmppe2e/xmppe2e/e2e"
)

// A command is one subcommand of xmppe2e.
type command struct {
	name    string
	args    string // the synopsis after the name
	summary string
	// flags declares the command's flags on fs and returns the function
	// that runs it once fs is parsed.
	flags func(fs *flag.FlagSet, e *env) func() error
}

// commands is the table of subcommands, in the order help lists them.
var commands = []*command{
	schemesCmd,
	keygenCmd,
	encryptCmd,
	decryptCmd,
	signCmd,
	verifyCmd,
	compareCmd,
	vectorsCmd,
	serveCmd,
}

// env is what a command runs with: its streams, the schemes it may use and
// the environment.
type env struct {
	ctx     context.Context
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	schemes []e2e.Scheme
	getenv  func(string) string
	args    []string // positional arguments left after the flags
}

// usageError is a mistake in the command line: exit status 2.
type usageError struct{ msg string }

func (u usageError) Error() string { return u.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, quietStdout(), os.Stderr, schemes, os.Getenv)
	stop()
	os.Exit(code)
}

// quietStdout returns the real standard output for the command's own output
// and points os.Stdout at the null device: libraries that print (otr3 writes
// "Unsupported wipe kind" on every AES operation) must not corrupt the
// stanzas the command writes.
func quietStdout() io.Writer {
	out := os.Stdout
	if null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
		os.Stdout = null
	}
	return out
}

// run runs one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, list []e2e.Scheme, getenv func(string) string) int {
	if len(args) == 0 {
		mainUsage(stderr)
		return 2
	}
	name := args[0]
	if name == "help" || name == "-h" || name == "--help" || name == "-help" {
		mainUsage(stdout)
		return 0
	}
	var cmd *command
	for _, c := range commands {
		if c.name == name {
			cmd = c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "xmppe2e: unknown command %q (see 'xmppe2e help')\n", name)
		return 2
	}
	e := &env{ctx: ctx, stdin: stdin, stdout: stdout, stderr: stderr, schemes: list, getenv: getenv}
	fs := flag.NewFlagSet("xmppe2e "+cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	do := cmd.flags(fs, e)
	fs.Usage = func() {}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(stdout, cmd, fs)
			return 0
		}
		fmt.Fprintf(stderr, "xmppe2e %s: %v (see 'xmppe2e %s --help')\n", cmd.name, err, cmd.name)
		return 2
	}
	e.args = fs.Args()
	err := do()
	var u usageError
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &u):
		fmt.Fprintf(stderr, "xmppe2e %s: %s (see 'xmppe2e %s --help')\n", cmd.name, oneLine(u.msg), cmd.name)
		return 2
	case ctx.Err() != nil && errors.Is(err, ctx.Err()):
		fmt.Fprintf(stderr, "xmppe2e %s: interrupted\n", cmd.name)
		return 1
	default:
		fmt.Fprintf(stderr, "xmppe2e %s: %s\n", cmd.name, oneLine(err.Error()))
		return 1
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

func mainUsage(w io.Writer) {
	fmt.Fprintln(w, "xmppe2e: end-to-end encryption for XMPP, compared and checked.")
	fmt.Fprintln(w, "\nUsage:")
	for _, c := range commands {
		fmt.Fprintf(w, "  xmppe2e %-8s %s\n", c.name, c.args)
	}
	fmt.Fprintln(w, "\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'xmppe2e COMMAND --help' for a command's flags.")
}

func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: xmppe2e %s %s\n\n%s\n", c.name, c.args, c.summary)
	n := 0
	fs.VisitAll(func(*flag.Flag) { n++ })
	if n > 0 {
		fmt.Fprintln(w, "\nFlags:")
		fs.SetOutput(w)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
}
