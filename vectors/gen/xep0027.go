package gen

import (
	"context"
	"fmt"
)

func init() {
	crafters["openpgp"] = append(crafters["openpgp"], craftXEP0027)
}

// The payloads of XEP-0027's own examples, as the XEP prints them: a v3 DSA
// signature over "Online" (§2) and "Hi" encrypted to an ElGamal key (§3),
// both by keys nobody has. Their checksums are right; they are legacy
// negatives: a receiver must refuse them cleanly.
const (
	xep0027Sig = `
iQA/AwUBOjU5dnol3d88qZ77EQI2JACfRngLJ045brNnaCX78ykKNUZaTIoAoPHI
2uJxPMGR73EBIvEpcv0LRSy+
=45f8
  `
	xep0027Msg = `
    qANQR1DBwU4DX7jmYZnncmUQB/9KuKBddzQH+tZ1ZywKK0yHKnq57kWq+RFtQdCJ
    WpdWpR0uQsuJe7+vh3NWn59/gTc5MDlX8dS9p0ovStmNcyLhxVgmqS8ZKhsblVeu
    IpQ0JgavABqibJolc3BKrVtVV1igKiX/N7Pi8RtY1K18toaMDhdEfhBRzO/XB0+P
    AQhYlRjNacGcslkhXqNjK5Va4tuOAPy2n1Q8UUrHbUd0g+xJ9Bm0G0LZXyvCWyKH
    kuNEHFQiLuCY6Iv0myq6iX6tjuHehZlFSh80b5BVV9tNLwNR5Eqz1klxMhoghJOA
    w7R61cCPt8KSd8Vcl8K+StqOMZ5wkhosVjUqvEu8uJ9RupdpB/4m9E3gOQZCBsmq
    OsX4/jJhn2wIsfYYWdqkbNKnuYoKCnwrlmn6I+wX72p0R8tTv8peNCwK9bEtL/XS
    mhn4bCxoUkCITv3k8a+Jdvbov9ucduKSFuCBq4/l0fpHmPhHQjkFofxmaWJveFfF
    619NXyYyCfoLTmWk2AaTHVCjtKdf1WmwcTa0vFfk8BuFHkdah6kJJiJ7w/yNwa/E
    O6CMymuZTr/LpcKKWrWCt+SErxqmq8ekPI8h7oNwMxZBYAa7OJ1rXWKNgL9pDtNI
    824Mf0mXj7q5N1eMHvX1QEoKLAda/Ae3TTEevOyeUK1DEgvxfM2KRZ11RzU+XtIE
    My/bJk7EycAw8P/QKyeNlO1fxP58VEd6Gb8NCPqKOYn/LKh1O+c20ZNVEPFM4bNV
    XA4hB4UtFF7Ao8kpdlrUqdKyw4lEtnmdemYQ6+iIIVPEarWl9PxOMY90KAnZrSAq
    bt9uRY/1rPgelRaWblMKvxgpRO8++Y8VjdEyGgMOXxOiE851Ve72ftGzkSxDH8mW
    TgY3pf2aATmBp3lagQ1COkGS/xupovT5AQPA3RzbCxDvc6s6eGYKmVVQVj5vmSj1
    WULad5MB9KT1DzCm6FOSy063nWGBYYMWiejRvGLpo1j4eAnj0qOt7rTWmgv3RkYF
    Oin0vDOhW7aC
    =CvnG`
)

// craftXEP0027 puts the XEP's examples in stanzas from juliet to romeo.
func craftXEP0027(ctx context.Context, rec *Recording) ([]Crafted, error) {
	const from, to = "juliet@capulet.lit/balcony", "romeo@montague.lit/orchard"
	return []Crafted{
		{Name: "xep0027-presence", Comment: "XEP-0027 §2 signed presence (v3 DSA signature by an unknown key)", Flags: []string{"SpecExample", "Legacy"},
			Sender: "juliet", Receiver: "romeo", Producer: "XEP-0027 §2 example",
			Wire: []string{fmt.Sprintf(`<presence xmlns='jabber:client' from='%s' to='%s'><status>Online</status><x xmlns='jabber:x:signed'>%s</x></presence>`, from, to, xep0027Sig)}},
		{Name: "xep0027-message", Comment: "XEP-0027 §3 encrypted message (v3 PKESK to an unknown ElGamal key, no MDC)", Flags: []string{"SpecExample", "Legacy"},
			Sender: "juliet", Receiver: "romeo", Producer: "XEP-0027 §3 example",
			Wire: []string{fmt.Sprintf(`<message xmlns='jabber:client' from='%s' to='%s'><body>This message is encrypted.</body><x xmlns='jabber:x:encrypted'>%s</x></message>`, from, to, xep0027Msg)}},
	}, nil
}
