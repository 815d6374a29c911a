// Package client is the harness's XMPP client: it logs in with
// mellium.im/xmpp (STARTTLS, SASL, resource binding that honours the
// requested resource), reads stanzas in its own loop, and carries one
// e2e.Session per peer: SendEncrypted passes outbound stanzas through
// Encrypt, inbound stanzas from the peer go through Receive, the replies
// are sent, and what was opened reaches the application as an Event.
//
//	c, err := client.Login(ctx, client.Config{
//		JID: jid.MustParse("juliet@capulet.lit/balcony"), Password: pw,
//		Addr: addr, RootCAs: roots,
//	})
//	defer c.Close()
//	c.SetSession(romeo, sess)                  // an e2e.Session for romeo
//	c.SendEncrypted(ctx, msg)                   // msg.To = romeo's JID
//	for ev := range c.Events() { use(ev.Opened) }
//
// Close goes offline; Login again (with the same or another resource) comes
// back online or adds a second device.
package client
