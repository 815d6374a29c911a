package interop_test

import (
	"context"
	"fmt"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop"
	"github.com/xmppe2e/xmppe2e/interop/toy"
)

// Run the harness over the in-memory network with the weak toy scheme and
// read two of its marks with the scenarios that decided them.
func Example() {
	rep, err := interop.Run(context.Background(), interop.Options{
		Schemes: []e2e.Scheme{toy.Bare},
		Seed:    1,
		Only:    []string{"exchange", "replay"},
	})
	if err != nil {
		panic(err)
	}
	s := rep.Schemes[0]
	for _, name := range []e2e.Property{e2e.Confidentiality, e2e.ReplayProtection} {
		p := s.Property(string(name))
		fmt.Println(p.Name, p.Result, "by", p.Scenario)
	}
	fmt.Println("replay:", s.Attack("replay").Outcome)
	// Output:
	// confidentiality holds by exchange
	// replay-protection fails by replay
	// replay: accepted
}
