// Package vectors holds the xmppe2e test vectors: JSON files, one per scheme,
// that any implementation of XEP-0027, RFC 3923, OTR, XTLS or the JOSE draft
// can run, and the code that runs them against an e2e.Scheme.
//
//	files, _ := vectors.Embedded()
//	for _, o := range vectors.Verify(ctx, openpgp.Scheme, files["openpgp"]) {
//		if !o.Passed() { fmt.Println(o.Vector.TcID, o.Err) }
//	}
//
// The format is documented in README.md beside the files and in
// vectors.schema.json; package gen makes the files.
package vectors
