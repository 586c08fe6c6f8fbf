import { describe, expect, it } from 'vitest';
import { createLinkSetFollower, parseUnderlayAddress } from './link-set-follower';

/** A link layer that records what the follower asks of it. */
function recordingLayer() {
  const calls: string[] = [];
  const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex').slice(-2);
  return {
    calls,
    linkLayer: {
      connect: (peer: { host: string; port: number }, hostId?: Uint8Array) =>
        calls.push(`connect ${hex(hostId!)} ${peer.host}:${peer.port}`),
      disconnect: (hostId: Uint8Array) => calls.push(`disconnect ${hex(hostId)}`),
    },
  };
}
const host = (last: number) => {
  const bytes = new Uint8Array(16);
  bytes[15] = last;
  return bytes;
};

describe('following link sets', () => {
  it('dials what it is told to dial, once; waits for the others; closes what a new set drops', () => {
    const { calls, linkLayer } = recordingLayer();
    const follower = createLinkSetFollower({ linkLayer });
    const a = { peerHostId: host(0xa), underlay: { host: '10.0.0.10', port: 7447 }, dial: true };
    const b = { peerHostId: host(0xb), underlay: { host: '10.0.0.11', port: 7447 }, dial: false };
    expect(follower.apply([a, b])).toEqual({ dialed: 1, closed: 0 });
    expect(follower.apply([a, b])).toEqual({ dialed: 0, closed: 0 }); // unchanged: nothing asked
    expect(follower.size).toBe(2);
    expect(follower.apply([b])).toEqual({ dialed: 0, closed: 1 });
    expect(follower.apply([])).toEqual({ dialed: 0, closed: 1 });
    expect(calls).toEqual(['connect 0a 10.0.0.10:7447', 'disconnect 0a', 'disconnect 0b']);
  });

  it('a peer that moved is forgotten at its old address and dialed at the new one', () => {
    const { calls, linkLayer } = recordingLayer();
    const follower = createLinkSetFollower({ linkLayer });
    const a = { peerHostId: host(0xa), underlay: { host: '10.0.0.10', port: 7447 }, dial: true };
    follower.apply([a]);
    follower.apply([{ ...a, underlay: { host: '10.0.0.99', port: 7447 } }]);
    follower.apply([{ ...a, underlay: { host: '10.0.0.99', port: 7447 }, dial: false }]);
    expect(calls).toEqual([
      'connect 0a 10.0.0.10:7447',
      'disconnect 0a',
      'connect 0a 10.0.0.99:7447',
      'disconnect 0a', // no longer ours to dial: the peer dials us
    ]);
  });

  it('parses locators: IPv4, names, bracketed IPv6; refuses the rest', () => {
    expect(parseUnderlayAddress('10.0.0.1:7447')).toEqual({ host: '10.0.0.1', port: 7447 });
    expect(parseUnderlayAddress('[fd00::1]:1')).toEqual({ host: 'fd00::1', port: 1 });
    expect(parseUnderlayAddress('engine-1.example:65535')).toEqual({ host: 'engine-1.example', port: 65535 });
    for (const text of ['10.0.0.1', '10.0.0.1:0', '10.0.0.1:65536', 'fd00::1:7447', ' a:1', 'a:1 ', ':1', ''])
      expect(parseUnderlayAddress(text), text).toBeUndefined();
  });
});
