#!/usr/bin/python3
"""A line-oriented OTR peer on Debian's python3-potr (OTR v2 only), for the
interop tests of package otr.

stdin:  one JSON string per line: an OTR line from the Go side, or a command:
        !query  !send TEXT  !smp SECRET  !smpq QUESTION<TAB>SECRET  !end
stdout: per input line: MSG <json> (to deliver to the Go side), PLAIN <json>
        (text potr decrypted), EV <text> (events), then END.
argv:   SMP_SECRET (answer to the Go side's SMP); env POTR_MMS fragments
        potr's output at that many bytes.

python3-potr 1.0.2 targets PyCrypto; Debian pairs it with pycryptodome, which
dropped the calls potr makes for DSA keys, DSA signatures and AES-CTR. The
patches below replace them at run time, in this process only.
"""
import json, logging, os, sys

from potr import context, proto
import potr.crypt as pcrypt
from potr.compatcrypto import pycrypto as pc
from Cryptodome.Cipher import AES
from Cryptodome.PublicKey import DSA

logging.basicConfig(level=logging.CRITICAL)


def as_int(data):
    # OTR signs the 32-byte AKE MAC as one integer reduced mod q by the DSA
    # arithmetic, not truncated to q's bit length (FIPS 186-3 style).
    return pc.bytes_to_long(data)


def dsa_generate(cls):
    k = DSA.generate(1024)
    return cls((k.y, k.g, k.p, k.q, k.x), private=True)


def dsa_sign(self, data):
    r, s = self.priv._sign(as_int(data), pc.randrange(2, self.priv.q))
    return pc.long_to_bytes(r, 20) + pc.long_to_bytes(s, 20)


def dsa_verify(self, data, sig):
    return self.pub._verify(as_int(data), (pc.bytes_to_long(sig[:20]), pc.bytes_to_long(sig[20:])))


def aes_ctr(key, counter=0):
    top = counter if isinstance(counter, int) else counter.prefix
    return AES.new(key, AES.MODE_CTR, nonce=top.to_bytes(8, 'big'), initial_value=0)


pc.DSAKey.generate = classmethod(dsa_generate)
pc.DSAKey.sign = dsa_sign
pc.DSAKey.verify = dsa_verify
pcrypt.AESCTR = aes_ctr

SECRET = sys.argv[1].encode() if len(sys.argv) > 1 else b''
outbox = []


class Ctx(context.Context):
    def getPolicy(self, key):
        return key in ('ALLOW_V2', 'WHITESPACE_START_AKE', 'ERROR_START_AKE')

    def inject(self, msg, appdata=None):
        outbox.append(msg.decode() if isinstance(msg, bytes) else msg)


class Acct(context.Account):
    contextclass = Ctx

    def __init__(self):
        super().__init__('romeo@montague.lit/potr', 'xmpp', int(os.environ.get('POTR_MMS', '0')))

    def loadPrivkey(self):
        return None

    def savePrivkey(self):
        pass

    def saveTrusts(self):
        pass


def out(kind, s):
    print(kind, json.dumps(s) if kind in ('MSG', 'PLAIN') else s)


acct = Acct()
ctx = acct.getContext('juliet@capulet.lit/balcony')
out('EV', 'FP ours ' + acct.getPrivkey().cfingerprint())
print('END', flush=True)
last_smp = None
for raw in sys.stdin:
    line = json.loads(raw)
    try:
        if line == '!query':
            outbox.append(acct.getDefaultQueryMessage(ctx.getPolicy).decode())
        elif line.startswith('!send '):
            ctx.sendMessage(context.FRAGMENT_SEND_ALL, line[6:].encode())
        elif line.startswith('!smp '):
            ctx.smpInit(line[5:].encode())
        elif line.startswith('!smpq '):
            q, s = line[6:].split('\t', 1)
            ctx.smpInit(s.encode(), question=q.encode())
        elif line == '!end':
            ctx.disconnect()
        else:
            plain, tlvs = ctx.receiveMessage(line.encode())
            if plain:
                out('PLAIN', plain.decode())
            for t in tlvs or []:
                if isinstance(t, (proto.SMP1TLV, proto.SMP1QTLV)):
                    q = t.msg.decode() if isinstance(t, proto.SMP1QTLV) else ''
                    out('EV', 'SMP asked ' + json.dumps(q))
                    ctx.smpGotSecret(SECRET)
                if isinstance(t, proto.DisconnectTLV):
                    out('EV', 'PeerEnded')
    except Exception as e:  # potr reports plaintext, errors and unreadable messages this way
        out('EV', 'EXC ' + type(e).__name__)
    if ctx.state == context.STATE_ENCRYPTED and ctx.getCurrentKey() is not None:
        out('EV', 'FP theirs ' + ctx.getCurrentKey().cfingerprint())
        out('EV', 'STATE encrypted')
    elif ctx.state == context.STATE_FINISHED:
        out('EV', 'STATE finished')
    smp = ctx.crypto.smp if ctx.crypto else None
    r = {1: 'succeeded', -1: 'failed', -2: 'cheated'}.get(smp.prog) if smp else None
    if r is not None and r != last_smp:
        out('EV', 'SMP result ' + r)
    last_smp = r
    for m in outbox:
        out('MSG', m)
    outbox.clear()
    print('END', flush=True)
