import { createRequire } from 'node:module';
import { dirname, isAbsolute, join } from 'node:path';
import type { EngineFastPath, SignaturesAheadStats } from '@capsule/wire';
import { TunError } from './tun-error';

/** The compiled addon (each file of addon/ documents its entry points). */
export interface NativeAddon {
  open(
    name: string,
    options: { tap: boolean; multiQueue: boolean; offloads: boolean },
  ): { fd: number; name: string; vnetHeader: boolean; offloads: boolean };
  Reader: new (
    fd: number,
    buffer: Buffer,
    meta: Int32Array,
    vnetHeader: boolean,
    stats: Float64Array,
    onPackets: (count: number, errno: number) => void,
    filter?: object,
  ) => { stop(): void };
  writePackets(
    fd: number,
    buffer: Buffer,
    meta: Int32Array,
    count: number,
    vnetHeader: boolean,
    stats: Float64Array,
  ): number;
  splitVirtioPacket(
    header: Uint8Array,
    buffer: Uint8Array,
    at: number,
    length: number,
    capacity: number,
    meta: Int32Array,
  ): number;
  coalescePackets(
    buffer: Uint8Array,
    meta: Int32Array,
    count: number,
    out: Uint8Array,
    outMeta: Int32Array,
  ): number;
  PayloadCipher: new (
    key: Uint8Array,
  ) => {
    seal(
      out: Uint8Array,
      at: number,
      aad: Uint8Array,
      source: Uint8Array,
      sourceOffset: number,
      length: number,
    ): number;
    open(
      sealed: Uint8Array,
      at: number,
      length: number,
      aad: Uint8Array,
      out: Uint8Array,
      outOffset: number,
    ): number;
  };
  VmExecutor: new (
    regFile: Int32Array,
    pageTable: Int32Array,
    io: Int32Array,
  ) => {
    mapPage(page: number, view: DataView | undefined): void;
    run(words: Int32Array, base: number, lengthBytes: number): number;
  };
  UdpSocket: new (
    host: string,
    port: number,
    receiveBufferBytes: number,
    sendBufferBytes: number,
    receiveBuffer: Buffer,
    receiveSlotBytes: number,
    receiveMeta: Int32Array,
    sendBuffer: Buffer,
    sendMeta: Int32Array,
    onDatagrams: (count: number, errno: number) => void,
  ) => {
    flush(count: number): number;
    address(): [string, number, number, number];
    offloads(): [boolean, boolean, number, number, number, number];
    close(): void;
    attachFilter(filter: object | undefined): void;
  };
  FastPath: new () => NativeFastPathObject;
}

/** The addon's FastPath (addon/fast-path.cc documents each method). */
export interface NativeFastPathObject {
  bindEngine(shared: object, engineId: number, idleTimeoutMs: number): void;
  addSession(
    localIndex: number,
    linkId: number,
    receiveKey: Uint8Array,
    counters: Float64Array,
    replayBits: Uint32Array,
  ): void;
  removeSession(localIndex: number): void;
  setSending(
    linkId: number,
    peerIndex: number,
    sendKey: Uint8Array,
    counters: Float64Array,
    host: string,
    port: number,
    rekeyAfterPackets: number,
  ): void;
  clearSending(linkId: number): void;
  setLink(programId: number, linkId: number, kind: number, up: boolean, peerHostId: Uint8Array): void;
  clearLinks(): void;
  // The engine port's registrations, passed through unchanged (src/fast-path.ts).
  setFlow: EngineFastPath['setFlow'];
  setFlowProgram: EngineFastPath['setFlowProgram'];
  removeFlow(flowId: number): void;
  clearFlows(): void;
  drainLinkTraffic(): Float64Array;
  /** [taken, offered, sent, sendErrors, flows, sessions, held, packetsOffered] */
  stats(): [number, number, number, number, number, number, number, number];
  /** The datagrams handed up by why, indexed by @capsule/wire's FastPathHandUp. */
  handUpStats(): number[];
  /** The type I signature verifier (addon/signature-verifier.h): keys, a result, its stats. */
  setControllerKeys(keyIds: number[], publicKeys: Uint8Array): void;
  signatureResult(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): number;
  /** The SignaturesAheadStats counts in order, then 1 when libsodium verifies (else OpenSSL). */
  /** The verifier thread's counts by name (@capsule/wire's SignaturesAheadStats: the addon names them). */
  signatureStats(): SignaturesAheadStats;
  bindAgent(sentByType: Float64Array, e2eRekeys: Float64Array, options: Float64Array): void;
  setEgressFlow(
    destination: Uint8Array,
    flowState: Float64Array,
    e2eState: Float64Array,
    statistics: Float64Array,
    sendBase: Uint8Array,
    headers: [Uint8Array, Uint8Array, Uint8Array],
    transportAt: Int32Array,
    aad: Uint8Array,
    linkId: number,
    acl: Int32Array,
    connections: Float64Array | undefined,
    /** EgressFlowSelector: the source's 16 bytes, or 'cga-sources'. */
    selector: Uint8Array | 'cga-sources' | undefined,
  ): void;
  clearEgressFlows(): void;
  offerTunPackets(buffer: Uint8Array, meta: Int32Array, count: number): number;
  /**
   * [offered, taken, egressFlows, ingressOffered, ingressTaken, ingressFlows, tunWriteErrors, held,
   * ingressHeld, ingressPacketsOffered]
   */
  agentStats(): [number, number, number, number, number, number, number, number, number, number];
  /** The packets handed up by why, indexed by @capsule/wire's AgentFastPathHandUp: egress's, then ingress's. */
  agentHandUpStats(): number[];
  setIngressFlow(
    source: Uint8Array,
    header: Uint8Array,
    hopIndexAt: number,
    dataAt: number,
    dataLength: number,
    transportAt: number,
    receiveBase: Uint8Array,
    e2eState: Float64Array,
    replayState: Float64Array,
    replayBits: Uint32Array,
    statistics: Float64Array,
    ipv4Alias: number,
    roleSource: Uint8Array,
    acl: Int32Array,
    byLabel: boolean,
  ): void;
  setGroupIngressFlow(
    address: Uint8Array,
    source: Uint8Array,
    header: Uint8Array,
    hopIndexAt: number,
    dataAt: number,
    dataLength: number,
    transportAt: number,
    epoch: number,
    key: Uint8Array,
    untilMs: number,
    replayState: Float64Array,
    replayBits: Uint32Array,
    statistics: Float64Array,
    acl: Int32Array,
  ): void;
  clearIngressFlows(): void;
  attachTun(fd: number, vnetHeader?: boolean, offloadStats?: Float64Array): void;
  setTap(peerMac?: Uint8Array, agentMac?: Uint8Array): void;
}

let addon: NativeAddon | undefined;

/**
 * Environment variable naming another compiled addon to load instead of the package's build: the
 * sanitizer build of scripts/sanitize-native.sh (an absolute path).
 */
export const NATIVE_ADDON_OVERRIDE = 'CAPSULE_NATIVE_ADDON';

/** Loads the compiled addon once. Resolved through the package, so it works from the CLI bundle too. */
export function loadAddon(): NativeAddon {
  if (addon) return addon;
  const require = createRequire(import.meta.url);
  const override = process.env[NATIVE_ADDON_OVERRIDE];
  if (override !== undefined && !isAbsolute(override))
    throw new TunError(
      'TUN_ADDON_MISSING',
      `${NATIVE_ADDON_OVERRIDE} must be an absolute path, got '${override}'`,
    );
  const path =
    override ??
    join(dirname(require.resolve('@capsule/native/package.json')), 'build', 'Release', 'capsule_native.node');
  try {
    addon = require(path) as NativeAddon;
  } catch (cause) {
    throw new TunError(
      'TUN_ADDON_MISSING',
      override === undefined
        ? `the native I/O addon is not built (run npm ci, which compiles packages/native): ${(cause as Error).message}`
        : `${NATIVE_ADDON_OVERRIDE} names an addon that does not load: ${(cause as Error).message}`,
    );
  }
  return addon;
}
