package main

import (
	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/jose"
	"github.com/xmppe2e/xmppe2e/openpgp"
	"github.com/xmppe2e/xmppe2e/otr"
	"github.com/xmppe2e/xmppe2e/smime"
)

// schemes is the explicit list of schemes the CLI offers, in report order.
// A third-party scheme plugs in by being added here; there is no registry.
var schemes = []e2e.Scheme{
	openpgp.Scheme,
	smime.Scheme, smime.StrictScheme,
	otr.Scheme,
	jose.Scheme,
}
