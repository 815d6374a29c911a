package interop_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop"
	"github.com/xmppe2e/xmppe2e/interop/toy"
)

func TestRealSmoke(t *testing.T) {
	t0 := time.Now()
	rep, err := interop.Run(context.Background(), interop.Options{Schemes: []e2e.Scheme{toy.Plain, toy.AEAD, toy.Bare}, Seed: 1, OutDir: "/tmp/hr", Samples: 5,
		NewNetwork: func(ctx context.Context) (interop.Network, error) { return interop.StartBuiltinNetwork(ctx) }})
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("took", time.Since(t0))
	for _, s := range rep.Schemes {
		fmt.Println("==", s.Name, s.Errors)
		for _, p := range s.Properties {
			fmt.Printf("  %-26s %-8s %-15s %s\n", p.Name, p.Result, p.Scenario, p.Detail)
		}
		for _, a := range s.Attacks {
			fmt.Printf("  ATTACK %-15s %s | %s\n", a.Name, a.Outcome, a.Detail)
		}
		fmt.Printf("  costs %+v\n", s.Costs)
	}
}
