package report_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/interop/report"
)

func sample() *report.Report {
	return &report.Report{Seed: 7, Network: "test", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		Duration: report.Duration(1500 * time.Millisecond),
		Schemes: []*report.Scheme{{
			Name: "demo", Spec: "XEP-0000",
			Properties: []report.Property{
				{Name: "confidentiality", Result: "holds", Scenario: "exchange", Evidence: "demo/exchange.txt", Detail: "no secret on the wire <&>"},
				{Name: "replay-protection", Result: "fails", Scenario: "replay", Evidence: "demo/replay.txt", Claim: "holds",
					Notes: []string{"contradicts the claim: measured fails, the scheme claims holds"}},
			},
			Attacks: []report.Attack{{Name: "replay", Outcome: "accepted", Evidence: "demo/replay.txt"}},
			Costs: report.Costs{Overhead: []report.Overhead{{BodyBytes: 16, PlainBytes: 100, WireBytes: 400, Stanzas: 1, OverheadBytes: 300},
				{BodyBytes: 1024, WireBytes: 2000, OverheadBytes: 900}, {BodyBytes: 16384, WireBytes: 30000, OverheadBytes: 13000}},
				Latency: report.Duration(800 * time.Microsecond), LatencyPlain: report.Duration(200 * time.Microsecond)},
			Metadata: report.Metadata{Elements: []report.Count{{Name: "body", Count: 2}}, KeyIDs: []string{"juliet key ID"}},
		}},
	}
}

func TestJSONShape(t *testing.T) {
	var b bytes.Buffer
	if err := sample().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var top struct {
		Schemes []struct {
			Name       string `json:"name"`
			Properties []struct {
				Name, Result, Scenario, Evidence string
			} `json:"properties"`
			Costs    map[string]any `json:"costs"`
			Metadata map[string]any `json:"metadata"`
		} `json:"schemes"`
	}
	if err := json.Unmarshal(b.Bytes(), &top); err != nil {
		t.Fatal(err)
	}
	s := top.Schemes[0]
	if s.Name != "demo" || s.Properties[1].Result != "fails" || s.Properties[1].Evidence != "demo/replay.txt" ||
		s.Costs["latency"] != 0.0008 || s.Metadata["key_ids"] == nil {
		t.Errorf("unexpected JSON: %s", b.String())
	}
	back, err := report.ReadJSON(&b)
	if err != nil || back.Schemes[0].Costs.Latency != report.Duration(800*time.Microsecond) {
		t.Errorf("round trip: %v %+v", err, back)
	}
}

func TestRenderings(t *testing.T) {
	r := sample()
	var md, txt bytes.Buffer
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| confidentiality | ✔ holds |", "[replay](demo/replay.txt)", "**!** contradicts the claim"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("Markdown lacks %q:\n%s", want, md.String())
		}
	}
	if err := r.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "✘ fails !") {
		t.Errorf("text lacks the contradiction mark:\n%s", txt.String())
	}
	dir := t.TempDir()
	if err := r.WriteHTMLDir(dir); err != nil {
		t.Fatal(err)
	}
	page, _ := os.ReadFile(filepath.Join(dir, report.HTMLFile))
	for _, want := range []string{`aria-label="property matrix"`, `aria-label="wire overhead"`, `aria-label="latency"`,
		`href="demo/replay.txt"`, "no secret on the wire &lt;&amp;&gt;", "+13000 B"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(string(page), "<script") {
		t.Error("the page has a script")
	}
}

// The overhead is labelled with the body sizes measured, not the nominal
// ones: the harness's smallest body is its 28-byte marker.
func TestBodySizeLabels(t *testing.T) {
	r := sample()
	r.Schemes[0].Costs.Overhead[0].BodyBytes = 28
	if got := strings.Join(r.BodySizes(), ","); got != "28 B,1 KiB,16 KiB" {
		t.Errorf("BodySizes = %s", got)
	}
	other := *r.Schemes[0]
	other.Name = "other"
	other.Costs.Overhead = append([]report.Overhead(nil), other.Costs.Overhead...)
	other.Costs.Overhead[0].BodyBytes = 29
	r.Schemes = append(r.Schemes, &other)
	if got := r.BodySizes()[0]; got != "28 B–29 B" {
		t.Errorf("BodySizes()[0] with two sizes = %s", got)
	}
	r.Schemes = r.Schemes[:1]
	var txt, page bytes.Buffer
	if err := r.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "overhead 28 B") || strings.Contains(txt.String(), "16 B") {
		t.Errorf("text costs header does not name the 28-byte body:\n%s", txt.String())
	}
	if !strings.Contains(page.String(), ">28 B body<") || strings.Contains(page.String(), "16 B body") {
		t.Errorf("HTML overhead legend does not name the 28-byte body")
	}
}

// The long metadata lists do not widen the tables above them.
func TestTextMetadataKeepsTablesNarrow(t *testing.T) {
	r := sample()
	r.Schemes[0].Metadata.KeyIDs = []string{strings.Repeat("an identifier recurring in every payload ", 8)}
	var txt bytes.Buffer
	if err := r.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(txt.String(), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "property") || strings.HasPrefix(l, "costs") || strings.HasPrefix(l, "attack") {
			if n := len([]rune(strings.TrimRight(l, " "))); n > 100 {
				t.Errorf("table line of %d characters: %q", n, l)
			}
		}
	}
	if !strings.Contains(txt.String(), "\ndemo\n  in the clear: body\n  key IDs: an identifier") {
		t.Errorf("metadata block missing:\n%s", txt.String())
	}
}

// The logarithmic overhead chart has an axis, and no coordinate is NaN or
// infinite whatever the values.
func TestOverheadAxis(t *testing.T) {
	r := sample()
	var page bytes.Buffer
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{">10 B</text>", ">100 B</text>", ">1000 B</text>", ">10000 B</text>"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("overhead chart lacks the axis label %q", want)
		}
	}
	if strings.Contains(page.String(), ">100000 B</text>") {
		t.Error("axis label beyond the largest value")
	}
	// Nothing measured: no NaN, no axis.
	r.Schemes[0].Costs = report.Costs{}
	page.Reset()
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"NaN", "Inf", ">10 B</text>"} {
		if strings.Contains(page.String(), bad) {
			t.Errorf("page with no costs has %q", bad)
		}
	}
}

// Schemes whose property lists differ (reports of different versions) are
// drawn without a panic: the missing cell is n/a.
func TestMissingProperty(t *testing.T) {
	r := sample()
	short := *r.Schemes[0]
	short.Name = "short"
	short.Properties = short.Properties[:1]
	r.Schemes = append(r.Schemes, &short)
	var txt, md, page bytes.Buffer
	if err := r.WriteText(&txt); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	if err := r.WriteHTML(&page); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(md.String(), "| replay-protection | ✘ fails **!** | – |") {
		t.Errorf("Markdown does not mark the missing cell:\n%s", md.String())
	}
	if !strings.Contains(page.String(), "not in this scheme&#39;s report") {
		t.Error("the missing cell is not marked")
	}
}
