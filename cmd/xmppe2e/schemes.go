package main

import "github.com/xmppe2e/xmppe2e/e2e"

// schemes is the explicit list of schemes the CLI offers, in report order.
// A third-party scheme plugs in by being added here; there is no registry.
var schemes = []e2e.Scheme{}
