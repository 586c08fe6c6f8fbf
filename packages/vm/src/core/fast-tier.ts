/**
 * The fast tier: a pre-decoded program translated to one JavaScript function. Each basic block
 * (from a leader — the start of code, a static branch/jump target, the instruction after a
 * control transfer or ECALL/EBREAK — to the next control transfer) becomes one `case` of a switch
 * on the code slot inside a loop; fuel is checked once per block (the whole block's count) and
 * given back when an instruction in the middle traps, so fuel, pc, registers, memory and traps are
 * exactly what the interpreter produces. When the remaining fuel is smaller than a block, or pc is
 * not a leader (a computed jump into the middle of a block, an entry offset), the interpreter
 * steps single instructions until pc reaches a leader again.
 *
 * Speed (measured with bench/vm.bench.ts): registers the program uses live in JavaScript locals
 * (`x5`), loaded from the register file when the function is entered and written back once, when
 * it returns (at ECALL, EBREAK, a trap, the end of fuel or a jump outside the code). Registers the
 * program never writes keep their entry values (`FastTierOptions.constantRegisters`), so they are
 * folded in as constants; a load or store whose base is such a register has a constant address, and
 * its region's view and limit are read into locals once per call (`V2`, `RL2`): the access is one
 * comparison with a local and one DataView call. A block that branches back to its own start runs
 * as an inner loop without going through the switch; a static jump outside the code (`ret` to the
 * entry `ra` = 0) ends the function directly.
 *
 * Why `new Function` is safe here: the generated source is built only from numbers read out of
 * the pre-decoded typed arrays (register numbers, immediates, slot indexes, addresses, page
 * numbers) and fixed text of this file; no byte of the program ever becomes source text other than
 * as a decimal integer literal (or inside a local's name such as `x5` or `V2`). The function is
 * strict, takes everything it touches as parameters (the machine's registers, page views and
 * limits, and the M-extension helpers) and names no global — not even `Math` — so translated code
 * can only compute on registers and the page table that the interpreter would use, with the same
 * bounds checks.
 */
import { interpret } from './interpreter';
import { type DecodedProgram, endsBlock, Op, writesRd } from './program';
import { div, divu, Exit, type MachineState, mulh, mulhsu, mulhu, rem, remu } from './state';

/**
 * A translated program: runs like `interpret`, returns an Exit code. With `fromEntry` true the
 * caller promises that the run starts now, from the entry registers (`constantRegisters`): the
 * registers of `entryWrites` are then taken from those values, not read from `state.regs` (which
 * may still hold the previous run's), and written to `state.regs` before any exit.
 */
export interface FastTierFunction {
  (state: MachineState, program: DecodedProgram, fromEntry?: boolean): number;
  /** Bitmask (bit n = xn) of the registers a `fromEntry` call sets from entry values and writes back. */
  readonly entryWrites: number;
  /**
   * The translated code alone (no interpreter steps, no fuel slicing): for a caller whose fuel is
   * at most FUEL_SLICE and whose state is not `interpretOnly`; returns NEED_INTERPRETER when the
   * call above must continue the run.
   */
  readonly translated: (state: MachineState, fromEntry: boolean) => number;
}

/** What the translation may assume about the machine it runs on. */
export interface FastTierOptions {
  /**
   * Registers that hold these values whenever the program starts (the sandbox's entry registers).
   * Those the program never writes (DecodedProgram.writtenRegisters) are compiled as constants.
   */
  constantRegisters?: readonly (readonly [register: number, value: number])[];
  /**
   * Pages whose `writeLow` the machine uses (default: all). A store at a constant address in
   * another page does not update it (the sandbox only resets STACK by it).
   */
  trackedPages?: readonly number[];
}

/** Internal exit: the generated code cannot continue (pc not a leader, or fuel below the block). */
export const NEED_INTERPRETER = -1;
/**
 * Most fuel handed to translated code at once: a long-running loop returns to the wrapper every
 * FUEL_SLICE instructions and is entered again. Fuel is then always a small int32, and V8 optimizes
 * the translated function as a function that is called often, instead of depending on the on-stack
 * replacement (OSR) of one long-running call, which produced slow code in about 1 process in 10
 * (hot loop 981 instead of 6,560 MIPS). The slice boundary costs one interpreter step.
 */
export const FUEL_SLICE = 0x1_0000;

type Generated = (state: MachineState, fromEntry: boolean) => number;
type Factory = (
  imul: (a: number, b: number) => number,
  mulh: (a: number, b: number) => number,
  mulhsu: (a: number, b: number) => number,
  mulhu: (a: number, b: number) => number,
  div: (a: number, b: number) => number,
  divu: (a: number, b: number) => number,
  rem: (a: number, b: number) => number,
  remu: (a: number, b: number) => number,
) => Generated;

/**
 * Leaders: slots where a block starts — slot 0 and, transitively, every static successor of a block
 * (the slot after a block's last instruction, and static branch/jump targets inside the code).
 * Walking from slot 0 by instruction sizes this covers the code as a disassembler would read it,
 * plus whatever static targets lead to; the halves of 4-byte instructions that only a computed jump
 * could reach are left to the interpreter.
 */
export function findLeaders(program: DecodedProgram): Uint8Array {
  const { op, size, imm, lengthBytes } = program;
  const slots = lengthBytes >>> 1;
  const leaders = new Uint8Array(slots);
  const walked = new Uint8Array(slots);
  const work: number[] = [];
  const add = (slot: number) => {
    if (slot >= 0 && slot < slots && leaders[slot] === 0) {
      leaders[slot] = 1;
      work.push(slot);
    }
  };
  add(0);
  while (work.length > 0) {
    let slot = work.pop()!;
    while (slot < slots && walked[slot] === 0) {
      walked[slot] = 1;
      const o = op[slot]!;
      const after = slot + (size[slot]! >>> 1);
      if (endsBlock(o)) {
        add(after);
        if ((o >= Op.BEQ && o <= Op.BGEU) || o === Op.JAL) {
          const target = slot * 2 + imm[slot]!;
          if (target >= 0 && target < lengthBytes) add(target >>> 1);
        }
        break;
      }
      slot = after;
    }
  }
  return leaders;
}

/** Slots inside the blocks that start at `leaders` (the translated code). */
function translatedSlots(program: DecodedProgram, leaders: Uint8Array): Uint8Array {
  const slots = program.lengthBytes >>> 1;
  const inside = new Uint8Array(slots);
  for (let leader = 0; leader < slots; leader++) {
    if (leaders[leader] === 0) continue;
    for (let slot = leader; slot < slots; slot += program.size[slot]! >>> 1) {
      if (slot !== leader && leaders[slot] === 1) break;
      inside[slot] = 1;
      if (endsBlock(program.op[slot]!)) break;
    }
  }
  return inside;
}

/** Registers (x1..x31) that one slot can change: its rd, or a0/a1 for an ECALL (service results). */
function registersWrittenBy(program: DecodedProgram, slot: number): number[] {
  const o = program.op[slot]!;
  if (o === Op.ECALL) return [10, 11];
  const rd = program.rd[slot]!;
  return writesRd(o) && rd !== 0 ? [rd] : [];
}

/** Registers the translated code can change. */
function writtenByTranslation(program: DecodedProgram, leaders: Uint8Array): Set<number> {
  const inside = translatedSlots(program, leaders);
  const written = new Set<number>();
  for (let slot = 0; slot < inside.length; slot++)
    if (inside[slot] === 1) for (const register of registersWrittenBy(program, slot)) written.add(register);
  return written;
}

/**
 * Slots outside the translation that write a register the translation folded in as a constant
 * (undefined when there are none): before the interpreter runs one, the run goes interpreter-only.
 */
function findClobbers(program: DecodedProgram, options: FastTierOptions): Uint8Array | undefined {
  const leaders = findLeaders(program);
  const inside = translatedSlots(program, leaders);
  const written = writtenByTranslation(program, leaders);
  const folded = new Set<number>();
  for (const [register] of options.constantRegisters ?? [])
    if (register !== 0 && !written.has(register)) folded.add(register);
  if (folded.size === 0) return undefined;
  const clobbers = new Uint8Array(inside.length);
  let any = false;
  for (let slot = 0; slot < inside.length; slot++)
    if (inside[slot] === 0 && registersWrittenBy(program, slot).some((register) => folded.has(register))) {
      clobbers[slot] = 1;
      any = true;
    }
  return any ? clobbers : undefined;
}

/** A decimal literal that is safe inside any expression (negative values parenthesised). */
const literal = (value: number) => (value < 0 ? `(${value})` : `${value}`);

/**
 * The JavaScript source of a program's translation (exported for tests and docs): the body of a
 * function of the M-extension helpers that returns the translated function of the machine state.
 */
export function generateFastTierSource(program: DecodedProgram, options: FastTierOptions = {}): string {
  return generate(program, options).source;
}

/** The translation's source and its `entryWrites` mask. */
function generate(
  program: DecodedProgram,
  options: FastTierOptions,
): { source: string; entryWrites: number } {
  const { base, lengthBytes, op, rd, rs1, rs2, imm, size } = program;
  const slots = lengthBytes >>> 1;
  const leaders = findLeaders(program);

  // Registers: constants (never written by translated code, value known), locals (used), or x0.
  const written = writtenByTranslation(program, leaders);
  const constant = new Map<number, number>();
  for (const [register, value] of options.constantRegisters ?? [])
    if (register !== 0 && !written.has(register)) constant.set(register, value | 0);
  const used = new Set<number>();
  const reg = (n: number): string => {
    if (n === 0) return '0';
    const value = constant.get(n);
    if (value !== undefined) return literal(value);
    used.add(n);
    return `x${n}`;
  };
  const constantOf = (n: number): number | undefined => (n === 0 ? 0 : constant.get(n));
  // Page locals read once per call: `V2` (view), `RL2` (read limit), `WL2` (write limit).
  const pageLocals = new Set<string>();

  const cases: string[] = [];
  for (let leader = 0; leader < slots; leader++) {
    if (leaders[leader] === 0) continue;
    const block: number[] = [];
    let slot = leader;
    let fallsThrough = false;
    for (;;) {
      block.push(slot);
      if (endsBlock(op[slot]!)) break;
      slot += size[slot]! >>> 1;
      if (slot >= slots || leaders[slot] === 1) {
        fallsThrough = true;
        break;
      }
    }
    const n = block.length;
    const leaderPc = base + leader * 2;
    // A block whose last instruction jumps or branches back to its own start loops in place.
    const last = block[n - 1]!;
    const lastOp = op[last]!;
    const selfLoop =
      ((lastOp >= Op.BEQ && lastOp <= Op.BGEU) || lastOp === Op.JAL) &&
      ((base + last * 2 + imm[last]!) | 0) === leaderPc;
    // Cases are emitted in slot order: the block's last statement may fall through into the next
    // case when that is where it continues (no trip round the dispatch loop).
    let nextLeader = leader + 1;
    while (nextLeader < slots && leaders[nextLeader] === 0) nextLeader++;
    const nextLeaderPc = nextLeader < slots ? base + nextLeader * 2 : -1;
    /** Code that continues at the static address `target` (`last`: the block's final statement). */
    const goTo = (target: number, last = false): string => {
      if (selfLoop && target === leaderPc) return `continue b${leader};`;
      if (last && target === nextLeaderPc)
        return selfLoop ? `pc = ${target}; break b${leader};` : `pc = ${target};`;
      if ((target - base) >>> 0 >= lengthBytes) return `pc = ${target}; exit = ${Exit.FETCH}; break loop;`;
      return `pc = ${target}; continue loop;`;
    };
    const body: string[] = [`if (F < ${n}) { exit = ${NEED_INTERPRETER}; break loop; }`, `F -= ${n};`];
    block.forEach((s, k) => {
      const pc = base + s * 2;
      const next = pc + size[s]!;
      const refund = n - (k + 1);
      const trap = (exit: number, address: string) =>
        `{ ${refund > 0 ? `F += ${refund}; ` : ''}pc = ${pc}; S.faultAddress = ${address}; exit = ${exit}; break loop; }`;
      const D = rd[s]!;
      const A = reg(rs1[s]!);
      const B = reg(rs2[s]!);
      const I = imm[s]!;
      const set = (expression: string) => (D === 0 ? '' : `${reg(D)} = ${expression};`);
      const baseValue = constantOf(rs1[s]!);
      const load = (width: number, read: string) => {
        const le = width > 1 ? ', true' : '';
        if (baseValue !== undefined) {
          const address = (baseValue + I) | 0;
          const page = address >>> 16;
          const offset = address & 0xffff;
          pageLocals.add(`V${page} = V[${page}]`).add(`RL${page} = RL[${page}]`);
          return `if (${offset + width} > RL${page}) ${trap(Exit.LOAD_FAULT, `${address}`)} ${D === 0 ? '' : `${reg(D)} = V${page}.${read}(${offset}${le});`}`;
        }
        return `a = (${A} + ${literal(I)}) | 0; g = a >>> 16; o = a & 0xffff; if (o + ${width} > RL[g]) ${trap(Exit.LOAD_FAULT, 'a')} ${D === 0 ? '' : `${reg(D)} = V[g].${read}(o${le});`}`;
      };
      const store = (width: number, write: string) => {
        const le = width > 1 ? ', true' : '';
        if (baseValue !== undefined) {
          const address = (baseValue + I) | 0;
          const page = address >>> 16;
          const offset = address & 0xffff;
          pageLocals.add(`V${page} = V[${page}]`).add(`WL${page} = WL[${page}]`);
          const track = options.trackedPages === undefined || options.trackedPages.includes(page);
          return `if (${offset + width} > WL${page}) ${trap(Exit.STORE_FAULT, `${address}`)} ${track ? `if (${offset} < LOW[${page}]) LOW[${page}] = ${offset}; ` : ''}V${page}.${write}(${offset}, ${B}${le});`;
        }
        return `a = (${A} + ${literal(I)}) | 0; g = a >>> 16; o = a & 0xffff; if (o + ${width} > WL[g]) ${trap(Exit.STORE_FAULT, 'a')} if (o < LOW[g]) LOW[g] = o; V[g].${write}(o, ${B}${le});`;
      };
      const atomic = `a = ${A}; g = a >>> 16; o = a & 0xffff; if (o + 4 > AL[g]) ${trap(Exit.ATOMIC_FAULT, 'a')} if ((a & 3) !== 0) ${trap(Exit.MISALIGNED_ATOMIC, 'a')}`;
      const amo = (expression: string) =>
        `${atomic} m = V[g].getInt32(o, true); b = ${B}; if (o < LOW[g]) LOW[g] = o; V[g].setInt32(o, ${expression}, true); ${set('m')}`;
      const branch = (condition: string) => `if (${condition}) { ${goTo((pc + I) | 0)} } ${goTo(next, true)}`;
      const stop = (exit: number) => `pc = ${pc}; exit = ${exit}; break loop;`;
      let code: string;
      switch (op[s]!) {
        case Op.ILLEGAL:
          code = stop(Exit.ILLEGAL);
          break;
        case Op.LUI:
          code = set(literal(I));
          break;
        case Op.AUIPC:
          code = set(literal((pc + I) | 0));
          break;
        case Op.JAL:
          code = `${set(`${next}`)} ${goTo((pc + I) | 0, true)}`;
          break;
        case Op.JALR:
          if (baseValue !== undefined) code = `${set(`${next}`)} ${goTo((baseValue + I) & -2, true)}`;
          else code = `a = (${A} + ${literal(I)}) & -2; ${set(`${next}`)} pc = a; continue loop;`;
          break;
        case Op.BEQ:
          code = branch(`${A} === ${B}`);
          break;
        case Op.BNE:
          code = branch(`${A} !== ${B}`);
          break;
        case Op.BLT:
          code = branch(`${A} < ${B}`);
          break;
        case Op.BGE:
          code = branch(`${A} >= ${B}`);
          break;
        case Op.BLTU:
          code = branch(`(${A} >>> 0) < (${B} >>> 0)`);
          break;
        case Op.BGEU:
          code = branch(`(${A} >>> 0) >= (${B} >>> 0)`);
          break;
        case Op.LB:
          code = load(1, 'getInt8');
          break;
        case Op.LH:
          code = load(2, 'getInt16');
          break;
        case Op.LW:
          code = load(4, 'getInt32');
          break;
        case Op.LBU:
          code = load(1, 'getUint8');
          break;
        case Op.LHU:
          code = load(2, 'getUint16');
          break;
        case Op.SB:
          code = store(1, 'setInt8');
          break;
        case Op.SH:
          code = store(2, 'setInt16');
          break;
        case Op.SW:
          code = store(4, 'setInt32');
          break;
        case Op.ADDI:
          code = set(baseValue !== undefined ? literal((baseValue + I) | 0) : `(${A} + ${literal(I)}) | 0`);
          break;
        case Op.SLTI:
          code = set(`${A} < ${literal(I)} ? 1 : 0`);
          break;
        case Op.SLTIU:
          code = set(`(${A} >>> 0) < ${I >>> 0} ? 1 : 0`);
          break;
        case Op.XORI:
          code = set(`${A} ^ ${literal(I)}`);
          break;
        case Op.ORI:
          code = set(`${A} | ${literal(I)}`);
          break;
        case Op.ANDI:
          code = set(`${A} & ${literal(I)}`);
          break;
        case Op.SLLI:
          code = set(`${A} << ${I}`);
          break;
        case Op.SRLI:
          code = set(`(${A} >>> ${I}) | 0`);
          break;
        case Op.SRAI:
          code = set(`${A} >> ${I}`);
          break;
        case Op.ADD:
          code = set(`(${A} + ${B}) | 0`);
          break;
        case Op.SUB:
          code = set(`(${A} - ${B}) | 0`);
          break;
        case Op.SLL:
          code = set(`${A} << (${B} & 31)`);
          break;
        case Op.SLT:
          code = set(`${A} < ${B} ? 1 : 0`);
          break;
        case Op.SLTU:
          code = set(`(${A} >>> 0) < (${B} >>> 0) ? 1 : 0`);
          break;
        case Op.XOR:
          code = set(`${A} ^ ${B}`);
          break;
        case Op.SRL:
          code = set(`(${A} >>> (${B} & 31)) | 0`);
          break;
        case Op.SRA:
          code = set(`${A} >> (${B} & 31)`);
          break;
        case Op.OR:
          code = set(`${A} | ${B}`);
          break;
        case Op.AND:
          code = set(`${A} & ${B}`);
          break;
        case Op.FENCE:
          code = '';
          break;
        case Op.ECALL:
          code = stop(Exit.ECALL);
          break;
        case Op.EBREAK:
          code = stop(Exit.EBREAK);
          break;
        case Op.MUL:
          code = set(`imul(${A}, ${B})`);
          break;
        case Op.MULH:
          code = set(`mulh(${A}, ${B})`);
          break;
        case Op.MULHSU:
          code = set(`mulhsu(${A}, ${B})`);
          break;
        case Op.MULHU:
          code = set(`mulhu(${A}, ${B})`);
          break;
        case Op.DIV:
          code = set(`div(${A}, ${B})`);
          break;
        case Op.DIVU:
          code = set(`divu(${A}, ${B})`);
          break;
        case Op.REM:
          code = set(`rem(${A}, ${B})`);
          break;
        case Op.REMU:
          code = set(`remu(${A}, ${B})`);
          break;
        case Op.LR:
          code = `${atomic} ${set('V[g].getInt32(o, true)')} S.reservation = a;`;
          break;
        case Op.SC:
          code = `${atomic} if (S.reservation === a) { if (o < LOW[g]) LOW[g] = o; V[g].setInt32(o, ${B}, true); ${set('0')} } else { ${set('1')} } S.reservation = -1;`;
          break;
        case Op.AMOSWAP:
          code = amo('b');
          break;
        case Op.AMOADD:
          code = amo('(m + b) | 0');
          break;
        case Op.AMOXOR:
          code = amo('m ^ b');
          break;
        case Op.AMOAND:
          code = amo('m & b');
          break;
        case Op.AMOOR:
          code = amo('m | b');
          break;
        case Op.AMOMIN:
          code = amo('m < b ? m : b');
          break;
        case Op.AMOMAX:
          code = amo('m > b ? m : b');
          break;
        case Op.AMOMINU:
          code = amo('(m >>> 0) < (b >>> 0) ? m : b');
          break;
        case Op.AMOMAXU:
          code = amo('(m >>> 0) > (b >>> 0) ? m : b');
          break;
        default:
          code = stop(Exit.ILLEGAL);
      }
      body.push(code);
      if (k === n - 1 && fallsThrough) body.push(goTo(next, true));
    });
    const inner = body.join('\n');
    cases.push(
      selfLoop ? `case ${leader}: b${leader}: for (;;) {\n${inner}\n}` : `case ${leader}: {\n${inner}\n}`,
    );
  }

  const registers = [...used].sort((x, y) => x - y);
  const writtenLocals = registers.filter((n) => written.has(n));
  const entryValue = new Map<number, number>();
  for (const [register, value] of options.constantRegisters ?? []) entryValue.set(register, value | 0);
  /** A local's first value: its entry value on a fresh run (when known), else the register file's. */
  const initial = (n: number) => {
    const value = entryValue.get(n);
    return value === undefined ? `R[${n}]` : `E ? ${literal(value)} : R[${n}]`;
  };
  const pages = [...pageLocals].sort();
  let entryWrites = 0;
  for (const n of writtenLocals) if (entryValue.has(n)) entryWrites |= 1 << n;
  const source = [
    "'use strict';",
    'return function fastTier(S, E) {',
    // Only the parts of the state the body names (each an unused load per call otherwise).
    ...[
      stateLocals(
        [...cases, ...pages, ...registers.map(initial), ...writtenLocals.map((n) => `R[${n}]`)].join('\n'),
      ),
    ]
      .filter((parts) => parts !== '')
      .map((parts) => `const ${parts};`),
    'let pc = S.pc | 0, F = S.fuel | 0, exit = 0, a = 0, b = 0, g = 0, o = 0, m = 0;',
    ...(registers.length > 0 ? [`let ${registers.map((n) => `x${n} = ${initial(n)}`).join(', ')};`] : []),
    ...(pages.length > 0 ? [`const ${pages.join(', ')};`] : []),
    `loop: for (;;) { switch ((pc - ${base}) >>> 1) {`,
    ...cases,
    // Not a leader: outside the code (the fetch fails before any fuel is taken), or an
    // instruction inside a block, which the interpreter steps to the next leader.
    `default: exit = ((pc - ${base}) >>> 0) >= ${lengthBytes} ? ${Exit.FETCH} : ${NEED_INTERPRETER}; break loop;`,
    '} }',
    ...writtenLocals.map((n) => `R[${n}] = x${n};`),
    'S.pc = pc; S.fuel = F; return exit;',
    '};',
  ].join('\n');
  return { source, entryWrites };
}

/** The state parts (`R = S.regs`, …) that `text` uses, as declarations ('' when none). */
function stateLocals(text: string): string {
  const parts: [string, string][] = [
    ['R', 'S.regs'],
    ['V', 'S.views'],
    ['RL', 'S.readLimit'],
    ['WL', 'S.writeLimit'],
    ['AL', 'S.atomicLimit'],
    ['LOW', 'S.writeLow'],
  ];
  const used = parts
    .filter(([name]) => new RegExp(`(^|[^A-Za-z0-9_])${name}\\[`).test(text))
    .map(([name, value]) => `${name} = ${value}`);
  return used.join(', ');
}

/** Translates a pre-decoded program; the result runs exactly like `interpret`. */
export function compileFastTier(program: DecodedProgram, options: FastTierOptions = {}): FastTierFunction {
  const translation = generate(program, options);
  const factory = new Function(
    'imul',
    'mulh',
    'mulhsu',
    'mulhu',
    'div',
    'divu',
    'rem',
    'remu',
    translation.source,
  ) as Factory;
  const generated = factory(Math.imul, mulh, mulhsu, mulhu, div, divu, rem, remu);
  const clobbers = findClobbers(program, options);
  const { base, lengthBytes } = program;
  const run = (state: MachineState, decoded: DecodedProgram, fromEntry = false) => {
    let entry = fromEntry;
    for (;;) {
      if (state.interpretOnly) return interpret(state, decoded);
      // The translation runs at most FUEL_SLICE instructions per call (see FUEL_SLICE).
      const excess = state.fuel > FUEL_SLICE ? state.fuel - FUEL_SLICE : 0;
      state.fuel -= excess;
      const exit = generated(state, entry);
      entry = false;
      state.fuel += excess;
      if (exit !== NEED_INTERPRETER) return exit;
      const offset = (state.pc - base) >>> 0;
      if (clobbers !== undefined && offset < lengthBytes && clobbers[offset >>> 1] === 1) {
        // An instruction the translation assumed unreachable changes a folded register.
        state.interpretOnly = true;
        return interpret(state, decoded);
      }
      // Step one instruction with the interpreter, then try the translation again.
      const fuel = state.fuel;
      if (fuel <= 0) return interpret(state, decoded);
      state.fuel = 1;
      const stepExit = interpret(state, decoded);
      const used = 1 - state.fuel;
      state.fuel = fuel - used;
      if (stepExit === Exit.FUEL || (stepExit === Exit.FETCH && used === 1)) continue;
      return stepExit;
    }
  };
  return Object.assign(run, { entryWrites: translation.entryWrites, translated: generated });
}
