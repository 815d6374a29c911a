// Package interop is the harness behind `xmppe2e compare`: it runs every
// end-to-end scheme between juliet@capulet.lit/balcony and
// romeo@montague.lit/orchard over a network of XMPP servers, attacks each one
// from a malicious server on the path, and reports what each scheme really
// provides and costs.
//
// A run is a list of scenarios (see Scenarios), each a small script over a
// Network: exchanges, offline delivery, two devices, carbons, and attacks by
// the server of capulet.lit (replay, reorder, drop, tamper, truncate,
// signature stripping, re-addressing to mercutio@capulet.lit, downgrade,
// forgery, long-term key compromise, post-compromise recovery). Every
// scenario writes its transcript (engine steps, session verdicts and the
// wiretap of every server) as evidence, and every property in the report
// names the scenario that decided it.
//
//	rep, err := interop.Run(ctx, interop.Options{
//		Schemes: []e2e.Scheme{openpgp.Scheme, otr.Scheme},
//		Seed:    1,
//		OutDir:  "evidence",
//	})
//	rep.WriteJSON(os.Stdout)
//
// The built-in network of package interop/server is the production Network;
// MemNetwork routes in memory by the same rules for fast tests.
package interop
