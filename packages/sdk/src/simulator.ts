/**
 * The simulator: runs an entry of a ProgramImage on vm's sandbox machine against packet fixtures
 * (plain data, usually read from JSON by the CLI) and reports, per packet, the action set, the
 * trace (LOG messages and EMITs, in order) and the fuel used. FLOW and CONTRACT memory persist
 * across the packets of one fixture, as on an engine for one flow of one contract.
 */
import {
  ACTION_BYTES,
  ActionField,
  CONTRACT_BYTES,
  createSandboxMachine,
  EGRESS_MAX_LINKS,
  ENGINE_LINK_BYTES,
  EngineField,
  EngineLinkField,
  FLOW_BYTES,
  type NativeTier,
  PacketField,
  prepareProgram,
  type Tier,
  trapReasonName,
  Verdict,
} from '@capsule/vm';
import { encodePathChunk, type ProgramImage, parseIpv6, pathChunkLength } from '@capsule/wire';
import { SdkError } from './errors';

/** One packet's inputs. Every field is optional (zero by default). */
export interface PacketFixture {
  readonly packet?: {
    readonly src?: string;
    readonly dst?: string;
    readonly flowLabel?: number;
    readonly hopLimit?: number;
    readonly packetLength?: number;
    readonly payloadLength?: number;
    readonly nextHeader?: number;
    readonly trafficClass?: number;
    readonly packetType?: number;
    readonly ingressLink?: number;
    readonly timeMs?: number;
    readonly srcPort?: number;
    readonly dstPort?: number;
  };
  readonly engine?: {
    readonly id?: number;
    readonly tags?: number;
    readonly links?: readonly {
      id: number;
      neighbor?: number;
      kind?: number;
      cost?: number;
      up?: boolean;
      tags?: number;
    }[];
  };
  readonly path?: {
    readonly hopIndex?: number;
    readonly defaultEntry?: number;
    readonly hops: readonly { engineId: number; entryIndex?: number; flags?: number }[];
  };
  /** Values of @Data fields (by name; arrays as lists), replacing the image's initial values. */
  readonly data?: Readonly<Record<string, number | readonly number[]>>;
  /** What the services return. */
  readonly flowHash?: number;
  readonly random?: number;
  readonly budgetInstructions?: number;
}

/** A fixture file: one packet, or a sequence sharing `defaults`. */
export type SimulationFixture =
  | PacketFixture
  | { readonly defaults?: PacketFixture; readonly packets: readonly PacketFixture[] };

/** What one packet's run produced. */
export interface PacketOutcome {
  readonly verdict: 'FORWARD' | 'REPLICATE' | 'DELIVER' | 'DROP' | 'NONE';
  readonly trap: string;
  readonly dropReason: number;
  readonly egressLinks: readonly number[];
  readonly flags: { readonly cache: boolean; readonly trace: boolean };
  readonly nextEntry: number;
  readonly fuelUsed: number;
  /** LOG messages (as ints when 4 bytes, else hex) and EMITs, in order. */
  readonly trace: readonly string[];
  /** The PATH hop index after the run. */
  readonly hopIndex: number | undefined;
}

/** Simulation options. */
export interface SimulateOptions {
  readonly entry: string;
  readonly tier?: Tier;
  /** The VM's native tier (from @capsule/native), needed for tier 'native'. */
  readonly nativeTier?: NativeTier;
}

const verdictNames = new Map(
  Object.entries(Verdict).map(([k, v]) => [v as number, k as PacketOutcome['verdict']]),
);

/** Runs the fixture's packets through `entry`. Throws SIM_* CapsuleErrors for bad inputs. */
export function simulate(
  image: ProgramImage,
  fixture: SimulationFixture,
  options: SimulateOptions,
): PacketOutcome[] {
  const entry = image.entries.find((e) => e.name === options.entry);
  if (!entry)
    throw new SdkError(
      'SIM_UNKNOWN_ENTRY',
      `no entry '${options.entry}' (entries: ${image.entries.map((e) => e.name).join(', ') || 'none'})`,
    );
  const packets =
    'packets' in fixture
      ? fixture.packets.map((p) => merge(fixture.defaults ?? {}, p))
      : [fixture as PacketFixture];
  let trace: string[] = [];
  let current: PacketFixture = {};
  const machine = createSandboxMachine(
    { tier: options.tier ?? 'interpreter' },
    {
      nativeTier: options.nativeTier,
      host: {
        emit: (action) => {
          trace.push(
            `EMIT verdict=${new DataView(action.buffer, action.byteOffset).getUint32(ActionField.VERDICT, true)}`,
          );
          return true;
        },
        flowHash: (seed) => ((current.flowHash ?? 0) ^ seed) | 0,
        timeMs: () => current.packet?.timeMs ?? 0,
        random: () => current.random ?? 0,
        log: (bytes) => {
          trace.push(
            bytes.length === 4
              ? `LOG ${new DataView(bytes.buffer, bytes.byteOffset, 4).getInt32(0, true)}`
              : `LOG ${Buffer.from(bytes).toString('hex')}`,
          );
          return true;
        },
      },
    },
  );
  const program = prepareProgram(image.code);
  const flow = new DataView(new ArrayBuffer(FLOW_BYTES));
  const contract = new DataView(new ArrayBuffer(CONTRACT_BYTES));
  for (const field of image.data) {
    const target = field.region === 'FLOW' ? flow : field.region === 'CONTRACT' ? contract : undefined;
    if (target) new Uint8Array(target.buffer).set(Buffer.from(field.initial, 'hex'), field.offset);
  }
  const outcomes: PacketOutcome[] = [];
  for (const p of packets) {
    current = p;
    trace = [];
    const regions = machine.regions;
    fillPacket(regions.packet, p);
    fillEngine(regions.engine, p);
    let pathLength = 0;
    regions.path.fill(0);
    if (p.path) {
      const chunk = {
        creationTime: 0,
        hopIndex: p.path.hopIndex ?? 0,
        defaultEntry: p.path.defaultEntry ?? 0,
        hops: p.path.hops.map((h) => ({
          engineId: h.engineId,
          entryIndex: h.entryIndex ?? 0,
          flags: h.flags ?? 0,
        })),
      };
      pathLength = pathChunkLength(chunk);
      encodePathChunk(chunk, regions.path, 0);
    }
    regions.data.fill(0);
    for (const field of image.data.filter((f) => f.region === 'DATA')) {
      regions.data.set(Buffer.from(field.initial, 'hex'), field.offset);
      const override = p.data?.[field.name];
      if (override !== undefined) writeValues(regions.data, field.offset, field.size, field.type, override);
    }
    const view = new DataView(regions.packet.buffer, regions.packet.byteOffset);
    view.setUint16(PacketField.PATH_LENGTH, pathLength, true);
    view.setUint16(PacketField.DATA_LENGTH, image.regions.dataBytes, true);
    view.setUint32(PacketField.ENTRY, entry.offset, true);
    const r = machine.run(program, {
      entryOffset: entry.offset,
      pathLengthBytes: pathLength,
      dataLengthBytes: image.regions.dataBytes,
      flowMemory: flow,
      contractMemory: contract,
      ...(p.budgetInstructions === undefined ? {} : { budgetInstructions: p.budgetInstructions }),
    });
    const action = new DataView(regions.action.buffer, regions.action.byteOffset, ACTION_BYTES);
    const count = Math.min(r.egressCount, EGRESS_MAX_LINKS);
    const egressLinks: number[] = [];
    for (let i = 0; i < count && r.trap === 0; i++)
      egressLinks.push(action.getUint32(ActionField.EGRESS_LINKS + 4 * i, true));
    outcomes.push({
      verdict: verdictNames.get(r.verdict) ?? 'NONE',
      trap: trapReasonName(r.trap),
      dropReason: r.dropReason,
      egressLinks,
      flags: { cache: (r.flags & 1) !== 0, trace: (r.flags & 2) !== 0 },
      nextEntry: r.nextEntry,
      fuelUsed: r.fuelUsed,
      trace,
      hopIndex: p.path ? regions.path[4] : undefined,
    });
  }
  return outcomes;
}

function merge(a: PacketFixture, b: PacketFixture): PacketFixture {
  return {
    ...a,
    ...b,
    packet: { ...a.packet, ...b.packet },
    engine: { ...a.engine, ...b.engine },
    data: { ...a.data, ...b.data },
    ...((b.path ?? a.path) ? { path: b.path ?? a.path } : {}),
  };
}

function fillPacket(bytes: Uint8Array, p: PacketFixture): void {
  bytes.fill(0);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const pk = p.packet ?? {};
  for (const [text, at] of [
    [pk.src, PacketField.SRC_ADDRESS],
    [pk.dst, PacketField.DST_ADDRESS],
  ] as const) {
    if (text === undefined) continue;
    const parsed = parseIpv6(text);
    if (!parsed.ok) throw new SdkError('SIM_BAD_FIXTURE', `not an IPv6 address: ${text}`);
    bytes.set(parsed.value, at);
  }
  v.setUint32(PacketField.FLOW_LABEL, pk.flowLabel ?? 0, true);
  v.setUint16(PacketField.PACKET_LENGTH, pk.packetLength ?? 40 + (pk.payloadLength ?? 0), true);
  v.setUint16(PacketField.PAYLOAD_LENGTH, pk.payloadLength ?? 0, true);
  v.setUint8(PacketField.HOP_LIMIT, pk.hopLimit ?? 64);
  v.setUint8(PacketField.NEXT_HEADER, pk.nextHeader ?? 17);
  v.setUint8(PacketField.TRAFFIC_CLASS, pk.trafficClass ?? 0);
  v.setUint8(PacketField.PACKET_TYPE, pk.packetType ?? 1);
  v.setUint32(PacketField.INGRESS_LINK, pk.ingressLink ?? 0, true);
  const ms = pk.timeMs ?? 0;
  v.setUint32(PacketField.TIME_LOW, ms % 2 ** 32, true);
  v.setUint32(PacketField.TIME_HIGH, Math.floor(ms / 2 ** 32), true);
  v.setUint16(PacketField.SRC_PORT, pk.srcPort ?? 0, true);
  v.setUint16(PacketField.DST_PORT, pk.dstPort ?? 0, true);
}

function fillEngine(bytes: Uint8Array, p: PacketFixture): void {
  bytes.fill(0);
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const e = p.engine ?? {};
  v.setUint32(EngineField.ENGINE_ID, e.id ?? 0, true);
  v.setUint32(EngineField.TAGS, e.tags ?? 0, true);
  const links = e.links ?? [];
  v.setUint32(EngineField.LINK_COUNT, links.length, true);
  links.forEach((l, i) => {
    const at = EngineField.LINK_TABLE + i * ENGINE_LINK_BYTES;
    v.setUint32(at + EngineLinkField.ID, l.id, true);
    v.setUint32(at + EngineLinkField.NEIGHBOR, l.neighbor ?? 0, true);
    v.setUint32(at + EngineLinkField.KIND, l.kind ?? 0, true);
    v.setUint32(at + EngineLinkField.COST, l.cost ?? 0, true);
    v.setUint32(at + EngineLinkField.UP, l.up === false ? 0 : 1, true);
    v.setUint32(at + EngineLinkField.TAGS, l.tags ?? 0, true);
  });
}

function writeValues(
  into: Uint8Array,
  offset: number,
  size: number,
  type: string,
  value: number | readonly number[],
): void {
  const values = typeof value === 'number' ? [value] : value;
  const element = type.replace('[]', '');
  const width = { byte: 1, boolean: 1, short: 2, char: 2, int: 4, long: 8 }[element] ?? 4;
  const v = new DataView(into.buffer, into.byteOffset, into.byteLength);
  values.forEach((x, i) => {
    const at = offset + i * width;
    if (at + width > offset + size)
      throw new SdkError('SIM_BAD_FIXTURE', `too many values for a field of ${size} bytes`);
    if (width === 1) v.setUint8(at, x & 0xff);
    else if (width === 2) v.setUint16(at, x & 0xffff, true);
    else if (width === 4) v.setUint32(at, x >>> 0, true);
    else v.setBigInt64(at, BigInt(x), true);
  });
}
