/**
 * The `capsule` API as the checker sees it: the record classes an @Entry method receives
 * (Packet, Path, Engine, Action) and the static `Services`. Each method is an intrinsic: lowering
 * turns it into loads/stores in the sandbox region map or an ECALL (see lower-intrinsics.ts).
 * The Java stubs in packages/sdk/java/capsule/ declare the same methods, so programs compile
 * under javac too.
 */
import { BOOLEAN, INT, type Type, VOID } from './types';

const INT_ARRAY: Type = { kind: 'array', element: INT };

/** One method of the capsule API. */
export interface BuiltinMethod {
  /** `Class.method`, the key lowering dispatches on. */
  readonly id: string;
  readonly className: string;
  readonly name: string;
  readonly params: readonly Type[];
  readonly returns: Type;
  readonly isStatic: boolean;
  /** One line for docs/language.md. */
  readonly doc: string;
}

const m = (
  className: string,
  name: string,
  params: Type[],
  returns: Type,
  doc: string,
  isStatic = false,
): BuiltinMethod => ({
  id: `${className}.${name}`,
  className,
  name,
  params,
  returns,
  isStatic,
  doc,
});

/** Every method of the capsule API, in documentation order. */
export const builtinMethods: readonly BuiltinMethod[] = [
  m('Packet', 'srcAddress', [INT], INT, 'word i (0..3) of the IPv6 source address, in network byte order'),
  m(
    'Packet',
    'dstAddress',
    [INT],
    INT,
    'word i (0..3) of the IPv6 destination address, in network byte order',
  ),
  m('Packet', 'flowLabel', [], INT, 'the 20-bit flow label'),
  m('Packet', 'hopLimit', [], INT, 'the hop limit'),
  m('Packet', 'packetLength', [], INT, 'the whole IPv6 packet length in bytes'),
  m('Packet', 'payloadLength', [], INT, 'the upper-layer payload length in bytes'),
  m(
    'Packet',
    'nextHeader',
    [],
    INT,
    "the sealed application packet's protocol (6 TCP, 17 UDP, 1 ICMP, 58 ICMPv6; 59 when it has none)",
  ),
  m('Packet', 'packetType', [], INT, 'the capsule packet type (1, 2, 3)'),
  m('Packet', 'ingressLink', [], INT, 'the id of the link the packet arrived on'),
  m('Packet', 'srcPort', [], INT, "the sealed packet's TCP/UDP source port, or 0"),
  m('Packet', 'dstPort', [], INT, "the sealed packet's TCP/UDP destination port, or 0"),
  m('Packet', 'time', [], INT, 'arrival time, milliseconds since the Unix epoch (low 32 bits)'),
  m('Path', 'hopIndex', [], INT, 'index of the current hop in the PATH chunk'),
  m('Path', 'hopCount', [], INT, 'number of hops in the PATH chunk'),
  m('Path', 'hop', [INT], INT, 'engine id of hop i'),
  m('Path', 'hopFlags', [INT], INT, 'flags byte of hop i'),
  m('Path', 'setHopIndex', [INT], VOID, 'moves the current hop (the PATH chunk travels on with it)'),
  m('Engine', 'id', [], INT, 'this engine id'),
  m('Engine', 'tags', [], INT, 'the engine tag bits'),
  m('Engine', 'linkCount', [], INT, 'number of links in the link table'),
  m('Engine', 'linkId', [INT], INT, 'id of link i (0-based index into the link table)'),
  m('Engine', 'linkNeighbor', [INT], INT, 'engine id of the neighbor behind link i (0 for a host)'),
  m('Engine', 'linkKind', [INT], INT, 'kind of link i (0 engine, 1 host, 2 local)'),
  m('Engine', 'linkCost', [INT], INT, 'cost of link i'),
  m('Engine', 'linkUp', [INT], BOOLEAN, 'whether link i is up'),
  m('Engine', 'linkTags', [INT], INT, 'tag bits of link i'),
  m('Action', 'forward', [INT], VOID, 'verdict FORWARD on link id'),
  m('Action', 'replicate', [INT], VOID, 'verdict REPLICATE, adding link id to the egress list'),
  m('Action', 'deliver', [], VOID, 'verdict DELIVER to the local host link'),
  m('Action', 'drop', [INT], VOID, 'verdict DROP with a reason code (by convention >= 0x100)'),
  m('Action', 'cache', [], VOID, 'set the CACHE flag: apply this action to the flow without running again'),
  m('Action', 'trace', [], VOID, 'set the TRACE flag: record this execution in the engine trace'),
  m('Action', 'setNextEntry', [INT], VOID, 'CODE offset the next engine starts at'),
  m('Action', 'linkCount', [], INT, 'number of links in the egress list so far'),
  m('Services', 'flowHash', [INT], INT, 'stable hash of the flow mixed with a seed (ECALL FLOW_HASH)', true),
  m('Services', 'time', [], INT, 'engine time in milliseconds, low 32 bits (ECALL TIME)', true),
  m('Services', 'random', [], INT, 'a random int (ECALL RANDOM)', true),
  m(
    'Services',
    'log',
    [INT],
    VOID,
    'log an int to the trace and the engine log, rate-limited (ECALL LOG)',
    true,
  ),
  m(
    'Services',
    'emit',
    [],
    INT,
    'send a copy now with the current action set (ECALL EMIT); 0 when sent',
    true,
  ),
  m(
    'Services',
    'lookupTag',
    [INT, INT_ARRAY],
    INT,
    'fill the array with ids of up links carrying tag (0..31); returns how many (ECALL LOOKUP_TAG)',
    true,
  ),
  m(
    'Services',
    'fetchAdd',
    [INT_ARRAY, INT, INT],
    INT,
    'atomic add to element i of a @Shared int[] (AMOADD.W); returns the old value',
    true,
  ),
];

/** Names usable as types or static owners. */
export const builtinClassNames: ReadonlySet<string> = new Set([
  'Packet',
  'Path',
  'Engine',
  'Action',
  'Services',
]);

const byKey = new Map(builtinMethods.map((b) => [b.id, b]));

/** The API method `className.name`, or undefined. */
export function findBuiltinMethod(className: string, name: string): BuiltinMethod | undefined {
  return byKey.get(`${className}.${name}`);
}
