package report

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
)

// Symbol returns the one-character mark of a result: ✔ holds, ◐ partial,
// ✘ fails, – not applicable.
func Symbol(result string) string {
	switch result {
	case "holds":
		return "✔"
	case "partial":
		return "◐"
	case "fails":
		return "✘"
	}
	return "–"
}

// WriteText writes the report as terminal tables: the property matrix
// (with ! where the measurement contradicts the claim or a published
// comparison), the attacks, the costs and the metadata.
func (r *Report) WriteText(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 2, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "property")
	for _, s := range r.Schemes {
		fmt.Fprintf(tw, "\t%s", s.Name)
	}
	fmt.Fprintln(tw)
	if len(r.Schemes) > 0 {
		for _, p := range r.Schemes[0].Properties {
			fmt.Fprintf(tw, "%s", p.Name)
			for _, s := range r.Schemes {
				q := s.Property(p.Name)
				if q == nil {
					fmt.Fprintf(tw, "\t-")
					continue
				}
				mark := Symbol(q.Result) + " " + q.Result
				if len(q.Notes) > 0 {
					mark += " !"
				}
				fmt.Fprintf(tw, "\t%s", mark)
			}
			fmt.Fprintln(tw)
		}
	}
	fmt.Fprintln(tw)
	fmt.Fprintf(tw, "attack")
	for _, s := range r.Schemes {
		fmt.Fprintf(tw, "\t%s", s.Name)
	}
	fmt.Fprintln(tw)
	for _, name := range attackNames(r) {
		fmt.Fprintf(tw, "%s", name)
		for _, s := range r.Schemes {
			out := "-"
			if a := s.Attack(name); a != nil {
				out = a.Outcome
			}
			fmt.Fprintf(tw, "\t%s", out)
		}
		fmt.Fprintln(tw)
	}
	fmt.Fprintln(tw)
	sizes := r.BodySizes()
	fmt.Fprint(tw, "costs\thandshake")
	for i, sz := range sizes {
		if i == 0 {
			sz = "overhead " + sz
		}
		fmt.Fprintf(tw, "\t%s", sz)
	}
	fmt.Fprintln(tw, "\tencrypt\treceive\tlatency (plain)")
	for _, s := range r.Schemes {
		c := s.Costs
		fmt.Fprintf(tw, "%s\t%d RT, %d st, %s", s.Name, c.HandshakeRoundTrips, c.HandshakeStanzas, c.HandshakeTime)
		for i := range sizes {
			if i < len(c.Overhead) {
				fmt.Fprintf(tw, "\t%+d B", c.Overhead[i].OverheadBytes)
			} else {
				fmt.Fprintf(tw, "\t-")
			}
		}
		fmt.Fprintf(tw, "\t%s\t%s\t%s (%s)\n", c.EncryptTime, c.ReceiveTime, c.Latency, c.LatencyPlain)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	// The metadata lists are long: one block per scheme, not a table whose
	// widest cell would pad every row.
	fmt.Fprintln(w, "\nmetadata (what the malicious server read in the clear)")
	for _, s := range r.Schemes {
		m := s.Metadata
		var el []string
		for _, e := range m.Elements {
			el = append(el, e.Name)
		}
		fmt.Fprintf(w, "%s\n  in the clear: %s\n  key IDs: %s\n  leaks: %s\n  sizes: %d–%d B\n", s.Name, orNone(strings.Join(el, ", ")),
			orNone(strings.Join(m.KeyIDs, "; ")), orNone(strings.Join(m.Leaks, ", ")), m.MinBytes, m.MaxBytes)
	}
	for _, s := range r.Schemes {
		for _, e := range s.Errors {
			fmt.Fprintf(w, "%s: could not run %s\n", s.Name, e)
		}
	}
	fmt.Fprintf(w, "\n✔ holds  ◐ partial  ✘ fails  – n/a   ! contradicts the claim or a published comparison (see the JSON or Markdown report)\n")
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// attackNames lists the attacks of every scheme in first-seen order.
func attackNames(r *Report) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range r.Schemes {
		for _, a := range s.Attacks {
			if !seen[a.Name] {
				seen[a.Name] = true
				out = append(out, a.Name)
			}
		}
	}
	return out
}
