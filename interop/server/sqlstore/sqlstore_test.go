package sqlstore

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/xmppe2e/xmppe2e/interop/server"
)

func TestSurvivesReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	c, err := server.NewCredentials("pw", 64)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.SetCredentials("juliet", c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Credentials("romeo"); !errors.Is(err, server.ErrNoUser) {
		t.Fatalf("unknown user: %v", err)
	}
	for _, m := range []string{"<message/>", "<message id='2'/>"} {
		if err := s.PushOffline("juliet", []byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Credentials("juliet")
	if err != nil || !got.Check("pw") || got.Check("wrong") {
		t.Fatalf("credentials after reopen: %v", err)
	}
	if n, _ := s.CountOffline("juliet"); n != 2 {
		t.Fatalf("%d offline", n)
	}
	msgs, err := s.PopOffline("juliet")
	if err != nil || len(msgs) != 2 || string(msgs[1]) != "<message id='2'/>" {
		t.Fatalf("pop: %q %v", msgs, err)
	}
	if n, _ := s.CountOffline("juliet"); n != 0 {
		t.Fatalf("%d offline after pop", n)
	}
}
