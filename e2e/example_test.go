package e2e_test

import (
	"fmt"

	"github.com/xmppe2e/xmppe2e/e2e"
)

func ExampleParse() {
	st, err := e2e.Parse([]byte(`<message xmlns='jabber:client' to='romeo@montague.lit' type='chat'>
	  <body>Wherefore art thou?</body>
	  <x xmlns="urn:example:unknown" a="1"><y>kept</y></x>
	</message>`))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(st.Kind, st.To, st.Body())
	st.SetBody("[encrypted]")
	fmt.Println(st)
	// Output:
	// message romeo@montague.lit Wherefore art thou?
	// <message xmlns='jabber:client' to='romeo@montague.lit' type='chat'><body>[encrypted]</body><x xmlns='urn:example:unknown' a='1'><y>kept</y></x></message>
}

func ExampleClassOf() {
	_, err := e2e.Parse([]byte("<message xmlns='jabber:client'><body>unclosed"))
	fmt.Println(e2e.ClassOf(err))
	// Output: malformed
}
