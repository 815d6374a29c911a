package interop

import (
	"fmt"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/report"
)

type decideInput struct {
	ids     *identities
	results []done
}

func (in *decideInput) find(name string) *done {
	if in == nil {
		return nil
	}
	for i := range in.results {
		if in.results[i].sc.name == name {
			return &in.results[i]
		}
	}
	return nil
}

func severity(l e2e.Level) int {
	switch l {
	case e2e.Fails:
		return 3
	case e2e.Partial:
		return 2
	case e2e.Holds:
		return 1
	}
	return 0
}

// decided is a property's level with the scenario that decided it.
type decided struct {
	verdict
	scenario, evidence string
}

// combine takes, for every property, the worst verdict any scenario gave;
// the first scenario in run order decides ties.
func combine(in *decideInput) map[e2e.Property]decided {
	out := map[e2e.Property]decided{}
	if in == nil {
		return out
	}
	for _, d := range in.results {
		for _, p := range e2e.AllProperties {
			v, ok := d.res.verdicts[p]
			if !ok {
				continue
			}
			cur, seen := out[p]
			if !seen || severity(v.level) > severity(cur.level) {
				out[p] = decided{v, d.sc.name, d.ev}
			}
		}
	}
	return out
}

// repudiation decides message and participation repudiation from the
// judge (fresh sessions holding the long-term keys replaying the record)
// and the forgery.
func repudiation(in *decideInput, marks map[e2e.Property]decided) {
	kc, fg, ex := in.find("key-compromise"), in.find("forgery"), in.find("exchange")
	if kc == nil {
		return
	}
	signed, _ := kc.res.facts["judge-signed"].(int)
	opened, _ := kc.res.facts["judge-opened"].(int)
	var v verdict
	scen, ev := kc.sc.name, kc.ev
	switch {
	case signed > 0:
		v = verdict{e2e.Fails, fmt.Sprintf("%d recorded stanza(s) opened with the long-term keys verify as signed by their sender: the transcript is transferable proof", signed)}
	case opened > 0 && fg != nil && fg.res.facts["forged"] == "unsigned" && ex != nil && ex.res.facts["unsigned"] != 0:
		v = verdict{e2e.Holds, "recorded stanzas carry no proof of origin, and mercutio made one from public keys that opens exactly like juliet's"}
		scen, ev = fg.sc.name, fg.ev
	case opened > 0:
		v = verdict{e2e.Holds, fmt.Sprintf("%d recorded stanza(s) open with the long-term keys but none names a signer", opened)}
	default:
		v = verdict{e2e.Holds, "nothing in the recorded traffic opens or verifies for a judge holding both long-term keys: the authentication lived in ephemeral session keys"}
	}
	marks[e2e.MessageRepudiation] = decided{v, scen, ev}
	marks[e2e.ParticipationRepudiation] = decided{v, scen, ev}
}

// finish fills the scheme's report from the scenario results.
func finish(sr *report.Scheme, s e2e.Scheme, in *decideInput, opt Options) {
	marks := combine(in)
	if in != nil {
		repudiation(in, marks)
		if ex := in.find("exchange"); ex != nil {
			if tap, ok := ex.res.facts["tap"].([]Record); ok {
				sent, _ := ex.res.facts["sent"].([]*e2e.Stanza)
				server := in.ids.a.Juliet.Domainpart()
				md := analyzeMetadata(in.ids, tap, sent, server)
				md.Evidence = ex.ev
				if c := in.find("costs"); c != nil {
					if costs, ok := c.res.facts["costs"].(report.Costs); ok && len(costs.Overhead) > 1 {
						md.SizeReveals = costs.Overhead[1].WireBytes-costs.Overhead[0].WireBytes >= (costs.Overhead[1].BodyBytes-costs.Overhead[0].BodyBytes)/2
						md.StanzasPerMessage = costs.Overhead[0].Stanzas
					}
				}
				sr.Metadata = md
				if opt.External {
					marks[e2e.MetadataProtection] = decided{verdict{e2e.NotApplicable, "external server: no wiretap"}, ex.sc.name, ex.ev}
				} else {
					marks[e2e.MetadataProtection] = decided{metadataVerdict(md), ex.sc.name, ex.ev}
				}
			}
		}
		if c := in.find("costs"); c != nil {
			if costs, ok := c.res.facts["costs"].(report.Costs); ok {
				sr.Costs = costs
			}
		}
		for _, d := range in.results {
			if d.res.attack != "" && d.sc.malicious {
				sr.Attacks = append(sr.Attacks, report.Attack{Name: d.sc.name, Outcome: d.res.attack, Detail: d.res.detail, Evidence: d.ev})
			}
		}
	}
	claims := s.Claims()
	for _, p := range e2e.AllProperties {
		m, ok := marks[p]
		prop := report.Property{Name: string(p), Test: p.Test(), SpecRef: specRef(s, p), Claim: string(claims.Get(p))}
		if ok {
			prop.Result, prop.Scenario, prop.Evidence, prop.Detail = string(m.level), m.scenario, m.evidence, m.detail
		} else {
			prop.Result = string(e2e.NotApplicable)
			prop.Detail = "not measured: its scenario did not run or could not complete (see errors)"
		}
		for _, x := range expectations(s.Name(), p) {
			prop.Published = append(prop.Published, report.Expectation{Source: x.source, Level: string(x.level), Where: x.where})
		}
		prop.Notes = notes(prop)
		sr.Properties = append(sr.Properties, prop)
	}
}

// notes flags where the measurement contradicts the claim or a published
// expectation.
func notes(p report.Property) []string {
	if p.Result == string(e2e.NotApplicable) {
		return nil
	}
	var out []string
	if p.Claim != "" && p.Claim != p.Result {
		out = append(out, fmt.Sprintf("contradicts the claim: measured %s, the scheme claims %s", p.Result, p.Claim))
	}
	for _, x := range p.Published {
		switch {
		case x.Level == p.Result:
		case x.Source == "XEP-0210":
			out = append(out, fmt.Sprintf("does not meet the requirement of %s (%s): measured %s", x.Source, x.Where, p.Result))
		default:
			out = append(out, fmt.Sprintf("differs from %s (%s): measured %s, published %s", x.Source, x.Where, p.Result, x.Level))
		}
	}
	return out
}
