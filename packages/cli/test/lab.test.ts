/**
 * `capsule lab` as root: up (real daemons from the CLI bundle in namespaces) → status --json →
 * exec ping across the underlay → down → nothing left (namespaces, links, processes, files).
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { canRun } from '@capsule/testkit';
import { afterAll, describe, expect, it } from 'vitest';
import { createRecordingIo, runCli } from '../src/main';

const cli = join(import.meta.dirname, '../bin/capsule.js');
const topology = `name: lt
underlay: 10.214.0.0/24
controller: { name: ctl }
engines: [{ name: e1 }]
hosts:
  - { name: h1, engines: [e1] }
  - { name: h2, engines: [e1] }
`;

describe('capsule lab without a lab', () => {
  it('status and exec fail with LAB_NOT_UP, down is a no-op', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-lab-none-'));
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['lab', 'status', '--data-dir', dir], io)).toBe(1);
    expect(io.stderr()).toContain('LAB_NOT_UP');
    expect(await runCli(['lab', 'exec', 'h1', '--data-dir', dir, '--', 'true'], io)).toBe(1);
    const down = createRecordingIo({ cwd: dir });
    expect(await runCli(['lab', 'down', '--data-dir', dir], down)).toBe(0);
    expect(down.stdout()).toContain('nothing left');
    rmSync(dir, { recursive: true, force: true });
  });

  it('up rejects a bad topology before touching anything', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-lab-bad-'));
    writeFileSync(join(dir, 'bad.yaml'), 'name: BAD\n');
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['lab', 'up', '--topology', 'bad.yaml', '--data-dir', join(dir, 'd')], io)).toBe(1);
    expect(io.stderr()).toContain('LAB_BAD_TOPOLOGY');
    expect(existsSync(join(dir, 'd'))).toBe(false);
    rmSync(dir, { recursive: true, force: true });
  });
});

describe.skipIf(
  !canRun({ root: true, tools: ['ip', 'ping'] }) ||
    !existsSync(join(import.meta.dirname, '../dist/capsule.js')),
)('capsule lab in network namespaces (root)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'capsule-lab-netns-'));
  const dataDir = join(dir, 'lab');
  writeFileSync(join(dir, 'topology.yaml'), topology);
  const run = (...args: string[]) =>
    execFileSync(process.execPath, [cli, ...args], {
      cwd: dir,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  afterAll(() => {
    try {
      run('lab', 'down', '--data-dir', dataDir);
    } catch {}
    rmSync(dir, { recursive: true, force: true });
  });

  it('up → status → exec → down leaves nothing', () => {
    run('lab', 'up', '--topology', 'topology.yaml', '--data-dir', dataDir);
    const status = JSON.parse(run('lab', 'status', '--json', '--data-dir', dataDir)) as {
      nodes: {
        name: string;
        kind: string;
        registered: boolean;
        address: string;
        running: boolean;
        pid: number;
      }[];
    };
    expect(status.nodes.map((n) => [n.name, n.kind, n.registered, n.running])).toEqual([
      ['ctl', 'controller', true, true],
      ['e1', 'engine', true, true],
      ['h1', 'host', true, true],
      ['h2', 'host', true, true],
    ]);
    const pids = status.nodes.map((n) => n.pid);
    // The underlay: h1 reaches h2; the host's TUN carries its CGA.
    expect(
      run('lab', 'exec', 'h1', '--data-dir', dataDir, '--', 'ping', '-c3', '-i0.2', '-W2', '10.214.0.5'),
    ).toMatch(/ [1-3] received/);
    expect(
      run('lab', 'exec', 'h1', '--data-dir', dataDir, '--', 'ip', '-6', 'addr', 'show', 'dev', 'capsule0'),
    ).toContain('fd00:ca:1ab:');
    expect(run('lab', 'down', '--data-dir', dataDir)).toContain('nothing left');
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain('cpl-lt-');
    expect(execFileSync('ip', ['link', 'show'], { encoding: 'utf8' })).not.toContain('cb-lt');
    for (const pid of pids)
      expect(
        existsSync(`/proc/${pid}/cmdline`) &&
          execFileSync('cat', [`/proc/${pid}/cmdline`]).includes('capsule'),
      ).toBe(false);
    expect(existsSync(dataDir)).toBe(false);
  }, 120_000);
});
