package main

import (
	"errors"
	"flag"
)

var compareCmd = &command{
	name:    "compare",
	args:    "[flags]",
	summary: "Run every scheme over the built-in XMPP network, attack it, and report measured properties and costs.",
	flags: func(fs *flag.FlagSet, e *env) func() error {
		return func() error {
			return errors.New("the harness (package interop) is not built yet")
		}
	},
}
