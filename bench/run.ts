/**
 * `npm run bench [-- NAME… --OPTION VALUE…]`: runs every bench/*.bench.ts (or the named ones) in
 * turn. Each benchmark module exports `run(options): Promise<void>` (the `--…` arguments, see
 * bench/args.ts; e.g. `npm run bench:dataplane -- --rounds 5`) and writes its own section of
 * docs/performance.md through bench/report.ts.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { splitBenchArgs } from './args';

const all = readdirSync(import.meta.dirname)
  .filter((file) => file.endsWith('.bench.ts'))
  .map((file) => file.slice(0, -'.bench.ts'.length))
  .sort();
const args = splitBenchArgs(process.argv.slice(2), all);
const wanted = new Set(args.names);
const names = all.filter((name) => wanted.size === 0 || wanted.has(name));
// The data-plane benchmark builds network namespaces: without root it runs only when named.
const isRoot = process.getuid?.() === 0;
if (wanted.size === 0 && !isRoot && names.includes('dataplane')) {
  names.splice(names.indexOf('dataplane'), 1);
  process.stdout.write('skipping bench dataplane: it needs root (network namespaces, TUN)\n');
}

// The soak runs for ten minutes: only when named (`npm run bench -- soak`).
if (wanted.size === 0 && names.includes('soak')) {
  names.splice(names.indexOf('soak'), 1);
  process.stdout.write('skipping bench soak: it runs for 10 minutes; name it to run it\n');
}

for (const name of names) {
  process.stdout.write(`\n== bench ${name} ==\n`);
  const module = (await import(pathToFileURL(join(import.meta.dirname, `${name}.bench.ts`)).href)) as {
    run: (options: readonly string[]) => Promise<void>;
  };
  await module.run(args.options);
}
