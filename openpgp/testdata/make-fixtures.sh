#!/bin/sh
# make-fixtures.sh: regenerates the GnuPG-made fixtures in this directory.
# Run from this directory with GnuPG 2.2 (made with gpg (GnuPG) 2.2.40):
#
#	sh make-fixtures.sh
#
# Keys (no passphrase, never expire):
#	juliet.{sec,pub}.asc    Ed25519 + Cv25519  'Juliet <juliet@capulet.lit>'
#	romeo.{sec,pub}.asc     Ed25519 + Cv25519  'Romeo <romeo@montague.lit>'
#	mercutio.{sec,pub}.asc  Ed25519 + Cv25519  'Mercutio <mercutio@capulet.lit>'
#	juliet-rsa.{sec,pub}.asc  RSA-3072 + RSA-3072  'Juliet <juliet@capulet.lit>'
#	romeo-rsa.{sec,pub}.asc   RSA-3072 + RSA-3072  'Romeo <romeo@montague.lit>'
#	romeo-signonly.pub.asc  Ed25519 without an encryption subkey
#
# Payloads, each the content of an XEP-0027 <x/> element (armor stripped
# with sed, CRC line kept), made by gpg as Romeo:
#	msg-to-juliet.payload        body.txt encrypted to Juliet
#	msg-signed-to-juliet.payload body.txt signed by Romeo and encrypted to Juliet
#	msg-to-juliet-rsa.payload    body.txt encrypted to Juliet's RSA key
#	sig-text.payload             text-mode detached signature over status.txt
#	sig-binary.payload           binary detached signature over status.txt
#	sig-empty.payload            text-mode detached signature over the empty string
#	sig-crlf-binary.payload      binary detached signature over status-crlf.txt
#	                             (CRLF line ends; verified against its LF form)
#	sig-rsa.payload              text-mode detached signature by romeo-rsa over status.txt
set -eu
export GNUPGHOME="$(mktemp -d)"
trap 'gpgconf --kill gpg-agent; rm -rf "$GNUPGHOME"' EXIT
G() { gpg --batch --quiet --pinentry-mode loopback --passphrase '' "$@"; }

key() { # name uid algo
	G --quick-gen-key "$2" "$3" default never
	gpg --batch --armor --export "$2" > "$1.pub.asc"
	G --armor --export-secret-keys "$2" > "$1.sec.asc"
}
strip() { sed -e '1,/^$/d' -e '/^-----END/d'; }

key juliet 'Juliet <juliet@capulet.lit>' future-default
key romeo 'Romeo <romeo@montague.lit>' future-default
key mercutio 'Mercutio <mercutio@capulet.lit>' future-default

# RSA keys in a second home so that user IDs stay unambiguous.
MAIN="$GNUPGHOME"
export GNUPGHOME="$(mktemp -d)"
key juliet-rsa 'Juliet <juliet@capulet.lit>' default
key romeo-rsa 'Romeo <romeo@montague.lit>' default
G --quick-gen-key 'Signonly <signonly@montague.lit>' ed25519 sign never
gpg --batch --armor --export signonly@montague.lit > romeo-signonly.pub.asc
printf 'Online <&> ünï' > status.txt
gpg --batch --armor --textmode --detach-sign -u romeo@montague.lit -o - status.txt | strip > sig-rsa.payload
printf 'Hello Juliet <&> ünï' > body.txt
gpg --batch --trust-model always --armor --encrypt -r juliet@capulet.lit -o - body.txt | strip > msg-to-juliet-rsa.payload
gpgconf --kill gpg-agent
rm -rf "$GNUPGHOME"
export GNUPGHOME="$MAIN"

gpg --batch --trust-model always --armor --encrypt -r juliet@capulet.lit -o - body.txt | strip > msg-to-juliet.payload
G --trust-model always --armor --sign --encrypt -u romeo@montague.lit -r juliet@capulet.lit -o - body.txt | strip > msg-signed-to-juliet.payload

gpg --batch --armor --textmode --detach-sign -u romeo@montague.lit -o - status.txt | strip > sig-text.payload
gpg --batch --armor --detach-sign -u romeo@montague.lit -o - status.txt | strip > sig-binary.payload
printf '' > empty.txt
gpg --batch --armor --textmode --detach-sign -u romeo@montague.lit -o - empty.txt | strip > sig-empty.payload
rm empty.txt
printf 'Away\r\nback soon' > status-crlf.txt
gpg --batch --armor --detach-sign -u romeo@montague.lit -o - status-crlf.txt | strip > sig-crlf-binary.payload
