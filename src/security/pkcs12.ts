/**
 * The certificates of a PKCS#12 truststore (ssl.truststore.type=PKCS12). Node loads a PKCS#12 keystore (key and
 * chain) through its `pfx` option, but not a store holding certificates only, which is what a truststore is; so
 * kfk reads the certificate bags itself (RFC 7292) and hands them to TLS as PEM trust anchors.
 *
 * Supported: unencrypted bags, PBES2 (PBKDF2 with HMAC-SHA1/224/256/384/512, AES-128/192/256-CBC or 3DES-CBC;
 * what OpenSSL 3 and keytool since JDK 12 write) and pbeWithSHAAnd3-KeyTripleDES-CBC; pbeWithSHAAnd40BitRC2-CBC
 * (old keytool default) when this Node's OpenSSL still offers RC2. With a password, the store's MAC is verified
 * (HMAC with the PKCS#12 key derivation), as Java does; without one, as Java, it is not.
 */
import { createDecipheriv, createHash, createHmac, pbkdf2Sync, timingSafeEqual } from 'node:crypto';
import { Tag, children, expectTag, integerValue, oidString, parseDer, type DerNode } from './der.js';

export class Pkcs12Error extends Error {
  override readonly name = 'Pkcs12Error';
}

const OID = {
  data: '1.2.840.113549.1.7.1',
  encryptedData: '1.2.840.113549.1.7.6',
  certBag: '1.2.840.113549.1.12.10.1.3',
  x509Certificate: '1.2.840.113549.1.9.22.1',
  pbes2: '1.2.840.113549.1.5.13',
  pbkdf2: '1.2.840.113549.1.5.12',
  pbeSha3Des: '1.2.840.113549.1.12.1.3',
  pbeShaRc2_40: '1.2.840.113549.1.12.1.6',
  pbeShaRc2_128: '1.2.840.113549.1.12.1.5',
} as const;

const PRF_HASHES: Readonly<Record<string, string>> = {
  '1.2.840.113549.2.7': 'sha1',
  '1.2.840.113549.2.8': 'sha224',
  '1.2.840.113549.2.9': 'sha256',
  '1.2.840.113549.2.10': 'sha384',
  '1.2.840.113549.2.11': 'sha512',
};

const DIGEST_HASHES: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.4': 'sha224',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

const CIPHERS: Readonly<Record<string, { name: string; keyLength: number }>> = {
  '2.16.840.1.101.3.4.1.2': { name: 'aes-128-cbc', keyLength: 16 },
  '2.16.840.1.101.3.4.1.22': { name: 'aes-192-cbc', keyLength: 24 },
  '2.16.840.1.101.3.4.1.42': { name: 'aes-256-cbc', keyLength: 32 },
  '1.2.840.113549.3.7': { name: 'des-ede3-cbc', keyLength: 24 },
};

function hashSizes(hash: string): { u: number; v: number } {
  const u = createHash(hash).digest().length;
  return { u, v: hash === 'sha384' || hash === 'sha512' ? 128 : 64 };
}

/** The password as PKCS#12 wants it for its own key derivation: UTF-16BE with a two-byte terminator. */
function bmpPassword(password: string): Buffer {
  const le = Buffer.from(`${password}\u0000`, 'utf16le');
  return Buffer.from(le).swap16();
}

/** RFC 7292 appendix B.2: ID 1 = key, 2 = IV, 3 = MAC key. */
export function pkcs12Kdf(hash: string, password: Buffer, salt: Buffer, iterations: number, id: number, n: number): Buffer {
  const { u, v } = hashSizes(hash);
  const fill = (src: Buffer): Buffer => {
    if (src.length === 0) return Buffer.alloc(0);
    const out = Buffer.alloc(v * Math.ceil(src.length / v));
    for (let i = 0; i < out.length; i++) out[i] = src[i % src.length]!;
    return out;
  };
  const D = Buffer.alloc(v, id);
  const I = Buffer.concat([fill(salt), fill(password)]);
  const out: Buffer[] = [];
  for (let produced = 0; produced < n; produced += u) {
    let A = createHash(hash).update(D).update(I).digest();
    for (let r = 1; r < iterations; r++) A = createHash(hash).update(A).digest();
    out.push(A);
    const B = Buffer.alloc(v);
    for (let i = 0; i < v; i++) B[i] = A[i % u]!;
    for (let j = 0; j < I.length; j += v) {
      let carry = 1;
      for (let k = v - 1; k >= 0; k--) {
        const sum = I[j + k]! + B[k]! + carry;
        I[j + k] = sum & 0xff;
        carry = sum >>> 8;
      }
    }
  }
  return Buffer.concat(out).subarray(0, n);
}

function explicitContent(node: DerNode | undefined, what: string): DerNode {
  if (node === undefined || node.tag !== 0xa0) throw new Pkcs12Error(`${what}: missing [0] content`);
  const [inner] = children(node);
  if (inner === undefined) throw new Pkcs12Error(`${what}: empty [0] content`);
  return inner;
}

/** The bytes of an OCTET STRING, also in its constructed (BER) form. */
function octets(node: DerNode): Buffer {
  if (node.tag === Tag.OCTET_STRING || node.tag === 0x80) return node.content;
  if (node.tag === 0x24 || node.tag === 0xa0) return Buffer.concat(children(node).map(octets));
  throw new Pkcs12Error(`expected an OCTET STRING, got tag 0x${node.tag.toString(16)}`);
}

function decrypt(algorithm: DerNode, data: Buffer, password: string | null): Buffer {
  const [oidNode, params] = children(expectTag(algorithm, Tag.SEQUENCE, 'encryption algorithm'));
  const oid = oidString(oidNode!);
  const pw = password ?? '';
  if (oid === OID.pbes2) {
    const [kdf, scheme] = children(expectTag(params, Tag.SEQUENCE, 'PBES2 parameters'));
    const [kdfOid, kdfParams] = children(expectTag(kdf, Tag.SEQUENCE, 'PBES2 key derivation'));
    if (oidString(kdfOid!) !== OID.pbkdf2) throw new Pkcs12Error(`unsupported PBES2 key derivation ${oidString(kdfOid!)}`);
    const kp = children(expectTag(kdfParams, Tag.SEQUENCE, 'PBKDF2 parameters'));
    const salt = expectTag(kp[0], Tag.OCTET_STRING, 'PBKDF2 salt').content;
    const iterations = integerValue(kp[1]!);
    let prf = 'sha1';
    for (const extra of kp.slice(2)) {
      if (extra.tag === Tag.SEQUENCE) {
        const prfOid = oidString(children(extra)[0]!);
        const h = PRF_HASHES[prfOid];
        if (h === undefined) throw new Pkcs12Error(`unsupported PBKDF2 PRF ${prfOid}`);
        prf = h;
      }
    }
    const [schemeOid, iv] = children(expectTag(scheme, Tag.SEQUENCE, 'PBES2 encryption scheme'));
    const cipher = CIPHERS[oidString(schemeOid!)];
    if (cipher === undefined) throw new Pkcs12Error(`unsupported PBES2 cipher ${oidString(schemeOid!)}`);
    const key = pbkdf2Sync(Buffer.from(pw, 'utf8'), salt, iterations, cipher.keyLength, prf);
    return decipher(cipher.name, key, expectTag(iv, Tag.OCTET_STRING, 'IV').content, data);
  }
  if (oid === OID.pbeSha3Des || oid === OID.pbeShaRc2_40 || oid === OID.pbeShaRc2_128) {
    const [saltNode, iterNode] = children(expectTag(params, Tag.SEQUENCE, 'PBE parameters'));
    const salt = expectTag(saltNode, Tag.OCTET_STRING, 'PBE salt').content;
    const iterations = integerValue(iterNode!);
    const bmp = bmpPassword(pw);
    const [name, keyLength] = oid === OID.pbeSha3Des ? ['des-ede3-cbc', 24] : oid === OID.pbeShaRc2_40 ? ['rc2-40-cbc', 5] : ['rc2-cbc', 16];
    const key = pkcs12Kdf('sha1', bmp, salt, iterations, 1, keyLength);
    const iv = pkcs12Kdf('sha1', bmp, salt, iterations, 2, 8);
    return decipher(name, key, iv, data);
  }
  throw new Pkcs12Error(`unsupported encryption ${oid}`);
}

function decipher(name: string, key: Buffer, iv: Buffer, data: Buffer): Buffer {
  let d;
  try {
    d = createDecipheriv(name, key, iv);
  } catch (err) {
    // RC2 (old keytool's default for certificates) is gone from OpenSSL 3's default provider
    throw new Pkcs12Error(
      `it is encrypted with ${name}, which this Node's OpenSSL no longer offers (${(err as Error).message}); convert it to PEM ` +
        `('openssl pkcs12 -legacy -in <file> -nokeys -out ca.pem', then ssl.truststore.type=PEM) or re-create it with a current keytool`,
    );
  }
  try {
    return Buffer.concat([d.update(data), d.final()]);
  } catch {
    throw new Pkcs12Error('cannot decrypt the certificates: wrong password');
  }
}

function verifyMac(macData: DerNode, authSafe: Buffer, password: string): void {
  const [digestInfo, saltNode, iterNode] = children(expectTag(macData, Tag.SEQUENCE, 'MacData'));
  const [alg, digestNode] = children(expectTag(digestInfo, Tag.SEQUENCE, 'DigestInfo'));
  const hashOid = oidString(children(expectTag(alg, Tag.SEQUENCE, 'digest algorithm'))[0]!);
  const hash = DIGEST_HASHES[hashOid];
  if (hash === undefined) throw new Pkcs12Error(`unsupported MAC digest ${hashOid}`);
  const salt = expectTag(saltNode, Tag.OCTET_STRING, 'MAC salt').content;
  const iterations = iterNode ? integerValue(iterNode) : 1;
  const { u } = hashSizes(hash);
  const key = pkcs12Kdf(hash, bmpPassword(password), salt, iterations, 3, u);
  const mac = createHmac(hash, key).update(authSafe).digest();
  const expected = expectTag(digestNode, Tag.OCTET_STRING, 'MAC digest').content;
  if (mac.length !== expected.length || !timingSafeEqual(mac, expected)) {
    throw new Pkcs12Error('integrity check failed: wrong password, or the file is corrupt');
  }
}

function certificatesOfSafeContents(safeContents: Buffer, out: Buffer[]): void {
  for (const bag of children(expectTag(parseDer(safeContents), Tag.SEQUENCE, 'SafeContents'))) {
    const [bagId, bagValue] = children(expectTag(bag, Tag.SEQUENCE, 'SafeBag'));
    if (oidString(bagId!) !== OID.certBag) continue; // keys, CRLs, secrets: not trust anchors
    const [certId, certValue] = children(expectTag(explicitContent(bagValue, 'CertBag'), Tag.SEQUENCE, 'CertBag'));
    if (oidString(certId!) !== OID.x509Certificate) continue;
    out.push(octets(explicitContent(certValue, 'certificate value')));
  }
}

/** The DER certificates of a PKCS#12 file. Throws Pkcs12Error with a reason (never the password). */
export function pkcs12Certificates(file: Buffer, password: string | null): Buffer[] {
  let pfx: DerNode[];
  try {
    pfx = children(expectTag(parseDer(file), Tag.SEQUENCE, 'PFX'));
  } catch (err) {
    throw new Pkcs12Error(`not a PKCS#12 file (${(err as Error).message})`);
  }
  const [versionNode, authSafeInfo, macData] = pfx;
  if (integerValue(versionNode!) !== 3) throw new Pkcs12Error('not a PKCS#12 v3 file');
  const [contentType, content] = children(expectTag(authSafeInfo, Tag.SEQUENCE, 'authSafe'));
  if (oidString(contentType!) !== OID.data) throw new Pkcs12Error('public-key integrity mode is not supported');
  const authSafe = octets(explicitContent(content, 'authSafe'));
  if (password !== null && password !== '' && macData !== undefined) verifyMac(macData, authSafe, password);
  const certs: Buffer[] = [];
  for (const info of children(expectTag(parseDer(authSafe), Tag.SEQUENCE, 'AuthenticatedSafe'))) {
    const [type, value] = children(expectTag(info, Tag.SEQUENCE, 'ContentInfo'));
    const oid = oidString(type!);
    if (oid === OID.data) {
      certificatesOfSafeContents(octets(explicitContent(value, 'data')), certs);
    } else if (oid === OID.encryptedData) {
      const [, encryptedContentInfo] = children(expectTag(explicitContent(value, 'encryptedData'), Tag.SEQUENCE, 'EncryptedData'));
      const [, algorithm, encrypted] = children(expectTag(encryptedContentInfo, Tag.SEQUENCE, 'EncryptedContentInfo'));
      if (encrypted === undefined) continue;
      certificatesOfSafeContents(decrypt(algorithm!, octets(encrypted), password), certs);
    }
  }
  return certs;
}

/** DER certificates as one PEM string (Node's `ca` option). */
export function certificatesToPem(certs: readonly Buffer[]): string {
  return certs
    .map((der) => {
      const b64 = der.toString('base64').replace(/.{1,64}/g, '$&\n');
      return `-----BEGIN CERTIFICATE-----\n${b64}-----END CERTIFICATE-----\n`;
    })
    .join('');
}
