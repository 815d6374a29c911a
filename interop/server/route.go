package server

import (
	"encoding/xml"
	"strconv"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"mellium.im/xmpp/jid"
)

// toNS returns st in the content namespace ns: the stanza and every
// descendant in jabber:client or jabber:server move to ns (RFC 6120 §4.8.3).
func toNS(st *e2e.Stanza, ns string) *e2e.Stanza {
	cur := st.NS
	if cur == "" {
		cur = e2e.NSClient
	}
	if cur == ns {
		return st
	}
	out := st.Clone()
	out.NS = ns
	if ns == e2e.NSClient {
		out.NS = ""
	}
	for _, c := range out.Children {
		renameNS(c, cur, ns)
	}
	return out
}

func renameNS(e *e2e.Element, from, to string) {
	if e.Name.Space == from {
		e.Name.Space = to
	}
	for _, n := range e.Nodes {
		if c, ok := n.(*e2e.Element); ok {
			renameNS(c, from, to)
		}
	}
}

func isSubscription(typ string) bool {
	return typ == "subscribe" || typ == "subscribed" || typ == "unsubscribe" || typ == "unsubscribed"
}

// fromClient handles a stanza read from a client session (hop c2s-in).
func (s *Server) fromClient(c *c2s, st *e2e.Stanza, raw []byte) {
	seen := st.Clone()
	// RFC 6120 §8.1.2.1: the server stamps the sender's address.
	st.From = c.jid
	if st.Kind == e2e.Presence && isSubscription(st.Type) {
		st.From = c.jid.Bare()
	}
	outs, action := s.intercept(C2SIn, st, func(later []*e2e.Stanza) {
		for _, l := range later {
			s.clientStanza(c, l)
		}
	})
	s.record(C2SIn, c.peer(), raw, seen, c.prot, action)
	for _, o := range outs {
		s.clientStanza(c, o)
	}
}

func (s *Server) clientStanza(c *c2s, st *e2e.Stanza) {
	if s.closed.Load() {
		return
	}
	noTo := st.To.Equal(jid.JID{})
	switch st.Kind {
	case e2e.IQ:
		if noTo || st.To.Equal(c.jid.Bare()) || st.To.Equal(jid.MustParse(s.domain)) {
			s.serverIQ(c, st)
			return
		}
	case e2e.Presence:
		if noTo {
			s.broadcastPresence(c, st)
			return
		}
		if isSubscription(st.Type) {
			s.outboundSubscription(c, st)
			return
		}
	case e2e.Message:
		if noTo {
			st.To = c.jid.Bare()
		}
		if st.Type == "chat" && st.Child(nsHints, "no-copy") == nil {
			if st.Child(nsCarbons, "private") == nil {
				s.carbon(c.jid, "sent", st)
			}
		}
	}
	s.route(st, true)
}

// route delivers st: locally, or over s2s when local is true (a stanza
// from one of our clients; stanzas from remote servers never leave again).
func (s *Server) route(st *e2e.Stanza, local bool) {
	to := st.To
	if to.Domainpart() != s.domain {
		if !local {
			s.bounce(st, "cancel", "not-allowed")
			return
		}
		s.sendRemote(to.Domainpart(), st)
		return
	}
	if to.Localpart() == "" {
		// The server itself.
		if st.Kind == e2e.IQ {
			s.domainIQ(st)
		}
		return
	}
	if _, err := s.store.Credentials(to.Localpart()); err != nil {
		if st.Kind == e2e.Message || (st.Kind == e2e.IQ && (st.Type == "get" || st.Type == "set")) {
			s.bounce(st, "cancel", "service-unavailable")
		}
		return
	}
	if to.Resourcepart() != "" {
		if c := s.session(to); c != nil {
			if st.Kind == e2e.Presence && st.Type == "probe" {
				return
			}
			if !c.send(st) {
				s.bounce(st, "wait", "recipient-unavailable")
			}
			if st.Kind == e2e.Message && st.Type == "chat" {
				s.carbonReceived(to, st, c)
			}
			return
		}
		// RFC 6121 §8.5.3.2: no such resource.
		switch st.Kind {
		case e2e.Message:
			switch st.Type {
			case "", "normal", "chat", "headline":
				s.deliverBare(to.Bare(), st)
			case "groupchat":
				s.bounce(st, "cancel", "service-unavailable")
			}
		case e2e.IQ:
			if st.Type == "get" || st.Type == "set" {
				s.bounce(st, "cancel", "service-unavailable")
			}
		}
		return
	}
	switch st.Kind {
	case e2e.Message:
		s.deliverBare(to, st)
	case e2e.Presence:
		s.inboundPresence(to, st)
	case e2e.IQ:
		s.bareIQ(st)
	}
}

// session returns the session bound to the full JID j, or nil.
func (s *Server) session(j jid.JID) *c2s {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.accounts[j.Localpart()][j.Resourcepart()]
}

// sessions returns the sessions of a local account.
func (s *Server) sessions(local string) []*c2s {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*c2s, 0, len(s.accounts[local]))
	for _, c := range s.accounts[local] {
		out = append(out, c)
	}
	return out
}

// deliverBare delivers a message to a local bare JID (RFC 6121 §8.5.2.1.1):
// to the available resources of highest non-negative priority; with none,
// chat and normal messages are stored offline.
func (s *Server) deliverBare(to jid.JID, st *e2e.Stanza) {
	best := -1
	var targets []*c2s
	all := s.sessions(to.Localpart())
	for _, c := range all {
		c.mu.Lock()
		av, pr := c.available, c.priority
		c.mu.Unlock()
		if !av || pr < 0 {
			continue
		}
		switch {
		case pr > best:
			best, targets = pr, []*c2s{c}
		case pr == best:
			targets = append(targets, c)
		}
	}
	if len(targets) == 0 {
		switch st.Type {
		case "", "normal", "chat":
			s.storeOffline(to, st)
		case "groupchat":
			s.bounce(st, "cancel", "service-unavailable")
		}
		return
	}
	delivered := false
	for _, c := range targets {
		delivered = c.send(st) || delivered
	}
	if !delivered {
		s.bounce(st, "wait", "recipient-unavailable")
		return
	}
	if st.Type == "chat" {
		// XEP-0280 §6: interested resources that did not get it by the
		// normal rules get a received carbon.
		for _, c := range all {
			got := false
			for _, t := range targets {
				got = got || t == c
			}
			if !got {
				s.sendCarbon(c, "received", st)
			}
		}
	}
}

func (s *Server) storeOffline(to jid.JID, st *e2e.Stanza) {
	n, err := s.store.CountOffline(to.Localpart())
	if err != nil || n >= s.cfg.OfflineLimit {
		s.bounce(st, "wait", "service-unavailable")
		return
	}
	st = toNS(st, e2e.NSClient).Clone()
	if st.Child(nsDelay, "delay") == nil {
		d := e2e.NewElement(nsDelay, "delay", "Offline storage")
		d.SetAttr("from", s.domain)
		d.SetAttr("stamp", time.Now().UTC().Format("2006-01-02T15:04:05.000Z"))
		st.Children = append(st.Children, d)
	}
	if err := s.store.PushOffline(to.Localpart(), st.Bytes()); err != nil {
		s.bounce(st, "wait", "internal-server-error")
	}
}

// flushOffline sends the stored messages to c (on its initial presence).
func (s *Server) flushOffline(c *c2s) {
	msgs, err := s.store.PopOffline(c.jid.Localpart())
	if err != nil {
		s.logf("offline: %v", err)
		return
	}
	for _, b := range msgs {
		st, err := e2e.Parse(b)
		if err != nil {
			continue
		}
		c.send(st)
	}
}

// bounce answers st with an error stanza (RFC 6120 §8.3), never answering
// an error or an IQ result.
func (s *Server) bounce(st *e2e.Stanza, typ, cond string) {
	if st.Type == "error" || (st.Kind == e2e.IQ && st.Type == "result") {
		return
	}
	if st.From.Equal(jid.JID{}) {
		return
	}
	e := st.Clone()
	e.From, e.To = st.To, st.From
	if e.From.Equal(jid.JID{}) {
		e.From = jid.MustParse(s.domain)
	}
	e.Type = "error"
	ns := e.NS
	if ns == "" {
		ns = e2e.NSClient
	}
	if e.Kind == e2e.IQ {
		e.Children = nil
	}
	er := e2e.NewElement(ns, "error", "")
	er.SetAttr("type", typ)
	er.AppendChild(e2e.NewElement(nsStanzas, cond, ""))
	e.Children = append(e.Children, er)
	if e.To.Domainpart() == s.domain {
		if c := s.session(e.To); c != nil {
			c.send(e)
		}
		return
	}
	s.sendRemote(e.To.Domainpart(), e)
}

// reply sends an IQ result or error back to the client session c.
func (s *Server) reply(c *c2s, st *e2e.Stanza, children ...*e2e.Element) {
	r := &e2e.Stanza{Kind: e2e.IQ, ID: st.ID, Type: "result", To: c.jid, Children: children}
	if !st.To.Equal(jid.JID{}) {
		r.From = st.To
	}
	c.send(r)
}

// serverIQ answers an IQ a client addressed to its account or the server.
func (s *Server) serverIQ(c *c2s, st *e2e.Stanza) {
	if st.Type != "get" && st.Type != "set" {
		return
	}
	if len(st.Children) == 0 {
		s.bounce(st, "modify", "bad-request")
		return
	}
	q := st.Children[0]
	switch {
	case q.Name.Space == nsRoster && q.Name.Local == "query" && st.Type == "get":
		res := e2e.NewElement(nsRoster, "query", "")
		s.mu.RLock()
		for contact, it := range s.roster[c.jid.Localpart()] {
			item := e2e.NewElement(nsRoster, "item", "")
			item.SetAttr("jid", contact)
			item.SetAttr("subscription", it.sub)
			if it.ask {
				item.SetAttr("ask", "subscribe")
			}
			res.AppendChild(item)
		}
		s.mu.RUnlock()
		s.reply(c, st, res)
	case q.Name.Space == nsRoster && q.Name.Local == "query":
		// Roster changes are not supported: the roster is configured.
		s.bounce(st, "cancel", "not-allowed")
	case q.Name.Space == nsSession && q.Name.Local == "session":
		s.reply(c, st)
	case q.Name.Space == nsPing && q.Name.Local == "ping" && st.Type == "get":
		s.reply(c, st)
	case q.Name.Space == nsCarbons && st.Type == "set" && (q.Name.Local == "enable" || q.Name.Local == "disable"):
		c.mu.Lock()
		c.carbons = q.Name.Local == "enable"
		c.mu.Unlock()
		s.reply(c, st)
	case q.Name.Space == nsDiscoInfo && q.Name.Local == "query" && st.Type == "get":
		s.reply(c, st, s.discoInfo(st.To.Localpart() != ""))
	default:
		s.bounce(st, "cancel", "service-unavailable")
	}
}

func (s *Server) discoInfo(account bool) *e2e.Element {
	q := e2e.NewElement(nsDiscoInfo, "query", "")
	id := e2e.NewElement(nsDiscoInfo, "identity", "")
	if account {
		id.SetAttr("category", "account")
		id.SetAttr("type", "registered")
	} else {
		id.SetAttr("category", "server")
		id.SetAttr("type", "im")
	}
	q.AppendChild(id)
	feats := []string{nsDiscoInfo, nsPing}
	if !account {
		feats = append(feats, nsCarbons, "msgoffline")
	}
	for _, f := range feats {
		e := e2e.NewElement(nsDiscoInfo, "feature", "")
		e.SetAttr("var", f)
		q.AppendChild(e)
	}
	return q
}

// domainIQ answers an IQ addressed to the server from anywhere.
func (s *Server) domainIQ(st *e2e.Stanza) {
	if st.Type != "get" && st.Type != "set" {
		return
	}
	var q *e2e.Element
	if len(st.Children) > 0 {
		q = st.Children[0]
	}
	r := &e2e.Stanza{Kind: e2e.IQ, NS: st.NS, ID: st.ID, Type: "result", From: st.To, To: st.From}
	switch {
	case q != nil && q.Name.Space == nsPing && st.Type == "get":
	case q != nil && q.Name.Space == nsDiscoInfo && st.Type == "get":
		r.Children = []*e2e.Element{s.discoInfo(false)}
	default:
		s.bounce(st, "cancel", "service-unavailable")
		return
	}
	s.routeReply(r)
}

// bareIQ answers an IQ to a local bare JID from another entity.
func (s *Server) bareIQ(st *e2e.Stanza) {
	if st.Type != "get" && st.Type != "set" {
		return
	}
	if len(st.Children) > 0 && st.Children[0].Name.Space == nsPing && st.Type == "get" {
		s.routeReply(&e2e.Stanza{Kind: e2e.IQ, NS: st.NS, ID: st.ID, Type: "result", From: st.To, To: st.From})
		return
	}
	s.bounce(st, "cancel", "service-unavailable")
}

func (s *Server) routeReply(r *e2e.Stanza) {
	if r.To.Domainpart() == s.domain {
		if c := s.session(r.To); c != nil {
			c.send(r)
		}
		return
	}
	s.sendRemote(r.To.Domainpart(), r)
}

// carbon sends a sent carbon of st, from the session with full JID from,
// to the account's other carbon-enabled sessions (XEP-0280 §7).
func (s *Server) carbon(from jid.JID, kind string, st *e2e.Stanza) {
	for _, c := range s.sessions(from.Localpart()) {
		if c.jid.Equal(from) {
			continue
		}
		s.sendCarbon(c, kind, st)
	}
}

// carbonReceived sends received carbons of a chat message addressed to a
// full JID to the recipient's other carbon-enabled sessions.
func (s *Server) carbonReceived(to jid.JID, st *e2e.Stanza, got *c2s) {
	if st.Child(nsCarbons, "private") != nil || st.Child(nsHints, "no-copy") != nil {
		return
	}
	for _, c := range s.sessions(to.Localpart()) {
		if c != got {
			s.sendCarbon(c, "received", st)
		}
	}
}

func (s *Server) sendCarbon(c *c2s, kind string, st *e2e.Stanza) {
	if st.Child(nsCarbons, "private") != nil || st.Child(nsHints, "no-copy") != nil {
		return
	}
	c.mu.Lock()
	on := c.carbons && c.available
	c.mu.Unlock()
	if !on {
		return
	}
	inner := toNS(st, e2e.NSClient)
	fwd := e2e.NewElement(nsForward, "forwarded", "")
	msg := &e2e.Element{Name: xml.Name{Space: e2e.NSClient, Local: "message"}, Attr: inner.StartElement().Attr, Nodes: nil}
	for _, ch := range inner.Children {
		msg.Nodes = append(msg.Nodes, ch.Clone())
	}
	fwd.AppendChild(msg)
	wrap := e2e.NewElement(nsCarbons, kind, "")
	wrap.AppendChild(fwd)
	cc := &e2e.Stanza{Kind: e2e.Message, Type: st.Type, From: c.jid.Bare(), To: c.jid, ID: "carbon-" + randomID()[:8], Children: []*e2e.Element{wrap}}
	c.send(cc)
}

// broadcastPresence handles presence without a to: initial, updated or
// unavailable presence (RFC 6121 §4.2, §4.4, §4.5).
func (s *Server) broadcastPresence(c *c2s, st *e2e.Stanza) {
	switch st.Type {
	case "", "unavailable":
	default:
		s.bounce(st, "modify", "bad-request")
		return
	}
	if st.Type == "unavailable" {
		s.goOffline(c)
		return
	}
	pr := 0
	if p := st.Child(e2e.NSClient, "priority"); p != nil {
		if v, err := strconv.Atoi(p.Text()); err == nil && v >= -128 && v <= 127 {
			pr = v
		}
	}
	c.mu.Lock()
	initial := !c.available
	c.available, c.priority, c.presence = true, pr, st.Clone()
	c.mu.Unlock()
	local := c.jid.Localpart()
	s.broadcast(c, st)
	if !initial {
		return
	}
	// Probe the contacts we may see, answer with local presences now.
	for _, contact := range s.contacts(local, "to", "both") {
		if contact.Domainpart() == s.domain {
			s.presenceOf(contact, c)
			continue
		}
		s.sendRemote(contact.Domainpart(), &e2e.Stanza{Kind: e2e.Presence, Type: "probe", From: c.jid.Bare(), To: contact})
	}
	for _, o := range s.sessions(local) {
		if o != c {
			s.sendPresenceOf(o, c.jid, func(p *e2e.Stanza) { c.send(p) })
		}
	}
	// Subscription requests that waited for the user (RFC 6121 §3.1.3).
	s.mu.RLock()
	var asks []string
	for contact, it := range s.roster[local] {
		if it.pendingIn {
			asks = append(asks, contact)
		}
	}
	s.mu.RUnlock()
	for _, a := range asks {
		if from, err := jid.Parse(a); err == nil {
			c.send(&e2e.Stanza{Kind: e2e.Presence, Type: "subscribe", From: from, To: c.jid.Bare()})
		}
	}
	s.flushOffline(c)
}

// presenceOf sends the available presences of the local contact's sessions
// to c.
func (s *Server) presenceOf(contact jid.JID, c *c2s) {
	for _, o := range s.sessions(contact.Localpart()) {
		s.sendPresenceOf(o, c.jid, func(p *e2e.Stanza) { c.send(p) })
	}
}

func (s *Server) sendPresenceOf(o *c2s, to jid.JID, send func(*e2e.Stanza)) {
	o.mu.Lock()
	p := o.presence
	av := o.available
	o.mu.Unlock()
	if !av || p == nil {
		return
	}
	q := p.Clone()
	q.From, q.To = o.jid, to
	send(q)
}

// broadcast sends c's presence st to the contacts subscribed to the
// account and to the account's other sessions (RFC 6121 §4.2.2, §4.5.2).
func (s *Server) broadcast(c *c2s, st *e2e.Stanza) {
	local := c.jid.Localpart()
	for _, contact := range s.contacts(local, "from", "both") {
		p := st.Clone()
		p.To = contact
		s.route(p, true)
	}
	for _, o := range s.sessions(local) {
		if o != c {
			p := st.Clone()
			p.To = o.jid
			o.send(p)
		}
	}
}

// goOffline broadcasts unavailable presence for c once.
func (s *Server) goOffline(c *c2s) {
	c.mu.Lock()
	was := c.available
	c.available, c.presence = false, nil
	c.mu.Unlock()
	if !was {
		return
	}
	s.broadcast(c, &e2e.Stanza{Kind: e2e.Presence, Type: "unavailable", From: c.jid})
}

// inboundPresence handles presence to a local bare JID.
func (s *Server) inboundPresence(to jid.JID, st *e2e.Stanza) {
	from := st.From.Bare().String()
	switch st.Type {
	case "probe":
		// RFC 6121 §4.3.2: answer only contacts subscribed to the user.
		sub := s.subscription(to.Localpart(), from)
		if sub != "from" && sub != "both" {
			return
		}
		for _, o := range s.sessions(to.Localpart()) {
			s.sendPresenceOf(o, st.From, func(p *e2e.Stanza) {
				if p.To.Domainpart() == s.domain {
					if c := s.session(p.To); c != nil {
						c.send(p)
					} else {
						s.presenceToBare(p.To.Bare(), p)
					}
					return
				}
				s.sendRemote(p.To.Domainpart(), p)
			})
		}
		return
	case "subscribe", "subscribed", "unsubscribe", "unsubscribed":
		s.inboundSubscription(to, st)
		return
	}
	s.presenceToBare(to, st)
}

func (s *Server) presenceToBare(to jid.JID, st *e2e.Stanza) {
	for _, c := range s.sessions(to.Localpart()) {
		c.mu.Lock()
		av := c.available
		c.mu.Unlock()
		if av {
			c.send(st)
		}
	}
}

// subNext gives the next subscription state of a user's roster item for a
// subscription presence the user sent (outbound) or received (RFC 6121
// §3, the states without the pending variants); absent entries leave the
// state unchanged.
var subNext = map[bool]map[string]map[string]string{
	true: {
		"subscribed":   {"none": "from", "to": "both"},
		"unsubscribe":  {"to": "none", "both": "from"},
		"unsubscribed": {"from": "none", "both": "to"},
	},
	false: {
		"subscribed":   {"none": "to", "from": "both"},
		"unsubscribe":  {"from": "none", "both": "to"},
		"unsubscribed": {"to": "none", "both": "from"},
	},
}

// updateSub applies a subscription presence to user's item about contact
// and returns the state before; s.mu must be held.
func (s *Server) updateSub(user jid.JID, contact, typ string, outbound bool) (cur string, it *rosterItem) {
	cur = "none"
	if it = s.roster[user.Localpart()][contact]; it != nil {
		cur = it.sub
	}
	if next, ok := subNext[outbound][typ][cur]; ok {
		s.setSub(user, contact, next)
	}
	return cur, s.roster[user.Localpart()][contact]
}

// outboundSubscription handles a subscription presence from a local user
// (RFC 6121 §3), updating the user's side of the roster.
func (s *Server) outboundSubscription(c *c2s, st *e2e.Stanza) {
	st.To = st.To.Bare()
	contact := st.To.String()
	user := c.jid.Bare()
	s.mu.Lock()
	cur, it := s.updateSub(user, contact, st.Type, true)
	switch st.Type {
	case "subscribe":
		if cur == "none" || cur == "from" {
			s.setSub(user, contact, cur)
			s.roster[user.Localpart()][contact].ask = true
		}
	case "subscribed", "unsubscribed":
		if it != nil {
			it.pendingIn = false
		}
	}
	s.mu.Unlock()
	s.route(st, true)
	if st.Type == "subscribed" {
		// Send the new subscriber our current presence.
		for _, o := range s.sessions(user.Localpart()) {
			s.sendPresenceOf(o, st.To, func(p *e2e.Stanza) { s.route(p, true) })
		}
	}
}

// inboundSubscription handles a subscription presence to a local user.
func (s *Server) inboundSubscription(to jid.JID, st *e2e.Stanza) {
	contact := st.From.Bare().String()
	s.mu.Lock()
	cur, _ := s.updateSub(to, contact, st.Type, false)
	deliver := true
	switch st.Type {
	case "subscribe":
		if cur == "from" || cur == "both" {
			// Already approved: answer for the user (RFC 6121 §3.1.3).
			s.mu.Unlock()
			s.route(&e2e.Stanza{Kind: e2e.Presence, Type: "subscribed", From: to, To: st.From.Bare()}, true)
			return
		}
		s.setSub(to, contact, cur)
		s.roster[to.Localpart()][contact].pendingIn = true
	case "subscribed":
		deliver = cur == "none" || cur == "from"
	}
	s.mu.Unlock()
	if deliver {
		s.presenceToBare(to, st)
	}
}
