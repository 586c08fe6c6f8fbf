/**
 * The network-namespace suites and benches each build their own underlay bridge; two of them on
 * one subnet would route each other's packets when they run back to back on one machine, or
 * collide while a helper's run overlaps CI's. This test reads every underlay a suite, a bench or
 * an example topology names (`underlay: 10.x.y.z/n`, in YAML or in a comment) and fails when two
 * files name overlapping subnets.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..');

/** Where netns labs are declared: the suites, the benches and the example topologies. */
function labFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir)) {
      if (name === 'node_modules' || name === 'dist') continue;
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(ts|ya?ml)$/.test(name)) files.push(path);
    }
  };
  walk(join(root, 'test'));
  walk(join(root, 'bench'));
  walk(join(root, 'examples', 'lab'));
  for (const pkg of readdirSync(join(root, 'packages'))) {
    const dir = join(root, 'packages', pkg, 'test');
    if (statSync(join(root, 'packages', pkg)).isDirectory() && existsDir(dir)) walk(dir);
  }
  return files.filter((file) => file !== import.meta.filename);
}

function existsDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

interface Subnet {
  file: string;
  cidr: string;
  first: number;
  last: number;
}

/** `a.b.c.d/n` → its first and last address as numbers; undefined when it is not a prefix. */
function subnetRange(cidr: string): { first: number; last: number } | undefined {
  const match = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/.exec(cidr);
  if (!match) return undefined;
  const octets = match.slice(1, 5).map(Number);
  const bits = Number(match[5]);
  if (octets.some((o) => o > 255) || bits > 32) return undefined;
  const address = octets.reduce((value, octet) => value * 256 + octet, 0);
  const size = 2 ** (32 - bits);
  const first = Math.floor(address / size) * size;
  return { first, last: first + size - 1 };
}

/** Pairs of subnets of different files that overlap. */
function overlapping(subnets: readonly Subnet[]): [Subnet, Subnet][] {
  const pairs: [Subnet, Subnet][] = [];
  for (let i = 0; i < subnets.length; i++) {
    for (let j = i + 1; j < subnets.length; j++) {
      const a = subnets[i]!;
      const b = subnets[j]!;
      if (a.file !== b.file && a.first <= b.last && b.first <= a.last) pairs.push([a, b]);
    }
  }
  return pairs;
}

function declaredSubnets(): Subnet[] {
  const subnets: Subnet[] = [];
  for (const path of labFiles()) {
    const file = relative(root, path);
    const seen = new Set<string>();
    for (const match of readFileSync(path, 'utf8').matchAll(/underlay:? +(\d+\.\d+\.\d+\.\d+\/\d+)/g)) {
      const cidr = match[1]!;
      const range = subnetRange(cidr);
      if (!range || seen.has(cidr)) continue;
      seen.add(cidr);
      subnets.push({ file, cidr, ...range });
    }
  }
  return subnets;
}

describe('netns lab underlays', () => {
  it('overlap is found across files, not within one', () => {
    const at = (file: string, cidr: string): Subnet => ({ file, cidr, ...subnetRange(cidr)! });
    expect(overlapping([at('a', '10.1.0.0/24'), at('b', '10.1.0.128/25')])).toHaveLength(1);
    expect(overlapping([at('a', '10.1.0.0/16'), at('b', '10.1.200.0/24')])).toHaveLength(1);
    expect(overlapping([at('a', '10.1.0.0/24'), at('b', '10.2.0.0/24')])).toHaveLength(0);
    expect(overlapping([at('a', '10.1.0.0/24'), at('a', '10.1.0.0/25')])).toHaveLength(0);
    expect(subnetRange('10.300.0.0/24')).toBeUndefined();
  });

  it('every suite, bench and example topology has an underlay of its own', () => {
    const subnets = declaredSubnets();
    // The suites of today (dataplane, resolver, package, observe, dos, lab CLI, deploy, the
    // dataplane bench, two example topologies): a scan that finds none has stopped reading them.
    expect(subnets.length).toBeGreaterThanOrEqual(10);
    const clashes = overlapping(subnets).map(([a, b]) => `${a.file} ${a.cidr} overlaps ${b.file} ${b.cidr}`);
    expect(clashes).toEqual([]);
  });
});
