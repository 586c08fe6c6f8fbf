/** `capsule vm exec` and `capsule vm isa-doc`, in-process. */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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

  for (const tier of ['interpreter', 'fast']) {
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

  it('rejects a file that is not an RV32 executable', async () => {
    const io = createRecordingIo({ cwd: dir });
    expect(await runCli(['vm', 'exec', 'hello.s'], io)).toBe(1);
    expect(io.stderr()).toMatch(/VM_BAD_ELF/);
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
