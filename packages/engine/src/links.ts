/**
 * The engine's view of its overlay links: for each link of the link layer, its program link id,
 * kind, neighbor engine id, configured cost and tags, up state and traffic counters; the ENGINE
 * record programs read (rebuilt on every link change); and the host links DELIVER looks in.
 *
 * **Role routes.** The controller tells the engine, per contract, which links lead toward the
 * members of a role (`link-tags` commands: tag bits by peer host id). A program sees its own
 * contract's bits on top of the links' configured tags: before each run the engine shows the
 * flow's contract (`showContract`), which rewrites the record's link TAGS words only when the
 * contract differs from the last one shown (one precomputed word array per contract, no
 * allocation per packet). A contract may also give the engine's own TAGS extra bits (a waypoint
 * labelled at the controller).
 *
 * **Program link ids.** Programs see small ids (1, 2, 3, … in the order links first appear, stable
 * for the engine's life), not the link layer's: its id is a 32-bit receiver index, often ≥ 2^31,
 * and programs hold link ids in Java ints with -1 for "none". The egress maps them back.
 */
import { formatIpv6Address, NodeType, parseIpv6Address } from '@capsule/identity';
import type { LinkInfo, LinkLayer } from '@capsule/overlay';
import { ENGINE_LINK_BYTES, ENGINE_MAX_LINKS, EngineField, EngineLinkField, LinkKind } from '@capsule/vm';
import { bytesEqual } from './bytes';
import { engineIdOfHostId } from './engine-id';

/** A configured link (engine.yaml `links`): by peer host id text or host name. */
export interface LinkConfig {
  peer: string;
  cost?: number;
  tags?: readonly number[];
}

/** One link as the engine keeps it (counters updated by the pipeline in place). */
export interface EngineLink {
  /** The link layer's id (its receiver index: any u32). */
  readonly id: number;
  /** The id programs see (ENGINE record, PACKET ingress link, ACTION egress list): 1, 2, 3, … */
  readonly programId: number;
  /** LinkKind.ENGINE or LinkKind.HOST. */
  readonly kind: number;
  readonly peerHostId: Uint8Array;
  readonly peerName: string;
  /** The peer's engine id, 0 for a host. */
  readonly neighborEngineId: number;
  cost: number;
  /** Tag bits. */
  tags: number;
  up: boolean;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  /** Packets that arrived on this link and were dropped. */
  drops: number;
}

/** An engine's role routes as the controller sends them (a `link-tags` command's payload). */
export interface ContractLinkTags {
  contractId: number;
  /** Bits the engine's own tags get for this contract (a labelled waypoint). */
  engineTags?: number;
  /** Tag bits by peer host id (text). */
  links: readonly { peer: string; tags: number }[];
}

/** One link as the engine shows it (`/api/v1/links`). */
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
  /** The role-route tag bits of this link, per contract (those set only). */
  contractTags: { contractId: number; tags: number }[];
  up: boolean;
  packetsIn: number;
  packetsOut: number;
  bytesIn: number;
  bytesOut: number;
  drops: number;
}

export interface EngineLinksOptions {
  engineId: number;
  /** Tag bits (0..31) of this engine. */
  tags?: readonly number[];
  /** Cost and tags of links by peer; others get cost 1, no tags. */
  links?: readonly LinkConfig[];
}

export interface EngineLinksDeps {
  linkLayer: Pick<LinkLayer, 'links'>;
  /** The sandbox's ENGINE region (written on every refresh). */
  engineRecord: Uint8Array;
}

/** The engine's links. */
export interface EngineLinks {
  /** The link of a link-layer id (the ingress of a packet). */
  get(linkId: number): EngineLink | undefined;
  /** The link of a program link id, or undefined. */
  byProgramId(programLinkId: number): EngineLink | undefined;
  /** The up host link whose peer is bytes[hostIdAt, +16), or undefined (DELIVER). */
  hostLinkTo(bytes: Uint8Array, hostIdAt: number): EngineLink | undefined;
  /** Rereads the link layer's links and rebuilds the ENGINE record. */
  refresh(): void;
  /** Replaces the role routes (every contract's link tags); the next run sees them. */
  setContractTags(contracts: readonly ContractLinkTags[]): void;
  /**
   * Replaces the controller's link costs (its `link-set`: cost by peer host id text), which win
   * over a configured cost; the next `refresh` writes them into the ENGINE record.
   */
  setControllerCosts(costs: ReadonlyMap<string, number>): void;
  /** The cost of the link to `info`'s peer: the controller's, else the configured one, else undefined. */
  costOf(info: LinkInfo): number | undefined;
  /**
   * Shows programs the link tags of `contractId` (configured tags | its role routes) in the
   * ENGINE record; a contract without role routes sees the configured tags. Call before each run.
   */
  showContract(contractId: number): void;
  snapshots(): EngineLinkSnapshot[];
}

/** The configured cost of the link to `info`'s peer (undefined: not configured). */
export function configuredLinkCost(
  links: readonly LinkConfig[] | undefined,
  info: LinkInfo,
): number | undefined {
  return configuredLink(links, info)?.cost;
}

function configuredLink(links: readonly LinkConfig[] | undefined, info: LinkInfo): LinkConfig | undefined {
  const hostText = formatIpv6Address(info.peerHostId);
  return links?.find((entry) => entry.peer === hostText || entry.peer === info.peerName);
}

/** Tag numbers (0..31) as a bit set. */
function tagBits(tags: readonly number[] | undefined): number {
  let bits = 0;
  for (const tag of tags ?? []) if (tag >= 0 && tag < 32) bits |= 1 << tag;
  return bits >>> 0;
}

export function createEngineLinks(options: EngineLinksOptions, deps: EngineLinksDeps): EngineLinks {
  const { linkLayer } = deps;
  const ownTags = tagBits(options.tags);
  const engineRecord = new DataView(
    deps.engineRecord.buffer,
    deps.engineRecord.byteOffset,
    deps.engineRecord.byteLength,
  );
  const links = new Map<number, EngineLink>();
  /** Program link id → link (index 0 unused). */
  const byProgramId: (EngineLink | undefined)[] = [undefined];
  const hostLinks: EngineLink[] = [];
  /** Role routes: contract id → tag bits by peer host id text. */
  let contractPeers = new Map<number, Map<string, number>>();
  /** Role routes: contract id → the engine's own extra tag bits. */
  let contractEngineTags = new Map<number, number>();
  /**
   * The record's TAGS words for each contract with role routes: one per link table index, then
   * the engine's own (index ENGINE_MAX_LINKS).
   */
  const contractWords = new Map<number, Uint32Array>();
  /** The configured tags (contracts without role routes). */
  const baseWords = new Uint32Array(ENGINE_MAX_LINKS + 1);
  /** The words the record holds now. */
  let shown: Uint32Array = baseWords;
  /** The controller's costs by peer host id text (its link set). */
  let controllerCosts: ReadonlyMap<string, number> = new Map();
  const costOf = (info: LinkInfo): number | undefined =>
    controllerCosts.get(formatIpv6Address(info.peerHostId)) ?? configuredLink(options.links, info)?.cost;

  /** Rebuilds every contract's TAGS words from the links (in record order) and the role routes. */
  function rebuildContractWords(): void {
    const ordered = [...links.values()].slice(0, ENGINE_MAX_LINKS);
    const peers = ordered.map((link) => formatIpv6Address(link.peerHostId));
    baseWords.fill(0);
    ordered.forEach((link, index) => {
      baseWords[index] = link.tags;
    });
    baseWords[ENGINE_MAX_LINKS] = ownTags;
    contractWords.clear();
    for (const [contractId, byPeer] of contractPeers) {
      const words = new Uint32Array(ENGINE_MAX_LINKS + 1);
      ordered.forEach((link, index) => {
        words[index] = (link.tags | (byPeer.get(peers[index]!) ?? 0)) >>> 0;
      });
      words[ENGINE_MAX_LINKS] = (ownTags | (contractEngineTags.get(contractId) ?? 0)) >>> 0;
      contractWords.set(contractId, words);
    }
    shown = baseWords;
    writeWords(baseWords);
  }

  function writeWords(words: Uint32Array): void {
    engineRecord.setUint32(EngineField.TAGS, words[ENGINE_MAX_LINKS]!, true);
    const count = Math.min(links.size, ENGINE_MAX_LINKS);
    for (let index = 0; index < count; index++)
      engineRecord.setUint32(
        EngineField.LINK_TABLE + index * ENGINE_LINK_BYTES + EngineLinkField.TAGS,
        words[index]!,
        true,
      );
  }

  function refresh(): void {
    const seen = new Set<number>();
    hostLinks.length = 0;
    for (const info of linkLayer.links()) {
      seen.add(info.id);
      let link = links.get(info.id);
      const configured = configuredLink(options.links, info);
      const cost = costOf(info) ?? 1;
      const tags = tagBits(configured?.tags);
      const kind = info.peerNodeType === NodeType.engine ? LinkKind.ENGINE : LinkKind.HOST;
      if (!link) {
        link = {
          id: info.id,
          programId: byProgramId.length,
          kind,
          peerHostId: new Uint8Array(info.peerHostId),
          peerName: info.peerName,
          neighborEngineId: kind === LinkKind.ENGINE ? engineIdOfHostId(info.peerHostId) : 0,
          cost,
          tags,
          up: info.state === 'up',
          packetsIn: 0,
          packetsOut: 0,
          bytesIn: 0,
          bytesOut: 0,
          drops: 0,
        };
        links.set(info.id, link);
        byProgramId.push(link);
      }
      link.up = info.state === 'up';
      link.cost = cost;
      link.tags = tags;
      if (link.kind === LinkKind.HOST && link.up) hostLinks.push(link);
    }
    for (const [id, link] of links) if (!seen.has(id)) link.up = false;
    // The ENGINE record programs read.
    deps.engineRecord.fill(0);
    engineRecord.setUint32(EngineField.ENGINE_ID, options.engineId, true);
    engineRecord.setUint32(EngineField.TAGS, ownTags, true);
    let index = 0;
    for (const link of links.values()) {
      if (index >= ENGINE_MAX_LINKS) break;
      const at = EngineField.LINK_TABLE + index * ENGINE_LINK_BYTES;
      engineRecord.setUint32(at + EngineLinkField.ID, link.programId, true);
      engineRecord.setUint32(at + EngineLinkField.NEIGHBOR, link.neighborEngineId, true);
      engineRecord.setUint32(at + EngineLinkField.KIND, link.kind, true);
      engineRecord.setUint32(at + EngineLinkField.COST, link.cost, true);
      engineRecord.setUint32(at + EngineLinkField.UP, link.up ? 1 : 0, true);
      engineRecord.setUint32(at + EngineLinkField.TAGS, link.tags, true);
      index++;
    }
    engineRecord.setUint32(EngineField.LINK_COUNT, index, true);
    rebuildContractWords();
  }

  return {
    get: (linkId) => links.get(linkId),
    byProgramId: (programLinkId) =>
      programLinkId > 0 && programLinkId < byProgramId.length ? byProgramId[programLinkId] : undefined,
    hostLinkTo(bytes, hostIdAt) {
      for (const link of hostLinks) if (bytesEqual(link.peerHostId, 0, bytes, hostIdAt, 16)) return link;
      return undefined;
    },
    refresh,
    setContractTags(contracts) {
      const next = new Map<number, Map<string, number>>();
      const engineTags = new Map<number, number>();
      for (const contract of contracts) {
        if (contract.engineTags) engineTags.set(contract.contractId, contract.engineTags >>> 0);
        const byPeer = new Map<string, number>();
        for (const { peer, tags } of contract.links) {
          const address = parseIpv6Address(peer);
          if (!address) continue; // an unreadable peer names no link of ours
          const text = formatIpv6Address(address);
          byPeer.set(text, ((byPeer.get(text) ?? 0) | tags) >>> 0);
        }
        next.set(contract.contractId, byPeer);
      }
      contractPeers = next;
      contractEngineTags = engineTags;
      rebuildContractWords();
    },
    setControllerCosts(costs) {
      controllerCosts = new Map(costs);
    },
    costOf,
    showContract(contractId) {
      const words = contractWords.get(contractId) ?? baseWords;
      if (words === shown) return;
      shown = words;
      writeWords(words);
    },
    snapshots: () =>
      [...links.values()].map((link) => ({
        id: link.id,
        programId: link.programId,
        peer: formatIpv6Address(link.peerHostId),
        peerName: link.peerName,
        kind: link.kind === LinkKind.ENGINE ? 'engine' : 'host',
        neighborEngineId: link.neighborEngineId,
        cost: link.cost,
        tags: link.tags,
        contractTags: [...contractPeers]
          .map(([contractId, byPeer]) => ({
            contractId,
            tags: byPeer.get(formatIpv6Address(link.peerHostId)) ?? 0,
          }))
          .filter((entry) => entry.tags !== 0),
        up: link.up,
        packetsIn: link.packetsIn,
        packetsOut: link.packetsOut,
        bytesIn: link.bytesIn,
        bytesOut: link.bytesOut,
        drops: link.drops,
      })),
  };
}
