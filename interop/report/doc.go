// Package report is the model of a harness run (xmppe2e compare) and its
// renderings: JSON for tools, Markdown for documents, an HTML page with SVG
// charts (property matrix, wire overhead, latency) for people, and terminal
// tables.
//
// Every property of every scheme carries the scenario that decided it and
// the transcript file kept as evidence, with the scheme's own claim and the
// published expectations beside it:
//
//	rep, _ := interop.Run(ctx, opts)
//	report.WriteFile("report.json", rep.WriteJSON)
//	rep.WriteHTMLDir("html") // html/index.html
package report
