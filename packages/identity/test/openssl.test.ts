/**
 * Interoperability with OpenSSL: our certificate, RSA (SeND) signatures and Ed25519 signatures are
 * checked by the openssl command, and OpenSSL's signatures are checked by our code.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canRun } from '@capsule/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createSelfSignedCertificate,
  exportControllerPublicKeyPem,
  exportPublicKeyDer,
  exportPublicKeyPem,
  FLOW_AUTHORIZATION_SIGNED_LENGTH,
  generateCgaSync,
  generateControllerKey,
  generateRsaKeyPair,
  importControllerPrivateKey,
  importRsaPrivateKey,
  parseIpv6Address,
  parseSubnetPrefix64,
  sendSignedData,
  signEd25519,
  signFlowAuthorization,
  signSendMessage,
  verifyCga,
  verifyFlowAuthorization,
  verifySendMessage,
} from '../src/index';

const dir = mkdtempSync(join(tmpdir(), 'capsule-identity-openssl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content?: string | Uint8Array) => {
  const path = join(dir, name);
  if (content !== undefined) writeFileSync(path, content);
  return path;
};
const openssl = (...args: string[]) =>
  execFileSync('openssl', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe.skipIf(!canRun({ tools: ['openssl'] }))('openssl accepts our artefacts, we accept its', () => {
  const rsa = generateRsaKeyPair();

  it('parses the self-signed certificate and shows the subject and subjectAltName', async () => {
    const cert = file(
      'cert.pem',
      await createSelfSignedCertificate(rsa, { hostName: 'agent-7.capsule.test' }),
    );
    const text = openssl('x509', '-in', cert, '-noout', '-text');
    expect(text).toMatch(/Subject: CN ?= ?agent-7\.capsule\.test/);
    expect(text).toMatch(/DNS:agent-7\.capsule\.test/);
    expect(text).toMatch(/sha256WithRSAEncryption/);
    expect(text).toMatch(/Public-Key: \(2048 bit\)/);
  });

  it('verifies the self-signed certificate against itself', async () => {
    const cert = file('cert2.pem', await createSelfSignedCertificate(rsa, { hostName: 'engine-1' }));
    expect(openssl('verify', '-CAfile', cert, cert)).toMatch(/: OK/);
  });

  it('verifies our SeND RSA signature (SHA-1, PKCS#1 v1.5), and we verify one openssl made', () => {
    const source = parseIpv6Address('fe80::3c4a:5bf6:ffb4:ca6c')!;
    const destination = parseIpv6Address('ff02::1')!;
    const icmpMessage = new Uint8Array([
      136,
      0,
      0x12,
      0x34,
      0x60,
      0,
      0,
      0,
      ...source,
      14,
      1,
      6,
      5,
      4,
      3,
      2,
      1,
    ]);
    const input = { source, destination, icmpMessage };
    const data = file('signed.bin', sendSignedData(input));
    const publicPem = file('rsa-public.pem', exportPublicKeyPem(rsa.publicKey));
    const ours = file('ours.sig', signSendMessage({ ...input, privateKey: rsa.privateKey }));
    expect(openssl('dgst', '-sha1', '-verify', publicPem, '-signature', ours, data)).toMatch(/Verified OK/);
    expect(
      openssl(
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        publicPem,
        '-sigfile',
        ours,
        '-in',
        file('digest.bin', sha1OfFile(data)),
        '-pkeyopt',
        'digest:sha1',
      ),
    ).toMatch(/Signature Verified Successfully/);
    // the other way: openssl generates the key and signs; we build its CGA and verify
    const privatePem = file('openssl-rsa.pem');
    openssl('genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', privatePem);
    const theirs = file('theirs.sig');
    openssl('dgst', '-sha1', '-sign', privatePem, '-out', theirs, data);
    const theirKey = importRsaPrivateKey(readFileSync(privatePem, 'utf8'));
    const theirDer = exportPublicKeyDer(theirKey);
    const theirCga = generateCgaSync({
      publicKey: theirDer,
      subnetPrefix: parseSubnetPrefix64('fe80::'),
      sec: 1,
    });
    expect(verifyCga(theirCga.address, theirCga.parametersBytes).ok).toBe(true);
    expect(verifySendMessage({ ...input, signature: readFileSync(theirs), publicKeyDer: theirDer })).toEqual({
      ok: true,
    });
  });

  it('verifies our Ed25519 flow authorization signature with pkeyutl -rawin, and we verify one openssl made', () => {
    const controller = generateControllerKey();
    const body = {
      serial: 7n,
      notBefore: 1000,
      notAfter: 2000,
      domainId: 1,
      contractId: 2,
      roleId: 3,
      sourceHostId: new Uint8Array(16).fill(0xfe),
      logicHash: new Uint8Array(32).fill(0xab),
    };
    const authorization = signFlowAuthorization(body, controller);
    const message = file('auth-body.bin', authorization.subarray(0, FLOW_AUTHORIZATION_SIGNED_LENGTH));
    const signature = file('auth.sig', authorization.subarray(FLOW_AUTHORIZATION_SIGNED_LENGTH));
    const publicPem = file('controller-public.pem', exportControllerPublicKeyPem(controller));
    expect(
      openssl(
        'pkeyutl',
        '-verify',
        '-pubin',
        '-inkey',
        publicPem,
        '-rawin',
        '-in',
        message,
        '-sigfile',
        signature,
      ),
    ).toMatch(/Signature Verified Successfully/);
    // openssl's key and signature, our verifier
    const privatePem = file('openssl-ed25519.pem');
    openssl('genpkey', '-algorithm', 'ed25519', '-out', privatePem);
    const theirs = importControllerPrivateKey(readFileSync(privatePem, 'utf8'));
    const unsigned = signFlowAuthorization(body, theirs); // our layout with their key id
    const theirMessage = file('their-body.bin', unsigned.subarray(0, FLOW_AUTHORIZATION_SIGNED_LENGTH));
    const theirSignature = file('their.sig');
    openssl('pkeyutl', '-sign', '-inkey', privatePem, '-rawin', '-in', theirMessage, '-out', theirSignature);
    const assembled = unsigned.slice();
    assembled.set(readFileSync(theirSignature), FLOW_AUTHORIZATION_SIGNED_LENGTH);
    expect(Buffer.from(assembled).equals(Buffer.from(unsigned))).toBe(true); // Ed25519 is deterministic
    expect(verifyFlowAuthorization(assembled, theirs, 1500)).toMatchObject({ ok: true });
    // and a plain message
    const plain = file('plain.bin', 'hello capsule');
    const plainSig = file('plain.sig');
    openssl('pkeyutl', '-sign', '-inkey', privatePem, '-rawin', '-in', plain, '-out', plainSig);
    expect(
      Buffer.from(signEd25519(theirs.privateKey, readFileSync(plain))).equals(readFileSync(plainSig)),
    ).toBe(true);
  });
});

function sha1OfFile(path: string): Uint8Array {
  return new Uint8Array(execFileSync('openssl', ['dgst', '-sha1', '-binary', path]));
}
