package report

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"
)

// A Report is the result of one harness run: one entry per scheme.
type Report struct {
	// Tool names the program and version that made the report.
	Tool string `json:"tool"`
	// Seed is the seed of the run; the same seed gives the same marks.
	Seed int64 `json:"seed"`
	// Network describes the network the run used ("built-in: ...",
	// "external: host:port").
	Network string `json:"network"`
	// Started is when the run began; Duration how long it took.
	Started  time.Time `json:"started"`
	Duration Duration  `json:"duration"`
	// Schemes are the measured schemes in the order they ran.
	Schemes []*Scheme `json:"schemes"`
	// Scenarios lists every scenario the run knows, with what it does.
	Scenarios []ScenarioInfo `json:"scenarios"`
	// Sources lists the published comparisons the report cites.
	Sources []Source `json:"sources"`
}

// ScenarioInfo describes one scenario.
type ScenarioInfo struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	// Malicious reports that the scenario needs a malicious server on the
	// path (it cannot run against an external deployment).
	Malicious bool `json:"malicious"`
}

// A Source is a published comparison or requirements document.
type Source struct {
	Key      string `json:"key"`
	Citation string `json:"citation"`
	URL      string `json:"url"`
}

// Scheme is what the run found for one scheme.
type Scheme struct {
	Name string `json:"name"`
	Spec string `json:"spec"`
	// Properties holds one entry per e2e property, in e2e.AllProperties
	// order.
	Properties []Property `json:"properties"`
	// Attacks holds the outcome of every attack scenario.
	Attacks []Attack `json:"attacks"`
	// Costs are the measured costs.
	Costs Costs `json:"costs"`
	// Metadata is what the servers could read in the clear.
	Metadata Metadata `json:"metadata"`
	// Errors lists scenarios that could not run, with the reason.
	Errors []string `json:"errors,omitempty"`
}

// Property is one measured property of a scheme.
type Property struct {
	Name string `json:"name"`
	// Result is "holds", "partial", "fails" or "n/a".
	Result string `json:"result"`
	// Scenario is the scenario that decided Result.
	Scenario string `json:"scenario"`
	// Evidence is the transcript file, relative to the output directory.
	Evidence string `json:"evidence"`
	// Test describes the deciding test (e2e.Property.Test).
	Test string `json:"test"`
	// Detail says what the scenario observed.
	Detail string `json:"detail"`
	// SpecRef points into the scheme's specification.
	SpecRef string `json:"spec_ref,omitempty"`
	// Claim is what the scheme claims ("" when it claims nothing).
	Claim string `json:"claim,omitempty"`
	// Published are the expectations of published comparisons.
	Published []Expectation `json:"published,omitempty"`
	// Notes flag contradictions between the measurement, the claim and the
	// published expectations.
	Notes []string `json:"notes,omitempty"`
}

// Expectation is one published expectation for a property.
type Expectation struct {
	Source string `json:"source"` // Source.Key
	Level  string `json:"level"`
	Where  string `json:"where"` // table, row, section
}

// Attack is the outcome of one attack on a scheme.
type Attack struct {
	Name string `json:"name"`
	// Outcome is a short stable word: "rejected", "opened", "detected", ...
	Outcome  string `json:"outcome"`
	Detail   string `json:"detail"`
	Evidence string `json:"evidence"`
}

// Costs are the costs of a scheme measured in one run.
type Costs struct {
	// HandshakeRoundTrips is the number of round trips before the first
	// stanza opened (0 for schemes without a handshake).
	HandshakeRoundTrips int `json:"handshake_round_trips"`
	// HandshakeStanzas counts the protocol stanzas of the first exchange.
	HandshakeStanzas int `json:"handshake_stanzas"`
	// HandshakeTime is from the first Encrypt to the first opened stanza.
	HandshakeTime Duration `json:"handshake_time"`
	// Overhead holds the wire overhead per body size.
	Overhead []Overhead `json:"overhead"`
	// EncryptTime and ReceiveTime are the median time spent in one
	// Session.Encrypt and in the Session.Receive calls of one stanza.
	EncryptTime Duration `json:"encrypt_time"`
	ReceiveTime Duration `json:"receive_time"`
	// Latency is the median time from Encrypt to opened over the three
	// hops; LatencyPlain the same for unprotected stanzas in the same run.
	Latency      Duration `json:"latency"`
	LatencyPlain Duration `json:"latency_plain"`
	// Samples is how many messages the medians are over.
	Samples int `json:"samples"`
}

// Overhead is the wire overhead for one body size.
type Overhead struct {
	BodyBytes int `json:"body_bytes"`
	// PlainBytes is the size of the unprotected stanza.
	PlainBytes int `json:"plain_bytes"`
	// WireBytes is the sum of the sizes of every stanza on the s2s hop that
	// carrying the stanza caused, in both directions.
	WireBytes int `json:"wire_bytes"`
	// Stanzas is how many stanzas that was.
	Stanzas int `json:"stanzas"`
	// OverheadBytes is WireBytes - PlainBytes.
	OverheadBytes int `json:"overhead_bytes"`
}

// Metadata is what the servers on the path could read in the clear.
type Metadata struct {
	// Elements are the qualified element names seen in the clear, with how
	// many times.
	Elements []Count `json:"elements"`
	// Attributes are the attribute names seen in the clear (element/@attr).
	Attributes []Count `json:"attributes"`
	// KeyIDs lists key identifiers of the parties found in the wire bytes
	// (directly or inside a base64 payload).
	KeyIDs []string `json:"key_ids"`
	// Leaks lists probe content found in the clear (subject, thread,
	// extension, body).
	Leaks []string `json:"leaks"`
	// Timestamps reports timestamps visible in the clear.
	Timestamps []string `json:"timestamps"`
	// Sizes: the stanza sizes on the s2s hop.
	MinBytes  int `json:"min_bytes"`
	MaxBytes  int `json:"max_bytes"`
	MeanBytes int `json:"mean_bytes"`
	// SizeReveals reports whether the wire size grows with the body size
	// (no padding hides it).
	SizeReveals bool `json:"size_reveals_length"`
	// StanzasPerMessage is how many stanzas one message causes in steady
	// state (timing and count are visible to the servers).
	StanzasPerMessage int `json:"stanzas_per_message"`
	// Evidence is the wiretap dump the analysis read.
	Evidence string `json:"evidence"`
}

// Count is a name with a count.
type Count struct {
	Name  string `json:"name"`
	Count int    `json:"count"`
}

// SortCounts sorts by descending count, then name.
func SortCounts(cs []Count) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Count != cs[j].Count {
			return cs[i].Count > cs[j].Count
		}
		return cs[i].Name < cs[j].Name
	})
}

// Duration is a time.Duration that encodes to JSON as seconds.
type Duration time.Duration

// MarshalJSON encodes d as a number of seconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).Seconds())
}

// UnmarshalJSON decodes a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s float64
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	*d = Duration(s * float64(time.Second))
	return nil
}

// String formats d with a unit suited to its size.
func (d Duration) String() string {
	t := time.Duration(d)
	switch {
	case t == 0:
		return "0"
	case t < time.Millisecond:
		return fmt.Sprintf("%.0fµs", float64(t)/float64(time.Microsecond))
	case t < time.Second:
		return fmt.Sprintf("%.2fms", float64(t)/float64(time.Millisecond))
	}
	return fmt.Sprintf("%.2fs", t.Seconds())
}

// BodySizes labels the body sizes of the overhead measurements in order
// ("28 B", "1 KiB", "16 KiB"), as measured: the sizes of the first scheme
// that has them, or a range where schemes differ.
func (r *Report) BodySizes() []string {
	var lo, hi []int
	for _, s := range r.Schemes {
		for i, o := range s.Costs.Overhead {
			if i == len(lo) {
				lo, hi = append(lo, o.BodyBytes), append(hi, o.BodyBytes)
			}
			lo[i], hi[i] = min(lo[i], o.BodyBytes), max(hi[i], o.BodyBytes)
		}
	}
	out := make([]string, len(lo))
	for i := range lo {
		out[i] = byteSize(lo[i])
		if hi[i] != lo[i] {
			out[i] = byteSize(lo[i]) + "–" + byteSize(hi[i])
		}
	}
	return out
}

// byteSize formats n bytes as B, or as KiB when it is a whole number of them.
func byteSize(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d B", n)
}

// Property returns the entry for the named property, or nil.
func (s *Scheme) Property(name string) *Property {
	for i := range s.Properties {
		if s.Properties[i].Name == name {
			return &s.Properties[i]
		}
	}
	return nil
}

// Attack returns the entry for the named attack, or nil.
func (s *Scheme) Attack(name string) *Attack {
	for i := range s.Attacks {
		if s.Attacks[i].Name == name {
			return &s.Attacks[i]
		}
	}
	return nil
}

// WriteJSON writes r as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadJSON reads a report written by WriteJSON.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	return &r, nil
}

// WriteFile writes the output of write to the named file.
func WriteFile(name string, write func(io.Writer) error) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := write(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Marks returns every attack outcome and property result of s by name.
func (s *Scheme) Marks() map[string]string {
	m := map[string]string{}
	for _, a := range s.Attacks {
		m[a.Name] = a.Outcome
	}
	for _, p := range s.Properties {
		m[p.Name] = p.Result
	}
	return m
}

// Check compares s with pinned marks (attack or property name to outcome or
// result; a trailing * matches any suffix, as in "rejected*") and describes
// every difference and every scenario that could not run, in name order.
// Tests use it to pin a scheme's report.
func (s *Scheme) Check(want map[string]string) []string {
	got := s.Marks()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []string
	for _, k := range keys {
		w, g := want[k], got[k]
		if g == w || strings.HasSuffix(w, "*") && strings.HasPrefix(g, strings.TrimSuffix(w, "*")) {
			continue
		}
		detail := ""
		if p := s.Property(k); p != nil {
			detail = p.Detail
		} else if a := s.Attack(k); a != nil {
			detail = a.Detail
		}
		out = append(out, fmt.Sprintf("%s %s = %q, want %q (%s)", s.Name, k, g, w, detail))
	}
	for _, e := range s.Errors {
		out = append(out, fmt.Sprintf("%s: scenario could not run: %s", s.Name, e))
	}
	return out
}
