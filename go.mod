module github.com/xmppe2e/xmppe2e

go 1.26.0

require (
	golang.org/x/text v0.43.0
	mellium.im/sasl v0.3.2
	mellium.im/xmlstream v0.15.4
	mellium.im/xmpp v0.22.0
	modernc.org/sqlite v1.61.1
)

require (
	github.com/ProtonMail/go-crypto v1.5.2
	github.com/coyim/otr3 v0.0.0-20251201172118-4568b9acbc7c
	github.com/go-jose/go-jose/v4 v4.1.8
	github.com/rogpeppe/go-internal v1.16.0
	github.com/smallstep/pkcs7 v0.2.3
	golang.org/x/net v0.61.0
)

require (
	github.com/awnumar/memcall v0.5.0 // indirect
	github.com/cloudflare/circl v1.6.3 // indirect
	github.com/coyim/constbn v0.0.0-20251201142907-b19b950d1e1c // indirect
	github.com/dustin/go-humanize v1.1.0 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/mattn/go-isatty v0.0.24 // indirect
	github.com/ncruces/go-strftime v1.1.0 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/crypto v0.58.0 // indirect
	golang.org/x/mod v0.42.0 // indirect
	golang.org/x/sync v0.24.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/tools v0.52.0 // indirect
	mellium.im/reader v0.1.0 // indirect
	modernc.org/libc v1.79.0 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)
