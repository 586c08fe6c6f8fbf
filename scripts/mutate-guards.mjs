#!/usr/bin/env node
// A mutation run over the native fast path's hand-up guards (packages/native/addon/fast-path.cc):
// each one-line guard `if (COND) return Up|IngressUp|EgressUp(…);` is disabled in turn
// (`if (false && (COND))`), the addon rebuilt incrementally (make, in the build node-gyp left), and
// the fast-path tests run; a guard whose removal no test notices is a check no test guards. The
// source is restored and rebuilt at the end, whatever happens. Some survivors are guards that a
// check before them already covers, or that no input reaches (docs/engine.md, "Tests"): read each.
//
//   node scripts/mutate-guards.mjs [LINE …]   (only the guards on those lines; all by default)
//
// About 30 s a guard on 2 cores. Not part of the test command: a tool for whoever changes the C++.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const source = join(root, 'packages/native/addon/fast-path.cc');
const build = join(root, 'packages/native/build');
const tests = [
  'test/engine/fast-path.test.ts',
  'test/engine/fast-path-program.test.ts',
  'packages/agent/src/fast-path.test.ts',
];
const guard = /^(\s*)if \((.*)\) return (Up|IngressUp|EgressUp)\(/;

const original = readFileSync(source, 'utf8');
const lines = original.split('\n');
const only = new Set(process.argv.slice(2).map(Number));
const sites = lines
  .map((line, index) => ({ line, number: index + 1 }))
  .filter(({ line, number }) => guard.test(line) && (only.size === 0 || only.has(number)));
if (sites.length === 0) {
  console.error('mutate-guards: no guard on those lines');
  process.exit(2);
}

const make = () => spawnSync('make', ['-C', build, 'BUILDTYPE=Release'], { encoding: 'utf8' });
const survivors = [];
try {
  for (const { line, number } of sites) {
    const mutant = [...lines];
    mutant[number - 1] = line.replace(/if \((.*)\) return /, 'if (false && ($1)) return ');
    writeFileSync(source, mutant.join('\n'));
    const built = make();
    if (built.status !== 0) {
      console.log(`${number}\tbuild failed\t${line.trim()}`);
      continue;
    }
    const run = spawnSync('npx', ['vitest', 'run', '--bail', '1', ...tests], { cwd: root, encoding: 'utf8' });
    const killed = run.status !== 0;
    if (!killed) survivors.push(number);
    console.log(`${number}\t${killed ? 'killed' : 'SURVIVED'}\t${line.trim()}`);
  }
} finally {
  writeFileSync(source, original);
  const restored = make();
  if (restored.status !== 0) console.error('mutate-guards: rebuilding the original failed; run npm ci');
}
console.log(
  `${sites.length - survivors.length} of ${sites.length} killed; survived: ${survivors.join(' ') || 'none'}`,
);
