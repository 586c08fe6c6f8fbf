/**
 * `capsule wire samples`, checked by the real codecs, by @capsule/identity (CGAs and SeND
 * signatures verify) and by an independent dissector: tshark must dissect every ND/SeND sample
 * as ICMPv6 with the CGA, RSA Signature, Timestamp and Nonce options recognised, checksums good,
 * and no malformed packet or warning/error expert info.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyCga, verifySendMessage } from '@capsule/identity';
import { canRun } from '@capsule/testkit';
import {
  decodeCapsuleHeader,
  decodeIpv4Header,
  decodeIpv6Packet,
  decodeLinkFrame,
  decodeNdMessage,
  decodePcapFile,
  decodeUdpHeader,
  icmpv6Checksum,
  sendSignedRange,
} from '@capsule/wire';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecordingIo, runCli } from '../src/main';

const dir = mkdtempSync(join(tmpdir(), 'capsule-cli-wire-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let output = '';
beforeAll(async () => {
  const io = createRecordingIo({ cwd: dir });
  const code = await runCli(['wire', 'samples', '--out', 'out', '--sec', '1'], io);
  output = io.stdout();
  expect(io.stderr()).toBe('');
  expect(code).toBe(0);
}, 120_000);

function pcap(name: string) {
  const decoded = decodePcapFile(new Uint8Array(readFileSync(join(dir, 'out', name))));
  if (!decoded.ok) throw new Error(decoded.error.message);
  return decoded.value;
}

describe('capsule wire samples', () => {
  it('writes every kind of packet', () => {
    expect(output).toContain('wrote 10 packets');
    const all = pcap('samples.pcap');
    expect(all.linkType).toBe(101);
    expect(all.records.length).toBe(10);
    expect(pcap('nd.pcap').records.length).toBe(4);
    expect(pcap('capsule.pcap').records.length).toBe(3);
    expect(pcap('link.pcap').records.length).toBe(3);
  });

  it('ND samples carry real CGAs and SeND signatures that @capsule/identity verifies', () => {
    for (const { packet } of pcap('nd.pcap').records) {
      const ipv6 = decodeIpv6Packet(packet);
      if (!ipv6.ok) throw new Error(ipv6.error.message);
      const { source, destination, upperLayer } = ipv6.value;
      expect(ipv6.value.hopLimit).toBe(255);
      expect(icmpv6Checksum(upperLayer, 0, upperLayer.length, source, destination)).toBe(
        (upperLayer[2]! << 8) | upperLayer[3]!,
      );
      const message = decodeNdMessage(upperLayer);
      if (!message.ok) throw new Error(message.error.message);
      const cga = message.value.options.find((option) => option.kind === 'cga');
      if (cga?.kind !== 'cga') throw new Error('no CGA option');
      expect(verifyCga(source, cga.parameters).ok).toBe(true);
      const range = sendSignedRange(upperLayer);
      if (!range.ok) throw new Error(range.error.message);
      const publicKeyDer = cga.parameters.subarray(25);
      const verdict = verifySendMessage({
        source,
        destination,
        icmpMessage: upperLayer.subarray(0, range.value.signedEnd),
        signature: range.value.signature.subarray(0, 256),
        publicKeyDer,
        keyHash: range.value.keyHash,
      });
      expect(verdict).toEqual({ ok: true });
      // A flipped bit in the signed part breaks the signature.
      const forged = upperLayer.slice();
      forged[range.value.signedEnd - 1]! ^= 1;
      expect(
        verifySendMessage({
          source,
          destination,
          icmpMessage: forged.subarray(0, range.value.signedEnd),
          signature: range.value.signature.subarray(0, 256),
          publicKeyDer,
        }).ok,
      ).toBe(false);
      const kinds = message.value.options.map((option) => option.kind);
      expect(kinds).toEqual(
        expect.arrayContaining(['cga', 'timestamp', 'nonce', 'nodeCertificate', 'keyExchange']),
      );
      expect(kinds.at(-1)).toBe('rsaSignature');
    }
  });

  it('capsule samples decode as types I, II and III; link samples as frames in IPv4/UDP 7447', () => {
    const types = pcap('capsule.pcap').records.map(({ packet }) => {
      const ipv6 = decodeIpv6Packet(packet);
      if (!ipv6.ok) throw new Error(ipv6.error.message);
      expect(ipv6.value.upperLayerProtocol).toBe(59);
      const capsule = decodeCapsuleHeader(packet.subarray(40));
      if (!capsule.ok) throw new Error(capsule.error.message);
      const { auth, code } = capsule.value;
      // What an engine checks: the AUTH chunk's logic hash is SHA-256 of the CODE machine code.
      if (auth && code)
        expect(Buffer.from(auth.subarray(52, 84)).toString('hex')).toBe(
          createHash('sha256').update(code.machineCode).digest('hex'),
        );
      return capsule.value.packetType;
    });
    expect(types).toEqual([1, 2, 3]);
    const frames = pcap('link.pcap').records.map(({ packet }) => {
      const ipv4 = decodeIpv4Header(packet);
      if (!ipv4.ok) throw new Error(ipv4.error.message);
      expect(ipv4.value.isChecksumValid).toBe(true);
      const udp = decodeUdpHeader(ipv4.value.payload);
      if (!udp.ok) throw new Error(udp.error.message);
      expect(udp.value.destinationPort).toBe(7447);
      const frame = decodeLinkFrame(udp.value.payload);
      if (!frame.ok) throw new Error(frame.error.message);
      return [frame.value.type, frame.value.body.length > 0];
    });
    expect(frames).toEqual([
      [1, true],
      [2, true],
      [2, false],
    ]);
  });
});

describe.skipIf(!canRun({ tools: ['tshark'] }))('tshark dissects the samples', () => {
  const tshark = (file: string, ...args: string[]) =>
    execFileSync('tshark', ['-r', join(dir, 'out', file), ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });

  it('every ND sample is ICMPv6 with good checksums and the SeND options recognised', () => {
    const rows = tshark(
      'nd.pcap',
      '-T',
      'fields',
      '-E',
      'separator=|',
      '-E',
      'aggregator=,',
      '-e',
      'icmpv6.type',
      '-e',
      'icmpv6.checksum.status',
      '-e',
      'icmpv6.opt.type',
      '-e',
      'icmpv6.opt.cga.modifier',
      '-e',
      'icmpv6.opt.rsa.key_hash',
      '-e',
      'icmpv6.opt.timestamp',
      '-e',
      'icmpv6.opt.nonce',
      '-e',
      '_ws.expert.severity',
    )
      .trim()
      .split('\n')
      .map((line) => line.split('|'));
    expect(rows.map((row) => row[0])).toEqual(['133', '134', '135', '136']);
    for (const [, checksumStatus, optionTypes, modifier, keyHash, timestamp, nonce, severities] of rows) {
      expect(checksumStatus).toBe('1'); // Good
      expect(optionTypes!.split(',')).toEqual(expect.arrayContaining(['11', '12', '13', '14', '253', '254']));
      expect(modifier).toMatch(/^[0-9a-f]{32}$/);
      expect(keyHash).toMatch(/^[0-9a-f]{32}$/);
      expect(timestamp).not.toBe('');
      expect(nonce).toMatch(/^[0-9a-f]{12}$/);
      // Only notes (4194304: "option 253/254 not dissected"), no warnings (6291456) or errors (8388608).
      for (const severity of (severities ?? '').split(',').filter(Boolean))
        expect(Number(severity)).toBeLessThan(6291456);
    }
  });

  it('the verbose dissection has no malformed packet, error or warning anywhere', () => {
    const text = tshark(
      'samples.pcap',
      '-V',
      '-o',
      'udp.check_checksum:TRUE',
      '-o',
      'ip.check_checksum:TRUE',
    );
    expect(text).toContain('ICMPv6 Option (CGA)');
    expect(text).toContain('ICMPv6 Option (RSA Signature)');
    expect(text).toContain('ICMPv6 Option (Timestamp)');
    expect(text).toContain('ICMPv6 Option (Nonce)');
    expect(text).not.toMatch(/Malformed/);
    expect(text).not.toMatch(/Expert Info \((Error|Warning)/);
    expect(text).not.toMatch(/\[(Checksum Status|Header checksum status): Bad\]/);
    // UDP checksums of the link frames in IPv4 verified by tshark.
    expect(text.match(/\[Checksum Status: Good\]/g)?.length).toBeGreaterThanOrEqual(4 + 3);
  });
});
