/**
 * createEngine: the network microservice engine. Verify once, execute per packet, forward.
 *
 * Per packet (every step a counted drop on failure, nothing thrown, nothing allocated in the
 * steady state of type II/III traffic):
 *
 * ```
 * link layer ─▶ inner IPv6 header (version, lengths, hop limit, next header 253)
 *            ─▶ capsule header (CapsuleHeaderView: every chunk validated)
 *            ─▶ flow table (src, dst, flow label; idle expiry)
 *            ─▶ type I:  AUTH → verified-authorization cache or Ed25519 verify; validity; revocation;
 *                        source binding (src == source host id; ingress = that host's link or an
 *                        engine link); SHA-256(machine code) == logic hash; program cache
 *                        (static verifier + fast tier, once per logic hash and entry table)
 *               type II: CODE chunk == the code verified for the flow
 *               type III: the flow's cached action, or its cached program
 *            ─▶ PACKET record, PATH/DATA mapped, FLOW and CONTRACT memory bound, run (fuel-bounded)
 *            ─▶ action: FORWARD | REPLICATE | DELIVER | DROP; DATA/PATH written back, hop index
 *               advanced, TRACE record appended when asked, hop limit decremented, sent per link
 * ```
 *
 * The received packet is rewritten in place (hop limit, PATH, DATA) and handed to the link layer
 * for each egress link; only a TRACE append (which grows the header) is built in a preallocated
 * egress buffer.
 */
import type { SouthboundClient } from '@capsule/api';
import {
  type ControllerPublicKey,
  FLOW_AUTHORIZATION_LENGTH,
  formatIpv6Address,
  NodeType,
  verifyFlowAuthorization,
} from '@capsule/identity';
import type { LinkInfo, LinkLayer } from '@capsule/overlay';
import {
  ActionField,
  ActionFlag,
  createSandboxMachine,
  ENGINE_LINK_BYTES,
  ENGINE_MAX_LINKS,
  EngineField,
  EngineLinkField,
  FLOW_BYTES,
  FUEL_DEFAULT,
  LinkKind,
  PacketField,
  type PreparedProgram,
  prepareProgram,
  type RunOptions,
  type SandboxHost,
  type Tier,
  TrapReason,
  Verdict,
  verifyProgram,
} from '@capsule/vm';
import {
  CAPSULE_HEADER_LIMIT,
  CAPSULE_NEXT_HEADER,
  CapsuleFlag,
  CapsuleHeaderView,
  CHUNK_HEADER_LENGTH,
  ChunkType,
  IPV6_HEADER_LENGTH,
  logicHashOf,
  PathOffset,
  TRACE_CHUNK_LIMIT,
  TRACE_RECORD_LENGTH,
} from '@capsule/wire';
import { DropReason, dropReasonName } from './drop-reason';
import { engineIdOfHostId } from './engine-id';
import { FlowRefusal, FlowTable } from './flow-table';
import { controllerHooks } from './southbound';

/** Options (plain data; defaults in `engineDefaults`). */
export interface EngineOptions {
  /** This engine's CGA host id (16 bytes). */
  hostId: Uint8Array;
  /** 16-bit engine id PATH hops name; default: engineIdOfHostId(hostId). */
  engineId?: number;
  /** The controller's Ed25519 key that signs flow authorizations. */
  controllerPublicKey: ControllerPublicKey;
  /** Tag bits (0..31) of this engine (ENGINE record). */
  tags?: readonly number[];
  /** Cost and tag bits of links by peer (host id text or host name); others get cost 1, no tags. */
  links?: readonly { peer: string; cost?: number; tags?: readonly number[] }[];
  /** Live flows at most. */
  flowCapacity?: number;
  /**
   * Live flows one source host may hold; at this count its new flow takes the place of its own
   * idlest, or is refused (FLOW_SOURCE_QUOTA). Default: `flowsPerSourceHostShare` of flowCapacity.
   */
  flowsPerSourceHostMax?: number;
  /** Live flows one authorization (serial) may hold; likewise. Default: `flowsPerAuthorizationShare`. */
  flowsPerAuthorizationMax?: number;
  /** A flow with a packet within this long is never evicted to make room for another. */
  flowEvictionIdleMs?: number;
  /** A flow with no packet for this long is removed. */
  flowIdleTimeoutMs?: number;
  /** Fuel per execution (instructions). */
  budgetInstructions?: number;
  /** Executor: the fast tier (default) or the interpreter. */
  tier?: Tier;
  /** Program LOG lines per second at most (the rest are refused to the program). */
  logLinesPerSecond?: number;
  /** Distinct verified authorizations and programs kept (LRU-less: cleared when full). */
  cacheCapacity?: number;
  /** This engine's underlay locator (`host:port`), for links it registers with the controller. */
  locator?: string;
  /** Keep-alive interval towards the controller (its registration answer says). */
  keepaliveIntervalMs?: number;
}

/** The defaults of every optional option. */
export const engineDefaults = {
  flowCapacity: 65_536,
  /** Default flowsPerSourceHostMax, as a share of flowCapacity (16,384 of 65,536). */
  flowsPerSourceHostShare: 0.25,
  /** Default flowsPerAuthorizationMax, as a share of flowCapacity (8,192 of 65,536). */
  flowsPerAuthorizationShare: 0.125,
  flowEvictionIdleMs: 1_000,
  flowIdleTimeoutMs: 120_000,
  budgetInstructions: FUEL_DEFAULT,
  tier: 'fast' as Tier,
  logLinesPerSecond: 20,
  cacheCapacity: 4096,
};

/** A clock with timers (tests inject a manual one). */
export interface EngineClock {
  nowMs(): number;
  setInterval(callback: () => void, ms: number): () => void;
}

/** A pino-compatible logger. */
export interface EngineLogger {
  debug(fields: object, message?: string): void;
  info(fields: object, message?: string): void;
  warn(fields: object, message?: string): void;
  error(fields: object, message?: string): void;
}

/** The engine's ports. */
export interface EngineDeps {
  linkLayer: LinkLayer;
  clock: EngineClock;
  logger?: EngineLogger;
  /** A registered southbound client: keep-alives, commands, pushed revocations, link registration. */
  controller?: SouthboundClient;
  /** 32 random bits (RANDOM service); default Math.random. */
  random?: () => number;
}

/** One live flow, for `capsule engine flows` and the HTTP API. */
export interface FlowSnapshot {
  id: number;
  source: string;
  destination: string;
  flowLabel: number;
  serial: string;
  contractId: number;
  roleId: number;
  logicHash: string;
  packets: number;
  bytes: number;
  drops: number;
  lastVerdict: string;
  cachedAction: string | undefined;
  createdAtMs: number;
  lastSeenMs: number;
  notAfterSeconds: number;
  revoked: boolean;
}

/** One link as the engine sees it. */
export interface EngineLinkSnapshot {
  /** The link layer's id. */
  id: number;
  /** The id programs see in the ENGINE record and the ACTION egress list. */
  programId: number;
  peer: string;
  peerName: string;
  kind: 'engine' | 'host';
  neighborEngineId: number;
  cost: number;
  tags: number;
  up: boolean;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  drops: number;
}

/** Counters since start (monotonic). */
export interface EngineCounters {
  packetsIn: number;
  bytesIn: number;
  packetsOut: number;
  bytesOut: number;
  /** By packet type I, II, III. */
  packetsByType: { I: number; II: number; III: number };
  /** By verdict name (FORWARD, REPLICATE, DELIVER, DROP). */
  verdicts: Record<string, number>;
  /** By drop reason name. */
  drops: Record<string, number>;
  programRuns: number;
  cachedActions: number;
  authorizationsVerified: number;
  authorizationCacheHits: number;
  programsVerified: number;
  programsRejected: number;
  emits: number;
  traceRecords: number;
  traceFull: number;
  revocations: number;
  /** Revoked serials dropped from the revocation list once their authorization had expired. */
  revocationsPruned: number;
  /** Revoked serials held now. */
  revokedSerials: number;
  flowsCreated: number;
  flowsExpired: number;
  /** Flows evicted to admit another (docs/engine.md, "Flow table"), by cause. */
  flowsEvicted: { authorizationQuota: number; sourceQuota: number; tableFull: number };
  liveFlows: number;
  fuelUsed: number;
  /**
   * The link layer's own counters: frames it refused before the pipeline (`drops`, by reason),
   * refused handshake and cookie frames by reason, handshakes verified and cookies exchanged.
   */
  linkLayer: {
    drops: Record<string, number>;
    handshakeRejections: Record<string, number>;
    handshakesVerified: number;
    cookieRepliesSent: number;
    cookiesAccepted: number;
  };
}

/** A running engine. */
export interface Engine {
  readonly engineId: number;
  /** Subscribes to the link layer, starts timers, keep-alives and the push channel. */
  start(): void;
  /** Stops timers and the push channel (the link layer and transport are the caller's). */
  stop(): void;
  /** The pipeline's entry (the link layer calls it; exposed for benchmarks and tests). */
  handlePacket(linkId: number, bytes: Uint8Array, offset: number, length: number): boolean;
  /** Live flows. */
  flows(): FlowSnapshot[];
  links(): EngineLinkSnapshot[];
  counters(): EngineCounters;
  /**
   * Revokes serials now (the controller's push and keep-alive commands call this). With the
   * authorization's end of validity (ms), the serial is forgotten once that has passed (an
   * expired authorization is refused anyway); without it, it is kept for the engine's life.
   */
  revoke(serials: readonly bigint[], notAfterMs?: readonly (number | undefined)[]): void;
  /** Rereads the link layer's links (ENGINE record, caches); called on every link change. */
  refreshLinks(): void;
  /** Removes idle flows and the revoked serials of expired authorizations now (the timer calls it). */
  expireFlows(): number;
}

interface LinkMeta {
  /** The link layer's id (its receiver index: any u32). */
  id: number;
  /**
   * The id programs see (ENGINE record, PACKET ingress link, ACTION egress list): small, stable
   * per link for the engine's life, and below 2^31 — programs hold ids in Java ints and use -1
   * for "none", so the link layer's 32-bit receiver indices cannot be shown to them as they are.
   */
  programId: number;
  kind: number;
  peerHostId: Uint8Array;
  peerName: string;
  neighborEngineId: number;
  cost: number;
  tags: number;
  up: boolean;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  drops: number;
}

interface VerifiedAuthorization {
  readonly bytes: Uint8Array;
  readonly serialHigh: number;
  readonly serialLow: number;
  readonly serial: bigint;
  readonly notBefore: number;
  readonly notAfter: number;
  readonly contractId: number;
  readonly roleId: number;
  revoked: boolean;
}

interface ProgramEntry {
  readonly logicHash: string;
  /** The whole CODE chunk value it was verified with (type II packets must carry these bytes). */
  readonly codeValue: Uint8Array;
  readonly entryOffsets: Int32Array;
  readonly prepared: PreparedProgram | undefined;
  readonly rejection: string | undefined;
}

const verdictNames = ['NONE', 'FORWARD', 'REPLICATE', 'DELIVER', 'DROP'];
/** The drop reason of each FlowTable refusal. */
const refusalDrops = {
  [FlowRefusal.FULL]: DropReason.FLOW_TABLE_FULL,
  [FlowRefusal.SOURCE_QUOTA]: DropReason.FLOW_SOURCE_QUOTA,
  [FlowRefusal.AUTHORIZATION_QUOTA]: DropReason.FLOW_AUTHORIZATION_QUOTA,
} as const;
const AUTH_SERIAL_OFFSET = 4;
const AUTH_SOURCE_OFFSET = 36;
const AUTH_LOGIC_HASH_OFFSET = 52;

const readU32BE = (b: Uint8Array, at: number) =>
  ((b[at]! << 24) | (b[at + 1]! << 16) | (b[at + 2]! << 8) | b[at + 3]!) >>> 0;

const bytesEqual = (a: Uint8Array, aAt: number, b: Uint8Array, bAt: number, length: number) => {
  for (let i = 0; i < length; i++) if (a[aAt + i] !== b[bAt + i]) return false;
  return true;
};

/** A copy of bytes[start, end) (never `slice`: on a Node Buffer it is a view into the datagram). */
const copyBytes = (bytes: Uint8Array, start: number, end: number) =>
  new Uint8Array(bytes.subarray(start, end));

const silentLogger: EngineLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Creates an engine. Nothing runs until `start()`. */
export function createEngine(options: EngineOptions, deps: EngineDeps): Engine {
  const settings = { ...engineDefaults, ...options };
  const { linkLayer, clock } = deps;
  const logger = deps.logger ?? silentLogger;
  const random = deps.random ?? (() => (Math.random() * 0x1_0000_0000) >>> 0);
  const engineId = options.engineId ?? engineIdOfHostId(options.hostId);
  const controllerKey = options.controllerPublicKey;
  const capacity = settings.flowCapacity;
  const budget = settings.budgetInstructions;

  // ---- state ------------------------------------------------------------------------------
  const table = new FlowTable(
    {
      capacity,
      perSourceMax:
        settings.flowsPerSourceHostMax ??
        Math.max(1, Math.floor(capacity * settings.flowsPerSourceHostShare)),
      perAuthorizationMax:
        settings.flowsPerAuthorizationMax ??
        Math.max(1, Math.floor(capacity * settings.flowsPerAuthorizationShare)),
      evictionIdleMs: settings.flowEvictionIdleMs,
    },
    (id) => forgetFlow(id),
  );
  const flowLive = new Uint8Array(capacity);
  const flowProgram: (ProgramEntry | undefined)[] = new Array(capacity).fill(undefined);
  const flowAuth: (VerifiedAuthorization | undefined)[] = new Array(capacity).fill(undefined);
  const flowContract: (DataView | undefined)[] = new Array(capacity).fill(undefined);
  const flowMemoryBytes = new Uint8Array(capacity * FLOW_BYTES);
  const flowMemory: (DataView | undefined)[] = new Array(capacity).fill(undefined);
  const flowCreatedMs = new Float64Array(capacity);
  const flowLastSeenMs = table.lastSeenMs;
  const flowPackets = new Float64Array(capacity);
  const flowBytes = new Float64Array(capacity);
  const flowDrops = new Float64Array(capacity);
  const flowLastVerdict = new Uint8Array(capacity);
  const flowLastReason = new Uint16Array(capacity);
  /** The program's own reason of its last DROP. */
  const flowProgramReason = new Uint32Array(capacity);
  /** Cached action: verdict (0 = none), flags, egress count, links (16 per flow), drop reason. */
  const cacheVerdict = new Uint8Array(capacity);
  const cacheCount = new Uint8Array(capacity);
  const cacheLinks = new Uint32Array(capacity * 16);
  const cacheDropReason = new Uint32Array(capacity);
  const contractMemory = new Map<number, DataView>();
  /** Verified authorizations by low 32 bits of the serial (full bytes compared). */
  const verified = new Map<number, VerifiedAuthorization[]>();
  let verifiedCount = 0;
  const programs = new Map<string, ProgramEntry>();
  /** Revoked serials by low 32 bits → high words, each with its authorization's end (ms; Infinity: unknown). */
  const revoked = new Map<number, { high: number; notAfterMs: number }[]>();
  let revokedCount = 0;
  const links = new Map<number, LinkMeta>();
  /** Program link id → link (index 0 unused). */
  const byProgramId: (LinkMeta | undefined)[] = [undefined];
  const hostLinks: LinkMeta[] = [];

  const counters = {
    packetsIn: 0,
    bytesIn: 0,
    packetsOut: 0,
    bytesOut: 0,
    byType: new Float64Array(4),
    verdicts: new Float64Array(5),
    drops: new Float64Array(256),
    programRuns: 0,
    cachedActions: 0,
    authorizationsVerified: 0,
    authorizationCacheHits: 0,
    programsVerified: 0,
    programsRejected: 0,
    emits: 0,
    traceRecords: 0,
    traceFull: 0,
    revocations: 0,
    revocationsPruned: 0,
    flowsCreated: 0,
    flowsExpired: 0,
    fuelUsed: 0,
  };

  // ---- the current packet (one at a time; the pipeline is not re-entrant) --------------------
  const view = new CapsuleHeaderView();
  let curBytes: Uint8Array = new Uint8Array(0);
  let curOffset = 0;
  let curLength = 0;
  let curLink: LinkMeta | undefined;
  let curFlow = -1;
  let curHopLimitDone = false;
  let curHopIndexOriginal = -1;
  let curIsThisHop = false;
  const egress = new Uint8Array(65_536);
  let logTokens = settings.logLinesPerSecond;
  let logRefillMs = 0;

  const host: SandboxHost = {
    emit(action) {
      counters.emits++;
      const actionView = new DataView(action.buffer, action.byteOffset, action.byteLength);
      const verdict = actionView.getUint32(ActionField.VERDICT, true);
      const count = Math.min(16, actionView.getUint32(ActionField.EGRESS_COUNT, true));
      writeBack();
      if (verdict === Verdict.DELIVER) return deliver(0) === 0;
      if (verdict !== Verdict.FORWARD && verdict !== Verdict.REPLICATE) return false;
      let sent = 0;
      for (let i = 0; i < count; i++) {
        const linkId = actionView.getUint32(ActionField.EGRESS_LINKS + 4 * i, true);
        if (sendOn(linkId, verdict, 0, 0) === 0) sent++;
      }
      return sent > 0;
    },
    flowHash(seed) {
      return flowHashOf(curBytes, curOffset, seed);
    },
    timeMs: () => clock.nowMs(),
    random: () => random(),
    log(message) {
      const now = clock.nowMs();
      if (now - logRefillMs >= 1000) {
        logRefillMs = now;
        logTokens = settings.logLinesPerSecond;
      }
      if (logTokens <= 0) return false;
      logTokens--;
      logger.info({ flow: curFlow, message: Buffer.from(message).toString('utf8') }, 'program log');
      return true;
    },
  };
  const sandbox = createSandboxMachine({ budgetInstructions: budget, tier: settings.tier }, { host });
  const regions = sandbox.regions;
  /** Reused for every run (no object per packet). */
  const runOptions: RunOptions = {};
  const packetRecord = new DataView(
    regions.packet.buffer,
    regions.packet.byteOffset,
    regions.packet.byteLength,
  );
  const actionView = new DataView(
    regions.action.buffer,
    regions.action.byteOffset,
    regions.action.byteLength,
  );
  const engineRecord = new DataView(
    regions.engine.buffer,
    regions.engine.byteOffset,
    regions.engine.byteLength,
  );

  // ---- links ---------------------------------------------------------------------------------
  const tagBits = (tags: readonly number[] | undefined) => {
    let bits = 0;
    for (const tag of tags ?? []) if (tag >= 0 && tag < 32) bits |= 1 << tag;
    return bits >>> 0;
  };
  const ownTags = tagBits(options.tags);

  function linkAttributes(info: LinkInfo) {
    const hostText = formatIpv6Address(info.peerHostId);
    const match = options.links?.find((entry) => entry.peer === hostText || entry.peer === info.peerName);
    return { cost: match?.cost ?? 1, tags: tagBits(match?.tags) };
  }

  function refreshLinks(): void {
    const seen = new Set<number>();
    hostLinks.length = 0;
    for (const info of linkLayer.links()) {
      seen.add(info.id);
      let meta = links.get(info.id);
      const attributes = linkAttributes(info);
      const kind = info.peerNodeType === NodeType.engine ? LinkKind.ENGINE : LinkKind.HOST;
      if (!meta) {
        meta = {
          id: info.id,
          programId: byProgramId.length,
          kind,
          peerHostId: new Uint8Array(info.peerHostId),
          peerName: info.peerName,
          neighborEngineId: kind === LinkKind.ENGINE ? engineIdOfHostId(info.peerHostId) : 0,
          cost: attributes.cost,
          tags: attributes.tags,
          up: info.state === 'up',
          packetsIn: 0,
          packetsOut: 0,
          bytesIn: 0,
          bytesOut: 0,
          drops: 0,
        };
        links.set(info.id, meta);
        byProgramId.push(meta);
      }
      meta.up = info.state === 'up';
      meta.cost = attributes.cost;
      meta.tags = attributes.tags;
      if (meta.kind === LinkKind.HOST && meta.up) hostLinks.push(meta);
    }
    for (const [id, meta] of links) if (!seen.has(id)) meta.up = false;
    // The ENGINE record programs read.
    regions.engine.fill(0);
    engineRecord.setUint32(EngineField.ENGINE_ID, engineId, true);
    engineRecord.setUint32(EngineField.TAGS, ownTags, true);
    let index = 0;
    for (const meta of links.values()) {
      if (index >= ENGINE_MAX_LINKS) break;
      const at = EngineField.LINK_TABLE + index * ENGINE_LINK_BYTES;
      engineRecord.setUint32(at + EngineLinkField.ID, meta.programId, true);
      engineRecord.setUint32(at + EngineLinkField.NEIGHBOR, meta.neighborEngineId, true);
      engineRecord.setUint32(at + EngineLinkField.KIND, meta.kind, true);
      engineRecord.setUint32(at + EngineLinkField.COST, meta.cost, true);
      engineRecord.setUint32(at + EngineLinkField.UP, meta.up ? 1 : 0, true);
      engineRecord.setUint32(at + EngineLinkField.TAGS, meta.tags, true);
      index++;
    }
    engineRecord.setUint32(EngineField.LINK_COUNT, index, true);
    // A topology change may change what programs decide: no cached action survives it.
    cacheVerdict.fill(0);
  }

  // ---- drops and counters ---------------------------------------------------------------------
  function drop(reason: number): false {
    counters.drops[reason] = counters.drops[reason]! + 1;
    counters.verdicts[Verdict.DROP] = counters.verdicts[Verdict.DROP]! + 1;
    if (curLink) curLink.drops++;
    if (curFlow >= 0) {
      flowDrops[curFlow] = flowDrops[curFlow]! + 1;
      flowLastVerdict[curFlow] = Verdict.DROP;
      flowLastReason[curFlow] = reason;
    }
    return false;
  }

  // ---- revocation -------------------------------------------------------------------------------
  function isRevoked(high: number, low: number): boolean {
    const entries = revoked.get(low);
    return entries?.some((entry) => entry.high === high) === true;
  }

  function revoke(serials: readonly bigint[], notAfterMs?: readonly (number | undefined)[]): void {
    serials.forEach((serial, index) => {
      const high = Number((serial >> 32n) & 0xffff_ffffn);
      const low = Number(serial & 0xffff_ffffn);
      if (isRevoked(high, low)) return;
      counters.revocations++;
      const end = notAfterMs?.[index];
      const entries = revoked.get(low) ?? [];
      entries.push({
        high,
        notAfterMs: end !== undefined && Number.isFinite(end) ? end : Number.POSITIVE_INFINITY,
      });
      revoked.set(low, entries);
      revokedCount++;
      for (const entry of verified.get(low) ?? []) if (entry.serialHigh === high) entry.revoked = true;
      logger.info({ serial: serial.toString() }, 'authorization revoked');
    });
  }

  // ---- authorization and program verification (type I) ---------------------------------------
  /** The verified authorization in the current AUTH chunk, or a drop reason (a number). */
  function verifiedAuthorization(nowSeconds: number): VerifiedAuthorization | number {
    const bytes = curBytes;
    const at = view.authOffset;
    if (view.authLength !== FLOW_AUTHORIZATION_LENGTH) return DropReason.AUTH_MALFORMED;
    const high = readU32BE(bytes, at + AUTH_SERIAL_OFFSET);
    const low = readU32BE(bytes, at + AUTH_SERIAL_OFFSET + 4);
    const candidates = verified.get(low);
    if (candidates) {
      for (const entry of candidates)
        if (entry.serialHigh === high && bytesEqual(entry.bytes, 0, bytes, at, FLOW_AUTHORIZATION_LENGTH)) {
          counters.authorizationCacheHits++;
          return entry;
        }
    }
    const copy = copyBytes(bytes, at, at + FLOW_AUTHORIZATION_LENGTH);
    const result = verifyFlowAuthorization(copy, controllerKey, nowSeconds);
    if (!result.ok) {
      switch (result.reason) {
        case 'malformed':
          return DropReason.AUTH_MALFORMED;
        case 'expired':
          return DropReason.AUTH_EXPIRED;
        case 'not-yet-valid':
          return DropReason.AUTH_NOT_YET_VALID;
        default:
          return DropReason.AUTH_FORGED;
      }
    }
    counters.authorizationsVerified++;
    if (verifiedCount >= settings.cacheCapacity) {
      verified.clear();
      verifiedCount = 0;
    }
    const value = result.value;
    const entry: VerifiedAuthorization = {
      bytes: copy,
      serialHigh: high,
      serialLow: low,
      serial: value.serial,
      notBefore: value.notBefore,
      notAfter: value.notAfter,
      contractId: value.contractId,
      roleId: value.roleId,
      revoked: isRevoked(high, low),
    };
    const list = verified.get(low) ?? [];
    list.push(entry);
    verified.set(low, list);
    verifiedCount++;
    return entry;
  }

  /** The program of the current CODE chunk, verified against `auth`'s logic hash; or a drop reason. */
  function verifiedProgram(auth: VerifiedAuthorization): ProgramEntry | number {
    const bytes = curBytes;
    const codeAt = view.codeOffset;
    const entryCount = bytes[codeAt]!;
    const machineAt = codeAt + 2 + 2 * entryCount;
    const machineEnd = codeAt + view.codeLength;
    const digest = logicHashOf(bytes.subarray(machineAt, machineEnd));
    if (!bytesEqual(digest, 0, auth.bytes, AUTH_LOGIC_HASH_OFFSET, 32)) return DropReason.LOGIC_HASH_MISMATCH;
    const logicHash = Buffer.from(digest.buffer, digest.byteOffset, digest.byteLength).toString('hex');
    const key = `${logicHash}:${Buffer.from(bytes.subarray(codeAt, machineAt)).toString('hex')}`;
    let entry = programs.get(key);
    if (!entry) {
      const machineCode = copyBytes(bytes, machineAt, machineEnd);
      const entryOffsets = new Int32Array(entryCount);
      for (let i = 0; i < entryCount; i++)
        entryOffsets[i] = (bytes[codeAt + 2 + 2 * i]! << 8) | bytes[codeAt + 3 + 2 * i]!;
      const check = verifyProgram(machineCode, { entryOffsets: Array.from(entryOffsets) });
      counters.programsVerified++;
      let prepared: PreparedProgram | undefined;
      let rejection: string | undefined;
      if (check.ok) prepared = prepareProgram(machineCode, { fast: settings.tier === 'fast' });
      else {
        counters.programsRejected++;
        rejection = check.diagnostics.map((d) => `${d.code}@${d.offset}`).join(', ');
        logger.warn({ logicHash, rejection }, 'program rejected by the verifier');
      }
      if (programs.size >= settings.cacheCapacity) programs.clear();
      entry = {
        logicHash,
        codeValue: copyBytes(bytes, codeAt, machineEnd),
        entryOffsets,
        prepared,
        rejection,
      };
      programs.set(key, entry);
    }
    return entry.prepared ? entry : DropReason.PROGRAM_REJECTED;
  }

  // ---- flows ------------------------------------------------------------------------------------
  function removeFlow(id: number): void {
    table.remove(id);
    forgetFlow(id);
  }

  /** Clears the engine's state of a flow the table removed or is evicting. */
  function forgetFlow(id: number): void {
    flowLive[id] = 0;
    flowProgram[id] = undefined;
    flowAuth[id] = undefined;
    flowContract[id] = undefined;
    cacheVerdict[id] = 0;
  }

  function expireFlows(): number {
    const now = clock.nowMs();
    let removed = 0;
    for (let id = 0; id < capacity; id++)
      if (flowLive[id] && now - flowLastSeenMs[id]! > settings.flowIdleTimeoutMs) {
        removeFlow(id);
        removed++;
      }
    counters.flowsExpired += removed;
    pruneRevoked(now);
    return removed;
  }

  /**
   * Forgets revoked serials whose authorization ended over a minute ago: the verifier refuses an
   * expired authorization by the same clock, so the list need not hold it (it grew for the
   * engine's life before). The minute covers the verifier's whole-second rounding.
   */
  function pruneRevoked(now: number): void {
    for (const [low, entries] of revoked) {
      const kept = entries.filter((entry) => entry.notAfterMs + 60_000 > now);
      if (kept.length === entries.length) continue;
      counters.revocationsPruned += entries.length - kept.length;
      revokedCount -= entries.length - kept.length;
      if (kept.length === 0) revoked.delete(low);
      else revoked.set(low, kept);
    }
  }

  function bindFlow(id: number, auth: VerifiedAuthorization, program: ProgramEntry, now: number): void {
    if (flowAuth[id] !== auth || flowProgram[id] !== program) cacheVerdict[id] = 0;
    flowAuth[id] = auth;
    flowProgram[id] = program;
    let contract = contractMemory.get(auth.contractId);
    if (!contract) {
      contract = new DataView(new ArrayBuffer(regions.contract.byteLength));
      contractMemory.set(auth.contractId, contract);
    }
    flowContract[id] = contract;
    if (!flowLive[id]) {
      flowLive[id] = 1;
      flowCreatedMs[id] = now;
      flowPackets[id] = 0;
      flowBytes[id] = 0;
      flowDrops[id] = 0;
      flowLastVerdict[id] = 0;
      flowLastReason[id] = 0;
      flowMemoryBytes.fill(0, id * FLOW_BYTES, (id + 1) * FLOW_BYTES);
      flowMemory[id] ??= new DataView(flowMemoryBytes.buffer, id * FLOW_BYTES, FLOW_BYTES);
      counters.flowsCreated++;
    }
  }

  // ---- egress -------------------------------------------------------------------------------------
  /** Copies the program's PATH and DATA back into the packet and advances the hop index. */
  function writeBack(): void {
    const bytes = curBytes;
    if (view.dataOffset >= 0) {
      const at = view.dataOffset;
      for (let i = 0; i < view.dataLength; i++) bytes[at + i] = regions.data[i]!;
    }
    if (view.pathOffset >= 0) {
      const at = view.pathOffset;
      for (let i = 0; i < view.pathLength; i++) bytes[at + i] = regions.path[i]!;
      advanceHopIndex();
    }
  }

  /** Moves the PATH hop index past this engine when this hop is ours and the program left it. */
  function advanceHopIndex(): void {
    if (!curIsThisHop) return;
    const at = view.pathOffset + PathOffset.HOP_INDEX;
    if (
      curBytes[at] === curHopIndexOriginal &&
      curHopIndexOriginal < curBytes[view.pathOffset + PathOffset.HOP_COUNT]!
    )
      curBytes[at] = curHopIndexOriginal + 1;
  }

  /** Decrements the hop limit once per packet (the caller checked it is > 1). */
  function decrementHopLimit(): void {
    if (curHopLimitDone) return;
    curBytes[curOffset + 7] = curBytes[curOffset + 7]! - 1;
    curHopLimitDone = true;
  }

  let traceVerdict = 0;
  let traceReason = 0;
  let traceFuel = 0;
  let traceWanted = false;

  /** Sends the current packet on one link (by program link id); 0 when sent, else a drop reason. */
  function sendOn(programLinkId: number, verdict: number, fuel: number, reason: number): number {
    const link =
      programLinkId > 0 && programLinkId < byProgramId.length ? byProgramId[programLinkId] : undefined;
    if (!link?.up) return DropReason.NO_ROUTE;
    decrementHopLimit();
    let bytes = curBytes;
    let offset = curOffset;
    let length = curLength;
    if (traceWanted) {
      traceVerdict = verdict;
      traceFuel = fuel;
      traceReason = reason;
      length = buildTraced();
      if (length > 0) {
        bytes = egress;
        offset = 0;
      } else {
        length = curLength;
      }
    }
    if (!linkLayer.send(link.id, bytes, offset, length)) return DropReason.SEND_FAILED;
    counters.packetsOut++;
    counters.bytesOut += length;
    link.packetsOut++;
    link.bytesOut += length;
    return 0;
  }

  /** DELIVER: to the link of the destination host; 0 when sent, else a drop reason. */
  function deliver(fuel: number): number {
    const dst = curOffset + 24;
    for (const link of hostLinks)
      if (bytesEqual(link.peerHostId, 0, curBytes, dst, 16))
        return sendOn(link.programId, Verdict.DELIVER, fuel, 0);
    return DropReason.NO_HOST_LINK;
  }

  /**
   * Builds the current packet with one more TRACE record into `egress`; returns its length, or 0
   * when the TRACE chunk or the header is full (the packet goes on untraced, counted).
   */
  function buildTraced(): number {
    const src = curBytes;
    const base = curOffset;
    const capsuleAt = base + IPV6_HEADER_LENGTH;
    const capsuleEnd = capsuleAt + view.length;
    const packetEnd = base + curLength;
    let chunksEnd = capsuleAt + 4;
    const ends = [
      view.authOffset + view.authLength,
      view.pathOffset + view.pathLength,
      view.codeOffset + view.codeLength,
      view.dataOffset + view.dataLength,
      view.traceOffset + view.traceLength,
    ];
    for (const end of ends) if (end > chunksEnd) chunksEnd = end;
    const hasTrace = view.traceOffset >= 0;
    const added = hasTrace ? TRACE_RECORD_LENGTH : CHUNK_HEADER_LENGTH + TRACE_RECORD_LENGTH;
    const newTraceLength = (hasTrace ? view.traceLength : 0) + TRACE_RECORD_LENGTH;
    const newCapsuleLength = (chunksEnd + added - capsuleAt + 7) & ~7;
    if (newTraceLength > TRACE_CHUNK_LIMIT || newCapsuleLength > CAPSULE_HEADER_LIMIT) {
      counters.traceFull++;
      return 0;
    }
    const out = egress;
    let w = 0;
    for (let i = base; i < chunksEnd; i++) out[w++] = src[i]!;
    if (hasTrace) {
      const header = view.traceOffset - CHUNK_HEADER_LENGTH - base;
      out[header] = (ChunkType.TRACE << 4) | (newTraceLength >>> 8);
      out[header + 1] = newTraceLength & 0xff;
    } else {
      out[w++] = (ChunkType.TRACE << 4) | (TRACE_RECORD_LENGTH >>> 8);
      out[w++] = TRACE_RECORD_LENGTH & 0xff;
    }
    const timeUs = Math.floor(clock.nowMs() * 1000) % 0x1_0000_0000;
    out[w++] = engineId >>> 8;
    out[w++] = engineId & 0xff;
    out[w++] = timeUs >>> 24;
    out[w++] = (timeUs >>> 16) & 0xff;
    out[w++] = (timeUs >>> 8) & 0xff;
    out[w++] = timeUs & 0xff;
    out[w++] = traceFuel >>> 24;
    out[w++] = (traceFuel >>> 16) & 0xff;
    out[w++] = (traceFuel >>> 8) & 0xff;
    out[w++] = traceFuel & 0xff;
    out[w++] = traceVerdict;
    out[w++] = Math.min(255, traceReason);
    const newCapsuleEnd = IPV6_HEADER_LENGTH + newCapsuleLength;
    while (w < newCapsuleEnd) out[w++] = 0;
    for (let i = capsuleEnd; i < packetEnd; i++) out[w++] = src[i]!;
    out[IPV6_HEADER_LENGTH + 1] = newCapsuleLength / 8 - 1;
    const payloadLength = w - IPV6_HEADER_LENGTH;
    out[4] = payloadLength >>> 8;
    out[5] = payloadLength & 0xff;
    counters.traceRecords++;
    return w;
  }

  /** Applies a final verdict; counts it. */
  function applyAction(
    verdict: number,
    count: number,
    linksAt: Uint32Array | DataView,
    linksOffset: number,
    fuel: number,
    programReason: number,
  ): boolean {
    if (verdict === Verdict.DROP) {
      traceWanted = false;
      drop(DropReason.PROGRAM_DROP);
      if (curFlow >= 0) flowProgramReason[curFlow] = programReason;
      return false;
    }
    let failure = 0;
    let sent = 0;
    if (verdict === Verdict.DELIVER) {
      failure = deliver(fuel);
      if (failure === 0) sent = 1;
    } else {
      for (let i = 0; i < count; i++) {
        const linkId =
          linksAt instanceof Uint32Array
            ? linksAt[linksOffset + i]!
            : linksAt.getUint32(linksOffset + 4 * i, true);
        const result = sendOn(linkId, verdict, fuel, 0);
        if (result === 0) sent++;
        else failure = result;
      }
    }
    if (sent === 0) return drop(failure || DropReason.NO_ROUTE);
    counters.verdicts[verdict] = counters.verdicts[verdict]! + 1;
    if (curFlow >= 0) {
      flowLastVerdict[curFlow] = verdict;
      flowLastReason[curFlow] = 0;
    }
    return true;
  }

  // ---- the pipeline ---------------------------------------------------------------------------------
  /** Handles one packet; true when it was sent on (FORWARD, REPLICATE, DELIVER), false when dropped. */
  function handlePacket(linkId: number, bytes: Uint8Array, offset: number, length: number): boolean {
    counters.packetsIn++;
    counters.bytesIn += length;
    curBytes = bytes;
    curOffset = offset;
    curFlow = -1;
    curHopLimitDone = false;
    curIsThisHop = false;
    traceWanted = false;
    const link = links.get(linkId);
    curLink = link;
    if (link) {
      link.packetsIn++;
      link.bytesIn += length;
    }
    // Inner IPv6 header.
    if (length < IPV6_HEADER_LENGTH || bytes[offset]! >>> 4 !== 6) return drop(DropReason.MALFORMED_PACKET);
    const packetLength = IPV6_HEADER_LENGTH + ((bytes[offset + 4]! << 8) | bytes[offset + 5]!);
    if (packetLength > length) return drop(DropReason.MALFORMED_PACKET);
    curLength = packetLength;
    if (bytes[offset + 6] !== CAPSULE_NEXT_HEADER) return drop(DropReason.NOT_CAPSULE);
    if (!link) return drop(DropReason.WRONG_LINK);
    // Source binding of the link: an engine link, or the source host's own link.
    if (link.kind !== LinkKind.ENGINE && !bytesEqual(link.peerHostId, 0, bytes, offset + 8, 16))
      return drop(DropReason.WRONG_LINK);
    if (!view.parse(bytes, offset + IPV6_HEADER_LENGTH, offset + packetLength))
      return drop(DropReason.MALFORMED_CAPSULE);
    const packetType = view.packetType;
    counters.byType[packetType] = counters.byType[packetType]! + 1;
    if (bytes[offset + 7]! <= 1) return drop(DropReason.HOP_LIMIT);
    const now = clock.nowMs();
    const nowSeconds = Math.floor(now / 1000);
    const flowLabel = ((bytes[offset + 1]! & 0x0f) << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    let id = table.find(bytes, offset + 8, offset + 24, flowLabel);
    if (id >= 0 && now - flowLastSeenMs[id]! > settings.flowIdleTimeoutMs) {
      removeFlow(id);
      counters.flowsExpired++;
      id = -1;
    }

    if (packetType === 1) {
      const auth = verifiedAuthorization(nowSeconds);
      if (typeof auth === 'number') {
        curFlow = id;
        return drop(auth);
      }
      if (auth.revoked) return drop(DropReason.AUTH_REVOKED);
      if (nowSeconds > auth.notAfter) return drop(DropReason.AUTH_EXPIRED);
      if (nowSeconds < auth.notBefore) return drop(DropReason.AUTH_NOT_YET_VALID);
      if (!bytesEqual(auth.bytes, AUTH_SOURCE_OFFSET, bytes, offset + 8, 16))
        return drop(DropReason.WRONG_SOURCE);
      let program: ProgramEntry | number;
      const current = id >= 0 ? flowProgram[id] : undefined;
      if (
        current &&
        flowAuth[id] === auth &&
        current.codeValue.length === view.codeLength &&
        bytesEqual(current.codeValue, 0, bytes, view.codeOffset, view.codeLength)
      )
        program = current;
      else program = verifiedProgram(auth);
      if (typeof program === 'number') {
        curFlow = id;
        return drop(program);
      }
      if (id < 0) {
        id = table.admit(bytes, offset + 8, offset + 24, flowLabel, auth.serialHigh, auth.serialLow, now);
        if (id < 0) return drop(refusalDrops[id as -1 | -2 | -3]);
      } else if (flowAuth[id] !== auth) table.setAuthorization(id, auth.serialHigh, auth.serialLow);
      bindFlow(id, auth, program, now);
    } else {
      if (id < 0) return drop(DropReason.UNKNOWN_FLOW);
    }
    curFlow = id;
    flowLastSeenMs[id] = now;
    flowPackets[id] = flowPackets[id]! + 1;
    flowBytes[id] = flowBytes[id]! + packetLength;
    const auth = flowAuth[id]!;
    if (auth.revoked) return drop(DropReason.AUTH_REVOKED);
    if (nowSeconds > auth.notAfter) return drop(DropReason.AUTH_EXPIRED);
    const program = flowProgram[id]!;
    if (
      packetType === 2 &&
      (program.codeValue.length !== view.codeLength ||
        !bytesEqual(program.codeValue, 0, bytes, view.codeOffset, view.codeLength))
    )
      return drop(DropReason.CODE_HASH_MISMATCH);

    // Which PATH hop this is, and which entry it runs.
    let entryIndex = 0;
    curHopIndexOriginal = -1;
    if (view.pathOffset >= 0) {
      const p = view.pathOffset;
      const hopIndex = bytes[p + PathOffset.HOP_INDEX]!;
      curHopIndexOriginal = hopIndex;
      entryIndex = (bytes[p + PathOffset.DEFAULT_ENTRY]! << 8) | bytes[p + PathOffset.DEFAULT_ENTRY + 1]!;
      if (hopIndex < bytes[p + PathOffset.HOP_COUNT]!) {
        const hop = p + PathOffset.HOPS + 4 * hopIndex;
        if (((bytes[hop]! << 8) | bytes[hop + 1]!) === engineId) {
          curIsThisHop = true;
          entryIndex = bytes[hop + 2]!;
        }
      }
    }
    traceWanted = (view.flags & CapsuleFlag.TRACE) !== 0;

    // Type III with a cached action: no execution.
    if (packetType === 3 && cacheVerdict[id] !== 0) {
      counters.cachedActions++;
      if (view.pathOffset >= 0) advanceHopIndex();
      return applyAction(cacheVerdict[id]!, cacheCount[id]!, cacheLinks, id * 16, 0, cacheDropReason[id]!);
    }

    if (entryIndex >= program.entryOffsets.length) return drop(TrapReason.BAD_ENTRY);
    const entryOffset = program.entryOffsets[entryIndex]!;
    fillPacketRecord(link.programId, packetType, packetLength, now, entryOffset);
    const path = regions.path;
    const data = regions.data;
    for (let i = 0; i < view.pathLength; i++) path[i] = bytes[view.pathOffset + i]!;
    for (let i = 0; i < view.dataLength; i++) data[i] = bytes[view.dataOffset + i]!;
    counters.programRuns++;
    runOptions.entryOffset = entryOffset;
    runOptions.pathLengthBytes = view.pathLength;
    runOptions.dataLengthBytes = view.dataLength;
    runOptions.flowMemory = flowMemory[id];
    runOptions.contractMemory = flowContract[id];
    const result = sandbox.run(program.prepared!, runOptions);
    counters.fuelUsed += result.fuelUsed;
    if (result.trap !== TrapReason.NONE) {
      cacheVerdict[id] = 0;
      traceWanted = false;
      return drop(result.trap);
    }
    const verdict = result.verdict;
    if ((result.flags & ActionFlag.TRACE) !== 0) traceWanted = true;
    const count = verdict === Verdict.FORWARD ? 1 : verdict === Verdict.REPLICATE ? result.egressCount : 0;
    if ((result.flags & ActionFlag.CACHE) !== 0) {
      cacheVerdict[id] = verdict;
      cacheCount[id] = count;
      cacheDropReason[id] = result.dropReason;
      for (let i = 0; i < count; i++)
        cacheLinks[id * 16 + i] = actionView.getUint32(ActionField.EGRESS_LINKS + 4 * i, true);
    } else cacheVerdict[id] = 0;
    if (verdict !== Verdict.DROP) writeBack();
    return applyAction(
      verdict,
      count,
      actionView,
      ActionField.EGRESS_LINKS,
      result.fuelUsed,
      result.dropReason,
    );
  }

  function fillPacketRecord(
    linkId: number,
    packetType: number,
    packetLength: number,
    now: number,
    entryOffset: number,
  ): void {
    const bytes = curBytes;
    const offset = curOffset;
    const record = regions.packet;
    for (let i = 0; i < 32; i++) record[i] = bytes[offset + 8 + i]!;
    const flowLabel = ((bytes[offset + 1]! & 0x0f) << 16) | (bytes[offset + 2]! << 8) | bytes[offset + 3]!;
    packetRecord.setUint32(PacketField.FLOW_LABEL, flowLabel, true);
    packetRecord.setUint16(PacketField.PACKET_LENGTH, packetLength, true);
    packetRecord.setUint16(PacketField.PAYLOAD_LENGTH, packetLength - IPV6_HEADER_LENGTH - view.length, true);
    record[PacketField.HOP_LIMIT] = bytes[offset + 7]!;
    record[PacketField.NEXT_HEADER] = view.nextHeader;
    record[PacketField.TRAFFIC_CLASS] = ((bytes[offset]! & 0x0f) << 4) | (bytes[offset + 1]! >>> 4);
    record[PacketField.PACKET_TYPE] = packetType;
    packetRecord.setUint32(PacketField.INGRESS_LINK, linkId, true);
    packetRecord.setUint32(PacketField.TIME_LOW, now % 0x1_0000_0000, true);
    packetRecord.setUint32(PacketField.TIME_HIGH, Math.floor(now / 0x1_0000_0000), true);
    packetRecord.setUint16(PacketField.PATH_LENGTH, view.pathLength, true);
    packetRecord.setUint16(PacketField.DATA_LENGTH, view.dataLength, true);
    packetRecord.setUint16(PacketField.SRC_PORT, 0, true);
    packetRecord.setUint16(PacketField.DST_PORT, 0, true);
    packetRecord.setUint32(PacketField.ENTRY, entryOffset, true);
  }

  // ---- snapshots ----------------------------------------------------------------------------------
  function describeCache(id: number): string | undefined {
    const verdict = cacheVerdict[id]!;
    if (verdict === 0) return undefined;
    const count = cacheCount[id]!;
    const ids: number[] = [];
    for (let i = 0; i < count; i++) ids.push(cacheLinks[id * 16 + i]!);
    return count > 0 ? `${verdictNames[verdict]} ${ids.join(',')}` : verdictNames[verdict];
  }

  function flows(): FlowSnapshot[] {
    const out: FlowSnapshot[] = [];
    for (let id = 0; id < capacity; id++) {
      if (!flowLive[id]) continue;
      const auth = flowAuth[id]!;
      const verdict = flowLastVerdict[id]!;
      out.push({
        id,
        source: formatIpv6Address(table.sourceOf(id)),
        destination: formatIpv6Address(table.destinationOf(id)),
        flowLabel: table.flowLabelOf(id),
        serial: auth.serial.toString(),
        contractId: auth.contractId,
        roleId: auth.roleId,
        logicHash: flowProgram[id]?.logicHash ?? '',
        packets: flowPackets[id]!,
        bytes: flowBytes[id]!,
        drops: flowDrops[id]!,
        lastVerdict:
          verdict === Verdict.DROP
            ? flowLastReason[id] === DropReason.PROGRAM_DROP
              ? `DROP PROGRAM_DROP ${flowProgramReason[id]}`
              : `DROP ${dropReasonName(flowLastReason[id]!)}`
            : (verdictNames[verdict] ?? String(verdict)),
        cachedAction: describeCache(id),
        createdAtMs: flowCreatedMs[id]!,
        lastSeenMs: flowLastSeenMs[id]!,
        notAfterSeconds: auth.notAfter,
        revoked: auth.revoked,
      });
    }
    return out;
  }

  function snapshotCounters(): EngineCounters {
    const drops: Record<string, number> = {};
    counters.drops.forEach((count, code) => {
      if (count > 0) drops[dropReasonName(code)] = count;
    });
    const verdicts: Record<string, number> = {};
    for (let v = 1; v <= 4; v++) verdicts[verdictNames[v]!] = counters.verdicts[v]!;
    return {
      packetsIn: counters.packetsIn,
      bytesIn: counters.bytesIn,
      packetsOut: counters.packetsOut,
      bytesOut: counters.bytesOut,
      packetsByType: { I: counters.byType[1]!, II: counters.byType[2]!, III: counters.byType[3]! },
      verdicts,
      drops,
      programRuns: counters.programRuns,
      cachedActions: counters.cachedActions,
      authorizationsVerified: counters.authorizationsVerified,
      authorizationCacheHits: counters.authorizationCacheHits,
      programsVerified: counters.programsVerified,
      programsRejected: counters.programsRejected,
      emits: counters.emits,
      traceRecords: counters.traceRecords,
      traceFull: counters.traceFull,
      revocations: counters.revocations,
      revocationsPruned: counters.revocationsPruned,
      revokedSerials: revokedCount,
      flowsCreated: counters.flowsCreated,
      flowsExpired: counters.flowsExpired,
      flowsEvicted: { ...table.evictions },
      liveFlows: table.size,
      fuelUsed: counters.fuelUsed,
      linkLayer: {
        drops: { ...linkLayer.drops },
        handshakeRejections: { ...linkLayer.handshakeRejections },
        handshakesVerified: linkLayer.handshakeStats.verified,
        cookieRepliesSent: linkLayer.handshakeStats.cookieRepliesSent,
        cookiesAccepted: linkLayer.handshakeStats.cookiesAccepted,
      },
    };
  }

  function linkSnapshots(): EngineLinkSnapshot[] {
    return [...links.values()].map((meta) => ({
      id: meta.id,
      programId: meta.programId,
      peer: formatIpv6Address(meta.peerHostId),
      peerName: meta.peerName,
      kind: meta.kind === LinkKind.ENGINE ? 'engine' : 'host',
      neighborEngineId: meta.neighborEngineId,
      cost: meta.cost,
      tags: meta.tags,
      up: meta.up,
      packetsIn: meta.packetsIn,
      packetsOut: meta.packetsOut,
      bytesIn: meta.bytesIn,
      bytesOut: meta.bytesOut,
      drops: meta.drops,
    }));
  }

  // ---- lifecycle ------------------------------------------------------------------------------------
  const stops: (() => void)[] = [];
  let started = false;

  const engine: Engine = {
    engineId,
    start() {
      if (started) return;
      started = true;
      linkLayer.onPacket(handlePacket);
      linkLayer.onLinkChange((info) => {
        refreshLinks();
        for (const hook of onLinkChangeHooks) hook(info);
      });
      refreshLinks();
      stops.push(clock.setInterval(() => expireFlows(), Math.max(1000, settings.flowIdleTimeoutMs / 4)));
      for (const hook of onStartHooks) stops.push(hook());
      logger.info({ engineId, hostId: formatIpv6Address(options.hostId) }, 'engine started');
    },
    stop() {
      if (!started) return;
      started = false;
      linkLayer.onPacket(() => {});
      for (const stop of stops.splice(0)) stop();
      logger.info({ engineId }, 'engine stopped');
    },
    handlePacket,
    flows,
    links: linkSnapshots,
    counters: snapshotCounters,
    revoke,
    refreshLinks,
    expireFlows,
  };
  const onStartHooks: (() => () => void)[] = [];
  const onLinkChangeHooks: ((info: LinkInfo) => void)[] = [];
  if (deps.controller) {
    const hooks = controllerHooks(engine, deps.controller, {
      clock,
      logger,
      locator: options.locator,
      keepaliveIntervalMs: options.keepaliveIntervalMs,
      counters: snapshotCounters,
      linkCost: (info) =>
        options.links?.find(
          (entry) => entry.peer === formatIpv6Address(info.peerHostId) || entry.peer === info.peerName,
        )?.cost,
    });
    onStartHooks.push(hooks.start);
    onLinkChangeHooks.push(hooks.onLinkChange);
  }
  return engine;
}

/** FLOW_HASH: FNV-1a over (src, dst, flow label) mixed with the seed: the same on every engine. */
function flowHashOf(bytes: Uint8Array, offset: number, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 8; i < 40; i++) hash = Math.imul(hash ^ bytes[offset + i]!, 0x01000193);
  hash = Math.imul(hash ^ (bytes[offset + 1]! & 0x0f), 0x01000193);
  hash = Math.imul(hash ^ bytes[offset + 2]!, 0x01000193);
  hash = Math.imul(hash ^ bytes[offset + 3]!, 0x01000193);
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b);
  hash ^= hash >>> 13;
  return hash >>> 0;
}
