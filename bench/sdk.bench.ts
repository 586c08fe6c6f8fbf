/**
 * The SDK's figures: for every program of the network-function library, its code size (with and
 * without compressed encodings), the instructions it runs per packet on its fixtures, and how
 * long compiling it takes.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { compile, type SimulationFixture, simulate } from '@capsule/sdk';
import { Bench } from 'tinybench';
import { markdownTable, writePerformanceSection } from './report';

const dir = join(import.meta.dirname, '..', 'examples', 'programs');
const library: [program: string, entry: string, fixture: string][] = [
  ['PointToPoint.java', 'route', 'point-to-point.json'],
  ['MicroSegmentation.java', 'filter', 'micro-segmentation.json'],
  ['LoadBalancer.java', 'byFlowHash', 'load-balancer.json'],
  ['LoadBalancer.java', 'leastLoaded', 'load-balancer.json'],
  ['Multicast.java', 'replicate', 'multicast.json'],
  ['ServiceChain.java', 'chain', 'service-chain.json'],
  ['PathChoice.java', 'choose', 'path-choice.json'],
  ['InBandTrace.java', 'trace', 'in-band-trace.json'],
];

export async function run(): Promise<void> {
  const rows: (string | number)[][] = [];
  const bench = new Bench({ time: 300 });
  for (const [program, entry, fixtureName] of library) {
    const source = readFileSync(join(dir, program), 'utf8');
    const image = compile(source).image!;
    const plain = compile(source, { compress: false }).image!;
    const fixture = JSON.parse(readFileSync(join(dir, 'fixtures', fixtureName), 'utf8')) as SimulationFixture;
    const outcomes = simulate(image, fixture, { entry });
    const fuel = outcomes.map((o) => o.fuelUsed);
    rows.push([
      `${program.replace('.java', '')}.${entry}`,
      image.code.length,
      plain.code.length,
      `${Math.round((100 * image.code.length) / plain.code.length)} %`,
      `${Math.min(...fuel)}–${Math.max(...fuel)}`,
      outcomes.length,
    ]);
    if (entry === 'route' || entry === 'leastLoaded')
      bench.add(`compile ${program}`, () => void compile(source));
  }
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
      'Code size of each library program (the whole image: all entries and helpers) with compressed',
      'encodings and without, and the instructions one packet runs (fuel used, over the packets of',
      'the program’s fixture in `examples/programs/fixtures/`, simulated on the sandbox machine).',
      '',
      markdownTable(
        [
          'program.entry',
          'code bytes (RVC)',
          'code bytes (no RVC)',
          'RVC / plain',
          'instructions per packet',
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
