module github.com/xmppe2e/xmppe2e

go 1.26

require (
	github.com/ProtonMail/go-crypto v1.5.2
	github.com/coyim/otr3 v0.0.0-20251201172118-4568b9acbc7c
	github.com/go-jose/go-jose/v4 v4.1.8
	github.com/rogpeppe/go-internal v1.16.0
	github.com/smallstep/pkcs7 v0.2.3
	mellium.im/xmlstream v0.15.4
	mellium.im/xmpp v0.22.0
)

require (
	github.com/awnumar/memcall v0.5.0 // indirect
	github.com/cloudflare/circl v1.6.3 // indirect
	github.com/coyim/constbn v0.0.0-20251201142907-b19b950d1e1c // indirect
	golang.org/x/crypto v0.41.0 // indirect
	golang.org/x/net v0.42.0 // indirect
	golang.org/x/sys v0.35.0 // indirect
	golang.org/x/text v0.28.0 // indirect
	golang.org/x/tools v0.35.0 // indirect
	mellium.im/reader v0.1.0 // indirect
)
