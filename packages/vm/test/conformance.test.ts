/**
 * The conformance suite: every program in packages/vm/conformance/ (C and assembly, our own) is
 * built with clang/ld.lld in one batch, then run on qemu-riscv32 and on `capsule vm exec` (both
 * tiers); stdout and exit status must match. For a subset, the instruction-by-instruction trace
 * (pc and all registers before each instruction) is compared with qemu's `-d cpu -singlestep` log.
 */
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNativeVmTier } from '@capsule/native';
import { canRun } from '@capsule/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConformanceMachine, type Tier } from '../src/index';

const corpus = join(import.meta.dirname, '..', 'conformance');
const sources = readdirSync(corpus)
  .filter((name) => name.endsWith('.c') || name.endsWith('.S'))
  .sort();
const names = sources.map((name) => name.replace(/\.(c|S)$/, ''));
const programArgs: Record<string, string[]> = { c_args: ['alpha', 'beta gamma'] };
const traced = [
  'asm_rvc_q1',
  'asm_rvc_q0_q2',
  'asm_amo',
  'asm_lrsc',
  'asm_jumps',
  'asm_loads_stores',
  'c_divide',
  'c_struct',
];
const signalNumbers: Record<string, number> = { SIGILL: 4, SIGTRAP: 5, SIGBUS: 7, SIGSEGV: 11 };

interface Outcome {
  stdout: string;
  status: number;
}

function runProcess(command: string, args: string[], cwd: string): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, env: {}, stdio: ['ignore', 'pipe', 'ignore'] });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => chunks.push(chunk));
    child.on('error', reject);
    child.on('close', (code, signal) =>
      resolve({
        stdout: Buffer.concat(chunks).toString('utf8'),
        status: signal ? 128 + (signalNumbers[signal] ?? 64) : (code ?? -1),
      }),
    );
  });
}

describe.skipIf(!canRun({ tools: ['clang', 'ld.lld', 'qemu-riscv32'] }))(
  'conformance: our VM against qemu-riscv32',
  () => {
    let dir = '';
    const qemu = new Map<string, Outcome>();

    beforeAll(async () => {
      dir = mkdtempSync(join(tmpdir(), 'capsule-vm-conformance-'));
      // One batched build: every source compiled by one clang process, then linked in one shell.
      const runtime = join(corpus, 'runtime');
      execFileSync(
        'clang',
        [
          '--target=riscv32',
          '-march=rv32imac',
          '-mabi=ilp32',
          '-O1',
          '-ffreestanding',
          '-fno-builtin',
          '-nostdlib',
          '-c',
          `-I${runtime}`,
          join(runtime, 'start.s'),
          join(runtime, 'lib.c'),
          ...sources.map((name) => join(corpus, name)),
        ],
        { cwd: dir },
      );
      const link = names
        .map((name) => `ld.lld -static -o ${name}.elf start.o lib.o ${name}.o &`)
        .concat('wait')
        .join('\n');
      execFileSync('sh', ['-c', link], { cwd: dir });
      const results = await Promise.all(
        names.map((name) =>
          runProcess('qemu-riscv32', [`${name}.elf`, ...(programArgs[name] ?? [])], dir).then(
            (outcome) => [name, outcome] as const,
          ),
        ),
      );
      for (const [name, outcome] of results) qemu.set(name, outcome);
    }, 60_000);

    afterAll(() => {
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('has at least 40 programs, C and assembly', () => {
      expect(names.length).toBeGreaterThanOrEqual(40);
      expect(sources.filter((name) => name.endsWith('.c')).length).toBeGreaterThan(10);
      expect(sources.filter((name) => name.endsWith('.S')).length).toBeGreaterThan(10);
    });

    for (const tier of ['interpreter', 'fast', 'native'] as const) {
      it.each(names)(`%s: stdout and exit status match qemu (${tier})`, (name) => {
        const expected = qemu.get(name)!;
        expect(expected.stdout.length + expected.status).toBeGreaterThan(0);
        expect(
          runOnVm(join(dir, `${name}.elf`), [`${name}.elf`, ...(programArgs[name] ?? [])], tier),
        ).toEqual(expected);
      });
    }

    it.each(traced)('%s: instruction trace (pc and registers) matches qemu -d cpu -singlestep', (name) => {
      const log = join(dir, `${name}.log`);
      execFileSync('qemu-riscv32', ['-d', 'cpu,nochain', '-singlestep', '-D', log, `${name}.elf`], {
        cwd: dir,
        env: {},
        stdio: 'ignore',
      });
      const theirs = parseQemuLog(readFileSync(log, 'utf8'));
      expect(theirs.length).toBeGreaterThan(20);
      const file = readFileSync(join(dir, `${name}.elf`));
      // Our stack is laid out like qemu's but at another address: start ours at qemu's sp.
      const probe = createConformanceMachine(file, { args: [`${name}.elf`] }, { write: () => {} });
      const layoutBytes = 0x4080_0000 - probe.state.regs[2]!;
      const ours: number[][] = [];
      const machine = createConformanceMachine(
        file,
        { args: [`${name}.elf`], stackTop: theirs[0]![2]! + layoutBytes },
        {
          write: () => {},
          trace: (pc, _text, registers) => void ours.push([pc, ...Array.from(registers).slice(1)]),
        },
      );
      machine.run();
      expect(ours.length).toBe(theirs.length);
      for (let step = 0; step < theirs.length; step++) {
        if (ours[step]!.join() !== theirs[step]!.join())
          expect({ step, state: ours[step]!.map(hex) }).toEqual({ step, state: theirs[step]!.map(hex) });
      }
    });
  },
);

/** Runs an ELF on the conformance machine as `capsule vm exec` does: stdout and exit status. */
function runOnVm(path: string, args: string[], tier: Tier): Outcome {
  const chunks: Uint8Array[] = [];
  const machine = createConformanceMachine(
    readFileSync(path),
    { args, tier },
    {
      write: (fd, bytes) => void (fd === 1 && chunks.push(bytes.slice())),
      nativeTier: tier === 'native' ? createNativeVmTier() : undefined,
    },
  );
  const result = machine.run();
  const status =
    result.status === 'exited' ? result.exitCode : result.status === 'signal' ? 128 + result.signal : -1;
  return { stdout: Buffer.concat(chunks).toString('utf8'), status };
}

const hex = (value: number) => (value >>> 0).toString(16);

/** [pc, x1..x31] before each instruction, from qemu's `-d cpu` log. */
function parseQemuLog(text: string): number[][] {
  const steps: number[][] = [];
  for (const block of text.split(/\n(?= pc )/)) {
    const pc = /^\s*pc\s+([0-9a-f]+)/m.exec(block);
    if (!pc) continue;
    const registers = new Array<number>(32).fill(0);
    for (const match of block.matchAll(/x(\d+)\/\w+\s+([0-9a-f]{8})/g))
      registers[Number(match[1])] = Number.parseInt(match[2]!, 16) | 0;
    steps.push([Number.parseInt(pc[1]!, 16), ...registers.slice(1)]);
  }
  return steps;
}
