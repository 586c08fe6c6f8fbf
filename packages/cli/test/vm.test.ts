/** `capsule vm exec` and `capsule vm isa-doc`, in-process. */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecordingIo, runCli } from '../src/main';

const program = `
  .globl _start
_start:
  li a0, 1
  la a1, message
  li a2, 6
  li a7, 64
  ecall
  lw a0, 0(sp)
  addi a0, a0, 40
  li a7, 93
  ecall
  .data
message: .ascii "hello\\n"
`;

describe.skipIf(!canRun({ tools: ['clang', 'ld.lld'] }))('capsule vm exec', () => {
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'capsule-cli-vm-'));
    writeFileSync(join(dir, 'hello.s'), program);
    writeFileSync(join(dir, 'crash.s'), '.globl _start\n_start:\n  lw a0, 0(zero)\n');
    writeFileSync(join(dir, 'loop.s'), '.globl _start\n_start:\n  j _start\n');
    for (const name of ['hello', 'crash', 'loop'])
      execFileSync(
        'clang',
        [
          '--target=riscv32',
          '-march=rv32imac',
          '-mabi=ilp32',
          '-nostdlib',
          '-static',
          '-fuse-ld=lld',
          `${name}.s`,
          '-o',
          `${name}.elf`,
        ],
        { cwd: dir },
      );
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  for (const tier of ['interpreter', 'fast', 'native']) {
    it(`prints the program's stdout and exits with its code (argc + 40) on the ${tier}`, async () => {
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(['vm', 'exec', '--tier', tier, 'hello.elf', 'one', 'two'], io)).toBe(43);
      expect(io.stdout()).toBe('hello\n');
    });
  }

  it('exits 128 + signal when the program faults, with a message on stderr', async () => {
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['vm', 'exec', 'crash.elf'], io)).toBe(139);
    expect(io.stderr()).toMatch(/SIGSEGV/);
  });

  it('stops at --max-steps with an error', async () => {
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['vm', 'exec', '--max-steps', '1000', 'loop.elf'], io)).toBe(1);
    expect(io.stderr()).toMatch(/VM_STEP_LIMIT/);
  });

  it('--trace prints each instruction as objdump would', async () => {
    const io = createRecordingIo({ cwd: dir });
    await runCli(['vm', 'exec', '--trace', 'hello.elf'], io);
    expect(io.stderr()).toMatch(/: {2}li\ta0, 1\n/);
    expect(io.stderr()).toMatch(/ecall/);
  });

  it('faults and stops at --max-steps alike on every tier', async () => {
    for (const tier of ['interpreter', 'fast', 'native']) {
      const crash = createRecordingIo({ cwd: dir });
      expect(await runCli(['vm', 'exec', '--tier', tier, 'crash.elf'], crash)).toBe(139);
      expect(crash.stderr()).toMatch(/SIGSEGV/);
      const loop = createRecordingIo({ cwd: dir });
      expect(await runCli(['vm', 'exec', '--tier', tier, '--max-steps', '1000', 'loop.elf'], loop)).toBe(1);
      expect(loop.stderr()).toMatch(/VM_STEP_LIMIT/);
    }
  });

  it('refuses an unknown tier, naming the three', async () => {
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['vm', 'exec', '--tier', 'jit', 'hello.elf'], io)).toBe(1);
    expect(io.stderr()).toMatch(/VM_BAD_TIER.*interpreter, fast or native, not 'jit'/);
  });

  it('rejects a file that is not an RV32 executable', async () => {
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['vm', 'exec', 'hello.s'], io)).toBe(1);
    expect(io.stderr()).toMatch(/VM_BAD_ELF/);
  });
});

describe('capsule vm exec --tier native without the native addon', () => {
  it('refuses with VM_NO_NATIVE_TIER before reading the program', () => {
    // A fresh process (the addon loads once per process) told to load an addon that does not exist.
    const main = fileURLToPath(new URL('../src/main.ts', import.meta.url));
    const script = `
      const { createRecordingIo, runCli } = await import(${JSON.stringify(main)});
      const io = createRecordingIo({ cwd: '/' });
      const code = await runCli(['vm', 'exec', '--tier', 'native', 'none.elf'], io);
      console.log(JSON.stringify({ code, stderr: io.stderr() }));`;
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      env: { ...process.env, CAPSULE_NATIVE_ADDON: '/nonexistent/capsule_native.node' },
      encoding: 'utf8',
    });
    expect(child.status, child.stderr).toBe(0);
    const result = JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { code: number; stderr: string };
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/VM_NO_NATIVE_TIER.*native addon .*not built/);
  });
});

describe('capsule vm isa-doc', () => {
  it('writes the generated page and checks it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-cli-isa-'));
    try {
      const io = createRecordingIo({ cwd: dir });
      expect(await runCli(['vm', 'isa-doc', '--output', 'isa.md'], io)).toBe(0);
      expect(readFileSync(join(dir, 'isa.md'), 'utf8')).toMatch(/^# Instruction set/);
      expect(
        await runCli(['vm', 'isa-doc', '--output', 'isa.md', '--check'], createRecordingIo({ cwd: dir })),
      ).toBe(0);
      writeFileSync(join(dir, 'isa.md'), 'stale');
      expect(
        await runCli(['vm', 'isa-doc', '--output', 'isa.md', '--check'], createRecordingIo({ cwd: dir })),
      ).toBe(1);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
