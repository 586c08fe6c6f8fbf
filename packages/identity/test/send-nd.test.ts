/**
 * A whole SeND-protected Neighbor Solicitation, built with @capsule/wire's ND codecs and protected
 * with @capsule/identity: CGA option, Timestamp, Nonce, RSA Signature, checksum last. The receiver
 * side runs every check the security brief lists (CGA, signature, timestamp, nonce).
 */
import {
  decodeNdMessage,
  encodeNdMessage,
  icmpv6Checksum,
  type NdOption,
  rsaSignatureBytes,
  sendSignedRange,
  setIcmpv6Checksum,
  timestampFromMs,
  timestampToMs,
} from '@capsule/wire';
import { describe, expect, it } from 'vitest';
import {
  exportPublicKeyDer,
  formatIpv6Address,
  generateCgaSync,
  generateRsaKeyPair,
  NonceCache,
  parseIpv6Address,
  parseSubnetPrefix64,
  sendKeyHash,
  signSendMessage,
  TimestampChecker,
  verifyCga,
  verifySendMessage,
} from '../src/index';

const keys = generateRsaKeyPair();
const publicKeyDer = exportPublicKeyDer(keys.publicKey);
const cga = generateCgaSync({ publicKey: publicKeyDer, subnetPrefix: parseSubnetPrefix64('fe80::'), sec: 1 });
const destination = parseIpv6Address('ff02::1:ff00:99')!;
const nowMs = 1_800_000_000_000;

function buildSolicitation(nonce: Uint8Array): Uint8Array {
  const options: NdOption[] = [
    { kind: 'cga', parameters: cga.parametersBytes },
    { kind: 'timestamp', ...timestampFromMs(nowMs) },
    { kind: 'nonce', nonce },
    { kind: 'rsaSignature', keyHash: sendKeyHash(publicKeyDer), signature: new Uint8Array(256) },
  ];
  const message = {
    kind: 'neighborSolicitation' as const,
    targetAddress: parseIpv6Address('fe80::99')!,
    options,
  };
  const icmp = new Uint8Array(1280);
  const length = encodeNdMessage(message, icmp);
  const packet = icmp.subarray(0, length);
  const range = sendSignedRange(packet);
  if (!range.ok) throw new Error(range.error.message);
  const signature = signSendMessage({
    source: cga.address,
    destination,
    icmpMessage: packet.subarray(0, range.value.signedEnd),
    privateKey: keys.privateKey,
  });
  packet.set(signature, range.value.signatureOptionOffset + 20);
  setIcmpv6Checksum(packet, 0, packet.length, cga.address, destination);
  return packet;
}

type Verdict = 'accepted' | string;

function receive(
  packet: Uint8Array,
  source: Uint8Array,
  timestamps: TimestampChecker,
  nonces: NonceCache,
): Verdict {
  if (icmpv6Checksum(packet, 0, packet.length, source, destination) !== (packet[2]! << 8) + packet[3]!)
    return 'bad-checksum';
  const message = decodeNdMessage(packet);
  if (!message.ok) return `malformed: ${message.error.code}`;
  const option = <K extends NdOption['kind']>(kind: K) =>
    message.value.options.find(
      (candidate): candidate is Extract<NdOption, { kind: K }> => candidate.kind === kind,
    );
  const cgaOption = option('cga');
  const timestamp = option('timestamp');
  const nonce = option('nonce');
  const range = sendSignedRange(packet);
  if (!cgaOption || !timestamp || !nonce || !range.ok) return 'missing-option';
  const cgaCheck = verifyCga(source, cgaOption.parameters);
  if (!cgaCheck.ok) return `cga: ${cgaCheck.reason}`;
  const signature = verifySendMessage({
    source,
    destination,
    icmpMessage: packet.subarray(0, range.value.signedEnd),
    signature: rsaSignatureBytes(range.value, 256),
    publicKeyDer: cgaCheck.parameters.publicKey,
    keyHash: range.value.keyHash,
  });
  if (!signature.ok) return `signature: ${signature.reason}`;
  const fresh = timestamps.check(formatIpv6Address(source), timestampToMs(timestamp) / 1000);
  if (!fresh.ok) return `timestamp: ${fresh.reason}`;
  if (!nonces.checkAndRemember(formatIpv6Address(source), nonce.nonce)) return 'replay';
  return 'accepted';
}

describe('SeND over @capsule/wire ND codecs', () => {
  const clock = { nowMs: () => nowMs + 2000 };

  it('accepts a genuine solicitation once, and its replay is refused', () => {
    const timestamps = new TimestampChecker({}, { clock });
    const nonces = new NonceCache({}, { clock });
    const packet = buildSolicitation(new Uint8Array([1, 2, 3, 4, 5, 6]));
    expect(receive(packet, cga.address, timestamps, nonces)).toBe('accepted');
    expect(receive(packet, cga.address, timestamps, nonces)).toBe('replay');
  });

  it('refuses a spoofed source, a changed option, a stolen signature and a stale timestamp', () => {
    const fresh = () => ({
      timestamps: new TimestampChecker({}, { clock }),
      nonces: new NonceCache({}, { clock }),
    });
    const packet = buildSolicitation(new Uint8Array([9, 9, 9, 9, 9, 9]));
    const spoofed = parseIpv6Address('fe80::1234')!;
    const spoofedPacket = packet.slice();
    setIcmpv6Checksum(spoofedPacket, 0, spoofedPacket.length, spoofed, destination);
    const a = fresh();
    expect(receive(spoofedPacket, spoofed, a.timestamps, a.nonces)).toBe('cga: hash1-mismatch');
    // change the nonce (before the signature) and fix the checksum: the signature fails
    const changed = packet.slice();
    const nonceAt = changed.findIndex(
      (_, index) => index >= 24 && changed[index] === 14 && changed[index + 2] === 9,
    );
    changed[nonceAt + 2] = 8;
    setIcmpv6Checksum(changed, 0, changed.length, cga.address, destination);
    const b = fresh();
    expect(receive(changed, cga.address, b.timestamps, b.nonces)).toBe('signature: bad-signature');
    // another node's key with its own valid CGA cannot sign for this CGA
    const c = fresh();
    const thief = generateRsaKeyPair();
    const stolen = packet.slice();
    const range = sendSignedRange(stolen);
    if (!range.ok) throw new Error('no range');
    stolen.set(
      signSendMessage({
        source: cga.address,
        destination,
        icmpMessage: stolen.subarray(0, range.value.signedEnd),
        privateKey: thief.privateKey,
      }),
      range.value.signatureOptionOffset + 20,
    );
    setIcmpv6Checksum(stolen, 0, stolen.length, cga.address, destination);
    expect(receive(stolen, cga.address, c.timestamps, c.nonces)).toBe('signature: bad-signature');
    // ten minutes later the same message is stale
    const d = {
      timestamps: new TimestampChecker({}, { clock: { nowMs: () => nowMs + 600_000 } }),
      nonces: fresh().nonces,
    };
    expect(receive(packet, cga.address, d.timestamps, d.nonces)).toBe('timestamp: outside-delta');
  });
});
