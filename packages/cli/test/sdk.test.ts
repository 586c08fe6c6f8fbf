/** The SDK commands, run in-process: compile, asm, disasm, sim, sdk run. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeProgramImage, programImageFromJson, programImageLength } from '@capsule/wire';
import { afterAll, describe, expect, it } from 'vitest';
import { createRecordingIo, runCli } from '../src/main';

const dir = mkdtempSync(join(tmpdir(), 'capsule-cli-sdk-'));
const root = join(import.meta.dirname, '..', '..', '..');
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('capsule compile / sim / sdk run / asm / disasm', () => {
  it('compiles a library program and simulates it on its fixture', async () => {
    const io = createRecordingIo({ cwd: dir });
    const source = join(root, 'examples/programs/PointToPoint.java');
    expect(await runCli(['compile', source, '-o', join(dir, 'p2p.json')], io)).toBe(0);
    expect(io.stdout()).toMatch(/bytes of code, entries route@0, logic hash [0-9a-f]{64}/);
    const sim = createRecordingIo({ cwd: dir });
    expect(
      await runCli(
        [
          'sim',
          join(dir, 'p2p.json'),
          '--entry',
          'route',
          '--packet',
          join(root, 'examples/programs/fixtures/point-to-point.json'),
        ],
        sim,
      ),
    ).toBe(0);
    expect(sim.stdout().split('\n')[0]).toMatch(
      /^packet 1: FORWARD links \[2\] flags cache hop index 2 fuel \d+$/,
    );
    expect(sim.stdout()).toMatch(/packet 3: DROP reason 0x101/);
    // The same outcomes, fuel included, on the other two tiers.
    for (const tier of ['fast', 'native']) {
      const other = createRecordingIo({ cwd: dir });
      const fixture = join(root, 'examples/programs/fixtures/point-to-point.json');
      const args = ['sim', join(dir, 'p2p.json'), '--entry', 'route', '--packet', fixture, '--tier', tier];
      expect(await runCli(args, other)).toBe(0);
      expect(other.stdout()).toBe(sim.stdout());
    }
  });

  it('refuses an unknown --tier, naming the three', async () => {
    for (const args of [
      ['sim', 'p2p.json', '--entry', 'route', '--packet', 'x.json', '--tier', 'jit'],
      ['sdk', 'run', 'M.java', '--call', 'M.f', '--tier', 'jit'],
    ]) {
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(args, io)).toBe(1);
      expect(io.stderr()).toMatch(/SDK_BAD_TIER.*interpreter, fast or native, not 'jit'/);
    }
  });

  it('prints every compile error as file:line:col: error CODE: message', async () => {
    const file = join(dir, 'Bad.java');
    writeFileSync(
      file,
      'class Bad {\n  static int f() { int x = true; return y; }\n  static void g() { h(); }\n}\n',
    );
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['compile', file], io)).toBe(1);
    expect(io.stderr()).toContain(`${file}:2:28: error CHECK_TYPE_MISMATCH:`);
    expect(io.stderr()).toContain(`${file}:2:41: error CHECK_UNKNOWN_NAME:`);
    expect(io.stderr()).toContain(`${file}:3:21: error CHECK_UNKNOWN_NAME:`);
    expect(io.stderr()).toContain('error [SDK_COMPILE_FAILED]: 3 errors');
  });

  it('sdk run prints the result alone on the last line (booleans as 0/1)', async () => {
    const file = join(dir, 'M.java');
    writeFileSync(
      file,
      'class M {\n  static long f(int a, long b) { return a * b - 1; }\n  static boolean even(int x) { return x % 2 == 0; }\n}\n',
    );
    for (const [call, args, want] of [
      ['M.f', ['6', '-7'], '-43'],
      ['M.even', ['10'], '1'],
      ['M.even', ['7'], '0'],
    ] as const) {
      for (const tier of ['interpreter', 'fast', 'native']) {
        const io = createRecordingIo({ cwd: dir });
        expect(await runCli(['sdk', 'run', file, '--call', call, '--tier', tier, ...args], io)).toBe(0);
        expect(io.stdout().trimEnd().split('\n').at(-1)).toBe(want);
      }
    }
  });

  it('assembles, and disassembles code and images', async () => {
    const file = join(dir, 'a.s');
    writeFileSync(
      file,
      '.globl start\nstart:\n  li a0, 5\nloop:\n  addi a0, a0, -1\n  bnez a0, loop\n  ebreak\n',
    );
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['asm', file, '-o', join(dir, 'a.bin')], io)).toBe(0);
    expect(readFileSync(join(dir, 'a.bin')).toString('hex')).toBe('15457d157dfd0290');
    const dis = createRecordingIo({ cwd: dir });
    expect(await runCli(['disasm', join(dir, 'a.bin')], dis)).toBe(0);
    expect(dis.stdout()).toContain('li\ta0, 5');
    expect(dis.stdout()).toContain('bnez\ta0, 0x2');
    const img = createRecordingIo({ cwd: dir });
    expect(
      await runCli(
        ['disasm', join(root, 'examples/programs/PointToPoint.java').replace('.java', '.json')],
        img,
      ),
    ).toBe(1);
  });

  it('reads images in both forms and refuses one whose code does not match its logic hash', async () => {
    const source = join(root, 'examples/programs/PointToPoint.java');
    const json = join(dir, 'p2p-check.json');
    expect(await runCli(['compile', source, '-o', json], createRecordingIo({ cwd: dir }))).toBe(0);
    const image = programImageFromJson(readFileSync(json, 'utf8'));
    expect(image.ok).toBe(true);
    if (!image.ok) return;
    const binary = new Uint8Array(programImageLength(image.value));
    encodeProgramImage(image.value, binary);
    writeFileSync(join(dir, 'p2p.cpim'), binary);
    const fromJson = createRecordingIo({ cwd: dir });
    const fromBinary = createRecordingIo({ cwd: dir });
    expect(await runCli(['disasm', json], fromJson)).toBe(0);
    expect(await runCli(['disasm', join(dir, 'p2p.cpim')], fromBinary)).toBe(0);
    expect(fromBinary.stdout()).toBe(fromJson.stdout());
    expect(fromJson.stdout()).toContain('<route>');
    const tampered = JSON.parse(readFileSync(json, 'utf8')) as { code: string };
    tampered.code = `${tampered.code.slice(0, -2)}00`;
    writeFileSync(join(dir, 'tampered.json'), JSON.stringify(tampered));
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['disasm', join(dir, 'tampered.json')], io)).toBe(1);
    expect(io.stderr()).toMatch(
      /error \[IMAGE_INVALID\]: .*tampered\.json: program image: logic hash mismatch/,
    );
  });
});
