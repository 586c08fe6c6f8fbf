/**
 * The network-function library (examples/programs): every program compiles, passes the VM
 * verifier, compiles under javac against the capsule stubs, and behaves as intended on its packet
 * fixtures in the simulator (on each of the three tiers, with the same outcomes).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNativeVmTier } from '@capsule/native';
import { canRun } from '@capsule/testkit';
import { verifyProgram } from '@capsule/vm';
import { describe, expect, it } from 'vitest';
import { compile } from '../src/compile';
import type { PacketOutcome, SimulationFixture } from '../src/simulator';
import { simulate } from '../src/simulator';

const root = join(import.meta.dirname, '..', '..', '..');
const programsDir = join(root, 'examples', 'programs');
const read = (name: string) => readFileSync(join(programsDir, name), 'utf8');
const fixture = (name: string) => JSON.parse(read(join('fixtures', name))) as SimulationFixture;
const nativeTier = createNativeVmTier();

function run(program: string, entry: string, fixtureName: string): PacketOutcome[] {
  const compiled = compile(read(program));
  expect(compiled.diagnostics).toEqual([]);
  const fast = simulate(compiled.image!, fixture(fixtureName), { entry, tier: 'fast' });
  const slow = simulate(compiled.image!, fixture(fixtureName), { entry, tier: 'interpreter' });
  const native = simulate(compiled.image!, fixture(fixtureName), { entry, tier: 'native', nativeTier });
  expect(fast).toEqual(slow);
  expect(native).toEqual(slow);
  return slow;
}
const summary = (o: PacketOutcome) => [o.verdict, o.egressLinks, o.dropReason, o.trap];

describe('the network-function library', () => {
  const programs = readdirSync(programsDir).filter((f) => f.endsWith('.java'));

  it('has the seven functions, each compiling and passing the VM verifier', () => {
    expect(programs.length).toBeGreaterThanOrEqual(7);
    for (const p of programs) {
      const r = compile(read(p));
      expect(r.diagnostics, p).toEqual([]);
      const v = verifyProgram(r.image!.code, { entryOffsets: r.image!.entries.map((e) => e.offset) });
      expect(v.diagnostics, p).toEqual([]);
      expect(v.ok).toBe(true);
    }
  });

  it('point-to-point follows the path, delivers at its end, drops without a route', () => {
    const out = run('PointToPoint.java', 'route', 'point-to-point.json');
    expect(out.map(summary)).toEqual([
      ['FORWARD', [2], 0, 'NONE'],
      ['DELIVER', [], 0, 'NONE'],
      ['DROP', [], 0x101, 'NONE'],
    ]);
    expect(out[0]!.hopIndex).toBe(2);
    expect(out[0]!.flags.cache).toBe(true);
  });

  it('load balancing by flow hash keeps a flow on one member', () => {
    const out = run('LoadBalancer.java', 'byFlowHash', 'load-balancer.json');
    expect(out.map(summary)).toEqual([
      ['FORWARD', [12], 0, 'NONE'],
      ['FORWARD', [11], 0, 'NONE'],
      ['FORWARD', [12], 0, 'NONE'],
    ]);
  });

  it('least-loaded balancing counts flows in shared memory and pins the flow', () => {
    const out = run('LoadBalancer.java', 'leastLoaded', 'load-balancer.json');
    // One flow (the fixture's packets share FLOW memory): the first packet picks, the rest follow.
    expect(out.map(summary)).toEqual([
      ['FORWARD', [11], 0, 'NONE'],
      ['FORWARD', [11], 0, 'NONE'],
      ['FORWARD', [11], 0, 'NONE'],
    ]);
  });

  it('nearest follows the nearest-member bit only, never back where it came from, and drops without one', () => {
    const out = run('Nearest.java', 'nearest', 'nearest.json');
    // Bit 5 (32) marks the first hop toward the nearest member; bit 3 (8) the other members.
    expect(out.map(summary)).toEqual([
      ['FORWARD', [12], 0, 'NONE'],
      ['FORWARD', [13], 0, 'NONE'], // the controller moved the bit: the next nearest
      ['DROP', [], 0x103, 'NONE'], // it came in over the marked link
      ['DROP', [], 0x103, 'NONE'], // the marked link is down
    ]);
    expect(out[0]!.flags.cache).toBe(false);
  });

  it('multicast replicates to every up member except the ingress link', () => {
    const out = run('Multicast.java', 'replicate', 'multicast.json');
    expect(out.map(summary)).toEqual([
      ['REPLICATE', [1, 2], 0, 'NONE'],
      ['DROP', [], 0x103, 'NONE'],
    ]);
  });

  it('service chaining goes to the waypoint first, then to the destination engine, which delivers', () => {
    const out = run('ServiceChain.java', 'chain', 'service-chain.json');
    expect(out.map(summary)).toEqual([
      ['FORWARD', [1], 0, 'NONE'], // toward the waypoint (link tagged 1)
      ['FORWARD', [6], 0, 'NONE'], // at the waypoint: marked, on to the destination engine 3
      ['DELIVER', [], 0, 'NONE'], // the destination engine, the packet marked
      ['DROP', [], 0x101, 'NONE'], // marked, no link to engine 3 nor tagged 2
    ]);
    expect(out.every((o) => o.flags.trace)).toBe(true);
  });

  it('path choice takes the cheapest labelled link, fails over to the destination engine, then back', () => {
    const out = run('PathChoice.java', 'choose', 'path-choice.json');
    expect(out.map(summary)).toEqual([
      ['FORWARD', [2], 0, 'NONE'], // the cheapest up link tagged 4 but the ingress
      ['FORWARD', [3], 0, 'NONE'], // none up: straight to the destination engine 3
      ['FORWARD', [9], 0, 'NONE'], // neither: back where it came from (crankback)
      ['DELIVER', [], 0, 'NONE'], // at the destination engine
      ['DROP', [], 0x101, 'NONE'],
      ['FORWARD', [1], 0, 'NONE'], // the variable `label` set to 2
    ]);
  });

  it('port filter passes the one transport service (TCP 8080 by default) and drops the rest', () => {
    const out = run('PortFilter.java', 'toPort', 'port-filter.json');
    expect(out.map(summary)).toEqual([
      ['FORWARD', [2], 0, 'NONE'],
      ['DROP', [], 0x102, 'NONE'],
      ['DROP', [], 0x102, 'NONE'],
      ['DROP', [], 0x102, 'NONE'],
      ['FORWARD', [2], 0, 'NONE'], // the variable `port` set to 5201
    ]);
    expect(out[0]!.flags.cache).toBe(false);
    // The server's answers: source port 8080.
    const back = run('PortFilter.java', 'fromPort', 'port-filter.json');
    expect(back.map((o) => o.verdict)).toEqual(['DROP', 'DROP', 'DROP', 'DROP', 'DROP']);
  });

  it('in-band trace appends this hop to the travelling record', () => {
    const compiled = compile(read('InBandTrace.java'));
    const out = run('InBandTrace.java', 'trace', 'in-band-trace.json');
    expect(out.map(summary)).toEqual([['FORWARD', [2], 0, 'NONE']]);
    expect(out[0]!.flags.trace).toBe(true);
    expect(compiled.image!.data.map((d) => d.name)).toEqual(['count', 'engines', 'ingress', 'hopLimits']);
  });

  it('same source gives a byte-identical image', () => {
    for (const p of programs) {
      const a = compile(read(p)).image!;
      const b = compile(read(p)).image!;
      expect(Buffer.from(a.code).equals(Buffer.from(b.code))).toBe(true);
      expect(a.logicHash).toBe(b.logicHash);
      expect(JSON.stringify(a.sourceMap)).toBe(JSON.stringify(b.sourceMap));
    }
  });

  describe.skipIf(!canRun({ tools: ['javac'] }))('under javac', () => {
    it('every library program compiles against the capsule stubs', () => {
      const out = mkdtempSync(join(tmpdir(), 'capsule-lib-'));
      try {
        const stubs = readdirSync(join(root, 'packages', 'sdk', 'java', 'capsule')).map((f) =>
          join(root, 'packages', 'sdk', 'java', 'capsule', f),
        );
        execFileSync('javac', ['-d', out, ...stubs, ...programs.map((p) => join(programsDir, p))], {
          stdio: 'pipe',
        });
      } finally {
        rmSync(out, { recursive: true, force: true });
      }
    });
  });
});
