/**
 * The link layer (the contract is link-layer.ts; the protocol is docs/overlay.md).
 *
 * State, per layer:
 * - links, by id and by peer host id. A link is one peer; it keeps its id for the layer's life.
 * - sessions, by our receiver index: a link's `current` session (what we send with), its
 *   `previous` one (still opens frames for previousKeyGraceMs after a rekey) and, on the responder
 *   side, `candidates`: sessions from NAs we sent that the initiator has not confirmed yet. The
 *   initiator confirms by sending a DATA frame (a keep-alive at once) with the new keys; the first
 *   authenticated frame on a candidate makes it current. So both sides switch keys only when both
 *   hold them, and a lost or duplicated NA cannot leave them on different keys.
 * - pending handshakes (initiator side), by receiver index and by underlay address.
 * - the peers connect() asked for, retried after a give-up or a timeout.
 *
 * - the handshake guard (handshake-guard.ts): MAC1 keys, the cookie issuer (responder), the
 *   cookies we hold for peers (initiator), the replay cache of verified handshake signatures, the
 *   load meter and the token buckets that gate public-key work.
 *
 * One timer (deps.clock.setInterval, every `tickMs`) drives NS retransmission, keep-alives,
 * timeouts, rekeys, the end of grace periods and reconnects; tests drive it with a manual clock.
 */
import { randomBytes, randomFillSync } from 'node:crypto';
import {
  controllerKeyId,
  decodeNodeCertificate,
  deriveSessionKeys,
  exportEd25519PublicKeyRaw,
  generateX25519KeyPair,
  type NodeCertificate,
  NonceCache,
  type SessionKeys,
  TimestampChecker,
  type TrustedControllerKey,
  verifyCga,
  type X25519KeyPair,
} from '@capsule/identity';
import { fastPathClockProblem, LinkFrameType, LinkFrameView } from '@capsule/wire';
import {
  createLinkSession,
  FrameBuffer,
  type LinkSession,
  openDataFrame,
  SEAL_MALFORMED,
  sealDataFrame,
} from './data-frame';
import { OverlayError } from './errors';
import {
  ALL_NODES_ADDRESS,
  buildHandshakeFrame,
  createHandshakeSigner,
  HANDSHAKE_NONCE_LENGTH,
  HANDSHAKE_REJECT_REASONS,
  type HandshakeRejectReason,
  type ParsedHandshake,
  parseHandshakeFrame,
  peekHandshakeFreshness,
  solicitedNodeAddress,
  UNSPECIFIED_ADDRESS,
  type VerifiedHandshake,
  verifyParsedHandshake,
} from './handshake';
import {
  COOKIE_USE_LIFETIME_MS,
  CookieIssuer,
  checkHandshakeMac,
  HandshakeReplayCache,
  handshakeMac1Key,
  handshakeMac1Receiver,
  LoadMeter,
  openCookieReply,
  TokenBuckets,
  writeHandshakeMacs,
} from './handshake-guard';
import type {
  HandshakeStats,
  LinkDownReason,
  LinkDropCounters,
  LinkInfo,
  LinkLayer,
  LinkLayerDeps,
  LinkLayerOptions,
  LinkPacketHandler,
} from './link-layer';
import { formatUnderlayAddress, type UnderlayAddress } from './transport';

/** Every option's default, in one place. */
export const defaultLinkLayerOptions = {
  keepAliveIntervalMs: 10_000,
  rekeyAfterMs: 120_000,
  rekeyAfterPackets: 2 ** 32,
  handshakeRetransmitMs: 1_000,
  handshakeBackoffMaxMs: 8_000,
  handshakeAttempts: 6,
  previousKeyGraceMs: 5_000,
  reconnectIntervalMs: 10_000,
  replayWindowSize: 2016,
  handshakeFreshnessWindowMs: 300_000,
  handshakeReplayCacheEntries: 16_384,
  handshakeLoadPerSecond: 200,
  handshakesPerSourcePerSecond: 20,
  handshakeSourcesTracked: 4_096,
  cookieRepliesPerSecond: 500,
} as const;

/** A link goes down after this many keep-alive intervals with nothing authenticated received. */
const SILENT_INTERVALS = 3;
/** Unconfirmed responder sessions kept per link (one per retransmitted NS of one handshake). */
const MAX_CANDIDATES = 4;
/** The responder of a session rekeys only if the initiator has not, this much later. */
const RESPONDER_REKEY_FACTOR = 1.5;
/**
 * A retired session's receiver index is not given to another session for this long. The native
 * data path hands a frame up flagged when it verified its tag with the session its index named
 * (Transport's `authenticated`), and the layer then takes the tag as verified for the session it
 * finds at that index: the quarantine makes that the same session, since a receive batch is handled
 * in one go (a frame whose session was retired meanwhile finds none: `unknownReceiver`).
 */
export const RETIRED_INDEX_QUARANTINE_MS = 10_000;

const randomIndexBytes = Buffer.alloc(4);
/** A random 32-bit receiver index candidate (node:crypto). */
function randomReceiverIndex(): number {
  randomFillSync(randomIndexBytes);
  return randomIndexBytes.readUInt32BE(0);
}

interface Session extends LinkSession {
  readonly link: Link;
  readonly createdMs: number;
  readonly isInitiator: boolean;
  /** Initiator sessions are confirmed at once; responder candidates by the first authenticated frame. */
  confirmed: boolean;
  /** Underlay address the handshake came from: the link's address once the session is current. */
  readonly underlay: UnderlayAddress;
  /** When a retired (previous) session stops opening frames. */
  expiresMs: number;
}

interface Link {
  readonly id: number;
  readonly peerHostId: Uint8Array;
  readonly peerHex: string;
  peerName: string;
  peerNodeType: number;
  peerNotAfterMs: number;
  peerUnderlay: UnderlayAddress;
  state: 'handshaking' | 'up' | 'down';
  downReason: LinkDownReason | undefined;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  lastReceiveMs: number;
  lastSendMs: number;
  handshakes: number;
  current: Session | undefined;
  previous: Session | undefined;
  candidates: Session[];
  pending: Pending | undefined;
  /** Nonces of our last completed NS round: an NA echoing one is a duplicate. */
  answeredNonces: Set<string>;
}

interface Pending {
  readonly localIndex: number;
  readonly ephemeral: X25519KeyPair;
  readonly peer: UnderlayAddress;
  readonly peerKey: string;
  readonly expectedHostId: Uint8Array | undefined;
  readonly link: Link | undefined;
  readonly isRekey: boolean;
  readonly sentNonces: Uint8Array[];
  attempts: number;
  nextSendMs: number;
  /** MAC1 of the last NS sent: a cookie reply must answer it (cleared once one did). */
  lastMac1: Uint8Array | undefined;
}

interface WantedPeer {
  readonly peer: UnderlayAddress;
  readonly key: string;
  readonly expectedHostId: Uint8Array | undefined;
  nextAttemptMs: number;
}

const hex = (bytes: Uint8Array) =>
  Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');

/** Most decommissioned host ids one layer holds (a revocation command names at most 1,024). */
export const MAX_REVOKED_HOSTS = 65_536;

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) if (a[index] !== b[index]) return false;
  return true;
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(
    Buffer.from(a.buffer, a.byteOffset, a.byteLength),
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

function positive(name: string, value: number): number {
  if (!(Number.isFinite(value) && value > 0))
    throw new OverlayError('OVERLAY_OPTION_INVALID', `${name} must be a positive number; got ${value}`);
  return value;
}

/** The link layer over `deps.transport` for `options.identity`. */
export function createLinkLayer(options: LinkLayerOptions, deps: LinkLayerDeps): LinkLayer {
  const { identity } = options;
  const { transport, clock, dataPath } = deps;
  const randomIndex = deps.randomIndex ?? randomReceiverIndex;
  const clockProblem = dataPath && fastPathClockProblem(clock);
  if (clockProblem) throw new OverlayError('OVERLAY_OPTION_INVALID', `dataPath: ${clockProblem}`);
  /** An option, or its default; a positive number either way. */
  const setting = (name: Exclude<keyof typeof defaultLinkLayerOptions, 'replayWindowSize'>): number =>
    positive(name, options[name] ?? defaultLinkLayerOptions[name]);
  const keepAliveIntervalMs = setting('keepAliveIntervalMs');
  const rekeyAfterMs = setting('rekeyAfterMs');
  const rekeyAfterPackets = setting('rekeyAfterPackets');
  const retransmitMs = setting('handshakeRetransmitMs');
  const backoffMaxMs = setting('handshakeBackoffMaxMs');
  const handshakeAttempts = setting('handshakeAttempts');
  const graceMs = setting('previousKeyGraceMs');
  const reconnectIntervalMs = setting('reconnectIntervalMs');
  const replayWindowSize = options.replayWindowSize ?? defaultLinkLayerOptions.replayWindowSize;
  const freshnessWindowMs = setting('handshakeFreshnessWindowMs');
  const replayCacheEntries = setting('handshakeReplayCacheEntries');
  const loadPerSecond = setting('handshakeLoadPerSecond');
  const perSourcePerSecond = setting('handshakesPerSourcePerSecond');
  const sourcesTracked = setting('handshakeSourcesTracked');
  const cookieRepliesPerSecond = setting('cookieRepliesPerSecond');
  /** Timer granularity: fine enough for keep-alives and retransmissions. */
  const tickMs = Math.max(5, Math.min(keepAliveIntervalMs / 4, retransmitMs / 2, 1_000));
  /** A candidate the initiator never confirmed is forgotten after the longest handshake. */
  let candidateLifetimeMs = 0;
  for (let attempt = 0; attempt < handshakeAttempts; attempt++)
    candidateLifetimeMs += Math.min(retransmitMs * 2 ** attempt, backoffMaxMs);

  // The own identity must be sound: a layer that could only send refused handshakes is a configuration error.
  const ownCga = verifyCga(identity.hostId, identity.cgaParameters);
  if (!ownCga.ok)
    throw new OverlayError(
      'OVERLAY_IDENTITY_INVALID',
      `the host id is not a CGA of its parameters (${ownCga.reason})`,
    );
  const ownCertificate = decodeNodeCertificate(identity.nodeCertificate);
  if (!ownCertificate.ok || !equalBytes(ownCertificate.value.hostId, identity.hostId))
    throw new OverlayError(
      'OVERLAY_IDENTITY_INVALID',
      'the node certificate is malformed or for another host id',
    );
  if (identity.rsaPrivateKey.asymmetricKeyType !== 'rsa')
    throw new OverlayError('OVERLAY_IDENTITY_INVALID', 'the handshake key must be RSA (RFC 3971 5.2)');
  const ownHostId = identity.hostId.slice();
  const ownSolicited = solicitedNodeAddress(ownHostId);
  let signer = createHandshakeSigner(identity);
  /** Decommissioned host ids (hex) with the end of their refusal (`revokeHost`). */
  const revokedHosts = new Map<string, number>();
  const isRevoked = (hostId: Uint8Array, nowMs: number) => {
    const untilMs = revokedHosts.get(hex(hostId));
    return untilMs !== undefined && nowMs < untilMs;
  };
  /** The controller keys peers' certificates may be signed by (`setControllerKeys` replaces them). */
  let controllerKeys: readonly TrustedControllerKey[] = identity.controllerKeys ?? [
    { publicKey: identity.controllerPublicKey, keyId: controllerKeyId(identity.controllerPublicKey) },
  ];
  const timestamps = new TimestampChecker({ deltaSeconds: freshnessWindowMs / 1000 }, { clock });
  const nonces = new NonceCache({ ttlMs: 2 * freshnessWindowMs }, { clock });

  // The handshake guard: what runs before any public-key work (handshake-guard.ts).
  /** Per trusted key: its raw bytes, its end (ms; ∞ for none) and the MAC1 keys we check with. */
  let mac1Keys: { raw: Uint8Array; endMs: number; own: Uint8Array; anonymous: Uint8Array }[] = [];
  const setMac1Keys = () => {
    mac1Keys = controllerKeys
      .map((key) => {
        const raw = exportEd25519PublicKeyRaw(key.publicKey);
        return {
          raw,
          endMs: key.notAfter === undefined ? Number.POSITIVE_INFINITY : (key.notAfter + 1) * 1000,
          own: handshakeMac1Key(raw, ownHostId),
          anonymous: handshakeMac1Key(raw, undefined),
          keyId: key.keyId,
        };
      })
      .sort((a, b) => a.endMs - b.endMs || a.keyId - b.keyId);
  };
  setMac1Keys();
  /**
   * The controller key our MAC1s are keyed from: the trusted key that ends first and has not ended
   * (during a rotation, the replaced key, which nodes not yet told of the new one also hold).
   */
  const mac1Anchor = (nowMs: number) => (mac1Keys.find((key) => nowMs < key.endMs) ?? mac1Keys.at(-1)!).raw;
  /** Whether frame[0, macOffset) carries a MAC1 under a trusted key's `which` MAC1 key. No allocation. */
  const hasTrustedMac1 = (
    which: 'own' | 'anonymous',
    bytes: Uint8Array,
    macOffset: number,
    nowMs: number,
  ) => {
    for (let i = 0; i < mac1Keys.length; i++) {
      const key = mac1Keys[i]!;
      if (nowMs < key.endMs && checkHandshakeMac(key[which], bytes, macOffset)) return true;
    }
    return false;
  };
  const verifiedSignatures = new HandshakeReplayCache({
    ttlMs: 2 * freshnessWindowMs,
    capacity: replayCacheEntries,
  });
  const load = new LoadMeter(loadPerSecond);
  const bucketOptions = {
    ratePerSecond: perSourcePerSecond,
    burst: perSourcePerSecond,
    maxKeys: sourcesTracked,
  };
  /** Sources whose address is not proven (no MAC2): only when not under load. */
  const unprovenBudget = new TokenBuckets(bucketOptions);
  /** Sources that proved their address with a cookie. */
  const provenBudget = new TokenBuckets(bucketOptions);
  const cookieBudget = new TokenBuckets({
    ratePerSecond: cookieRepliesPerSecond,
    burst: cookieRepliesPerSecond,
    maxKeys: 1,
  });
  const cookieIssuer = new CookieIssuer({ clock });
  /** Cookies responders handed us, by their underlay address. */
  const cookieJar = new Map<string, { cookie: Uint8Array; receivedMs: number }>();
  const handshakeStats: HandshakeStats = {
    verified: 0,
    cookieRepliesSent: 0,
    cookiesAccepted: 0,
    certificateSwaps: 0,
    controllerKeySets: 0,
  };

  const drops: LinkDropCounters = {
    malformed: 0,
    unknownReceiver: 0,
    replayed: 0,
    badTag: 0,
    handshakeRejected: 0,
    sendNotUp: 0,
    sendMalformed: 0,
  };
  const handshakeRejections = Object.fromEntries(
    HANDSHAKE_REJECT_REASONS.map((reason) => [reason, 0]),
  ) as Record<HandshakeRejectReason, number>;
  const linksById = new Map<number, Link>();
  const linksByHost = new Map<string, Link>();
  const sessionsByIndex = new Map<number, Session>();
  const pendingByIndex = new Map<number, Pending>();
  /** Receiver indices retired less than RETIRED_INDEX_QUARANTINE_MS ago, and when. */
  const retiredIndices = new Map<number, number>();
  const pendingByAddress = new Map<string, Pending>();
  const wanted = new Map<string, WantedPeer>();
  const out = new FrameBuffer();
  const view = new LinkFrameView();
  const empty = new Uint8Array(0);
  let packetHandler: LinkPacketHandler = () => {};
  let linkChangeHandler: (link: LinkInfo) => void = () => {};
  let stopTimer: (() => void) | undefined;
  let stopped = false;

  /**
   * A random, non-zero receiver index used by no link, session or pending handshake, nor retired
   * within RETIRED_INDEX_QUARANTINE_MS.
   */
  function allocateIndex(): number {
    for (;;) {
      const index = randomIndex() >>> 0;
      if (
        index !== 0 &&
        !linksById.has(index) &&
        !sessionsByIndex.has(index) &&
        !pendingByIndex.has(index) &&
        !retiredIndices.has(index)
      )
        return index;
    }
  }

  function snapshot(link: Link): LinkInfo {
    return {
      id: link.id,
      peerHostId: link.peerHostId.slice(),
      peerName: link.peerName,
      peerNodeType: link.peerNodeType,
      peerUnderlay: { host: link.peerUnderlay.host, port: link.peerUnderlay.port },
      state: link.state,
      packetsIn: link.packetsIn,
      packetsOut: link.packetsOut,
      bytesIn: link.bytesIn,
      bytesOut: link.bytesOut,
      lastReceiveMs: link.lastReceiveMs,
      handshakes: link.handshakes,
      ...(link.downReason ? { downReason: link.downReason } : {}),
    };
  }

  function notify(link: Link): void {
    try {
      linkChangeHandler(snapshot(link));
    } catch {
      // A handler's failure must not break the layer's state machine; the handler owns its errors.
    }
  }

  /** Counts a refused handshake frame; false, so that handlers can `return rejectHandshake(…)`. */
  function rejectHandshake(reason: HandshakeRejectReason): false {
    drops.handshakeRejected += 1;
    handshakeRejections[reason] += 1;
    return false;
  }

  // ---- sessions and links -------------------------------------------------------------------

  function newSession(
    link: Link,
    localIndex: number,
    peerIndex: number,
    keys: SessionKeys,
    nowMs: number,
    isInitiator: boolean,
    underlay: UnderlayAddress,
  ): Session {
    const session: Session = Object.assign(
      createLinkSession({ localIndex, peerIndex, keys, replayWindowSize }),
      {
        link,
        createdMs: nowMs,
        isInitiator,
        confirmed: isInitiator,
        underlay: { host: underlay.host, port: underlay.port },
        expiresMs: Number.POSITIVE_INFINITY,
      },
    );
    sessionsByIndex.set(localIndex, session);
    if (session.confirmed) announceReceiving(session);
    return session;
  }

  function retire(session: Session | undefined): void {
    if (session && sessionsByIndex.get(session.localIndex) === session) {
      sessionsByIndex.delete(session.localIndex);
      retiredIndices.set(session.localIndex, clock.nowMs());
      dataPath?.retired(session.localIndex);
    }
  }

  /** Tells the data path that a confirmed session receives. */
  function announceReceiving(session: Session): void {
    dataPath?.receiving(
      session.localIndex,
      session.link.id,
      session.receiveKey,
      session.counters,
      session.replay.bits,
    );
  }

  /** Folds what the data path carried into the links (their counters and times). */
  function foldTraffic(): void {
    if (dataPath === undefined) return;
    const moved = dataPath.drainTraffic();
    for (let at = 0; at + 7 <= moved.length; at += 7) {
      const link = linksById.get(moved[at]!);
      if (link === undefined) continue;
      link.packetsIn += moved[at + 1]!;
      link.bytesIn += moved[at + 2]!;
      link.packetsOut += moved[at + 3]!;
      link.bytesOut += moved[at + 4]!;
      if (moved[at + 5]! > link.lastReceiveMs) link.lastReceiveMs = moved[at + 5]!;
      if (moved[at + 6]! > link.lastSendMs) link.lastSendMs = moved[at + 6]!;
    }
  }

  function findOrCreateLink(
    id: number | undefined,
    certificate: NodeCertificate,
    from: UnderlayAddress,
  ): Link {
    const peerHex = hex(certificate.hostId);
    let link = linksByHost.get(peerHex);
    if (link === undefined) {
      link = {
        id: id ?? allocateIndex(),
        peerHostId: certificate.hostId.slice(),
        peerHex,
        peerName: certificate.name,
        peerNodeType: certificate.nodeType,
        peerNotAfterMs: certificate.notAfter * 1000,
        peerUnderlay: { host: from.host, port: from.port },
        state: 'handshaking',
        downReason: undefined,
        packetsIn: 0,
        packetsOut: 0,
        bytesIn: 0,
        bytesOut: 0,
        lastReceiveMs: 0,
        lastSendMs: 0,
        handshakes: 0,
        current: undefined,
        previous: undefined,
        candidates: [],
        pending: undefined,
        answeredNonces: new Set(),
      };
      linksById.set(link.id, link);
      linksByHost.set(peerHex, link);
    }
    // A verified, newer certificate of the same host (the controller may reissue it).
    link.peerName = certificate.name;
    link.peerNodeType = certificate.nodeType;
    link.peerNotAfterMs = certificate.notAfter * 1000;
    return link;
  }

  /** Makes `session` the link's current one (the previous stays for the grace period) and brings the link up. */
  function install(link: Link, session: Session, nowMs: number): void {
    if (link.current === session) return;
    retire(link.previous);
    link.previous = undefined;
    if (link.current) {
      link.current.expiresMs = nowMs + graceMs;
      link.previous = link.current;
    }
    link.current = session;
    link.peerUnderlay = session.underlay;
    dataPath?.sending(
      link.id,
      session.peerIndex,
      session.sendKey,
      session.counters,
      session.underlay,
      rekeyAfterPackets,
    );
    link.handshakes += 1;
    link.lastReceiveMs = nowMs;
    if (link.state !== 'up') {
      link.state = 'up';
      link.downReason = undefined;
      notify(link);
    }
  }

  function dropCandidates(link: Link, except?: Session): void {
    for (const candidate of link.candidates) if (candidate !== except) retire(candidate);
    link.candidates = [];
  }

  function takeDown(link: Link, reason: LinkDownReason): void {
    dataPath?.notSending(link.id);
    retire(link.current);
    retire(link.previous);
    dropCandidates(link);
    link.current = undefined;
    link.previous = undefined;
    if (link.pending) cancelPending(link.pending);
    const wasUp = link.state === 'up';
    link.state = 'down';
    link.downReason = reason;
    if (wasUp) notify(link);
  }

  // ---- initiator ------------------------------------------------------------------------------

  function startHandshake(
    peer: UnderlayAddress,
    expectedHostId: Uint8Array | undefined,
    link: Link | undefined,
    isRekey: boolean,
  ): void {
    const pending: Pending = {
      localIndex: allocateIndex(),
      ephemeral: generateX25519KeyPair(),
      peer: { host: peer.host, port: peer.port },
      peerKey: formatUnderlayAddress(peer),
      expectedHostId: expectedHostId?.slice(),
      link,
      isRekey,
      sentNonces: [],
      attempts: 0,
      nextSendMs: 0,
      lastMac1: undefined,
    };
    pendingByIndex.set(pending.localIndex, pending);
    pendingByAddress.set(pending.peerKey, pending);
    if (link) link.pending = pending;
    sendSolicitation(pending, clock.nowMs());
  }

  function sendSolicitation(pending: Pending, nowMs: number): void {
    const nonce = new Uint8Array(randomBytes(HANDSHAKE_NONCE_LENGTH));
    pending.sentNonces.push(nonce);
    pending.nextSendMs = nowMs + Math.min(retransmitMs * 2 ** pending.attempts, backoffMaxMs);
    pending.attempts += 1;
    const knownPeer = pending.link?.peerHostId;
    const peerHostId = knownPeer ?? pending.expectedHostId;
    const destination = knownPeer ?? (peerHostId ? solicitedNodeAddress(peerHostId) : ALL_NODES_ADDRESS);
    const held = cookieJar.get(pending.peerKey);
    let cookie: Uint8Array | undefined;
    if (held && nowMs - held.receivedMs < COOKIE_USE_LIFETIME_MS) cookie = held.cookie;
    else if (held) cookieJar.delete(pending.peerKey);
    const frame = buildHandshakeFrame({
      kind: 'solicitation',
      signer,
      destination,
      target: peerHostId ?? UNSPECIFIED_ADDRESS,
      timestampMs: nowMs,
      nonces: [nonce],
      receiverIndex: pending.localIndex,
      ephemeralPublicKey: pending.ephemeral.publicKeyRaw,
      frameReceiverIndex: pending.link?.current?.peerIndex ?? 0,
      // MAC1 keyed from the responder's identity as far as we know it (its CGA, else the domain's).
      macs: (built) => {
        pending.lastMac1 = writeHandshakeMacs(built, handshakeMac1Key(mac1Anchor(nowMs), peerHostId), cookie);
      },
    });
    transport.send(frame, frame.length, pending.peer);
  }

  function cancelPending(pending: Pending): void {
    pendingByIndex.delete(pending.localIndex);
    if (pendingByAddress.get(pending.peerKey) === pending) pendingByAddress.delete(pending.peerKey);
    if (pending.link?.pending === pending) pending.link.pending = undefined;
  }

  function giveUp(pending: Pending, nowMs: number): void {
    cancelPending(pending);
    if (pending.isRekey && pending.link?.state === 'up') takeDown(pending.link, 'rekey-failed');
    const peer = wanted.get(pending.peerKey);
    if (peer) peer.nextAttemptMs = nowMs + reconnectIntervalMs;
  }

  /** Our pending handshake towards the sender of an NS, if any (by its address or its host id). */
  function pendingTowards(from: UnderlayAddress, hostId: Uint8Array): Pending | undefined {
    const byAddress = pendingByAddress.get(formatUnderlayAddress(from));
    if (byAddress) return byAddress;
    const link = linksByHost.get(hex(hostId));
    if (link?.pending) return link.pending;
    for (const pending of pendingByIndex.values())
      if (pending.expectedHostId && equalBytes(pending.expectedHostId, hostId)) return pending;
    return undefined;
  }

  /**
   * The checks of an NA that need no public-key work (before verification): addressed to us, and
   * answering one of our pending handshakes from the host we asked for. The pending, or a reason.
   */
  function pendingAnsweredBy(message: ParsedHandshake): Pending | HandshakeRejectReason {
    if (
      !equalBytes(message.destination, ownHostId) ||
      !equalBytes(message.target, message.source) ||
      !message.solicited
    )
      return 'not-for-us';
    const echoed = message.nonces[0]!;
    const pending = pendingByIndex.get(message.frameReceiverIndex);
    if (pending === undefined || !pending.sentNonces.some((nonce) => equalBytes(nonce, echoed))) {
      const known = linksByHost.get(hex(message.source));
      return known?.answeredNonces.has(hex(echoed)) ? 'duplicate' : 'unexpected';
    }
    const expected = pending.link?.peerHostId ?? pending.expectedHostId;
    if (expected && !equalBytes(expected, message.source)) return 'peer-mismatch';
    return pending;
  }

  /** An NS addressed to us: target :: or our CGA; destination ff02::1, our solicited-node address or our CGA. */
  function isSolicitationForUs(message: ParsedHandshake): boolean {
    const targetOk = equalBytes(message.target, UNSPECIFIED_ADDRESS) || equalBytes(message.target, ownHostId);
    const destination = message.destination;
    const destinationOk =
      equalBytes(destination, ALL_NODES_ADDRESS) ||
      equalBytes(destination, ownSolicited) ||
      equalBytes(destination, ownHostId);
    return targetOk && destinationOk;
  }

  function onAdvertisement(
    message: VerifiedHandshake,
    pending: Pending,
    from: UnderlayAddress,
    nowMs: number,
  ): boolean {
    const echoed = message.nonces[0]!;
    const peerHex = hex(message.source);
    if (!timestamps.check(peerHex, message.timestampMs / 1000).ok) return rejectHandshake('timestamp');
    const ownNonce = message.nonces[1]!;
    if (!nonces.checkAndRemember(peerHex, ownNonce)) return rejectHandshake('nonce-replayed');
    let keys: SessionKeys;
    try {
      keys = deriveSessionKeys({
        privateKey: pending.ephemeral.privateKey,
        peerPublicKey: message.peerEphemeralKey,
        localNonce: echoed,
        peerNonce: ownNonce,
        localHostId: ownHostId,
        peerHostId: message.source,
      });
    } catch {
      return rejectHandshake('key-exchange');
    }
    cancelPending(pending);
    const link = findOrCreateLink(pending.localIndex, message.certificate, from);
    if (link.pending) cancelPending(link.pending);
    const session = newSession(link, pending.localIndex, message.peerReceiverIndex, keys, nowMs, true, from);
    dropCandidates(link);
    install(link, session, nowMs);
    link.answeredNonces = new Set(pending.sentNonces.map(hex));
    // Key confirmation: the responder switches to these keys when this frame authenticates.
    sendOn(link, empty, 0, 0);
    return true;
  }

  // ---- responder ------------------------------------------------------------------------------

  function onSolicitation(message: VerifiedHandshake, from: UnderlayAddress, nowMs: number): boolean {
    const peerHex = hex(message.source);
    if (!timestamps.check(peerHex, message.timestampMs / 1000).ok) return rejectHandshake('timestamp');
    const peerNonce = message.nonces[0]!;
    if (!nonces.checkAndRemember(peerHex, peerNonce)) return rejectHandshake('nonce-replayed');
    // Simultaneous open: the lower host id stays initiator; the higher drops its own NS and answers.
    const mine = pendingTowards(from, message.source);
    if (mine) {
      if (compareBytes(ownHostId, message.source) < 0) return rejectHandshake('collision');
      cancelPending(mine);
    }
    const ephemeral = generateX25519KeyPair();
    const ownNonce = new Uint8Array(randomBytes(HANDSHAKE_NONCE_LENGTH));
    let keys: SessionKeys;
    try {
      keys = deriveSessionKeys({
        privateKey: ephemeral.privateKey,
        peerPublicKey: message.peerEphemeralKey,
        localNonce: ownNonce,
        peerNonce,
        localHostId: ownHostId,
        peerHostId: message.source,
      });
    } catch {
      return rejectHandshake('key-exchange');
    }
    const isNew = !linksByHost.has(peerHex);
    const link = findOrCreateLink(undefined, message.certificate, from);
    const localIndex = isNew ? link.id : allocateIndex();
    const candidate = newSession(link, localIndex, message.peerReceiverIndex, keys, nowMs, false, from);
    link.candidates.push(candidate);
    if (link.candidates.length > MAX_CANDIDATES) retire(link.candidates.shift());
    if (link.state === 'down') link.state = 'handshaking';
    const frame = buildHandshakeFrame({
      kind: 'advertisement',
      signer,
      destination: message.source,
      target: ownHostId,
      timestampMs: nowMs,
      nonces: [peerNonce, ownNonce],
      receiverIndex: localIndex,
      ephemeralPublicKey: ephemeral.publicKeyRaw,
      frameReceiverIndex: message.peerReceiverIndex,
      // An NA carries MAC1 (keyed from the initiator's CGA) and no MAC2: no cookie is asked of it,
      // since it must answer a pending NS of ours before we verify it.
      macs: (built) => void writeHandshakeMacs(built, handshakeMac1Key(mac1Anchor(nowMs), message.source)),
    });
    transport.send(frame, frame.length, from);
    return true;
  }

  /** The first authenticated frame on a responder candidate: the initiator holds these keys too. */
  function confirm(session: Session, nowMs: number): void {
    const link = session.link;
    session.confirmed = true;
    announceReceiving(session);
    dropCandidates(link, session);
    if (link.pending) cancelPending(link.pending);
    install(link, session, nowMs);
  }

  // ---- frames in and out ---------------------------------------------------------------------

  /**
   * A HANDSHAKE frame, cheapest check first (docs/overlay.md, "What the receiver checks"):
   * freshness and the replay cache, MAC1, structure, addressing, the NA's pending handshake,
   * admission (an NS: load, cookies, the source's budget); then the public-key work, then the state.
   */
  function receiveHandshake(bytes: Uint8Array, from: UnderlayAddress): boolean {
    const nowMs = clock.nowMs();
    // Freshness first, the cheapest: a walk over the options finds the timestamp and the signature
    // (the replay id), so an exact replay costs a map lookup.
    const freshness = peekHandshakeFreshness(bytes, view);
    if (freshness === undefined) {
      const parsed = parseHandshakeFrame(bytes, view); // only to say why
      return rejectHandshake(parsed.ok ? 'malformed' : parsed.reason);
    }
    if (!(Math.abs(freshness.timestampMs - nowMs) < freshnessWindowMs)) return rejectHandshake('timestamp');
    const id = HandshakeReplayCache.idOf(freshness.signature);
    if (verifiedSignatures.has(id, nowMs)) return rejectHandshake('replayed');
    // MAC1, keyed from our CGA, or (an NS only) from the domain's key when the initiator does not know it.
    const addressed = handshakeMac1Receiver(bytes, view);
    if (addressed === undefined) return rejectHandshake('malformed');
    const mac1Key = equalBytes(addressed.receiver, ownHostId)
      ? 'own'
      : addressed.isSolicitation && equalBytes(addressed.receiver, UNSPECIFIED_ADDRESS)
        ? 'anonymous'
        : undefined;
    if (mac1Key === undefined) return rejectHandshake('not-for-us');
    if (!hasTrustedMac1(mac1Key, bytes, view.macOffset, nowMs)) return rejectHandshake('mac1');
    const parsed = parseHandshakeFrame(bytes, view);
    if (!parsed.ok) return rejectHandshake(parsed.reason);
    const message = parsed.message;
    if (equalBytes(message.source, ownHostId)) return rejectHandshake('not-for-us'); // our own message reflected
    if (revokedHosts.size > 0 && isRevoked(message.source, nowMs)) return rejectHandshake('revoked');
    let pending: Pending | undefined;
    if (message.kind === 'solicitation') {
      if (!isSolicitationForUs(message)) return rejectHandshake('not-for-us');
    } else {
      const answered = pendingAnsweredBy(message);
      if (typeof answered === 'string') return rejectHandshake(answered);
      pending = answered;
    }
    const refusal =
      message.kind === 'solicitation'
        ? admitSolicitation(bytes, message, from, nowMs)
        : provenBudget.take(from.host, nowMs)
          ? undefined
          : 'rate-limited';
    if (refusal !== undefined) return rejectHandshake(refusal);

    handshakeStats.verified += 1;
    const verified = verifyParsedHandshake(message, controllerKeys, nowMs);
    if (!verified.ok) return rejectHandshake(verified.reason);
    verifiedSignatures.add(id, nowMs);
    return pending === undefined
      ? onSolicitation(verified.message, from, nowMs)
      : onAdvertisement(verified.message, pending, from, nowMs);
  }

  /**
   * Whether an NS may have public-key work (undefined) or why not. With a valid MAC2 the sender
   * proved its address: its proven budget decides. Without one, its unproven budget decides when
   * we are not under load; under load, or over that budget, it gets a cookie reply instead (within
   * the cookie replies' own budget), so a spoofed source can neither cost us a verification nor
   * spend the budget of the address it spoofs.
   */
  function admitSolicitation(
    bytes: Uint8Array,
    message: ParsedHandshake,
    from: UnderlayAddress,
    nowMs: number,
  ): HandshakeRejectReason | undefined {
    load.note(nowMs);
    if (cookieIssuer.checkMac2(bytes, view.macOffset, from))
      return provenBudget.take(from.host, nowMs) ? undefined : 'rate-limited';
    if (!load.isUnderLoad(nowMs) && unprovenBudget.take(from.host, nowMs)) return undefined;
    if (!cookieBudget.take('', nowMs)) return 'rate-limited';
    const reply = cookieIssuer.reply(
      bytes,
      view.macOffset,
      message.peerReceiverIndex,
      message.peerEphemeralKey,
      from,
    );
    if (reply === undefined) return 'key-exchange';
    transport.send(reply, reply.length, from);
    handshakeStats.cookieRepliesSent += 1;
    return 'cookie-required';
  }

  /** A COOKIE frame: the answer of a responder under load to our last NS to it. */
  function receiveCookie(bytes: Uint8Array, from: UnderlayAddress): boolean {
    const pending = pendingByIndex.get(view.receiverIndex);
    if (
      pending === undefined ||
      pending.lastMac1 === undefined ||
      pending.peerKey !== formatUnderlayAddress(from)
    )
      return rejectHandshake('cookie-invalid');
    const cookie = openCookieReply(bytes, view, pending.ephemeral.privateKey, pending.lastMac1);
    if (cookie === undefined) return rejectHandshake('cookie-invalid');
    const nowMs = clock.nowMs();
    pending.lastMac1 = undefined; // one cookie per NS: a replayed reply is refused
    cookieJar.delete(pending.peerKey);
    while (cookieJar.size >= sourcesTracked) cookieJar.delete(cookieJar.keys().next().value!);
    cookieJar.set(pending.peerKey, { cookie, receivedMs: nowMs });
    handshakeStats.cookiesAccepted += 1;
    pending.nextSendMs = nowMs; // the next tick sends a new NS, now with MAC2
    return true;
  }

  function receive(bytes: Uint8Array, from: UnderlayAddress, authenticated = false): void {
    if (stopped) return;
    if (!view.parse(bytes, 0, bytes.length)) {
      drops.malformed += 1;
      return;
    }
    if (view.type === LinkFrameType.HANDSHAKE) {
      receiveHandshake(bytes, from);
      return;
    }
    if (view.type === LinkFrameType.COOKIE) {
      receiveCookie(bytes, from);
      return;
    }
    const session = sessionsByIndex.get(view.receiverIndex);
    if (session === undefined) {
      drops.unknownReceiver += 1;
      return;
    }
    const verdict = openDataFrame(session, bytes, view, authenticated);
    if (verdict !== 'ok') {
      if (verdict === 'replayed') drops.replayed += 1;
      else drops.badTag += 1;
      return;
    }
    const link = session.link;
    const nowMs = clock.nowMs();
    if (!session.confirmed) confirm(session, nowMs);
    link.lastReceiveMs = nowMs;
    const length = view.bodyEnd - view.bodyOffset;
    if (length === 0) return; // a keep-alive
    link.packetsIn += 1;
    link.bytesIn += length;
    packetHandler(link.id, bytes, view.bodyOffset, length);
  }

  /** Seals and sends on the link's current session; the caller checked the link is up. */
  function sendOn(link: Link, bytes: Uint8Array, offset: number, length: number): boolean {
    const session = link.current!;
    const frameLength = sealDataFrame(session, bytes, offset, length, out);
    if (frameLength < 0) {
      if (frameLength === SEAL_MALFORMED) drops.sendMalformed += 1;
      else drops.sendNotUp += 1;
      return false;
    }
    transport.send(out.bytes, frameLength, link.peerUnderlay);
    link.lastSendMs = clock.nowMs();
    if (length > 0) {
      link.packetsOut += 1;
      link.bytesOut += length;
    }
    if (
      session.sendCounter >= rekeyAfterPackets &&
      link.pending === undefined &&
      link.candidates.length === 0
    )
      startHandshake(link.peerUnderlay, link.peerHostId, link, true);
    return true;
  }

  // ---- timers ----------------------------------------------------------------------------------

  function tick(): void {
    foldTraffic();
    const nowMs = clock.nowMs();
    for (const [index, retiredMs] of retiredIndices)
      if (nowMs - retiredMs >= RETIRED_INDEX_QUARANTINE_MS) retiredIndices.delete(index);
    for (const pending of [...pendingByIndex.values()]) {
      if (nowMs < pending.nextSendMs) continue;
      if (pending.attempts >= handshakeAttempts) giveUp(pending, nowMs);
      else sendSolicitation(pending, nowMs);
    }
    for (const link of linksById.values()) {
      if (link.previous && nowMs >= link.previous.expiresMs) {
        retire(link.previous);
        link.previous = undefined;
      }
      if (link.candidates.length > 0) {
        const live = link.candidates.filter((candidate) => nowMs - candidate.createdMs < candidateLifetimeMs);
        for (const candidate of link.candidates) if (!live.includes(candidate)) retire(candidate);
        link.candidates = live;
        if (live.length === 0 && link.state === 'handshaking') link.state = 'down';
      }
      if (link.state !== 'up') continue;
      if (nowMs > link.peerNotAfterMs) {
        takeDown(link, 'rejected');
        continue;
      }
      if (nowMs - link.lastReceiveMs > SILENT_INTERVALS * keepAliveIntervalMs) {
        takeDown(link, 'timeout');
        continue;
      }
      if (nowMs - link.lastSendMs >= keepAliveIntervalMs) sendOn(link, empty, 0, 0);
      const session = link.current!;
      const rekeyAt = session.isInitiator ? rekeyAfterMs : rekeyAfterMs * RESPONDER_REKEY_FACTOR;
      if (
        link.pending === undefined &&
        link.candidates.length === 0 &&
        (nowMs - session.createdMs >= rekeyAt || session.sendCounter >= rekeyAfterPackets)
      )
        startHandshake(link.peerUnderlay, link.peerHostId, link, true);
    }
    for (const peer of wanted.values()) {
      if (nowMs < peer.nextAttemptMs || pendingByAddress.has(peer.key)) continue;
      const link = wantedLink(peer);
      if (link && (link.state === 'up' || link.candidates.length > 0 || link.pending)) continue;
      startHandshake(peer.peer, peer.expectedHostId, link, false);
    }
  }

  function wantedLink(peer: WantedPeer): Link | undefined {
    if (peer.expectedHostId) return linksByHost.get(hex(peer.expectedHostId));
    for (const link of linksById.values())
      if (formatUnderlayAddress(link.peerUnderlay) === peer.key) return link;
    return undefined;
  }

  transport.onDatagram(receive);

  return {
    connect(peer, expectedHostId) {
      const key = formatUnderlayAddress(peer);
      if (!wanted.has(key))
        wanted.set(key, {
          peer: { host: peer.host, port: peer.port },
          key,
          expectedHostId: expectedHostId?.slice(),
          nextAttemptMs: 0,
        });
      if (stopped || pendingByAddress.has(key)) return;
      const link = wantedLink(wanted.get(key)!);
      if (link && (link.state === 'up' || link.candidates.length > 0 || link.pending)) return;
      startHandshake(peer, expectedHostId, link, false);
    },
    disconnect(hostId) {
      const link = linksByHost.get(hex(hostId));
      for (const [key, peer] of wanted)
        if (
          (peer.expectedHostId && equalBytes(peer.expectedHostId, hostId)) ||
          (link !== undefined && wantedLink(peer) === link)
        )
          wanted.delete(key);
      for (const pending of [...pendingByIndex.values()])
        if (pending.expectedHostId && equalBytes(pending.expectedHostId, hostId)) cancelPending(pending);
      if (link && link.state !== 'down') takeDown(link, 'closed');
    },
    send(linkId, bytes, offset, length) {
      const link = linksById.get(linkId);
      if (link === undefined || link.state !== 'up' || link.current === undefined) {
        drops.sendNotUp += 1;
        return false;
      }
      return sendOn(link, bytes, offset, length);
    },
    onPacket(handler) {
      packetHandler = handler;
    },
    onLinkChange(handler) {
      linkChangeHandler = handler;
    },
    links() {
      foldTraffic();
      return [...linksById.values()].map(snapshot);
    },
    linkTo(hostId) {
      foldTraffic();
      const link = linksByHost.get(hex(hostId));
      return link && link.state === 'up' ? snapshot(link) : undefined;
    },
    drops,
    handshakeRejections,
    handshakeStats,
    setNodeCertificate(certificate) {
      const decoded = decodeNodeCertificate(certificate);
      if (!decoded.ok || !equalBytes(decoded.value.hostId, ownHostId)) return false;
      signer = createHandshakeSigner({ ...identity, nodeCertificate: certificate.slice() });
      handshakeStats.certificateSwaps += 1;
      // Peers learn the new end of validity from a handshake: rekey every live link now rather
      // than at its next scheduled rekey (one handshake per link per renewal).
      for (const link of linksById.values())
        if (link.state === 'up' && link.pending === undefined && link.candidates.length === 0)
          startHandshake(link.peerUnderlay, link.peerHostId, link, true);
      return true;
    },
    setControllerKeys(keys) {
      if (keys.length === 0) return false;
      controllerKeys = keys.slice();
      setMac1Keys();
      handshakeStats.controllerKeySets += 1;
      return true;
    },
    revokeHost(hostId, untilMs) {
      const nowMs = clock.nowMs();
      if (hostId.length !== 16 || !(untilMs > nowMs)) return;
      const key = hex(hostId);
      revokedHosts.set(key, Math.max(untilMs, revokedHosts.get(key) ?? 0));
      if (revokedHosts.size > MAX_REVOKED_HOSTS) {
        for (const [other, end] of revokedHosts) if (end <= nowMs) revokedHosts.delete(other);
        while (revokedHosts.size > MAX_REVOKED_HOSTS) {
          let soonest: string | undefined;
          for (const [other, end] of revokedHosts)
            if (soonest === undefined || end < revokedHosts.get(soonest)!) soonest = other;
          revokedHosts.delete(soonest!);
        }
      }
      const link = linksByHost.get(key);
      if (link && link.state !== 'down') takeDown(link, 'revoked');
    },
    get revokedHosts() {
      return revokedHosts.size;
    },
    start() {
      stopped = false;
      stopTimer ??= clock.setInterval(tick, tickMs);
    },
    stop() {
      stopTimer?.();
      stopTimer = undefined;
      stopped = true;
      for (const pending of [...pendingByIndex.values()]) cancelPending(pending);
      for (const link of linksById.values()) takeDown(link, 'closed');
      wanted.clear();
    },
  };
}
