"""python3-potr playing juliet for the otr vectors (vectors/gen/potr.go).

argv[1] is juliet's private key in libotr's s-expression form (the vector
files' identity). stdin: one JSON string per line, an OTR message from the Go
side or a command (!query, !send TEXT); stdout: per line, one JSON list of
what potr sends back.

python3-potr 1.0.2 targets PyCrypto; Debian pairs it with pycryptodome, which
lacks the calls potr makes for DSA and AES-CTR. They are replaced at run time,
in this process only, as in otr/testdata/interop/potr_peer.py.
"""
import json
import logging
import re
import sys

from potr import context
import potr.crypt as pcrypt
from potr.compatcrypto import pycrypto as pc
from Cryptodome.Cipher import AES

logging.basicConfig(level=logging.CRITICAL)


def dsa_sign(self, data):
    # OTR signs the 32-byte MAC as one integer (not truncated to q's size).
    r, s = self.priv._sign(pc.bytes_to_long(data), pc.randrange(2, self.priv.q))
    return pc.long_to_bytes(r, 20) + pc.long_to_bytes(s, 20)


def dsa_verify(self, data, sig):
    return self.pub._verify(pc.bytes_to_long(data), (pc.bytes_to_long(sig[:20]), pc.bytes_to_long(sig[20:])))


def aes_ctr(key, counter=0):
    top = counter if isinstance(counter, int) else counter.prefix
    return AES.new(key, AES.MODE_CTR, nonce=top.to_bytes(8, 'big'), initial_value=0)


pc.DSAKey.sign = dsa_sign
pc.DSAKey.verify = dsa_verify
pcrypt.AESCTR = aes_ctr

with open(sys.argv[1]) as f:
    SEXP = f.read()
NUM = {k: int(v, 16) for k, v in re.findall(r'\((p|q|g|y|x) #([0-9A-Fa-f]+)#?\)', SEXP)}
outbox = []


class Ctx(context.Context):
    def getPolicy(self, key):
        return key in ('ALLOW_V2',)

    def inject(self, msg, appdata=None):
        outbox.append(msg.decode() if isinstance(msg, bytes) else msg)


class Acct(context.Account):
    contextclass = Ctx

    def __init__(self):
        super().__init__('juliet@capulet.lit/balcony', 'xmpp', 0)

    def loadPrivkey(self):
        return pc.DSAKey((NUM['y'], NUM['g'], NUM['p'], NUM['q'], NUM['x']), private=True)

    def savePrivkey(self):
        pass

    def saveTrusts(self):
        pass


acct = Acct()
ctx = acct.getContext('romeo@montague.lit/orchard')
for raw in sys.stdin:
    line = json.loads(raw)
    if line == '!query':
        outbox.append(acct.getDefaultQueryMessage(ctx.getPolicy).decode())
    elif line.startswith('!send '):
        ctx.sendMessage(context.FRAGMENT_SEND_ALL, line[6:].encode())
    elif line == '!state':
        outbox.append('STATE ' + str(ctx.state))
    else:
        ctx.receiveMessage(line.encode())
    print(json.dumps(outbox), flush=True)
    outbox.clear()
