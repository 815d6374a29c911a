package interop_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/toy"
	"github.com/xmppe2e/xmppe2e/interop"
	"github.com/xmppe2e/xmppe2e/interop/report"
	itoy "github.com/xmppe2e/xmppe2e/interop/toy"
)

// expected pins the outcome of every attack and every property for the test
// schemes: a change in the harness (or a scheme) that changes a mark fails
// here instead of silently changing the report. "rejected*" matches any
// outcome with that prefix.
var expected = map[string]map[string]string{
	"plain": {
		"replay": "accepted", "reorder": "both-opened", "drop": "next-opens", "tamper": "changed-content-opened",
		"truncate": "no-payload", "sign": "unsupported", "readdress": "encrypted-opened-by-mercutio",
		"downgrade": "plaintext-leaked", "forgery": "opened-unsigned", "key-compromise": "recorded-traffic-opened",
		"post-compromise": "no-recovery",

		"confidentiality": "fails", "integrity": "fails", "authentication": "fails", "forward-secrecy": "fails",
		"backward-secrecy": "fails", "replay-protection": "fails", "message-repudiation": "holds",
		"participation-repudiation": "holds", "whole-stanza": "fails", "metadata-protection": "fails",
		"async-delivery": "holds", "multi-device": "holds", "out-of-order": "holds", "drop-resilience": "holds",
		"pki-independence": "holds", "sign-only": "n/a",
	},
	// The sound toy: AEAD over the whole stanza, Ed25519 signatures, a replay
	// cache; no forward secrecy, not encrypted to the sender's own devices.
	"toy": {
		"replay": "rejected:replay", "reorder": "both-opened", "drop": "next-opens", "tamper": "rejected",
		"truncate": "rejected", "sign": "detected", "readdress": "refused", "downgrade": "resisted",
		"forgery": "refused*", "key-compromise": "recorded-traffic-opened", "post-compromise": "no-recovery",

		"confidentiality": "holds", "integrity": "holds", "authentication": "holds", "forward-secrecy": "fails",
		"backward-secrecy": "fails", "replay-protection": "holds", "message-repudiation": "fails",
		"participation-repudiation": "fails", "whole-stanza": "holds", "metadata-protection": "holds",
		"async-delivery": "holds", "multi-device": "partial", "out-of-order": "holds", "drop-resilience": "holds",
		"pki-independence": "holds", "sign-only": "holds",
	},
	// The weak toy: only the body encrypted, unsigned, no replay cache.
	"toy-bare": {
		"replay": "accepted", "reorder": "both-opened", "drop": "next-opens", "tamper": "rejected",
		"truncate": "rejected", "sign": "unsupported", "readdress": "refused", "downgrade": "resisted",
		"forgery": "opened-unsigned", "key-compromise": "recorded-traffic-opened", "post-compromise": "no-recovery",

		"confidentiality": "holds", "integrity": "holds", "authentication": "fails", "forward-secrecy": "fails",
		"backward-secrecy": "fails", "replay-protection": "fails", "message-repudiation": "holds",
		"participation-repudiation": "holds", "whole-stanza": "fails", "metadata-protection": "fails",
		"async-delivery": "holds", "multi-device": "partial", "out-of-order": "holds", "drop-resilience": "holds",
		"pki-independence": "holds", "sign-only": "n/a",
	},
	// A broken toy that accepts replays while claiming protection: the
	// report must catch the lie.
	"toy-replays": {
		"replay": "accepted", "replay-protection": "fails",
	},
}

// replaysToy is the internal toy with its replay cache switched off, under
// its own name.
type replaysToy struct{ toy.Scheme }

func (replaysToy) Name() string { return "toy-replays" }

func testSchemes() []e2e.Scheme {
	return []e2e.Scheme{itoy.Plain, &toy.Scheme{}, itoy.Bare, &replaysToy{toy.Scheme{AcceptReplays: true}}}
}

func checkExpected(t *testing.T, rep *report.Report, table map[string]map[string]string) {
	t.Helper()
	for _, s := range rep.Schemes {
		for _, d := range s.Check(table[s.Name]) {
			t.Error(d)
		}
	}
}

func TestPinnedOutcomesMemory(t *testing.T) {
	rep, err := interop.Run(context.Background(), interop.Options{Schemes: testSchemes(), Seed: 1, OutDir: t.TempDir(), Samples: 2})
	if err != nil {
		t.Fatal(err)
	}
	checkExpected(t, rep, expected)
	// The claims of the broken toy are contradicted, and the report says so.
	for _, s := range rep.Schemes {
		if s.Name != "toy-replays" {
			continue
		}
		p := s.Property(string(e2e.ReplayProtection))
		if len(p.Notes) == 0 || !strings.Contains(p.Notes[0], "claims holds") {
			t.Errorf("no note on the broken replay claim: %q", p.Notes)
		}
	}
}

func TestPinnedOutcomesBuiltinNetwork(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the built-in servers")
	}
	rep, err := interop.Run(context.Background(), interop.Options{
		Schemes: []e2e.Scheme{itoy.Plain, &toy.Scheme{}}, Seed: 2, OutDir: t.TempDir(), Samples: 2,
		NewNetwork: func(ctx context.Context) (interop.Network, error) { return interop.StartBuiltinNetwork(ctx) },
	})
	if err != nil {
		t.Fatal(err)
	}
	checkExpected(t, rep, expected)
	for _, s := range rep.Schemes {
		if s.Costs.Latency <= 0 || len(s.Costs.Overhead) != 3 {
			t.Errorf("%s: costs not measured: %+v", s.Name, s.Costs)
		}
	}
}

func TestSameSeedSameMarks(t *testing.T) {
	run := func() string {
		rep, err := interop.Run(context.Background(), interop.Options{Schemes: testSchemes()[1:3], Seed: 42, Samples: 1})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, s := range rep.Schemes {
			m := s.Marks()
			var keys []string
			for k := range m {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(&b, "%s %s %s\n", s.Name, k, m[k])
			}
			for _, a := range s.Attacks {
				fmt.Fprintf(&b, "%s %s %s\n", s.Name, a.Name, a.Detail)
			}
		}
		return b.String()
	}
	if a, b := run(), run(); a != b {
		t.Errorf("two runs with seed 42 differ:\n%s\n---\n%s", a, b)
	}
}

func TestEveryPropertyDecided(t *testing.T) {
	rep, err := interop.Run(context.Background(), interop.Options{Schemes: []e2e.Scheme{&toy.Scheme{}}, Seed: 3, Samples: 1, OutDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	s := rep.Schemes[0]
	if len(s.Properties) != len(e2e.AllProperties) {
		t.Fatalf("%d properties, want %d", len(s.Properties), len(e2e.AllProperties))
	}
	for i, p := range s.Properties {
		if p.Name != string(e2e.AllProperties[i]) {
			t.Errorf("property %d is %s, want %s", i, p.Name, e2e.AllProperties[i])
		}
		if _, err := e2e.ParseLevel(p.Result); err != nil {
			t.Errorf("%s: %v", p.Name, err)
		}
		if p.Scenario == "" || p.Evidence == "" || p.Test == "" || p.Detail == "" {
			t.Errorf("%s: missing scenario, evidence, test or detail: %+v", p.Name, p)
		}
	}
}
