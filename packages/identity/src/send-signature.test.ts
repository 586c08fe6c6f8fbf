import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { parseIpv6Address } from './ipv6-address';
import { exportPublicKeyDer, generateRsaKeyPair } from './rsa-keys';
import {
  SEND_CGA_MESSAGE_TYPE_TAG,
  sendKeyHash,
  sendSignedData,
  signSendMessage,
  verifySendMessage,
} from './send-signature';

const source = parseIpv6Address('fe80::3c4a:5bf6:ffb4:ca6c')!;
const destination = parseIpv6Address('ff02::1:ff00:1')!;
/** A Neighbor Solicitation (type 135) with a checksum, target, and one option before the signature. */
const icmpMessage = new Uint8Array([
  135,
  0,
  0xab,
  0xcd,
  0,
  0,
  0,
  0,
  ...parseIpv6Address('fe80::1')!,
  14,
  1,
  1,
  2,
  3,
  4,
  5,
  6,
]);

describe('SeND RSA Signature (RFC 3971 5.2)', () => {
  const keys = generateRsaKeyPair();
  const publicKeyDer = exportPublicKeyDer(keys.publicKey);
  const other = generateRsaKeyPair();

  it('uses the IANA CGA Message Type tag of SeND', () => {
    expect(Buffer.from(SEND_CGA_MESSAGE_TYPE_TAG).toString('hex')).toBe('086fca5e10b200c99c8ce00164277c08');
  });

  it('signs tag ‖ source ‖ destination ‖ ICMP message with the checksum zeroed', () => {
    const data = sendSignedData({ source, destination, icmpMessage });
    expect(data.length).toBe(48 + icmpMessage.length);
    expect(Buffer.from(data.subarray(0, 16)).equals(Buffer.from(SEND_CGA_MESSAGE_TYPE_TAG))).toBe(true);
    expect(Buffer.from(data.subarray(16, 32)).equals(Buffer.from(source))).toBe(true);
    expect(Buffer.from(data.subarray(32, 48)).equals(Buffer.from(destination))).toBe(true);
    expect([...data.subarray(48, 52)]).toEqual([135, 0, 0, 0]);
    expect(Buffer.from(data.subarray(52)).equals(Buffer.from(icmpMessage.subarray(4)))).toBe(true);
  });

  it('the Key Hash is the leftmost 128 bits of SHA-1 over the SubjectPublicKeyInfo DER', () => {
    expect(sendKeyHash(publicKeyDer).length).toBe(16);
    expect(Buffer.from(sendKeyHash(publicKeyDer)).toString('hex')).toBe(
      createHash('sha1').update(publicKeyDer).digest('hex').slice(0, 32),
    );
  });

  it('verifies its own signature (256 bytes for RSA-2048), whatever the checksum became', () => {
    const signature = signSendMessage({ source, destination, icmpMessage, privateKey: keys.privateKey });
    expect(signature.length).toBe(256);
    const keyHash = sendKeyHash(publicKeyDer);
    expect(verifySendMessage({ source, destination, icmpMessage, signature, publicKeyDer, keyHash })).toEqual(
      { ok: true },
    );
    const rechecksummed = icmpMessage.slice();
    rechecksummed[2] = 0x12;
    rechecksummed[3] = 0x34;
    expect(
      verifySendMessage({ source, destination, icmpMessage: rechecksummed, signature, publicKeyDer }).ok,
    ).toBe(true);
  });

  it('rejects forgeries: a flipped bit anywhere, another address, another key, a wrong key hash', () => {
    const signature = signSendMessage({ source, destination, icmpMessage, privateKey: keys.privateKey });
    for (let index = 0; index < icmpMessage.length; index += 1) {
      if (index === 2 || index === 3) continue; // the checksum is signed as zero
      const forged = icmpMessage.slice();
      forged[index]! ^= 0x01;
      expect(
        verifySendMessage({ source, destination, icmpMessage: forged, signature, publicKeyDer }),
      ).toEqual({
        ok: false,
        reason: 'bad-signature',
      });
    }
    for (const bit of [0, 100, 2047]) {
      const forged = signature.slice();
      forged[bit >> 3]! ^= 1 << (bit & 7);
      expect(
        verifySendMessage({ source, destination, icmpMessage, signature: forged, publicKeyDer }).ok,
      ).toBe(false);
    }
    expect(
      verifySendMessage({ source: destination, destination: source, icmpMessage, signature, publicKeyDer })
        .ok,
    ).toBe(false);
    const otherDer = exportPublicKeyDer(other.publicKey);
    expect(
      verifySendMessage({ source, destination, icmpMessage, signature, publicKeyDer: otherDer }),
    ).toEqual({
      ok: false,
      reason: 'bad-signature',
    });
    expect(
      verifySendMessage({
        source,
        destination,
        icmpMessage,
        signature,
        publicKeyDer,
        keyHash: sendKeyHash(otherDer),
      }),
    ).toEqual({ ok: false, reason: 'key-hash-mismatch' });
  });

  it('refuses malformed input without throwing, as malformed', () => {
    const signature = signSendMessage({ source, destination, icmpMessage, privateKey: keys.privateKey });
    const malformed = { ok: false, reason: 'malformed' };
    expect(
      verifySendMessage({ source, destination, icmpMessage, signature, publicKeyDer: new Uint8Array(10) }),
    ).toEqual(malformed);
    expect(
      verifySendMessage({ source: source.subarray(1), destination, icmpMessage, signature, publicKeyDer }),
    ).toEqual(malformed);
    expect(
      verifySendMessage({
        source,
        destination: destination.subarray(1),
        icmpMessage,
        signature,
        publicKeyDer,
      }),
    ).toEqual(malformed);
    expect(
      verifySendMessage({ source, destination, icmpMessage: new Uint8Array(3), signature, publicKeyDer }),
    ).toEqual(malformed);
  });

  it('refuses a key that is not RSA, even with a signature that key made (an ECDSA key would verify)', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const ecDer = new Uint8Array(ec.publicKey.export({ format: 'der', type: 'spki' }));
    const signature = new Uint8Array(
      sign('sha1', sendSignedData({ source, destination, icmpMessage }), ec.privateKey),
    );
    expect(verifySendMessage({ source, destination, icmpMessage, signature, publicKeyDer: ecDer })).toEqual({
      ok: false,
      reason: 'malformed',
    });
  });
});
