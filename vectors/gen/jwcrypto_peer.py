"""python3-jwcrypto playing juliet for the jose vectors (vectors/gen/jwcrypto.go).

One JSON request on stdin, one JSON answer on stdout. The script builds the
draft-miller-xmpp-e2e wire itself: the <forwarded/> envelope, the JOSE object
(by jwcrypto) and the stanza around it. Run with Debian's /usr/bin/python3.
"""
import base64
import importlib.metadata
import json
import sys
import uuid
import xml.etree.ElementTree as ET

from jwcrypto import jwe, jwk, jws
from jwcrypto.common import json_encode

NS = "urn:ietf:params:xml:ns:xmpp-e2e:6"
JWE_PARTS = ["encheader", "cmk", "iv", "data", "mac"]
JWS_PARTS = ["sigheader", "data", "sig"]


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def envelope(req):
    return ("<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='%s'/>%s</forwarded>"
            % (req["stamp"], req["stanza"])).encode()


def children(names, compact):
    return "".join("<%s>%s</%s>" % (n, v, n) for n, v in zip(names, compact.split(".")))


def main():
    req = json.load(sys.stdin)
    op = req["op"]
    if op == "version":
        return {"version": importlib.metadata.version("jwcrypto")}
    if op == "seal":
        # A fresh SMK of jwcrypto's making, the stanza's JWE under it.
        sid = str(uuid.uuid4())
        smk = jwk.JWK.generate(kty="oct", size=256, kid=sid, alg="A256KW")
        t = jwe.JWE(envelope(req), json_encode({"alg": "A256KW", "enc": req["enc"], "kid": sid}))
        t.add_recipient(smk)
        xml = ("<message xmlns='jabber:client' from='%s' to='%s' type='chat' id='%s'>"
               "<e2e xmlns='%s' type='enc' id='%s'>%s</e2e></message>"
               % (req["from"], req["to"], req["id"], NS, sid, children(JWE_PARTS, t.serialize(compact=True))))
        return {"xml": xml, "smk": json.loads(smk.export())}
    if op == "sign":
        s = jws.JWS(envelope(req))
        s.add_signature(jwk.JWK(**req["key"]), None, json_encode({"alg": req["alg"], "kid": req["kid"]}))
        xml = ("<message xmlns='jabber:client' from='%s' to='%s' type='chat' id='%s'>"
               "<e2e xmlns='%s' type='sig'>%s</e2e></message>"
               % (req["from"], req["to"], req["id"], NS, children(JWS_PARTS, s.serialize(compact=True))))
        return {"xml": xml}
    if op == "answer_keyreq":
        # -06 §5.2: the SMK as a JWK, encrypted to the key the requester offers.
        root = ET.fromstring(req["xml"])
        el = root.find("{%s}keyreq" % NS)
        pkey = "".join((el.find("{%s}pkey" % NS).text or "").split())
        dev = list(jwk.JWKSet.from_json(b64d(pkey))["keys"])[0]
        t = jwe.JWE(json.dumps(req["smk"]).encode(), json_encode(
            {"alg": "RSA-OAEP", "enc": req["enc"], "kid": dev.get("kid"), "cty": "application/jwk+json"}))
        t.add_recipient(dev)
        xml = ("<iq xmlns='jabber:client' type='result' id='%s' from='%s' to='%s'>"
               "<keyreq xmlns='%s' id='%s'>%s</keyreq></iq>"
               % (root.get("id"), root.get("to"), root.get("from"), NS, el.get("id"),
                  children(JWE_PARTS, t.serialize(compact=True))))
        return {"xml": xml}
    raise ValueError("unknown op " + op)


if __name__ == "__main__":
    json.dump(main(), sys.stdout)
