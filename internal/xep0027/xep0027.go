// Package xep0027 holds the two example payloads that XEP-0027 (Current
// Jabber OpenPGP Usage) prints, byte for byte as the XEP lays them out, so
// that the openpgp tests and the vector generator share one copy.
//
// Both were made by keys nobody has: they cannot be verified or decrypted.
// Their ASCII-armor checksums are right, and they use legacy packets (a v3
// signature; a v3 PKESK to ElGamal and tag-9 data without MDC), so they are
// negatives: a receiver must refuse them cleanly. They are the text content
// of the jabber:x:signed and jabber:x:encrypted elements, armor stripped.
package xep0027

// Signature is the content of the jabber:x:signed element of XEP-0027 §2
// (signed presence, status "Online"): a v3 DSA text signature (sigclass 0x01)
// by key 7A25DDDF3CA99EFB, 66 bytes, armor checksum =45f8. The leading
// newline and the trailing two spaces are the XEP's layout.
const Signature = `
iQA/AwUBOjU5dnol3d88qZ77EQI2JACfRngLJ045brNnaCX78ykKNUZaTIoAoPHI
2uJxPMGR73EBIvEpcv0LRSy+
=45f8
  `

// Message is the content of the jabber:x:encrypted element of XEP-0027 §3
// (the body "Hi" encrypted): a marker packet, a v3 PKESK to ElGamal key
// 5FB8E66199E77265 and a tag-9 symmetrically encrypted packet without MDC,
// 777 bytes, armor checksum =CvnG. It keeps the XEP's indentation, with the
// checksum line directly before </x>.
const Message = `
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
