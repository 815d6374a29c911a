// The npm `jose` side of the jose codec's interop tests: one JSON request on
// stdin, one JSON answer on stdout (same operations as
// ../interop/jwcrypto_peer.py). Keys are JWKs; binary values base64url.
// Run by jose/interop_test.go after `npm ci --prefix jose/testdata/js`.
import * as jose from 'jose';

const NS = 'urn:ietf:params:xml:ns:xmpp-e2e:6';
const opts = {
  keyManagementAlgorithms: ['A256KW', 'A128KW', 'RSA-OAEP', 'RSA-OAEP-256'],
  contentEncryptionAlgorithms: ['A256CBC-HS512', 'A128CBC-HS256', 'A256GCM', 'A128GCM'],
};
const b64d = (s) => Buffer.from(s, 'base64url');
const b64e = (b) => Buffer.from(b).toString('base64url');

// text of <name>…</name> inside the first <local …>…</local>, whitespace
// stripped (test-only XML handling: the stanzas come from our codec).
function child(xml, local, name) {
  const outer = xml.match(new RegExp(`<${local}\\b[^>]*>([\\s\\S]*?)</${local}>`));
  if (!outer) throw new Error(`no <${local}/>`);
  const m = outer[1].match(new RegExp(`<${name}\\b[^>]*>([\\s\\S]*?)</${name}>`));
  if (!m) throw new Error(`no <${name}/>`);
  return m[1].replace(/\s+/g, '');
}
const attr = (xml, local, name) => {
  const m = xml.match(new RegExp(`<${local}\\b[^>]*\\s${name}=['"]([^'"]*)['"]`));
  return m ? m[1] : undefined;
};
const imp = (k, alg) => jose.importJWK(k, alg ?? k.alg);
const envelope = (stamp, stanza) => new TextEncoder().encode(
  `<forwarded xmlns='urn:xmpp:forward:0'><delay xmlns='urn:xmpp:delay' stamp='${stamp}'/>${stanza}</forwarded>`);
const elems = (names, compact) => compact.split('.').map((v, i) => `<${names[i]}>${v}</${names[i]}>`).join('');
const jweNames = ['encheader', 'cmk', 'iv', 'data', 'mac'];

async function decryptCompact(compact, k) {
  const hdr = JSON.parse(b64d(compact.split('.')[0]).toString());
  const { plaintext, protectedHeader } = await jose.compactDecrypt(compact, await imp(k, hdr.alg), opts);
  return { plaintext: b64e(plaintext), header: protectedHeader };
}

const ops = {
  async decrypt_compact(r) { return decryptCompact(r.compact, r.key); },
  async encrypt_compact(r) {
    const c = await new jose.CompactEncrypt(b64d(r.plaintext)).setProtectedHeader(r.header).encrypt(await imp(r.key, r.header.alg));
    return { compact: c };
  },
  async sign_compact(r) {
    return { compact: await new jose.CompactSign(b64d(r.payload)).setProtectedHeader(r.header).sign(await imp(r.key, r.header.alg)) };
  },
  async verify_compact(r) {
    const { payload } = await jose.compactVerify(r.compact, await imp(r.key, r.alg), { algorithms: [r.alg] });
    return { payload: b64e(payload) };
  },
  async encrypt_general(r) {
    const g = new jose.GeneralEncrypt(b64d(r.plaintext)).setProtectedHeader({ enc: r.enc });
    for (const x of r.recipients) g.addRecipient(await imp(x.key, x.header.alg)).setUnprotectedHeader(x.header);
    return { json: JSON.stringify(await g.encrypt()) };
  },
  async decrypt_general(r) {
    const js = JSON.parse(r.json);
    const mine = js.recipients.find((x) => x.header?.kid === r.key.kid);
    const { plaintext } = await jose.generalDecrypt(js, await imp(r.key, mine.header.alg), opts);
    return { plaintext: b64e(plaintext) };
  },
  async open_e2e(r) {
    const local = r.element ?? 'e2e';
    const compact = jweNames.map((n) => child(r.xml, local, n)).join('.');
    const out = await decryptCompact(compact, r.key);
    const id = attr(r.xml, local, 'id');
    if (local === 'e2e' && out.header.kid !== id) throw new Error('kid is not the SID');
    return { ...out, id };
  },
  async verify_e2e(r) {
    const compact = ['sigheader', 'data', 'sig'].map((n) => child(r.xml, 'e2e', n)).join('.');
    return ops.verify_compact({ compact, key: r.key, alg: r.alg });
  },
  async seal_e2e(r) {
    const c = await new jose.CompactEncrypt(envelope(r.stamp, r.stanza))
      .setProtectedHeader({ alg: r.alg, enc: r.enc, kid: r.key.kid }).encrypt(await imp(r.key, r.alg));
    return { xml: `<message xmlns='jabber:client' from='${r.from}' to='${r.to}' type='chat' id='js1'><e2e xmlns='${NS}' type='enc' id='${r.key.kid}'>${elems(jweNames, c)}</e2e></message>` };
  },
  async sign_e2e(r) {
    const c = await new jose.CompactSign(envelope(r.stamp, r.stanza)).setProtectedHeader({ alg: r.alg, kid: r.kid }).sign(await imp(r.key, r.alg));
    return { xml: `<message xmlns='jabber:client' from='${r.from}' to='${r.to}' type='chat' id='js2'><e2e xmlns='${NS}' type='sig'>${elems(['sigheader', 'data', 'sig'], c)}</e2e></message>` };
  },
  async answer_keyreq(r) {
    const set = JSON.parse(b64d(child(r.xml, 'keyreq', 'pkey')).toString());
    const dev = set.keys[0];
    const c = await new jose.CompactEncrypt(new TextEncoder().encode(JSON.stringify(r.smk)))
      .setProtectedHeader({ alg: 'RSA-OAEP', enc: r.enc, kid: dev.kid, cty: 'application/jwk+json' })
      .encrypt(await imp(dev, 'RSA-OAEP'));
    const id = attr(r.xml, 'iq', 'id'), from = attr(r.xml, 'iq', 'from'), to = attr(r.xml, 'iq', 'to');
    const sid = attr(r.xml, 'keyreq', 'id');
    return { xml: `<iq xmlns='jabber:client' type='result' id='${id}' from='${to}' to='${from}'><keyreq xmlns='${NS}' id='${sid}'>${elems(jweNames, c)}</keyreq></iq>` };
  },
};

let input = '';
for await (const chunk of process.stdin) input += chunk;
const req = JSON.parse(input);
process.stdout.write(JSON.stringify(await ops[req.op](req)));
