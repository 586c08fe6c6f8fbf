/**
 * Test helpers for the link layer: real identities (RSA-2048 keys, Sec-0 CGAs, a controller key
 * and node certificates signed with it), a manual clock whose intervals fire as it advances, and
 * a tap around a real Transport that records what the layer sends, lets a test inject datagrams
 * and can cut the path (drop both ways) without touching the underlay.
 */
import {
  type ControllerSigningKey,
  exportPublicKeyDer,
  generateCgaSync,
  generateControllerKey,
  generateRsaKeyPair,
  generateX25519KeyPair,
  NodeType,
  type NodeTypeValue,
  parseSubnetPrefix64,
  type RsaKeyPair,
  rsaKeyHash,
  signNodeCertificate,
} from '@capsule/identity';
import type { DatagramHandler, LinkIdentity, LinkLayerDeps, Transport, UnderlayAddress } from '../src/index';

const rsaKeys: RsaKeyPair[] = [];

/** The `index`-th RSA-2048 key pair of this test file (generated once: generation is slow). */
export function rsaKey(index: number): RsaKeyPair {
  while (rsaKeys.length <= index) rsaKeys.push(generateRsaKeyPair());
  return rsaKeys[index]!;
}

/** A fixed start time for manual clocks (2027-01-15), so certificates and timestamps are reproducible. */
export const START_MS = 1_800_000_000_000;

export interface TestIdentityOptions {
  controller: ControllerSigningKey;
  /** Which cached RSA key. */
  key: number;
  name: string;
  nowMs: number;
  nodeType?: NodeTypeValue;
  /** Certificate validity around nowMs; defaults: one hour before to one day after. */
  notBeforeMs?: number;
  notAfterMs?: number;
  /** Sign the certificate with this key instead of `controller` (but trust `controller`). */
  certificateSigner?: ControllerSigningKey;
  /** Put this host id in the certificate instead of the CGA. */
  certificateHostId?: Uint8Array;
  /** Put the hash of this RSA key in the certificate instead of the CGA key's. */
  certificateRsaKey?: number;
  /** Use this RSA key instead of the cached one `key` names (a weak key, say). */
  rsaKeyPair?: RsaKeyPair;
}

/** A complete LinkIdentity: CGA (Sec 0) of an RSA key under fd00:ca95::/64, certificate from the controller. */
export function makeIdentity(options: TestIdentityOptions): LinkIdentity & { cgaPublicKeyDer: Uint8Array } {
  const keys = options.rsaKeyPair ?? rsaKey(options.key);
  const publicKeyDer = exportPublicKeyDer(keys.publicKey);
  const cga = generateCgaSync({
    publicKey: publicKeyDer,
    subnetPrefix: parseSubnetPrefix64('fd00:ca95::/64'),
    sec: 0,
  });
  const certificateKeyDer =
    options.certificateRsaKey === undefined
      ? publicKeyDer
      : exportPublicKeyDer(rsaKey(options.certificateRsaKey).publicKey);
  const nodeCertificate = signNodeCertificate(
    {
      nodeType: options.nodeType ?? NodeType.engine,
      serial: BigInt(options.key + 1),
      notBefore: Math.floor((options.notBeforeMs ?? options.nowMs - 3_600_000) / 1000),
      notAfter: Math.floor((options.notAfterMs ?? options.nowMs + 86_400_000) / 1000),
      zoneId: 1,
      hostId: options.certificateHostId ?? cga.address,
      x25519PublicKey: generateX25519KeyPair().publicKeyRaw,
      rsaKeyHash: rsaKeyHash(certificateKeyDer),
      name: options.name,
    },
    options.certificateSigner ?? options.controller,
  );
  return {
    hostId: cga.address,
    cgaParameters: cga.parametersBytes,
    rsaPrivateKey: keys.privateKey,
    nodeCertificate,
    controllerPublicKey: options.controller.publicKey,
    cgaPublicKeyDer: publicKeyDer,
  };
}

export { generateControllerKey };

/** A clock for tests: time moves only in `advance`, which fires due intervals in order. */
export interface ManualClock {
  nowMs(): number;
  setInterval(callback: () => void, ms: number): () => void;
  /** Moves time forward by `ms` in steps of `stepMs`, firing due intervals and awaiting `settle` after each step. */
  advance(ms: number, settle: () => Promise<void>, stepMs?: number): Promise<void>;
}

export function createManualClock(startMs = START_MS): ManualClock {
  let now = startMs;
  const timers = new Set<{ callback: () => void; ms: number; due: number }>();
  return {
    nowMs: () => now,
    setInterval(callback, ms) {
      const timer = { callback, ms, due: now + ms };
      timers.add(timer);
      return () => timers.delete(timer);
    },
    async advance(ms, settle, stepMs = 10) {
      const end = now + ms;
      while (now < end) {
        now = Math.min(end, now + stepMs);
        for (const timer of [...timers])
          while (timer.due <= now && timers.has(timer)) {
            timer.due += timer.ms;
            timer.callback();
          }
        await settle();
      }
    },
  };
}

/** A real clock for tests over UDP. */
export const realClock: LinkLayerDeps['clock'] = {
  nowMs: () => Date.now(),
  setInterval(callback, ms) {
    const timer = setInterval(callback, ms);
    return () => clearInterval(timer);
  },
};

/** A copy of bytes[offset, offset + length) (Buffer#slice would be a view of a reused buffer). */
export function copyBytes(bytes: Uint8Array, offset: number, length: number): Uint8Array {
  const copy = new Uint8Array(length);
  copy.set(bytes.subarray(offset, offset + length));
  return copy;
}

/** A Transport wrapper: records sent datagrams, injects received ones, cuts the path. */
export interface TapTransport extends Transport {
  /** Copies of every datagram the layer sent (while recording). */
  readonly sent: { bytes: Uint8Array; to: UnderlayAddress }[];
  recording: boolean;
  /** While true, nothing is sent or delivered (a cut path). */
  cut: boolean;
  /** Hands `bytes` to the layer as if received from `from` (synchronously). */
  deliver(bytes: Uint8Array, from: UnderlayAddress): void;
  /** Sends raw bytes on the underlying transport (as this node). */
  sendRaw(bytes: Uint8Array, to: UnderlayAddress): void;
}

export function tapTransport(inner: Transport): TapTransport {
  let handler: DatagramHandler = () => {};
  const tap: TapTransport = {
    sent: [],
    recording: false,
    cut: false,
    get local() {
      return inner.local;
    },
    get stats() {
      return inner.stats;
    },
    send(bytes, length, to) {
      if (tap.recording) tap.sent.push({ bytes: copyBytes(bytes, 0, length), to });
      if (!tap.cut) inner.send(bytes, length, to);
    },
    onDatagram(next) {
      handler = next;
      inner.onDatagram((bytes, from) => {
        if (!tap.cut) handler(bytes, from);
      });
    },
    close: () => inner.close(),
    deliver(bytes, from) {
      handler(bytes, from);
    },
    sendRaw(bytes, to) {
      inner.send(bytes, bytes.length, to);
    },
  };
  return tap;
}
