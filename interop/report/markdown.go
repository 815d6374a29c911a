package report

import (
	"fmt"
	"io"
	"strings"
)

// WriteMarkdown writes the report as Markdown: the matrix, then per scheme
// every property with its deciding scenario, evidence, claim, published
// expectations and notes, the attacks, costs and metadata. Evidence links
// are relative to the directory the evidence was written to.
func (r *Report) WriteMarkdown(w io.Writer) error {
	b := &strings.Builder{}
	fmt.Fprintf(b, "# xmppe2e compare\n\nSeed %d, network: %s, %s, took %s.\n\n", r.Seed, r.Network, r.Started.Format("2006-01-02 15:04 UTC"), r.Duration)
	fmt.Fprintf(b, "| property |")
	for _, s := range r.Schemes {
		fmt.Fprintf(b, " %s |", s.Name)
	}
	fmt.Fprintf(b, "\n|---|%s\n", strings.Repeat("---|", len(r.Schemes)))
	if len(r.Schemes) > 0 {
		for _, p := range r.Schemes[0].Properties {
			fmt.Fprintf(b, "| %s |", p.Name)
			for _, s := range r.Schemes {
				q := s.Property(p.Name)
				if q == nil {
					b.WriteString(" – |")
					continue
				}
				n := ""
				if len(q.Notes) > 0 {
					n = " **!**"
				}
				fmt.Fprintf(b, " %s %s%s |", Symbol(q.Result), q.Result, n)
			}
			b.WriteString("\n")
		}
	}
	b.WriteString("\n✔ holds, ◐ partial, ✘ fails, – not applicable; **!** the measurement contradicts the scheme's claim or a published comparison.\n")
	for _, s := range r.Schemes {
		fmt.Fprintf(b, "\n## %s (%s)\n\n", s.Name, s.Spec)
		for _, e := range s.Errors {
			fmt.Fprintf(b, "- could not run %s\n", mdEscape(e))
		}
		b.WriteString("\n| property | result | scenario | claim | published | what was seen |\n|---|---|---|---|---|---|\n")
		for _, p := range s.Properties {
			var pub []string
			for _, x := range p.Published {
				pub = append(pub, fmt.Sprintf("%s: %s", x.Source, x.Level))
			}
			scen := p.Scenario
			if p.Evidence != "" {
				scen = fmt.Sprintf("[%s](%s)", p.Scenario, p.Evidence)
			}
			detail := mdEscape(p.Detail)
			for _, n := range p.Notes {
				detail += " **!** " + mdEscape(n)
			}
			fmt.Fprintf(b, "| %s | %s %s | %s | %s | %s | %s |\n", p.Name, Symbol(p.Result), p.Result, scen,
				orDash(p.Claim), orDash(strings.Join(pub, ", ")), detail)
		}
		b.WriteString("\n| attack | outcome | detail |\n|---|---|---|\n")
		for _, a := range s.Attacks {
			fmt.Fprintf(b, "| [%s](%s) | %s | %s |\n", a.Name, a.Evidence, a.Outcome, mdEscape(a.Detail))
		}
		c := s.Costs
		fmt.Fprintf(b, "\nCosts: handshake %d round trip(s), %d extra stanza(s), %s; encrypt %s, receive %s per message; latency over three hops %s (unprotected %s), median of %d.\n\n",
			c.HandshakeRoundTrips, c.HandshakeStanzas, c.HandshakeTime, c.EncryptTime, c.ReceiveTime, c.Latency, c.LatencyPlain, c.Samples)
		b.WriteString("| body | unprotected stanza | on the wire | stanzas | overhead |\n|---|---|---|---|---|\n")
		for _, o := range c.Overhead {
			fmt.Fprintf(b, "| %d B | %d B | %d B | %d | %+d B |\n", o.BodyBytes, o.PlainBytes, o.WireBytes, o.Stanzas, o.OverheadBytes)
		}
		m := s.Metadata
		var el, at []string
		for _, e := range m.Elements {
			el = append(el, fmt.Sprintf("`%s` ×%d", e.Name, e.Count))
		}
		for _, a := range m.Attributes {
			at = append(at, fmt.Sprintf("`%s` ×%d", a.Name, a.Count))
		}
		fmt.Fprintf(b, "\nMetadata ([wiretap](%s)): elements in the clear: %s. Attributes: %s. Key IDs and identities: %s. Content readable: %s. Timestamps: %s. Stanza sizes %d–%d B (mean %d); size reveals the body length: %v; %d stanza(s) per message.\n",
			m.Evidence, orDash(strings.Join(el, ", ")), orDash(strings.Join(at, ", ")), orDash(strings.Join(m.KeyIDs, "; ")),
			orDash(strings.Join(m.Leaks, ", ")), orDash(strings.Join(m.Timestamps, "; ")), m.MinBytes, m.MaxBytes, m.MeanBytes, m.SizeReveals, m.StanzasPerMessage)
	}
	b.WriteString("\n## Scenarios\n\n")
	for _, sc := range r.Scenarios {
		mal := ""
		if sc.Malicious {
			mal = " (malicious server)"
		}
		fmt.Fprintf(b, "- **%s**%s: %s\n", sc.Name, mal, sc.Description)
	}
	b.WriteString("\n## Sources\n\n")
	for _, src := range r.Sources {
		fmt.Fprintf(b, "- **%s**: %s. <%s>\n", src.Key, src.Citation, src.URL)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func orDash(s string) string {
	if s == "" {
		return "–"
	}
	return s
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", "\\|", "\n", " ").Replace(s)
}
