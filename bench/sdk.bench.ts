/**
 * The SDK's figures: for every program of the network-function library, its code size (with and
 * without compressed encodings), the instructions it runs per packet on its fixtures, and how
 * long compiling it takes — next to the same figures of the compiler before its optimizing back
 * end (measured on commit fd9f7bc, the `baseline` below), so the effect of code generation shows.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type SimulationFixture, simulate } from '@capsule/sdk';
import { Bench } from 'tinybench';
import { markdownTable, writePerformanceSection } from './report';

const dir = join(import.meta.dirname, '..', 'examples', 'programs');
const library: [program: string, entry: string, fixture: string][] = [
  ['PointToPoint.java', 'route', 'point-to-point.json'],
  ['LoadBalancer.java', 'byFlowHash', 'load-balancer.json'],
  ['LoadBalancer.java', 'leastLoaded', 'load-balancer.json'],
  ['Multicast.java', 'replicate', 'multicast.json'],
  ['ServiceChain.java', 'chain', 'service-chain.json'],
  ['PathChoice.java', 'choose', 'path-choice.json'],
  ['PortFilter.java', 'toPort', 'port-filter.json'],
  ['InBandTrace.java', 'trace', 'in-band-trace.json'],
];

/**
 * Before: code bytes (RVC) and the fuel of each fixture packet, measured with this benchmark on
 * commit fd9f7bc (expressions into a pool of temporaries, fixed homes for variables, no inlining,
 * no hoisting, no common subexpressions). Only the programs whose source is still the one measured
 * then: ServiceChain and PathChoice were rewritten since (to work on the lab's real traffic) and
 * PortFilter is new, so they have no "before".
 */
const baseline: Record<string, { codeBytes: number; fuel: number[] }> = {
  'PointToPoint.route': { codeBytes: 232, fuel: [78, 20, 83] },
  'LoadBalancer.byFlowHash': { codeBytes: 722, fuel: [91, 91, 91] },
  'LoadBalancer.leastLoaded': { codeBytes: 722, fuel: [163, 23, 23] },
  'Multicast.replicate': { codeBytes: 196, fuel: [164, 105] },
  'InBandTrace.trace': { codeBytes: 346, fuel: [109] },
};

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : sum(xs) / xs.length);
const range = (xs: readonly number[]) => `${Math.min(...xs)}–${Math.max(...xs)}`;
const change = (before: number, after: number) => `${(((after - before) / before) * 100).toFixed(1)} %`;

export async function run(): Promise<void> {
  const rows: (string | number)[][] = [];
  const bench = new Bench({ time: 300 });
  let fuelBefore = 0;
  let fuelAfter = 0;
  let packets = 0;
  const bytesBefore = new Map<string, number>();
  const bytesAfter = new Map<string, number>();
  for (const [program, entry, fixtureName] of library) {
    const name = `${program.replace('.java', '')}.${entry}`;
    const source = readFileSync(join(dir, program), 'utf8');
    const image = compile(source).image!;
    const plain = compile(source, { compress: false }).image!;
    const fixture = JSON.parse(readFileSync(join(dir, 'fixtures', fixtureName), 'utf8')) as SimulationFixture;
    const fuel = simulate(image, fixture, { entry }).map((o) => o.fuelUsed);
    const before = baseline[name];
    if (before) {
      fuelBefore += sum(before.fuel);
      fuelAfter += sum(fuel);
      packets += fuel.length;
      bytesBefore.set(program, before.codeBytes);
      bytesAfter.set(program, image.code.length);
    }
    rows.push([
      name,
      before ? before.codeBytes : '—',
      image.code.length,
      plain.code.length,
      before ? `${mean(before.fuel).toFixed(1)} (${range(before.fuel)})` : '—',
      `${mean(fuel).toFixed(1)} (${range(fuel)})`,
      before ? change(sum(before.fuel), sum(fuel)) : '—',
      fuel.length,
    ]);
    if (entry === 'route' || entry === 'leastLoaded')
      bench.add(`compile ${program}`, () => void compile(source));
  }
  const codeBefore = sum([...bytesBefore.values()]);
  const codeAfter = sum([...bytesAfter.values()]);
  rows.push([
    `**measured before too** (${bytesBefore.size} programs, ${packets} packets)`,
    codeBefore,
    codeAfter,
    '',
    (fuelBefore / packets).toFixed(1),
    (fuelAfter / packets).toFixed(1),
    change(fuelBefore, fuelAfter),
    packets,
  ]);
  await bench.run();
  const timing = bench.tasks.map((t) => {
    const result = t.result;
    if (result.state !== 'completed') throw new Error(`${t.name}: ${result.state}`);
    return [t.name, `${result.latency.mean.toFixed(2)} ms`];
  });
  writePerformanceSection(
    'sdk',
    'SDK: the network-function library',
    'npm run bench -- sdk',
    [
      'Code size of each library program (the whole image: all entries and helpers; RVC) and the',
      'instructions one packet runs — the fuel it uses, which adds the services’ own costs (FLOW_HASH',
      '10, LOOKUP_TAG 20 + 2 per link) to one unit per instruction — over the packets of the program’s',
      'fixture in `examples/programs/fixtures/`, simulated on the sandbox machine. “Before” is the',
      'compiler of commit fd9f7bc; “now” the current one (virtual registers, a colouring register',
      'allocator, methods lowered in place, loop-invariant code motion, common subexpressions, a',
      'peephole pass). ServiceChain and PathChoice were rewritten since fd9f7bc and PortFilter is new:',
      'no “before” for them. The last row sums the programs measured both times: their code bytes, the',
      'mean over their packets and the change of their total.',
      '',
      markdownTable(
        [
          'program.entry',
          'code bytes before',
          'code bytes now',
          'now without RVC',
          'instructions per packet before: mean (range)',
          'now',
          'change',
          'packets',
        ],
        rows,
      ),
      '',
      'Compile time (lex → image) of two library programs:',
      '',
      markdownTable(['task', 'mean'], timing),
    ].join('\n'),
  );
  console.log(rows.map((r) => r.join('\t')).join('\n'));
}
