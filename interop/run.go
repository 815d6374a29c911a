package interop

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/report"
	"mellium.im/xmpp/jid"
)

// Options configure a run of the harness.
type Options struct {
	// Schemes are the schemes to measure, in report order.
	Schemes []e2e.Scheme

	// Seed makes the run reproducible: identities, session randomness,
	// secrets and attack samples derive from it, so the same seed gives the
	// same marks.
	Seed int64

	// OutDir receives the evidence (one transcript per scheme and
	// scenario). Empty writes no files.
	OutDir string

	// NewNetwork returns a fresh network for each scenario. Nil uses
	// NewMemNetwork with capulet.lit as the malicious server.
	NewNetwork func(ctx context.Context) (Network, error)

	// NetworkName describes the network in the report.
	NetworkName string

	// External restricts the run to the scenarios that need no malicious
	// server (for a deployment the harness does not control).
	External bool

	// Samples is the number of messages the time medians are over; 0 means
	// 20.
	Samples int

	// Only runs just the named scenarios (all when empty).
	Only []string

	// Sign sets e2e.Config.Sign in every session: encrypted stanzas are
	// also signed where the scheme can.
	Sign bool

	// Addresses are the parties' full JIDs; zero means DefaultAddresses.
	Addresses Addresses

	// Progress, when set, is told about every step.
	Progress func(Event)
}

// An Event reports progress.
type Event struct {
	Scheme   string
	Scenario string // "" for the scheme's start (identities) and end
	Done     bool
	Outcome  string
	Err      error
	Elapsed  time.Duration
	// Step and Steps count the scenarios of the whole run.
	Step, Steps int
}

// Scenarios describes every scenario.
func Scenarios() []report.ScenarioInfo {
	var out []report.ScenarioInfo
	for _, s := range scenarios {
		out = append(out, report.ScenarioInfo{Name: s.name, Description: s.desc, Malicious: s.malicious})
	}
	return out
}

// Run measures every scheme in opt and returns the report. A scenario that
// cannot run is recorded in the scheme's Errors; Run fails only when the
// context ends or the output directory cannot be written.
func Run(ctx context.Context, opt Options) (*report.Report, error) {
	if opt.Samples == 0 {
		opt.Samples = 20
	}
	if opt.Addresses.Juliet.Equal(jid.JID{}) {
		opt.Addresses = DefaultAddresses()
	}
	if opt.NewNetwork == nil {
		opt.NewNetwork = func(context.Context) (Network, error) { return NewMemNetwork(JulietJID.Domainpart()), nil }
		if opt.NetworkName == "" {
			opt.NetworkName = "in-memory (MemNetwork)"
		}
	}
	if opt.OutDir != "" {
		if err := os.MkdirAll(opt.OutDir, 0o755); err != nil {
			return nil, err
		}
	}
	rep := &report.Report{Tool: "xmppe2e compare", Seed: opt.Seed, Network: opt.NetworkName,
		Started: time.Now().UTC(), Scenarios: Scenarios(), Sources: Sources}
	var run []scenario
	for _, s := range scenarios {
		if opt.External && s.malicious {
			continue
		}
		if len(opt.Only) > 0 && !contains(opt.Only, s.name) {
			continue
		}
		run = append(run, s)
	}
	steps, step := len(run)*len(opt.Schemes), 0
	t0 := time.Now()
	for _, s := range opt.Schemes {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		sr, err := runScheme(ctx, s, run, opt, &step, steps)
		if err != nil {
			return nil, err
		}
		rep.Schemes = append(rep.Schemes, sr)
	}
	rep.Duration = report.Duration(time.Since(t0))
	return rep, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

type done struct {
	sc  scenario
	res *result
	ev  string
}

func runScheme(ctx context.Context, s e2e.Scheme, run []scenario, opt Options, step *int, steps int) (*report.Scheme, error) {
	sr := &report.Scheme{Name: s.Name(), Spec: s.Spec()}
	progress := func(ev Event) {
		if opt.Progress != nil {
			ev.Scheme, ev.Steps = s.Name(), steps
			opt.Progress(ev)
		}
	}
	progress(Event{Step: *step})
	ids, err := makeIdentities(ctx, s, opt.Seed, opt.Addresses)
	if err != nil {
		sr.Errors = append(sr.Errors, "identities: "+err.Error())
		*step += len(run)
		progress(Event{Done: true, Err: err, Step: *step})
		finish(sr, s, nil, opt)
		return sr, nil
	}
	start := time.Now().UTC().Truncate(time.Second)
	var results []done
	for _, sc := range run {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		progress(Event{Scenario: sc.name, Step: *step})
		t0 := time.Now()
		res, ev, err := runOne(ctx, s, ids, sc, opt, start)
		*step++
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			sr.Errors = append(sr.Errors, sc.name+": "+err.Error())
			progress(Event{Scenario: sc.name, Done: true, Err: err, Elapsed: time.Since(t0), Step: *step})
			continue
		}
		results = append(results, done{sc, res, ev})
		progress(Event{Scenario: sc.name, Done: true, Outcome: firstNonEmpty(res.attack, res.detail), Elapsed: time.Since(t0), Step: *step})
	}
	finish(sr, s, &decideInput{ids: ids, results: results}, opt)
	return sr, nil
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// runOne runs one scenario on a fresh network and writes its transcript.
func runOne(ctx context.Context, s e2e.Scheme, ids *identities, sc scenario, opt Options, start time.Time) (res *result, ev string, err error) {
	net, err := opt.NewNetwork(ctx)
	if err != nil {
		return nil, "", fmt.Errorf("network: %w", err)
	}
	defer net.Close()
	e := newEnv(ctx, s, ids, net, opt.Seed, start, sc.name)
	e.samples, e.sign = opt.Samples, opt.Sign
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic in scenario: %v", p)
			e.tr.logf("PANIC: %v", p)
		}
		outcome := "error: "
		if err != nil {
			outcome += err.Error()
		} else {
			outcome = firstNonEmpty(res.attack, "") + " " + res.detail
		}
		var werr error
		ev, werr = e.tr.write(opt.OutDir, strings.TrimSpace(outcome), net.Wiretap())
		if werr != nil && err == nil {
			err = werr
		}
		for _, p := range e.parties {
			if p.online {
				p.dev.Close(ctx)
			}
		}
	}()
	res, err = sc.run(e)
	return res, ev, err
}

func makeIdentities(ctx context.Context, s e2e.Scheme, seed int64, a Addresses) (*identities, error) {
	ids := &identities{a: a}
	for _, who := range []struct {
		p    *e2e.Identity
		addr jid.JID
	}{{&ids.juliet, a.Juliet.Bare()}, {&ids.romeo, a.Romeo.Bare()}, {&ids.mercutio, a.Mercutio.Bare()}} {
		id, err := s.GenerateIdentity(ctx, who.addr, seededReader(seed, s.Name(), "identity", who.addr.String()))
		if err != nil {
			return nil, fmt.Errorf("GenerateIdentity(%s): %w", who.addr, err)
		}
		*who.p = id
	}
	return ids, nil
}
