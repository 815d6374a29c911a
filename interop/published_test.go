package interop

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/report"
)

// tableIIColumns are the columns of SoK 2015 Table II (p. 239) up to the
// group chat ones, in the paper's order and spelling.
var tableIIColumns = []string{
	"Confidentiality", "Integrity", "Authentication", "Participant Consistency",
	"Destination Validation", "Forward Secrecy", "Backward Secrecy", "Anonymity Preserving",
	"Speaker Consistency", "Causality Preserving", "Global Transcript", "Message Unlinkability",
	"Message Repudiation", "Particip. Repudiation",
	"Out-of-Order Resilient", "Dropped Message Resilient", "Asynchronicity", "Multi-Device Support",
	"No Additional Service",
}

// tableIIRows are the cells of the rows we use, read off the page as
// printed (spaces only group them as the table does).
var tableIIRows = map[string]string{
	"Static Asymmetric Crypto": "●●● --- -●- --- --  ●●● ●●",
	"+DH Ratchet":              "●●● ●●◐ ●●◐ ◐-● ●◐  ◐◐- -●",
}

// tableIIProperty maps the columns that name one of our properties.
var tableIIProperty = map[string]e2e.Property{
	"Confidentiality":           e2e.Confidentiality,
	"Integrity":                 e2e.Integrity,
	"Authentication":            e2e.Authentication,
	"Forward Secrecy":           e2e.ForwardSecrecy,
	"Backward Secrecy":          e2e.BackwardSecrecy,
	"Message Repudiation":       e2e.MessageRepudiation,
	"Particip. Repudiation":     e2e.ParticipationRepudiation,
	"Out-of-Order Resilient":    e2e.OutOfOrder,
	"Dropped Message Resilient": e2e.DropResilience,
	"Asynchronicity":            e2e.AsyncDelivery,
	"Multi-Device Support":      e2e.MultiDevice,
}

// cells decodes a row of tableIIRows into one Level per column.
func cells(t *testing.T, row string) map[string]e2e.Level {
	t.Helper()
	var levels []e2e.Level
	for _, r := range row {
		switch r {
		case '●':
			levels = append(levels, e2e.Holds)
		case '◐':
			levels = append(levels, e2e.Partial)
		case '-':
			levels = append(levels, e2e.Fails)
		case ' ':
		default:
			t.Fatalf("row %q: unknown cell %q", row, r)
		}
	}
	if len(levels) != len(tableIIColumns) {
		t.Fatalf("row %q has %d cells, the table %d columns", row, len(levels), len(tableIIColumns))
	}
	out := map[string]e2e.Level{}
	for i, c := range tableIIColumns {
		out[c] = levels[i]
	}
	return out
}

// TestPublishedSoKMatchesTableII holds every SoK entry to the transcribed
// cell, and wants an entry for every mapped column of every row we use.
func TestPublishedSoKMatchesTableII(t *testing.T) {
	seen := map[string]bool{}
	for p, xs := range publishedLevels {
		for _, x := range xs {
			if x.source != "SoK2015" {
				continue
			}
			row, ok := tableIIRows[x.family]
			if !ok {
				t.Errorf("%s: row %q is not one of Table II's rows we transcribed", p, x.family)
				continue
			}
			prefix := "Table II, " + x.family + " (" + sokExamples[x.family] + "), column "
			column, ok := strings.CutPrefix(x.where, prefix)
			if !ok || !slices.Contains(tableIIColumns, column) {
				t.Errorf("%s: where %q does not name a Table II column of row %q", p, x.where, x.family)
				continue
			}
			if tableIIProperty[column] != p {
				t.Errorf("column %q is filed under %s, want %s", column, p, tableIIProperty[column])
			}
			if want := cells(t, row)[column]; x.level != want {
				t.Errorf("%s, %s: encoded %s, the table says %s", x.family, column, x.level, want)
			}
			key := x.family + "|" + column
			if seen[key] {
				t.Errorf("%s, %s: encoded twice", x.family, column)
			}
			seen[key] = true
		}
	}
	for row := range tableIIRows {
		for column := range tableIIProperty {
			if !seen[row+"|"+column] {
				t.Errorf("%s, %s: mapped column not encoded", row, column)
			}
		}
	}
	for scheme, row := range sokRows {
		if _, ok := tableIIRows[row]; !ok {
			t.Errorf("scheme %s maps to row %q, which is not transcribed", scheme, row)
		}
	}
}

// xep0210Sections are the requirement sections of XEP-0210 version 0.2.
var xep0210Sections = map[string]string{
	"§3.1":  "Confidentiality",
	"§3.2":  "Integrity",
	"§3.3":  "Replay Protection",
	"§3.4":  "Perfect Forward Secrecy",
	"§3.5":  "PKI Independence",
	"§3.6":  "Authentication",
	"§3.7":  "Identity Protection",
	"§3.8":  "Repudiability",
	"§3.9":  "Robustness",
	"§3.10": "Upgradability",
	"§4.1":  "Generality",
	"§4.2":  "Implementability",
	"§4.3":  "Usability",
	"§4.4":  "Efficiency",
	"§4.5":  "Flexibility",
	"§4.6":  "Offline Sessions",
	"§4.7":  "Interoperability",
	"§4.8":  "Object Encryption",
}

func TestPublishedXEP0210Sections(t *testing.T) {
	re := regexp.MustCompile(`^(§\d+\.\d+) (.+) \((MUST|SHOULD)\)$`)
	used := map[string]e2e.Property{}
	for p, xs := range publishedLevels {
		for _, x := range xs {
			if x.source != "XEP-0210" {
				continue
			}
			m := re.FindStringSubmatch(x.where)
			if m == nil || xep0210Sections[m[1]] != m[2] {
				t.Errorf("%s: %q is not an XEP-0210 requirement section", p, x.where)
				continue
			}
			if x.family != "requirement" || x.level != e2e.Holds {
				t.Errorf("%s: %q encoded as %s/%s, want requirement/holds", p, x.where, x.family, x.level)
			}
			if q, dup := used[m[1]]; dup {
				t.Errorf("%s is encoded for both %s and %s", m[1], q, p)
			}
			used[m[1]] = p
		}
	}
}

func TestPublishedSourcesAndProperties(t *testing.T) {
	keys := map[string]report.Source{}
	for _, s := range Sources {
		keys[s.Key] = s
	}
	for p, xs := range publishedLevels {
		if !p.Valid() {
			t.Errorf("unknown property %q", p)
		}
		for _, x := range xs {
			if _, ok := keys[x.source]; !ok {
				t.Errorf("%s: source %q is not in Sources", p, x.source)
			}
			if x.level != e2e.Holds && x.level != e2e.Partial && x.level != e2e.Fails {
				t.Errorf("%s: %q has level %q", p, x.where, x.level)
			}
		}
	}
}

func TestPublishedExpectations(t *testing.T) {
	levels := func(scheme string, p e2e.Property) string {
		var out []string
		for _, x := range expectations(scheme, p) {
			out = append(out, x.source+"="+string(x.level))
		}
		return strings.Join(out, ",")
	}
	for _, c := range []struct {
		scheme string
		p      e2e.Property
		want   string
	}{
		{"openpgp", e2e.ForwardSecrecy, "SoK2015=fails,XEP-0210=holds"},
		{"smime", e2e.ForwardSecrecy, "SoK2015=fails,XEP-0210=holds"},
		{"otr", e2e.ForwardSecrecy, "SoK2015=partial,XEP-0210=holds"},
		{"otr", e2e.ParticipationRepudiation, "SoK2015=partial"},
		{"otr", e2e.DropResilience, "SoK2015=partial"},
		{"otr", e2e.AsyncDelivery, "SoK2015=fails,XEP-0210=holds"},
		{"openpgp", e2e.AsyncDelivery, "SoK2015=holds,XEP-0210=holds"},
		{"xtls", e2e.ForwardSecrecy, "XEP-0210=holds"},
		{"jose", e2e.BackwardSecrecy, ""},
		{"smime", e2e.PKIIndependence, "XEP-0210=holds"},
		{"otr", e2e.SignOnly, ""},
	} {
		if got := levels(c.scheme, c.p); got != c.want {
			t.Errorf("expectations(%s, %s) = %q, want %q", c.scheme, c.p, got, c.want)
		}
	}
}

// TestPublishedNotes checks that a measurement differing from a published
// level is noted, and a matching one is not.
func TestPublishedNotes(t *testing.T) {
	pub := func(scheme string, p e2e.Property) []report.Expectation {
		var out []report.Expectation
		for _, x := range expectations(scheme, p) {
			out = append(out, report.Expectation{Source: x.source, Level: string(x.level), Where: x.where})
		}
		return out
	}
	got := notes(report.Property{Result: "holds", Published: pub("otr", e2e.ForwardSecrecy)})
	if len(got) != 1 || !strings.Contains(got[0], "differs from SoK2015 (Table II, +DH Ratchet (OTR), column Forward Secrecy): measured holds, published partial") {
		t.Errorf("notes = %q", got)
	}
	if got := notes(report.Property{Result: "partial", Published: pub("otr", e2e.DropResilience)}); len(got) != 0 {
		t.Errorf("matching measurement noted: %q", got)
	}
	got = notes(report.Property{Result: "fails", Published: pub("smime", e2e.PKIIndependence)})
	if len(got) != 1 || !strings.Contains(got[0], "does not meet the requirement of XEP-0210 (§3.5 PKI Independence (MUST)): measured fails") {
		t.Errorf("notes = %q", got)
	}
}
