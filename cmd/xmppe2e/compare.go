package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop"
	"github.com/xmppe2e/xmppe2e/interop/report"
)

var compareCmd = &command{
	name:    "compare",
	args:    "[flags]",
	summary: "Run every scheme over the built-in XMPP network, attack it, and report measured properties and costs.",
	flags: func(fs *flag.FlagSet, e *env) func() error {
		jsonOut := fs.String("json", "", "write the report as JSON to `FILE`")
		mdOut := fs.String("markdown", "", "write the report as Markdown to `FILE`")
		htmlOut := fs.String("html", "", "write the report as one HTML page with SVG charts to `DIR`/index.html, with the evidence beside it")
		outDir := fs.String("out", "", "write the evidence (one transcript per scheme and scenario) to `DIR` (default: the --html directory, else a new temporary directory)")
		names := fs.String("schemes", "", "comma-separated `LIST` of schemes to run (default: all)")
		scen := fs.String("scenarios", "", "comma-separated `LIST` of scenarios to run (default: all)")
		seed := fs.Int64("seed", 1, "`N` seeds identities, secrets and attack samples: the same seed gives the same marks")
		samples := fs.Int("samples", 20, "`N` messages per scheme for the time medians")
		netName := fs.String("network", "builtin", "`NET` to run over: builtin (two TLS servers on loopback) or memory (in-process routing, for quick checks)")
		sign := fs.Bool("sign", false, "ask every session to sign what it encrypts, where the scheme can (e2e.Config.Sign)")
		srv := fs.String("server", "", "run the scenarios that need no malicious server against the external server at `HOST:PORT`")
		accounts := fs.String("accounts", "", "with --server: `FILE` of accounts (lines: juliet|romeo|mercutio JID PASSWORD; ca PEMFILE)")
		return func() error {
			if len(e.args) > 0 {
				return usagef("unexpected arguments %q", e.args)
			}
			list, err := pickSchemes(e.schemes, *names)
			if err != nil {
				return err
			}
			if *samples < 1 {
				return usagef("--samples must be at least 1")
			}
			// Fail now, not after the run, when a report cannot be written.
			// The output directories are made first, so that the reports
			// may go inside them.
			for _, d := range []string{*htmlOut, *outDir} {
				if d != "" {
					if err := os.MkdirAll(d, 0o755); err != nil {
						return err
					}
				}
			}
			for _, f := range []string{*jsonOut, *mdOut} {
				if f == "" {
					continue
				}
				if fi, err := os.Stat(filepath.Dir(f)); err != nil {
					return err
				} else if !fi.IsDir() {
					return fmt.Errorf("%s is not a directory", filepath.Dir(f))
				}
			}
			opt := interop.Options{Schemes: list, Seed: *seed, Samples: *samples, Sign: *sign}
			if *scen != "" {
				known := map[string]bool{}
				var all []string
				for _, s := range interop.Scenarios() {
					known[s.Name] = true
					all = append(all, s.Name)
				}
				for _, s := range strings.Split(*scen, ",") {
					if !known[strings.TrimSpace(s)] {
						return usagef("unknown scenario %q (have: %s)", s, strings.Join(all, ", "))
					}
					opt.Only = append(opt.Only, strings.TrimSpace(s))
				}
			}
			switch {
			case *srv != "":
				if *accounts == "" {
					return usagef("--server needs --accounts")
				}
				ext, err := interop.LoadExternal(*srv, *accounts)
				if err != nil {
					return err
				}
				opt.External, opt.NetworkName, opt.Addresses = true, "external server "+*srv, ext.Addresses()
				opt.NewNetwork = ext.Open
			case *netName == "builtin":
				opt.NetworkName = "built-in: capulet.lit and montague.lit on loopback, STARTTLS, SASL, TLS s2s with SASL EXTERNAL; capulet.lit malicious"
				opt.NewNetwork = func(ctx context.Context) (interop.Network, error) { return interop.StartBuiltinNetwork(ctx) }
			case *netName == "memory":
				opt.NetworkName = "in-memory routing (MemNetwork); capulet.lit malicious"
			default:
				return usagef("unknown --network %q (builtin or memory)", *netName)
			}
			opt.OutDir = *outDir
			if opt.OutDir == "" {
				opt.OutDir = *htmlOut
			}
			if opt.OutDir == "" {
				d, err := os.MkdirTemp("", "xmppe2e-compare-")
				if err != nil {
					return err
				}
				opt.OutDir = d
			}
			opt.Progress = newProgress(e.stderr).event
			// Some libraries under the codecs print to os.Stdout (otr3's
			// "Unsupported wipe kind"); the report goes to e.stdout, so
			// silence the process-wide stdout while the schemes run.
			if devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0); err == nil {
				saved := os.Stdout
				os.Stdout = devnull
				defer func() { os.Stdout = saved; devnull.Close() }()
			}
			rep, err := interop.Run(e.ctx, opt)
			if err != nil {
				return err
			}
			// The files first: if one cannot be written, stdout stays empty.
			if *jsonOut != "" {
				if err := report.WriteFile(*jsonOut, rep.WriteJSON); err != nil {
					return err
				}
			}
			if *mdOut != "" {
				if err := report.WriteFile(*mdOut, rep.WriteMarkdown); err != nil {
					return err
				}
			}
			if *htmlOut != "" {
				if err := rep.WriteHTMLDir(*htmlOut); err != nil {
					return err
				}
			}
			if err := rep.WriteText(e.stdout); err != nil {
				return err
			}
			if *htmlOut != "" {
				fmt.Fprintf(e.stderr, "report: %s\n", filepath.Join(*htmlOut, report.HTMLFile))
			}
			fmt.Fprintf(e.stderr, "evidence: %s\n", opt.OutDir)
			return nil
		}
	},
}

// pickSchemes selects the named schemes from list, in list order.
func pickSchemes(list []e2e.Scheme, names string) ([]e2e.Scheme, error) {
	if names == "" {
		if len(list) == 0 {
			return nil, fmt.Errorf("no schemes are built in")
		}
		return list, nil
	}
	var have []string
	var picked []e2e.Scheme
	for _, s := range list {
		have = append(have, s.Name())
	}
	for _, n := range strings.Split(names, ",") {
		n = strings.TrimSpace(n)
		found := false
		for _, s := range list {
			if s.Name() == n {
				picked = append(picked, s)
				found = true
			}
		}
		if !found {
			return nil, usagef("unknown scheme %q (have: %s)", n, strings.Join(have, ", "))
		}
	}
	return picked, nil
}

// progress shows the run: one rewritten status line on a terminal, one
// line per finished scenario otherwise.
type progress struct {
	mu  sync.Mutex
	w   io.Writer
	tty bool
	t0  time.Time
}

func newProgress(w io.Writer) *progress {
	p := &progress{w: w, t0: time.Now()}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

func (p *progress) event(ev interop.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	at := time.Since(p.t0).Truncate(10 * time.Millisecond)
	switch {
	case p.tty && !ev.Done:
		what := ev.Scenario
		if what == "" {
			what = "identities"
		}
		fmt.Fprintf(p.w, "\r\033[K[%d/%d %s] %s: %s …", ev.Step, ev.Steps, at, ev.Scheme, what)
	case p.tty && ev.Done && ev.Step == ev.Steps:
		fmt.Fprintf(p.w, "\r\033[K")
	case !p.tty && ev.Done && ev.Scenario != "":
		out := ev.Outcome
		if ev.Err != nil {
			out = "could not run: " + oneLine(ev.Err.Error())
		}
		fmt.Fprintf(p.w, "[%d/%d] %s %s: %s (%s)\n", ev.Step, ev.Steps, ev.Scheme, ev.Scenario, out, time.Duration(ev.Elapsed).Truncate(time.Millisecond))
	case !p.tty && ev.Done && ev.Err != nil:
		fmt.Fprintf(p.w, "%s: could not run: %s\n", ev.Scheme, oneLine(ev.Err.Error()))
	}
}
