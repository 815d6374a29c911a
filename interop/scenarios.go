package interop

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/internal/mutate"
	"mellium.im/xmpp/jid"
)

// verdict is one scenario's contribution to one property.
type verdict struct {
	level  e2e.Level
	detail string
}

// result is what one scenario found.
type result struct {
	verdicts map[e2e.Property]verdict
	// attack is the outcome word of an attack scenario ("" otherwise).
	attack string
	detail string
	// facts are measurements other parts of the report read.
	facts map[string]any
}

func newResult() *result {
	return &result{verdicts: map[e2e.Property]verdict{}, facts: map[string]any{}}
}

func (r *result) set(p e2e.Property, l e2e.Level, format string, args ...any) {
	r.verdicts[p] = verdict{level: l, detail: fmt.Sprintf(format, args...)}
}

// A scenario is one script over the network.
type scenario struct {
	name string
	desc string
	// malicious: needs the hook or the wiretap of a server on the path.
	malicious bool
	run       func(e *env) (*result, error)
}

// scenarios lists every scenario in run order.
var scenarios = []scenario{
	{"exchange", "juliet and romeo exchange rich messages (subject, thread, extension) both ways; the wiretap is searched for every secret", false, runExchange},
	{"offline", "romeo is offline when juliet writes to him with fresh sessions; juliet goes offline; romeo logs in", false, runOffline},
	{"two-devices", "romeo is online on two devices; juliet writes to his bare JID", false, runTwoDevices},
	{"carbons", "juliet has a second device with carbons; it receives the sent carbon of her message to romeo", false, runCarbons},
	{"replay", "the malicious server delivers a delivered stanza again", true, runReplay},
	{"reorder", "the malicious server delivers two stanzas swapped", true, runReorder},
	{"drop", "the malicious server drops one stanza; the next one must open", true, runDrop},
	{"tamper", "the malicious server flips bits in every region of the protected payload, one variant at a time", true, runTamper},
	{"truncate", "the malicious server cuts the protected payload short", true, runTruncate},
	{"sign", "juliet signs without encrypting; the server strips or alters the signature", true, runSign},
	{"readdress", "the malicious server re-addresses juliet's stanzas to mercutio@capulet.lit (surreptitious forwarding)", true, runReaddress},
	{"downgrade", "the malicious server strips the protection, injects plaintext as juliet, and rewrites version offers", true, runDowngrade},
	{"forgery", "mercutio, with the server's help, his own keys and the public keys, writes to romeo as juliet", true, runForgery},
	{"key-compromise", "after the session both long-term identities leak; fresh sessions holding them receive the recorded wiretap", true, runKeyCompromise},
	{"post-compromise", "the attacker rebuilds romeo's session state, then the parties talk on; can the attacker read the later traffic?", true, runPostCompromise},
	{"costs", "handshake, overhead of a short body (the secret marker alone, about 28 B), 1 KiB and 16 KiB, CPU time per call and latency over the three hops", false, runCosts},
}

// ---- helpers ----------------------------------------------------------------

// pair logs juliet and romeo in with fresh sessions.
func (e *env) pair() (j, r *party, err error) {
	if j, err = e.join("juliet", e.a.Juliet, LoginOptions{}); err != nil {
		return nil, nil, err
	}
	if r, err = e.join("romeo", e.a.Romeo, LoginOptions{}); err != nil {
		return nil, nil, err
	}
	return j, r, nil
}

// warmup exchanges one message each way so that handshakes are done.
func (e *env) warmup(j, r *party) error {
	for _, d := range [][2]*party{{j, r}, {r, j}} {
		st := e.message(d[0], d[1].dev.JID(), 0)
		got, err := e.exchange(d[0], d[1], st)
		if err != nil {
			return fmt.Errorf("warm-up %s -> %s: %w", d[0].name, d[1].name, err)
		}
		if got == nil {
			return fmt.Errorf("warm-up %s -> %s: the message never opened", d[0].name, d[1].name)
		}
	}
	return nil
}

// catcher is a hook that holds back the stanzas juliet's client sends to
// romeo while it is armed.
type catcher struct {
	mu    sync.Mutex
	armed bool
	held  []*e2e.Stanza
	from  jid.JID
	to    jid.JID
}

func (c *catcher) hook(r Record, st *e2e.Stanza) []*e2e.Stanza {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.armed && r.Hop == "c2s" && st.From.Bare().Equal(c.from.Bare()) && st.To.Bare().Equal(c.to.Bare()) {
		c.held = append(c.held, st)
		return nil
	}
	return []*e2e.Stanza{st}
}

func (c *catcher) take() []*e2e.Stanza {
	c.mu.Lock()
	defer c.mu.Unlock()
	h := c.held
	c.held = nil
	return h
}

func (c *catcher) arm(on bool) {
	c.mu.Lock()
	c.armed = on
	c.mu.Unlock()
}

// catch sends st from a to b with the catcher armed and returns the wire
// stanzas the server held back.
func (e *env) catch(c *catcher, a *party, st *e2e.Stanza, sign bool) ([]*e2e.Stanza, error) {
	c.arm(true)
	_, err := e.protect(a, st, sign)
	if serr := e.net.Settle(e.ctx); serr != nil {
		return nil, serr
	}
	c.arm(false)
	if err != nil {
		return nil, err
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	held := c.take()
	e.tr.logf("the server holds back %d stanza(s)", len(held))
	return held, nil
}

// inject routes stanzas from the malicious server and pumps.
func (e *env) inject(sts ...*e2e.Stanza) error {
	for _, st := range sts {
		if err := e.net.Inject(e.ctx, st); err != nil {
			return err
		}
	}
	return e.pump()
}

// since returns p's opened stanzas and errors after the marks.
func (p *party) since(nOpened, nErr int) ([]openedAt, []error) {
	return p.opened[nOpened:], p.errs[nErr:]
}

// sameContent reports whether the opened stanza carries the content of the
// original: the same body and the same probe element where one was sent.
func sameContent(orig, got *e2e.Stanza) bool {
	if got == nil || got.Body() != orig.Body() {
		return false
	}
	if p := orig.Child(NSProbe, "probe"); p != nil {
		q := got.Child(NSProbe, "probe")
		if q != nil && !q.Equal(p) {
			return false
		}
	}
	return true
}

func classes(errs []error) string {
	seen := map[string]bool{}
	var out []string
	for _, err := range errs {
		c := e2e.ClassOf(err)
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return "none"
	}
	return strings.Join(out, ",")
}

// wireHas reports whether any record of the wiretap contains s.
func wireHas(tap []Record, s string) bool {
	for _, r := range tap {
		if bytes.Contains(r.Bytes, []byte(s)) || bytes.Contains(r.Bytes, []byte(xmlEscape(s))) {
			return true
		}
	}
	return false
}

func xmlEscape(s string) string {
	var b bytes.Buffer
	for _, c := range s {
		switch c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteRune(c)
		}
	}
	return b.String()
}

func isSigner(ids *identities, o e2e.Opened, who e2e.Identity) bool {
	return o.Signer != nil && o.Signer.Fingerprint() == who.Public().Fingerprint()
}

// ---- delivery scenarios -----------------------------------------------------

func runExchange(e *env) (*result, error) {
	res := newResult()
	j, r, err := e.pair()
	if err != nil {
		return nil, err
	}
	var sent []*e2e.Stanza
	var got []*openedAt
	for i := 0; i < 2; i++ {
		for _, d := range [][2]*party{{j, r}, {r, j}} {
			st := e.richMessage(d[0], d[1].dev.JID())
			o, err := e.exchange(d[0], d[1], st)
			if err != nil && !isSessionError(err) {
				return nil, err
			}
			sent = append(sent, st)
			got = append(got, o)
		}
	}
	tap := e.net.Wiretap()
	res.facts["tap"] = tap
	res.facts["sent"] = sent
	opened := 0
	for _, o := range got {
		if o != nil {
			opened++
		}
	}
	res.facts["opened"] = opened
	if opened == 0 {
		res.detail = "no message opened: the scheme does not work over this network"
		for _, p := range []e2e.Property{e2e.Confidentiality, e2e.Authentication, e2e.WholeStanza, e2e.PKIIndependence} {
			res.set(p, e2e.Fails, "%s", res.detail)
		}
		return res, nil
	}
	external := e.net.Malicious() == ""
	// Confidentiality and whole-stanza protection, from the wiretap.
	var bodyLeak, extLeak, subjLeak, lost []string
	for i, st := range sent {
		if wireHas(tap, st.Body()) {
			bodyLeak = append(bodyLeak, st.ID)
		}
		p := st.Child(NSProbe, "probe")
		mark, _ := p.AttrValue("mark")
		if wireHas(tap, p.Text()) || wireHas(tap, mark) {
			extLeak = append(extLeak, st.ID)
		}
		if wireHas(tap, st.Child(e2e.NSClient, "subject").Text()) || wireHas(tap, st.Child(e2e.NSClient, "thread").Text()) {
			subjLeak = append(subjLeak, st.ID)
		}
		if o := got[i]; o != nil {
			q := o.Stanza.Child(NSProbe, "probe")
			if q == nil || !q.Equal(p) {
				lost = append(lost, st.ID)
			}
		}
	}
	switch {
	case external:
		res.set(e2e.Confidentiality, e2e.NotApplicable, "external server: no wiretap to search")
	case len(bodyLeak) > 0:
		res.set(e2e.Confidentiality, e2e.Fails, "the secret body of %s is in the wiretap", strings.Join(bodyLeak, ", "))
	default:
		res.set(e2e.Confidentiality, e2e.Holds, "none of the %d secret bodies appears in %d wiretap records", len(sent), len(tap))
	}
	switch {
	case external:
		res.set(e2e.WholeStanza, e2e.NotApplicable, "external server: no wiretap to search")
	case len(extLeak) > 0:
		res.set(e2e.WholeStanza, e2e.Fails, "the extension element of %s crosses the servers in the clear", strings.Join(extLeak, ", "))
	case len(lost) > 0:
		res.set(e2e.WholeStanza, e2e.Fails, "the extension element of %s is missing or changed after opening", strings.Join(lost, ", "))
	case len(subjLeak) > 0:
		res.set(e2e.WholeStanza, e2e.Partial, "the extension is protected, but subject or thread of %s is in the clear", strings.Join(subjLeak, ", "))
	default:
		res.set(e2e.WholeStanza, e2e.Holds, "subject, thread and extension element are absent from the wiretap and present after opening")
	}
	// Authentication as the receiver sees it.
	var signed, trusted, unsigned int
	for i, o := range got {
		if o == nil {
			continue
		}
		from := e.ids.juliet
		if sent[i].From.Bare().Equal(e.a.Romeo.Bare()) {
			from = e.ids.romeo
		}
		switch {
		case isSigner(e.ids, o.Opened, from) && o.Trusted:
			trusted++
		case isSigner(e.ids, o.Opened, from):
			signed++
		default:
			unsigned++
		}
	}
	res.facts["unsigned"] = unsigned
	switch {
	case unsigned > 0:
		res.set(e2e.Authentication, e2e.Fails, "%d of %d opened stanzas name no signer: the receiver cannot tell who encrypted them", unsigned, opened)
	case signed > 0:
		res.set(e2e.Authentication, e2e.Partial, "the sender's key is named but not reported as trusted for %d stanza(s)", signed)
	default:
		res.set(e2e.Authentication, e2e.Holds, "every opened stanza names its sender's pinned key as signer")
	}
	res.set(e2e.PKIIndependence, e2e.Holds, "%d of %d messages opened with keys from GenerateIdentity pinned by fingerprint, no certificate authority", opened, len(sent))
	if opened < len(sent) {
		res.set(e2e.PKIIndependence, e2e.Partial, "only %d of %d messages opened with pinned keys", opened, len(sent))
	}
	res.detail = fmt.Sprintf("%d of %d rich messages opened", opened, len(sent))
	return res, nil
}

func runOffline(e *env) (*result, error) {
	res := newResult()
	j, r, err := e.pair()
	if err != nil {
		return nil, err
	}
	if err := e.offline(r); err != nil {
		return nil, err
	}
	st := e.message(j, r.want, 0)
	if _, err := e.encrypt(j, st); err != nil {
		res.set(e2e.AsyncDelivery, e2e.Fails, "Encrypt to an offline peer failed: %v", err)
		res.attack = "error"
		return res, nil
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	if err := e.offline(j); err != nil {
		return nil, err
	}
	if err := e.online(r, LoginOptions{}); err != nil {
		return nil, err
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	if r.openedBody(st.Body()) != nil {
		res.set(e2e.AsyncDelivery, e2e.Holds, "romeo opened the message on login while juliet was offline")
		res.detail = "opened while the sender was offline"
		return res, nil
	}
	if err := e.online(j, LoginOptions{}); err != nil {
		return nil, err
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	if r.openedBody(st.Body()) != nil {
		res.set(e2e.AsyncDelivery, e2e.Partial, "the message opened only after juliet came back online (the scheme needs both parties)")
		res.detail = "opened only with both online"
		return res, nil
	}
	res.set(e2e.AsyncDelivery, e2e.Fails, "the message never opened (errors at romeo: %s)", classes(r.errs))
	res.detail = "never opened"
	return res, nil
}

func runTwoDevices(e *env) (*result, error) {
	res := newResult()
	j, r, err := e.pair()
	if err != nil {
		return nil, err
	}
	r2, err := e.join("romeo2", e.a.Romeo2, LoginOptions{})
	if err != nil {
		return nil, err
	}
	st := e.message(j, e.a.Romeo.Bare(), 0)
	if _, err := e.encrypt(j, st); err != nil {
		res.set(e2e.MultiDevice, e2e.Fails, "Encrypt to romeo's bare JID failed: %s: %v", e2e.ClassOf(err), err)
		res.detail = "cannot address a bare JID"
		return res, nil
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	a, b := r.openedBody(st.Body()) != nil, r2.openedBody(st.Body()) != nil
	switch {
	case a && b:
		res.set(e2e.MultiDevice, e2e.Holds, "both of romeo's devices opened the message sent to his bare JID")
	case a || b:
		res.set(e2e.MultiDevice, e2e.Partial, "only one of romeo's two devices opened the message (orchard %v, garden %v)", a, b)
	default:
		res.set(e2e.MultiDevice, e2e.Fails, "neither of romeo's devices opened a message sent to his bare JID (errors: %s, %s)", classes(r.errs), classes(r2.errs))
	}
	res.detail = fmt.Sprintf("orchard opened %v, garden opened %v", a, b)
	return res, nil
}

func runCarbons(e *env) (*result, error) {
	res := newResult()
	j, err := e.join("juliet", e.a.Juliet, LoginOptions{Carbons: true})
	if err != nil {
		return nil, err
	}
	j2, err := e.join("juliet2", e.a.Juliet2, LoginOptions{Carbons: true})
	if err != nil {
		return nil, err
	}
	// Her other device knows her own key, as a client that shares an
	// account's identity does.
	cfg := e.sessionConfig(j2, "session")
	cfg.Peers = append(cfg.Peers, e.ids.juliet.Public())
	if err := e.openSession(j2, &cfg); err != nil {
		return nil, err
	}
	r, err := e.join("romeo", e.a.Romeo, LoginOptions{})
	if err != nil {
		return nil, err
	}
	st := e.message(j, r.dev.JID(), 0)
	if _, err := e.exchange(j, r, st); err != nil && !isSessionError(err) {
		return nil, err
	}
	opened := r.openedBody(st.Body()) != nil
	mine := j2.openedBody(st.Body()) != nil
	switch {
	case !opened:
		res.set(e2e.MultiDevice, e2e.Fails, "romeo did not open the message, so the carbon test says nothing")
	case mine:
		res.set(e2e.MultiDevice, e2e.Holds, "juliet's second device opened the carbon of her own message")
	default:
		res.set(e2e.MultiDevice, e2e.Partial, "juliet's second device cannot read the carbon of what she sent (errors: %s)", classes(j2.errs))
	}
	res.detail = fmt.Sprintf("romeo opened %v, juliet's other device opened the carbon %v", opened, mine)
	return res, nil
}

// ---- attacks on the path ----------------------------------------------------

// attackSetup logs the pair in with a catcher hook and warms up.
func (e *env) attackSetup() (j, r *party, c *catcher, err error) {
	c = &catcher{from: e.a.Juliet, to: e.a.Romeo}
	e.net.SetHook(c.hook)
	if j, r, err = e.pair(); err != nil {
		return
	}
	err = e.warmup(j, r)
	return
}

func runReplay(e *env) (*result, error) {
	res := newResult()
	j, r, c, err := e.attackSetup()
	if err != nil {
		return nil, err
	}
	st := e.message(j, r.dev.JID(), 0)
	held, err := e.catch(c, j, st, false)
	if err != nil {
		return nil, err
	}
	if err := e.inject(held...); err != nil {
		return nil, err
	}
	if r.openedBody(st.Body()) == nil {
		return nil, errors.New("the genuine message did not open")
	}
	nO, nE := len(r.opened), len(r.errs)
	e.tr.logf("the server delivers the same %d stanza(s) again", len(held))
	if err := e.inject(held...); err != nil {
		return nil, err
	}
	opened, errs := r.since(nO, nE)
	again := 0
	for _, o := range opened {
		if o.Stanza != nil && o.Stanza.Body() == st.Body() {
			again++
		}
	}
	if again > 0 {
		res.attack = "accepted"
		res.set(e2e.ReplayProtection, e2e.Fails, "the replayed stanza opened again")
	} else {
		res.attack = "rejected:" + classes(errs)
		res.set(e2e.ReplayProtection, e2e.Holds, "the replayed stanza was refused (%s)", classes(errs))
	}
	// Does the conversation survive the attack?
	next := e.message(j, r.dev.JID(), 0)
	if o, err := e.exchange(j, r, next); err == nil && o != nil {
		res.detail = res.attack + "; the next message opens"
	} else {
		res.detail = res.attack + "; the next message does not open"
	}
	return res, nil
}

func runReorder(e *env) (*result, error) {
	res := newResult()
	j, r, c, err := e.attackSetup()
	if err != nil {
		return nil, err
	}
	m1 := e.message(j, r.dev.JID(), 0)
	m2 := e.message(j, r.dev.JID(), 0)
	c.arm(true)
	out1, err1 := e.encrypt(j, m1)
	out2, err2 := e.encrypt(j, m2)
	if err := e.net.Settle(e.ctx); err != nil {
		return nil, err
	}
	c.arm(false)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("encrypt: %v %v", err1, err2)
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	held := c.take()
	if len(held) < len(out1)+len(out2) || len(out1) == 0 {
		return nil, fmt.Errorf("held %d stanzas for %d+%d sent", len(held), len(out1), len(out2))
	}
	swapped := append(append([]*e2e.Stanza{}, held[len(out1):]...), held[:len(out1)]...)
	e.tr.logf("the server delivers the second message's %d stanza(s) before the first's %d", len(held)-len(out1), len(out1))
	if err := e.inject(swapped...); err != nil {
		return nil, err
	}
	a, b := r.openedBody(m1.Body()) != nil, r.openedBody(m2.Body()) != nil
	switch {
	case a && b:
		res.attack = "both-opened"
		res.set(e2e.OutOfOrder, e2e.Holds, "both swapped messages opened")
	case a || b:
		res.attack = "one-opened"
		res.set(e2e.OutOfOrder, e2e.Partial, "of two swapped messages only the %s opened (%s)", map[bool]string{true: "first", false: "second"}[a], classes(r.errs))
	default:
		res.attack = "none-opened"
		res.set(e2e.OutOfOrder, e2e.Fails, "neither swapped message opened (%s)", classes(r.errs))
	}
	res.detail = res.attack
	return res, nil
}

func runDrop(e *env) (*result, error) {
	res := newResult()
	j, r, c, err := e.attackSetup()
	if err != nil {
		return nil, err
	}
	m1 := e.message(j, r.dev.JID(), 0)
	held, err := e.catch(c, j, m1, false)
	if err != nil {
		return nil, err
	}
	e.tr.logf("the server drops %d stanza(s)", len(held))
	m2 := e.message(j, r.dev.JID(), 0)
	o, err := e.exchange(j, r, m2)
	if err != nil && !isSessionError(err) {
		return nil, err
	}
	if o != nil {
		res.attack = "next-opens"
		res.set(e2e.DropResilience, e2e.Holds, "after a dropped message the next one opened")
	} else {
		res.attack = "stalled"
		res.set(e2e.DropResilience, e2e.Fails, "after a dropped message the next one did not open (%s)", classes(r.errs))
	}
	res.detail = res.attack
	return res, nil
}

// rounds sends up to max fresh messages (signed instead of encrypted when
// sign is set) from j to r, each held back by the server and replaced by one
// variant that gen makes of it, and hands each outcome to judge. A fresh
// message per variant keeps replay and timestamp checks from masking the
// verdict. Round i changes region i modulo the number of regions (a random
// variant of it), so every region is covered.
func (e *env) rounds(c *catcher, j, r *party, sign, rich bool, limit int,
	gen func(st *e2e.Stanza, held []*e2e.Stanza) []variant,
	judge func(orig *e2e.Stanza, v variant, opened []openedAt, errs []error)) (int, error) {
	n := 0
	for i := 0; i < limit; i++ {
		st := e.message(j, r.dev.JID(), 0)
		if rich {
			st = e.richMessage(j, r.dev.JID())
		}
		held, err := e.catch(c, j, st, sign)
		if err != nil {
			return n, err
		}
		vs := gen(st, held)
		if len(vs) == 0 {
			return n, nil
		}
		regionsN := 0
		for _, v := range vs {
			regionsN = max(regionsN, v.region+1)
		}
		var cand []variant
		for _, v := range vs {
			if v.region == i%regionsN {
				cand = append(cand, v)
			}
		}
		if len(cand) == 0 {
			cand = vs
		}
		v := cand[e.rnd.IntN(len(cand))]
		nO, nE := len(r.opened), len(r.errs)
		e.tr.logf("variant %d: %s", i, v.what)
		if err := e.inject(v.wire...); err != nil {
			return n, err
		}
		opened, errs := r.since(nO, nE)
		judge(st, v, opened, errs)
		n++
		if regionsN == len(vs) && i+1 >= len(vs) {
			break // one variant per region, and every one tried
		}
	}
	return n, nil
}

// variantStats sorts the outcomes of tampered stanzas.
type variantStats struct {
	rejected, unchanged, changed, ignored int
	changedWhat                           []string
	errs                                  []error
}

func (s *variantStats) judge(e *env) func(orig *e2e.Stanza, v variant, opened []openedAt, errs []error) {
	return func(orig *e2e.Stanza, v variant, opened []openedAt, errs []error) {
		s.errs = append(s.errs, errs...)
		switch {
		case len(opened) == 0 && len(errs) > 0:
			s.rejected++
		case len(opened) == 0:
			s.ignored++
		default:
			for _, o := range opened {
				if !sameContent(orig, o.Stanza) {
					s.changed++
					s.changedWhat = append(s.changedWhat, v.what)
					e.tr.logf("CHANGED CONTENT OPENED for %s", v.what)
					return
				}
			}
			s.unchanged++
		}
	}
}

func runTamper(e *env) (*result, error) {
	return e.mutationAttack(false)
}

func runTruncate(e *env) (*result, error) {
	return e.mutationAttack(true)
}

func (e *env) mutationAttack(truncate bool) (*result, error) {
	res := newResult()
	j, r, c, err := e.attackSetup()
	if err != nil {
		return nil, err
	}
	gen := func(st *e2e.Stanza, held []*e2e.Stanza) []variant {
		if truncate {
			return truncVariants(st, held)
		}
		vs := flipVariants(st, held, 6, e.rnd)
		if len(vs) == 0 {
			// Nothing but plaintext on the wire: the server edits it.
			for i, w := range held {
				if b := w.Body(); b != "" {
					wire := mutate.Clone(held)
					v, _ := mutate.Flip(b, len(b)/2)
					wire[i].SetBody(v)
					vs = append(vs, variant{what: fmt.Sprintf("body of stanza %d edited in the clear", i), wire: wire})
				}
			}
		}
		return vs
	}
	s := &variantStats{}
	limit := 40
	if truncate {
		limit = 4
	}
	n, err := e.rounds(c, j, r, false, true, limit, gen, s.judge(e))
	if err != nil {
		return nil, err
	}
	res.detail = fmt.Sprintf("%d variants: %s", n, s)
	switch {
	case n == 0:
		res.attack = "no-payload"
		res.set(e2e.Integrity, e2e.Fails, "the wire stanza has no payload region apart from the plaintext itself")
	case s.changed > 0:
		res.attack = "changed-content-opened"
		res.set(e2e.Integrity, e2e.Fails, "%d of %d variants opened with changed content, e.g. %s", s.changed, n, s.changedWhat[0])
	default:
		res.attack = "rejected"
		res.set(e2e.Integrity, e2e.Holds, "every one of %d variants, each of a fresh message, was refused or opened the original content (%s)", n, s)
	}
	return res, nil
}

func runSign(e *env) (*result, error) {
	res := newResult()
	j, r, c, err := e.attackSetup()
	if err != nil {
		return nil, err
	}
	// The genuine signed stanza.
	st := e.message(j, r.dev.JID(), 0)
	c.arm(true)
	_, err = e.protect(j, st, true)
	if serr := e.net.Settle(e.ctx); serr != nil {
		return nil, serr
	}
	c.arm(false)
	if errors.Is(err, e2e.ErrUnsupported) {
		res.attack = "unsupported"
		res.set(e2e.SignOnly, e2e.NotApplicable, "Sign returns ErrUnsupported: the scheme has no sign-only mode")
		res.detail = res.attack
		return res, nil
	}
	if err != nil {
		res.attack = "error"
		res.set(e2e.SignOnly, e2e.Fails, "Sign failed: %v", err)
		res.detail = res.attack
		return res, nil
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	held := c.take()
	nO := len(r.opened)
	if err := e.inject(held...); err != nil {
		return nil, err
	}
	genuine := false
	for _, o := range r.opened[nO:] {
		if sameContent(st, o.Stanza) && isSigner(e.ids, o.Opened, e.ids.juliet) {
			genuine = true
		}
	}
	// Stripped: each element that is not part of the plaintext removed, and
	// all of them together; each on a fresh signed stanza.
	strip := func(st *e2e.Stanza, held []*e2e.Stanza) []variant {
		var vs []variant
		for i, w := range held {
			var extra []int
			for k, ch := range w.Children {
				if !elementInPlain(ch, st) {
					extra = append(extra, k)
				}
			}
			for _, k := range extra {
				wire := mutate.Clone(held)
				wire[i].Children = append(wire[i].Children[:k:k], wire[i].Children[k+1:]...)
				vs = append(vs, variant{region: len(vs), wire: wire, what: "signature element " + w.Children[k].Name.Local + " stripped"})
			}
			if len(extra) > 1 {
				wire := mutate.Clone(held)
				wire[i].Children = nil
				for _, ch := range w.Children {
					if elementInPlain(ch, st) {
						wire[i].Children = append(wire[i].Children, ch.Clone())
					}
				}
				vs = append(vs, variant{region: len(vs), wire: wire, what: "all protection elements stripped"})
			}
		}
		return vs
	}
	bad := 0
	judge := func(orig *e2e.Stanza, v variant, opened []openedAt, errs []error) {
		for _, o := range opened {
			signed := isSigner(e.ids, o.Opened, e.ids.juliet)
			switch {
			case signed && !sameContent(orig, o.Stanza):
				bad++
				e.tr.logf("UNDETECTED: %s opened signed by juliet with changed content", v.what)
			case signed && strings.Contains(v.what, "stripped"):
				bad++
				e.tr.logf("UNDETECTED: %s still reported as signed by juliet", v.what)
			}
		}
	}
	nStrip, err := e.rounds(c, j, r, true, false, 4, strip, judge)
	if err != nil {
		return nil, err
	}
	stripBad := bad
	nAlt, err := e.rounds(c, j, r, true, false, 20, func(st *e2e.Stanza, held []*e2e.Stanza) []variant {
		return flipVariants(st, held, 4, e.rnd)
	}, judge)
	if err != nil {
		return nil, err
	}
	altered := bad - stripBad
	res.detail = fmt.Sprintf("genuine verifies %v; stripped: %d undetected of %d; altered: %d undetected of %d",
		genuine, stripBad, nStrip, altered, nAlt)
	switch {
	case !genuine:
		res.attack = "does-not-verify"
		res.set(e2e.SignOnly, e2e.Fails, "the genuine signed stanza did not open with juliet as signer (%s)", classes(r.errs))
	case bad > 0:
		res.attack = "strip-undetected"
		res.set(e2e.SignOnly, e2e.Fails, "%d stripped and %d altered variants still opened as signed by juliet or with changed content", stripBad, altered)
	default:
		res.attack = "detected"
		res.set(e2e.SignOnly, e2e.Holds, "the signed stanza verifies with juliet as signer; %d stripped and %d altered variants, each of a fresh stanza, were all detected", nStrip, nAlt)
	}
	return res, nil
}

func elementInPlain(el *e2e.Element, pt *e2e.Stanza) bool {
	for _, c := range pt.Children {
		if c.Equal(el) {
			return true
		}
	}
	return false
}

func runReaddress(e *env) (*result, error) {
	res := newResult()
	j, r, c, err := e.attackSetup()
	if err != nil {
		return nil, err
	}
	m, err := e.join("mercutio", e.a.Mercutio, LoginOptions{})
	if err != nil {
		return nil, err
	}
	readdress := func(sts []*e2e.Stanza) []*e2e.Stanza {
		var out []*e2e.Stanza
		for _, s := range sts {
			s = s.Clone()
			s.To = m.dev.JID()
			out = append(out, s)
		}
		return out
	}
	// Encrypted: mercutio must read nothing.
	st := e.message(j, r.dev.JID(), 0)
	held, err := e.catch(c, j, st, false)
	if err != nil {
		return nil, err
	}
	if err := e.inject(readdress(held)...); err != nil {
		return nil, err
	}
	leak := false
	for _, o := range m.opened {
		if o.Stanza != nil && o.Stanza.Body() == st.Body() {
			leak = true
		}
	}
	res.facts["leak"] = leak
	if leak {
		res.attack = "encrypted-opened-by-mercutio"
		res.set(e2e.Confidentiality, e2e.Fails, "mercutio opened juliet's encrypted stanza re-addressed to him")
		res.detail = res.attack
		return res, nil
	}
	// Signed: does mercutio accept juliet's signature on a stanza that was
	// meant for romeo?
	st2 := e.message(j, r.dev.JID(), 0)
	c.arm(true)
	_, err = e.protect(j, st2, true)
	if serr := e.net.Settle(e.ctx); serr != nil {
		return nil, serr
	}
	c.arm(false)
	if errors.Is(err, e2e.ErrUnsupported) {
		res.attack = "refused"
		res.detail = "mercutio cannot open the encrypted stanza; the scheme has no signatures to forward"
		return res, nil
	}
	if err != nil {
		return nil, err
	}
	if err := e.pump(); err != nil {
		return nil, err
	}
	held = c.take()
	nO := len(m.opened)
	if err := e.inject(readdress(held)...); err != nil {
		return nil, err
	}
	forwarded := false
	for _, o := range m.opened[nO:] {
		if o.Stanza != nil && o.Stanza.Body() == st2.Body() && isSigner(e.ids, o.Opened, e.ids.juliet) {
			forwarded = true
		}
	}
	if forwarded {
		res.attack = "signed-accepted-by-mercutio"
		res.set(e2e.Authentication, e2e.Partial, "surreptitious forwarding: mercutio accepts juliet's signed stanza meant for romeo as signed by juliet; the signature does not bind the recipient")
	} else {
		res.attack = "refused"
	}
	res.detail = fmt.Sprintf("encrypted stanza unreadable by mercutio; signed stanza accepted by mercutio as juliet's: %v", forwarded)
	return res, nil
}

// versionRewrites are the version offers the downgrade scenario rewrites to
// an older version: OTR's query messages (OTR v3 §"OTR Query Messages") and
// the whitespace tag's v3 marker.
var versionRewrites = []struct{ from, to, what string }{
	{"?OTRv23?", "?OTRv2?", "OTR query v2+v3 -> v2"},
	{"?OTRv3?", "?OTRv2?", "OTR query v3 -> v2"},
	{"  \t\t  \t ", "", "OTR whitespace tag v3 marker removed"},
}

func runDowngrade(e *env) (*result, error) {
	res := newResult()
	var mu sync.Mutex
	mode := ""
	rewrites := 0
	pt := map[string]*e2e.Stanza{}
	hook := func(rec Record, st *e2e.Stanza) []*e2e.Stanza {
		mu.Lock()
		defer mu.Unlock()
		if rec.Hop != "c2s" || !st.From.Bare().Equal(e.a.Juliet.Bare()) {
			return []*e2e.Stanza{st}
		}
		switch mode {
		case "strip":
			var keep []*e2e.Element
			for _, ch := range st.Children {
				if ch.Name.Space == e2e.NSClient && (ch.Name.Local == "body" || ch.Name.Local == "thread") {
					keep = append(keep, ch)
				}
			}
			st.Children = keep
		case "version":
			for _, rw := range versionRewrites {
				if b := st.Body(); strings.Contains(b, rw.from) {
					st.SetBody(strings.ReplaceAll(b, rw.from, rw.to))
					rewrites++
				}
			}
		}
		return []*e2e.Stanza{st}
	}
	_ = pt
	e.net.SetHook(hook)
	j, r, err := e.pair()
	if err != nil {
		return nil, err
	}
	// 1. Strip everything but body and thread from juliet's first stanzas.
	mu.Lock()
	mode = "strip"
	mu.Unlock()
	m1 := e.message(j, r.dev.JID(), 0)
	if _, err := e.exchange(j, r, m1); err != nil && !isSessionError(err) {
		return nil, err
	}
	mu.Lock()
	mode = ""
	mu.Unlock()
	tap := e.net.Wiretap()
	leaked := wireHas(tap, m1.Body())
	strippedOpened := r.openedBody(m1.Body()) != nil
	// 2. Plaintext injected as juliet.
	fake := &e2e.Stanza{Kind: e2e.Message, From: j.dev.JID(), To: r.dev.JID(), Type: "chat", ID: "forced-plain"}
	fake.SetBody(e.secret("injected", 0))
	nO, nE := len(r.opened), len(r.errs)
	if err := e.inject(fake); err != nil {
		return nil, err
	}
	opened, errs := r.since(nO, nE)
	plainAs := "refused:" + classes(errs)
	for _, o := range opened {
		if o.Stanza != nil && o.Stanza.Body() == fake.Body() {
			if o.Encrypted {
				plainAs = "opened-as-encrypted"
			} else {
				plainAs = "opened-marked-unencrypted"
			}
		}
	}
	// 3. Version rollback on a fresh pair.
	for _, p := range []*party{j, r} {
		p.dev.Close(e.ctx)
		delete(e.parties, p.name)
	}
	e.tr.logf("fresh sessions for the version rollback")
	mu.Lock()
	mode = "version"
	mu.Unlock()
	j, r, err = e.pair()
	if err != nil {
		return nil, err
	}
	m3 := e.message(j, r.dev.JID(), 0)
	if _, err := e.exchange(j, r, m3); err != nil && !isSessionError(err) {
		return nil, err
	}
	mu.Lock()
	mode = ""
	n := rewrites
	mu.Unlock()
	version := "no-version-offer"
	if n > 0 {
		version = "rollback-refused"
		if r.openedBody(m3.Body()) != nil {
			version = "rolled-back"
		}
	}
	res.facts["plain-injected"] = plainAs
	res.detail = fmt.Sprintf("strip: plaintext leaked %v, stripped stanza opened %v; injected plaintext %s; version offers rewritten %d: %s",
		leaked, strippedOpened, plainAs, n, version)
	switch {
	case leaked:
		res.attack = "plaintext-leaked"
		res.set(e2e.Confidentiality, e2e.Fails, "after the protection was stripped the secret body crossed the wire in the clear")
	case plainAs == "opened-as-encrypted":
		res.attack = "plaintext-accepted-as-encrypted"
		res.set(e2e.Integrity, e2e.Fails, "plaintext injected as juliet opened as an encrypted stanza")
	case version == "rolled-back":
		res.attack = "version-rolled-back"
	default:
		res.attack = "resisted"
	}
	return res, nil
}

func (s *variantStats) String() string {
	return fmt.Sprintf("%d rejected (%s), %d opened unchanged, %d opened changed, %d ignored",
		s.rejected, classes(s.errs), s.unchanged, s.changed, s.ignored)
}
