package interop_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop"
	"github.com/xmppe2e/xmppe2e/interop/toy"
)

func TestSmoke(t *testing.T) {
	rep, err := interop.Run(context.Background(), interop.Options{Schemes: []e2e.Scheme{toy.Plain, toy.AEAD, toy.Bare}, Seed: 1, OutDir: "/tmp/h", Samples: 5})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rep.Schemes {
		fmt.Println("==", s.Name, s.Errors)
		for _, p := range s.Properties {
			fmt.Printf("  %-26s %-8s %-15s %s\n", p.Name, p.Result, p.Scenario, p.Detail)
		}
		for _, a := range s.Attacks {
			fmt.Printf("  ATTACK %-15s %s | %s\n", a.Name, a.Outcome, a.Detail)
		}
		fmt.Printf("  costs %+v\n  md %+v\n", s.Costs, s.Metadata)
	}
}
