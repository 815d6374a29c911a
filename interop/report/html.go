package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// HTMLFile is the name of the page WriteHTMLDir writes.
const HTMLFile = "index.html"

// WriteHTMLDir writes the report as one self-contained page (inline CSS and
// SVG charts, no scripts) to dir/index.html. Evidence links are relative,
// so the evidence belongs in dir too.
func (r *Report) WriteHTMLDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	return WriteFile(filepath.Join(dir, HTMLFile), r.WriteHTML)
}

var colors = map[string]string{"holds": "#2e7d32", "partial": "#f9a825", "fails": "#c62828", "n/a": "#9e9e9e"}

// WriteHTML writes the page.
func (r *Report) WriteHTML(w io.Writer) error {
	return page.Execute(w, struct {
		R                         *Report
		Matrix, Overhead, Latency template.HTML
	}{r, matrixSVG(r), overheadSVG(r), latencySVG(r)})
}

func esc(s string) string { return template.HTMLEscapeString(s) }

// matrixSVG draws the property matrix: one coloured cell per scheme and
// property, with the detail as tooltip and a ring where a note applies.
func matrixSVG(r *Report) template.HTML {
	if len(r.Schemes) == 0 {
		return ""
	}
	const left, top, cw, ch = 200, 60, 110, 26
	props := r.Schemes[0].Properties
	w, h := left+cw*len(r.Schemes)+10, top+ch*len(props)+10
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="property matrix">`, w, h, w, h)
	for i, s := range r.Schemes {
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" font-weight="bold">%s</text>`, left+cw*i+cw/2, top-12, esc(s.Name))
	}
	for j, p := range props {
		y := top + ch*j
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-8, y+ch/2+5, esc(p.Name))
		for i, s := range r.Schemes {
			q := s.Property(p.Name)
			if q == nil { // a report from another version: no such property
				q = &Property{Name: p.Name, Result: "n/a", Detail: "not in this scheme's report"}
			}
			x := left + cw*i
			tip := q.Result + " (" + q.Scenario + "): " + q.Detail
			for _, n := range q.Notes {
				tip += "\n! " + n
			}
			stroke := "#fff"
			if len(q.Notes) > 0 {
				stroke = "#000"
			}
			fmt.Fprintf(&b, `<g><title>%s</title><rect x="%d" y="%d" width="%d" height="%d" rx="3" fill="%s" stroke="%s" stroke-width="2"/>`,
				esc(tip), x+2, y+2, cw-4, ch-4, colors[q.Result], stroke)
			label := Symbol(q.Result) + " " + q.Result
			if len(q.Notes) > 0 {
				label += " !"
			}
			fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="middle" fill="#fff">%s</text></g>`, x+cw/2, y+ch/2+5, esc(label))
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// overheadSVG draws the wire overhead per body size on a logarithmic scale.
func overheadSVG(r *Report) template.HTML {
	if len(r.Schemes) == 0 {
		return ""
	}
	const left, top, bar, gap, width = 120, 30, 14, 12, 560
	sizes := r.BodySizes()
	shades := []string{"#90caf9", "#42a5f5", "#1565c0"}
	if len(sizes) > len(shades) {
		sizes = sizes[:len(shades)]
	}
	maxv := 1.0
	for _, s := range r.Schemes {
		for _, o := range s.Costs.Overhead {
			maxv = math.Max(maxv, float64(o.OverheadBytes))
		}
	}
	scale := func(v int) float64 {
		if v <= 0 {
			return 0
		}
		return width * math.Log10(1+float64(v)) / math.Log10(1+maxv)
	}
	group := 3*bar + gap
	bottom := top + group*len(r.Schemes)
	h := bottom + 56
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="wire overhead">`, left+width+120, h, left+width+120, h)
	for i, sz := range sizes {
		fmt.Fprintf(&b, `<rect x="%d" y="8" width="12" height="12" fill="%s"/><text x="%d" y="19">%s body</text>`, left+i*110, shades[i], left+i*110+16, sz)
	}
	// The logarithmic axis: a gridline and a label at every power of ten.
	for v := 10; float64(v) <= maxv; v *= 10 {
		x := float64(left) + scale(v)
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%d" x2="%.1f" y2="%d" stroke="#ddd"/><text x="%.1f" y="%d" text-anchor="middle" font-size="11">%d B</text>`,
			x, top-4, x, bottom, x, bottom+14, v)
	}
	for i, s := range r.Schemes {
		y := top + group*i
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-8, y+bar*3/2+5, esc(s.Name))
		for k, o := range s.Costs.Overhead {
			if k >= len(sizes) {
				break
			}
			wpx := scale(o.OverheadBytes)
			fmt.Fprintf(&b, `<g><title>%s, %d-byte body: %d bytes on the wire for %d unprotected (%+d B, %d stanza(s))</title><rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/><text x="%.1f" y="%d" font-size="11">%+d B</text></g>`,
				esc(s.Name), o.BodyBytes, o.WireBytes, o.PlainBytes, o.OverheadBytes, o.Stanzas, left, y+bar*k, wpx, bar-1, shades[k], float64(left)+wpx+4, y+bar*k+bar-3, o.OverheadBytes)
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11">overhead in bytes, logarithmic scale</text></svg>`, left, h-8)
	return template.HTML(b.String())
}

// latencySVG draws the median latency over the three hops, protected and
// unprotected, on a linear scale.
func latencySVG(r *Report) template.HTML {
	if len(r.Schemes) == 0 {
		return ""
	}
	const left, top, bar, gap, width = 120, 30, 14, 12, 560
	maxv := time.Microsecond
	for _, s := range r.Schemes {
		maxv = max(maxv, time.Duration(s.Costs.Latency), time.Duration(s.Costs.LatencyPlain))
	}
	scale := func(d Duration) float64 { return width * float64(d) / float64(maxv) }
	group := 2*bar + gap
	h := top + group*len(r.Schemes) + 40
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" role="img" aria-label="latency">`, left+width+120, h, left+width+120, h)
	fmt.Fprintf(&b, `<rect x="%d" y="8" width="12" height="12" fill="#6a1b9a"/><text x="%d" y="19">protected</text><rect x="%d" y="8" width="12" height="12" fill="#ce93d8"/><text x="%d" y="19">unprotected, same path</text>`, left, left+16, left+110, left+126)
	for i, s := range r.Schemes {
		y := top + group*i
		c := s.Costs
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`, left-8, y+bar+5, esc(s.Name))
		for k, d := range []Duration{c.Latency, c.LatencyPlain} {
			fill := []string{"#6a1b9a", "#ce93d8"}[k]
			fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%.1f" height="%d" fill="%s"/><text x="%.1f" y="%d" font-size="11">%s</text>`,
				left, y+bar*k, scale(d), bar-1, fill, float64(left)+scale(d)+4, y+bar*k+bar-3, d)
		}
	}
	fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="11">median time from Encrypt to opened, juliet → capulet.lit → montague.lit → romeo</text></svg>`, left, h-8)
	return template.HTML(b.String())
}

var page = template.Must(template.New("page").Funcs(template.FuncMap{"sym": Symbol}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>xmppe2e compare</title>
<style>
body{font-family:system-ui,sans-serif;margin:2em;max-width:1200px;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:14px}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}
th{background:#f0f0f0}
.holds{color:#2e7d32}.partial{color:#b28704}.fails{color:#c62828}
.note{color:#c62828;font-size:12px}
svg text{font-family:system-ui,sans-serif;font-size:13px}
</style></head><body>
<h1>xmppe2e compare</h1>
<p>Seed {{.R.Seed}} · network: {{.R.Network}} · {{.R.Started.Format "2006-01-02 15:04 UTC"}} · took {{.R.Duration}}</p>
<h2>Properties</h2>
{{.Matrix}}
<p>A black frame (and !) marks a measurement that contradicts the scheme's claim or a published comparison; hover a cell for what was seen.</p>
<h2>Wire overhead</h2>
{{.Overhead}}
<h2>Latency over three hops</h2>
{{.Latency}}
{{range .R.Schemes}}
<h2 id="{{.Name}}">{{.Name}} <small>({{.Spec}})</small></h2>
{{range .Errors}}<p class="note">could not run {{.}}</p>{{end}}
<table><tr><th>property</th><th>result</th><th>scenario</th><th>claim</th><th>published</th><th>what was seen</th></tr>
{{range .Properties}}<tr><td>{{.Name}}</td><td class="{{.Result}}">{{sym .Result}} {{.Result}}</td>
<td>{{if .Evidence}}<a href="{{.Evidence}}">{{.Scenario}}</a>{{else}}{{.Scenario}}{{end}}</td><td>{{.Claim}}</td>
<td>{{range .Published}}{{.Source}}: {{.Level}}<br>{{end}}</td>
<td>{{.Detail}}{{range .Notes}}<div class="note">! {{.}}</div>{{end}}<div><small>{{.SpecRef}}</small></div></td></tr>
{{end}}</table>
<table><tr><th>attack</th><th>outcome</th><th>detail</th></tr>
{{range .Attacks}}<tr><td><a href="{{.Evidence}}">{{.Name}}</a></td><td>{{.Outcome}}</td><td>{{.Detail}}</td></tr>{{end}}
</table>
<table><tr><th>body</th><th>unprotected</th><th>on the wire</th><th>stanzas</th><th>overhead</th></tr>
{{range .Costs.Overhead}}<tr><td>{{.BodyBytes}} B</td><td>{{.PlainBytes}} B</td><td>{{.WireBytes}} B</td><td>{{.Stanzas}}</td><td>{{.OverheadBytes}} B</td></tr>{{end}}
</table>
<p>Handshake: {{.Costs.HandshakeRoundTrips}} round trip(s), {{.Costs.HandshakeStanzas}} extra stanza(s), {{.Costs.HandshakeTime}}. Encrypt {{.Costs.EncryptTime}}, receive {{.Costs.ReceiveTime}}; latency {{.Costs.Latency}} (unprotected {{.Costs.LatencyPlain}}).</p>
<p>Metadata (<a href="{{.Metadata.Evidence}}">wiretap</a>): in the clear
{{range .Metadata.Elements}}<code>{{.Name}}</code>×{{.Count}} {{end}};
key IDs: {{range .Metadata.KeyIDs}}{{.}}; {{else}}none{{end}};
readable content: {{range .Metadata.Leaks}}{{.}} {{else}}none{{end}};
sizes {{.Metadata.MinBytes}}–{{.Metadata.MaxBytes}} B.</p>
{{end}}
<h2>Scenarios</h2><ul>{{range .R.Scenarios}}<li><b>{{.Name}}</b>{{if .Malicious}} (malicious server){{end}}: {{.Description}}</li>{{end}}</ul>
<h2>Sources</h2><ul>{{range .R.Sources}}<li><b>{{.Key}}</b>: {{.Citation}}. <a href="{{.URL}}">{{.URL}}</a></li>{{end}}</ul>
</body></html>
`))
