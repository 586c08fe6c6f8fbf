import { NodeType } from '@capsule/identity';
import type { LinkInfo } from '@capsule/overlay';
import { ENGINE_LINK_BYTES, EngineField, EngineLinkField, LinkKind } from '@capsule/vm';
import { describe, expect, it } from 'vitest';
import { configuredLinkCost, createEngineLinks } from './links';

const hostIdOf = (last: number) => Uint8Array.from([0xfd, 0, ...new Array(13).fill(0), last]);

function linkInfo(
  id: number,
  last: number,
  name: string,
  nodeType: number,
  state: LinkInfo['state'],
): LinkInfo {
  return {
    id,
    peerHostId: hostIdOf(last),
    peerName: name,
    peerNodeType: nodeType,
    peerUnderlay: { host: `10.0.0.${last}`, port: 7447 },
    state,
    packetsIn: 0,
    packetsOut: 0,
    bytesIn: 0,
    bytesOut: 0,
    lastReceiveMs: 0,
    handshakes: 1,
  };
}

describe("the engine's links", () => {
  it('gives small program ids in order of appearance, stable when a link goes and comes back', () => {
    let infos = [
      linkInfo(0x9000_0001, 1, 'e2', NodeType.engine, 'up'),
      linkInfo(0x0000_0007, 2, 'h1', NodeType.host, 'up'),
    ];
    const region = new Uint8Array(4096);
    const links = createEngineLinks(
      { engineId: 0x0102, tags: [0, 5, 40], links: [{ peer: 'e2', cost: 9, tags: [1] }] },
      { linkLayer: { links: () => infos }, engineRecord: region },
    );
    links.refresh();
    expect(links.get(0x9000_0001)?.programId).toBe(1);
    expect(links.get(7)?.programId).toBe(2);
    expect(links.byProgramId(0)).toBeUndefined();
    expect(links.byProgramId(3)).toBeUndefined();
    expect(links.byProgramId(-1)).toBeUndefined();
    // The ENGINE record programs read.
    const record = new DataView(region.buffer);
    expect(record.getUint32(EngineField.ENGINE_ID, true)).toBe(0x0102);
    expect(record.getUint32(EngineField.TAGS, true)).toBe((1 << 0) | (1 << 5)); // tag 40 is no bit
    expect(record.getUint32(EngineField.LINK_COUNT, true)).toBe(2);
    const entry = (index: number, field: number) =>
      record.getUint32(EngineField.LINK_TABLE + index * ENGINE_LINK_BYTES + field, true);
    expect([
      entry(0, EngineLinkField.ID),
      entry(0, EngineLinkField.KIND),
      entry(0, EngineLinkField.COST),
    ]).toEqual([1, LinkKind.ENGINE, 9]);
    expect(entry(0, EngineLinkField.NEIGHBOR)).toBe(1); // last 16 bits of the peer's host id
    expect(entry(0, EngineLinkField.TAGS)).toBe(1 << 1);
    expect([
      entry(1, EngineLinkField.ID),
      entry(1, EngineLinkField.NEIGHBOR),
      entry(1, EngineLinkField.COST),
    ]).toEqual([2, 0, 1]);
    // The host link: DELIVER finds it by the destination's host id, only while up.
    const packet = new Uint8Array(40);
    packet.set(hostIdOf(2), 24);
    expect(links.hostLinkTo(packet, 24)?.id).toBe(7);
    infos = [linkInfo(0x9000_0001, 1, 'e2', NodeType.engine, 'up')];
    links.refresh();
    expect(links.get(7)?.up).toBe(false);
    expect(links.hostLinkTo(packet, 24)).toBeUndefined();
    expect(entry(1, EngineLinkField.UP)).toBe(0);
    // Back, and a new one: the old id is kept, the new one is next.
    infos = [
      ...infos,
      linkInfo(7, 2, 'h1', NodeType.host, 'up'),
      linkInfo(0x8000_0000, 3, 'h3', NodeType.host, 'up'),
    ];
    links.refresh();
    expect(links.snapshots().map((l) => [l.id, l.programId, l.kind, l.up])).toEqual([
      [0x9000_0001, 1, 'engine', true],
      [7, 2, 'host', true],
      [0x8000_0000, 3, 'host', true],
    ]);
  });

  it('shows each contract its own role routes on top of the configured tags', () => {
    let infos = [
      linkInfo(11, 1, 'e2', NodeType.engine, 'up'),
      linkInfo(12, 2, 'h1', NodeType.host, 'up'),
      linkInfo(13, 3, 'h3', NodeType.host, 'up'),
    ];
    const region = new Uint8Array(4096);
    const links = createEngineLinks(
      { engineId: 1, links: [{ peer: 'e2', tags: [1] }] },
      { linkLayer: { links: () => infos }, engineRecord: region },
    );
    links.refresh();
    const record = new DataView(region.buffer);
    const tagsOf = () =>
      [0, 1, 2].map((index) =>
        record.getUint32(EngineField.LINK_TABLE + index * ENGINE_LINK_BYTES + EngineLinkField.TAGS, true),
      );
    links.setContractTags([
      // Peers in any spelling of the address; an unreadable one and an unknown one name no link.
      {
        contractId: 7,
        links: [
          { peer: 'fd00:0::1', tags: 1 << 3 },
          { peer: 'fd00::3', tags: 1 << 3 },
          { peer: 'not an address', tags: 1 << 9 },
          { peer: 'fd00::99', tags: 1 << 9 },
        ],
      },
      { contractId: 9, engineTags: 1 << 2, links: [{ peer: 'fd00::2', tags: 0xffff_ffff }] },
    ]);
    expect(tagsOf()).toEqual([1 << 1, 0, 0]);
    const engineTags = () => record.getUint32(EngineField.TAGS, true);
    links.showContract(7);
    expect(tagsOf()).toEqual([(1 << 1) | (1 << 3), 0, 1 << 3]);
    expect(engineTags()).toBe(0);
    links.showContract(9);
    expect(tagsOf()).toEqual([1 << 1, 0xffff_ffff, 0]);
    expect(engineTags()).toBe(1 << 2);
    links.showContract(4); // no role routes: the configured tags
    expect(tagsOf()).toEqual([1 << 1, 0, 0]);
    expect(engineTags()).toBe(0);
    expect(links.snapshots().map((l) => l.contractTags)).toEqual([
      [{ contractId: 7, tags: 1 << 3 }],
      [{ contractId: 9, tags: 0xffff_ffff }],
      [{ contractId: 7, tags: 1 << 3 }],
    ]);
    // A link change keeps the routes; a new command replaces them all.
    infos = [...infos, linkInfo(14, 4, 'h4', NodeType.host, 'up')];
    links.refresh();
    links.showContract(7);
    expect(tagsOf()).toEqual([(1 << 1) | (1 << 3), 0, 1 << 3]);
    links.setContractTags([{ contractId: 9, links: [{ peer: 'fd00::4', tags: 1 << 5 }] }]);
    links.showContract(7);
    expect(tagsOf()).toEqual([1 << 1, 0, 0]);
    links.showContract(9);
    expect([
      ...tagsOf(),
      record.getUint32(EngineField.LINK_TABLE + 3 * ENGINE_LINK_BYTES + EngineLinkField.TAGS, true),
    ]).toEqual([1 << 1, 0, 0, 1 << 5]);
  });

  it('finds a configured cost by peer host id or by host name; none otherwise', () => {
    const info = linkInfo(1, 4, 'e4', NodeType.engine, 'up');
    expect(configuredLinkCost([{ peer: 'fd00::4', cost: 3 }], info)).toBe(3);
    expect(configuredLinkCost([{ peer: 'e4', cost: 5 }], info)).toBe(5);
    expect(configuredLinkCost([{ peer: 'e5', cost: 5 }], info)).toBeUndefined();
    expect(configuredLinkCost([{ peer: 'e4' }], info)).toBeUndefined();
    expect(configuredLinkCost(undefined, info)).toBeUndefined();
  });
});
