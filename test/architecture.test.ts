/**
 * The dependency graph of docs/architecture.md, enforced: an import that breaks it fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/** Which workspace packages each package's sources may import. */
const allowedDependencies: Record<string, readonly string[]> = {
  wire: [],
  vm: ['wire'],
  identity: ['wire'],
  sdk: ['wire', 'vm'],
  api: ['wire', 'identity'],
  controller: ['wire', 'vm', 'identity', 'api'],
  overlay: ['wire', 'identity', 'native'],
  engine: ['wire', 'vm', 'identity', 'api', 'overlay'],
  native: ['wire', 'identity', 'vm'],
  agent: ['wire', 'vm', 'identity', 'api', 'overlay', 'native'],
  lab: ['wire', 'vm', 'identity', 'api', 'sdk', 'controller', 'overlay', 'engine', 'agent', 'native'],
  cli: ['wire', 'vm', 'identity', 'sdk', 'api', 'controller', 'overlay', 'engine', 'agent', 'native', 'lab'],
  testkit: ['wire'],
};

/** Pure packages do no network or file I/O and never read the environment. */
const purePackages = new Set(['wire', 'vm', 'identity', 'sdk', 'api']);
const ioModules =
  /^(node:)?(fs|fs\/promises|net|dgram|http|https|http2|child_process|cluster|worker_threads|tls|dns|readline)$/;

const root = join(import.meta.dirname, '..');
const packagesDir = join(root, 'packages');

function sourceFiles(dir: string): string[] {
  const files: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) files.push(...sourceFiles(path));
    else if (/\.tsx?$/.test(name) && !/\.test\.tsx?$/.test(name)) files.push(path);
  }
  return files;
}

function importSpecifiers(text: string): string[] {
  const specifiers: string[] = [];
  const pattern =
    /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g;
  for (const match of text.matchAll(pattern)) specifiers.push((match[1] ?? match[2] ?? match[3])!);
  return specifiers;
}

const packageNames = readdirSync(packagesDir).filter((name) =>
  statSync(join(packagesDir, name, 'src')).isDirectory(),
);

describe('architecture: the dependency graph', () => {
  it('knows every package', () => {
    for (const name of packageNames)
      expect(Object.keys(allowedDependencies), `package ${name}`).toContain(name);
  });

  for (const name of packageNames) {
    describe(`@capsule/${name}`, () => {
      const manifest = JSON.parse(readFileSync(join(packagesDir, name, 'package.json'), 'utf8')) as {
        dependencies?: Record<string, string>;
      };
      const declared = new Set(Object.keys(manifest.dependencies ?? {}));
      const files = sourceFiles(join(packagesDir, name, 'src'));

      it('imports only the packages it may, declared, through their index', () => {
        const problems: string[] = [];
        for (const file of files) {
          const where = relative(root, file);
          for (const specifier of importSpecifiers(readFileSync(file, 'utf8'))) {
            if (specifier.startsWith('@capsule/')) {
              const [, target, ...deep] = specifier.split('/');
              if (deep.length > 0) problems.push(`${where}: deep import ${specifier}`);
              if (!allowedDependencies[name]?.includes(target!))
                problems.push(`${where}: may not import ${specifier}`);
              if (!declared.has(`@capsule/${target}`))
                problems.push(`${where}: ${specifier} not in package.json`);
            } else if (specifier.startsWith('.')) {
              const resolved = relative(join(packagesDir, name), join(file, '..', specifier));
              if (resolved.startsWith('..'))
                problems.push(`${where}: relative import leaves the package: ${specifier}`);
            } else if (purePackages.has(name) && ioModules.test(specifier)) {
              problems.push(`${where}: pure package imports ${specifier}`);
            }
          }
        }
        expect(problems).toEqual([]);
      });

      if (purePackages.has(name)) {
        it('never reads process.env', () => {
          const offenders = files.filter((file) => /process\.env/.test(readFileSync(file, 'utf8')));
          expect(offenders.map((file) => relative(root, file))).toEqual([]);
        });
      }
    });
  }
});
