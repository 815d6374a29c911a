package xtls_test

import (
	"testing"

	"github.com/xmppe2e/xmppe2e/e2e/e2etest"
	"github.com/xmppe2e/xmppe2e/xtls"
)

func TestConformance(t *testing.T) {
	e2etest.TestScheme(t, xtls.Scheme)
}
