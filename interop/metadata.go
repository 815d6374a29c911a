package interop

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop/report"
)

var timestampRE = regexp.MustCompile(`\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}`)

// keyForms returns the byte strings that identify a party's key on the wire:
// its fingerprint decoded from hex or base64, and the low 8 and 4 bytes of
// it (OpenPGP's long and short key IDs), with a label.
func keyForms(name string, p e2e.Peer) map[string][]byte {
	fp := strings.NewReplacer(":", "", " ", "", "-", "").Replace(p.Fingerprint())
	var raw []byte
	if b, err := hex.DecodeString(fp); err == nil && len(b) >= 8 {
		raw = b
	} else {
		for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.StdEncoding} {
			if b, err := enc.DecodeString(p.Fingerprint()); err == nil && len(b) >= 8 {
				raw = b
				break
			}
		}
	}
	out := map[string][]byte{}
	if raw == nil {
		out[name+" fingerprint"] = []byte(p.Fingerprint())
		return out
	}
	out[name+" fingerprint"] = raw
	out[name+" key ID (low 64 bits)"] = raw[len(raw)-8:]
	return out
}

// payloads returns the texts of st and everything that decodes from base64
// inside them, up to three levels deep (S/MIME's base64 inside MIME inside
// XML, JOSE's base64url parts).
func payloads(st *e2e.Stanza) [][]byte {
	var texts [][]byte
	collect(st.Children, func(v string) { texts = append(texts, []byte(v)) })
	out := append([][]byte(nil), texts...)
	level := texts
	for depth := 0; depth < 3 && len(level) > 0; depth++ {
		var next [][]byte
		for _, t := range level {
			for _, run := range b64Runs(t) {
				if b, _ := decodeB64(trimB64(run)); len(b) > 0 {
					next = append(next, b)
				}
			}
		}
		out = append(out, next...)
		level = next
	}
	return out
}

// b64Runs splits t into runs of base64 characters of at least 16, with the
// whitespace inside MIME base64 removed.
func b64Runs(t []byte) []string {
	var runs []string
	var cur strings.Builder
	flush := func() {
		if cur.Len() >= 16 {
			runs = append(runs, cur.String())
		}
		cur.Reset()
	}
	for _, c := range t {
		switch {
		case isB64(c):
			cur.WriteByte(c)
		case c == '\r' || c == '\n':
		case c == '=':
		default:
			flush()
		}
	}
	flush()
	return runs
}

// analyzeMetadata reads the wiretap of the exchange scenario: what the
// servers could read in the clear.
func analyzeMetadata(ids *identities, tap []Record, sent []*e2e.Stanza, server string) report.Metadata {
	md := report.Metadata{}
	elems, attrs := map[string]int{}, map[string]int{}
	keyIDs, leaks, stamps := map[string]bool{}, map[string]bool{}, map[string]bool{}
	forms := map[string][]byte{}
	for _, who := range []struct {
		n string
		p e2e.Identity
	}{{"juliet", ids.juliet}, {"romeo", ids.romeo}} {
		for k, v := range keyForms(who.n, who.p.Public()) {
			forms[k] = v
		}
	}
	material := partyMaterial(ids)
	probes := map[string]string{}
	for _, st := range sent {
		probes[st.Body()] = "body"
		if s := st.Child(e2e.NSClient, "subject"); s != nil {
			probes[s.Text()] = "subject"
		}
		if t := st.Child(e2e.NSClient, "thread"); t != nil {
			probes[t.Text()] = "thread"
		}
		if p := st.Child(NSProbe, "probe"); p != nil {
			probes[p.Text()] = "extension element"
			if m, ok := p.AttrValue("mark"); ok {
				probes[m] = "extension attribute"
			}
		}
	}
	total, n := 0, 0
	md.MinBytes = -1
	blobs := map[bool][][]byte{} // decoded payloads by direction (true: juliet to romeo)
	for _, r := range tap {
		if r.Server != server {
			continue
		}
		st, err := e2e.Parse(r.Bytes)
		if err != nil || !ids.a.between(st) {
			continue
		}
		n++
		total += len(r.Bytes)
		if md.MinBytes < 0 || len(r.Bytes) < md.MinBytes {
			md.MinBytes = len(r.Bytes)
		}
		md.MaxBytes = max(md.MaxBytes, len(r.Bytes))
		elems[string(st.Kind)]++
		for _, a := range st.Attr {
			attrs[string(st.Kind)+"/@"+a.Name.Local]++
		}
		var walk func(prefix string, e *e2e.Element)
		walk = func(prefix string, e *e2e.Element) {
			name := prefix + e.Name.Local
			if e.Name.Space != e2e.NSClient && e.Name.Space != e2e.NSServer {
				name += " {" + e.Name.Space + "}"
			}
			elems[name]++
			for _, a := range e.Attr {
				attrs[e.Name.Local+"/@"+a.Name.Local]++
			}
			for _, c := range e.Elements() {
				walk("", c)
			}
		}
		for _, c := range st.Children {
			walk("", c)
		}
		toRomeo := st.To.Bare().Equal(ids.a.Romeo.Bare())
		texts := 0
		collect(st.Children, func(string) { texts++ })
		var blob []byte
		for i, p := range payloads(st) {
			if i >= texts {
				blob = append(append(blob, p...), 0, 0, 0, 0, 0, 0, 0, 0)
			}
			for label, f := range forms {
				if bytes.Contains(p, f) || bytes.Contains(bytes.ToLower(p), []byte(hex.EncodeToString(f))) {
					keyIDs[label] = true
				}
			}
			for i := 0; i+materialWindow <= len(p); i++ {
				if who, ok := material[string(p[i:i+materialWindow])]; ok {
					keyIDs["bytes of "+who+"'s public key or certificate (key ID, issuer and serial)"] = true
				}
			}
			for _, bare := range []string{ids.a.Juliet.Bare().String(), ids.a.Romeo.Bare().String()} {
				if bytes.Contains(p, []byte(bare)) && !bytes.Equal(p, []byte(bare)) {
					keyIDs["address "+bare+" inside the payload"] = true
				}
			}
			for probe, what := range probes {
				if probe != "" && bytes.Contains(p, []byte(probe)) {
					leaks[what] = true
				}
			}
			for _, m := range timestampRE.FindAll(p, 4) {
				stamps[string(m)[:10]+"T…"] = true
			}
		}
		if len(blob) > 0 {
			blobs[toRomeo] = append(blobs[toRomeo], blob)
		}
	}
	if n > 0 {
		md.MeanBytes = total / n
	}
	if id := recurring(blobs[true], blobs[false]); id != "" {
		keyIDs["an identifier recurring in every juliet→romeo payload and never the other way (key ID or certificate reference): "+id] = true
	}
	if id := recurring(blobs[false], blobs[true]); id != "" {
		keyIDs["an identifier recurring in every romeo→juliet payload and never the other way (key ID or certificate reference): "+id] = true
	}
	if md.MinBytes < 0 {
		md.MinBytes = 0
	}
	md.Elements = toCounts(elems)
	md.Attributes = toCounts(attrs)
	md.KeyIDs = keys(keyIDs)
	md.Leaks = keys(leaks)
	if len(stamps) > 0 {
		md.Timestamps = []string{fmt.Sprintf("%d timestamp(s) readable on the wire (date and time)", len(stamps))}
	}
	return md
}

func toCounts(m map[string]int) []report.Count {
	var out []report.Count
	for k, v := range m {
		out = append(out, report.Count{Name: k, Count: v})
	}
	report.SortCounts(out)
	return out
}

func keys(m map[string]bool) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// metadataVerdict decides MetadataProtection from the analysis.
func metadataVerdict(md report.Metadata) verdict {
	var content []string
	for _, l := range md.Leaks {
		if l != "body" {
			content = append(content, l)
		}
	}
	switch {
	case len(content) > 0:
		return verdict{e2e.Fails, "readable by the servers: " + strings.Join(content, ", ")}
	case len(md.KeyIDs) > 0 || len(md.Timestamps) > 0:
		var what []string
		what = append(what, md.KeyIDs...)
		what = append(what, md.Timestamps...)
		return verdict{e2e.Partial, "content hidden, but the servers see: " + strings.Join(what, "; ")}
	}
	return verdict{e2e.Holds, "the servers see addresses, sizes and timing only"}
}

// collect calls f with every attribute value and text node below es.
func collect(es []*e2e.Element, f func(string)) {
	for _, e := range es {
		for _, a := range e.Attr {
			f(a.Value)
		}
		for _, n := range e.Nodes {
			switch n := n.(type) {
			case e2e.CharData:
				f(string(n))
			case *e2e.Element:
				collect([]*e2e.Element{n}, f)
			}
		}
	}
}

// recurring finds bytes that every payload of one direction carries and no
// payload of the other direction does: what identifies the recipient (or
// sender) of encrypted data, such as an OpenPGP key ID or a CMS issuer and
// serial number. Algorithm identifiers and format headers occur both ways
// and are left out; ciphertext never repeats. It returns the longest such
// run in hex (at most 32 bytes shown), or "".
func recurring(these, others [][]byte) string {
	const w = 8
	if len(these) < 2 || len(others) == 0 {
		return ""
	}
	common := func(win []byte) bool {
		for _, b := range these[1:] {
			if !bytes.Contains(b, win) {
				return false
			}
		}
		for _, b := range others {
			if bytes.Contains(b, win) {
				return false
			}
		}
		return true
	}
	best := []byte(nil)
	for _, a := range these[:1] {
		if len(a) > 4096 {
			a = a[:4096] // identifiers sit in headers; bound the work
		}
		for i := 0; i+w <= len(a); i++ {
			if !common(a[i : i+w]) {
				continue
			}
			j := i + w
			for j < len(a) && common(a[i:j+1]) {
				j++
			}
			if j-i > len(best) {
				best = a[i:j]
			}
			i = j - 1
		}
	}
	if best == nil {
		return ""
	}
	if len(best) > 32 {
		return hex.EncodeToString(best[:32]) + "…"
	}
	return hex.EncodeToString(best)
}

// partyMaterial maps 12-byte windows of juliet's and romeo's
// public key material (as Peer.Marshal writes it, and decoded from PEM or
// base64 where it is) to the party, leaving out every window the other
// party's material also has (format structure, algorithm identifiers, a
// shared issuer): what identifies the party, such as a certificate's serial
// number and names.
func partyMaterial(ids *identities) map[string]string {
	const w = materialWindow
	raw := map[string][]byte{}
	for _, who := range []struct {
		name string
		id   e2e.Identity
	}{{"juliet", ids.juliet}, {"romeo", ids.romeo}} {
		if who.id == nil {
			continue
		}
		m, err := who.id.Public().Marshal()
		if err != nil {
			continue
		}
		var all []byte
		all = append(all, m...)
		for _, run := range b64Runs(m) {
			if b, _ := decodeB64(trimB64(run)); len(b) > 0 {
				all = append(append(all, 0), b...)
			}
		}
		raw[who.name] = all
	}
	windows := func(a []byte) map[string]bool {
		m := map[string]bool{}
		for i := 0; i+w <= len(a); i++ {
			m[string(a[i:i+w])] = true
		}
		return m
	}
	jw, rw := windows(raw["juliet"]), windows(raw["romeo"])
	out := map[string]string{}
	for win := range jw {
		if !rw[win] && strings.Count(win, "\x00") <= 4 {
			out[win] = "juliet"
		}
	}
	for win := range rw {
		if !jw[win] && strings.Count(win, "\x00") <= 4 {
			out[win] = "romeo"
		}
	}
	return out
}

// materialWindow is the length of the byte windows partyMaterial matches:
// long enough that ciphertext never matches by chance.
const materialWindow = 12
