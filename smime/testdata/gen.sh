#!/bin/sh
# Regenerates the OpenSSL-made fixtures of package smime: a test CA, three
# CA-issued identities with id-on-xmppAddr SANs, and openssl cms output that
# the tests verify and decrypt without OpenSSL. Run from this directory
# (go test -run TestGenerateFixtures -update ./smime/ runs it). Needs
# OpenSSL 3. Every command that made a committed file is below.
set -eu
umask 077
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# The test CA.
openssl req -x509 -newkey rsa:2048 -nodes -days 36500 -sha256 \
  -subj "/CN=xmppe2e test CA" -keyout "$tmp/ca.key" -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
cp "$tmp/ca.key" ca.key

# CA-issued identities: PEM private key, then certificate.
serial=1000
for who in juliet@capulet.lit romeo@montague.lit mercutio@capulet.lit; do
  n=${who%%@*}
  serial=$((serial + 1))
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$who" -keyout "$tmp/$n.key" -out "$tmp/$n.csr" 2>/dev/null
  cat > "$tmp/$n.ext" <<EXT
basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=emailProtection
subjectAltName=otherName:1.3.6.1.5.5.7.8.5;UTF8:$who,URI:im:$who,URI:pres:$who
EXT
  openssl x509 -req -in "$tmp/$n.csr" -CA ca.pem -CAkey ca.key -set_serial $serial -days 36500 -sha256 \
    -extfile "$tmp/$n.ext" -out "$tmp/$n.crt" 2>/dev/null
  openssl pkey -in "$tmp/$n.key" -out "$tmp/$n.pkcs8"
  cat "$tmp/$n.pkcs8" "$tmp/$n.crt" > "ca-$n.pem"
  cp "$tmp/$n.crt" "ca-$n.crt"
done
openssl x509 -in ca-juliet.crt -noout -ext subjectAltName

# The RFC 3923 §3.1 inner object (typos fixed), CRLF line ends, stamped now.
now=$(date -u +%Y-%m-%dT%H:%M:%S.000Z)
printf 'Content-Type: Message/CPIM\r\n\r\nFrom: Juliet Capulet <im:juliet@capulet.lit>\r\nTo: Romeo Montague <im:romeo@montague.lit>\r\nDateTime: %s\r\nSubject: Imploring\r\n\r\nContent-Type: text/plain; charset=utf-8\r\nContent-ID: <1234567890@capulet.lit>\r\n\r\nWherefore art thou, Romeo?\r\n' "$now" > cpim.txt

J="-signer ca-juliet.crt -inkey ca-juliet.pem"
R=ca-romeo.crt
openssl cms -sign -binary -md sha256 -in cpim.txt $J -out ossl-signed-sha256.eml
openssl cms -sign -binary -md sha1 -in cpim.txt $J -out ossl-signed-sha1.eml
openssl cms -encrypt -binary -aes128 -in cpim.txt -out ossl-enc-aes128.eml $R
openssl cms -encrypt -binary -aes256 -in cpim.txt -out ossl-enc-aes256.eml $R
openssl cms -encrypt -binary -des3 -in cpim.txt -out ossl-enc-des3.eml $R
openssl cms -encrypt -binary -aes128 -recip $R -keyopt rsa_padding_mode:oaep -in cpim.txt -out ossl-enc-oaep.eml
openssl cms -encrypt -binary -aes128 -recip $R -keyopt rsa_padding_mode:oaep -keyopt rsa_oaep_md:sha256 \
  -keyopt rsa_mgf1_md:sha256 -in cpim.txt -out ossl-enc-oaep256.eml
openssl cms -encrypt -binary -aes-128-gcm -in cpim.txt -out ossl-enc-gcm128.eml $R
openssl cms -encrypt -binary -aes-256-gcm -in cpim.txt -out ossl-enc-gcm256.eml $R
openssl cms -encrypt -binary -aes128 -in ossl-signed-sha256.eml -out ossl-signenc-aes128.eml $R
openssl cms -encrypt -binary -aes-128-gcm -in ossl-signed-sha256.eml -out ossl-signenc-gcm128.eml $R
# BER: streamed (indefinite-length) output.
openssl cms -sign -binary -stream -md sha256 -in cpim.txt $J -out ossl-signed-stream.eml
openssl cms -encrypt -binary -stream -aes128 -in ossl-signed-stream.eml -out ossl-signenc-stream.eml $R
echo "$now" > cpim.datetime
