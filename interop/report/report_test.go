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
