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

  it('finds a configured cost by peer host id or by host name; none otherwise', () => {
    const info = linkInfo(1, 4, 'e4', NodeType.engine, 'up');
    expect(configuredLinkCost([{ peer: 'fd00::4', cost: 3 }], info)).toBe(3);
    expect(configuredLinkCost([{ peer: 'e4', cost: 5 }], info)).toBe(5);
    expect(configuredLinkCost([{ peer: 'e5', cost: 5 }], info)).toBeUndefined();
    expect(configuredLinkCost([{ peer: 'e4' }], info)).toBeUndefined();
    expect(configuredLinkCost(undefined, info)).toBeUndefined();
  });
});
