"""The python3-jwcrypto side of the jose codec's interop tests.

Reads one JSON request on stdin, writes one JSON answer on stdout. Keys are
JWKs (JSON objects); binary values are base64url. It handles the <e2e/> XML
itself (ElementTree), so whole payloads cross, not only JOSE objects.
Run by jose/interop_test.go with Debian's /usr/bin/python3.
"""
import base64
import json
import sys
import xml.etree.ElementTree as ET

from jwcrypto import jwe, jwk, jws
from jwcrypto.common import json_encode

NS = "urn:ietf:params:xml:ns:xmpp-e2e:6"
ALGS = ["A256KW", "A128KW", "RSA-OAEP", "RSA-OAEP-256", "RSA1_5",
        "A256CBC-HS512", "A128CBC-HS256", "A256GCM", "A128GCM"]


def b64d(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64e(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def key(obj):
    return jwk.JWK(**obj)


def parts(xml, names, local="e2e"):
    root = ET.fromstring(xml)
    el = root.find("{%s}%s" % (NS, local))
    out = []
    for n in names:
        c = el.find("{%s}%s" % (NS, n))
        out.append("".join((c.text or "").split()))
    return root, el, ".".join(out)


def decrypt(compact, k):
    t = jwe.JWE()
    t.allowed_algs = ALGS
    t.deserialize(compact, key=key(k))
    return t.payload, json.loads(t.objects["protected"])


def main():
    req = json.load(sys.stdin)
    op = req["op"]
    if op == "decrypt_compact":
        pt, hdr = decrypt(req["compact"], req["key"])
        return {"plaintext": b64e(pt), "header": hdr}
    if op == "encrypt_compact":
        t = jwe.JWE(b64d(req["plaintext"]), json_encode(req["header"]))
        t.allowed_algs = ALGS
        t.add_recipient(key(req["key"]))
        return {"compact": t.serialize(compact=True)}
    if op == "sign_compact":
        s = jws.JWS(b64d(req["payload"]))
        s.add_signature(key(req["key"]), None, json_encode(req["header"]))
        return {"compact": s.serialize(compact=True)}
    if op == "verify_compact":
        v = jws.JWS()
        v.deserialize(req["compact"])
        v.verify(key(req["key"]), alg=req["alg"])
        return {"payload": b64e(v.payload)}
    if op == "encrypt_general":
        t = jwe.JWE(b64d(req["plaintext"]), json_encode({"enc": req["enc"]}))
        for r in req["recipients"]:
            t.add_recipient(key(r["key"]), json_encode(r["header"]))
        return {"json": t.serialize()}
    if op == "decrypt_general":
        pt, _ = decrypt(req["json"], req["key"])
        return {"plaintext": b64e(pt)}
    if op == "open_e2e":
        # A whole wire stanza: <e2e type='enc'> under an SMK, or a
        # <keyreq/> response under the device key.
        local = req.get("element", "e2e")
        root, el, compact = parts(req["xml"], ["encheader", "cmk", "iv", "data", "mac"], local)
        pt, hdr = decrypt(compact, req["key"])
        if local == "e2e" and hdr.get("kid") != el.get("id"):
            raise ValueError("kid is not the SID")
        return {"plaintext": b64e(pt), "header": hdr, "from": root.get("from"), "id": el.get("id")}
    if op == "verify_e2e":
        root, el, compact = parts(req["xml"], ["sigheader", "data", "sig"])
        v = jws.JWS()
        v.deserialize(compact)
        v.verify(key(req["key"]), alg=req["alg"])
        return {"payload": b64e(v.payload)}
    if op == "seal_e2e":
        # Build the envelope and the wire stanza from scratch.
        env = ("<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='%s'/>%s</forwarded>"
               % (req["stamp"], req["stanza"])).encode()
        k = req["key"]
        t = jwe.JWE(env, json_encode({"alg": req["alg"], "enc": req["enc"], "kid": k["kid"]}))
        t.add_recipient(key(k))
        p = t.serialize(compact=True).split(".")
        kids = "".join("<%s>%s</%s>" % (n, v, n) for n, v in zip(["encheader", "cmk", "iv", "data", "mac"], p))
        xml = ("<message xmlns='jabber:client' from='%s' to='%s' type='chat' id='py1'>"
               "<e2e xmlns='%s' type='enc' id='%s'>%s</e2e></message>" % (req["from"], req["to"], NS, k["kid"], kids))
        return {"xml": xml}
    if op == "sign_e2e":
        env = ("<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='%s'/>%s</forwarded>"
               % (req["stamp"], req["stanza"])).encode()
        s = jws.JWS(env)
        s.add_signature(key(req["key"]), None, json_encode({"alg": req["alg"], "kid": req["kid"]}))
        p = s.serialize(compact=True).split(".")
        kids = "".join("<%s>%s</%s>" % (n, v, n) for n, v in zip(["sigheader", "data", "sig"], p))
        xml = ("<message xmlns='jabber:client' from='%s' to='%s' type='chat' id='py2'>"
               "<e2e xmlns='%s' type='sig'>%s</e2e></message>" % (req["from"], req["to"], NS, kids))
        return {"xml": xml}
    if op == "answer_keyreq":
        # The sender's side of -06 §5.2: take the requester's pkey, send the
        # SMK as a JWK encrypted to it.
        root, el, _ = parts(req["xml"], [], "keyreq")
        pkey = "".join((el.find("{%s}pkey" % NS).text or "").split())
        ks = jwk.JWKSet.from_json(b64d(pkey))
        dev = list(ks["keys"])[0]
        smk = req["smk"]
        t = jwe.JWE(json.dumps(smk).encode(), json_encode(
            {"alg": "RSA-OAEP", "enc": req["enc"], "kid": dev.get("kid"), "cty": "application/jwk+json"}))
        t.add_recipient(dev)
        p = t.serialize(compact=True).split(".")
        kids = "".join("<%s>%s</%s>" % (n, v, n) for n, v in zip(["encheader", "cmk", "iv", "data", "mac"], p))
        xml = ("<iq xmlns='jabber:client' type='result' id='%s' from='%s' to='%s'>"
               "<keyreq xmlns='%s' id='%s'>%s</keyreq></iq>"
               % (root.get("id"), root.get("to"), root.get("from"), NS, el.get("id"), kids))
        return {"xml": xml}
    raise ValueError("unknown op " + op)


if __name__ == "__main__":
    json.dump(main(), sys.stdout)
