/**
 * VM benchmarks: ns per execution of a ~20-instruction forwarding program, MIPS on a hot loop
 * (interpreter and fast tier), and one ELF run as a whole process on qemu-riscv32 and on
 * `capsule vm exec`. Targets (issue 3): ≤ 100 ns / ≤ 40 ns per execution, ≥ 300 / ≥ 1,000 MIPS.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ActionField,
  createSandboxMachine,
  EngineField,
  encodeInstruction,
  type Instruction,
  PacketField,
  prepareProgram,
  type SandboxHost,
  Service,
  type Tier,
} from '@capsule/vm';
import { markdownTable, writePerformanceSection } from './report';

const root = join(import.meta.dirname, '..');

function assemble(instructions: Instruction[]): Uint8Array {
  const bytes: number[] = [];
  for (const instruction of instructions) {
    const encoded = encodeInstruction(instruction);
    if (!encoded.ok) throw new Error(encoded.error);
    for (let i = 0; i < encoded.size; i++) bytes.push((encoded.word >>> (8 * i)) & 0xff);
  }
  return new Uint8Array(bytes);
}

const [T0, T1, T2, A0, A1, A5, A7] = [5, 6, 7, 10, 11, 15, 17];
/**
 * The forwarding program (21 instructions): hop-limit check, flow-hash load balancing over the
 * engine's links, FORWARD to the chosen link with the CACHE flag.
 */
const forwardingProgram: Instruction[] = [
  { mnemonic: 'lbu', rd: T0, rs1: A0, imm: PacketField.HOP_LIMIT },
  { mnemonic: 'addi', rd: T1, rs1: 0, imm: 1 },
  { mnemonic: 'bgeu', rs1: T1, rs2: T0, imm: 68 }, // hop limit ≤ 1: drop (at the end)
  { mnemonic: 'lw', rd: T0, rs1: A0, imm: PacketField.FLOW_LABEL },
  { mnemonic: 'lw', rd: T1, rs1: A0, imm: PacketField.SRC_ADDRESS + 12 },
  { mnemonic: 'xor', rd: T0, rs1: T0, rs2: T1 },
  { mnemonic: 'lw', rd: T1, rs1: A0, imm: PacketField.DST_ADDRESS + 12 },
  { mnemonic: 'xor', rd: T0, rs1: T0, rs2: T1 },
  { mnemonic: 'srli', rd: T1, rs1: T0, imm: 16 },
  { mnemonic: 'xor', rd: T0, rs1: T0, rs2: T1 },
  { mnemonic: 'lw', rd: T2, rs1: A5, imm: EngineField.LINK_COUNT },
  { mnemonic: 'remu', rd: T0, rs1: T0, rs2: T2 },
  { mnemonic: 'addi', rd: T1, rs1: 0, imm: 24 },
  { mnemonic: 'mul', rd: T0, rs1: T0, rs2: T1 },
  { mnemonic: 'add', rd: T0, rs1: T0, rs2: A5 },
  { mnemonic: 'lw', rd: T0, rs1: T0, imm: EngineField.LINK_TABLE },
  { mnemonic: 'sw', rs1: A1, rs2: T0, imm: ActionField.EGRESS_LINKS },
  { mnemonic: 'addi', rd: T1, rs1: 0, imm: 1 },
  { mnemonic: 'sw', rs1: A1, rs2: T1, imm: ActionField.EGRESS_COUNT },
  { mnemonic: 'sw', rs1: A1, rs2: T1, imm: ActionField.VERDICT },
  { mnemonic: 'sw', rs1: A1, rs2: T1, imm: ActionField.FLAGS },
  { mnemonic: 'jalr', rd: 0, rs1: 1, imm: 0 },
  // drop: verdict 4
  { mnemonic: 'addi', rd: T1, rs1: 0, imm: 4 },
  { mnemonic: 'sw', rs1: A1, rs2: T1, imm: ActionField.VERDICT },
  { mnemonic: 'jalr', rd: 0, rs1: 1, imm: 0 },
];

/** A hot loop: 4 instructions per iteration until the fuel runs out. */
const hotLoop: Instruction[] = [
  { mnemonic: 'addi', rd: T0, rs1: T0, imm: 1 },
  { mnemonic: 'xor', rd: T1, rs1: T1, rs2: T0 },
  { mnemonic: 'add', rd: T2, rs1: T2, rs2: T1 },
  { mnemonic: 'jal', rd: 0, imm: -12 },
];

const host: SandboxHost = {
  emit: () => true,
  flowHash: (seed) => seed,
  timeMs: () => 0,
  random: () => 4,
  log: () => true,
};
void Service;
void A7;

function makeMachine(tier: Tier, budget = 10_000) {
  const machine = createSandboxMachine({ tier, budgetInstructions: budget }, { host });
  machine.regions.packet[PacketField.HOP_LIMIT] = 64;
  const engine = new DataView(machine.regions.engine.buffer);
  engine.setUint32(EngineField.LINK_COUNT, 4, true);
  for (let link = 0; link < 4; link++) engine.setUint32(EngineField.LINK_TABLE + link * 24, 10 + link, true);
  return machine;
}

function timeExecutions(tier: Tier): { nsPerRun: number; instructions: number } {
  const machine = makeMachine(tier);
  const program = prepareProgram(assemble(forwardingProgram), { fast: tier === 'fast' });
  const packet = new DataView(machine.regions.packet.buffer);
  let instructions = 0;
  const runs = 2_000_000;
  for (let warm = 0; warm < 200_000; warm++) machine.run(program);
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const start = process.hrtime.bigint();
    for (let i = 0; i < runs; i++) {
      packet.setUint32(PacketField.FLOW_LABEL, i, true);
      const result = machine.run(program);
      instructions = result.fuelUsed;
    }
    best = Math.min(best, Number(process.hrtime.bigint() - start) / runs);
  }
  const check = machine.run(program);
  if (check.verdict !== 1) throw new Error(`forwarding program did not forward (trap ${check.trap})`);
  return { nsPerRun: best, instructions };
}

function timeHotLoop(tier: Tier): number {
  const budget = 1_000_000;
  const machine = makeMachine(tier, budget);
  const program = prepareProgram(assemble(hotLoop), { fast: tier === 'fast' });
  for (let warm = 0; warm < 20; warm++) machine.run(program);
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    const result = machine.run(program);
    const ns = Number(process.hrtime.bigint() - start);
    best = Math.min(best, ns / result.fuelUsed);
  }
  return 1000 / best; // million instructions per second
}

function timeProcess(command: string, args: string[], cwd: string): { ms: number; status: number | null } {
  let best = Number.POSITIVE_INFINITY;
  let status: number | null = null;
  for (let round = 0; round < 5; round++) {
    const start = process.hrtime.bigint();
    const run = spawnSync(command, args, { cwd, stdio: 'ignore' });
    best = Math.min(best, Number(process.hrtime.bigint() - start) / 1e6);
    status = run.status;
  }
  return { ms: best, status };
}

export async function run(): Promise<void> {
  const rows: (string | number)[][] = [];
  const perRun: Record<string, { nsPerRun: number; instructions: number }> = {};
  const mips: Record<string, number> = {};
  for (const tier of ['interpreter', 'fast'] as const) {
    perRun[tier] = timeExecutions(tier);
    mips[tier] = timeHotLoop(tier);
  }
  const target = { interpreter: [100, 300], fast: [40, 1000] } as const;
  for (const tier of ['interpreter', 'fast'] as const) {
    const [nsTarget, mipsTarget] = target[tier];
    rows.push([
      tier,
      `${perRun[tier]!.instructions}`,
      `${perRun[tier]!.nsPerRun.toFixed(1)} ns`,
      `≤ ${nsTarget} ns ${perRun[tier]!.nsPerRun <= nsTarget ? 'met' : '**missed**'}`,
      `${mips[tier]!.toFixed(0)} MIPS`,
      `≥ ${mipsTarget} ${mips[tier]! >= mipsTarget ? 'met' : '**missed**'}`,
    ]);
  }
  let body = `${markdownTable(
    ['tier', 'forwarding program (instructions)', 'per execution', 'target', 'hot loop', 'target'],
    rows,
  )}\n\nPer execution: best of 3 rounds of 2,000,000 runs of the forwarding program on one machine (entry,
action reset, run, verdict check), including \`machine.run\`'s fixed cost. Hot loop: 4-instruction
loop run to a 1,000,000-instruction fuel budget, best of 5.`;

  // Whole processes: one ELF (c_fib from the conformance corpus) on qemu-riscv32 and `capsule vm exec`.
  const haveTools = ['clang', 'ld.lld', 'qemu-riscv32'].every(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0,
  );
  const bundle = join(root, 'packages', 'cli', 'bin', 'capsule.js');
  if (haveTools && existsSync(join(root, 'packages', 'cli', 'dist', 'capsule.js'))) {
    const dir = mkdtempSync(join(tmpdir(), 'capsule-vm-bench-'));
    try {
      const corpus = join(root, 'packages', 'vm', 'conformance');
      execFileSync('clang', [
        '--target=riscv32',
        '-march=rv32imac',
        '-mabi=ilp32',
        '-O1',
        '-ffreestanding',
        '-fno-builtin',
        '-nostdlib',
        '-static',
        '-fuse-ld=lld',
        `-I${join(corpus, 'runtime')}`,
        join(corpus, 'runtime', 'start.s'),
        join(corpus, 'runtime', 'lib.c'),
        join(corpus, 'c_fib.c'),
        '-o',
        join(dir, 'fib.elf'),
      ]);
      const qemu = timeProcess('qemu-riscv32', ['fib.elf'], dir);
      const ours = timeProcess('node', [bundle, 'vm', 'exec', 'fib.elf'], dir);
      const oursFast = timeProcess('node', [bundle, 'vm', 'exec', '--tier', 'fast', 'fib.elf'], dir);
      const idle = timeProcess('node', [bundle, '--version'], dir);
      body += `\n\n${markdownTable(
        ['c_fib.elf as a whole process', 'wall time (best of 5)', 'exit status'],
        [
          ['qemu-riscv32 fib.elf', `${qemu.ms.toFixed(0)} ms`, String(qemu.status)],
          ['capsule vm exec fib.elf (interpreter)', `${ours.ms.toFixed(0)} ms`, String(ours.status)],
          ['capsule vm exec --tier fast fib.elf', `${oursFast.ms.toFixed(0)} ms`, String(oursFast.status)],
          ['capsule --version (Node start-up alone)', `${idle.ms.toFixed(0)} ms`, String(idle.status)],
        ],
      )}`;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  } else
    body += '\n\n(Whole-process comparison skipped: clang, ld.lld, qemu-riscv32 or the CLI bundle missing.)';
  process.stdout.write(`${body}\n`);
  writePerformanceSection('vm', 'Sandbox VM (packages/vm)', 'npm run bench -- vm', body);
}
