package interop_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e"
	"github.com/xmppe2e/xmppe2e/interop"
	"github.com/xmppe2e/xmppe2e/interop/toy"
)

func TestOnly(t *testing.T) {
	only := strings.Split(os.Getenv("ONLY"), ",")
	for i := 0; i < 3; i++ {
		rep, err := interop.Run(context.Background(), interop.Options{Schemes: []e2e.Scheme{toy.AEAD}, Seed: 1, OutDir: "/tmp/ho", Samples: 5, Only: only,
			NewNetwork: func(ctx context.Context) (interop.Network, error) { return interop.StartBuiltinNetwork(ctx) }})
		if err != nil {
			t.Fatal(err)
		}
		fmt.Println(rep.Schemes[0].Errors, rep.Schemes[0].Costs.Overhead)
	}
}
