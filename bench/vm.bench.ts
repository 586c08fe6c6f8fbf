/**
 * VM benchmarks: ns per execution of a ~20-instruction forwarding program and of an empty one,
 * MIPS on a hot loop (interpreter and fast tier, each measured with tinybench in its own Node
 * process), and one ELF run as a whole process on qemu-riscv32 and on `capsule vm exec`.
 * Targets (issue 3): ≤ 100 ns / ≤ 40 ns per execution, ≥ 300 / ≥ 1,000 MIPS.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createNativeVmTier } from '@capsule/native';
import {
  ActionField,
  createSandboxMachine,
  EngineField,
  encodeProgram,
  type Instruction,
  PacketField,
  prepareProgram,
  type SandboxHost,
  type Tier,
} from '@capsule/vm';
import { Bench } from 'tinybench';
import { markdownTable, writePerformanceSection } from './report';

const root = join(import.meta.dirname, '..');

const assemble = encodeProgram;

const [T0, T1, T2, A0, A1, A5] = [5, 6, 7, 10, 11, 15];
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

function makeMachine(tier: Tier, budget = 10_000) {
  const nativeTier = tier === 'native' ? createNativeVmTier() : undefined;
  const machine = createSandboxMachine({ tier, budgetInstructions: budget }, { host, nativeTier });
  machine.regions.packet[PacketField.HOP_LIMIT] = 64;
  const engine = new DataView(machine.regions.engine.buffer);
  engine.setUint32(EngineField.LINK_COUNT, 4, true);
  for (let link = 0; link < 4; link++) engine.setUint32(EngineField.LINK_TABLE + link * 24, 10 + link, true);
  return machine;
}

/** Runs per tinybench sample for the per-execution rows (so the timer's cost is amortised). */
const BATCH = 1000;
const HOT_LOOP_BUDGET = 1_000_000;

interface TierFigures {
  tier: Tier;
  forwardingInstructions: number;
  forwardingNs: { best: number; median: number };
  emptyNs: { best: number; median: number };
  mips: { best: number; median: number };
}

/** Latency of a completed tinybench task: best and median sample, in ms. */
function latency(bench: Bench, name: string): { best: number; median: number } {
  const task = bench.getTask(name);
  const result = task?.result;
  if (result === undefined || result.state !== 'completed') throw new Error(`${name}: not completed`);
  return { best: result.latency.min, median: result.latency.p50 };
}

/** Measures one tier (in its own process, see `run`). */
async function measureTier(tier: Tier): Promise<TierFigures> {
  const machine = makeMachine(tier);
  const forwarding = prepareProgram(assemble(forwardingProgram), { fast: tier === 'fast' });
  const empty = prepareProgram(assemble([{ mnemonic: 'jalr', rd: 0, rs1: 1, imm: 0 }]), {
    fast: tier === 'fast',
  });
  const packet = new DataView(machine.regions.packet.buffer);
  const check = machine.run(forwarding);
  if (check.verdict !== 1) throw new Error(`forwarding program did not forward (trap ${check.trap})`);
  const forwardingInstructions = check.fuelUsed;
  // One machine for every task, as an engine worker has one: with a second machine in the process
  // V8 no longer specialises the machine's closures on their context (see docs/vm.md).
  const loop = prepareProgram(assemble(hotLoop), { fast: tier === 'fast' });
  const loopOptions = { budgetInstructions: HOT_LOOP_BUDGET };
  let flow = 0;
  const bench = new Bench({ time: 1500, warmupTime: 300 });
  bench
    .add('forwarding', () => {
      for (let i = 0; i < BATCH; i++) {
        packet.setUint32(PacketField.FLOW_LABEL, flow++, true);
        machine.run(forwarding);
      }
    })
    .add('empty', () => {
      for (let i = 0; i < BATCH; i++) machine.run(empty);
    })
    .add('loop', () => {
      const result = machine.run(loop, loopOptions);
      if (result.fuelUsed !== HOT_LOOP_BUDGET) throw new Error('hot loop ended early');
    });
  await bench.run();
  const perRun = (ms: { best: number; median: number }) => ({
    best: (ms.best * 1e6) / BATCH,
    median: (ms.median * 1e6) / BATCH,
  });
  const loopMs = latency(bench, 'loop');
  return {
    tier,
    forwardingInstructions,
    forwardingNs: perRun(latency(bench, 'forwarding')),
    emptyNs: perRun(latency(bench, 'empty')),
    // instructions per µs = MIPS; the best sample is the shortest time
    mips: { best: HOT_LOOP_BUDGET / (loopMs.best * 1e3), median: HOT_LOOP_BUDGET / (loopMs.median * 1e3) },
  };
}

const CHILD_FLAG = '--vm-bench-tier';

/** How the measured code is loaded: one esbuild bundle (as the CLI runs the engine) or tsx modules. */
type Form = 'bundle' | 'modules';

/**
 * Bundles this file with esbuild (packages included, tinybench left external) into bench/, so the
 * VM runs as one script, as in the CLI bundle: imported constants and functions are then plain
 * bindings of one scope, which V8 folds; across tsx-loaded modules they are live bindings.
 */
async function bundleSelf(): Promise<string> {
  const { build } = await import('esbuild');
  const outfile = join(root, 'bench', '.vm-bench.bundle.mjs');
  await build({
    entryPoints: [fileURLToPath(import.meta.url)],
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: ['tinybench', 'esbuild'],
    outfile,
    logLevel: 'error',
  });
  return outfile;
}

/** Runs `measureTier` in a fresh Node process, so each tier is compiled by V8 as an engine runs it alone. */
function measureTierInChild(tier: Tier, bundle: string | undefined): TierFigures {
  const self = fileURLToPath(import.meta.url);
  const argv = bundle === undefined ? [...process.execArgv, self] : [bundle];
  const child = spawnSync(process.execPath, [...argv, CHILD_FLAG, tier], {
    cwd: root,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = child.stdout.split('\n').find((text) => text.startsWith('{'));
  if (child.status !== 0 || line === undefined) throw new Error(`vm bench child for ${tier} failed`);
  return JSON.parse(line) as TierFigures;
}

if (process.argv[2] === CHILD_FLAG) {
  const tier = process.argv[3] as Tier;
  process.stdout.write(`${JSON.stringify(await measureTier(tier))}\n`);
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
  const bundled = await bundleSelf();
  const figures: (TierFigures & { form: Form })[] = [];
  try {
    for (const form of ['bundle', 'modules'] as const)
      for (const tier of ['interpreter', 'fast'] as const)
        figures.push({ ...measureTierInChild(tier, form === 'bundle' ? bundled : undefined), form });
    // The native tier (the C++ interpreter through the addon), as modules: the addon is loaded by
    // its package path, which the self-bundle in a temporary directory cannot resolve.
    figures.push({ ...measureTierInChild('native', undefined), form: 'modules' });
  } finally {
    rmSync(bundled, { force: true });
  }
  const target: Record<Tier, readonly [number, number]> = {
    interpreter: [100, 300],
    fast: [40, 1000],
    native: [100, 300],
  };
  const rows = figures.map((f) => {
    const [nsTarget, mipsTarget] = target[f.tier];
    return [
      f.tier,
      f.form === 'bundle' ? 'esbuild bundle' : 'tsx modules',
      `${f.forwardingInstructions}`,
      `${f.forwardingNs.best.toFixed(1)} ns (median ${f.forwardingNs.median.toFixed(1)})`,
      `≤ ${nsTarget} ns ${f.forwardingNs.best <= nsTarget ? 'met' : '**missed**'}`,
      `${f.emptyNs.best.toFixed(1)} ns (median ${f.emptyNs.median.toFixed(1)})`,
      `${f.mips.best.toFixed(0)} MIPS (median ${f.mips.median.toFixed(0)})`,
      `≥ ${mipsTarget} ${f.mips.best >= mipsTarget ? 'met' : '**missed**'}`,
    ];
  });
  let body = `${markdownTable(
    [
      'tier',
      'code loaded as',
      'forwarding program (instructions)',
      'per execution',
      'target',
      'empty program (fixed cost)',
      'hot loop',
      'target',
    ],
    rows,
  )}\n\nMeasured with tinybench (1.5 s per task after 0.3 s warm-up), each tier in its own Node
process (an engine runs one tier; sharing a process would let one tier's type feedback slow the
other), on one machine for all three tasks (an engine worker has one). Targets are judged on the
esbuild bundle, the form the engine runs in (the CLI bundle); the same source loaded as separate
modules through tsx (as tests and \`npm run bench\` load it) is slower because imported bindings
are not folded. Per execution: \`machine.run\`, ${BATCH} runs per sample (entry, ACTION
reset, run, verdict), best sample and median. Empty program: \`ret\` alone, the fixed cost of a run.
Hot loop: a 4-instruction loop run to a ${HOT_LOOP_BUDGET.toLocaleString('en-US')}-instruction fuel
budget per sample. Targets are judged on the best sample; the machine is shared (2 cores, other
builds and tests running), so the median shows how much load there was.`;

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
      const oursNative = timeProcess('node', [bundle, 'vm', 'exec', '--tier', 'native', 'fib.elf'], dir);
      const idle = timeProcess('node', [bundle, '--version'], dir);
      body += `\n\n${markdownTable(
        ['c_fib.elf as a whole process', 'wall time (best of 5)', 'exit status'],
        [
          ['qemu-riscv32 fib.elf', `${qemu.ms.toFixed(0)} ms`, String(qemu.status)],
          ['capsule vm exec fib.elf (interpreter)', `${ours.ms.toFixed(0)} ms`, String(ours.status)],
          ['capsule vm exec --tier fast fib.elf', `${oursFast.ms.toFixed(0)} ms`, String(oursFast.status)],
          [
            'capsule vm exec --tier native fib.elf',
            `${oursNative.ms.toFixed(0)} ms`,
            String(oursNative.status),
          ],
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
