// Package server is the built-in XMPP network of the xmppe2e harness: XMPP
// servers with real STARTTLS, SASL (SCRAM-SHA-256, SCRAM-SHA-1, PLAIN),
// resource binding, RFC 6121 presence and routing, offline storage,
// carbons, and server-to-server links authenticated by SASL EXTERNAL
// (XEP-0178, RFC 6125 identity checks) or Server Dialback (XEP-0220).
//
// Every server records each stanza it routes (the wiretap: raw bytes,
// parsed stanza, hop and stream protection), and interceptors let a test
// turn a server malicious: drop, delay, reorder, duplicate or rewrite
// stanzas at a chosen hop.
//
// StartNetwork starts the standard test network: capulet.lit (juliet,
// mercutio) and montague.lit (romeo), federated on loopback, every account
// mutually subscribed, certificates from a fresh test CA:
//
//	n, err := server.StartNetwork(ctx, server.NetworkConfig{})
//	defer n.Close()
//	juliet, _ := n.Account("juliet") // JID, Password, Addr, RootCAs for a client
//	...
//	report := n.Path(e2e.Message, "msg-1") // every hop of a delivered stanza
//	fmt.Print(report)
//
// The stream layer is our own (mellium.im/xmpp v0.22.0's receiving side
// cannot negotiate s2s streams or run a router): an encoding/xml decoder
// per stream over a recording reader, and one bounded write queue per
// stream drained by one writer goroutine, so a slow peer never blocks
// routing for longer than 5 s (then the stanza bounces).
package server
